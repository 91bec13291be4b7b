/* test_harness.h - the one test harness of the host tests (tests/host/) and of the raw
 * protocol tests (tests/e2e/test_ncpd.c).  Header only: each test program is one file
 * that includes it (the state lives in th_state()).
 *
 * A test is a void function, run by RUN(fn), RUN_AS(fn, label) (the same test in several
 * modes: reported as fn_label) or th_run("name", fn).  Inside it:
 *   CHECK(c), CHECK_EQ(a, b), CHECK_MSG(c, fmt, ...)
 *       on failure the test fails (its first failure is the one printed, with file:line)
 *       and the check RETURNS from the function it is written in: the rest of the test
 *       does not run.  In a helper the helper returns; the test stays failed.
 *   REQUIRE(c, fmt, ...)   the same, in a helper returning int: it returns -1.
 *   SKIP(fmt, ...)         the test cannot run here: it returns, and is counted and printed
 *                          as skipped with the reason (never as passed).
 *   th_fail(file, line, fmt, ...)  fails the running test and goes on (for other threads,
 *                          cleanup paths, or a loop that should report and stop itself).
 *   th_failed_now()        has the running test failed?
 *   th_fail_outside(name, fmt, ...)  a failure outside any test (a server that does not
 *                          start): counted as one failed test NAME.
 * Output (docs/conventions.md): `ok NAME`, `FAIL NAME: file:line why`, `skip NAME: why`,
 * and DONE() / th_summary() print the last line `N passed, N failed, N skipped`; the exit
 * status is 1 if any test failed.  A check that fails outside a running test (in main)
 * counts as a failure too, so the suite can never end green with it.
 *
 * Background work: a program whose tests start work on other threads that uses the
 * test's memory (the host fs port's read-ahead jobs, tests/host/fs_port_host.c) defines
 * th_quiesce() to wait for it.  The harness calls it when a CHECK, REQUIRE or SKIP ends a
 * test early -- before the test returns, while its stack is still there -- and after
 * every test, so no job outlives the test that started it.
 *
 * The old names stay: ft_run, ft_fail, ft_failed_now, ft_summary (fs tests) and
 * tp_failed_now (proto tests) are the same functions. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct th_state {
    int passed, failed, skipped;
    int running;            /* a test is running */
    int cur_failed;         /* it failed (set once: atomic, tests may fail from threads) */
    int cur_skipped;
    char msg[1024];
};

void th_quiesce(void) __attribute__((weak));     /* see "Background work" above */

static inline void th_quiesce_now(void)
{
    if (th_quiesce)
        th_quiesce();
}

static inline struct th_state *th_state(void)
{
    static struct th_state s;
    return &s;
}

static inline void th_vnote(int *flag, const char *file, int line, const char *fmt, va_list ap)
{
    struct th_state *s = th_state();
    if (__atomic_exchange_n(flag, 1, __ATOMIC_ACQ_REL))
        return;                         /* the first failure is the one that matters */
    int n = file ? snprintf(s->msg, sizeof s->msg, "%s:%d ", file, line) : 0;
    vsnprintf(s->msg + n, sizeof s->msg - (size_t)n, fmt, ap);
    for (char *p = s->msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

static inline void th_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void th_fail(const char *file, int line, const char *fmt, ...)
{
    struct th_state *s = th_state();
    va_list ap;
    va_start(ap, fmt);
    if (s->running) {
        th_vnote(&s->cur_failed, file, line, fmt, ap);
    } else {                            /* outside a test: still a failure of the suite */
        printf("FAIL outside_tests: %s:%d ", file, line);
        vprintf(fmt, ap);
        printf("\n");
        s->failed++;
    }
    va_end(ap);
}

static inline void th_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void th_skip(const char *fmt, ...)
{
    struct th_state *s = th_state();
    va_list ap;
    va_start(ap, fmt);
    th_vnote(&s->cur_skipped, NULL, 0, fmt, ap);
    va_end(ap);
}

static inline void th_fail_outside(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void th_fail_outside(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    th_state()->failed++;
    fflush(stdout);
}

static inline int th_failed_now(void)
{
    return __atomic_load_n(&th_state()->cur_failed, __ATOMIC_ACQUIRE);
}

static inline void th_run2(const char *name, const char *label, void (*fn)(void))
{
    struct th_state *s = th_state();
    s->cur_failed = 0;
    s->cur_skipped = 0;
    s->msg[0] = 0;
    s->running = 1;
    fn();
    th_quiesce_now();
    s->running = 0;
    const char *sep = label ? "_" : "";
    if (!label)
        label = "";
    if (th_failed_now()) {
        s->failed++;
        printf("FAIL %s%s%s: %s\n", name, sep, label, s->msg);
    } else if (s->cur_skipped) {
        s->skipped++;
        printf("skip %s%s%s: %s\n", name, sep, label, s->msg);
    } else {
        s->passed++;
        printf("ok %s%s%s\n", name, sep, label);
    }
    fflush(stdout);
}

static inline void th_run(const char *name, void (*fn)(void)) { th_run2(name, NULL, fn); }

static inline int th_summary(void)
{
    struct th_state *s = th_state();
    printf("%d passed, %d failed, %d skipped\n", s->passed, s->failed, s->skipped);
    fflush(stdout);
    return s->failed ? 1 : 0;
}

#define CHECK_MSG(c, ...) do { if (!(c)) { th_fail(__FILE__, __LINE__, __VA_ARGS__); th_quiesce_now(); return; } } while (0)
#define CHECK(c) CHECK_MSG(c, "%s", #c)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { th_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_); \
    th_quiesce_now(); return; } } while (0)
#define REQUIRE(c, ...) do { if (!(c)) { th_fail(__FILE__, __LINE__, __VA_ARGS__); th_quiesce_now(); return -1; } } while (0)
#define SKIP(...) do { th_skip(__VA_ARGS__); th_quiesce_now(); return; } while (0)
#define RUN(fn) th_run2(#fn, NULL, fn)
#define RUN_AS(fn, label) th_run2(#fn, label, fn)
#define DONE() return th_summary()

/* The names the fs and proto tests were written with. */
#define ft_run th_run
#define ft_fail th_fail
#define ft_failed_now th_failed_now
#define ft_summary th_summary
#define tp_failed_now th_failed_now()

#endif
