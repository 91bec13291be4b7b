/*
 * The virtio drivers on QEMU's devices.  scripts/kernel-tests.sh attaches, besides the
 * e1000 and the AHCI disk the other tests use: a blank virtio-blk scratch disk behind a
 * pcie-root-port (modern-only), a read-only virtio-blk disk on pcie.0 (transitional) whose
 * first bytes are "WTD-RO-DISK", an 8 MiB virtio-blk disk whose sector 64 QEMU fails with EIO
 * (blkdebug), two virtio-blk devices the driver must skip (a 4-entry
 * queue, a legacy-only device), and a virtio-net device on pcie.0 on an isolated user
 * network.  A boot without them says so and the tests fail: the suite expects them.
 */
#include "ktest.h"
#include "drivers/virtio/virtio_internal.h"
#include "drivers/virtio/virtio_blkdev.h"
#include "drivers/virtio/virtio_netdev.h"
#include "drivers/e1000/e1000.h"
#include "pci.h"
#include "irq.h"
#include "mm.h"
#include "sched.h"
#include "string.h"
#include "printf.h"

/* The 16 MiB writable or read-only disk (the 8 MiB one is for device errors). */
static struct vblk_disk *find_disk(bool read_only)
{
    for (int i = 0; vblk_disk(i); i++)
        if (vblk_info(vblk_disk(i))->read_only == read_only && vblk_info(vblk_disk(i))->sectors == 16u << 11)
            return vblk_disk(i);
    kprintf("  no %s virtio-blk disk (scripts/kernel-tests.sh attaches one)\n", read_only ? "read-only" : "writable");
    return NULL;
}

static struct virtio_dev *vdev_of(const char *kind, bool modern_only)
{
    for (int i = 0; i < virtio_count(); i++) {
        struct virtio_dev *d = virtio_get(i);
        if (strncmp(d->name, kind, strlen(kind)) == 0 && d->transitional == !modern_only)
            return d;
    }
    return NULL;
}

/* Three usable disks; the 4-entry queue and the legacy-only device are skipped, not used. */
KTEST(virtio_blk_probe_skips_unusable)
{
    KT_ASSERT(vblk_disk(2) != NULL);
    KT_ASSERT(vblk_disk(3) == NULL);
    int seen = 0;
    for (int i = 0; i < pci_count(); i++) {
        struct pci_dev *p = pci_get(i);
        seen += p->vendor == VIRTIO_VENDOR && (p->device == 0x1001 || p->device == 0x1042);
    }
    KT_EQ(seen, 5);
}

KTEST(virtio_blk_features_and_placements)
{
    struct virtio_dev *m = vdev_of("virtio-blk", true), *t = vdev_of("virtio-blk", false);
    KT_ASSERT(m != NULL);               /* behind the root port */
    KT_ASSERT(t != NULL);               /* on pcie.0 */
    for (int k = 0; k < 2; k++) {
        struct virtio_dev *d = k ? t : m;
        KT_ASSERT(virtio_has(d, VIRTIO_F_VERSION_1));
        KT_ASSERT(virtio_has(d, VIRTIO_RING_F_INDIRECT_DESC));
        KT_ASSERT(virtio_has(d, VIRTIO_RING_F_EVENT_IDX));
        KT_ASSERT(d->msix);
        KT_ASSERT(d->queues[0] != NULL);
        KT_GE(d->queues[0]->msix_vector, VEC_DYN_BASE);
        KT_NE(d->queues[0]->msix_vector, d->config_vector);
        KT_EQ(d->common->device_status & 0x0F, 0x0F);   /* ACK, DRIVER, FEATURES_OK, DRIVER_OK */
    }
    struct vblk_info in = *vblk_info(find_disk(false));
    KT_ASSERT(in.flush);                /* QEMU offers FLUSH: negotiated, so the cache is write-back */
    KT_GE(in.queue_size, 64);
    KT_GE(in.seg_max, 8);
    KT_GE(in.max_in_flight, 16);
    KT_EQ(in.sectors, 16u << 11);       /* 16 MiB */
}

