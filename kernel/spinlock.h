/*
 * Spinlocks that save and restore the interrupt flag.  The kernel runs on one
 * CPU, so disabling interrupts is what really excludes; the lock word still
 * catches recursion and unbalanced unlocks, which would otherwise go unseen.
 */
#pragma once
#include "types.h"
#include "io.h"

typedef struct spinlock {
    volatile uint32_t locked;
    const char *name;
} spinlock_t;

#define SPINLOCK_INIT(n) { 0, n }

void spin_panic(spinlock_t *l, const char *why);

static inline uint64_t spin_lock_irqsave(spinlock_t *l)
{
    uint64_t flags = irq_save();
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
        /* Uniprocessor with interrupts off: a held lock can never be released. */
        spin_panic(l, "recursive acquire");
    }
    return flags;
}

static inline void spin_unlock_irqrestore(spinlock_t *l, uint64_t flags)
{
    if (unlikely(!l->locked))
        spin_panic(l, "unlock of unlocked lock");
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
    irq_restore(flags);
}

static inline bool spin_is_locked(spinlock_t *l) { return l->locked; }
