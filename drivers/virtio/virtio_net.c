/*
 * virtio-net over the virtio PCI transport: receive queue 0, transmit queue 1, no
 * control queue.  Every frame carries a struct virtio_net_hdr_v1 (12 bytes, virtio 1.0).
 *
 * Receive: 2 KiB device-writable buffers (two per page); with MRG_RXBUF a frame may
 * span several, and the header's num_buffers says how many.  Buffers taken off the used
 * ring go back in one batch at the end of a poll, with one notification.
 * Transmit: header + the caller's segments as one indirect descriptor (when offered) or
 * a chain; the header lives in a per-frame slot that also holds the caller's cookie.
 * Checksum offload (CSUM) sets NEEDS_CSUM with csum_start/csum_offset; GUEST_CSUM lets
 * the device mark received frames whose checksums need no check.
 *
 * The hard handlers count and queue the WTD; all queue work happens in the caller's
 * serialized context (net/'s core lock), so queues need no lock of their own.
 */
#include "virtio_internal.h"
#include "virtio_netdev.h"
#include <linux/virtio_net.h>
#include "pci.h"
#include "irq.h"
#include "mm.h"
#include "io.h"
#include "kopt.h"
#include "init.h"
#include "printf.h"
#include "string.h"

static uint64_t opt_rxq = 256, opt_txq = 256;
KOPT_U64("virtio_net.rxq", opt_rxq, 16, VQ_MAX_SIZE, "virtio-net receive queue entries at most");
KOPT_U64("virtio_net.txq", opt_txq, 16, VQ_MAX_SIZE, "virtio-net transmit queue entries at most");
static const char *opt_nocsum_value;
static bool opt_nocsum;
KOPT_FLAG("virtio_net.no_offload", opt_nocsum_value, opt_nocsum, "virtio-net: negotiate no checksum offloads");

#define RX_BUF_SIZE 2048u
#define TX_MAX_SEGS 32u         /* caller segments per frame (docs/security.md) */
#define ETH_MAX 1518u           /* with a VLAN tag */
#define ETH_MIN 14u
#define HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr_v1))

struct tx_slot {
    struct virtio_net_hdr_v1 hdr;       /* the device reads it: identity-mapped memory */
    void *cookie;
    struct tx_slot *next_free;
};

struct vnet_dev {
    struct virtio_dev vdev;
    struct virtq rxq, txq;
    uint8_t mac[6];
    bool link_up;
    volatile bool config_changed;       /* set by the config interrupt, taken by link_check */
    uint8_t **rx_bufs;                  /* rxq.num buffers */
    uint8_t **rx_pending;               /* taken off the ring, not yet given back */
    uint32_t rx_npending;
    struct tx_slot *slots, *free_slots;
    uint32_t rxq_num_alloc, txq_num_alloc;      /* what the buffers were sized for */
    struct wtd wtd;
    void (*work)(struct vnet_dev *, void *);
    void *work_arg;
    struct vnet_stats st;
};

static struct vnet_dev *probed;
struct vnet_dev *vnet_get(void) { return probed; }
const char *vnet_name(struct vnet_dev *d) { return d->vdev.name; }
void vnet_mac(struct vnet_dev *d, uint8_t mac[6]) { memcpy(mac, d->mac, 6); }
bool vnet_link_up(struct vnet_dev *d) { return d->link_up; }
bool vnet_tx_csum(struct vnet_dev *d) { return virtio_has(&d->vdev, VIRTIO_NET_F_CSUM); }
bool vnet_rx_csum(struct vnet_dev *d) { return virtio_has(&d->vdev, VIRTIO_NET_F_GUEST_CSUM); }
void vnet_get_stats(struct vnet_dev *d, struct vnet_stats *out) { *out = d->st; }
uint32_t vnet_tx_max_segs(struct vnet_dev *d)
{
    return d->txq.indirect ? TX_MAX_SEGS : MIN(TX_MAX_SEGS, (uint32_t)d->txq.num - 1u);
}

