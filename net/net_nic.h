/*
 * The NIC under the lwIP interface: a small table of operations, implemented over the
 * e1000 (net_nic_e1000.c) and over virtio-net (net_nic_virtio.c).  net_netif.c, net_core.c
 * and net_cmd.c use only this; the kernel option net.nic= picks the driver when both
 * devices are present (e1000 by default).  All operations but pick run under the core lock.
 */
#pragma once
#include "types.h"
#include "lwip/netif.h"

struct net_seg { uint64_t addr; uint32_t len; };          /* physical */
/* The device stores the one's-complement sum of the frame's bytes from `start` to its end
 * at `offset` (both from the frame's first byte); the field holds the pseudo-header sum. */
struct net_csum { uint8_t start, offset; };

struct nic_ops {
    const char *driver;                                  /* "e1000", "virtio-net" */
    void *(*find)(void);                                 /* the probed device, or NULL */
    void (*mac)(void *dev, uint8_t out[6]);
    bool (*offloads_tx_csum)(void *dev);                 /* -> nic.tx_csum */
    bool (*vouches_rx_csum)(void *dev);                  /* -> nic.rx_csum */
    bool (*link_up)(void *dev);
    bool (*link_changed)(void *dev);                     /* the WTD: a link change to report */
    uint32_t (*rx_poll)(void *dev, uint32_t budget, struct netif *nif);
    /* csum NULL: the frame goes as it is */
    bool (*tx_queue)(void *dev, const struct net_seg *s, uint32_t n, void *cookie, const struct net_csum *cs);
    void (*tx_kick)(void *dev);
    uint32_t (*tx_reclaim)(void *dev, void (*done)(void *cookie, void *arg), void *arg);
    uint32_t (*tx_max_segs)(void *dev);
    void (*reschedule)(void *dev);                       /* queue the receive WTD again */
    bool (*rearm)(void *dev);                            /* after a poll; true = work waiting */
    void (*hw_stats)(void *dev);                         /* periodic, from the timer WTD */
    uint64_t (*rx_drops)(void *dev);
    void (*print)(void *dev);                            /* the `net` command's device lines */
    int (*start)(void *dev, struct netif *nif);          /* interrupts on; the WTD calls net_netif_work */
};

struct nic {
    const struct nic_ops *ops;
    void *dev;
    uint8_t mac[6];
    bool tx_csum;            /* the device can insert TCP checksums */
    bool rx_csum;            /* the device vouches for received checksums (per frame) */
};

/* The NIC chosen at boot (net.nic=), or NULL if there is none. */
struct nic *net_nic(void);
extern const struct nic_ops net_nic_e1000_ops, net_nic_virtio_ops;

/* net_netif.c: one received frame, as pieces, into lwIP; csum_ok: the device checked it. */
struct vnet_piece;
bool net_netif_input(struct netif *nif, const void *const *data, const uint32_t *lens, uint32_t n, uint32_t len,
                     bool csum_ok);
void net_netif_work(struct nic *nic, struct netif *nif);
