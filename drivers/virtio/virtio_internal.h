/*
 * Shared between drivers/virtio's files (and its in-guest tests): the PCI transport's
 * device, the split virtqueue, and the uapi layouts they use.  The layouts and constants
 * are Linux's uapi headers (linux-libc-dev), included with the *_NO_LEGACY macros set by
 * drivers/virtio/kernel.mk, so only the modern (virtio 1.0) interface is visible.
 */
#pragma once
#include "types.h"
#include "wtd.h"
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_PCI_MODERN_BASE 0x1040      /* modern device ID = 0x1040 + virtio device type */
#define VIRTIO_ID_NET_TYPE 1
#define VIRTIO_ID_BLK_TYPE 2
#define VQ_MAX_SIZE 1024                   /* largest ring we set up (docs/security.md) */
#define VQ_MIN_SIZE 8                      /* smaller rings are refused: the device is skipped */
#define VIRTIO_MAX_QUEUES 3                /* net: rx, tx (no control queue); blk: one */

struct pci_dev;

/* ---- the split virtqueue (virtqueue.c): memory only, no device registers ---- */

struct vq_buf {
    uint64_t addr;      /* physical */
    uint32_t len;
    bool device_writes; /* an "in" buffer */
};

struct virtq_stats {
    uint64_t added, completed, kicks, kicks_suppressed, full, indirect, bad_used, irqs;
};

struct virtq {
    const char *name;
    uint16_t num, index;
    struct vring_desc *desc;
    struct vring_avail *avail;          /* + used_event after ring[num] */
    struct vring_used *used;            /* + avail_event after ring[num] */
    /* driver state: guarded by whoever owns the queue (irqs off for blk, the core lock
     * for net); the device writes only used->ring, used->idx and avail_event */
    uint16_t free_head, num_free;
    uint16_t avail_shadow;              /* next avail->idx to publish */
    uint16_t last_kick;                 /* avail->idx at the last notification decision */
    uint16_t last_used;                 /* next used->ring entry to look at */
    bool event_idx, indirect;
    uint16_t ind_max;                   /* descriptors in each head's indirect table */
    struct vring_desc *ind;             /* num * ind_max, physically contiguous */
    void **cookie;                      /* by head descriptor; NULL = free */
    uint16_t *chain;                    /* ring descriptors each head holds */
    volatile uint16_t *notify;          /* the transport's doorbell for this queue */
    int msix_vector;                    /* -1: INTx */
    struct virtq_stats st;
};

/* Sizes of the three parts of a ring of num entries (virtio 1.0 2.6). */
static inline size_t vq_desc_bytes(uint16_t num) { return 16u * num; }
static inline size_t vq_avail_bytes(uint16_t num) { return 6u + 2u * num; }
static inline size_t vq_used_bytes(uint16_t num) { return 6u + 8u * num; }
#define vq_used_event(q) ((q)->avail->ring[(q)->num])
/* avail_event sits where used->ring[num] would start (a 16-bit field in 8-byte elements) */
typedef uint16_t __attribute__((may_alias)) vq_u16_alias;
#define vq_avail_event(q) (*(volatile vq_u16_alias *)(void *)&(q)->used->ring[(q)->num])

/* Allocates the ring (num a power of two) and ind_max-entry indirect tables (0: none). */
int vq_alloc(struct virtq *q, const char *name, uint16_t index, uint16_t num, uint16_t ind_max);
void vq_free(struct virtq *q);
/* Resets the driver's view (all descriptors free, indices 0) after a device reset. */
void vq_reset(struct virtq *q);
/* Adds one request of n_out device-readable then n_in device-writable buffers; the
 * request's cookie comes back from vq_get_used.  Uses an indirect table when the queue
 * has them and the request needs more than one descriptor.  false (counted) if there is
 * no room.  Publishes avail->idx at once; the device is told only by vq_kick. */
bool vq_add(struct virtq *q, const struct vq_buf *b, uint32_t n_out, uint32_t n_in, void *cookie);
/* Whether the device must be notified of what was added since the last call (EVENT_IDX:
 * avail_event crossed; else used->flags NO_NOTIFY clear). */
bool vq_kick_prepare(struct virtq *q);
/* vq_kick_prepare, then the doorbell if needed. */
void vq_kick(struct virtq *q);
/* The next completed request's cookie and the bytes the device wrote, or NULL. */
void *vq_get_used(struct virtq *q, uint32_t *len);
bool vq_has_used(struct virtq *q);
/* Asks for an interrupt at the next completion; true if completions are already waiting
 * (the caller must look again: one may have slipped in before the request). */