static uint32_t vnet_wtd(struct wtd *w)
{
    struct vnet_dev *d = w->context;
    if (d->work)
        d->work(d, d->work_arg);
    return 0;
}

void vnet_reschedule(struct vnet_dev *d) { wtd_schedule(&d->wtd); }

static void on_queue_irq(struct virtio_dev *vd, int queue)
{
    struct vnet_dev *d = vd->drv;
    wtd_schedule(&d->wtd);
}

static void on_config_irq(struct virtio_dev *vd)
{
    struct vnet_dev *d = vd->drv;
    d->config_changed = true;
    wtd_schedule(&d->wtd);
}

static bool read_link(struct vnet_dev *d)
{
    if (!virtio_has(&d->vdev, VIRTIO_NET_F_STATUS))
        return true;                    /* no status field: the link is always up */
    return virtio_cfg16(&d->vdev, offsetof(struct virtio_net_config, status)) & VIRTIO_NET_S_LINK_UP;
}

bool vnet_link_check(struct vnet_dev *d)
{
    if (!d->config_changed)
        return false;
    d->config_changed = false;
    bool up = read_link(d);
    if (up == d->link_up)
        return false;
    d->link_up = up;
    d->st.link_changes++;
    return true;
}

static bool rx_give(struct vnet_dev *d, uint8_t *buf)
{
    struct vq_buf b = { (uintptr_t)buf, RX_BUF_SIZE, true };
    return vq_add(&d->rxq, &b, 0, 1, buf);
}

/* Gives back every buffer taken off the ring, then one notification. */
static void rx_refill(struct vnet_dev *d)
{
    if (!d->rx_npending)
        return;
    for (uint32_t i = 0; i < d->rx_npending; i++)
        rx_give(d, d->rx_pending[i]);
    d->st.rx_refills += d->rx_npending;
    d->st.rx_refill_batches++;
    d->rx_npending = 0;
    vq_kick(&d->rxq);
}

#define MAX_PIECES 4u           /* 4 x 2 KiB covers any frame we accept */

uint32_t vnet_rx_poll(struct vnet_dev *d, uint32_t budget, vnet_deliver_fn deliver, void *arg)
{
    bool mrg = virtio_has(&d->vdev, VIRTIO_NET_F_MRG_RXBUF);
    uint32_t frames = 0;
    while (frames < budget) {
        uint32_t len;
        uint8_t *buf = vq_get_used(&d->rxq, &len);
        if (!buf)
            break;
        d->rx_pending[d->rx_npending++] = buf;
        frames++;
        struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)buf;
        uint32_t nbuf = mrg ? h->num_buffers : 1;
        if (len > RX_BUF_SIZE || len < HDR_LEN || nbuf == 0) {
            d->st.rx_runt++;
            d->st.rx_dropped++;
            continue;
        }
        struct vnet_piece pieces[MAX_PIECES];
        uint32_t np = 0, total = 0;
        bool bad = nbuf > MAX_PIECES;
        pieces[np++] = (struct vnet_piece){ buf + HDR_LEN, len - HDR_LEN };
        total = len - HDR_LEN;
        for (uint32_t k = 1; k < nbuf; k++) {
            uint32_t l2;
            uint8_t *b2 = vq_get_used(&d->rxq, &l2);
            if (!b2) {                       /* the device promised more buffers than it gave */
                d->st.rx_bad_merge++;
                bad = true;
                break;
            }
            d->rx_pending[d->rx_npending++] = b2;
            if (l2 > RX_BUF_SIZE)
                bad = true;
            if (!bad && np < MAX_PIECES) {
                pieces[np++] = (struct vnet_piece){ b2, l2 };
                total += l2;
            }
        }
        if (nbuf > 1)
            d->st.rx_merged++;
        if (bad || total > ETH_MAX) {
            d->st.rx_oversize++;
            d->st.rx_dropped++;
            continue;
        }
        if (total < ETH_MIN) {
            d->st.rx_runt++;
            d->st.rx_dropped++;
            continue;
        }
        bool csum_ok = vnet_rx_csum(d) && (h->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID));
        d->st.rx_csum_trusted += csum_ok;
        if (!deliver(arg, pieces, np, total, csum_ok)) {
            d->st.rx_refused++;
            d->st.rx_dropped++;
            continue;
        }
        d->st.rx_frames++;
        d->st.rx_bytes += total;
    }
    rx_refill(d);
    return frames;
}

