/*
 * Kernel virtual mappings beyond the boot identity map.  Only thread stacks
 * live here: each gets its own slot with an unmapped guard page below, so an
 * overflow faults (on the page-fault IST stack) instead of corrupting memory.
 */
#include "mm.h"
#include "io.h"
#include "string.h"
#include "panic.h"

#define STACK_REGION   0x0000700000000000ULL
#define STACK_SLOT     (64 * 1024ULL)          /* virtual size of one stack slot */
#define STACK_SLOTS    65536

static spinlock_t vmm_lock = SPINLOCK_INIT("vmm");
static uint64_t slot_free_list[STACK_SLOTS];
static uint64_t slot_free_count, slot_next;

static uint64_t *table_next(uint64_t *table, int index, bool create)
{
    if (!(table[index] & PTE_P)) {
        if (!create)
            return NULL;
        uint64_t pa = pmm_alloc_page();
        if (!pa)
            return NULL;
        memset((void *)pa, 0, PAGE_SIZE);
        table[index] = pa | PTE_P | PTE_W;
    }
    return (uint64_t *)(table[index] & 0x000FFFFFFFFFF000ULL);
}

static uint64_t *pte_for(uint64_t va, bool create)
{
    uint64_t *t = (uint64_t *)(read_cr3() & ~0xFFFULL);
    t = table_next(t, (va >> 39) & 511, create);
    if (t) t = table_next(t, (va >> 30) & 511, create);
    if (t) t = table_next(t, (va >> 21) & 511, create);
    return t ? &t[(va >> 12) & 511] : NULL;
}

bool vmm_map_page(uint64_t va, uint64_t pa, uint64_t flags)
{
    uint64_t f = spin_lock_irqsave(&vmm_lock);
    uint64_t *pte = pte_for(va, true);
    if (pte)
        *pte = pa | flags | PTE_P;
    spin_unlock_irqrestore(&vmm_lock, f);
    return pte != NULL;
}

uint64_t vmm_unmap_page(uint64_t va)
{
    uint64_t f = spin_lock_irqsave(&vmm_lock);
    uint64_t *pte = pte_for(va, false);
    uint64_t pa = 0;
    if (pte && (*pte & PTE_P)) {
        pa = *pte & 0x000FFFFFFFFFF000ULL;
        *pte = 0;
        invlpg(va);
    }
    spin_unlock_irqrestore(&vmm_lock, f);
    return pa;
}

uint64_t vmm_translate(uint64_t va)
{
    if (va < PHYS_LIMIT)
        return va;
    uint64_t f = spin_lock_irqsave(&vmm_lock);
    uint64_t *pte = pte_for(va, false);
    uint64_t pa = (pte && (*pte & PTE_P)) ? (*pte & 0x000FFFFFFFFFF000ULL) | (va & 0xFFF) : 0;
    spin_unlock_irqrestore(&vmm_lock, f);
    return pa;
}

bool kstack_alloc(struct kstack *s, size_t pages)
{
    if (pages == 0 || pages >= STACK_SLOT / PAGE_SIZE)
        return false;
    uint64_t f = spin_lock_irqsave(&vmm_lock);
    uint64_t slot;
    if (slot_free_count)
        slot = slot_free_list[--slot_free_count];
    else if (slot_next < STACK_SLOTS)
        slot = slot_next++;
    else {
        spin_unlock_irqrestore(&vmm_lock, f);
        return false;
    }
    spin_unlock_irqrestore(&vmm_lock, f);
    uint64_t slot_base = STACK_REGION + slot * STACK_SLOT;
    s->top = slot_base + STACK_SLOT;
    s->base = s->top - pages * PAGE_SIZE;
    s->guard = s->base - PAGE_SIZE;
    s->pages = pages;
    for (size_t i = 0; i < pages; i++) {
        uint64_t pa = pmm_alloc_page();
        if (!pa || !vmm_map_page(s->base + i * PAGE_SIZE, pa, PTE_W | PTE_NX)) {
            if (pa)
                pmm_free_page(pa);
            s->pages = i;
            kstack_free(s);
            return false;
        }
    }
    return true;
}

void kstack_free(struct kstack *s)
{
    for (size_t i = 0; i < s->pages; i++) {
        uint64_t pa = vmm_unmap_page(s->base + i * PAGE_SIZE);
        if (pa)
            pmm_free_page(pa);
    }
    uint64_t slot = (s->top - STACK_SLOT - STACK_REGION) / STACK_SLOT;
    uint64_t f = spin_lock_irqsave(&vmm_lock);
    slot_free_list[slot_free_count++] = slot;
    spin_unlock_irqrestore(&vmm_lock, f);
    s->pages = 0;
}
