/* Faults, stack guards, symbols, spinlocks with interrupts, and the command line. */
#include "ktest.h"
#include "cpu.h"
#include "mm.h"
#include "io.h"
#include "sched.h"
#include "spinlock.h"
#include "panic.h"
#include "kopt.h"
#include "string.h"
#include "time.h"
#include "irq.h"

static volatile uint64_t fault_cr2, fault_count;

static bool record_page_fault(struct trap_frame *f)
{
    fault_cr2 = read_cr2();
    fault_count++;
    return false;                          /* let the fix-up in safe_read64 recover */
}

KTEST(page_fault_caught_by_test_handler)
{
    uint64_t v = 0;
    fault_count = 0;
    trap_set_fault_handler(14, record_page_fault);
    bool ok = safe_read64((void *)0x0000500000001234ULL, &v);
    trap_set_fault_handler(14, NULL);
    KT_ASSERT(!ok);
    KT_EQ(fault_count, 1);
    KT_EQ(fault_cr2, 0x0000500000001234ULL);
    uint64_t x = 42, y = 0;
    KT_ASSERT(safe_read64(&x, &y));        /* a mapped address reads normally */
    KT_EQ(y, 42);
}

/* Stack guard: a thread that recurses without bound must hit its guard page. */
static struct thread *overflow_thread;
static volatile uint64_t guard_hit_addr;

static bool catch_guard(struct trap_frame *f)
{
    uint64_t cr2 = read_cr2();
    if (!current || current != overflow_thread || !thread_stack_guard_hit(current, cr2))
        return false;
    guard_hit_addr = cr2;
    /* Resume the thread at thread_exit(77) on a fresh stack top. */
    f->rsp = current->stack.top - 72;
    f->rdi = 77;
    f->rip = (uint64_t)thread_exit;
    return true;
}

static volatile bool keep_going = true;
static int __attribute__((noinline)) recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    return (keep_going ? recurse(depth + 1) : 0) + pad[0];
}

static void overflow_main(void *arg) { recurse(0); }

KTEST(stack_guard_page_catches_overflow)
{
    guard_hit_addr = 0;
    trap_set_fault_handler(14, catch_guard);
    overflow_thread = thread_create("overflow", overflow_main, NULL);
    KT_NE(overflow_thread, 0);
    uint64_t guard = overflow_thread->stack.guard;
    int code = thread_join(overflow_thread);
    trap_set_fault_handler(14, NULL);
    KT_EQ(code, 77);
    KT_ASSERT(guard_hit_addr >= guard && guard_hit_addr < guard + PAGE_SIZE);
}

KTEST(symbols_name_functions)
{
    uint64_t off = 99;
    const char *name = symbol_lookup((uint64_t)&kmalloc + 3, &off);
    KT_ASSERT(name != NULL);
    KT_EQ(strcmp(name, "kmalloc"), 0);
    KT_EQ(off, 3);
}

static spinlock_t test_lock = SPINLOCK_INIT("test");
static volatile uint64_t ticks_seen_inside;

KTEST(spinlock_saves_and_restores_interrupt_flag)
{
    KT_ASSERT(irqs_enabled());
    uint64_t f = spin_lock_irqsave(&test_lock);
    KT_ASSERT(!irqs_enabled());
    uint64_t j = jiffies;
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < 5000000)         /* 5 ms: the timer cannot tick in here */
        cpu_relax();
    ticks_seen_inside = jiffies - j;
    /* nested: the inner unlock must leave interrupts off */
    spinlock_t inner = SPINLOCK_INIT("inner");
    uint64_t g = spin_lock_irqsave(&inner);
    spin_unlock_irqrestore(&inner, g);
    KT_ASSERT(!irqs_enabled());
    spin_unlock_irqrestore(&test_lock, f);
    KT_ASSERT(irqs_enabled());
    KT_EQ(ticks_seen_inside, 0);
    j = jiffies;
    thread_sleep_ms(5);
    KT_GE(jiffies - j, 1);                 /* and it ticks again outside */
}

KTEST(cmdline_rejects_unknown_and_malformed)
{
    char err[160];
    KT_ASSERT(!kopt_parse("bogus=1", err, sizeof err));
    KT_ASSERT(strncmp(err, "unknown option 'bogus'", 22) == 0);
    KT_ASSERT(!kopt_parse("wtd.burst=abc", err, sizeof err));
    KT_ASSERT(!kopt_parse("wtd.burst=0", err, sizeof err));
    KT_ASSERT(!kopt_parse("wtd.burst", err, sizeof err));
    KT_ASSERT(!kopt_parse("=5", err, sizeof err));
    KT_ASSERT(!kopt_parse("test=", err, sizeof err));
    KT_ASSERT(kopt_parse("  ", err, sizeof err));
}