bool vnet_tx_queue(struct vnet_dev *d, const struct vnet_seg *segs, uint32_t nseg, void *cookie,
                   const struct vnet_csum *csum)
{
    struct tx_slot *s = d->free_slots;
    if (!s || nseg == 0 || nseg > vnet_tx_max_segs(d)) {
        d->st.tx_ring_full++;
        return false;
    }
    memset(&s->hdr, 0, sizeof s->hdr);
    if (csum && vnet_tx_csum(d)) {
        s->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        s->hdr.csum_start = csum->start;
        s->hdr.csum_offset = csum->offset;
    }
    struct vq_buf b[TX_MAX_SEGS + 1];
    b[0] = (struct vq_buf){ (uintptr_t)&s->hdr, HDR_LEN, false };
    uint32_t bytes = 0;
    for (uint32_t i = 0; i < nseg; i++) {
        b[1 + i] = (struct vq_buf){ segs[i].addr, segs[i].len, false };
        bytes += segs[i].len;
    }
    if (!vq_add(&d->txq, b, nseg + 1, 0, s)) {
        d->st.tx_ring_full++;
        return false;
    }
    d->free_slots = s->next_free;
    s->cookie = cookie;
    d->st.tx_frames++;
    d->st.tx_bytes += bytes;
    d->st.tx_csum += s->hdr.flags != 0;
    return true;
}

void vnet_tx_kick(struct vnet_dev *d) { vq_kick(&d->txq); }

uint32_t vnet_tx_reclaim(struct vnet_dev *d, void (*done)(void *cookie, void *arg), void *arg)
{
    uint32_t n = 0;
    struct tx_slot *s;
    while ((s = vq_get_used(&d->txq, NULL))) {
        void *c = s->cookie;
        s->cookie = NULL;
        s->next_free = d->free_slots;
        d->free_slots = s;
        done(c, arg);
        n++;
    }
    return n;
}

bool vnet_irq_rearm(struct vnet_dev *d)
{
    bool rx = vq_enable_intr(&d->rxq);
    bool tx = vq_enable_intr(&d->txq);
    return rx || tx;
}

int vnet_start(struct vnet_dev *d, void (*work)(struct vnet_dev *, void *), void *arg)
{
    d->work = work;
    d->work_arg = arg;
    vnet_irq_rearm(d);
    wtd_schedule(&d->wtd);          /* anything that arrived before */
    return 0;
}

void vnet_stop(struct vnet_dev *d)
{
    vq_disable_intr(&d->rxq);
    vq_disable_intr(&d->txq);
    d->work = NULL;
}

