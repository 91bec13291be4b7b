/*
 * Split virtqueues (virtio 1.0 section 2.6), memory only: the descriptor table with its
 * free list, the available ring the driver fills, the used ring the device fills, the
 * per-request indirect tables, and the two notification suppressions (EVENT_IDX or the
 * flags).  No device registers are touched except the doorbell pointer in vq_kick, so
 * tests/kernel/test_virtio_ring.c plays the device against the same memory.
 *
 * The caller serializes every call on one queue (see virtio_internal.h).
 */
#include "virtio_internal.h"
#include "mm.h"
#include "string.h"

static void *alloc_pages_zero(size_t bytes, size_t *pages_out)
{
    size_t pages = ALIGN_UP(bytes, PAGE_SIZE) / PAGE_SIZE;
    uint64_t pa = pmm_alloc_pages(pages);
    if (!pa)
        return NULL;
    memset((void *)pa, 0, pages * PAGE_SIZE);
    *pages_out = pages;
    return (void *)pa;
}

static size_t ring_bytes(uint16_t num)
{
    /* desc | avail (+used_event) | pad to 4 KiB | used (+avail_event) */
    return ALIGN_UP(vq_desc_bytes(num) + vq_avail_bytes(num) + 2, PAGE_SIZE) + vq_used_bytes(num) + 2;
}

int vq_alloc(struct virtq *q, const char *name, uint16_t index, uint16_t num, uint16_t ind_max)
{
    memset(q, 0, sizeof *q);
    if (num == 0 || (num & (num - 1)) || num > VQ_MAX_SIZE)
        return -22;
    size_t pages;
    uint8_t *mem = alloc_pages_zero(ring_bytes(num), &pages);
    if (!mem)
        return -12;
    q->name = name;
    q->index = index;
    q->num = num;
    q->desc = (struct vring_desc *)mem;
    q->avail = (struct vring_avail *)(mem + vq_desc_bytes(num));
    q->used = (struct vring_used *)(mem + ALIGN_UP(vq_desc_bytes(num) + vq_avail_bytes(num) + 2, PAGE_SIZE));
    q->cookie = kzalloc(num * sizeof(void *));
    q->chain = kzalloc(num * sizeof(uint16_t));
    if (!q->cookie || !q->chain)
        return -12;
    if (ind_max > 1) {
        q->ind = alloc_pages_zero((size_t)num * ind_max * sizeof(struct vring_desc), &pages);
        if (!q->ind)
            return -12;
        q->ind_max = ind_max;
    }
    vq_reset(q);
    return 0;
}

void vq_free(struct virtq *q)
{
    if (q->desc)
        pmm_free_pages((uint64_t)(uintptr_t)q->desc, ALIGN_UP(ring_bytes(q->num), PAGE_SIZE) / PAGE_SIZE);
    if (q->ind)
        pmm_free_pages((uint64_t)(uintptr_t)q->ind,
                       ALIGN_UP((size_t)q->num * q->ind_max * sizeof(struct vring_desc), PAGE_SIZE) / PAGE_SIZE);
    kfree(q->cookie);
    kfree(q->chain);
    memset(q, 0, sizeof *q);
}

void vq_reset(struct virtq *q)
{
    for (uint16_t i = 0; i < q->num; i++) {
        q->desc[i].next = (uint16_t)(i + 1 == q->num ? 0 : i + 1);
        q->desc[i].flags = 0;
        q->cookie[i] = NULL;
        q->chain[i] = 0;
    }
    q->free_head = 0;
    q->num_free = q->num;
    q->avail_shadow = q->last_kick = q->last_used = 0;
    q->avail->flags = 0;
    q->avail->idx = 0;
    q->used->flags = 0;
    q->used->idx = 0;
    vq_used_event(q) = 0;
    vq_avail_event(q) = 0;
}

static void fill(struct vring_desc *d, const struct vq_buf *b, bool more, uint16_t next)
{
    d->addr = b->addr;
    d->len = b->len;
    d->flags = (uint16_t)((b->device_writes ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0));
    d->next = more ? next : 0;
}

