/*
 * Kernel heap.  Small blocks come from power-of-two size classes (32 B to 4 KiB,
 * each carved from whole pages and kept on a free list per class); anything
 * larger takes contiguous pages.  A 16-byte header in front of every block
 * records its class so kfree needs no size, and a magic word catches bad frees.
 */
#include "mm.h"
#include "string.h"
#include "panic.h"

#define HEAP_MAGIC   0x6B6D616CU
#define NCLASSES     8                      /* 32 .. 4096 */
#define LARGE_CLASS  0xFF

struct block_header {
    uint32_t magic;
    uint8_t cls;
    uint8_t pad[3];
    uint64_t pages;                         /* large blocks: pages spanned */
};
struct free_block { struct free_block *next; };

/* heap_lock (a spinlock: interrupts off) guards both; kmalloc/kfree take it from any context. */
static spinlock_t heap_lock = SPINLOCK_INIT("heap");
static struct free_block *free_lists[NCLASSES];     /* heap_lock */
static struct heap_stats stats;                     /* heap_lock */

/* The smallest class holding total bytes (class i holds 32 << i), or -1: from the bit
 * length of total - 1, with no loop (kmalloc runs a dozen times per request). */
static int class_for(size_t total)
{
    if (total <= 32)
        return 0;
    int cls = 64 - __builtin_clzll((uint64_t)total - 1) - 5;
    return cls < NCLASSES ? cls : -1;
}

void heap_init(void) { }

static bool refill(int cls)
{
    size_t size = 32U << cls;
    size_t pages = size < PAGE_SIZE ? 1 : size / PAGE_SIZE;
    uint64_t pa = pmm_alloc_pages(pages);
    if (!pa)
        return false;
    for (size_t off = 0; off + size <= pages * PAGE_SIZE; off += size) {
        struct free_block *b = (struct free_block *)(pa + off);
        b->next = free_lists[cls];
        free_lists[cls] = b;
    }
    return true;
}

void *kmalloc(size_t size)
{
    if (size == 0 || size > (1ULL << 32))
        return NULL;
    size_t total = size + sizeof(struct block_header);
    int cls = class_for(total);
    struct block_header *h;
    if (cls < 0) {
        size_t pages = ALIGN_UP(total, PAGE_SIZE) / PAGE_SIZE;
        h = (struct block_header *)pmm_alloc_pages(pages);
        if (!h)
            return NULL;
        h->cls = LARGE_CLASS;
        h->pages = pages;
        uint64_t f = spin_lock_irqsave(&heap_lock);
        stats.large_pages += pages;
        stats.bytes_in_use += pages * PAGE_SIZE;
        stats.allocs++;
        spin_unlock_irqrestore(&heap_lock, f);
    } else {
        uint64_t f = spin_lock_irqsave(&heap_lock);
        if (!free_lists[cls] && !refill(cls)) {
            spin_unlock_irqrestore(&heap_lock, f);
            return NULL;
        }
        h = (struct block_header *)free_lists[cls];
        free_lists[cls] = free_lists[cls]->next;
        stats.bytes_in_use += 32U << cls;
        stats.allocs++;
        spin_unlock_irqrestore(&heap_lock, f);
        h->cls = (uint8_t)cls;
        h->pages = 0;
    }
    h->magic = HEAP_MAGIC;
    return h + 1;
}

/* What kmalloc(size) really takes from memory (its class, or whole pages), header included:
 * for callers that keep a memory budget and want to charge the truth. */
size_t kmalloc_footprint(size_t size)
{
    size_t total = size + sizeof(struct block_header);
    int cls = class_for(total);
    return cls < 0 ? ALIGN_UP(total, PAGE_SIZE) : (size_t)32U << cls;
}

/* The bytes a kmalloc'd block of `size` can hold (its footprint less the header). */
size_t kmalloc_usable(size_t size) { return kmalloc_footprint(size) - sizeof(struct block_header); }

void *kzalloc(size_t size)
{
    void *p = kmalloc(size);
    if (p)
        memset(p, 0, size);
    return p;
}

void kfree(void *p)
{
    if (!p)
        return;
    struct block_header *h = (struct block_header *)p - 1;
    if (h->magic != HEAP_MAGIC)
        panic("kfree: bad pointer %p (magic %x)", p, h->magic);
    h->magic = 0;
    if (h->cls == LARGE_CLASS) {
        uint64_t pages = h->pages;
        uint64_t f = spin_lock_irqsave(&heap_lock);
        stats.large_pages -= pages;
        stats.bytes_in_use -= pages * PAGE_SIZE;
        stats.frees++;
        spin_unlock_irqrestore(&heap_lock, f);
        pmm_free_pages((uint64_t)h, pages);
        return;
    }
    if (h->cls >= NCLASSES)
        panic("kfree: corrupt header at %p", p);
    int cls = h->cls;
    uint64_t f = spin_lock_irqsave(&heap_lock);
    struct free_block *b = (struct free_block *)h;
    b->next = free_lists[cls];
    free_lists[cls] = b;
    stats.bytes_in_use -= 32U << cls;
    stats.frees++;
    spin_unlock_irqrestore(&heap_lock, f);
}

void heap_get_stats(struct heap_stats *s)
{
    uint64_t f = spin_lock_irqsave(&heap_lock);
    *s = stats;
    spin_unlock_irqrestore(&heap_lock, f);
}