/* A stack buffer (outside the identity map, across a page) written and read back. */
KTEST(virtio_blk_write_read_stack_buffer)
{
    KT_SETTLE_ON_RETURN(NULL);
    struct vblk_disk *d = find_disk(false);
    KT_ASSERT(d != NULL);
    uint8_t stackbuf[4096 + 1024];
    uint8_t *s = stackbuf + 512 - ((uintptr_t)stackbuf & 511);    /* sector aligned, crosses a page */
    for (int i = 0; i < 4096; i++)
        s[i] = (uint8_t)(i * 7 + 3);
    struct vblk_stats before, after;
    vblk_read_stats(d, &before);
    KT_EQ(vblk_write(d, 100, 8, s), 0);
    KT_EQ(vblk_flush(d), 0);
    uint8_t *h = kmalloc(4096);
    KT_ASSERT(h != NULL);
    memset(h, 0, 4096);
    int r = vblk_read(d, 100, 8, h);
    int same = memcmp(h, s, 4096) == 0;
    kfree(h);
    KT_EQ(r, 0);
    KT_ASSERT(same);
    vblk_read_stats(d, &after);
    KT_EQ(after.flushes, before.flushes + 1);
    KT_EQ(after.sectors_written, before.sectors_written + 8);
    KT_EQ(after.sectors_read, before.sectors_read + 8);
}

/* 6 MiB at once: more than one request carries (4 MiB), so it is split, and comes back. */
KTEST(virtio_blk_large_transfer)
{
    KT_SETTLE_ON_RETURN(NULL);
    struct vblk_disk *d = find_disk(false);
    KT_ASSERT(d != NULL);
    struct virtio_dev *m = vdev_of("virtio-blk", true);
    KT_ASSERT(m != NULL);
    uint64_t added = m->queues[0]->st.added;
    uint32_t bytes = 6u << 20;
    uint8_t *w = kmalloc(bytes), *r = kmalloc(bytes);
    KT_ASSERT(w && r);
    for (uint32_t i = 0; i < bytes; i += 4)
        *(uint32_t *)(w + i) = i ^ 0x5a5a1234u;
    struct vblk_stats before, after;
    vblk_read_stats(d, &before);
    int rw = vblk_write(d, 4096, bytes / 512, w);
    int rr = vblk_read(d, 4096, bytes / 512, r);
    int same = memcmp(w, r, bytes) == 0;
    kfree(w);
    kfree(r);
    KT_EQ(rw, 0);
    KT_EQ(rr, 0);
    KT_ASSERT(same);
    vblk_read_stats(d, &after);
    KT_EQ(after.sectors_written - before.sectors_written, bytes / 512);
    KT_GE(m->queues[0]->st.added - added, 4);     /* at least two requests each way */
}

KTEST(virtio_blk_bad_arguments)
{
    struct vblk_disk *d = find_disk(false);
    KT_ASSERT(d != NULL);
    struct vblk_info in = *vblk_info(d);
    uint8_t buf[512];
    KT_EQ(vblk_read(d, in.sectors, 1, buf), -VBLK_EINVAL);
    KT_EQ(vblk_read(d, in.sectors - 1, 2, buf), -VBLK_EINVAL);
    KT_EQ(vblk_read(d, ~0ULL, 2, buf), -VBLK_EINVAL);
    KT_EQ(vblk_read(d, 0, 1, NULL), -VBLK_EINVAL);
    KT_EQ(vblk_read(d, 0, 0, buf), 0);
}

KTEST(virtio_blk_read_only_device)
{
    struct vblk_disk *d = find_disk(true);
    KT_ASSERT(d != NULL);
    uint8_t buf[512];
    memset(buf, 0, sizeof buf);
    KT_EQ(vblk_read(d, 0, 1, buf), 0);
    KT_EQ(memcmp(buf, "WTD-RO-DISK", 11), 0);
    KT_EQ(vblk_write(d, 0, 1, buf), -VBLK_EROFS);
}

/* The device reports an I/O error (VIRTIO_BLK_S_IOERR): EIO, counted; the disk goes on. */
KTEST(virtio_blk_device_error_is_eio)
{
    KT_SETTLE_ON_RETURN(NULL);
    struct vblk_disk *d = NULL;
    for (int i = 0; vblk_disk(i); i++)
        if (vblk_info(vblk_disk(i))->sectors == 8u << 11)
            d = vblk_disk(i);
    KT_ASSERT(d != NULL);
    struct vblk_stats before, after;
    vblk_read_stats(d, &before);
    uint8_t buf[4096];
    KT_EQ(vblk_read(d, 64, 1, buf), -VBLK_EIO);
    KT_EQ(vblk_read(d, 60, 8, buf), -VBLK_EIO);        /* a transfer that covers it */
    KT_EQ(vblk_read(d, 0, 8, buf), 0);                 /* the rest of the disk still reads */
    KT_EQ(vblk_read(d, 72, 8, buf), 0);
    vblk_read_stats(d, &after);
    KT_EQ(after.errors, before.errors + 2);
    KT_EQ(after.resets, before.resets);                /* an answered error needs no reset */
    KT_EQ(after.in_flight, 0);
}

