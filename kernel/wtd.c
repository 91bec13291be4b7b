/*
 * Work To Do (NetWare's WTD model).
 *
 * A WTD is a callback on ONE global list under ONE interrupt-safe spinlock.
 * Interrupt handlers and threads queue them; pooled worker threads run them.
 *
 * Dispatch.  Every context switch asks wtd_dispatch_worker() before the run
 * queue: if items are pending and no worker is active, an idle worker is
 * switched in.  At most one worker is "active" (pulling from the list) at a
 * time, so items run one at a time in FIFO order.  Workers are not preempted
 * by the timer or by device interrupts: a WTD runs to completion unless it
 * sleeps.
 *
 * Burst limit.  The active worker runs at most wtd.burst (15) items in a row;
 * then, if other threads are runnable, it parks and the dispatcher holds off
 * until a non-worker thread has been switched in.  The next context switch
 * after that runs more WTDs.
 *
 * Going async only when blocked.  When a worker sleeps inside a WTD (disk,
 * mutex, timed sleep), sched_block() calls wtd_worker_blocking(): the worker
 * stops being active, so the same schedule() call switches in another idle
 * worker and the list keeps moving.  The sleeper later resumes its own WTD in
 * its own worker; when done it becomes active again only if nobody else is.
 * Preemption by an interrupt is not sleeping and changes nothing.
 *
 * The pool.  Workers are minimal threads parked on a LIFO idle list (warm
 * stacks first).  The scheduler never allocates: when dispatch takes the last
 * idle worker it sets need_spawn (NetWare's spawn flag), and the dispatched
 * worker creates a replacement with interrupts enabled before running items.
 * wtd.prealloc workers are made at boot; workers beyond that number idle for
 * more than wtd.reclaim_ms are freed by a housekeeping WTD; wtd.max caps it.
 *
 * ISR exit hook.  sched_irq_exit() (kernel/sched.c) preempts a non-worker
 * thread to the head of the run queue when a hooked interrupt queued work;
 * wtd_preemptive_io() restarts the burst count for that new I/O.
 *
 * Locking legend (one CPU: with interrupts off nothing else runs, handlers included).
 * Every variable below is marked with what guards it:
 *   I: written at boot (options, wtd_engine_init) and read-only after; wtd_set_reclaim_ms
 *      (tests) writes opt_reclaim_ms from a thread.
 *   L: wtd_lock, the spinlock (interrupts off) that wtd_schedule/wtd_cancel take from any
 *      context, the worker's take_next too.  The scheduler side may read L fields without
 *      it, since it runs with interrupts off.
 *   S: the scheduler side: interrupts off (functions marked "irqs off" assert it).
 *   W: the dispatched worker reads and clears it with interrupts on; a set it misses only
 *      moves the spawn to the next dispatch.
 */
#include "wtd.h"
#include "sched.h"
#include "spinlock.h"
#include "io.h"
#include "time.h"
#include "panic.h"
#include "printf.h"
#include "kopt.h"
#include "console.h"
#include "string.h"
#include "irq.h"

static uint64_t opt_burst = 15, opt_prealloc = 4, opt_reclaim_ms = 120000, opt_max = 4096;
KOPT_U64("wtd.burst", opt_burst, 1, 100000, "WTDs run in a row before other threads get the CPU");
KOPT_U64("wtd.prealloc", opt_prealloc, 1, 4096, "worker threads created at boot and never reclaimed");
KOPT_U64("wtd.reclaim_ms", opt_reclaim_ms, 1, 86400000, "idle time after which extra workers are freed");
KOPT_U64("wtd.max", opt_max, 2, 65536, "most worker threads the pool may hold");

#define WORKER_STACK_PAGES 8

static spinlock_t wtd_lock = SPINLOCK_INIT("wtd");
static struct wtd *list_head, *list_tail;  /* L: the one FIFO of queued WTDs */
static uint64_t list_len;                  /* L */

/* pool and dispatch state */
static struct thread *idle_workers;        /* S: LIFO via pool_next */
static struct thread *active_worker;       /* S: the worker pulling from the list, or NULL */
static uint64_t n_workers, n_idle, n_sleeping, n_peak;   /* S */
static uint32_t in_row;                    /* S: WTDs run since a non-worker had the CPU */
static bool burst_exhausted;               /* S */
static bool need_spawn;                    /* S sets it, W clears it */
static bool queued_by_irq;                 /* L sets it, S clears it: an interrupt handler queued work */
static struct wtd_stats st;                /* scheduled, cancelled: L; the rest: S */
static uint64_t delay_sum, delay_count;    /* S */
static struct wtd reclaim_wtd;             /* I */
static bool reclaim_queued;                /* S */
static uint64_t last_reclaim_check;        /* S: jiffies of the last look */

