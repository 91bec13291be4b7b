/* The `net` console command: addresses, driver and lwIP counters, connections. */
#include "net_priv.h"
#include "net_nic.h"
#include "console.h"
#include "printf.h"
#include "lwip/stats.h"
#include "lwip/ip4_addr.h"
#include "lwip/dhcp.h"

uint64_t net_rx_drops_total(void)
{
    uint64_t t = lwip_stats.link.drop + lwip_stats.etharp.drop + lwip_stats.ip.drop +
                 lwip_stats.icmp.drop + lwip_stats.udp.drop + lwip_stats.tcp.drop;
    struct nic *nic = net_nic();
    if (nic)
        t += nic->ops->rx_drops(nic->dev);
    return t;
}

static void cmd_net(int argc, char **argv)
{
    struct nic *nic = net_nic();
    if (!nic) {
        kprintf("  no network device\n");
        return;
    }
    net_core_lock();
    nic->ops->print(nic->dev);
    char a[16], m[16], g[16];
    ip4addr_ntoa_r(netif_ip4_addr(&net_if), a, sizeof a);
    ip4addr_ntoa_r(netif_ip4_netmask(&net_if), m, sizeof m);
    ip4addr_ntoa_r(netif_ip4_gw(&net_if), g, sizeof g);
    struct net_tx_stats tx;
    net_netif_tx_stats(&tx);
    struct stats_ lw = lwip_stats;
    uint32_t live = net_tcp_live();
    uint64_t drops = net_rx_drops_total();
    bool dhcp = netif_dhcp_data(&net_if) != NULL;
    net_core_unlock();

    kprintf("  ipv4 %s netmask %s gw %s (%s), driver %s\n", a, m, g, dhcp ? "dhcp" : "static", nic->ops->driver);
    kprintf("  tx queue: backlog %u (peak %lu, queued %lu), dropped %lu, copied %lu, checksummed by the device %lu; "
            "rx checksums failed here %lu\n", tx.queue_len, tx.queue_peak, tx.queued, tx.dropped, tx.linearized,
            tx.csum_offloaded, tx.rx_csum_bad);
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
