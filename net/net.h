/*
 * The network layer's API for the rest of the kernel (the file server in particular).
 *
 * lwIP runs with NO_SYS=1 under ONE core lock.  Raw-API callbacks (accept, recv, sent,
 * err, poll) run inside lwIP with the lock held: in the receive WTD of the e1000 driver
 * or in the timer WTD.  Rules for code running there or holding the lock:
 *   - never sleep (no disk I/O, no thread_sleep, no other mutex that may be held by a
 *     sleeper): queue a WTD or wake a thread instead, and have it call
 *     net_core_lock() ... tcp_write()/tcp_output() ... net_core_unlock() afterwards;
 *   - pbufs and pcbs are only touched with the lock held.
 * Listeners should be made with net_tcp_listen(): it sets the priority that keeps
 * lwIP from evicting connections and the large backlog.  New connections beyond
 * net.maxconn are refused with a RST (net/net_guard.c).
 *
 * Build: objects that include lwIP headers need $(NET_KCFLAGS) (see net/kernel.mk), e.g.
 *   $(BUILD)/k/server/%.o: KCFLAGS += $(NET_KCFLAGS)
 */
#pragma once
#include "types.h"
#include "lwip/tcp.h"

void net_core_lock(void);         /* may sleep: never from an interrupt handler */
void net_core_unlock(void);
bool net_core_locked(void);       /* by the current thread */

bool net_is_up(void);             /* the interface has an IPv4 address */
uint32_t net_ipv4_addr(void);     /* network byte order, 0 if none */

/* Under the core lock: a listener on port with TCP_PRIO_MIN and the full backlog. */
struct tcp_pcb *net_tcp_listen(uint16_t port, tcp_accept_fn accept, void *arg);

/* The hash index of active connections (net/net_pcb_index.c), under the core lock: a
 * service adds a connection it accepted, and removes it (by the addresses it was added with:
 * remote IP in network order, ports in host order) before closing or aborting it and in its
 * error callback.  Indexed connections are found in O(1) by tcp_input. */
void net_pcb_index_add(struct tcp_pcb *pcb);
void net_pcb_index_del(struct tcp_pcb *pcb, uint32_t remote_ip, uint16_t remote_port, uint16_t local_port);
void net_pcb_index_stats(uint64_t *hits, uint64_t *misses, uint32_t *used);

/* Connection accounting (net/net_guard.c). */
uint32_t net_tcp_live(void);      /* PCBs in use, not counting TIME-WAIT */
uint32_t net_tcp_max(void);
uint64_t net_tcp_refused(void);

/* Drops counted anywhere on the receive path (driver, device, lwIP). */
uint64_t net_rx_drops_total(void);