#define WORKERS 16
#define ROUNDS 16
static struct vblk_disk *many_disk;
static volatile int many_errors;

static void many_worker(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    uint8_t *b = kmalloc(2048);
    if (!b) {
        many_errors++;
        return;
    }
    for (int k = 0; k < ROUNDS; k++) {
        uint64_t lba = 8192 + id * 64 + (uint64_t)k * 4;
        for (int i = 0; i < 2048; i++)
            b[i] = (uint8_t)(id * 31 + k + i);
        if (vblk_write(many_disk, lba, 4, b) != 0)
            many_errors++;
        memset(b, 0, 2048);
        if (vblk_read(many_disk, lba, 4, b) != 0)
            many_errors++;
        for (int i = 0; i < 2048; i++)
            if (b[i] != (uint8_t)(id * 31 + k + i)) {
                many_errors++;
                break;
            }
    }
    kfree(b);
}

/* Sixteen threads at once: requests overlap in the queue and every one comes back right. */
KTEST_TIMEOUT(virtio_blk_many_in_flight, 60000)
{
    KT_SETTLE_ON_RETURN(NULL);
    many_disk = find_disk(false);
    KT_ASSERT(many_disk != NULL);
    many_errors = 0;
    struct thread *t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        t[i] = thread_create("vblk-test", many_worker, (void *)(uintptr_t)i);
        KT_ASSERT(t[i] != NULL);
    }
    for (int i = 0; i < WORKERS; i++)
        thread_join(t[i]);
    KT_EQ(many_errors, 0);
    struct vblk_stats st;
    vblk_read_stats(many_disk, &st);
    KT_GE(st.peak_in_flight, 2);
    KT_EQ(st.in_flight, 0);
}

/* One read of sector 100 with a 300 ms timeout under a fault: a lost interrupt (drop) or a
 * device that never answers (stall); the counters from before are in *before. */
static int read_under_fault(struct vblk_disk *d, bool drop, bool stall, struct vblk_stats *before, uint8_t *buf)
{
    vblk_read_stats(d, before);
    vblk_timeout_ms_for_tests = 300;
    vblk_test_drop_irqs = drop;
    vblk_test_stall = stall;
    int r = vblk_read(d, 100, 1, buf);
    vblk_test_stall = false;
    vblk_test_drop_irqs = 0;
    vblk_timeout_ms_for_tests = 0;
    return r;
}

/* A lost interrupt: the request still completes, found when its timeout looks. */
KTEST(virtio_blk_lost_interrupt_recovered)
{
    KT_SETTLE_ON_RETURN(NULL);
    struct vblk_disk *d = find_disk(false);
    KT_ASSERT(d != NULL);
    struct vblk_stats before, after;
    uint8_t buf[512];
    KT_EQ(read_under_fault(d, true, false, &before, buf), 0);
    vblk_read_stats(d, &after);
    KT_EQ(after.timeouts, before.timeouts + 1);
    KT_EQ(after.resets, before.resets);          /* the completion was there: no reset */
}

/* A device that never answers: -ETIMEDOUT, the device is reset, and then works again. */
KTEST(virtio_blk_stalled_device_reset)
{
    KT_SETTLE_ON_RETURN(NULL);
    struct vblk_disk *d = find_disk(false);
    KT_ASSERT(d != NULL);
    struct vblk_stats before, after;
    uint8_t buf[512], again[512];
    KT_EQ(read_under_fault(d, false, true, &before, buf), -VBLK_ETIMEDOUT);
    vblk_read_stats(d, &after);
    KT_EQ(after.resets, before.resets + 1);
    KT_EQ(vblk_read(d, 100, 1, again), 0);       /* the re-initialised device serves */
    uint8_t pattern[512];
    for (int i = 0; i < 512; i++)
        pattern[i] = (uint8_t)(i * 7 + 3);       /* written by virtio_blk_write_read_stack_buffer */
    KT_EQ(memcmp(again, pattern, 512), 0);
}

