/* test_proto_check.h - tiny harness for the proto host tests.
 * Output per docs/conventions.md: `ok name` / `FAIL name: file:line ...`,
 * then `N passed, M failed`; exit status non-zero on failure. */
#ifndef TEST_PROTO_CHECK_H
#define TEST_PROTO_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int  tp_failed_now, tp_pass, tp_fail;
static char tp_msg[512];

#define CHECK(c) do { if (!(c) && !tp_failed_now) { tp_failed_now = 1; \
    snprintf(tp_msg, sizeof tp_msg, "%s:%d %s", __FILE__, __LINE__, #c); } } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_ && !tp_failed_now) { tp_failed_now = 1; \
    snprintf(tp_msg, sizeof tp_msg, "%s:%d %s == %lld, expected %s == %lld", \
             __FILE__, __LINE__, #a, a_, #b, b_); } } while (0)
#define RUN(fn) do { tp_failed_now = 0; fn(); \
    if (tp_failed_now) { printf("FAIL %s: %s\n", #fn, tp_msg); tp_fail++; } \
    else { printf("ok %s\n", #fn); tp_pass++; } } while (0)
/* Same, with a suffix for suites that run the same tests in several modes. */
#define RUN_AS(fn, label) do { tp_failed_now = 0; fn(); \
    if (tp_failed_now) { printf("FAIL %s_%s: %s\n", #fn, label, tp_msg); tp_fail++; } \
    else { printf("ok %s_%s\n", #fn, label); tp_pass++; } fflush(stdout); } while (0)
#define DONE() do { printf("%d passed, %d failed\n", tp_pass, tp_fail); \
    return tp_fail ? 1 : 0; } while (0)

#endif
