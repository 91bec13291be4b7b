/*
 * The lwIP network interface over the e1000 driver.
 *
 * Receive: the driver's WTD calls net_netif_work(), which takes the core lock, notes
 * link changes, reclaims sent frames, and feeds up to rx_budget received frames to
 * lwIP (copied into a PBUF_RAM: the descriptor's buffer goes straight back to the
 * device).  If the budget ran out it queues itself again, so other WTDs get a turn.
 *
 * Transmit: each pbuf of a chain becomes one descriptor (scatter-gather).  The chain
 * gets a pbuf_ref while the device owns it and is freed on completion, which is also
 * what tells lwIP's TCP not to retransmit a segment the driver still holds.  A chain
 * the ring has no room for waits in a bounded backlog (never a busy wait); past that
 * it is dropped and counted, and TCP retransmits.
 */
#include "net_priv.h"
#include "drivers/e1000/e1000.h"
#include "net_fifo.h"
#include "mm.h"
#include "kopt.h"
#include "string.h"
#include "lwip/pbuf.h"
#include "lwip/etharp.h"
#include "lwip/stats.h"
#include "netif/ethernet.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "lwip/prot/ethernet.h"

static uint64_t opt_rx_budget = 64, opt_txq = 1024;
KOPT_U64("net.rx_budget", opt_rx_budget, 1, 4096, "frames the receive WTD handles before yielding");
KOPT_U64("net.txq", opt_txq, 0, 65536, "frames that may wait for room in the transmit ring");
static uint64_t opt_csum_offload = 1;
KOPT_U64("net.csum_offload", opt_csum_offload, 0, 1, "the e1000 computes outgoing TCP checksums (0: lwIP does)");

#define TX_MAX_SEGS 32          /* longer chains are copied into one buffer first */

static struct ptr_fifo backlog;
static struct net_tx_stats txs;

void net_netif_tx_stats(struct net_tx_stats *s)
{
    *s = txs;
    s->queue_len = backlog.count;
}

static void tx_done(void *cookie, void *arg) { pbuf_free(cookie); }

enum put_result { PUT_OK, PUT_FULL, PUT_DROP };
enum csum_kind { CSUM_NONE, CSUM_DEVICE, CSUM_NEEDS_LINEAR };

/* With net.csum_offload lwIP leaves TCP checksums to the device (the netif's checksum
 * flags): for an IPv4/TCP frame, seed the checksum field with the pseudo-header sum and
 * say where the device must put the sum.  Headers are always in lwIP's first pbuf; if
 * they ever were not, the frame is linearized first. */
static enum csum_kind csum_prepare(struct pbuf *p, struct e1000_csum *cs)
{
    const uint32_t eth = SIZEOF_ETH_HDR;
    if (!opt_csum_offload || p->len < eth + IP_HLEN)
        return CSUM_NONE;
    uint8_t *f = p->payload, *ip = f + eth;
    if (f[12] != 0x08 || f[13] != 0x00 || ip[0] >> 4 != 4 || ip[9] != IP_PROTO_TCP)
        return CSUM_NONE;
    uint32_t ihl = (ip[0] & 0x0fu) * 4u, total = (uint32_t)ip[2] << 8 | ip[3];
    if (ihl < IP_HLEN || total < ihl + TCP_HLEN || eth + total > p->tot_len)
        return CSUM_NONE;                   /* not something lwIP's TCP sends */
    if (p->len < eth + ihl + TCP_HLEN)
        return CSUM_NEEDS_LINEAR;
    uint32_t sum = IP_PROTO_TCP + (total - ihl);
    for (int i = 12; i < 20; i += 2)        /* source and destination addresses */
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    uint8_t *tcp = ip + ihl;
    tcp[16] = (uint8_t)(sum >> 8);          /* not complemented: the device adds the rest */
    tcp[17] = (uint8_t)sum;
    cs->start = (uint8_t)(eth + ihl);
    cs->offset = (uint8_t)(eth + ihl + 16);
    return CSUM_DEVICE;
}

static bool queue_frame(struct e1000_dev *d, const struct e1000_seg *segs, uint32_t n, void *cookie,
                        enum csum_kind k, struct e1000_csum cs)
{
    if (k != CSUM_DEVICE)
        return e1000_tx_queue(d, segs, n, cookie);
    bool queued = e1000_tx_queue_csum(d, segs, n, cookie, cs);
    txs.csum_offloaded += queued;           /* once per frame, not per attempt */
    return queued;
}

/* Puts p on the ring; on PUT_OK the ring owns the caller's reference to p. */
static enum put_result ring_put(struct e1000_dev *d, struct pbuf *p)
{
    struct e1000_seg segs[TX_MAX_SEGS];
    struct e1000_csum cs = { 0, 0 };
    enum csum_kind k = csum_prepare(p, &cs);
    uint32_t n = 0;
    bool linear = k == CSUM_NEEDS_LINEAR;
    for (struct pbuf *q = p; q && !linear; q = q->next) {
        if (!q->len)
            continue;
        uintptr_t a = (uintptr_t)q->payload;
        /* DMA needs physical addresses: only the identity map qualifies */
        if (n == TX_MAX_SEGS || n + 2 >= d->tx.n || a + q->len > PHYS_LIMIT) {
            linear = true;
            break;
        }
        segs[n].addr = a;
        segs[n].len = q->len;
        n++;
    }
    if (!linear && n == 0)
        return PUT_DROP;            /* nothing to send: would wait in the backlog forever */
    if (!linear)
        return queue_frame(d, segs, n, p, k, cs) ? PUT_OK : PUT_FULL;

