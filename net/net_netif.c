/*
 * The lwIP network interface over a NIC (net_nic.h: the e1000 or virtio-net).
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
#include "net_nic.h"
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
KOPT_U64("net.csum_offload", opt_csum_offload, 0, 1, "the NIC computes outgoing TCP checksums when it can (0: lwIP does)");

#define TX_MAX_SEGS 32          /* longer chains are copied into one buffer first */

static struct ptr_fifo backlog;
static struct net_tx_stats txs;
static uint64_t rx_csum_bad;       /* frames net_netif_input found with a bad checksum */

void net_netif_tx_stats(struct net_tx_stats *s)
{
    *s = txs;
    s->queue_len = backlog.count;
    s->rx_csum_bad = rx_csum_bad;
}

static void tx_done(void *cookie, void *arg) { pbuf_free(cookie); }

enum put_result { PUT_OK, PUT_FULL, PUT_DROP };
enum csum_kind { CSUM_NONE, CSUM_DEVICE, CSUM_NEEDS_LINEAR };

/* With net.csum_offload lwIP leaves TCP checksums to the device (the netif's checksum
 * flags): for an IPv4/TCP frame, seed the checksum field with the pseudo-header sum and
 * say where the device must put the sum.  Headers are always in lwIP's first pbuf; if
 * they ever were not, the frame is linearized first. */