bool vq_enable_intr(struct virtq *q);
void vq_disable_intr(struct virtq *q);
/* Cookies of requests still with the device (after a reset): calls fn for each, frees all. */
void vq_drain_pending(struct virtq *q, void (*fn)(void *cookie, void *arg), void *arg);

/* ---- the PCI transport (virtio_pci.c) ---- */

struct virtio_dev {
    struct pci_dev *pci;
    char name[24];                      /* "virtio-blk 00:03.0" */
    uint32_t type;                      /* VIRTIO_ID_*_TYPE */
    volatile struct virtio_pci_common_cfg *common;
    volatile uint8_t *isr;
    volatile uint8_t *devcfg;
    uintptr_t notify_base;
    uint32_t notify_mult;
    bool transitional;                  /* also has a legacy I/O BAR (which we ignore) */
    uint64_t features;                  /* negotiated */
    uint64_t offered;                   /* what the device offered */
    uint16_t num_queues;
    /* interrupts */
    bool msix;
    uint8_t msix_cap;
    volatile uint32_t *msix_table;
    int config_vector;                  /* MSI-X vector of config changes, -1 if none */
    int gsi;
    void (*on_queue_irq)(struct virtio_dev *d, int queue);    /* from the hard handler */
    void (*on_config_irq)(struct virtio_dev *d);
    void *drv;                          /* the driver's device */
    struct virtq *queues[VIRTIO_MAX_QUEUES];
    bool irqs_routed;                   /* handlers may hold d: it is never freed */
    uint64_t irqs, irqs_spurious, config_irqs;
};

/* Finds the modern capabilities and maps them; -errno (and says why) if unusable. */
int virtio_pci_init(struct virtio_dev *d, struct pci_dev *p, uint32_t type, const char *kind);
void virtio_reset(struct virtio_dev *d);
/* ACKNOWLEDGE, DRIVER, features: offered & wanted, which must include every bit of
 * `required` (VERSION_1 is always required); FEATURES_OK read back.  -errno with the
 * missing feature named. */
int virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required);
/* Pure: the feature set a driver asks for; missing gets the first required bit absent. */
uint64_t virtio_features_pick(uint64_t offered, uint64_t wanted, uint64_t required, int *missing);
static inline bool virtio_has(const struct virtio_dev *d, int bit) { return d->features >> bit & 1; }
/* Sets queue `index` up with at most max_num entries (the device's size if smaller;
 * smaller than VQ_MIN_SIZE refuses). */
int virtio_setup_queue(struct virtio_dev *d, struct virtq *q, const char *name, uint16_t index,
                       uint16_t max_num, uint16_t ind_max);
/* Routes interrupts: MSI-X with a vector per queue (and one for config changes), else
 * INTx through the IOAPIC; every one a hooked source of `kind`.  Call after the queues
 * are set up and before virtio_driver_ok. */
int virtio_setup_irqs(struct virtio_dev *d, int kind);
/* A device the driver gives up on: reset (it lets go of every buffer), marked FAILED, its
 * queues freed.  True if the caller may free d (no handler was routed to it). */
bool virtio_abandon(struct virtio_dev *d);
void virtio_driver_ok(struct virtio_dev *d);
uint8_t virtio_cfg8(struct virtio_dev *d, uint32_t off);
uint16_t virtio_cfg16(struct virtio_dev *d, uint32_t off);
uint32_t virtio_cfg32(struct virtio_dev *d, uint32_t off);
uint64_t virtio_cfg64(struct virtio_dev *d, uint32_t off);
/* Re-runs the bring-up after a reset (same features, same queues), for recovery. */
int virtio_reinit(struct virtio_dev *d);

/* The registry the `virtio` console command walks. */
void virtio_register(struct virtio_dev *d);
int virtio_count(void);
struct virtio_dev *virtio_get(int i);
extern bool virtio_opt_intx;

/* Tests only (virtio_blk.c): a timeout that overrides virtio_blk.timeout_ms when nonzero;
 * the handler drops this many interrupts (a lost completion); while `stall` is set the
 * driver does not look at the used ring (a device that never answers). */
extern uint64_t vblk_timeout_ms_for_tests;
extern volatile uint32_t vblk_test_drop_irqs;
extern volatile bool vblk_test_stall;
