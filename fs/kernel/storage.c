/*
 * Storage at boot: the first AHCI disk, or the first virtio-blk disk (storage.blk= picks
 * when there are both; AHCI by default), becomes a struct fs_blockdev, the block cache goes
 * on top (bcache.mb= MiB of 4 KiB buffers) and the ext2 volume is mounted.  A flusher
 * thread writes dirty buffers back every storage.flush_ms; `sync` and the shutdown hook
 * make everything durable.  No disk, or a disk without a usable ext2 file system, is
 * reported and the kernel carries on: storage_volume() is then NULL.
 */
#include "fs/kernel/storage.h"
#include "fs/bcache.h"
#include "fs/ext2.h"
#include "drivers/ahci/ahci.h"
#include "drivers/virtio/virtio_blkdev.h"
#include "string.h"
#include "sched.h"
#include "time.h"
#include "kopt.h"
#include "init.h"
#include "power.h"
#include "printf.h"

static uint64_t opt_cache_mb = 128, opt_flush_ms = 2000;
KOPT_U64("bcache.mb", opt_cache_mb, 1, 3072, "block cache size in MiB (4 KiB buffers)");
KOPT_U64("storage.flush_ms", opt_flush_ms, 10, 3600000, "interval of the dirty-buffer flusher");
static const char *opt_blk;
KOPT_STR("storage.blk", opt_blk, "disk driver when both kinds are present: ahci (default) or virtio");

static struct fs_blockdev blockdev;
static struct bcache *cache;
static struct ext2_fs *volume;
static struct storage_stats sst;

struct ext2_fs *storage_volume(void) { return volume; }
struct bcache *storage_cache(void) { return cache; }
void storage_get_stats(struct storage_stats *out) { *out = sst; }

/* ---- the block device: driver calls that sleep the calling thread or worker ---- */

static const char *driver_name = "none";
static bool on_virtio;
const char *storage_driver(void) { return driver_name; }

static int bd_read(struct fs_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
    if (lba + count > dev->sectors || lba + count < lba)
        return -22;
    if (on_virtio)
        return vblk_read(dev->priv, lba, count, buf);
    return ahci_read(dev->priv, lba, count, buf);
}

static int bd_write(struct fs_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
    if (lba + count > dev->sectors || lba + count < lba)
        return -22;
    if (on_virtio)
        return vblk_write(dev->priv, lba, count, buf);
    return ahci_write(dev->priv, lba, count, buf);
}

static int bd_flush(struct fs_blockdev *dev)
{
    __atomic_fetch_add(&sst.dev_flushes, 1, __ATOMIC_RELAXED);
    if (on_virtio)
        return vblk_flush(dev->priv);
    return ahci_flush(dev->priv);
}

/* ---- write-back ---- */

#define FLUSH_BATCH 256u

/* The cache's memory beyond what the mount needs is added here, after the file service
 * is up: filling 128 MiB of buffers takes ~35 ms of boot otherwise. */
#define CACHE_FIRST_BUFFERS 4096u            /* 16 MiB at boot */
static void grow_cache(void)
{
    thread_sleep_ms(200);
    int r;
    do {
        r = bcache_grow(cache, 1024);
        thread_yield();
    } while (r > 0);
    if (r < 0) {
        struct bcache_stats st;
        bcache_get_stats(cache, &st);
        kprintf("storage: out of memory for the block cache: %u of %u MiB\n", st.nbuffers / 256, st.capacity / 256);
    }
}

static void flusher(void *arg)
{
    grow_cache();
    for (;;) {
        thread_sleep_ms(opt_flush_ms);
        if (volume) {
            int jr = ext2_journal_tick(volume);   /* ext3: a commit every 5 s, checkpoints */
            if (jr)
                kprintf("storage: journal: error %d\n", jr);
        }
        struct bcache_stats st;
        bcache_get_stats(cache, &st);
        if (!st.dirty)
            continue;
        sst.flusher_runs++;
        int n;
        do {
            n = bcache_flush_some(cache, FLUSH_BATCH);
            if (n > 0)
                sst.flusher_blocks += (uint64_t)n;
        } while (n == (int)FLUSH_BATCH);
        if (n < 0)
            kprintf("storage: flusher: write error %d\n", n);
    }
}

int storage_sync(void)
{
    sst.syncs++;
    if (volume)
        return ext2_sync(volume);
    return cache ? bcache_sync(cache) : -19;
}