/* ---- virtio-net: an ARP request out, QEMU's gateway's reply back by interrupt ---- */
static volatile int arp_replies, tx_done_count, work_runs;
static uint8_t my_mac[6];

static void count_done(void *cookie, void *arg) { tx_done_count++; }

static bool take_frame(void *arg, const struct vnet_piece *p, uint32_t n, uint32_t len, bool csum_ok)
{
    const uint8_t *f = p[0].data;
    if (p[0].len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 && memcmp(f + 32, my_mac, 6) == 0)
        arp_replies++;
    return true;
}

static void test_work(struct vnet_dev *d, void *arg)
{
    work_runs++;
    vnet_tx_reclaim(d, count_done, NULL);
    vnet_rx_poll(d, 64, take_frame, NULL);
    if (vnet_irq_rearm(d))
        vnet_reschedule(d);
}

KTEST_TIMEOUT(virtio_net_arp_round_trip, 30000)
{
    KT_SETTLE_ON_RETURN(NULL);
    struct vnet_dev *d = vnet_get();
    KT_ASSERT(d != NULL);
    if (!e1000_get()) {
        kprintf("  net/ drives this virtio-net device (no e1000): not touched by the test\n");
        KT_ASSERT(e1000_get() != NULL);
    }
    struct virtio_dev *vd = vdev_of("virtio-net", false);
    KT_ASSERT(vd != NULL);              /* on pcie.0: transitional */
    KT_ASSERT(virtio_has(vd, VIRTIO_F_VERSION_1));
    KT_ASSERT(vd->msix);
    KT_NE(vd->queues[0]->msix_vector, vd->queues[1]->msix_vector);   /* a vector per queue */
    KT_ASSERT(vnet_link_up(d));
    vnet_mac(d, my_mac);
    KT_EQ(my_mac[5], 0x57);             /* the MAC kernel-tests.sh gave it */
    uint8_t *f = (uint8_t *)(uintptr_t)pmm_alloc_page();
    KT_ASSERT(f != NULL);
    memset(f, 0, 64);
    memset(f, 0xFF, 6);
    memcpy(f + 6, my_mac, 6);
    f[12] = 0x08;
    f[13] = 0x06;
    f[14] = 0;
    f[15] = 1;
    f[16] = 0x08;
    f[17] = 0;
    f[18] = 6;
    f[19] = 4;
    f[20] = 0;
    f[21] = 1;
    memcpy(f + 22, my_mac, 6);
    f[28] = 10;
    f[29] = 0;
    f[30] = 2;
    f[31] = 15; /* sender 10.0.2.15 */
    f[38] = 10;
    f[39] = 0;
    f[40] = 2;
    f[41] = 2; /* who has 10.0.2.2? */
    arp_replies = 0;
    tx_done_count = 0;
    uint64_t irqs_before = vd->queues[0]->st.irqs;
    work_runs = 0;
    KT_EQ(vnet_start(d, test_work, NULL), 0);
    for (int i = 0; i < 100 && !work_runs; i++)     /* vnet_start's own first run */
        thread_sleep_ms(10);
    KT_EQ(work_runs, 1);
    /* QEMU answers the ARP during the doorbell's exit: only the receive interrupt can make
     * the WTD run again and see the reply */
    struct vnet_seg seg = { (uintptr_t)f, 60 };
    for (int attempt = 0; attempt < 5 && !arp_replies; attempt++) {
        KT_ASSERT(vnet_tx_queue(d, &seg, 1, f, NULL));
        vnet_tx_kick(d);
        for (int i = 0; i < 100 && !arp_replies; i++)
            thread_sleep_ms(10);
    }
    vnet_stop(d);                       /* quiet again for the tests after this one */
    KT_GE(arp_replies, 1);
    KT_GE(work_runs, 2);
    KT_GE(vd->queues[0]->st.irqs, irqs_before + 1);     /* the reply came by interrupt */
    struct vnet_stats st;
    vnet_get_stats(d, &st);
    KT_GE(st.rx_frames, 1);
    KT_GE(st.tx_frames, 1);
    KT_GE(st.rx_refill_batches, 1);
}
