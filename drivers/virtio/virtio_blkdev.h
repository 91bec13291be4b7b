/*
 * virtio-blk disks: the same synchronous interface the AHCI driver gives fs/kernel/storage.c.
 * The calling thread or WTD worker sleeps while the device works and is woken by a
 * completion WTD the interrupt queued (never a poll).  Many callers may have requests in
 * flight at once (up to vblk_info.max_in_flight).  Errors are negative errno values (Linux
 * numbers, as ahci.h): -EIO device error, -ETIMEDOUT no completion in virtio_blk.timeout_ms
 * (the device is reset, the other requests re-issued), -EROFS a write to a read-only
 * device (VIRTIO_BLK_F_RO), -EINVAL bad arguments.
 */
#pragma once
#include "types.h"

#define VBLK_EIO        5
#define VBLK_ENOMEM    12
#define VBLK_ENODEV    19
#define VBLK_EINVAL    22
#define VBLK_EROFS     30
#define VBLK_ETIMEDOUT 110

struct vblk_disk;

struct vblk_info {
    char name[24];              /* "virtio-blk 00:04.0" */
    uint64_t sectors;           /* in sector_size units */
    uint32_t sector_size;       /* logical block size (BLK_SIZE, else 512) */
    bool read_only;             /* VIRTIO_BLK_F_RO */
    bool flush;                 /* VIRTIO_BLK_F_FLUSH negotiated: the device caches writes */
    uint32_t queue_size;
    uint32_t seg_max;           /* data segments per request */
    uint32_t max_in_flight;
};

struct vblk_stats {
    uint64_t reads, writes, flushes, sectors_read, sectors_written;
    uint64_t errors, timeouts, resets, reissued, slot_waits;
    uint32_t in_flight, peak_in_flight;
};

/* lba and count in sector_size units; buf any kernel memory (the driver translates). */
int vblk_read(struct vblk_disk *d, uint64_t lba, uint32_t count, void *buf);
int vblk_write(struct vblk_disk *d, uint64_t lba, uint32_t count, const void *buf);
/* Makes written data durable: VIRTIO_BLK_T_FLUSH (0 at once if the device did not offer
 * FLUSH: QEMU then writes through). */
int vblk_flush(struct vblk_disk *d);

/* The usable disks in probe order: NULL past the last one. */
struct vblk_disk *vblk_disk(int i);
const struct vblk_info *vblk_info(struct vblk_disk *d);
void vblk_read_stats(struct vblk_disk *d, struct vblk_stats *out);
