/*
 * virtio-net (one receive and one transmit queue): the same shape of interface the e1000
 * gives net/.  It knows nothing of lwIP: frames go up as pieces to a callback and come
 * down as physical segments with a cookie handed back when the device is done with them.
 *
 * Context rules, as for the e1000: the hard handlers only count and queue the device's
 * WTD, which calls the `work` function given to vnet_start(); everything else must be
 * serialized by the caller (net/ calls it only under its core lock).
 */
#pragma once
#include "types.h"

struct vnet_dev;

struct vnet_seg { uint64_t addr; uint32_t len; };          /* physical */
/* The device inserts the one's-complement sum of the frame from `start` to its end at
 * start + offset (the caller seeds that field with the pseudo-header sum). */
struct vnet_csum { uint16_t start, offset; };
struct vnet_piece { const void *data; uint32_t len; };

struct vnet_stats {
    uint64_t rx_frames, rx_bytes, rx_merged, rx_dropped, rx_refused, rx_oversize, rx_runt, rx_bad_merge;
    uint64_t rx_csum_trusted, rx_refills, rx_refill_batches;
    uint64_t tx_frames, tx_bytes, tx_ring_full, tx_csum;
    uint64_t link_changes;
};

/* The probed device, or NULL (set by the INIT_DRIVER initcall). */
struct vnet_dev *vnet_get(void);
const char *vnet_name(struct vnet_dev *d);
void vnet_mac(struct vnet_dev *d, uint8_t mac[6]);
bool vnet_link_up(struct vnet_dev *d);
/* Transmit checksum offload (VIRTIO_NET_F_CSUM) and received checksums the device vouches
 * for (VIRTIO_NET_F_GUEST_CSUM): when negotiated, every frame handed up says whether its
 * TCP/UDP checksum is known good (see vnet_deliver_fn). */
bool vnet_tx_csum(struct vnet_dev *d);
bool vnet_rx_csum(struct vnet_dev *d);
void vnet_get_stats(struct vnet_dev *d, struct vnet_stats *out);
/* Enables interrupts; from then on the device's WTD calls work(dev, arg). */
int vnet_start(struct vnet_dev *d, void (*work)(struct vnet_dev *, void *), void *arg);
/* Interrupts off and the WTD idle again (a device its user lets go of). */
void vnet_stop(struct vnet_dev *d);
/* Queues the device's WTD again (more work than one budget). */
void vnet_reschedule(struct vnet_dev *d);
/* Reads the link status after a configuration interrupt; true if it changed. */
bool vnet_link_check(struct vnet_dev *d);

/* A received frame as pieces (MRG_RXBUF spreads one over several buffers); csum_ok: the
 * device says its checksum needs no check (NEEDS_CSUM or DATA_VALID).  false if the stack
 * could not take it. */
typedef bool (*vnet_deliver_fn)(void *arg, const struct vnet_piece *p, uint32_t n, uint32_t len, bool csum_ok);
/* Hands up to `budget` frames to deliver(), then gives the buffers back to the device in
 * one batch with one notification.  Returns frames taken off the ring. */
uint32_t vnet_rx_poll(struct vnet_dev *d, uint32_t budget, vnet_deliver_fn deliver, void *arg);
/* Queues one frame of nseg segments (csum NULL: no offload); false if there is no room.
 * The device is told only by vnet_tx_kick (one notification per burst). */
bool vnet_tx_queue(struct vnet_dev *d, const struct vnet_seg *segs, uint32_t nseg, void *cookie,
                   const struct vnet_csum *csum);
void vnet_tx_kick(struct vnet_dev *d);
/* Largest nseg vnet_tx_queue takes. */
uint32_t vnet_tx_max_segs(struct vnet_dev *d);
/* Hands every sent frame's cookie to done(); returns how many. */
uint32_t vnet_tx_reclaim(struct vnet_dev *d, void (*done)(void *cookie, void *arg), void *arg);
/* Asks for interrupts again after a poll; true if work is already waiting. */
bool vnet_irq_rearm(struct vnet_dev *d);