static int vnet_probe_one(struct pci_dev *p)
{
    struct vnet_dev *d = kzalloc(sizeof *d);
    if (!d)
        return -12;
    struct virtio_dev *vd = &d->vdev;
    int r = virtio_pci_init(vd, p, VIRTIO_ID_NET_TYPE, "virtio-net");
    if (r < 0)
        goto fail;
    uint64_t wanted = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS | 1ULL << VIRTIO_NET_F_MRG_RXBUF |
                      1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << VIRTIO_RING_F_EVENT_IDX;
    if (!opt_nocsum)
        wanted |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM;
    if ((r = virtio_negotiate(vd, wanted, 1ULL << VIRTIO_NET_F_MAC)) < 0)
        goto fail;
    for (int i = 0; i < 6; i++)
        d->mac[i] = virtio_cfg8(vd, offsetof(struct virtio_net_config, mac) + i);
    if ((r = virtio_setup_queue(vd, &d->rxq, "rx", 0, (uint16_t)opt_rxq, 0)) < 0 ||
        (r = virtio_setup_queue(vd, &d->txq, "tx", 1, (uint16_t)opt_txq, TX_MAX_SEGS + 1)) < 0)
        goto fail;
    d->rxq_num_alloc = d->rxq.num;
    d->txq_num_alloc = d->txq.num;
    d->rx_bufs = kzalloc(d->rxq.num * sizeof(uint8_t *));
    d->rx_pending = kzalloc(d->rxq.num * sizeof(uint8_t *));
    d->slots = (struct tx_slot *)(uintptr_t)pmm_alloc_pages(ALIGN_UP(d->txq.num * sizeof(struct tx_slot), PAGE_SIZE) / PAGE_SIZE);
    if (!d->rx_bufs || !d->rx_pending || !d->slots) {
        r = -12;
        goto fail;
    }
    for (uint32_t i = 0; i < d->txq.num; i++) {
        d->slots[i].next_free = d->free_slots;
        d->free_slots = &d->slots[i];
    }
    for (uint32_t i = 0; i < d->rxq.num; i += 2) {
        uint64_t pa = pmm_alloc_page();
        if (!pa) {
            r = -12;
            goto fail;
        }
        d->rx_bufs[i] = (uint8_t *)(uintptr_t)pa;
        d->rx_bufs[i + 1] = (uint8_t *)(uintptr_t)(pa + RX_BUF_SIZE);
    }
    wtd_init(&d->wtd, vnet_wtd, d);
    vd->drv = d;
    vd->on_queue_irq = on_queue_irq;
    vd->on_config_irq = on_config_irq;
    if ((r = virtio_setup_irqs(vd, IRQ_HOOKED_NET)) < 0)
        goto fail;
    /* quiet until vnet_start: an unused device must not wake workers for frames */
    vq_disable_intr(&d->rxq);
    vq_disable_intr(&d->txq);
    virtio_driver_ok(vd);
    for (uint32_t i = 0; i < d->rxq.num; i++)
        rx_give(d, d->rx_bufs[i]);
    vq_kick(&d->rxq);
    d->link_up = read_link(d);
    probed = d;
    kprintf("virtio-net: %s mac %02x:%02x:%02x:%02x:%02x:%02x, rx %u / tx %u (%s%s), csum %s, guest-csum %s, "
            "mrg-rxbuf %s, %s%s, link %s\n", vd->name, d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4],
            d->mac[5], d->rxq.num, d->txq.num, d->txq.indirect ? "indirect" : "direct",
            d->txq.event_idx ? ", event-idx" : "", vnet_tx_csum(d) ? "yes" : "no", vnet_rx_csum(d) ? "yes" : "no",
            virtio_has(vd, VIRTIO_NET_F_MRG_RXBUF) ? "yes" : "no", vd->msix ? "MSI-X" : "INTx",
            vd->transitional ? ", transitional" : ", modern-only", d->link_up ? "up" : "down");
    return 0;
fail:
    if (virtio_abandon(vd)) {
        for (uint32_t i = 0; d->rx_bufs && i < d->rxq_num_alloc; i += 2)
            if (d->rx_bufs[i])
                pmm_free_page((uint64_t)(uintptr_t)d->rx_bufs[i]);
        if (d->slots)
            pmm_free_pages((uint64_t)(uintptr_t)d->slots, ALIGN_UP(d->txq_num_alloc * sizeof(struct tx_slot), PAGE_SIZE) / PAGE_SIZE);
        kfree(d->rx_bufs);
        kfree(d->rx_pending);
        kfree(d);
    }
    return r;
}

static int vnet_probe(void)
{
    for (int i = 0; i < pci_count() && !probed; i++) {
        struct pci_dev *p = pci_get(i);
        if (p->vendor == VIRTIO_VENDOR &&
            (p->device == 0x1000 || p->device == VIRTIO_PCI_MODERN_BASE + VIRTIO_ID_NET_TYPE))
            vnet_probe_one(p);
    }
    return 0;
}
INITCALL(INIT_DRIVER, vnet_probe);