void wtd_init(struct wtd *w, uint32_t (*function)(struct wtd *), void *context)
{
    w->next = w->prior = NULL;
    w->function = function;
    w->context = context;
    w->flags = 0;
    w->data = NULL;
    w->queued_tsc = 0;
}

bool wtd_schedule(struct wtd *w)
{
    uint64_t f = spin_lock_irqsave(&wtd_lock);
    if (w->flags & WTD_QUEUED) {
        spin_unlock_irqrestore(&wtd_lock, f);
        return false;
    }
    w->flags |= WTD_QUEUED;
    w->queued_tsc = rdtsc();
    w->next = NULL;
    w->prior = list_tail;
    if (list_tail) list_tail->next = w; else list_head = w;
    list_tail = w;
    list_len++;
    st.scheduled++;
    if (in_interrupt())
        queued_by_irq = true;
    spin_unlock_irqrestore(&wtd_lock, f);
    return true;
}

static void list_unlink(struct wtd *w)
{
    if (w->prior) w->prior->next = w->next; else list_head = w->next;
    if (w->next) w->next->prior = w->prior; else list_tail = w->prior;
    w->next = w->prior = NULL;
    w->flags &= ~WTD_QUEUED;
    list_len--;
}

bool wtd_cancel(struct wtd *w)
{
    uint64_t f = spin_lock_irqsave(&wtd_lock);
    bool queued = w->flags & WTD_QUEUED;
    if (queued) {
        list_unlink(w);
        st.cancelled++;
    }
    spin_unlock_irqrestore(&wtd_lock, f);
    return queued;
}


bool wtd_dispatchable(void)
{
    ASSERT_IRQS_OFF();
    return list_head && !active_worker && !burst_exhausted && idle_workers;
}

struct thread *wtd_dispatch_worker(void)
{
    if (!list_head || active_worker || burst_exhausted)
        return NULL;
    struct thread *w = idle_workers;
    if (!w)
        return NULL;                       /* pool exhausted: items wait for a worker */
    idle_workers = w->pool_next;
    n_idle--;
    if (!idle_workers)
        need_spawn = true;
    active_worker = w;
    return w;
}

void wtd_switched_in(struct thread *next)
{
    if (!next->is_worker) {
        in_row = 0;
        burst_exhausted = false;
    }
}

void wtd_worker_blocking(struct thread *t)
{
    if (active_worker == t)
        active_worker = NULL;
    n_sleeping++;
}

void wtd_worker_woken(struct thread *t)
{
    if (t->cur_wtd && n_sleeping)
        n_sleeping--;
}

bool wtd_take_irq_queued(void)
{
    bool q = queued_by_irq;
    queued_by_irq = false;
    return q && list_head;
}

void wtd_preemptive_io(void)
{
    st.preemptions++;
    in_row = 0;
    burst_exhausted = false;
}

/* irqs off (worker_main disables them just before): the next item for worker 'self', or
 * NULL if it should park. */
static struct wtd *take_next(struct thread *self)
{
    if (active_worker != self) {
        if (active_worker)
            return NULL;
        active_worker = self;
    }
    if (!list_head)
        return NULL;
    if (in_row >= opt_burst) {
        if (!rq_empty()) {
            burst_exhausted = true;
            st.burst_yields++;
            return NULL;
        }
        in_row = 0;                         /* nobody else wants the CPU */
    }
    spin_lock_irqsave(&wtd_lock);           /* interrupts are already off */
    struct wtd *w = list_head;
    list_unlink(w);
    spin_unlock_irqrestore(&wtd_lock, 0);
    in_row++;
    uint64_t delay = rdtsc() - w->queued_tsc;
    if (!delay_count || delay < st.delay_min) st.delay_min = delay;
    if (delay > st.delay_max) st.delay_max = delay;
    delay_sum += delay;
    delay_count++;
    return w;
}

static void park(struct thread *self)
{
    if (active_worker == self)
        active_worker = NULL;
    self->state = T_PARKED;
    self->idle_since_ns = now_ns();
    self->pool_next = idle_workers;
    idle_workers = self;
    n_idle++;
    schedule();
}

static void worker_main(void *arg);

/* Creates one worker and parks it on the idle list.  Interrupts must be on. */
static bool spawn_worker(void)
{
    char name[24];
    ksnprintf(name, sizeof name, "wtd-worker-%lu", st.workers_created + 1);
    uint64_t f = irq_save();
    bool full = n_workers >= opt_max;
    if (!full)
        n_workers++;                        /* reserve the slot */
    irq_restore(f);
    if (full)
        return false;
    struct thread *t = thread_alloc(name, worker_main, NULL, WORKER_STACK_PAGES);
    f = irq_save();
    if (!t) {
        n_workers--;
        st.spawn_failures++;
        need_spawn = true;
        irq_restore(f);
        return false;
    }
    t->is_worker = true;
    t->state = T_PARKED;
    t->idle_since_ns = now_ns();
    t->pool_next = idle_workers;
    idle_workers = t;
    n_idle++;
    st.workers_created++;
    if (n_workers > n_peak)
        n_peak = n_workers;
    irq_restore(f);
    return true;
}

