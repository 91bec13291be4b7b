/*
 * virtio-blk over the virtio PCI transport: one request queue, as large as the device
 * offers (up to VQ_MAX_SIZE); each request is header + data segments + status byte, in
 * one indirect table when the device has INDIRECT_DESC.  Requests in flight are slots
 * (virtio_blk.inflight, at most 64), each with its header, status and wait queue in
 * identity-mapped memory.
 *
 * Locking (one CPU): the queue, the slots and `recovering` change with interrupts off.
 * The hard handler only queues the completion WTD; the WTD takes finished requests off
 * the used ring and wakes their requesters.  A request that does not finish in
 * virtio_blk.timeout_ms resets the device (recover): finished ones are collected first,
 * the timed-out one fails with -ETIMEDOUT and the others are issued again.
 */
#include "virtio_internal.h"
#include "virtio_blkdev.h"
/* VIRTIO_BLK_F_FLUSH (bit 9) is a virtio 1.0 device feature (spec 5.2.3), but Linux's uapi
 * header keeps it inside its legacy block: only this file lets that block in. */
#undef VIRTIO_BLK_NO_LEGACY
#include <linux/virtio_blk.h>
_Static_assert(VIRTIO_BLK_F_FLUSH == 9, "virtio 1.0: VIRTIO_BLK_F_FLUSH is feature bit 9");
#include "pci.h"
#include "irq.h"
#include "mm.h"
#include "io.h"
#include "sched.h"
#include "time.h"
#include "kopt.h"
#include "init.h"
#include "panic.h"
#include "printf.h"
#include "string.h"

static uint64_t opt_timeout_ms = 10000, opt_inflight = 64, opt_queue = 256;
KOPT_U64("virtio_blk.timeout_ms", opt_timeout_ms, 10, 600000, "virtio-blk request timeout before the device is reset");
KOPT_U64("virtio_blk.inflight", opt_inflight, 1, 64, "virtio-blk requests in flight at most");
KOPT_U64("virtio_blk.queue", opt_queue, 8, VQ_MAX_SIZE, "virtio-blk queue entries at most (the device's size if smaller)");
uint64_t vblk_timeout_ms_for_tests;     /* tests: nonzero overrides the timeout */
volatile uint32_t vblk_test_drop_irqs;  /* tests: the handler ignores this many interrupts */
volatile bool vblk_test_stall;          /* tests: completions are not looked at */

#define VBLK_MAX_SEGS 64        /* data segments per request we build (docs/security.md) */
#define MAX_RETRIES 3
#define MAX_DISKS 4

enum req_state { REQ_FREE, REQ_BUILDING, REQ_ISSUED, REQ_REISSUE, REQ_DONE };

struct vblk_req {                       /* in DMA memory: the device reads hdr, writes status */
    struct virtio_blk_outhdr hdr;
    volatile uint8_t status;
    uint8_t pad[7];
    volatile enum req_state state;
    volatile int result;
    uint32_t nbuf, n_out, n_in, retries;
    struct vq_buf buf[VBLK_MAX_SEGS + 2];
    struct waitq wq;
};

struct vblk_disk {
    struct virtio_dev vdev;
    struct virtq q;
    struct vblk_info info;
    struct vblk_req *reqs;              /* max_in_flight of them */
    uint64_t busy;                      /* irqs off: slots owned by a requester */
    bool recovering;                    /* irqs off: issue is held off during a reset */
    struct waitq slot_wq;
    struct mutex recover_lock;
    struct wtd done_wtd;
    uint32_t size_max;                  /* largest segment, bytes */
    uint64_t cap512;                    /* capacity in 512-byte sectors */
    struct vblk_stats st;               /* irqs off */
};

static struct vblk_disk *disks[MAX_DISKS];
static int ndisks;

