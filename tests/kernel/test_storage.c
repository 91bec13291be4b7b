/*
 * In-guest storage tests: ext2 over the block cache over AHCI, on the scratch copy of the
 * demo image that scripts/kernel-tests.sh attaches (e2fsck -fn checks it afterwards).
 * Writes happen only under /.ktest-scratch, which the tests create and remove again.
 */
#include "ktest.h"
#include "fs/kernel/storage.h"
#include "fs/bcache.h"
#include "fs/ext2.h"
#include "fs/fs_errno.h"
#include "drivers/ahci/ahci.h"
#include "drivers/virtio/virtio_blkdev.h"
#include "proto/sha256.h"
#include "wtd.h"
#include "mm.h"
#include "sched.h"
#include "time.h"
#include "string.h"
#include "printf.h"
#include "io.h"

#define SCRATCH "/.ktest-scratch"

static int64_t read_file(struct ext2_fs *fs, const char *path, void *buf, uint64_t max)
{
    uint32_t ino;
    int r = ext2_lookup(fs, path, &ino);
    if (r)
        return r;
    return ext2_read(fs, ino, 0, buf, max);
}

static void rate(const char *what, uint64_t bytes, uint64_t ns)
{
    uint64_t kbs = ns ? bytes * 1000000ULL / ns : 0;      /* bytes/ms = KB/s-ish */
    kprintf("  %s: %lu KiB in %lu ms = %lu.%02lu MB/s\n", what, bytes >> 10, ns / 1000000,
            kbs / 1000, (kbs % 1000) / 10);
}

/* Waits until no read-ahead job or disk command started by a test is still going, so no
 * background WTD of ours runs into the tests after these (the WTD engine's tests count
 * every item).  Gives up after two seconds. */
static bool cache_busy(void)
{
    struct bcache_stats b;
    bcache_get_stats(storage_cache(), &b);
    return b.io_in_flight != 0 || b.dirty != 0;
}
#define SETTLE_ON_RETURN KT_SETTLE_ON_RETURN(cache_busy)

KTEST(storage_volume_mounted)
{
    KT_ASSERT(storage_cache() != NULL);
    KT_ASSERT(storage_volume() != NULL);
    struct ext2_statfs sf;
    KT_EQ(ext2_statfs(storage_volume(), &sf), 0);
    KT_ASSERT(!sf.read_only);
    KT_GE(sf.blocks, 1);
}

/* On a read-only virtio-blk disk (VIRTIO_BLK_F_RO; tests/e2e/storage_scratch.sh boots one
 * with WTD_BLK=virtio): the volume is mounted read-only, changes are refused with EROFS and
 * sync has nothing to write (the script checks the image did not change by a byte).  Only
 * run by name: on a writable disk it fails by design. */
KTEST_EXPLICIT(storage_read_only_disk, 30000)
{
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    struct ext2_statfs sf;
    KT_EQ(ext2_statfs(fs, &sf), 0);
    KT_ASSERT(sf.read_only);
    uint32_t ino;
    KT_EQ(ext2_create(fs, "/refused.txt", 0644, &ino), -30);
    KT_EQ(ext2_mkdir(fs, "/refused", 0755), -30);
    char buf[64];
    memset(buf, 0, sizeof buf);
    KT_EQ(read_file(fs, "/hello.txt", buf, sizeof buf - 1), 21);
    KT_EQ(storage_sync(), 0);
}

KTEST(storage_read_known_text)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    char buf[64];
    memset(buf, 0, sizeof buf);
    int64_t n = read_file(fs, "/hello.txt", buf, sizeof buf - 1);
    KT_EQ(n, 21);
    KT_ASSERT(strcmp(buf, "Hello from WorkToDo!\n") == 0);
    memset(buf, 0, sizeof buf);
    n = read_file(fs, "/docs/notes/deep/idea.txt", buf, sizeof buf - 1);
    KT_ASSERT(n > 0);
    KT_ASSERT(strcmp(buf, "a file three directories down\n") == 0);
}

/* The 64 MiB file of known pseudo-random content, hashed and compared with the hash the
 * image carries; then 16 MiB of it again, now from the cache. */
