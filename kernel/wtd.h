/* Work To Do: see the comment at the top of kernel/wtd.c for the model. */
#pragma once
#include "types.h"

struct thread;

/* NetWare's WTD, field for field. */
struct wtd {
    struct wtd *next;
    struct wtd *prior;
    uint32_t (*function)(struct wtd *wtd);
    void *context;
    uint32_t flags;
    uint8_t *data;
    uint64_t queued_tsc;            /* for the schedule-to-start delay */
};
#define WTD_QUEUED 0x1u             /* on the list (owned by the engine) */

void wtd_init(struct wtd *w, uint32_t (*function)(struct wtd *), void *context);
bool wtd_schedule(struct wtd *w);   /* any context; false if it is already queued */
bool wtd_cancel(struct wtd *w);     /* true if it was queued and now will not run */

struct wtd_stats {
    uint64_t scheduled, run, cancelled, burst_yields;
    uint64_t workers_created, workers_reclaimed, workers, idle, sleeping, peak;
    uint64_t pending, preemptions, spawn_failures;
    uint64_t delay_min, delay_avg, delay_max;      /* TSC ticks, schedule to start */
};
void wtd_get_stats(struct wtd_stats *s);

void wtd_engine_init(void);         /* reads wtd.* options, preallocates workers */
void wtd_set_reclaim_ms(uint64_t ms);   /* tests shorten it */
uint64_t wtd_prealloc_count(void);
uint64_t wtd_burst_limit(void);

/* The scheduler's side (irqs off).  wtd_dispatch_worker, wtd_switched_in, wtd_worker_blocking,
 * wtd_worker_woken, wtd_take_irq_queued and wtd_preemptive_io are called only by
 * kernel/sched.c's schedule, sched_block, sched_wakeup and sched_irq_exit, which assert it
 * (once per path: these run on every context switch); wtd_dispatchable and wtd_tick assert
 * it themselves. */
bool wtd_dispatchable(void);
struct thread *wtd_dispatch_worker(void);
void wtd_switched_in(struct thread *next);
void wtd_worker_blocking(struct thread *t);
void wtd_worker_woken(struct thread *t);
bool wtd_take_irq_queued(void);     /* did an interrupt handler queue work? (clears) */
void wtd_preemptive_io(void);
void wtd_tick(void);
