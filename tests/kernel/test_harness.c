/* Tests of the test harness itself: each misbehaves on purpose and only runs when named
 * exactly (test=selftest_fail ...).  tests/e2e/harness.sh checks how each is reported. */
#include "ktest.h"
#include "panic.h"
#include "io.h"
#include "sched.h"

KTEST_EXPLICIT(selftest_fail, 5000)
{
    int expected = 4, got = 5;
    KT_EQ(got, expected);
}

KTEST_EXPLICIT(selftest_hang, 2000)
{
    for (;;)
        cpu_relax();
}

KTEST_EXPLICIT(selftest_panic, 5000)
{
    panic("deliberate panic from selftest_panic");
}

KTEST_EXPLICIT(selftest_fault, 5000)
{
    *(volatile uint64_t *)0x0000600000000000ULL = 1;
}

/* An "irqs off" function called with interrupts on must panic (ASSERT_IRQS_OFF), not go on. */
KTEST_EXPLICIT(selftest_irqs_off_assert, 5000)
{
    KT_ASSERT(irqs_enabled());
    sched_wakeup(current);          /* irqs off; harmless otherwise: current is running */
}

/* A test that cannot run here must be counted as skipped, with its reason. */
KTEST_EXPLICIT(selftest_skip, 5000)
{
    KTEST_SKIP("deliberately skipped by selftest_skip");
    KT_ASSERT(false);               /* not reached */
}
