/* blockdev.h - the block device under the cache.  The embedder fills one in
 * (AHCI port in the kernel, a file in the host tests). */
#ifndef FS_BLOCKDEV_H
#define FS_BLOCKDEV_H

#include <stdint.h>

struct fs_blockdev {
    uint32_t sector_size;   /* bytes; must divide 4096 (512 or 4096) */
    uint64_t sectors;       /* device size in sectors */
    /* Synchronous from the caller's view (the kernel sleeps the calling
     * thread while DMA runs).  Return 0 or a negative errno.  Calls may
     * come from several threads at once. */
    int (*read)(struct fs_blockdev *dev, uint64_t lba, uint32_t count, void *buf);
    int (*write)(struct fs_blockdev *dev, uint64_t lba, uint32_t count, const void *buf);
    int (*flush)(struct fs_blockdev *dev);  /* make written data durable */
    void *priv;
};

#endif
