/* Physical pages, kernel virtual mappings, the heap and fixed-size pools. */
#pragma once
#include "types.h"
#include "spinlock.h"

/* Physical memory is identity-mapped below 4 GiB: a physical address is a pointer. */
#define PHYS_LIMIT (4ULL << 30)

void pmm_init(void);
uint64_t pmm_alloc_page(void);                 /* 0 when memory is exhausted */
uint64_t pmm_alloc_pages(size_t n);            /* n physically contiguous pages, 0 on failure */
void pmm_free_page(uint64_t pa);
void pmm_free_pages(uint64_t pa, size_t n);
uint64_t pmm_free_count(void);
uint64_t pmm_total_count(void);

/* 4 KiB mappings outside the identity map (thread stacks with guard pages). */
bool vmm_map_page(uint64_t va, uint64_t pa, uint64_t flags);
uint64_t vmm_unmap_page(uint64_t va);          /* returns the physical page, or 0 */
uint64_t vmm_translate(uint64_t va);           /* 0 if not mapped */
#define PTE_P  1ULL
#define PTE_W  2ULL
#define PTE_NX (1ULL << 63)

/* Stacks: 'pages' mapped pages under a top address, with an unmapped guard page below. */
struct kstack { uint64_t base, top, guard; size_t pages; };
bool kstack_alloc(struct kstack *s, size_t pages);
void kstack_free(struct kstack *s);

void heap_init(void);
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);
size_t kmalloc_footprint(size_t size);   /* memory kmalloc(size) takes, header included */
size_t kmalloc_usable(size_t size);      /* bytes such a block can hold (>= size) */
struct heap_stats { uint64_t bytes_in_use, allocs, frees, large_pages; };
void heap_get_stats(struct heap_stats *s);

/* Fixed-size object pool: O(1) get/put, grows a page at a time up to 'max' objects. */
struct pool {
    const char *name;                   /* set by pool_init, then read-only */
    size_t obj_size, max;               /* set by pool_init, then read-only */
    size_t count, in_use, peak;         /* lock */
    void *free_list;                    /* lock */
    spinlock_t lock;                    /* interrupts off: pool_get/put from any context */
};
void pool_init(struct pool *p, const char *name, size_t obj_size, size_t max);
void *pool_get(struct pool *p);                /* NULL when the pool is at its maximum */
void pool_put(struct pool *p, void *obj);