struct vblk_disk *vblk_disk(int i) { return i >= 0 && i < ndisks ? disks[i] : NULL; }
const struct vblk_info *vblk_info(struct vblk_disk *d) { return &d->info; }
void vblk_read_stats(struct vblk_disk *d, struct vblk_stats *out)
{
    uint64_t f = irq_save();
    *out = d->st;
    irq_restore(f);
}

static uint64_t timeout_ns(void)
{
    return (vblk_timeout_ms_for_tests ? vblk_timeout_ms_for_tests : opt_timeout_ms) * 1000000ULL;
}

/* irqs off: every finished request gets its result and its requester is woken. */
static void collect(struct vblk_disk *d)
{
    ASSERT_IRQS_OFF();
    if (unlikely(vblk_test_stall))
        return;
    do {
        struct vblk_req *r;
        uint32_t len;
        while ((r = vq_get_used(&d->q, &len))) {
            if (r->state != REQ_ISSUED)
                continue;
            uint8_t s = r->status;
            r->result = s == VIRTIO_BLK_S_OK ? 0 : s == VIRTIO_BLK_S_UNSUPP ? -VBLK_EINVAL : -VBLK_EIO;
            if (s != VIRTIO_BLK_S_OK)
                d->st.errors++;
            if (d->st.in_flight)
                d->st.in_flight--;
            r->state = REQ_DONE;
            waitq_wake_all(&r->wq);
        }
    } while (vq_enable_intr(&d->q));
}

static uint32_t done_wtd(struct wtd *w)
{
    struct vblk_disk *d = w->context;
    uint64_t f = irq_save();
    if (!d->recovering)
        collect(d);
    irq_restore(f);
    return 0;
}

static void on_queue_irq(struct virtio_dev *vd, int queue)
{
    struct vblk_disk *d = vd->drv;
    if (unlikely(vblk_test_drop_irqs)) {
        vblk_test_drop_irqs--;
        return;
    }
    wtd_schedule(&d->done_wtd);
}

static uint64_t slot_mask(struct vblk_disk *d)
{
    return d->info.max_in_flight == 64 ? ~0ULL : (1ULL << d->info.max_in_flight) - 1;
}

/* A request slot of our own (sleeps while all are taken). */
static struct vblk_req *req_get(struct vblk_disk *d)
{
    uint64_t f = irq_save(), free;
    while (!(free = ~d->busy & slot_mask(d))) {
        d->st.slot_waits++;
        waitq_wait(&d->slot_wq);
    }
    struct vblk_req *r = &d->reqs[__builtin_ctzll(free)];
    d->busy |= 1ULL << (r - d->reqs);
    r->state = REQ_BUILDING;
    irq_restore(f);
    return r;
}

static void req_put(struct vblk_disk *d, struct vblk_req *r)
{
    uint64_t f = irq_save();
    r->state = REQ_FREE;
    d->busy &= ~(1ULL << (r - d->reqs));
    irq_restore(f);
    waitq_wake_one(&d->slot_wq);        /* a requester waiting for a slot */
}

/* irqs off.  Puts r on the ring and rings the doorbell (when the device wants it). */
static void submit(struct vblk_disk *d, struct vblk_req *r)
{
    r->status = 0xFF;
    r->state = REQ_ISSUED;
    if (!vq_add(&d->q, r->buf, r->n_out, r->n_in, r))
        panic("virtio-blk: no room for a request although a slot was free");
    if (++d->st.in_flight > d->st.peak_in_flight)
        d->st.peak_in_flight = d->st.in_flight;
    vq_kick(&d->q);
}

static void mark_reissue(void *cookie, void *arg)
{
    struct vblk_req *r = cookie, *timed = arg;
    if (r->state != REQ_ISSUED)
        return;
    if (r == timed) {
        r->result = -VBLK_ETIMEDOUT;
        r->state = REQ_DONE;
    } else {
        r->state = REQ_REISSUE;
    }
    waitq_wake_all(&r->wq);
}

/* A request timed out: take what finished, reset the device, fail the late one, and let
 * the others issue themselves again. */
