/*
 * Connection limit without eviction.
 *
 * lwIP's tcp_alloc(), when its pool is empty, kills a TIME-WAIT connection, then the
 * oldest LAST-ACK, then CLOSING, then the oldest connection of lower priority.  With
 * MEMP_MEM_MALLOC the "pool" is the heap, so that chain only runs when memory is truly
 * gone.  The limit that matters is enforced here instead, before tcp_alloc() is ever
 * reached: LWIP_HOOK_TCP_INPACKET_PCB sees each SYN addressed to a listener, and when
 * net.maxconn live connections exist it answers RST (the client sees "connection
 * refused") and drops the SYN.  TIME-WAIT PCBs are not live: they do not count, and
 * lwIP may reuse them.  Listeners made by net_tcp_listen() have TCP_PRIO_MIN, so even
 * under memory exhaustion tcp_kill_prio() finds nothing "lower" to kill.
 */
#include "net_priv.h"
#include "mm.h"
#include "kopt.h"
#include "lwip/stats.h"
#include "lwip/memp.h"
#include "lwip/ip.h"
#include "lwip/priv/tcp_priv.h"

static uint64_t opt_maxconn;
KOPT_U64("net.maxconn", opt_maxconn, 0, 1000000, "most TCP connections (0 = sized from memory)");

static uint32_t maxconn;
static uint64_t refused;

void net_guard_init(void)
{
    if (opt_maxconn) {
        maxconn = (uint32_t)opt_maxconn;
    } else {
        /* budget 64 KiB of memory per connection (buffers come and go), within [64, 16384] */
        uint64_t m = pmm_total_count() * PAGE_SIZE / (32 * 1024);
        maxconn = (uint32_t)MIN(MAX(m, 64), 16384);
    }
}

uint32_t net_tcp_max(void) { return maxconn; }
uint64_t net_tcp_refused(void) { return refused; }

static uint32_t pcbs_used(void) { return (uint32_t)lwip_stats.memp[MEMP_TCP_PCB]->used; }

uint32_t net_tcp_live(void)
{
    uint32_t tw = 0;
    for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next)
        tw++;
    uint32_t used = pcbs_used();
    return used > tw ? used - tw : 0;
}

bool net_guard_refuse(int state, uint8_t tcp_flags, uint32_t live, uint32_t max)
{
    /* only a fresh SYN to a listener would make tcp_alloc() run */
    if (state != LISTEN || (tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
        return false;
    return live >= max;
}

err_t net_tcp_inpacket_hook(struct tcp_pcb *pcb, struct tcp_hdr *hdr, u16_t optlen, u16_t opt1len,
                            u8_t *opt2, struct pbuf *p)
{
    if (pcb->state != LISTEN)
        return ERR_OK;
    /* cheap test first: the TIME-WAIT walk only happens near the limit */
    if (pcbs_used() < maxconn || !net_guard_refuse(pcb->state, TCPH_FLAGS(hdr), net_tcp_live(), maxconn))
        return ERR_OK;
    refused++;
    /* tcp_input() has already put the header fields in host order */
    tcp_rst(NULL, 0, hdr->seqno + 1, ip_current_dest_addr(), ip_current_src_addr(), hdr->dest, hdr->src);
    return ERR_ABRT;
}

struct tcp_pcb *net_tcp_listen(uint16_t port, tcp_accept_fn accept, void *arg)
{
    LWIP_ASSERT_CORE_LOCKED();
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
    if (!pcb)
        return NULL;
    tcp_setprio(pcb, TCP_PRIO_MIN);
    if (tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
        tcp_abort(pcb);
        return NULL;
    }
    struct tcp_pcb *l = tcp_listen_with_backlog(pcb, TCP_DEFAULT_LISTEN_BACKLOG);
    if (!l) {
        tcp_abort(pcb);
        return NULL;
    }
    tcp_arg(l, arg);
    tcp_accept(l, accept);
    return l;
}
