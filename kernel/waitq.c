/* Wait queues and sleeping mutexes, on top of sched_block/sched_wakeup. */
#include "sched.h"
#include "io.h"
#include "panic.h"

void waitq_init(struct waitq *wq, const char *name)
{
    wq->head = wq->tail = NULL;
    wq->name = name;
}

static void enqueue(struct waitq *wq, struct thread *t)
{
    t->q_next = NULL;
    t->q_prev = wq->tail;
    if (wq->tail) wq->tail->q_next = t; else wq->head = t;
    wq->tail = t;
    t->waiting_on = wq;
}

void waitq_remove(struct waitq *wq, struct thread *t)
{
    ASSERT_IRQS_OFF();
    if (t->q_prev) t->q_prev->q_next = t->q_next; else wq->head = t->q_next;
    if (t->q_next) t->q_next->q_prev = t->q_prev; else wq->tail = t->q_prev;
    t->q_next = t->q_prev = NULL;
    t->waiting_on = NULL;
}

static struct thread *dequeue(struct waitq *wq)
{
    struct thread *t = wq->head;
    if (t)
        waitq_remove(wq, t);
    return t;
}

void waitq_wait(struct waitq *wq)
{
    ASSERT_IRQS_OFF();
    enqueue(wq, current);
    sched_block();
}

bool waitq_wait_timeout(struct waitq *wq, uint64_t ns)
{
    ASSERT_IRQS_OFF();
    enqueue(wq, current);
    extern void sched_arm_timer(struct thread *t, uint64_t ns);
    sched_arm_timer(current, ns);
    sched_block();
    return !current->timed_out;
}

int waitq_wake_one(struct waitq *wq)
{
    uint64_t f = irq_save();
    struct thread *t = dequeue(wq);
    if (t)
        sched_wakeup(t);
    irq_restore(f);
    return t != NULL;
}

int waitq_wake_all(struct waitq *wq)
{
    int n = 0;
    uint64_t f = irq_save();
    struct thread *t;
    while ((t = dequeue(wq))) {
        sched_wakeup(t);
        n++;
    }
    irq_restore(f);
    return n;
}

void mutex_init(struct mutex *m, const char *name)
{
    m->owner = NULL;
    m->contended = 0;
    waitq_init(&m->waiters, name);
}

/* Ownership is handed directly to the woken waiter, so nobody can barge in between. */
void mutex_lock(struct mutex *m)
{
    uint64_t f = irq_save();
    if (m->owner == current)
        panic("mutex %s: recursive lock", m->waiters.name);
    if (m->owner) {
        m->contended++;
        while (m->owner != current)
            waitq_wait(&m->waiters);
    } else {
        m->owner = current;
    }
    irq_restore(f);
}

bool mutex_trylock(struct mutex *m)
{
    uint64_t f = irq_save();
    bool ok = m->owner == NULL;
    if (ok)
        m->owner = current;
    irq_restore(f);
    return ok;
}

void mutex_unlock(struct mutex *m)
{
    uint64_t f = irq_save();
    if (m->owner != current)
        panic("mutex %s: unlock by non-owner", m->waiters.name);
    struct thread *next = m->waiters.head;
    m->owner = next;
    if (next)
        waitq_wake_one(&m->waiters);
    irq_restore(f);
}
