/* Console commands over the volume: `cache`, `sync`, `df`. */
#include "fs/kernel/storage.h"
#include "fs/bcache.h"
#include "fs/ext2.h"
#include "console.h"
#include "time.h"
#include "printf.h"

static void cmd_cache(int argc, char **argv)
{
    struct bcache *c = storage_cache();
    if (!c) {
        kprintf("  no block cache (no disk)\n");
        return;
    }
    struct bcache_stats s;
    struct storage_stats ss;
    bcache_get_stats(c, &s);
    storage_get_stats(&ss);
    uint64_t looks = s.hits + s.misses;
    kprintf("  %u buffers (%u MiB): hits %lu, misses %lu (%lu.%lu%% hits), non-blocking misses %lu\n",
            s.nbuffers, s.nbuffers / 256, s.hits, s.misses,
            looks ? s.hits * 100 / looks : 0, looks ? s.hits * 1000 / looks % 10 : 0, s.nb_misses);
    kprintf("  read-ahead: %lu hits, %lu blocks read; evictions %lu\n", s.ra_hits, s.ra_blocks, s.evictions);
    kprintf("  dirty %u, referenced %u, I/O in flight %u; device reads %lu, writes %lu (%lu blocks), errors %lu\n",
            s.dirty, s.referenced, s.io_in_flight, s.dev_reads, s.dev_writes, s.blocks_written, s.io_errors);
    kprintf("  flusher: %lu runs, %lu blocks; syncs %lu, device flushes %lu\n", ss.flusher_runs,
            ss.flusher_blocks, ss.syncs, ss.dev_flushes);
}
CONSOLE_COMMAND("cache", "block cache: hits, misses, read-ahead, evictions, dirty, I/O in flight", cmd_cache);

static void cmd_sync(int argc, char **argv)
{
    uint64_t t0 = now_ns();
    int r = storage_sync();
    uint64_t us = (now_ns() - t0) / 1000;
    if (r)
        kprintf("  sync failed: %d\n", r);
    else
        kprintf("  synced in %lu.%03lu ms\n", us / 1000, us % 1000);
}
CONSOLE_COMMAND("sync", "write all dirty data and flush the disk's cache", cmd_sync);

static void cmd_df(int argc, char **argv)
{
    struct ext2_fs *fs = storage_volume();
    if (!fs) {
        kprintf("  no volume mounted\n");
        return;
    }
    struct ext2_statfs s;
    int r = ext2_statfs(fs, &s);
    if (r) {
        kprintf("  statfs failed: %d\n", r);
        return;
    }
    uint64_t kb = s.block_size / 1024;
    kprintf("  ext2%s, %u-byte blocks\n", s.read_only ? " (read-only)" : "", s.block_size);
    kprintf("  blocks: %lu KiB total, %lu KiB used, %lu KiB free, %lu KiB available\n", s.blocks * kb,
            (s.blocks - s.free_blocks) * kb, s.free_blocks * kb, s.avail_blocks * kb);
    kprintf("  inodes: %lu total, %lu used, %lu free\n", s.inodes, s.inodes - s.free_inodes, s.free_inodes);
}
CONSOLE_COMMAND("df", "volume size and free space", cmd_df);