bool vq_add(struct virtq *q, const struct vq_buf *b, uint32_t n_out, uint32_t n_in, void *cookie)
{
    uint32_t n = n_out + n_in;
    bool use_ind = q->indirect && q->ind && n > 1 && n <= q->ind_max;
    uint32_t need = use_ind ? 1 : n;
    if (n == 0 || !cookie || need > q->num_free) {
        q->st.full++;
        return false;
    }
    uint16_t head = q->free_head;
    if (use_ind) {
        struct vring_desc *t = q->ind + (size_t)head * q->ind_max;
        for (uint32_t i = 0; i < n; i++)
            fill(&t[i], &b[i], i + 1 < n, (uint16_t)(i + 1));
        q->desc[head].addr = (uint64_t)(uintptr_t)t;
        q->desc[head].len = n * (uint32_t)sizeof(struct vring_desc);
        q->desc[head].flags = VRING_DESC_F_INDIRECT;
        q->free_head = q->desc[head].next;
        q->st.indirect++;
    } else {
        uint16_t i = head;
        for (uint32_t k = 0; k < n; k++) {
            uint16_t next = q->desc[i].next;    /* the free list's link, before fill() replaces it */
            fill(&q->desc[i], &b[k], k + 1 < n, next);
            if (k + 1 == n)
                q->free_head = next;
            i = next;
        }
    }
    q->num_free = (uint16_t)(q->num_free - need);
    q->chain[head] = (uint16_t)need;
    q->cookie[head] = cookie;
    q->avail->ring[q->avail_shadow & (q->num - 1)] = head;
    q->avail_shadow++;
    __atomic_thread_fence(__ATOMIC_RELEASE);    /* descriptors and ring entry before idx */
    WRITE_ONCE(q->avail->idx, q->avail_shadow);
    q->st.added++;
    return true;
}

bool vq_kick_prepare(struct virtq *q)
{
    uint16_t new_idx = q->avail_shadow, old = q->last_kick;
    if (new_idx == old)
        return false;
    q->last_kick = new_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);   /* idx published before we read the device's wish */
    if (q->event_idx)
        return vring_need_event(vq_avail_event(q), new_idx, old);
    return !(READ_ONCE(q->used->flags) & VRING_USED_F_NO_NOTIFY);
}

void vq_kick(struct virtq *q)
{
    if (q->avail_shadow == q->last_kick)
        return;
    if (vq_kick_prepare(q)) {
        q->st.kicks++;
        if (q->notify)
            *q->notify = q->index;
    } else {
        q->st.kicks_suppressed++;
    }
}

bool vq_has_used(struct virtq *q) { return READ_ONCE(q->used->idx) != q->last_used; }

void *vq_get_used(struct virtq *q, uint32_t *len)
{
    while (vq_has_used(q)) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);   /* idx before the entry it covers */
        volatile struct vring_used_elem *e = &q->used->ring[q->last_used & (q->num - 1)];
        uint32_t id = e->id, l = e->len;
        q->last_used++;
        if (id >= q->num || !q->cookie[id]) {
            q->st.bad_used++;                   /* a device bug: never free twice */
            continue;
        }
        void *c = q->cookie[id];
        q->cookie[id] = NULL;
        /* the chain goes back on the free list in front */
        uint16_t last = (uint16_t)id;
        for (uint16_t k = 1; k < q->chain[id]; k++)
            last = q->desc[last].next;
        q->desc[last].next = q->free_head;
        q->free_head = (uint16_t)id;
        q->num_free = (uint16_t)(q->num_free + q->chain[id]);
        q->chain[id] = 0;
        q->st.completed++;
        if (len)
            *len = l;
        return c;
    }
    return NULL;
}

bool vq_enable_intr(struct virtq *q)
{
    if (q->event_idx)
        WRITE_ONCE(vq_used_event(q), q->last_used);
    else
        WRITE_ONCE(q->avail->flags, 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);   /* the wish visible before we look again */
    return vq_has_used(q);
}

void vq_disable_intr(struct virtq *q)
{
    if (!q->event_idx)
        WRITE_ONCE(q->avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
    else    /* the device ignores the flag: ask for an interrupt only 65535 entries on */
        WRITE_ONCE(vq_used_event(q), (uint16_t)(q->last_used - 1));
}

void vq_drain_pending(struct virtq *q, void (*fn)(void *cookie, void *arg), void *arg)
{
    for (uint16_t i = 0; i < q->num; i++)
        if (q->cookie[i] && fn)
            fn(q->cookie[i], arg);
    vq_reset(q);
}