static void worker_main(void *arg)
{
    for (;;) {
        if (need_spawn) {
            need_spawn = false;
            spawn_worker();
        }
        uint64_t f = irq_save();
        struct wtd *w = take_next(current);
        if (!w) {
            park(current);
            irq_restore(f);
            continue;
        }
        current->cur_wtd = w;
        irq_restore(f);
        w->function(w);                     /* may free or requeue w: not touched after */
        f = irq_save();
        current->cur_wtd = NULL;
        st.run++;
        irq_restore(f);
    }
}

/* Housekeeping WTD: frees workers idle longer than reclaim_ms beyond the preallocated number. */
static uint32_t reclaim_fn(struct wtd *w)
{
    struct thread *victims = NULL;
    uint64_t now = now_ns(), limit = opt_reclaim_ms * 1000000ULL;
    uint64_t f = irq_save();
    reclaim_queued = false;
    struct thread **pp = &idle_workers;
    while (*pp) {
        struct thread *t = *pp;
        /* keep the preallocated number, and one spare so dispatch never finds the pool empty */
        if (n_workers > opt_prealloc && n_idle > 1 && now - t->idle_since_ns >= limit) {
            *pp = t->pool_next;
            t->pool_next = victims;
            victims = t;
            n_idle--;
            n_workers--;
            st.workers_reclaimed++;
        } else {
            pp = &t->pool_next;
        }
    }
    irq_restore(f);
    while (victims) {
        struct thread *n = victims->pool_next;
        thread_free(victims);
        victims = n;
    }
    return 0;
}

void wtd_tick(void)
{
    ASSERT_IRQS_OFF();
    /* look for reclaimable workers a few times per reclaim period (at least every 100 ms) */
    uint64_t period = opt_reclaim_ms / 4;
    if (period > 100) period = 100;
    if (period == 0) period = 1;
    if (jiffies - last_reclaim_check < period * TIMER_HZ / 1000 || reclaim_queued ||
        n_workers <= opt_prealloc)
        return;
    last_reclaim_check = jiffies;
    uint64_t now = now_ns(), limit = opt_reclaim_ms * 1000000ULL;
    for (struct thread *t = idle_workers; t; t = t->pool_next) {
        if (now - t->idle_since_ns >= limit) {
            reclaim_queued = true;
            wtd_schedule(&reclaim_wtd);
            break;
        }
    }
}

void wtd_set_reclaim_ms(uint64_t ms) { opt_reclaim_ms = ms ? ms : 1; }
uint64_t wtd_prealloc_count(void) { return opt_prealloc; }
uint64_t wtd_burst_limit(void) { return opt_burst; }

void wtd_get_stats(struct wtd_stats *s)
{
    uint64_t f = irq_save();
    *s = st;
    s->workers = n_workers;
    s->idle = n_idle;
    s->sleeping = n_sleeping;
    s->peak = n_peak;
    s->pending = list_len;
    s->delay_avg = delay_count ? delay_sum / delay_count : 0;
    irq_restore(f);
}

void wtd_engine_init(void)
{
    wtd_init(&reclaim_wtd, reclaim_fn, NULL);
    for (uint64_t i = 0; i < opt_prealloc; i++)
        if (!spawn_worker())
            panic("wtd: cannot preallocate worker %lu of %lu", i + 1, opt_prealloc);
}

static void cmd_wtd(int argc, char **argv)
{
    struct wtd_stats s;
    wtd_get_stats(&s);
    kprintf("WTD engine (burst %lu, prealloc %lu, reclaim %lu ms, max %lu)\n",
            opt_burst, opt_prealloc, opt_reclaim_ms, opt_max);
    kprintf("  scheduled %lu  run %lu  cancelled %lu  pending %lu  burst-limit yields %lu  preemptions %lu\n",
            s.scheduled, s.run, s.cancelled, s.pending, s.burst_yields, s.preemptions);
    kprintf("  workers %lu (idle %lu, sleeping %lu, peak %lu)  created %lu  reclaimed %lu\n",
            s.workers, s.idle, s.sleeping, s.peak, s.workers_created, s.workers_reclaimed);
    kprintf("  schedule-to-start delay (TSC ticks): min %lu avg %lu max %lu\n",
            s.delay_min, s.delay_avg, s.delay_max);
}
CONSOLE_COMMAND("wtd", "Work To Do engine counters", cmd_wtd);