static void recover(struct vblk_disk *d, struct vblk_req *timed)
{
    mutex_lock(&d->recover_lock);
    uint64_t f = irq_save();
    collect(d);
    if (timed->state == REQ_ISSUED) {
        d->recovering = true;
        d->st.resets++;
        d->st.in_flight = 0;
        irq_restore(f);
        virtio_reset(&d->vdev);             /* the device lets go of every buffer */
        f = irq_save();
        vq_drain_pending(&d->q, mark_reissue, timed);
        int r = virtio_reinit(&d->vdev);
        if (r < 0)
            kprintf("%s: re-initialisation after a timeout failed (%d)\n", d->info.name, r);
        d->recovering = false;
        waitq_wake_all(&d->slot_wq);
    }
    irq_restore(f);
    mutex_unlock(&d->recover_lock);
}

/* Runs one prepared request to its end. */
static int exec(struct vblk_disk *d, struct vblk_req *r)
{
    uint64_t f = irq_save();
    while (d->recovering)
        waitq_wait(&d->slot_wq);
    r->retries = 0;
    submit(d, r);
    uint64_t deadline = now_ns() + timeout_ns();
    for (;;) {
        if (r->state == REQ_DONE)
            break;
        if (r->state == REQ_REISSUE) {
            while (d->recovering)
                waitq_wait(&d->slot_wq);
            if (++r->retries > MAX_RETRIES) {
                r->result = -VBLK_EIO;
                break;
            }
            d->st.reissued++;
            submit(d, r);
            deadline = now_ns() + timeout_ns();
            continue;
        }
        uint64_t now = now_ns();
        if (now < deadline && waitq_wait_timeout(&r->wq, deadline - now))
            continue;
        if (r->state != REQ_ISSUED)
            continue;
        d->st.timeouts++;
        irq_restore(f);
        recover(d, r);
        f = irq_save();
        deadline = now_ns() + timeout_ns();
    }
    int res = r->result;
    irq_restore(f);
    return res;
}

/* Data segments for up to `bytes` of buf (physically adjacent pages merge, up to
 * size_max); returns the bytes covered, a whole number of sectors, or 0 if none fit. */
static uint32_t build_segs(struct vblk_disk *d, struct vblk_req *r, uintptr_t va, uint32_t bytes, bool dev_writes)
{
    uint32_t nseg = 0, covered = 0, maxseg = d->info.seg_max;
    uint64_t next_pa = 0;
    while (bytes) {
        uint32_t chunk = (uint32_t)MIN((uint64_t)bytes, PAGE_SIZE - (va & (PAGE_SIZE - 1)));
        uint64_t pa = vmm_translate(va);
        if (!pa)
            return 0;
        struct vq_buf *last = nseg ? &r->buf[1 + nseg - 1] : NULL;
        if (last && pa == next_pa && last->len + chunk <= d->size_max) {
            last->len += chunk;
        } else {
            if (nseg == maxseg)
                break;
            r->buf[1 + nseg] = (struct vq_buf){ pa, chunk, dev_writes };
            nseg++;
        }
        next_pa = pa + chunk;
        va += chunk;
        bytes -= chunk;
        covered += chunk;
    }
    /* whole sectors only: trim the tail */
    uint32_t keep = covered - covered % 512;
    uint32_t cut = covered - keep;
    while (cut && nseg) {
        struct vq_buf *last = &r->buf[nseg];
        uint32_t c = MIN(cut, last->len);
        last->len -= c;
        cut -= c;
        if (!last->len)
            nseg--;
    }
    r->nbuf = nseg;
    return keep;
}

