/* lwIP hooks (LWIP_HOOK_FILENAME): included by lwIP's own sources after their headers. */
#pragma once
#include "lwip/tcp.h"
#include "lwip/prot/tcp.h"

/* Runs for every TCP segment matched to a PCB; anything but ERR_OK drops the segment. */
err_t net_tcp_inpacket_hook(struct tcp_pcb *pcb, struct tcp_hdr *hdr, u16_t optlen, u16_t opt1len,
                            u8_t *opt2, struct pbuf *p);

/* Where lwIP's tcp_input starts its walk of the active connections (net/net_pcb_index.c;
 * wired in by the tcp_in.c that net/kernel.mk generates). */
struct tcp_pcb *net_tcp_lookup_hint(u16_t src_port, u16_t dest_port);

/* TCP initial sequence numbers (RFC 6528, net/net_isn.c), under the core lock. */
u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip, u16_t remote_port);
