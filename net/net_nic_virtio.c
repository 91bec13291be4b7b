/* virtio-net as the interface's NIC (net_nic.h). */
#include "net_priv.h"
#include "net_nic.h"
#include "drivers/virtio/virtio_netdev.h"
#include "printf.h"
#include "string.h"

static void *find(void) { return vnet_get(); }
static void mac(void *dev, uint8_t out[6]) { vnet_mac(dev, out); }
static bool offloads_tx_csum(void *dev) { return vnet_tx_csum(dev); }
static bool vouches_rx_csum(void *dev) { return vnet_rx_csum(dev); }
static bool link_up(void *dev) { return vnet_link_up(dev); }
static bool link_changed(void *dev) { return vnet_link_check(dev); }

static bool deliver(void *arg, const struct vnet_piece *p, uint32_t n, uint32_t len, bool csum_ok)
{
    const void *data[4];
    uint32_t lens[4];
    if (n > 4)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        data[i] = p[i].data;
        lens[i] = p[i].len;
    }
    return net_netif_input(arg, data, lens, n, len, csum_ok);
}

static uint32_t rx_poll(void *dev, uint32_t budget, struct netif *nif) { return vnet_rx_poll(dev, budget, deliver, nif); }

static bool tx_queue(void *dev, const struct net_seg *s, uint32_t n, void *cookie, const struct net_csum *cs)
{
    _Static_assert(sizeof(struct net_seg) == sizeof(struct vnet_seg), "net_seg is vnet_seg's layout");
    const struct vnet_seg *vs = (const struct vnet_seg *)(const void *)s;
    if (!cs)
        return vnet_tx_queue(dev, vs, n, cookie, NULL);
    /* virtio's offset counts from the start of the summed range */
    struct vnet_csum c = { cs->start, (uint16_t)(cs->offset - cs->start) };
    return vnet_tx_queue(dev, vs, n, cookie, &c);
}

static void tx_kick(void *dev) { vnet_tx_kick(dev); }
static uint32_t tx_reclaim(void *dev, void (*done)(void *, void *), void *arg) { return vnet_tx_reclaim(dev, done, arg); }
static uint32_t tx_max_segs(void *dev) { return vnet_tx_max_segs(dev); }
static void reschedule(void *dev) { vnet_reschedule(dev); }
static bool rearm(void *dev) { return vnet_irq_rearm(dev); }
static void hw_stats(void *dev) { }

static uint64_t rx_drops(void *dev)
{
    struct vnet_stats s;
    vnet_get_stats(dev, &s);
    return s.rx_dropped;
}

static void print(void *dev)
{
    struct vnet_stats s;
    vnet_get_stats(dev, &s);
    uint8_t m[6];
    vnet_mac(dev, m);
    kprintf("  %s %02x:%02x:%02x:%02x:%02x:%02x link %s, checksum offload tx %s rx %s (see `virtio`)\n",
            vnet_name(dev), m[0], m[1], m[2], m[3], m[4], m[5], vnet_link_up(dev) ? "up" : "down",
            vnet_tx_csum(dev) ? "yes" : "no", vnet_rx_csum(dev) ? "yes" : "no");
    kprintf("  rx: %lu frames, %lu bytes, %lu merged; dropped %lu (runt %lu oversize %lu bad-merge %lu "
            "no-memory %lu); checksums vouched by the device %lu; refilled %lu in %lu batches\n",
            s.rx_frames, s.rx_bytes, s.rx_merged, s.rx_dropped, s.rx_runt, s.rx_oversize, s.rx_bad_merge,
            s.rx_refused, s.rx_csum_trusted, s.rx_refills, s.rx_refill_batches);
    kprintf("  device: oversize %lu runt %lu bad-merge %lu (frames the virtio-net driver refused)\n",
            s.rx_oversize, s.rx_runt, s.rx_bad_merge);
    kprintf("  tx: %lu frames, %lu bytes; ring-full %lu, checksummed by the device %lu\n", s.tx_frames,
            s.tx_bytes, s.tx_ring_full, s.tx_csum);
}

static void work(struct vnet_dev *d, void *nif) { net_netif_work(net_nic(), nif); }

static int start(void *dev, struct netif *nif)
{
    return vnet_start(dev, work, nif);      /* the driver's WTD calls work(dev, nif) */
}

const struct nic_ops net_nic_virtio_ops = {
    .driver = "virtio-net", .find = find, .mac = mac, .offloads_tx_csum = offloads_tx_csum,
    .vouches_rx_csum = vouches_rx_csum, .link_up = link_up, .link_changed = link_changed, .rx_poll = rx_poll,
    .tx_queue = tx_queue, .tx_kick = tx_kick, .tx_reclaim = tx_reclaim, .tx_max_segs = tx_max_segs,
    .reschedule = reschedule, .rearm = rearm, .hw_stats = hw_stats, .rx_drops = rx_drops, .print = print,
    .start = start,
};
