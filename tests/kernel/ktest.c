/*
 * The in-guest test runner (test kernel only): with the `test` option, the last initcall
 * (INIT_LATE) runs the tests, one line per test and a summary, and hands the result to
 * QEMU through isa-debug-exit.  A panic (panic_hook) or a test that outlives its timeout
 * (checked from the timer interrupt, timer_tick_hook) is reported as a failure and still
 * ends QEMU, so the harness never hangs; the selected tests that had not run by then are
 * each reported as not run (a failure), so none vanishes from the count.
 */
#include "ktest.h"
#include "wtd.h"
#include "printf.h"
#include "power.h"
#include "panic.h"
#include "string.h"
#include "time.h"
#include "sched.h"
#include "kopt.h"
#include "mm.h"
#include "init.h"

static const char *test_pattern;
static bool test_mode;
KOPT_FLAG("test", test_pattern, test_mode, "run the in-guest tests (test=PATTERN selects by name) and exit");

extern const struct ktest __ktests_start[], __ktests_end[];
static const struct ktest *running;
static volatile bool cur_failed;
static volatile bool cur_skipped;
static volatile uint64_t deadline_ns;
static int passed, failed, skipped;
/* the tests in run order, and the index of the running one (for the not-run report) */
static const struct ktest **order;
static int order_n, order_i;
static const char *run_pattern;

/* Prints the running test's verdict line: "KIND NAME: [file:line: ]message". */
static void say(const char *kind, const char *file, int line, const char *fmt, va_list ap)
{
    char msg[256];
    kvsnprintf(msg, sizeof msg, fmt, ap);
    const char *name = running ? running->name : "?";
    if (file)
        kprintf("%s %s: %s:%d: %s\n", kind, name, file, line, msg);
    else
        kprintf("%s %s: %s\n", kind, name, msg);
}

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
    if (cur_failed)
        return;                         /* first failure is the one that matters */
    cur_failed = true;
    va_list ap;
    va_start(ap, fmt);
    say("FAIL", file, line, fmt, ap);
    va_end(ap);
}

void ktest_skip(const char *fmt, ...)
{
    if (cur_failed || cur_skipped)
        return;
    cur_skipped = true;
    va_list ap;
    va_start(ap, fmt);
    say("skip", NULL, 0, fmt, ap);
    va_end(ap);
}

/* '*' matches any run of characters; a pattern without '*' selects names containing it. */
static bool glob(const char *p, const char *s)
{
    if (!*p)
        return !*s;
    if (*p == '*')
        return glob(p + 1, s) || (*s && glob(p, s + 1));
    return *p == *s && glob(p + 1, s + 1);
}

static bool glob_match(const char *pat, const char *s)
{
    if (strchr(pat, '*'))
        return glob(pat, s);
    size_t n = strlen(pat);
    for (; *s; s++)
        if (strncmp(s, pat, n) == 0)
            return true;
    return n == 0;
}

/* Does the pattern (a comma-separated list of them) select t? */
static bool selected(const char *pattern, const struct ktest *t)
{
    if (!pattern)
        return !t->explicit_only;
    char one[128];
    const char *p = pattern;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n >= sizeof one)
            n = sizeof one - 1;
        memcpy(one, p, n);
        one[n] = 0;
        if (t->explicit_only ? strcmp(one, t->name) == 0 : glob_match(one, t->name))
            return true;
        if (!end)
            return false;
        p = end + 1;
    }
}

static void finish(void)
{
    /* as the shutdown command does: the volume written back and marked clean (an ext3
     * volume's journal checkpointed, needs_recovery cleared) before QEMU exits */
    power_run_shutdown_hooks();
    kprintf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    power_exit_qemu(failed == 0);
}

/* The run ends early (panic, watchdog): the selected tests after the current one did not
 * run; each is reported and counted as a failure. */
static void report_not_run(const char *why)
{
    for (int i = order_i + 1; i < order_n; i++) {
        if (!selected(run_pattern, order[i]))
            continue;
        kprintf("FAIL %s: not run (%s)\n", order[i]->name, why);
        failed++;
    }
}

static void on_panic(void)
{
    if (!running)
        return;
    const char *name = running->name;
    kprintf("FAIL %s: panic (see above)\n", name);
    running = NULL;
    failed++;
    char why[96];
    ksnprintf(why, sizeof why, "%s panicked", name);
    report_not_run(why);
    finish();
}

static void watchdog_tick(void)
{
    if (running && deadline_ns && now_ns() > deadline_ns) {
        const char *name = running->name;
        kprintf("FAIL %s: still running after %lu ms (watchdog)\n", name, running->timeout_ms);
        running = NULL;
        failed++;
        char why[96];
        ksnprintf(why, sizeof why, "%s hung", name);
        report_not_run(why);
        finish();
    }
}

/* Tests run in file order, then line order, whatever order the linker left them in. */
static int before(const struct ktest *a, const struct ktest *b)
{
    int c = strcmp(a->file, b->file);
    return c < 0 || (c == 0 && a->line < b->line);
}

static void run_all(const char *pattern)
{
    panic_hook = on_panic;
    timer_tick_hook = watchdog_tick;
    int nselected = 0, n = (int)(__ktests_end - __ktests_start);
    order = kmalloc(sizeof(*order) * (n ? n : 1));
    if (!order)
        panic("ktest: no memory for %d tests", n);
    for (int i = 0; i < n; i++) {
        const struct ktest *t = &__ktests_start[i];
        int j = i;
        for (; j > 0 && before(t, order[j - 1]); j--)
            order[j] = order[j - 1];
        order[j] = t;
    }
    order_n = n;
    run_pattern = pattern;
    for (int i = 0; i < n; i++) {
        const struct ktest *t = order[i];
        if (!selected(pattern, t))
            continue;
        nselected++;
        order_i = i;
        /* a fresh time slice for every test: one that counts context switches must not be
         * preempted because the tests before it ran long without sleeping */
        thread_sleep_ms(1);
        cur_failed = false;
        cur_skipped = false;
        deadline_ns = now_ns() + t->timeout_ms * 1000000ULL;
        running = t;
        uint64_t t0 = now_ns();
        t->fn();
        uint64_t us = (now_ns() - t0) / 1000;
        running = NULL;
        deadline_ns = 0;
        if (cur_failed) {
            failed++;
        } else if (cur_skipped) {
            skipped++;
        } else {
            passed++;
            kprintf("ok %s (%lu.%03lu ms)\n", t->name, us / 1000, us % 1000);
        }
    }
    if (pattern && nselected == 0) {
        kprintf("FAIL test_pattern: no test matches '%s'\n", pattern);
        failed++;
    }
    finish();
}

static int ktest_boot(void)
{
    if (test_mode)
        run_all(test_pattern);          /* powers off: the console never starts */
    return 0;
}
INITCALL(INIT_LATE, ktest_boot);

void ktest_settle(bool (*busy)(void))
{
    int quiet = 0;
    for (int i = 0; i < 200 && quiet < 3; i++) {
        struct wtd_stats w;
        wtd_get_stats(&w);
        quiet = (w.pending == 0 && w.sleeping == 0 && !(busy && busy())) ? quiet + 1 : 0;
        thread_sleep_ms(10);
    }
}

void ktest_settle_at_exit(struct ktest_settle_guard *g) { ktest_settle(g->busy); }