KTEST_TIMEOUT(storage_random64_sha256, 300000)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    char want[65];
    memset(want, 0, sizeof want);
    KT_EQ(read_file(fs, "/data/random64.sha256", want, 64), 64);
    uint32_t ino;
    KT_EQ(ext2_lookup(fs, "/data/random64.bin", &ino), 0);
    struct ext2_stat st;
    KT_EQ(ext2_stat(fs, ino, &st), 0);
    KT_GE(st.size, 1 << 20);                    /* 64 MiB in the demo image, less in e2e's */
    const uint64_t chunk = 256 << 10;
    uint8_t *buf = kmalloc(chunk);
    KT_ASSERT(buf != NULL);
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    struct bcache_stats b0, b1;
    bcache_get_stats(storage_cache(), &b0);
    uint64_t io_ns = 0, t0 = now_ns(), off;
    for (off = 0; off < st.size;) {
        uint64_t want = MIN(chunk, st.size - off), t = now_ns();
        int64_t n = ext2_read(fs, ino, off, buf, chunk);
        io_ns += now_ns() - t;
        if (n != (int64_t)want)
            break;
        sha256_update(&ctx, buf, want);
        off += want;
    }
    uint64_t total_ns = now_ns() - t0;
    bcache_get_stats(storage_cache(), &b1);
    uint8_t dig[32];
    char got[65];
    sha256_final(&ctx, dig);
    sha256_hex(dig, 32, got);
    rate("random64.bin through ext2+bcache+AHCI (read time only)", st.size, io_ns);
    rate("random64.bin read + sha256", st.size, total_ns);
    kprintf("  device reads %lu, read-ahead blocks %lu, read-ahead hits %lu, misses %lu\n",
            b1.dev_reads - b0.dev_reads, b1.ra_blocks - b0.ra_blocks, b1.ra_hits - b0.ra_hits,
            b1.misses - b0.misses);
    /* cached: the last 16 MiB are still in the 64 MiB cache */
    uint64_t from = st.size > (16ULL << 20) ? st.size - (16ULL << 20) : 0, t = now_ns();
    bcache_get_stats(storage_cache(), &b0);
    for (uint64_t o = from; o < st.size; o += chunk)
        ext2_read(fs, ino, o, buf, chunk);
    uint64_t cached_ns = now_ns() - t;
    bcache_get_stats(storage_cache(), &b1);
    rate("the last 16 MiB (at most) again from the cache", st.size - from, cached_ns);
    kprintf("  device reads during the cached pass: %lu\n", b1.dev_reads - b0.dev_reads);
    kfree(buf);
    KT_EQ(off, st.size);
    KT_ASSERT(memcmp(got, want, 64) == 0);
    KT_GE(b1.hits, b0.hits + 1);
}

/* ---- write workload ---- */

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static void pattern(uint8_t *buf, uint64_t len, uint32_t seed)
{
    uint64_t s = seed * 2654435761ULL + 1;
    for (uint64_t i = 0; i < len; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (uint8_t)(s >> 56);
    }
}

static int write_and_check(struct ext2_fs *fs, const char *path, uint64_t size, uint32_t seed)
{
    uint8_t *w = kmalloc(size ? size : 1), *r = kmalloc(size + 16);
    if (!w || !r)
        return -FS_ENOMEM;
    pattern(w, size, seed);
    uint32_t ino;
    int e = ext2_create(fs, path, 0644, &ino);
    if (e == 0) {
        /* in uneven pieces, so writes start and end inside blocks */
        uint64_t off = 0;
        while (off < size && e == 0) {
            uint64_t piece = (uint64_t)(rnd() % 70000) + 1;      /* not inside MIN: evaluated once */
            uint64_t n = MIN(size - off, piece);
            int64_t k = ext2_write(fs, ino, off, w + off, n);
            if (k != (int64_t)n) {
                kprintf("  %s: write at %lu of %lu returned %ld\n", path, off, n, k);
                e = k < 0 ? (int)k : -FS_EIO;
            }
            off += n;
        }
    }
    if (e == 0) {
        int64_t k = ext2_read(fs, ino, 0, r, size + 16);
        if (k != (int64_t)size || memcmp(r, w, size) != 0) {
            uint64_t at = 0;
            while (at < size && r[at] == w[at])
                at++;
            struct ext2_stat st;
            ext2_stat(fs, ino, &st);
            kprintf("  %s: read back %ld of %lu bytes, first difference at %lu (size %lu, blocks %lu)\n", path, k,
                    size, at, st.size, st.blocks);
            e = -FS_EIO;
        }
    }
    kfree(w);
    kfree(r);
    return e;
}

