/* Threads, run queue order, wait queues, mutexes, timed sleeps. */
#include "ktest.h"
#include "sched.h"
#include "io.h"
#include "time.h"
#include "string.h"
#include "irq.h"

static void exit_with_arg(void *arg) { thread_exit((int)(uintptr_t)arg); }
static void return_normally(void *arg) { *(volatile int *)arg = 1; }

KTEST(thread_create_exit_join)
{
    struct thread *t[8];
    for (int i = 0; i < 8; i++) {
        t[i] = thread_create("exit", exit_with_arg, (void *)(uintptr_t)(100 + i));
        KT_NE(t[i], 0);
    }
    for (int i = 7; i >= 0; i--)
        KT_EQ(thread_join(t[i]), 100 + i);
    volatile int ran = 0;
    struct thread *r = thread_create("ret", return_normally, (void *)&ran);
    KT_EQ(thread_join(r), 0);
    KT_EQ(ran, 1);
    /* stacks and structures come back */
    uint64_t before = pmm_free_count();
    for (int i = 0; i < 20; i++)
        thread_join(thread_create("churn", exit_with_arg, 0));
    KT_EQ(pmm_free_count(), before);
}

static char order[16];
static volatile int order_len;
static void record(void *arg)
{
    uint64_t f = irq_save();
    order[order_len++] = (char)(uintptr_t)arg;
    irq_restore(f);
}

KTEST(run_queue_head_and_tail_order)
{
    order_len = 0;
    struct thread *a = thread_alloc("A", record, (void *)'A', 4);
    struct thread *b = thread_alloc("B", record, (void *)'B', 4);
    struct thread *c = thread_alloc("C", record, (void *)'C', 4);
    struct thread *d = thread_alloc("D", record, (void *)'D', 4);
    uint64_t f = irq_save();
    rq_insert_tail(a);
    rq_insert_tail(b);
    rq_insert_head(c);            /* C jumps the queue */
    rq_insert_tail(d);
    irq_restore(f);
    thread_join(a);
    thread_join(b);
    thread_join(c);
    thread_join(d);
    order[order_len] = 0;
    KT_EQ(order_len, 4);
    KT_EQ(strcmp(order, "CABD"), 0);
}

static struct waitq wq = WAITQ_INIT("test");
static volatile int woken, gate;
static void waiter(void *arg)
{
    uint64_t f = irq_save();
    while (!gate)
        waitq_wait(&wq);
    woken++;
    irq_restore(f);
}

KTEST(wait_queue_wake_one_and_all)
{
    woken = gate = 0;
    struct thread *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = thread_create("waiter", waiter, NULL);
    thread_sleep_ms(5);
    KT_EQ(woken, 0);
    gate = 1;
    KT_EQ(waitq_wake_one(&wq), 1);
    thread_sleep_ms(5);
    KT_EQ(woken, 1);
    KT_EQ(waitq_wake_all(&wq), 4);
    for (int i = 0; i < 5; i++)
        thread_join(t[i]);
    KT_EQ(woken, 5);
    KT_EQ(waitq_wake_one(&wq), 0);
    /* a timed wait that nobody wakes times out */
    uint64_t f = irq_save();
    uint64_t t0 = now_ns();
    bool got = waitq_wait_timeout(&wq, 10000000);
    irq_restore(f);
    KT_ASSERT(!got);
    KT_GE(now_ns() - t0, 10000000);
}

static struct mutex mtx = MUTEX_INIT("test");
static volatile uint64_t counter, in_critical, overlap;
static void mutex_worker(void *arg)
{
    for (int i = 0; i < 200; i++) {
        mutex_lock(&mtx);
        if (in_critical++)
            overlap++;
        uint64_t c = counter;
        if (i % 16 == 0)
            thread_yield();               /* hold the lock across a switch */
        counter = c + 1;
        in_critical--;
        mutex_unlock(&mtx);
    }
}

KTEST(mutex_contention_between_threads)
{
    counter = overlap = in_critical = 0;
    struct thread *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = thread_create("mutex", mutex_worker, NULL);
    for (int i = 0; i < 4; i++)
        thread_join(t[i]);
    KT_EQ(counter, 800);
    KT_EQ(overlap, 0);
    KT_GE(mtx.contended, 1);
    KT_ASSERT(mutex_trylock(&mtx));
    KT_ASSERT(mtx.owner == current);
    mutex_unlock(&mtx);
}

KTEST(timed_sleep_within_tolerance)
{
    static const uint64_t ms[] = { 1, 5, 20, 50 };
    for (size_t i = 0; i < ARRAY_SIZE(ms); i++) {
        uint64_t t0 = now_ns();
        thread_sleep_ms(ms[i]);
        uint64_t el = now_ns() - t0;
        KT_GE(el, ms[i] * 1000000);
        KT_LE(el, ms[i] * 1000000 + 25000000);   /* at most 25 ms late, even on a loaded emulator */
    }
}

static volatile int spin_progress[2];
static void spinner(void *arg)
{
    int id = (int)(uintptr_t)arg;
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < 60000000)
        spin_progress[id]++;
}

KTEST(timer_preempts_busy_threads)
{
    spin_progress[0] = spin_progress[1] = 0;
    struct thread *a = thread_create("spin0", spinner, (void *)0);
    struct thread *b = thread_create("spin1", spinner, (void *)1);
    uint64_t sa = 0, sb = 0;
    thread_sleep_ms(30);
    /* both spinners have run in the first 30 ms, though neither yields */
    sa = spin_progress[0];
    sb = spin_progress[1];
    thread_join(a);
    thread_join(b);
    KT_NE(sa, 0);
    KT_NE(sb, 0);
}

/* The idle accounting bench-cost.sh reads: a sleep with nothing else to run is spent halted
 * (most of it counted as idle), a busy loop is not, and the timer's ticks are counted. */
KTEST(idle_time_and_timer_ticks_counted)
{
    uint64_t i0 = sched_idle_tsc(), t0 = rdtsc(), k0 = irq_taken(IRQ_PLAIN);
    thread_sleep_ms(20);
    uint64_t slept = rdtsc() - t0, idled = sched_idle_tsc() - i0;
    KT_GE(irq_taken(IRQ_PLAIN) - k0, 10);          /* 1 kHz timer over 20 ms */
    KT_GE(idled * 2, slept);                       /* at least half the sleep halted */
    KT_LE(idled, slept);
    i0 = sched_idle_tsc();
    t0 = rdtsc();
    while (rdtsc() - t0 < slept)                   /* busy as long as we slept */
        cpu_relax();
    KT_LE((sched_idle_tsc() - i0) * 10, slept);    /* nothing else ran: no halts */
}
