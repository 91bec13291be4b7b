/* The `net` console command: addresses, driver and lwIP counters, connections. */
#include "net_priv.h"
#include "drivers/e1000/e1000.h"
#include "console.h"
#include "printf.h"
#include "lwip/stats.h"
#include "lwip/ip4_addr.h"
#include "lwip/dhcp.h"

uint64_t net_rx_drops_total(void)
{
    uint64_t t = lwip_stats.link.drop + lwip_stats.etharp.drop + lwip_stats.ip.drop +
                 lwip_stats.icmp.drop + lwip_stats.udp.drop + lwip_stats.tcp.drop;
    struct e1000_dev *d = e1000_get();
    if (d)
        t += d->st.rx.dropped + d->st.hw_undersize + d->st.hw_oversize + d->st.hw_crc + d->st.hw_rx_err +
             d->st.hw_missed;
    return t;
}

static void cmd_net(int argc, char **argv)
{
    struct e1000_dev *d = e1000_get();
    if (!d) {
        kprintf("  no network device\n");
        return;
    }
    net_core_lock();
    e1000_hw_stats_update(d);
    char a[16], m[16], g[16];
    ip4addr_ntoa_r(netif_ip4_addr(&net_if), a, sizeof a);
    ip4addr_ntoa_r(netif_ip4_netmask(&net_if), m, sizeof m);
    ip4addr_ntoa_r(netif_ip4_gw(&net_if), g, sizeof g);
    struct net_tx_stats tx;
    net_netif_tx_stats(&tx);
    struct e1000_stats s = d->st;
    struct stats_ lw = lwip_stats;
    uint32_t live = net_tcp_live();
    uint64_t drops = net_rx_drops_total();
    bool dhcp = netif_dhcp_data(&net_if) != NULL;
    net_core_unlock();

    kprintf("  e1000 %02x:%02x:%02x:%02x:%02x:%02x link %s, %u rx / %u tx descriptors, itr %u/s\n",
            d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], d->link_up ? "up" : "down",
            d->rx.n, d->tx.n, d->itr_per_sec);
    kprintf("  ipv4 %s netmask %s gw %s (%s)\n", a, m, g, dhcp ? "dhcp" : "static");
    kprintf("  rx: %lu frames, %lu bytes; dropped %lu (runt %lu oversize %lu error %lu fragment %lu "
            "no-memory %lu)\n", s.rx.frames, s.rx.bytes, s.rx.dropped, s.rx.drop[RXV_RUNT],
            s.rx.drop[RXV_OVERSIZE], s.rx.drop[RXV_ERROR], s.rx.drop[RXV_FRAGMENT], s.rx_refused);
    kprintf("  device: missed %lu no-buffer %lu undersize %lu oversize %lu crc %lu rx-error %lu\n",
            s.hw_missed, s.hw_no_buf, s.hw_undersize, s.hw_oversize, s.hw_crc, s.hw_rx_err);
    kprintf("  tx: %lu frames, %lu bytes; ring-full %lu, backlog %u (peak %lu, queued %lu), dropped %lu, "
            "copied %lu, checksummed by the device %lu (contexts %lu)\n", s.tx_frames, s.tx_bytes, s.tx_ring_full,
            tx.queue_len, tx.queue_peak, tx.queued, tx.dropped, tx.linearized, tx.csum_offloaded, s.tx_contexts);
    kprintf("  interrupts: %lu (rx %lu tx %lu link %lu overrun %lu spurious %lu)\n", s.irqs, s.irq_rx,
            s.irq_tx, s.irq_lsc, s.irq_overrun, s.irqs_spurious);
    kprintf("  lwip link: recv %u xmit %u drop %u proterr %u lenerr %u memerr %u\n", lw.link.recv,
            lw.link.xmit, lw.link.drop, lw.link.proterr, lw.link.lenerr, lw.link.memerr);
    kprintf("  lwip arp: drop %u; ip: recv %u drop %u chkerr %u lenerr %u proterr %u; icmp: recv %u xmit %u "
            "drop %u\n", lw.etharp.drop, lw.ip.recv, lw.ip.drop, lw.ip.chkerr, lw.ip.lenerr, lw.ip.proterr,
            lw.icmp.recv, lw.icmp.xmit, lw.icmp.drop);
    kprintf("  lwip tcp: recv %u xmit %u drop %u chkerr %u memerr %u\n", lw.tcp.recv, lw.tcp.xmit,
            lw.tcp.drop, lw.tcp.chkerr, lw.tcp.memerr);
    kprintf("  tcp connections: %u live, max %u, refused %lu\n", live, net_tcp_max(), net_tcp_refused());
    uint64_t hits, misses;
    uint32_t indexed;
    net_pcb_index_stats(&hits, &misses, &indexed);
    kprintf("  connection index: %u indexed, %lu segments found by hash, %lu by lwIP's walk\n",
            indexed, hits, misses);
    kprintf("  drops total: %lu\n", drops);
}
CONSOLE_COMMAND("net", "network addresses and counters", cmd_net);