static int count_entries(struct ext2_fs *fs, const char *path)
{
    uint32_t dir;
    if (ext2_lookup(fs, path, &dir))
        return -1;
    uint64_t cookie = 0;
    struct ext2_dirent *de = kmalloc(sizeof *de);
    int n = 0, r;
    while ((r = ext2_readdir(fs, dir, &cookie, de)) == 1)
        n++;
    kfree(de);
    return r < 0 ? r : n;
}

KTEST_TIMEOUT(storage_write_workload, 300000)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    struct ext2_statfs before, after;
    KT_EQ(ext2_statfs(fs, &before), 0);
    rng_state = 0x9E3779B97F4A7C15ULL;
    KT_EQ(ext2_mkdir(fs, SCRATCH, 0755), 0);
    KT_EQ(ext2_mkdir(fs, SCRATCH "/a", 0755), 0);
    KT_EQ(ext2_mkdir(fs, SCRATCH "/a/b", 0755), 0);
    static const uint64_t sizes[] = { 0, 1, 4095, 4096, 4097, 49152, 53248, 100000, 3u << 20, 5u << 20 };
    char path[64];
    for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
        ksnprintf(path, sizeof path, SCRATCH "/a/b/f%u", i);
        int e = write_and_check(fs, path, sizes[i], i + 1);
        if (e)
            kprintf("  %s (%lu bytes): %d\n", path, sizes[i], e);
        KT_EQ(e, 0);
    }
    KT_EQ(count_entries(fs, SCRATCH "/a/b"), ARRAY_SIZE(sizes) + 2);
    /* many small files in one directory */
    for (unsigned i = 0; i < 200; i++) {
        ksnprintf(path, sizeof path, SCRATCH "/a/small-%03u.txt", i);
        KT_EQ(write_and_check(fs, path, 100 + i, 1000 + i), 0);
    }
    KT_EQ(count_entries(fs, SCRATCH "/a"), 200 + 3);
    /* rename, rename over an existing file, rmdir of a non-empty directory */
    KT_EQ(ext2_rename(fs, SCRATCH "/a/b/f7", SCRATCH "/moved"), 0);
    KT_EQ(ext2_rename(fs, SCRATCH "/a/b/f5", SCRATCH "/moved"), 0);     /* replaces it */
    uint8_t *buf = kmalloc(53248), *want = kmalloc(53248);
    KT_ASSERT(buf && want);
    pattern(want, 49152, 6);
    int64_t n = read_file(fs, SCRATCH "/moved", buf, 53248);
    int same = n == 49152 && memcmp(buf, want, 49152) == 0;
    kfree(buf);
    kfree(want);
    KT_EQ(n, 49152);
    KT_ASSERT(same);
    uint32_t ino;
    KT_EQ(ext2_lookup(fs, SCRATCH "/a/b/f7", &ino), -FS_ENOENT);
    KT_EQ(ext2_rmdir(fs, SCRATCH "/a"), -FS_ENOTEMPTY);
    /* truncate the 5 MiB file to an odd size and check its tail */
    KT_EQ(ext2_lookup(fs, SCRATCH "/a/b/f9", &ino), 0);
    KT_EQ(ext2_truncate(fs, ino, 12345), 0);
    struct ext2_stat st;
    KT_EQ(ext2_stat(fs, ino, &st), 0);
    KT_EQ(st.size, 12345);
    /* everything away again: the free counts come back */
    for (unsigned i = 0; i < 200; i++) {
        ksnprintf(path, sizeof path, SCRATCH "/a/small-%03u.txt", i);
        KT_EQ(ext2_unlink(fs, path), 0);
    }
    for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
        if (i == 5 || i == 7)
            continue;
        ksnprintf(path, sizeof path, SCRATCH "/a/b/f%u", i);
        KT_EQ(ext2_unlink(fs, path), 0);
    }
    KT_EQ(ext2_unlink(fs, SCRATCH "/moved"), 0);
    KT_EQ(ext2_rmdir(fs, SCRATCH "/a/b"), 0);
    KT_EQ(ext2_rmdir(fs, SCRATCH "/a"), 0);
    KT_EQ(ext2_rmdir(fs, SCRATCH), 0);
    KT_EQ(ext2_sync(fs), 0);
    KT_EQ(ext2_statfs(fs, &after), 0);
    KT_EQ(after.free_blocks, before.free_blocks);
    KT_EQ(after.free_inodes, before.free_inodes);
}

