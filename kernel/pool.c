/* Fixed-size object pools: a free list refilled a page at a time, bounded by 'max'. */
#include "mm.h"
#include "panic.h"

struct pool_obj { struct pool_obj *next; };

void pool_init(struct pool *p, const char *name, size_t obj_size, size_t max)
{
    p->name = name;
    p->obj_size = ALIGN_UP(MAX(obj_size, sizeof(struct pool_obj)), 16);
    p->max = max;
    p->count = p->in_use = p->peak = 0;
    p->free_list = NULL;
    p->lock = (spinlock_t)SPINLOCK_INIT("pool");
}

void *pool_get(struct pool *p)
{
    uint64_t f = spin_lock_irqsave(&p->lock);
    if (!p->free_list && p->count < p->max) {
        size_t bytes = p->obj_size <= PAGE_SIZE ? PAGE_SIZE : ALIGN_UP(p->obj_size, PAGE_SIZE);
        uint64_t pa = pmm_alloc_pages(bytes / PAGE_SIZE);
        if (pa) {
            for (size_t off = 0; off + p->obj_size <= bytes && p->count < p->max; off += p->obj_size) {
                struct pool_obj *o = (struct pool_obj *)(pa + off);
                o->next = p->free_list;
                p->free_list = o;
                p->count++;
            }
        }
    }
    struct pool_obj *o = p->free_list;
    if (o) {
        p->free_list = o->next;
        if (++p->in_use > p->peak)
            p->peak = p->in_use;
    }
    spin_unlock_irqrestore(&p->lock, f);
    return o;
}

void pool_put(struct pool *p, void *obj)
{
    if (!obj)
        return;
    uint64_t f = spin_lock_irqsave(&p->lock);
    if (p->in_use == 0)
        panic("pool %s: put without get", p->name);
    struct pool_obj *o = obj;
    o->next = p->free_list;
    p->free_list = o;
    p->in_use--;
    spin_unlock_irqrestore(&p->lock, f);
}