static int rw(struct vblk_disk *d, uint64_t lba, uint32_t count, void *buf, bool write)
{
    uint32_t ss = d->info.sector_size;
    if (count == 0)
        return 0;
    uint64_t first = lba * (ss / 512), sectors = (uint64_t)count * (ss / 512);
    if (!buf || first + sectors < first || first + sectors > d->cap512)
        return -VBLK_EINVAL;
    if (write && d->info.read_only)
        return -VBLK_EROFS;
    struct vblk_req *r = req_get(d);
    uintptr_t va = (uintptr_t)buf;
    uint64_t left = sectors * 512;
    int res = 0;
    while (left) {
        uint32_t want = (uint32_t)MIN(left, 4u << 20);
        uint32_t got = build_segs(d, r, va, want, !write);
        if (!got) {
            res = -VBLK_EINVAL;
            break;
        }
        r->hdr.type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        r->hdr.ioprio = 0;
        r->hdr.sector = first;
        r->buf[0] = (struct vq_buf){ (uintptr_t)&r->hdr, sizeof r->hdr, false };
        r->buf[1 + r->nbuf] = (struct vq_buf){ (uintptr_t)&r->status, 1, true };
        r->n_out = write ? 1 + r->nbuf : 1;
        r->n_in = write ? 1 : r->nbuf + 1;
        res = exec(d, r);
        if (res)
            break;
        uint64_t f = irq_save();
        if (write) {
            d->st.writes++;
            d->st.sectors_written += got / 512;
        } else {
            d->st.reads++;
            d->st.sectors_read += got / 512;
        }
        irq_restore(f);
        first += got / 512;
        va += got;
        left -= got;
    }
    req_put(d, r);
    return res;
}

int vblk_read(struct vblk_disk *d, uint64_t lba, uint32_t count, void *buf) { return rw(d, lba, count, buf, false); }
int vblk_write(struct vblk_disk *d, uint64_t lba, uint32_t count, const void *buf)
{
    return rw(d, lba, count, (void *)buf, true);
}

int vblk_flush(struct vblk_disk *d)
{
    if (!d->info.flush)
        return 0;           /* no write cache to flush: QEMU writes through without FLUSH */
    struct vblk_req *r = req_get(d);
    r->hdr.type = VIRTIO_BLK_T_FLUSH;
    r->hdr.ioprio = 0;
    r->hdr.sector = 0;
    r->buf[0] = (struct vq_buf){ (uintptr_t)&r->hdr, sizeof r->hdr, false };
    r->buf[1] = (struct vq_buf){ (uintptr_t)&r->status, 1, true };
    r->n_out = 1;
    r->n_in = 1;
    int res = exec(d, r);
    if (res == 0) {
        uint64_t f = irq_save();
        d->st.flushes++;
        irq_restore(f);
    }
    req_put(d, r);
    return res;
}