/* sync writes every dirty buffer and flushes the device: afterwards the superblock read
 * straight from the disk (not through the cache) carries the new free counts. */
/* Sectors straight from the disk under the volume, past the cache (AHCI or virtio-blk). */
static int disk_read(uint64_t lba, uint32_t count, void *buf)
{
    if (strcmp(storage_driver(), "virtio-blk") == 0)
        return vblk_read(vblk_disk(0), lba, count, buf);
    return ahci_read(ahci_get_disk(0), lba, count, buf);
}

static uint64_t device_flushes(void)
{
    if (strcmp(storage_driver(), "virtio-blk") == 0) {
        struct vblk_stats v;
        vblk_read_stats(vblk_disk(0), &v);
        return v.flushes;
    }
    struct ahci_stats a;
    ahci_get_stats(ahci_get_disk(0), &a);
    return a.flushes;
}

KTEST_TIMEOUT(storage_sync_persists, 60000)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    KT_EQ(ext2_mkdir(fs, SCRATCH, 0755), 0);
    KT_EQ(write_and_check(fs, SCRATCH "/persist.bin", 300000, 77), 0);
    struct storage_stats s0, s1;
    struct bcache_stats b;
    storage_get_stats(&s0);
    uint64_t dev0 = device_flushes();
    KT_EQ(storage_sync(), 0);
    storage_get_stats(&s1);
    KT_GE(device_flushes(), dev0 + 1);      /* a FLUSH command reached the device */
    bcache_get_stats(storage_cache(), &b);
    KT_GE(s1.dev_flushes, s0.dev_flushes + 1);
    if (ext2_has_journal(fs)) {
        /* ext3: the sync is a commit (two FLUSHes); the home blocks follow at a checkpoint */
        struct ext2_stats es;
        ext2_get_stats(fs, &es);
        KT_GE(es.journal_commits, 1);
        KT_GE(device_flushes(), dev0 + 2);
        KT_EQ(ext2_unlink(fs, SCRATCH "/persist.bin"), 0);
        KT_EQ(ext2_rmdir(fs, SCRATCH), 0);
        KT_EQ(ext2_sync(fs), 0);
        return;
    }
    KT_EQ(b.dirty, 0);
    struct ext2_statfs sf;
    KT_EQ(ext2_statfs(fs, &sf), 0);
    uint8_t *sb = kmalloc(1024);
    KT_ASSERT(sb != NULL);
    int r = disk_read(2, 2, sb);
    uint32_t free_blocks = sb[12] | sb[13] << 8 | sb[14] << 16 | (uint32_t)sb[15] << 24;
    uint32_t free_inodes = sb[16] | sb[17] << 8 | sb[18] << 16 | (uint32_t)sb[19] << 24;
    kfree(sb);
    KT_EQ(r, 0);
    KT_EQ(free_blocks, sf.free_blocks);
    KT_EQ(free_inodes, sf.free_inodes);
    KT_EQ(ext2_unlink(fs, SCRATCH "/persist.bin"), 0);
    KT_EQ(ext2_rmdir(fs, SCRATCH), 0);
    KT_EQ(ext2_sync(fs), 0);
}

