/*
 * lwIP 2.1.3 configuration for WorkToDo.
 *
 * NO_SYS=1: lwIP has no threads of its own.  Exactly one context is inside lwIP at a
 * time -- whoever holds the core lock (net/net_core.c): the receive WTD, the timer WTD,
 * or a thread that called net_core_lock().  LWIP_ASSERT_CORE_LOCKED checks it on
 * every raw API entry.  Memory comes from the kernel heap (kmalloc), so pools are
 * bounded by memory, not by lwIP's compile-time counts; the number of connections is
 * bounded at run time by net.maxconn (net/net_guard.c).
 */
#pragma once

/* ---- system ---- */
#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0     /* the core lock already excludes everyone */
#define LWIP_NETCONN                0
#define LWIP_SOCKET                 0
#define LWIP_TIMERS                 1
void net_assert_core_locked(void);
#define LWIP_ASSERT_CORE_LOCKED()   net_assert_core_locked()

/* ---- memory: everything from kmalloc ---- */
#define MEM_LIBC_MALLOC             1
#define MEMP_MEM_MALLOC             1
#define MEM_ALIGNMENT               8
void *net_mem_malloc(unsigned long size);
void *net_mem_calloc(unsigned long n, unsigned long size);
void net_mem_free(void *p);
#define mem_clib_malloc             net_mem_malloc
#define mem_clib_calloc             net_mem_calloc
#define mem_clib_free               net_mem_free
/* Nominal pool sizes: with MEMP_MEM_MALLOC they only satisfy lwIP's sanity checks. */
#define MEMP_NUM_TCP_PCB            16384
#define MEMP_NUM_TCP_PCB_LISTEN     32
#define MEMP_NUM_TCP_SEG            65535
#define MEMP_NUM_PBUF               4096
#define PBUF_POOL_SIZE              4096
#define MEMP_NUM_ARP_QUEUE          256

/* ---- protocols ---- */
#define LWIP_IPV4                   1
#define LWIP_IPV6                   0
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define ARP_TABLE_SIZE              64
#define ARP_QUEUEING                1
#define LWIP_ICMP                   1
#define LWIP_RAW                    0
#define LWIP_UDP                    1     /* DHCP */
#define LWIP_DHCP                   1
#define DHCP_DOES_ARP_CHECK         0     /* user-mode and tap networks have no conflicts; boots faster */
#define LWIP_AUTOIP                 0
#define LWIP_IGMP                   0
#define LWIP_DNS                    0
#define IP_REASSEMBLY               1
#define IP_FRAG                     1
#define LWIP_NETIF_STATUS_CALLBACK  1
#define LWIP_NETIF_LINK_CALLBACK    1
#define LWIP_NETIF_TX_SINGLE_PBUF   0     /* the driver takes pbuf chains as scatter-gather */

/* ---- TCP, tuned for throughput and thousands of connections ---- */
#define LWIP_TCP                    1
#define TCP_MSS                     1460
#define LWIP_WND_SCALE              1
#define TCP_RCV_SCALE               2
#define TCP_WND                     (128 * 1024)
#define TCP_SND_BUF                 (512 * 1024)
#define TCP_SND_QUEUELEN            (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT                (8 * TCP_MSS)
#define TCP_QUEUE_OOSEQ             1
#define TCP_LISTEN_BACKLOG          1
#define TCP_DEFAULT_LISTEN_BACKLOG  255   /* lwIP keeps the backlog in a u8_t */
/* Outgoing TCP checksums are the e1000's job (net.csum_offload, per-netif checksum flags),
 * so lwIP's copy into segments is a plain memcpy instead of a copy-and-sum. */
#define LWIP_CHECKSUM_ON_COPY       0
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
/* The sum itself, eight bytes a step (net/inet_sum.c): what is left to lwIP (IP headers,
 * incoming TCP) costs a quarter of its 16-bit loop. */
unsigned short net_inet_sum(const void *data, int len);
#define LWIP_CHKSUM                 net_inet_sum
#define LWIP_TCP_KEEPALIVE          1
#define TCP_OVERSIZE                TCP_MSS

/* Refuse connections past net.maxconn with a RST instead of letting tcp_alloc()
 * evict an existing connection (net/net_guard.c). */
#define LWIP_HOOK_FILENAME          "net_hooks.h"
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
    net_tcp_inpacket_hook(pcb, hdr, optlen, opt1len, opt2, p)
/* Initial sequence numbers per RFC 6528 from a boot secret, not lwIP's 6510 + tcp_ticks. */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
    net_tcp_isn(local_ip, local_port, remote_ip, remote_port)

/* ---- statistics for the `net` console command ---- */
#define LWIP_STATS                  1
#define LWIP_STATS_DISPLAY          0
#define LINK_STATS                  1
#define ETHARP_STATS                1
#define IP_STATS                    1
#define IPFRAG_STATS                1
#define ICMP_STATS                  1
#define UDP_STATS                   1
#define TCP_STATS                   1
#define MEM_STATS                   1
#define MEMP_STATS                  1
#define SYS_STATS                   0
#define LWIP_STATS_LARGE            1     /* 32-bit counters: 16 bits wrap within seconds */
