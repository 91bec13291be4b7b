/* Shared between the files of net/ only. */
#pragma once
#include "net.h"
#include "lwip/netif.h"

extern struct netif net_if;

/* net_netif.c (net_netif_work and net_netif_input: net_nic.h) */
err_t net_netif_init(struct netif *nif);          /* netif_add() init callback; state = struct nic */
struct net_tx_stats { uint64_t queued, queue_peak, dropped, linearized, csum_offloaded, rx_csum_bad; uint32_t queue_len; };
void net_netif_tx_stats(struct net_tx_stats *s);
void net_netif_tx_flush(void);       /* net_core_unlock: one TDT write per burst */

/* net_guard.c */
void net_guard_init(void);
bool net_guard_refuse(int state, uint8_t tcp_flags, uint32_t live, uint32_t max);   /* pure */

/* net_services.c */
void net_services_start(void);                    /* under the core lock */
