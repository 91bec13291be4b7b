/* lwIP hooks (LWIP_HOOK_FILENAME): included by lwIP's own sources after their headers. */
#pragma once
#include "lwip/tcp.h"
#include "lwip/prot/tcp.h"

/* Runs for every TCP segment matched to a PCB; anything but ERR_OK drops the segment. */
err_t net_tcp_inpacket_hook(struct tcp_pcb *pcb, struct tcp_hdr *hdr, u16_t optlen, u16_t opt1len,
                            u8_t *opt2, struct pbuf *p);