/* Write-back without sync: the periodic flusher writes the dirty buffers on its own. */
KTEST_TIMEOUT(storage_flusher_writes_back, 60000)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    struct storage_stats s0, s1;
    struct bcache_stats b;
    storage_get_stats(&s0);
    KT_EQ(ext2_mkdir(fs, SCRATCH, 0755), 0);
    KT_EQ(write_and_check(fs, SCRATCH "/flushme.bin", 200000, 99), 0);
    bcache_get_stats(storage_cache(), &b);
    KT_GE(b.dirty, 1);
    /* The buffers are clean as soon as the device finishes; the flusher counts them once
     * it runs again after that, so wait for both. */
    uint64_t deadline = now_ns() + 20000000000ULL;
    do {
        thread_sleep_ms(50);
        bcache_get_stats(storage_cache(), &b);
        storage_get_stats(&s1);
    } while ((b.dirty || s1.flusher_blocks < s0.flusher_blocks + 49) && now_ns() < deadline);
    KT_EQ(b.dirty, 0);
    KT_GE(s1.flusher_runs, s0.flusher_runs + 1);
    KT_GE(s1.flusher_blocks, s0.flusher_blocks + 49);      /* 200000 bytes: 49 data blocks */
    KT_EQ(ext2_unlink(fs, SCRATCH "/flushme.bin"), 0);
    KT_EQ(ext2_rmdir(fs, SCRATCH), 0);
    KT_EQ(ext2_sync(fs), 0);
}

/* ---- the cache and the WTD engine ---- */

/* A cache block nobody has read yet (checked with the non-blocking lookup). */
static uint64_t uncached_block(struct bcache *c, uint64_t from)
{
    for (uint64_t b = from; b > 0; b--) {
        struct bcache_buf *buf;
        if (bcache_lookup_nb(c, b, &buf) != 0)
            return b;
        bcache_release(buf);
    }
    return 0;
}

#define NREADERS 8
static struct wtd reader_wtd[NREADERS];
static volatile int readers_done, readers_bad;
static uint64_t reader_block;

