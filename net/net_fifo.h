/* A bounded FIFO of pointers (the transmit backlog behind a full descriptor ring).
 * Pure and header-only so the in-guest tests can check its wrap-around and bounds. */
#pragma once
#include "types.h"

struct ptr_fifo {
    void **slot;
    uint32_t cap, head, count;
};

static inline void fifo_init(struct ptr_fifo *f, void **slots, uint32_t cap)
{
    f->slot = slots;
    f->cap = cap;
    f->head = 0;
    f->count = 0;
}
static inline bool fifo_empty(const struct ptr_fifo *f) { return f->count == 0; }
static inline bool fifo_push(struct ptr_fifo *f, void *p)
{
    if (f->count == f->cap)
        return false;
    f->slot[(f->head + f->count) % f->cap] = p;
    f->count++;
    return true;
}
static inline void *fifo_peek(const struct ptr_fifo *f) { return f->count ? f->slot[f->head] : NULL; }
static inline void *fifo_pop(struct ptr_fifo *f)
{
    if (!f->count)
        return NULL;
    void *p = f->slot[f->head];
    f->head = (f->head + 1) % f->cap;
    f->count--;
    return p;
}
