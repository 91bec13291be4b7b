/*
 * Threads, the run queue and sleeping.  One CPU: scheduler state (run queue,
 * wait queues, timers) is protected by disabling interrupts; functions marked
 * "irqs off" assert it.  The run queue takes threads at its head (a thread
 * preempted for I/O work, which must run again before anyone else) or its tail.
 */
#pragma once
#include "types.h"
#include "mm.h"

struct wtd;
struct thread;

struct waitq {
    struct thread *head, *tail;
    const char *name;
};
#define WAITQ_INIT(n) { NULL, NULL, n }

enum thread_state { T_RUNNING, T_RUNNABLE, T_BLOCKED, T_PARKED, T_DEAD };

/* Guards: "S" fields change only with interrupts off (the scheduler side, one CPU);
 * unmarked ones are set when the thread is made. */
struct thread {
    uint64_t rsp;                       /* S: saved by switch_to: must stay first */
    struct thread *q_next, *q_prev;     /* S: run queue or wait queue links */
    struct waitq *waiting_on;           /* S */
    enum thread_state state;            /* S */
    uint32_t id;
    char name[24];
    struct kstack stack;
    void (*entry)(void *);
    void *arg;
    int exit_code;
    bool detached, joined;
    struct waitq join_wq;
    /* timed sleeps: S */
    uint64_t wake_ns;
    struct thread *timer_next;
    bool on_timer, timed_out;
    /* WTD workers (kernel/wtd.c): S but is_worker, set when the worker is made */
    bool is_worker;
    struct wtd *cur_wtd;
    uint64_t idle_since_ns;
    struct thread *pool_next;
    /* lock order: > 0 while the thread holds a lock that must be innermost (lwIP's core
     * lock, see server/kernel/kserver.c); fs_mutex_lock panics then */
    uint32_t innermost_locks;
    /* bookkeeping: S (thread.c's list of all threads, the switch counters) */
    struct thread *all_next, *all_prev;
    uint64_t switches, quantum_start;
};

extern struct thread *current;
extern struct thread *idle_thread;

void sched_init(void);                       /* turns the boot context into thread "main" */
struct thread *thread_create(const char *name, void (*fn)(void *), void *arg);
struct thread *thread_alloc(const char *name, void (*fn)(void *), void *arg, size_t stack_pages);
struct thread *thread_create_stack(const char *name, void (*fn)(void *), void *arg, size_t stack_pages);
int thread_join(struct thread *t);
void thread_detach(struct thread *t);
__attribute__((noreturn)) void thread_exit(int code);
void thread_free(struct thread *t);          /* for dead threads nobody will join */
void thread_yield(void);
void thread_sleep_ns(uint64_t ns);
static inline void thread_sleep_ms(uint64_t ms) { thread_sleep_ns(ms * 1000000ULL); }
bool thread_stack_guard_hit(struct thread *t, uint64_t addr);
void threads_print(bool stacks);
uint64_t sched_switch_count(void);
/* TSC ticks spent halted in the idle thread (under -icount shift=0 the TSC counts guest
 * instructions, so rdtsc() minus this is the instructions executed). */
uint64_t sched_idle_tsc(void);
void idle_wake(void);                        /* irqs off: an interrupt ends a halt (trap.c) */

/* run queue (irqs off) */
void rq_insert_head(struct thread *t);
void rq_insert_tail(struct thread *t);
bool rq_empty(void);
void schedule(void);                         /* irqs off; current's state already set */
void sched_block(void);                      /* irqs off: current sleeps until woken */
void sched_wakeup(struct thread *t);         /* irqs off: blocked -> runnable (tail) */

/* called from the timer interrupt and the common interrupt exit path */
void sched_tick(void);
void sched_irq_exit(bool hooked_source);

/* wait queues */
void waitq_init(struct waitq *wq, const char *name);
void waitq_wait(struct waitq *wq);                       /* irqs off */
bool waitq_wait_timeout(struct waitq *wq, uint64_t ns);  /* irqs off; false on timeout */
int waitq_wake_one(struct waitq *wq);                    /* any context */
int waitq_wake_all(struct waitq *wq);
void waitq_remove(struct waitq *wq, struct thread *t);   /* irqs off: t is on wq */

/* sleeping mutexes */
struct mutex {
    struct thread *owner;
    struct waitq waiters;
    uint64_t contended;
};
#define MUTEX_INIT(n) { NULL, WAITQ_INIT(n), 0 }
void mutex_init(struct mutex *m, const char *name);
void mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
void mutex_unlock(struct mutex *m);
