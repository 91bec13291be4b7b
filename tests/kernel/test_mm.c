/* Physical pages, heap and pools. */
#include "ktest.h"
#include "io.h"
#include "mm.h"
#include "string.h"

KTEST(pmm_pages_do_not_overlap_and_are_reused)
{
    enum { N = 64 };
    uint64_t pages[N];
    uint64_t before = pmm_free_count();
    for (int i = 0; i < N; i++) {
        pages[i] = pmm_alloc_page();
        KT_NE(pages[i], 0);
        KT_EQ(pages[i] % PAGE_SIZE, 0);
        memset((void *)pages[i], i, PAGE_SIZE);       /* writable, and no overlap (checked below) */
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            KT_NE(pages[i], pages[j]);
    for (int i = 0; i < N; i++)
        KT_EQ(((uint8_t *)pages[i])[PAGE_SIZE - 1], i);
    KT_EQ(pmm_free_count(), before - N);
    uint64_t freed = pages[17];
    pmm_free_page(freed);
    bool reused = false;
    uint64_t again[N];
    int n = 0;
    for (; n < N; n++) {
        again[n] = pmm_alloc_page();
        if (again[n] == freed) { reused = true; n++; break; }
    }
    KT_ASSERT(reused);
    for (int i = 0; i < n; i++)
        pmm_free_page(again[i]);
    for (int i = 0; i < N; i++)
        if (i != 17)
            pmm_free_page(pages[i]);
    KT_EQ(pmm_free_count(), before);
}

KTEST(pmm_exhaustion_gives_null)
{
    /* Chain every free page through its own first word, then give them all back.  With
     * interrupts off throughout: work a device interrupt starts (DHCP completing, a worker
     * spawned) must not take a page between the counts. */
    uint64_t irq = irq_save();
    uint64_t head = 0, count = 0, before = pmm_free_count();
    for (;;) {
        uint64_t p = pmm_alloc_page();
        if (!p)
            break;
        *(uint64_t *)p = head;
        head = p;
        count++;
    }
    uint64_t free_at_end = pmm_free_count(), one = pmm_alloc_page(), four = pmm_alloc_pages(4);
    while (head) {
        uint64_t next = *(uint64_t *)head;
        pmm_free_page(head);
        head = next;
    }
    uint64_t after = pmm_free_count();
    irq_restore(irq);
    KT_EQ(free_at_end, 0);
    KT_EQ(one, 0);
    KT_EQ(four, 0);
    KT_EQ(count, before);
    KT_EQ(after, before);
}

KTEST(pmm_contiguous_runs)
{
    uint64_t a = pmm_alloc_pages(16), b = pmm_alloc_pages(16);
    KT_NE(a, 0);
    KT_NE(b, 0);
    KT_ASSERT(a + 16 * PAGE_SIZE <= b || b + 16 * PAGE_SIZE <= a);
    pmm_free_pages(a, 16);
    pmm_free_pages(b, 16);
}

KTEST(heap_sizes_alignment_and_reuse)
{
    static const size_t sizes[] = { 1, 15, 16, 17, 100, 1000, 4000, 4096, 5000, 70000 };
    void *ptrs[ARRAY_SIZE(sizes)];
    struct heap_stats s0, s1;
    heap_get_stats(&s0);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        ptrs[i] = kmalloc(sizes[i]);
        KT_NE(ptrs[i], 0);
        KT_EQ((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], (int)i + 1, sizes[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint8_t *p = ptrs[i];
        KT_EQ(p[0], i + 1);
        KT_EQ(p[sizes[i] - 1], i + 1);
    }
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
        kfree(ptrs[i]);
    heap_get_stats(&s1);
    KT_EQ(s1.bytes_in_use, s0.bytes_in_use);
    void *a = kmalloc(100);
    kfree(a);
    void *b = kmalloc(100);
    KT_EQ(a, b);                           /* same class, freed block comes back first */
    kfree(b);
    KT_EQ(kmalloc(0), 0);
    uint8_t *z = kzalloc(300);
    for (int i = 0; i < 300; i++)
        KT_EQ(z[i], 0);
    kfree(z);
}

KTEST(pool_bounded_and_recycles)
{
    struct pool p;
    pool_init(&p, "test", 200, 50);
    void *objs[50];
    for (int i = 0; i < 50; i++) {
        objs[i] = pool_get(&p);
        KT_NE(objs[i], 0);
        memset(objs[i], 0xAB, 200);
        for (int j = 0; j < i; j++)
            KT_ASSERT((uint8_t *)objs[i] >= (uint8_t *)objs[j] + 200 || (uint8_t *)objs[j] >= (uint8_t *)objs[i] + 200);
    }
    KT_EQ(pool_get(&p), 0);                /* at its maximum */
    KT_EQ(p.in_use, 50);
    pool_put(&p, objs[7]);
    KT_EQ(pool_get(&p), objs[7]);
    KT_EQ(p.peak, 50);
    for (int i = 0; i < 50; i++)
        pool_put(&p, objs[i]);
    KT_EQ(p.in_use, 0);
}
