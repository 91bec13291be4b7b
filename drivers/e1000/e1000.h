/*
 * Intel 82540EM driver (QEMU -device e1000).  It knows nothing of lwIP: frames go up
 * as (data, length) to a callback and come down as lists of physical segments with an
 * opaque cookie that is handed back when the device has sent them.
 *
 * Context rules.  The hard interrupt handler only reads ICR (which acknowledges it),
 * counts, and queues the device's WTD; the WTD calls the 'work' function given to
 * e1000_start().  Everything else (e1000_rx_poll, e1000_tx, e1000_tx_reclaim,
 * e1000_link_check) must be serialized by the caller -- net/ calls them only under
 * its core lock.
 */
#pragma once
#include "types.h"
#include "wtd.h"
#include "e1000_ring.h"

struct pci_dev;
struct e1000_rx_desc;
struct e1000_tx_desc;

struct e1000_seg {
    uint64_t addr;     /* physical */
    uint32_t len;
};

struct e1000_stats {
    struct e1000_rx_counts rx;            /* accepted frames and driver-level drops */
    uint64_t rx_refused;                  /* handed up but the stack could not take them */
    uint64_t tx_frames, tx_bytes, tx_ring_full, tx_contexts;
    uint64_t irqs, irqs_spurious, irq_rx, irq_tx, irq_lsc, irq_overrun;
    uint64_t link_changes;
    /* device statistics registers (clear on read), accumulated */
    uint64_t hw_missed, hw_no_buf, hw_undersize, hw_oversize, hw_crc, hw_rx_err;
};

/* Where the device inserts a TCP/UDP checksum (see e1000_tx_queue_csum). */
struct e1000_csum { uint8_t start, offset; };

struct e1000_dev {
    struct pci_dev *pci;
    uintptr_t mmio;
    uint8_t mac[6];
    bool link_up;
    uint32_t itr_per_sec;
    /* receive */
    struct e1000_rx_desc *rxd;
    uint64_t *rx_buf;                     /* physical address of each slot's buffer */
    struct e1000_ring rx;
    bool rx_in_fragment;
    /* transmit */
    struct e1000_tx_desc *txd;
    void **tx_cookie;                     /* set on a frame's last slot */
    struct e1000_ring tx;
    bool tx_kick_pending;                 /* descriptors written, TDT not yet */
    struct e1000_csum tx_ctx;             /* checksum context the device holds ({0,0}: none) */
    /* interrupt side */
    volatile uint32_t icr_pending;        /* causes not yet seen by the WTD */
    struct wtd wtd;
    void (*work)(struct e1000_dev *dev, void *arg);
    void *work_arg;
    struct e1000_stats st;
};

/* The probed device, or NULL if there is none (set by the INIT_DRIVER initcall). */
struct e1000_dev *e1000_get(void);
/* Enables interrupts; from then on the device's WTD calls work(dev, arg). */
int e1000_start(struct e1000_dev *dev, void (*work)(struct e1000_dev *, void *), void *arg);
/* Interrupt causes since the last call (the WTD reads them to decide what to do). */
uint32_t e1000_take_icr(struct e1000_dev *dev);
/* The cause bit in e1000_take_icr's result that says the link changed (ICR.LSC). */
#define E1000_CAUSE_LINK (1u << 2)

/* Receives up to 'budget' frames, giving good ones to deliver(); returns descriptors
 * consumed (good or dropped).  deliver() returns false if it could not take the frame. */
typedef bool (*e1000_deliver_fn)(void *arg, const void *data, uint32_t len);
uint32_t e1000_rx_poll(struct e1000_dev *dev, uint32_t budget, e1000_deliver_fn deliver, void *arg);
/* Queues one frame of nseg segments; false (and counts ring-full) if there is no room.
 * Never waits. */
bool e1000_tx(struct e1000_dev *dev, const struct e1000_seg *segs, uint32_t nseg, void *cookie);
/* The same without telling the device: a burst of frames is queued, then one TDT write
 * (e1000_tx_kick) hands them all over -- under QEMU every TDT write is an exit into the
 * device model, so one per burst instead of one per frame. */
bool e1000_tx_queue(struct e1000_dev *dev, const struct e1000_seg *segs, uint32_t nseg, void *cookie);
/* The same with the TCP/UDP checksum inserted by the device: the one's-complement sum of
 * the frame's bytes from `start` to its end is stored at `offset` (the caller seeds that
 * field with the pseudo-header sum).  Under QEMU the sum is then computed by the host
 * instead of by emulated guest code. */
bool e1000_tx_queue_csum(struct e1000_dev *dev, const struct e1000_seg *segs, uint32_t nseg, void *cookie,
                         struct e1000_csum csum);
void e1000_tx_kick(struct e1000_dev *dev);
uint32_t e1000_tx_free_slots(struct e1000_dev *dev);
/* Hands every sent frame's cookie to done(); returns how many frames completed. */
uint32_t e1000_tx_reclaim(struct e1000_dev *dev, void (*done)(void *cookie, void *arg), void *arg);
/* Reads the link bit; returns true if it changed. */
bool e1000_link_check(struct e1000_dev *dev);
/* Folds the clear-on-read statistics registers into dev->st. */
void e1000_hw_stats_update(struct e1000_dev *dev);
