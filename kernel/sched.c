/*
 * The scheduler: run queue, the pick of the next thread, timed sleeps, quantum
 * preemption, and the ISR exit hook.
 *
 * Picking the next thread checks the Work To Do list first (kernel/wtd.c):
 * when items are pending and may run, a WTD worker is switched in ahead of the
 * run queue.  That is NetWare's "every context switch checks the WTD list".
 *
 * ISR exit hook ("preemptive I/O"): when a hooked device interrupt queued WTDs
 * and we are back at depth 0, the interrupted thread goes to the HEAD of the run
 * queue and a worker runs the items; when the worker runs out (or hits the
 * burst limit) the interrupted thread is the first to run again.  A worker is
 * never preempted this way: new items simply wait their turn on the list.
 *
 * Locking: one CPU, so everything here (and the scheduling fields of struct thread,
 * kernel/sched.h) is guarded by interrupts being off -- "S" below; every entry point
 * marked "irqs off" asserts it.  "I": set once at boot.
 */
#include "sched.h"
#include "wtd.h"
#include "io.h"
#include "panic.h"
#include "time.h"
#include "printf.h"

#define QUANTUM_TICKS 10

struct thread *current;                    /* S */
struct thread *idle_thread;                /* I */
static struct thread *rq_head, *rq_tail;   /* S: the run queue, via q_next/q_prev */
static struct thread *timer_list;          /* S: sleepers sorted by wake_ns */
static bool need_resched;                  /* S */
static uint64_t nr_switches;               /* S */

extern void switch_to(uint64_t *save_rsp, uint64_t new_rsp);

bool rq_empty(void) { return rq_head == NULL; }

void rq_insert_head(struct thread *t)
{
    ASSERT_IRQS_OFF();
    t->state = T_RUNNABLE;
    t->q_prev = NULL;
    t->q_next = rq_head;
    if (rq_head) rq_head->q_prev = t; else rq_tail = t;
    rq_head = t;
}

void rq_insert_tail(struct thread *t)
{
    ASSERT_IRQS_OFF();
    t->state = T_RUNNABLE;
    t->q_next = NULL;
    t->q_prev = rq_tail;
    if (rq_tail) rq_tail->q_next = t; else rq_head = t;
    rq_tail = t;
}

static struct thread *rq_pop_head(void)
{
    struct thread *t = rq_head;
    if (t) {
        rq_head = t->q_next;
        if (rq_head) rq_head->q_prev = NULL; else rq_tail = NULL;
        t->q_next = t->q_prev = NULL;
    }
    return t;
}

static struct thread *pick_next(void)
{
    struct thread *t = wtd_dispatch_worker();
    if (t)
        return t;
    t = rq_pop_head();
    return t ? t : idle_thread;
}

void schedule(void)
{
    ASSERT_IRQS_OFF();
    struct thread *prev = current, *next = pick_next();
    need_resched = false;
    if (next == prev) {
        prev->state = T_RUNNING;
        return;
    }
    wtd_switched_in(next);
    if (prev == idle_thread)
        prev->state = T_RUNNABLE;
    next->state = T_RUNNING;
    next->switches++;
    next->quantum_start = jiffies;
    nr_switches++;
    current = next;
    switch_to(&prev->rsp, next->rsp);
}

uint64_t sched_switch_count(void) { return nr_switches; }

void sched_block(void)
{
    ASSERT_IRQS_OFF();
    current->state = T_BLOCKED;
    if (current->is_worker && current->cur_wtd)
        wtd_worker_blocking(current);
    schedule();
}

void sched_wakeup(struct thread *t)
{
    ASSERT_IRQS_OFF();
    if (t->state != T_BLOCKED)
        return;
    if (t->on_timer) {
        struct thread **pp = &timer_list;
        while (*pp && *pp != t)
            pp = &(*pp)->timer_next;
        if (*pp)
            *pp = t->timer_next;
        t->on_timer = false;
    }
    if (t->is_worker)
        wtd_worker_woken(t);
    rq_insert_tail(t);
    if (current == idle_thread)
        need_resched = true;
}

/* Puts t on the timer list; sched_tick wakes it (timed_out = true) once now_ns() has
 * passed the deadline.  Deadlines are in TSC time, not ticks: an emulator that delivers
 * late timer interrupts in a burst must not make a sleep end early. */
static void timer_arm(struct thread *t, uint64_t ns)
{
    t->wake_ns = now_ns() + ns;
    t->timed_out = false;
    t->on_timer = true;
    struct thread **pp = &timer_list;
    while (*pp && (*pp)->wake_ns <= t->wake_ns)
        pp = &(*pp)->timer_next;
    t->timer_next = *pp;
    *pp = t;
}

void thread_sleep_ns(uint64_t ns)
{
    uint64_t f = irq_save();
    timer_arm(current, ns);
    sched_block();
    irq_restore(f);
}

void thread_yield(void)
{
    uint64_t f = irq_save();
    rq_insert_tail(current);
    schedule();
    irq_restore(f);
}

/* Timer interrupt: wake due sleepers, account the quantum. */
void sched_tick(void)
{
    uint64_t now = timer_list ? now_ns() : 0;
    while (timer_list && timer_list->wake_ns <= now) {
        struct thread *t = timer_list;
        timer_list = t->timer_next;
        t->on_timer = false;
        t->timed_out = true;
        if (t->waiting_on)
            waitq_remove(t->waiting_on, t);
        sched_wakeup(t);
    }
    wtd_tick();
    if (current == idle_thread) {
        if (!rq_empty() || wtd_dispatchable())
            need_resched = true;
    } else if (!current->is_worker && jiffies - current->quantum_start >= QUANTUM_TICKS &&
               (!rq_empty() || wtd_dispatchable())) {
        need_resched = true;
    }
}

void sched_irq_exit(bool hooked_source)
{
    ASSERT_IRQS_OFF();
    if (!current)
        return;
    bool queued = wtd_take_irq_queued();
    if (hooked_source && queued && !current->is_worker) {
        /* Preemptive I/O: run the new work now, then this thread before anyone else. */
        wtd_preemptive_io();
        if (current != idle_thread)
            rq_insert_head(current);
        schedule();
        return;
    }
    if (need_resched && !current->is_worker) {
        if (current != idle_thread)
            rq_insert_tail(current);
        schedule();
    }
}

void sched_arm_timer(struct thread *t, uint64_t ns) { timer_arm(t, ns); }