static int vblk_probe_one(struct pci_dev *p)
{
    struct vblk_disk *d = kzalloc(sizeof *d);
    if (!d)
        return -VBLK_ENOMEM;
    struct virtio_dev *vd = &d->vdev;
    int r = virtio_pci_init(vd, p, VIRTIO_ID_BLK_TYPE, "virtio-blk");
    if (r < 0)
        goto fail;
    uint64_t wanted = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_RO |
                      1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH |
                      1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << VIRTIO_RING_F_EVENT_IDX;
    if ((r = virtio_negotiate(vd, wanted, 0)) < 0)
        goto fail;
    d->cap512 = virtio_cfg64(vd, offsetof(struct virtio_blk_config, capacity));
    d->info.sector_size = 512;
    if (virtio_has(vd, VIRTIO_BLK_F_BLK_SIZE)) {
        uint32_t bs = virtio_cfg32(vd, offsetof(struct virtio_blk_config, blk_size));
        if (bs >= 512 && bs <= 4096 && !(bs & (bs - 1)))
            d->info.sector_size = bs;
    }
    d->info.sectors = d->cap512 / (d->info.sector_size / 512);
    uint32_t seg_max = virtio_has(vd, VIRTIO_BLK_F_SEG_MAX) ?
                       virtio_cfg32(vd, offsetof(struct virtio_blk_config, seg_max)) : 1;
    d->info.seg_max = MAX(1u, MIN(seg_max, (uint32_t)VBLK_MAX_SEGS));
    d->size_max = 4u << 20;
    if (virtio_has(vd, VIRTIO_BLK_F_SIZE_MAX)) {
        uint32_t sm = virtio_cfg32(vd, offsetof(struct virtio_blk_config, size_max));
        if (sm >= PAGE_SIZE)
            d->size_max = MIN(sm, d->size_max);
    }
    d->info.read_only = virtio_has(vd, VIRTIO_BLK_F_RO);
    d->info.flush = virtio_has(vd, VIRTIO_BLK_F_FLUSH);
    strlcpy(d->info.name, vd->name, sizeof d->info.name);
    if ((r = virtio_setup_queue(vd, &d->q, "requestq", 0, (uint16_t)opt_queue, (uint16_t)(d->info.seg_max + 2))) < 0)
        goto fail;
    d->info.queue_size = d->q.num;
    /* without indirect tables a request takes seg_max + 2 ring entries */
    uint32_t per_req = d->q.indirect ? 1 : d->info.seg_max + 2;
    if (per_req > d->q.num) {
        d->info.seg_max = d->q.num - 2;
        per_req = d->q.num;
    }
    d->info.max_in_flight = (uint32_t)MIN(opt_inflight, (uint64_t)(d->q.num / per_req));
    d->reqs = (struct vblk_req *)(uintptr_t)pmm_alloc_pages(ALIGN_UP(sizeof(struct vblk_req) * 64, PAGE_SIZE) / PAGE_SIZE);
    if (!d->reqs) {
        r = -VBLK_ENOMEM;
        goto fail;
    }
    memset(d->reqs, 0, sizeof(struct vblk_req) * 64);
    for (int i = 0; i < 64; i++)
        waitq_init(&d->reqs[i].wq, "vblk-req");
    waitq_init(&d->slot_wq, "vblk-slot");
    mutex_init(&d->recover_lock, "vblk-recover");
    wtd_init(&d->done_wtd, done_wtd, d);
    vd->drv = d;
    vd->on_queue_irq = on_queue_irq;
    if ((r = virtio_setup_irqs(vd, IRQ_HOOKED_DISK)) < 0)
        goto fail;
    virtio_driver_ok(vd);
    vq_enable_intr(&d->q);
    disks[ndisks++] = d;
    kprintf("virtio-blk: %s %lu MiB%s, %u-byte sectors, queue %u (%s%s), %u segments, %u in flight, "
            "flush %s, %s%s\n", vd->name, d->cap512 >> 11, d->info.read_only ? " READ-ONLY" : "",
            d->info.sector_size, d->q.num, d->q.indirect ? "indirect" : "direct",
            d->q.event_idx ? ", event-idx" : "", d->info.seg_max, d->info.max_in_flight,
            d->info.flush ? "yes" : "no (the device writes through)", vd->msix ? "MSI-X" : "INTx",
            vd->transitional ? ", transitional" : ", modern-only");
    return 0;
fail:
    if (virtio_abandon(vd)) {
        if (d->reqs)
            pmm_free_pages((uint64_t)(uintptr_t)d->reqs, ALIGN_UP(sizeof(struct vblk_req) * 64, PAGE_SIZE) / PAGE_SIZE);
        kfree(d);
    }
    return r;
}

static int vblk_probe(void)
{
    for (int i = 0; i < pci_count() && ndisks < MAX_DISKS; i++) {
        struct pci_dev *p = pci_get(i);
        if (p->vendor != VIRTIO_VENDOR)
            continue;
        /* transitional 0x1001 or modern 0x1042 */
        if (p->device != 0x1001 && p->device != VIRTIO_PCI_MODERN_BASE + VIRTIO_ID_BLK_TYPE)
            continue;
        vblk_probe_one(p);
    }
    return 0;
}
INITCALL(INIT_DRIVER, vblk_probe);
