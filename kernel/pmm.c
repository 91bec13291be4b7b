/*
 * Physical page allocator: one bit per 4 KiB page below 4 GiB, fed from the
 * Multiboot2 memory map.  The kernel image, the boot information, modules and
 * the sections GRUB loaded for symbols are reserved before anything is handed out.
 */
#include "mm.h"
#include "multiboot.h"
#include "string.h"
#include "panic.h"
#include "printf.h"

#define NPAGES (PHYS_LIMIT / PAGE_SIZE)
static spinlock_t pmm_lock = SPINLOCK_INIT("pmm");   /* interrupts off: any context */
static uint64_t used_bitmap[NPAGES / 64];      /* pmm_lock: 1 = used or not RAM */
static uint64_t free_pages, next_hint;         /* pmm_lock */
static uint64_t total_pages;                   /* set by pmm_init, then read-only */
extern char __kernel_start[], __kernel_end[];

static inline bool page_used(uint64_t pfn) { return used_bitmap[pfn / 64] & (1ULL << (pfn % 64)); }
static inline void set_used(uint64_t pfn)  { used_bitmap[pfn / 64] |= 1ULL << (pfn % 64); }
static inline void set_free(uint64_t pfn)  { used_bitmap[pfn / 64] &= ~(1ULL << (pfn % 64)); }

static void reserve(uint64_t start, uint64_t end)
{
    for (uint64_t pfn = start / PAGE_SIZE; pfn < ALIGN_UP(end, PAGE_SIZE) / PAGE_SIZE && pfn < NPAGES; pfn++) {
        if (!page_used(pfn)) {
            set_used(pfn);
            free_pages--;
        }
    }
}

struct elf_shdr64 { uint32_t name, type; uint64_t flags, addr, offset, size; uint32_t link, info; uint64_t align, entsize; };

void pmm_init(void)
{
    memset(used_bitmap, 0xff, sizeof used_bitmap);
    for (int i = 0; i < boot_info.mmap_count; i++) {
        struct mb_region *r = &boot_info.mmap[i];
        if (r->type != 1)
            continue;
        uint64_t start = ALIGN_UP(r->base, PAGE_SIZE), end = ALIGN_DOWN(r->base + r->len, PAGE_SIZE);
        for (uint64_t a = start; a < end && a < PHYS_LIMIT; a += PAGE_SIZE) {
            if (page_used(a / PAGE_SIZE)) {
                set_free(a / PAGE_SIZE);
                free_pages++;
                total_pages++;
            }
        }
    }
    reserve(0, 0x100000);                                  /* BIOS, VGA, real-mode leftovers */
    reserve((uint64_t)__kernel_start, (uint64_t)__kernel_end);
    reserve(boot_info.info_start, boot_info.info_end);
    for (int i = 0; i < boot_info.mod_count; i++)
        reserve(boot_info.mod_start[i], boot_info.mod_end[i]);
    const uint8_t *sh = boot_info.elf_shdrs;
    for (uint32_t i = 0; sh && i < boot_info.elf_shnum; i++) {
        const struct elf_shdr64 *s = (const void *)(sh + i * boot_info.elf_shentsize);
        if (s->addr && s->size)
            reserve(s->addr, s->addr + s->size);
    }
    next_hint = 0x100000 / PAGE_SIZE;
}

uint64_t pmm_alloc_pages(size_t n)
{
    if (n == 0)
        return 0;
    uint64_t f = spin_lock_irqsave(&pmm_lock);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t pfn = pass ? 0 : next_hint;
        uint64_t limit = pass ? next_hint + n : NPAGES;
        if (limit > NPAGES) limit = NPAGES;
        while (pfn + n <= limit) {
            if (n == 1 && used_bitmap[pfn / 64] == ~0ULL) { pfn = (pfn | 63) + 1; continue; }
            size_t run = 0;
            while (run < n && !page_used(pfn + run))
                run++;
            if (run == n) {
                for (size_t i = 0; i < n; i++)
                    set_used(pfn + i);
                free_pages -= n;
                next_hint = pfn + n;
                spin_unlock_irqrestore(&pmm_lock, f);
                return pfn * PAGE_SIZE;
            }
            pfn += run + 1;
        }
    }
    spin_unlock_irqrestore(&pmm_lock, f);
    return 0;
}

uint64_t pmm_alloc_page(void) { return pmm_alloc_pages(1); }

void pmm_free_pages(uint64_t pa, size_t n)
{
    uint64_t f = spin_lock_irqsave(&pmm_lock);
    for (size_t i = 0; i < n; i++) {
        uint64_t pfn = pa / PAGE_SIZE + i;
        if ((pa & (PAGE_SIZE - 1)) || pfn >= NPAGES || !page_used(pfn))
            panic("pmm: bad free of page %p", (void *)(pfn * PAGE_SIZE));
        set_free(pfn);
        free_pages++;
    }
    if (pa / PAGE_SIZE < next_hint)
        next_hint = pa / PAGE_SIZE;           /* low pages first: freed memory is reused soon */
    spin_unlock_irqrestore(&pmm_lock, f);
}

void pmm_free_page(uint64_t pa) { pmm_free_pages(pa, 1); }
uint64_t pmm_free_count(void) { return free_pages; }
uint64_t pmm_total_count(void) { return total_pages; }
