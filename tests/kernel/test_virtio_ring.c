/*
 * The split virtqueue (drivers/virtio/virtqueue.c) against a fake device in memory: the
 * test reads the available ring and the descriptors the way a device does and writes the
 * used ring back.  Also the feature choice of the transport (virtio_features_pick).
 */
#include "ktest.h"
#include "drivers/virtio/virtio_internal.h"
#include "string.h"

/* ---- the fake device ---- */
struct fake { uint16_t seen; };         /* next avail entry the device takes */

/* Takes the next available request: its head and its buffers (indirect tables followed). */
static bool fake_take(struct virtq *q, struct fake *f, uint16_t *head, struct vring_desc *out, uint32_t *n)
{
    if (READ_ONCE(q->avail->idx) == f->seen)
        return false;
    uint16_t h = q->avail->ring[f->seen & (q->num - 1)];
    f->seen++;
    *head = h;
    *n = 0;
    struct vring_desc *table = q->desc;
    uint16_t i = h;
    uint32_t limit = q->num;
    if (q->desc[h].flags & VRING_DESC_F_INDIRECT) {
        table = (struct vring_desc *)(uintptr_t)q->desc[h].addr;
        limit = q->desc[h].len / sizeof(struct vring_desc);
        i = 0;
    }
    for (uint32_t k = 0; k < limit; k++) {
        out[(*n)++] = table[i];
        if (!(table[i].flags & VRING_DESC_F_NEXT))
            break;
        i = table[i].next;
    }
    return true;
}

static void fake_complete(struct virtq *q, uint16_t head, uint32_t len)
{
    uint16_t u = q->used->idx;
    q->used->ring[u & (q->num - 1)].id = head;
    q->used->ring[u & (q->num - 1)].len = len;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->used->idx = (uint16_t)(u + 1);
}

static int cookie_a, cookie_b, cookie_c, cookie_d;

KTEST(virtio_ring_chain_add_and_complete)
{
    struct virtq q;
    KT_EQ(vq_alloc(&q, "t", 0, 8, 0), 0);
    struct vq_buf two[2] = { { 0x1000, 16, false }, { 0x2000, 512, true } };
    KT_ASSERT(vq_add(&q, two, 1, 1, &cookie_a));
    KT_ASSERT(vq_add(&q, two, 1, 1, &cookie_b));
    KT_ASSERT(vq_add(&q, two, 1, 1, &cookie_c));
    KT_EQ(q.num_free, 2);
    struct vq_buf three[3] = { { 0x3000, 16, false }, { 0x4000, 8, false }, { 0x5000, 1, true } };
    KT_ASSERT(!vq_add(&q, three, 2, 1, &cookie_d));     /* 3 descriptors, 2 free */
    KT_EQ(q.st.full, 1);
    KT_EQ(q.avail->idx, 3);

    struct fake f = { 0 };
    uint16_t heads[3];
    struct vring_desc d[8];
    uint32_t n;
    for (int k = 0; k < 3; k++) {
        KT_ASSERT(fake_take(&q, &f, &heads[k], d, &n));
        KT_EQ(n, 2);
        KT_EQ(d[0].addr, 0x1000);
        KT_EQ(d[0].len, 16);
        KT_EQ(d[0].flags, VRING_DESC_F_NEXT);
        KT_EQ(d[1].addr, 0x2000);
        KT_EQ(d[1].flags, VRING_DESC_F_WRITE);
    }
    KT_ASSERT(!fake_take(&q, &f, &heads[0], d, &n));
    KT_EQ(vq_get_used(&q, NULL), (uintptr_t)NULL);     /* nothing completed yet */
    /* out of order completion: the device may finish any request first */
    fake_complete(&q, heads[1], 512);
    fake_complete(&q, heads[0], 100);
    uint32_t len = 0;
    KT_EQ((uintptr_t)vq_get_used(&q, &len), (uintptr_t)&cookie_b);
    KT_EQ(len, 512);
    KT_EQ((uintptr_t)vq_get_used(&q, &len), (uintptr_t)&cookie_a);
    KT_EQ(len, 100);
    KT_EQ(q.num_free, 6);
    KT_ASSERT(vq_add(&q, three, 2, 1, &cookie_d));      /* the freed chains are reusable */
    KT_EQ(q.num_free, 3);
    vq_free(&q);
}

