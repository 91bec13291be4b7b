/*
 * In-guest tests.  A test registers itself:
 *     KTEST(pmm_no_overlap) { ... KT_EQ(a, b); ... }
 * and runs when the kernel command line has `test` or `test=PATTERN` (test kernel only:
 * build/worktodo-test.elf links tests/kernel/ and bench/; the production image has neither).
 * KT_* checks record a failure with file:line and the values, then return
 * from the test.  Tests may also fail from other threads (ktest_fail).  A test that cannot
 * run here (no such device) says so with KTEST_SKIP("why"): it returns and is counted as
 * skipped, never as passed.  The runner prints `ok NAME`, `FAIL NAME: ...`, `skip NAME: why`
 * and `N passed, N failed, N skipped`; after a panic or a watchdog, every selected test
 * that had not run yet is printed as `FAIL NAME: not run (...)` and counted as failed.
 * test=PATTERN: '*' globs, no '*' selects names containing it, and PATTERN may be a
 * comma-separated list; a pattern (or list) that matches no test is a failure.
 */
#pragma once
#include "types.h"

struct ktest {
    const char *name;
    void (*fn)(void);
    const char *file;
    uint64_t timeout_ms;
    int line;
    bool explicit_only;       /* runs only when test=NAME names it exactly */
} __attribute__((aligned(16)));

#define KTEST_TIMEOUT(tname, ms)                                                                \
    static void ktest_fn_##tname(void);                                                          \
    static const struct ktest __ktest_##tname __attribute__((used, section(".ktests.a"), aligned(16))) = \
        { #tname, ktest_fn_##tname, __FILE__, ms, __LINE__, false };                                              \
    static void ktest_fn_##tname(void)
#define KTEST(tname) KTEST_TIMEOUT(tname, 20000)
/* Tests of the harness itself (they fail, hang or panic on purpose): only run by exact name. */
#define KTEST_EXPLICIT(tname, ms)                                                               \
    static void ktest_fn_##tname(void);                                                          \
    static const struct ktest __ktest_##tname __attribute__((used, section(".ktests.a"), aligned(16))) = \
        { #tname, ktest_fn_##tname, __FILE__, ms, __LINE__, true };                              \
    static void ktest_fn_##tname(void)

void ktest_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ktest_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define KTEST_SKIP(...) do { ktest_skip(__VA_ARGS__); return; } while (0)

#define KT_ASSERT(c) do { if (!(c)) { ktest_fail(__FILE__, __LINE__, "%s", #c); return; } } while (0)
#define KT_EQ(a, b) do { uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b); if (_a != _b) { \
    ktest_fail(__FILE__, __LINE__, "%s == %s: %lu (0x%lx) != %lu (0x%lx)", #a, #b, _a, _a, _b, _b); return; } } while (0)
#define KT_NE(a, b) do { uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b); if (_a == _b) { \
    ktest_fail(__FILE__, __LINE__, "%s != %s: both %lu", #a, #b, _a); return; } } while (0)
#define KT_LE(a, b) do { uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b); if (!(_a <= _b)) { \
    ktest_fail(__FILE__, __LINE__, "%s <= %s: %lu > %lu", #a, #b, _a, _b); return; } } while (0)
#define KT_GE(a, b) KT_LE(b, a)

/* Waits (at most 2 s) until the WTD list has been empty with no worker asleep, and busy()
 * (may be NULL) false, for three checks 10 ms apart: a test's background work must not
 * run into the next test (tests that count context switches or pages). */
void ktest_settle(bool (*busy)(void));
/* ktest_settle(busy) on every return from the enclosing function. */
struct ktest_settle_guard { bool (*busy)(void); };
void ktest_settle_at_exit(struct ktest_settle_guard *g);
#define KT_SETTLE_ON_RETURN(busyfn) \
    struct ktest_settle_guard _ktsg __attribute__((cleanup(ktest_settle_at_exit))) = { busyfn }; (void)_ktsg