static enum csum_kind csum_prepare(struct pbuf *p, struct net_csum *cs)
{
    const uint32_t eth = SIZEOF_ETH_HDR;
    if (!opt_csum_offload || !net_nic()->tx_csum || p->len < eth + IP_HLEN)
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

static bool queue_frame(struct nic *nic, const struct net_seg *segs, uint32_t n, void *cookie,
                        enum csum_kind k, struct net_csum cs)
{
    if (k != CSUM_DEVICE)
        return nic->ops->tx_queue(nic->dev, segs, n, cookie, NULL);
    bool queued = nic->ops->tx_queue(nic->dev, segs, n, cookie, &cs);
    txs.csum_offloaded += queued;           /* once per frame, not per attempt */
    return queued;
}

/* Puts p on the ring; on PUT_OK the ring owns the caller's reference to p. */
static enum put_result ring_put(struct nic *nic, struct pbuf *p)
{
    struct net_seg segs[TX_MAX_SEGS];
    struct net_csum cs = { 0, 0 };
    uint32_t max_segs = MIN((uint32_t)TX_MAX_SEGS, nic->ops->tx_max_segs(nic->dev));
    enum csum_kind k = csum_prepare(p, &cs);
    uint32_t n = 0;
    bool linear = k == CSUM_NEEDS_LINEAR;
    for (struct pbuf *q = p; q && !linear; q = q->next) {
        if (!q->len)
            continue;
        uintptr_t a = (uintptr_t)q->payload;
        /* DMA needs physical addresses: only the identity map qualifies */
        if (n == max_segs || a + q->len > PHYS_LIMIT) {
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
        return queue_frame(nic, segs, n, p, k, cs) ? PUT_OK : PUT_FULL;

    struct pbuf *c = pbuf_clone(PBUF_RAW, PBUF_RAM, p);
    if (!c)
        return PUT_DROP;
    txs.linearized++;
    k = csum_prepare(c, &cs);
    segs[0].addr = (uintptr_t)c->payload;
    segs[0].len = c->len;
    if (k == CSUM_NEEDS_LINEAR || !queue_frame(nic, segs, 1, c, k, cs)) {
        pbuf_free(c);
        return k == CSUM_NEEDS_LINEAR ? PUT_DROP : PUT_FULL;
    }
    pbuf_free(p);
    return PUT_OK;
}

/* Hands the frames queued while the core lock was held to the device in one go. */
void net_netif_tx_flush(void)
{
    struct nic *nic = net_if.state;
    if (nic)
        nic->ops->tx_kick(nic->dev);
}

static void backlog_drain(struct nic *nic)
{
    while (!fifo_empty(&backlog)) {
        struct pbuf *p = fifo_peek(&backlog);
        enum put_result r = ring_put(nic, p);
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
    struct nic *nic = nif->state;
    LWIP_ASSERT_CORE_LOCKED();
    if (!nic->ops->link_up(nic->dev)) {
        LINK_STATS_INC(link.drop);
        return ERR_IF;
    }
    pbuf_ref(p);
    if (fifo_empty(&backlog)) {
        nic->ops->tx_reclaim(nic->dev, tx_done, NULL);
        enum put_result r = ring_put(nic, p);
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

/* Frames the device did not vouch for, on an interface whose TCP/UDP checks lwIP skips
 * (the device offered GUEST_CSUM): the checksum is checked here.  IPv4 fragments cannot
 * be checked one by one and pass (docs/security.md, "virtio devices"). */
static bool l4_csum_ok(const uint8_t *f, uint32_t len)
{
    const uint32_t eth = SIZEOF_ETH_HDR;
    if (len < eth + IP_HLEN || f[12] != 0x08 || f[13] != 0x00)
        return true;                        /* not IPv4: lwIP has nothing to check */
    const uint8_t *ip = f + eth;
    uint32_t ihl = (ip[0] & 0x0fu) * 4u, total = (uint32_t)ip[2] << 8 | ip[3];
    uint8_t proto = ip[9];
    if (ip[0] >> 4 != 4 || ihl < IP_HLEN || total < ihl || eth + total > len)
        return true;                        /* malformed: lwIP's IP input drops it */
    if ((ip[6] & 0x3f) || ip[7])
        return true;                        /* a fragment */
    if (proto != IP_PROTO_TCP && proto != IP_PROTO_UDP)
        return true;
    uint32_t l4 = total - ihl;
    const uint8_t *h = ip + ihl;
    if (proto == IP_PROTO_UDP && l4 >= 8 && h[6] == 0 && h[7] == 0)
        return true;                        /* UDP without a checksum */
    uint32_t sum = proto + l4;
    for (int i = 12; i < 20; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    for (uint32_t i = 0; i + 1 < l4; i += 2)
        sum += (uint32_t)h[i] << 8 | h[i + 1];
    if (l4 & 1)
        sum += (uint32_t)h[l4 - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return sum == 0xffffu;
}

bool net_netif_input(struct netif *nif, const void *const *data, const uint32_t *lens, uint32_t n, uint32_t len,
                     bool csum_ok)
{
    struct nic *nic = nif->state;
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
    if (!p) {
        LINK_STATS_INC(link.memerr);
        LINK_STATS_INC(link.drop);
        return false;
    }
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy((uint8_t *)p->payload + off, data[i], lens[i]);
        off += lens[i];
    }
    if (nic->rx_csum && !csum_ok && !l4_csum_ok(p->payload, len)) {
        rx_csum_bad++;
        LINK_STATS_INC(link.chkerr);
        LINK_STATS_INC(link.drop);
        pbuf_free(p);
        return true;                        /* taken (and dropped, counted) */
    }
    LINK_STATS_INC(link.recv);
    if (nif->input(p, nif) != ERR_OK) {
        pbuf_free(p);
        return false;
    }
    return true;
}

void net_netif_work(struct nic *nic, struct netif *nif)
{
    net_core_lock();
    if (nic->ops->link_changed(nic->dev)) {
        if (nic->ops->link_up(nic->dev))
            netif_set_link_up(nif);
        else
            netif_set_link_down(nif);
    }
    nic->ops->tx_reclaim(nic->dev, tx_done, NULL);
    backlog_drain(nic);
    uint32_t n = nic->ops->rx_poll(nic->dev, (uint32_t)opt_rx_budget, nif);
    /* replies sent while receiving may already be done; make room for the next burst */
    nic->ops->tx_reclaim(nic->dev, tx_done, NULL);
    backlog_drain(nic);
    bool more = nic->ops->rearm(nic->dev);
    net_core_unlock();
    if (n == opt_rx_budget || more)     /* more may be waiting: after the other queued WTDs */
        nic->ops->reschedule(nic->dev);
}

err_t net_netif_init(struct netif *nif)
{
    struct nic *nic = nif->state;
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
    memcpy(nif->hwaddr, nic->mac, ETH_HWADDR_LEN);
    nif->mtu = 1500;
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    if (nic->ops->link_up(nic->dev))
        nif->flags |= NETIF_FLAG_LINK_UP;
    nif->output = etharp_output;
    nif->linkoutput = linkoutput;
    uint32_t ctrl = NETIF_CHECKSUM_ENABLE_ALL;
    if (opt_csum_offload && nic->tx_csum)   /* csum_prepare() seeds them and the device finishes them */
        ctrl &= ~NETIF_CHECKSUM_GEN_TCP;
    if (nic->rx_csum)                       /* the device vouches per frame; net_netif_input checks the rest */
        ctrl &= ~(NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_UDP);
    NETIF_SET_CHECKSUM_CTRL(nif, ctrl);
    return ERR_OK;
}
