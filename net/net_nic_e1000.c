/* The e1000 as the interface's NIC (net_nic.h). */
#include "net_priv.h"
#include "net_nic.h"
#include "drivers/e1000/e1000.h"
#include "printf.h"
#include "string.h"

/* the driver's WTD calls this with the netif e1000_start was given */
static void work(struct e1000_dev *d, void *nif) { net_netif_work(net_nic(), nif); }
static int start(void *dev, struct netif *nif) { return e1000_start(dev, work, nif); }
static void *find(void) { return e1000_get(); }
static void mac(void *dev, uint8_t out[6]) { memcpy(out, ((struct e1000_dev *)dev)->mac, 6); }
static bool yes(void *dev) { return true; }
static bool no(void *dev) { return false; }
static bool link_up(void *dev) { return ((struct e1000_dev *)dev)->link_up; }

static bool link_changed(void *dev)
{
    struct e1000_dev *d = dev;
    uint32_t icr = e1000_take_icr(d);
    return (icr & E1000_CAUSE_LINK) && e1000_link_check(d);
}

static bool deliver(void *arg, const void *data, uint32_t len)
{
    return net_netif_input(arg, &data, &len, 1, len, false);
}

static uint32_t rx_poll(void *dev, uint32_t budget, struct netif *nif) { return e1000_rx_poll(dev, budget, deliver, nif); }

static bool tx_queue(void *dev, const struct net_seg *s, uint32_t n, void *cookie, const struct net_csum *cs)
{
    _Static_assert(sizeof(struct net_seg) == sizeof(struct e1000_seg), "net_seg is e1000_seg's layout");
    const struct e1000_seg *es = (const struct e1000_seg *)(const void *)s;
    if (!cs)
        return e1000_tx_queue(dev, es, n, cookie);
    return e1000_tx_queue_csum(dev, es, n, cookie, (struct e1000_csum){ cs->start, cs->offset });
}

static void tx_kick(void *dev) { e1000_tx_kick(dev); }
static uint32_t tx_reclaim(void *dev, void (*done)(void *, void *), void *arg) { return e1000_tx_reclaim(dev, done, arg); }
/* a context descriptor and the one slot that always stays free */
static uint32_t tx_max_segs(void *dev) { return ((struct e1000_dev *)dev)->tx.n - 3; }
static void reschedule(void *dev) { wtd_schedule(&((struct e1000_dev *)dev)->wtd); }
static void hw_stats(void *dev) { e1000_hw_stats_update(dev); }

static uint64_t rx_drops(void *dev)
{
    struct e1000_dev *d = dev;
    return d->st.rx.dropped + d->st.hw_undersize + d->st.hw_oversize + d->st.hw_crc + d->st.hw_rx_err +
           d->st.hw_missed;
}

static void print(void *dev)
{
    struct e1000_dev *d = dev;
    e1000_hw_stats_update(d);
    struct e1000_stats s = d->st;
    kprintf("  e1000 %02x:%02x:%02x:%02x:%02x:%02x link %s, %u rx / %u tx descriptors, itr %u/s\n",
            d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], d->link_up ? "up" : "down",
            d->rx.n, d->tx.n, d->itr_per_sec);
    kprintf("  rx: %lu frames, %lu bytes; dropped %lu (runt %lu oversize %lu error %lu fragment %lu "
            "no-memory %lu)\n", s.rx.frames, s.rx.bytes, s.rx.dropped, s.rx.drop[RXV_RUNT],
            s.rx.drop[RXV_OVERSIZE], s.rx.drop[RXV_ERROR], s.rx.drop[RXV_FRAGMENT], s.rx_refused);
    kprintf("  device: missed %lu no-buffer %lu undersize %lu oversize %lu crc %lu rx-error %lu\n",
            s.hw_missed, s.hw_no_buf, s.hw_undersize, s.hw_oversize, s.hw_crc, s.hw_rx_err);
    kprintf("  tx: %lu frames, %lu bytes; ring-full %lu, contexts %lu\n", s.tx_frames, s.tx_bytes,
            s.tx_ring_full, s.tx_contexts);
    kprintf("  interrupts: %lu (rx %lu tx %lu link %lu overrun %lu spurious %lu)\n", s.irqs, s.irq_rx,
            s.irq_tx, s.irq_lsc, s.irq_overrun, s.irqs_spurious);
}

const struct nic_ops net_nic_e1000_ops = {
    "e1000", find, mac, yes, no, link_up, link_changed, rx_poll, tx_queue, tx_kick, tx_reclaim, tx_max_segs,
    reschedule, no, hw_stats, rx_drops, print, start,
};