    struct pbuf *c = pbuf_clone(PBUF_RAW, PBUF_RAM, p);
    if (!c)
        return PUT_DROP;
    txs.linearized++;
    k = csum_prepare(c, &cs);
    segs[0].addr = (uintptr_t)c->payload;
    segs[0].len = c->len;
    if (k == CSUM_NEEDS_LINEAR || !queue_frame(d, segs, 1, c, k, cs)) {
        pbuf_free(c);
        return k == CSUM_NEEDS_LINEAR ? PUT_DROP : PUT_FULL;
    }
    pbuf_free(p);
    return PUT_OK;
}

/* Hands the frames queued while the core lock was held to the device in one go. */
void net_netif_tx_flush(void)
{
    struct e1000_dev *d = net_if.state;
    if (d)
        e1000_tx_kick(d);
}

static void backlog_drain(struct e1000_dev *d)
{
    while (!fifo_empty(&backlog)) {
        struct pbuf *p = fifo_peek(&backlog);
        enum put_result r = ring_put(d, p);
        if (r == PUT_FULL)
            break;
        fifo_pop(&backlog);
        if (r == PUT_DROP) {
            txs.dropped++;
            LINK_STATS_INC(link.drop);
            pbuf_free(p);
        }
    }
}

static err_t linkoutput(struct netif *nif, struct pbuf *p)
{
    struct e1000_dev *d = nif->state;
    LWIP_ASSERT_CORE_LOCKED();
    if (!d->link_up) {
        LINK_STATS_INC(link.drop);
        return ERR_IF;
    }
    pbuf_ref(p);
    if (fifo_empty(&backlog)) {
        e1000_tx_reclaim(d, tx_done, NULL);
        enum put_result r = ring_put(d, p);
        if (r == PUT_OK) {
            LINK_STATS_INC(link.xmit);
            return ERR_OK;
        }
        if (r == PUT_DROP)
            goto drop;
    }
    if (fifo_push(&backlog, p)) {
        txs.queued++;
        if (backlog.count > txs.queue_peak)
            txs.queue_peak = backlog.count;
        LINK_STATS_INC(link.xmit);
        return ERR_OK;
    }
drop:
    pbuf_free(p);
    txs.dropped++;
    LINK_STATS_INC(link.drop);
    return ERR_MEM;
}

/* e1000_rx_poll's callback: one good frame into lwIP. */
static bool deliver(void *arg, const void *data, uint32_t len)
{
    struct netif *nif = arg;
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
    if (!p) {
        LINK_STATS_INC(link.memerr);
        LINK_STATS_INC(link.drop);
        return false;
    }
    memcpy(p->payload, data, len);
    LINK_STATS_INC(link.recv);
    if (nif->input(p, nif) != ERR_OK) {
        pbuf_free(p);
        return false;
    }
    return true;
}

void net_netif_work(struct e1000_dev *d, void *arg)
{
    struct netif *nif = arg;
    net_core_lock();
    uint32_t icr = e1000_take_icr(d);
    if ((icr & E1000_CAUSE_LINK) && e1000_link_check(d)) {
        if (d->link_up)
            netif_set_link_up(nif);
        else
            netif_set_link_down(nif);
    }
    e1000_tx_reclaim(d, tx_done, NULL);
    backlog_drain(d);
    uint32_t n = e1000_rx_poll(d, (uint32_t)opt_rx_budget, deliver, nif);
    /* replies sent while receiving may already be done; make room for the next burst */
    e1000_tx_reclaim(d, tx_done, NULL);
    backlog_drain(d);
    net_core_unlock();
    if (n == opt_rx_budget)         /* more may be waiting: after the other queued WTDs */
        wtd_schedule(&d->wtd);
}

err_t net_netif_init(struct netif *nif)
{
    struct e1000_dev *d = nif->state;
    static void **slots;
    if (!slots && opt_txq) {
        slots = kzalloc(opt_txq * sizeof(void *));
        if (!slots)
            return ERR_MEM;
    }
    fifo_init(&backlog, slots, (uint32_t)opt_txq);
    nif->name[0] = 'e';
    nif->name[1] = 'n';
    nif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(nif->hwaddr, d->mac, ETH_HWADDR_LEN);
    nif->mtu = 1500;
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    if (d->link_up)
        nif->flags |= NETIF_FLAG_LINK_UP;
    nif->output = etharp_output;
    nif->linkoutput = linkoutput;
    if (opt_csum_offload)           /* csum_prepare() seeds them and the device finishes them */
        NETIF_SET_CHECKSUM_CTRL(nif, NETIF_CHECKSUM_ENABLE_ALL & ~NETIF_CHECKSUM_GEN_TCP);
    return ERR_OK;
}