/* Runs before power-off.  ext2_shutdown rather than unmount: a request still running in
 * a worker may hold the volume, and freeing it under that request could crash the
 * power-off.  The volume turns read-only, the superblock is marked clean, all is synced. */
static void storage_shutdown(void)
{
    if (!cache)
        return;
    if (!volume) {
        int r = bcache_sync(cache);
        kprintf("storage: %s\n", r == 0 ? "synced" : "sync FAILED");
        return;
    }
    bool ro = ext2_is_read_only(volume);
    int r = ext2_shutdown(volume);
    if (r)
        kprintf("storage: sync FAILED (%d): the volume is not marked clean on disk\n", r);
    else
        kprintf("storage: synced%s\n", ro ? " (read-only: superblock untouched)" : ", volume marked clean");
}

/* The disk: AHCI's first unless storage.blk=virtio (or there is no AHCI disk). */
static bool pick_disk(char *where, size_t n, bool *read_only)
{
    bool want_virtio = opt_blk && strcmp(opt_blk, "virtio") == 0;
    if (opt_blk && !want_virtio && strcmp(opt_blk, "ahci") != 0)
        kprintf("storage: storage.blk=%s is neither ahci nor virtio: using what is there\n", opt_blk);
    struct ahci_disk *a = ahci_get_disk(0);
    struct vblk_disk *v = vblk_disk(0);
    if (v && (want_virtio || !a)) {
        const struct vblk_info *vi = vblk_info(v);
        blockdev.sector_size = vi->sector_size;
        blockdev.sectors = vi->sectors;
        blockdev.priv = v;
        on_virtio = true;
        driver_name = "virtio-blk";
        *read_only = vi->read_only;     /* VIRTIO_BLK_F_RO: ext2 is mounted read-only */
        ksnprintf(where, n, "%s", vi->name);
        return true;
    }
    if (!a)
        return false;
    if (want_virtio)
        kprintf("storage: storage.blk=virtio but there is no virtio-blk disk: using AHCI\n");
    struct ahci_disk_info in;
    ahci_get_info(a, &in);
    blockdev.sector_size = in.sector_size;
    blockdev.sectors = in.sectors;
    blockdev.priv = a;
    driver_name = "ahci";
    *read_only = false;
    ksnprintf(where, n, "ahci port %d", in.port);
    return true;
}

static int storage_init(void)
{
    char where[32];
    bool read_only;
    if (!pick_disk(where, sizeof where, &read_only)) {
        kprintf("storage: no disk: the file service will answer errors\n");
        return 0;
    }
    blockdev.read = bd_read;
    blockdev.write = bd_write;
    blockdev.flush = bd_flush;
    uint64_t nbuf = opt_cache_mb * 256;
    cache = bcache_init_partial(&blockdev, (uint32_t)nbuf, nbuf < CACHE_FIRST_BUFFERS ? (uint32_t)nbuf : CACHE_FIRST_BUFFERS);
    if (!cache) {
        kprintf("storage: no memory for a %lu MiB block cache (bcache.mb=)\n", opt_cache_mb);
        return -12;
    }
    power_register_shutdown_hook(storage_shutdown);
    thread_detach(thread_create("flusher", flusher, NULL));
    int r = ext2_mount(cache, read_only ? EXT2_MOUNT_RDONLY : 0, &volume);
    if (r < 0) {
        volume = NULL;
        kprintf("storage: the disk (%s) holds no usable ext2 file system (error %d): "
                "the file service will answer errors\n", where, r);
        return 0;
    }
    /* Write the mount's superblock change (state "not clean") now, so the flusher has
     * nothing to do until somebody writes: background I/O stays tied to real work. */
    if (!ext2_is_read_only(volume) && (r = ext2_sync(volume)) != 0)
        kprintf("storage: sync after mount failed (%d)\n", r);
    struct ext2_stats es;
    ext2_get_stats(volume, &es);
    if (es.unclean_mount)
        kprintf("storage: the volume was not cleanly unmounted (no journal): run e2fsck on it\n");
    struct ext2_statfs sf;
    ext2_statfs(volume, &sf);
    kprintf("storage: ext2 on %s (driver %s) mounted%s: %lu MiB, %lu MiB free, %lu/%lu inodes free; cache %lu MiB; mount count %lu\n",
            where, driver_name, sf.read_only ? " READ-ONLY" : "", sf.blocks * sf.block_size >> 20,
            sf.free_blocks * sf.block_size >> 20, sf.free_inodes, sf.inodes, opt_cache_mb, es.mount_count);
    return 0;
}
INITCALL(INIT_FS, storage_init);
