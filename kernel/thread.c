/* Kernel threads: creation with a guarded stack, exit, join, and the idle thread. */
#include "sched.h"
#include "wtd.h"
#include "io.h"
#include "panic.h"
#include "string.h"
#include "printf.h"
#include "time.h"
#include "irq.h"

#define DEFAULT_STACK_PAGES 8            /* 32 KiB */

extern void thread_trampoline(void);
static struct thread main_thread;
/* Interrupts off guard these (one CPU), as they do the scheduler's state. */
static struct thread *all_threads;
static uint32_t next_id = 1;
static struct thread *zombies;           /* detached threads that exited */

static void all_add(struct thread *t)
{
    uint64_t f = irq_save();
    t->all_prev = NULL;
    t->all_next = all_threads;
    if (all_threads) all_threads->all_prev = t;
    all_threads = t;
    irq_restore(f);
}

static void all_remove(struct thread *t)
{
    if (t->all_prev) t->all_prev->all_next = t->all_next; else all_threads = t->all_next;
    if (t->all_next) t->all_next->all_prev = t->all_prev;
}

static void reap_zombies(void)
{
    uint64_t f = irq_save();
    struct thread *z = zombies;
    zombies = NULL;
    irq_restore(f);
    while (z) {
        struct thread *n = z->q_next;
        thread_free(z);
        z = n;
    }
}

/* Halted time: idle_main notes when it halts, the next interrupt's entry (idle_wake) ends
 * the period, before its handler runs (which may switch away from idle for a long time).
 * Irqs off guard both (one CPU). */
static uint64_t idle_tsc;                   /* ticks halted so far */
static uint64_t halted_at;                  /* rdtsc() at the halt; 0 while not halted */

uint64_t sched_idle_tsc(void)
{
    return idle_tsc;
}

void idle_wake(void)
{
    if (halted_at) {
        idle_tsc += rdtsc() - halted_at;
        halted_at = 0;
    }
}

static void idle_main(void *arg)
{
    for (;;) {
        if (zombies)
            reap_zombies();
        irq_disable();
        if (rq_empty() && !wtd_dispatchable()) {
            halted_at = rdtsc();
            __asm__ volatile("sti; hlt; cli");
            idle_wake();                    /* woken by something that is not an interrupt */
        }
        if (!rq_empty() || wtd_dispatchable())
            schedule();
        irq_enable();
    }
}

void sched_init(void)
{
    struct thread *t = &main_thread;
    memset(t, 0, sizeof *t);
    strlcpy(t->name, "main", sizeof t->name);
    t->id = next_id++;
    t->state = T_RUNNING;
    waitq_init(&t->join_wq, "join");
    current = t;
    all_add(t);
    /* idle never sits on the run queue: pick_next falls back to it */
    idle_thread = thread_alloc("idle", idle_main, NULL, 2);
    if (!idle_thread)
        panic("cannot create the idle thread");
    idle_thread->state = T_RUNNABLE;
}

/* A new thread that has never run; thread_create puts it on the run queue, the WTD pool parks it. */
struct thread *thread_alloc(const char *name, void (*fn)(void *), void *arg, size_t stack_pages)
{
    if (zombies && current != idle_thread && !in_interrupt())
        reap_zombies();
    struct thread *t = kzalloc(sizeof *t);
    if (!t)
        return NULL;
    if (!kstack_alloc(&t->stack, stack_pages)) {
        kfree(t);
        return NULL;
    }
    strlcpy(t->name, name, sizeof t->name);
    t->entry = fn;
    t->arg = arg;
    waitq_init(&t->join_wq, "join");
    uint64_t *sp = (uint64_t *)t->stack.top;
    *--sp = 0;                                   /* keeps the entry stack 16-byte aligned */
    *--sp = (uint64_t)thread_trampoline;
    for (int i = 0; i < 6; i++)
        *--sp = 0;                               /* rbp rbx r12 r13 r14 r15 */
    t->rsp = (uint64_t)sp;
    uint64_t f = irq_save();
    t->id = next_id++;
    irq_restore(f);
    all_add(t);
    return t;
}

struct thread *thread_create_stack(const char *name, void (*fn)(void *), void *arg, size_t stack_pages)
{
    struct thread *t = thread_alloc(name, fn, arg, stack_pages);
    if (t) {
        uint64_t f = irq_save();
        rq_insert_tail(t);
        irq_restore(f);
    }
    return t;
}

struct thread *thread_create(const char *name, void (*fn)(void *), void *arg)
{
    return thread_create_stack(name, fn, arg, DEFAULT_STACK_PAGES);
}

void thread_start(void)
{
    irq_enable();
    current->entry(current->arg);
    thread_exit(0);
}

void thread_exit(int code)
{
    irq_disable();
    struct thread *t = current;
    t->exit_code = code;
    t->state = T_DEAD;
    if (t->detached) {
        t->q_next = zombies;
        zombies = t;
    } else {
        waitq_wake_all(&t->join_wq);
    }
    schedule();
    panic("dead thread %s scheduled", t->name);
}

void thread_free(struct thread *t)
{
    uint64_t f = irq_save();
    all_remove(t);
    irq_restore(f);
    if (t->stack.pages)
        kstack_free(&t->stack);
    kfree(t);
}

int thread_join(struct thread *t)
{
    uint64_t f = irq_save();
    while (t->state != T_DEAD)
        waitq_wait(&t->join_wq);
    irq_restore(f);
    int code = t->exit_code;
    thread_free(t);
    return code;
}

void thread_detach(struct thread *t)
{
    uint64_t f = irq_save();
    if (t->state == T_DEAD) {
        irq_restore(f);
        thread_free(t);
        return;
    }
    t->detached = true;
    irq_restore(f);
}

bool thread_stack_guard_hit(struct thread *t, uint64_t addr)
{
    return t->stack.pages && addr >= t->stack.guard && addr < t->stack.guard + PAGE_SIZE;
}

/* threads_print(stacks): one line per thread; with stacks, each thread that is not running
 * also shows what it waits on and where (the frames its switch_to saved), so a stalled
 * server can say who sleeps in which function (`threads -s` on the console). */
void threads_print(bool stacks)
{
    static const char *states[] = { "running", "runnable", "blocked", "parked", "dead" };
    uint64_t f = irq_save();
    kprintf("  %4s %-22s %-9s %-7s %10s\n", "id", "name", "state", "kind", "switches");
    for (struct thread *t = all_threads; t; t = t->all_next) {
        kprintf("  %4u %-22s %-9s %-7s %10lu\n", t->id, t->name, states[t->state],
                t == idle_thread ? "idle" : t->is_worker ? "worker" : "thread", t->switches);
        if (!stacks || t == current || t->state == T_DEAD || t->state == T_PARKED)
            continue;
        /* switch_to pushed rbp, rbx, r12..r15 below its return address */
        const uint64_t *saved = (const uint64_t *)t->rsp;
        if (t->stack.pages && (t->rsp < t->stack.base || t->rsp + 7 * 8 > t->stack.top))
            continue;
        kprintf("       waits on %s%s\n", t->waiting_on ? t->waiting_on->name : "-",
                t->cur_wtd ? ", inside a WTD" : "");
        backtrace_from(saved[5], saved[6]);
    }
    irq_restore(f);
}
