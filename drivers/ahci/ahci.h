/*
 * AHCI SATA disks (QEMU's ICH9 controller on q35).  Synchronous calls from the caller's
 * view: the calling thread or WTD worker sleeps while the DMA runs and is woken by a
 * completion WTD the interrupt handler queued; it never polls.  Several callers may have
 * commands in flight at once (one command slot each).  Errors come back as negative
 * errno values (Linux numbers): -EIO device error, -ETIMEDOUT no completion in
 * ahci.timeout_ms (the port is recovered either way), -EINVAL bad arguments.
 * Knows nothing of files: fs/kernel/storage.c puts the block cache on top.
 */
#pragma once
#include "types.h"

#define AHCI_EIO        5
#define AHCI_ENOMEM    12
#define AHCI_EINVAL    22
#define AHCI_ENODEV    19
#define AHCI_ETIMEDOUT 110

struct ahci_disk;

struct ahci_disk_info {
    int port;
    char model[41];
    char serial[21];
    uint64_t sectors;           /* addressable sectors */
    uint32_t sector_size;       /* bytes (512) */
    bool lba48;
    uint32_t slots;             /* command slots used (commands in flight at most) */
};

struct ahci_stats {
    uint64_t reads, writes, flushes, other;         /* commands completed */
    uint64_t sectors_read, sectors_written;
    uint64_t interrupts, errors, timeouts, recoveries, reissued;
    uint64_t slot_waits;        /* a caller found every slot busy and slept */
    uint32_t in_flight, peak_in_flight;
};

int ahci_disk_count(void);
struct ahci_disk *ahci_get_disk(int i);         /* NULL if there is no such disk */
void ahci_get_info(struct ahci_disk *d, struct ahci_disk_info *out);
void ahci_get_stats(struct ahci_disk *d, struct ahci_stats *out);

/* buf may be any kernel memory (heap, identity map or a thread stack): the driver builds
 * its scatter list from the physical pages; counts must fit the buffer.  Transfers of any
 * length are split into commands the slot's PRDT can describe. */
int ahci_read(struct ahci_disk *d, uint64_t lba, uint32_t count, void *buf);
int ahci_write(struct ahci_disk *d, uint64_t lba, uint32_t count, const void *buf);
int ahci_flush(struct ahci_disk *d);