KTEST(virtio_ring_bad_used_entries_ignored)
{
    struct virtq q;
    KT_EQ(vq_alloc(&q, "t", 0, 8, 0), 0);
    struct vq_buf one = { 0x1000, 64, true };
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    struct fake f = { 0 };
    uint16_t h;
    struct vring_desc d[2];
    uint32_t n;
    KT_ASSERT(fake_take(&q, &f, &h, d, &n));
    fake_complete(&q, 200, 1);                  /* an id past the ring */
    fake_complete(&q, (uint16_t)(h + 1), 1);    /* a descriptor nobody added */
    fake_complete(&q, h, 64);
    fake_complete(&q, h, 64);                   /* the same request twice */
    KT_EQ((uintptr_t)vq_get_used(&q, NULL), (uintptr_t)&cookie_a);
    KT_EQ((uintptr_t)vq_get_used(&q, NULL), (uintptr_t)NULL);
    KT_EQ(q.st.bad_used, 3);
    KT_EQ(q.num_free, 8);                       /* freed once, not twice */
    vq_free(&q);
}

KTEST(virtio_ring_indirect_uses_one_descriptor)
{
    struct virtq q;
    KT_EQ(vq_alloc(&q, "t", 0, 8, 4), 0);
    q.indirect = true;
    struct vq_buf three[3] = { { 0x3000, 16, false }, { 0x4000, 4096, true }, { 0x5000, 1, true } };
    for (int k = 0; k < 8; k++)
        KT_ASSERT(vq_add(&q, three, 1, 2, &cookie_a));   /* 8 requests of 3 in an 8-entry ring */
    KT_EQ(q.num_free, 0);
    KT_EQ(q.st.indirect, 8);
    struct vq_buf five[5] = { 0 };
    for (int k = 0; k < 5; k++)
        five[k] = (struct vq_buf){ 0x1000u * (k + 1), 8, false };
    KT_ASSERT(!vq_add(&q, five, 5, 0, &cookie_b));       /* more than the table holds, and no room */
    struct fake f = { 0 };
    uint16_t h;
    struct vring_desc d[8];
    uint32_t n;
    KT_ASSERT(fake_take(&q, &f, &h, d, &n));
    KT_EQ(q.desc[h].flags, VRING_DESC_F_INDIRECT);
    KT_EQ(q.desc[h].len, 3 * sizeof(struct vring_desc));
    KT_EQ(n, 3);
    KT_EQ(d[0].flags, VRING_DESC_F_NEXT);
    KT_EQ(d[1].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
    KT_EQ(d[1].len, 4096);
    KT_EQ(d[2].flags, VRING_DESC_F_WRITE);
    fake_complete(&q, h, 4097);
    KT_EQ((uintptr_t)vq_get_used(&q, NULL), (uintptr_t)&cookie_a);
    KT_EQ(q.num_free, 1);
    vq_free(&q);
}

/* 70000 requests through an 8-entry ring: the 16-bit indices wrap and nothing leaks. */
KTEST(virtio_ring_index_wrap)
{
    struct virtq q;
    KT_EQ(vq_alloc(&q, "t", 0, 8, 0), 0);
    struct fake f = { 0 };
    struct vq_buf two[2] = { { 0x1000, 16, false }, { 0x2000, 16, true } };
    for (uint32_t i = 0; i < 70000; i++) {
        KT_ASSERT(vq_add(&q, two, 1, 1, &cookie_a));
        KT_ASSERT(vq_add(&q, two, 1, 1, &cookie_b));
        uint16_t h1, h2;
        struct vring_desc d[2];
        uint32_t n;
        KT_ASSERT(fake_take(&q, &f, &h1, d, &n));
        KT_ASSERT(fake_take(&q, &f, &h2, d, &n));
        fake_complete(&q, h2, 1);
        fake_complete(&q, h1, 1);
        KT_EQ((uintptr_t)vq_get_used(&q, NULL), (uintptr_t)&cookie_b);
        KT_EQ((uintptr_t)vq_get_used(&q, NULL), (uintptr_t)&cookie_a);
    }
    KT_EQ(q.num_free, 8);
    KT_EQ(q.avail->idx, (uint16_t)140000);
    KT_EQ(q.last_used, (uint16_t)140000);
    vq_free(&q);
}

/* EVENT_IDX: the device is notified only when avail->idx passes its avail_event. */
KTEST(virtio_ring_event_idx_suppresses_notifications)
{
    struct virtq q;
    KT_EQ(vq_alloc(&q, "t", 0, 16, 0), 0);
    q.event_idx = true;
    volatile uint16_t bell = 0xFFFF;
    q.notify = &bell;
    q.index = 3;
    struct vq_buf one = { 0x1000, 64, true };
    vq_avail_event(&q) = 0;             /* "tell me when entry 0 is available" */
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    vq_kick(&q);
    KT_EQ(bell, 3);
    KT_EQ(q.st.kicks, 1);
    bell = 0xFFFF;
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    vq_kick(&q);                        /* the device has not caught up: no doorbell */
    KT_EQ(bell, 0xFFFF);
    KT_EQ(q.st.kicks_suppressed, 1);
    vq_kick(&q);                        /* nothing new: not even a decision */
    KT_EQ(q.st.kicks_suppressed, 1);
    vq_avail_event(&q) = 3;             /* the device wants to hear of entry 3 */
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    vq_kick(&q);
    KT_EQ(bell, 3);
    KT_EQ(q.st.kicks, 2);
    /* interrupts: used_event follows what the driver has seen */
    struct fake f = { 0 };
    uint16_t h;
    struct vring_desc d[2];
    uint32_t n;
    KT_ASSERT(fake_take(&q, &f, &h, d, &n));
    fake_complete(&q, h, 1);
    KT_ASSERT(vq_enable_intr(&q));      /* a completion is already waiting */
    KT_EQ(vq_used_event(&q), 0);
    KT_ASSERT(vq_get_used(&q, NULL) != NULL);
    KT_ASSERT(!vq_enable_intr(&q));
    KT_EQ(vq_used_event(&q), 1);
    vq_disable_intr(&q);                /* no interrupt until the index wraps round */
    KT_EQ(vq_used_event(&q), 0);
    KT_ASSERT(!vring_need_event(vq_used_event(&q), 2, 1));
    vq_free(&q);
}

/* Without EVENT_IDX the device's NO_NOTIFY flag decides, and the driver's NO_INTERRUPT. */
KTEST(virtio_ring_flags_suppress_without_event_idx)
{
    struct virtq q;
    KT_EQ(vq_alloc(&q, "t", 0, 8, 0), 0);
    volatile uint16_t bell = 0xFFFF;
    q.notify = &bell;
    struct vq_buf one = { 0x1000, 64, true };
    q.used->flags = VRING_USED_F_NO_NOTIFY;
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    vq_kick(&q);
    KT_EQ(bell, 0xFFFF);
    q.used->flags = 0;
    KT_ASSERT(vq_add(&q, &one, 0, 1, &cookie_a));
    vq_kick(&q);
    KT_EQ(bell, 0);
    vq_disable_intr(&q);
    KT_EQ(q.avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
    KT_ASSERT(!vq_enable_intr(&q));
    KT_EQ(q.avail->flags, 0);
    vq_free(&q);
}

KTEST(virtio_ring_refuses_bad_sizes)
{
    struct virtq q;
    KT_NE(vq_alloc(&q, "t", 0, 12, 0), 0);          /* not a power of two */
    KT_NE(vq_alloc(&q, "t", 0, 0, 0), 0);
    KT_NE(vq_alloc(&q, "t", 0, 2048, 0), 0);        /* past VQ_MAX_SIZE */
}

KTEST(virtio_features_negotiation_choice)
{
    int missing;
    uint64_t v1 = 1ULL << VIRTIO_F_VERSION_1, ind = 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
    uint64_t ev = 1ULL << VIRTIO_RING_F_EVENT_IDX, mac = 1ULL << 5, gso = 1ULL << 11;
    /* what was offered and wanted; an offered feature nobody wants stays off */
    KT_EQ(virtio_features_pick(v1 | ind | ev | gso | mac, ind | ev | mac, mac, &missing), v1 | ind | ev | mac);
    KT_EQ(missing, -1);
    /* a wanted feature the device lacks is simply not used */
    KT_EQ(virtio_features_pick(v1 | mac, ind | ev | mac, 0, &missing), v1 | mac);
    KT_EQ(missing, -1);
    /* a legacy-only device (no VERSION_1) is refused, naming the bit */
    virtio_features_pick(ind | mac, ind, 0, &missing);
    KT_EQ(missing, VIRTIO_F_VERSION_1);
    /* a required feature that is missing */
    virtio_features_pick(v1 | ind, ind, mac, &missing);
    KT_EQ(missing, 5);
}