static uint32_t reader_fn(struct wtd *w)
{
    struct bcache_buf *b;
    if (bcache_read(storage_cache(), reader_block, &b) == 0)
        bcache_release(b);
    else
        readers_bad++;
    __atomic_fetch_add(&readers_done, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Eight WTDs ask for the same missing block at once: one device read serves them all. */
KTEST_TIMEOUT(storage_many_readers_one_io, 30000)
{
    SETTLE_ON_RETURN;
    struct bcache *c = storage_cache();
    KT_ASSERT(c != NULL);
    reader_block = uncached_block(c, bcache_nblocks(c) - 1);
    KT_NE(reader_block, 0);
    struct bcache_stats s0, s1;
    bcache_get_stats(c, &s0);
    readers_done = readers_bad = 0;
    for (int i = 0; i < NREADERS; i++) {
        wtd_init(&reader_wtd[i], reader_fn, NULL);
        wtd_schedule(&reader_wtd[i]);
    }
    uint64_t deadline = now_ns() + 10000000000ULL;
    while (readers_done < NREADERS && now_ns() < deadline)
        thread_sleep_ms(1);
    bcache_get_stats(c, &s1);
    KT_EQ(readers_done, NREADERS);
    KT_EQ(readers_bad, 0);
    KT_EQ(s1.dev_reads - s0.dev_reads, 1);
}

/* A WTD that misses in the cache sleeps in its worker while the engine runs the next WTD. */
static struct wtd slow_wtd, quick_wtd;
static volatile int slow_done, quick_ran_first;
static volatile uint64_t sleeping_seen;
static uint64_t slow_block;

static uint32_t slow_fn(struct wtd *w)
{
    struct bcache_buf *b;
    if (bcache_read(storage_cache(), slow_block, &b) == 0)
        bcache_release(b);
    slow_done = 1;
    return 0;
}

static uint32_t quick_fn(struct wtd *w)
{
    struct wtd_stats s;
    wtd_get_stats(&s);
    sleeping_seen = s.sleeping;
    quick_ran_first = !slow_done;
    return 0;
}

KTEST_TIMEOUT(storage_wtd_sleeps_on_miss, 30000)
{
    SETTLE_ON_RETURN;
    struct bcache *c = storage_cache();
    KT_ASSERT(c != NULL);
    slow_block = uncached_block(c, bcache_nblocks(c) - 64);
    KT_NE(slow_block, 0);
    slow_done = quick_ran_first = 0;
    sleeping_seen = 0;
    wtd_init(&slow_wtd, slow_fn, NULL);
    wtd_init(&quick_wtd, quick_fn, NULL);
    uint64_t f = irq_save();            /* both queued before either runs */
    wtd_schedule(&slow_wtd);
    wtd_schedule(&quick_wtd);
    irq_restore(f);
    uint64_t deadline = now_ns() + 10000000000ULL;
    while (!slow_done && now_ns() < deadline)
        thread_sleep_ms(1);
    KT_EQ(slow_done, 1);
    KT_EQ(quick_ran_first, 1);
    KT_GE(sleeping_seen, 1);
}

/* The non-blocking path: a cached file is served without sleeping, an uncached block
 * answers -EWOULDBLOCK. */
KTEST(storage_nonblocking_read)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    uint32_t ino;
    char buf[32];
    KT_EQ(ext2_lookup(fs, "/hello.txt", &ino), 0);
    KT_EQ(ext2_read(fs, ino, 0, buf, sizeof buf), 21);
    memset(buf, 0, sizeof buf);
    KT_EQ(ext2_read_nonblock(fs, ino, 0, buf, sizeof buf), 21);
    KT_ASSERT(memcmp(buf, "Hello from WorkToDo!\n", 21) == 0);
    struct bcache_buf *b;
    uint64_t blk = uncached_block(storage_cache(), bcache_nblocks(storage_cache()) - 200);
    KT_EQ(bcache_lookup_nb(storage_cache(), blk, &b), -FS_EWOULDBLOCK);
}

/* ---- persistence across boots (tests/e2e/storage_scratch.sh checks the image with
 * debugfs between boots and boots again with test=storage_persist_check) ---- */

#define PERSIST_DIR   "/persist"
#define PERSIST_FILE  PERSIST_DIR "/lines.txt"
#define PERSIST_LINES 20000u
#define PERSIST_LEN   31u             /* "persist line 00000 of WorkToDo\n" */

static void persist_line(char *out, unsigned i)
{
    ksnprintf(out, PERSIST_LEN + 1, "persist line %05u of WorkToDo\n", i);
}

KTEST_TIMEOUT(storage_persist_write, 120000)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    uint32_t ino;
    if (ext2_lookup(fs, PERSIST_FILE, &ino) == 0) {     /* from an earlier run: start over */
        KT_EQ(ext2_unlink(fs, PERSIST_FILE), 0);
        KT_EQ(ext2_rmdir(fs, PERSIST_DIR), 0);
    }
    KT_EQ(ext2_mkdir(fs, PERSIST_DIR, 0755), 0);
    KT_EQ(ext2_create(fs, PERSIST_FILE, 0644, &ino), 0);
    char *buf = kmalloc(PERSIST_LEN * 1000 + 1);
    KT_ASSERT(buf != NULL);
    int bad = 0;
    for (unsigned i = 0; i < PERSIST_LINES; i += 1000) {
        for (unsigned k = 0; k < 1000; k++)
            persist_line(buf + k * PERSIST_LEN, i + k);
        if (ext2_write(fs, ino, (uint64_t)i * PERSIST_LEN, buf, PERSIST_LEN * 1000) != PERSIST_LEN * 1000)
            bad++;
    }
    kfree(buf);
    KT_EQ(bad, 0);
    KT_EQ(storage_sync(), 0);
}

KTEST_TIMEOUT(storage_persist_check, 120000)
{
    SETTLE_ON_RETURN;
    struct ext2_fs *fs = storage_volume();
    KT_ASSERT(fs != NULL);
    uint32_t ino;
    KT_EQ(ext2_lookup(fs, PERSIST_FILE, &ino), 0);
    struct ext2_stat st;
    KT_EQ(ext2_stat(fs, ino, &st), 0);
    KT_EQ(st.size, (uint64_t)PERSIST_LINES * PERSIST_LEN);
    char *buf = kmalloc(PERSIST_LEN * 1000), line[PERSIST_LEN + 1];
    KT_ASSERT(buf != NULL);
    int bad = 0;
    for (unsigned i = 0; i < PERSIST_LINES; i += 1000) {
        if (ext2_read(fs, ino, (uint64_t)i * PERSIST_LEN, buf, PERSIST_LEN * 1000) != PERSIST_LEN * 1000) {
            bad++;
            continue;
        }
        for (unsigned k = 0; k < 1000; k++) {
            persist_line(line, i + k);
            if (memcmp(buf + k * PERSIST_LEN, line, PERSIST_LEN) != 0)
                bad++;
        }
    }
    kfree(buf);
    KT_EQ(bad, 0);
}
