/* Host tests of durability (issue 15 items 1-2): what an FSYNC of one file
 * writes and in which order (a logging test device), that a volume sync
 * under a concurrent writer ends after writing what was dirty at its start,
 * and the superblock's clean flag and mount count across mount, shutdown
 * and a crash. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;

/* The fs blocks of a file (debugfs `blocks`, which lists data and indirect
 * blocks); returns how many (at most max), -1 on error. */
static int debugfs_blocks(const char *image, const char *path, uint64_t *v, int max)
{
    char *out = NULL;
    if (ft_sh(&out, "%s -R 'blocks %s' '%s'", ft_tool("debugfs"), path, image) != 0) {
        free(out);
        return -1;
    }
    int n = 0;
    char *p = out;
    if (p && strncmp(p, "debugfs ", 8) == 0)
        p = strchr(p, '\n');           /* the version banner */
    for (; p && *p && n < max;) {
        char *end;
        unsigned long long b = strtoull(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        v[n++] = b;
        p = end;
    }
    free(out);
    return n;
}

/* The fs block holding a file's inode (debugfs `imap`: "located at block N"). */
static long debugfs_inode_block(const char *image, const char *path)
{
    char *out = NULL;
    ft_sh(&out, "%s -R 'imap %s' '%s' 2>/dev/null", ft_tool("debugfs"), path, image);
    char *at = out ? strstr(out, "located at block ") : NULL;
    long b = at ? strtol(at + strlen("located at block "), NULL, 10) : -1;
    free(out);
    return b;
}

/* A superblock field from `dumpe2fs -h` ("Filesystem state:" etc.), into buf. */
static int dumpe2fs_field(const char *image, const char *field, char *buf, size_t n)
{
    char *out = NULL;
    ft_sh(&out, "%s -h '%s' 2>/dev/null", ft_tool("dumpe2fs"), image);
    char *at = out ? strstr(out, field) : NULL;
    if (!at) {
        free(out);
        return -1;
    }
    at += strlen(field);
    while (*at == ' ')
        at++;
    size_t k = 0;
    while (at[k] && at[k] != '\n' && k + 1 < n) {
        buf[k] = at[k];
        k++;
    }
    buf[k] = 0;
    free(out);
    return 0;
}

static long mount_count(const char *image)
{
    char v[64];
    return dumpe2fs_field(image, "Mount count:", v, sizeof v) ? -1 : atol(v);
}

static int state_is_clean(const char *image)
{
    char v[64];
    return dumpe2fs_field(image, "Filesystem state:", v, sizeof v) == 0 && strcmp(v, "clean") == 0;
}

static int copy_file(const char *from, const char *to)
{
    char *out = NULL;
    int r = ft_sh(&out, "cp --sparse=always '%s' '%s'", from, to);
    free(out);
    return r;
}

/* Index of the first (last: dir < 0) logged write covering cache block cb, or -1. */
static long log_find(const struct testdev *td, uint64_t cb, int dir)
{
    uint64_t lba = cb * 8;
    long found = -1;
    uint32_t n = td->log_n < td->log_cap ? td->log_n : td->log_cap;
    for (uint32_t i = 0; i < n; i++) {
        const struct testdev_op *o = &td->log[i];
        if (!o->flush && lba >= o->lba && lba < o->lba + o->count) {
            found = i;
            if (dir > 0)
                break;
        }
    }
    return found;
}

static int log_flush_between(const struct testdev *td, long a, long b)
{
    for (long i = a + 1; i < b; i++)
        if (td->log[i].flush)
            return 1;
    return 0;
}

#define MAXB 4096

/* FSYNC of a new small file A while file B holds thousands of dirty blocks:
 * only A's blocks and the metadata A needs are written, data before the
 * inode before the entry before the parent's inode with flushes between, a
 * flush at the end; a copy of the disk taken right then (a crash) holds A
 * intact and e2fsck -p repairs it unattended. */
static void test_fsync_writes_only_the_file(void)
{
    char img[700], crash[700];
    snprintf(img, sizeof img, "%s/fsync.img", tmpdir);
    snprintf(crash, sizeof crash, "%s/fsync-crash.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 64 * 1024, "-I 256") == 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 8192, 0), 0);
    struct ext2_fs *fs = m.fs;
    uint32_t ino, bino, aino;
    char name[32];
    /* Lay out inodes so that B's inode shares no 4 KiB inode-table block
     * with A's or the root's (16 inodes of 256 bytes per block): the crash
     * copy then has B's inode as it was at the last sync. */
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "/fill%d", i);
        CHECK_EQ(ext2_create(fs, name, 0644, &ino), 0);
    }
    CHECK_EQ(ext2_create(fs, "/B", 0644, &bino), 0);
    for (int i = 5; i < 20; i++) {
        snprintf(name, sizeof name, "/fill%d", i);
        CHECK_EQ(ext2_create(fs, name, 0644, &ino), 0);
    }
    CHECK_EQ(ext2_sync(fs), 0);
    CHECK_MSG((bino - 1) / 16 != 0, "B's inode %u is in the root's inode block", bino);

    size_t bsize = 8u << 20, asize = 100 * 1024 + 77;
    uint8_t *bdata = malloc(bsize), *adata = malloc(asize);
    ft_fill(bdata, bsize, 1);
    ft_fill(adata, asize, 2);
    CHECK_EQ(ext2_write(fs, bino, 0, bdata, bsize), (int64_t)bsize);
    CHECK_EQ(ext2_create(fs, "/A", 0644, &aino), 0);
    CHECK_MSG((aino - 1) / 16 != (bino - 1) / 16, "A %u and B %u share an inode block", aino, bino);
    CHECK_EQ(ext2_write(fs, aino, 0, adata, asize), (int64_t)asize);
    struct bcache_stats before, after;
    bcache_get_stats(m.bc, &before);
    CHECK(before.dirty > 2000);

    struct testdev_op *log = calloc(MAXB, sizeof *log);
    pthread_mutex_lock(&m.td.lock);
    m.td.log = log;
    m.td.log_cap = MAXB;
    m.td.log_n = 0;
    pthread_mutex_unlock(&m.td.lock);
    CHECK_EQ(ext2_fsync(fs, aino), 0);
    pthread_mutex_lock(&m.td.lock);
    uint32_t nlog = m.td.log_n;
    m.td.log_cap = nlog < MAXB ? nlog : MAXB;      /* keep what the fsync did, log no more */
    pthread_mutex_unlock(&m.td.lock);
    CHECK(copy_file(img, crash) == 0);      /* the disk as a crash now would leave it */
    bcache_get_stats(m.bc, &after);
    struct ext2_stats es;
    ext2_get_stats(fs, &es);

    /* A: 26 data blocks + 1 indirect; its inode block.  A's entry in the root and
     * the root's inode were made durable when A was created (fs/ext2_order.c rule 2:
     * the name before the inode), so this FSYNC need not write them. */
    CHECK(nlog <= MAXB);
    uint32_t writes = 0, flushes = 0;
    uint64_t sectors = 0;
    for (uint32_t i = 0; i < nlog; i++) {
        if (log[i].flush)
            flushes++;
        else {
            writes++;
            sectors += log[i].count;
        }
    }
    CHECK_MSG(sectors / 8 <= 27 + 3, "the fsync wrote %llu blocks", (unsigned long long)(sectors / 8));
    CHECK_EQ(es.fsync_last_blocks, sectors / 8);
    CHECK(after.dirty + 40 > before.dirty);         /* B's dirty blocks stay dirty */
    CHECK(nlog > 0 && log[nlog - 1].flush);         /* the device flushed after the writes */
    CHECK(flushes >= 2);                            /* between data and inode, and at the end */

    /* order on the device: every data block of A, flush, A's inode block, flush;
     * the root's directory block and inode block are clean already */
    uint64_t ablk[64];
    int na = debugfs_blocks(crash, "/A", ablk, 64);
    CHECK_EQ(na, 27);
    long last_data = -1;
    for (int i = 0; i < na; i++) {
        long at = log_find(&m.td, ablk[i], -1);
        CHECK_MSG(at >= 0, "A's block %llu was not written", (unsigned long long)ablk[i]);
        if (at > last_data)
            last_data = at;
    }
    long ainode = log_find(&m.td, (uint64_t)debugfs_inode_block(crash, "/A"), 1);
    uint64_t rootblk[4];
    CHECK_EQ(debugfs_blocks(crash, "/", rootblk, 4), 1);
    long dirent = log_find(&m.td, rootblk[0], 1);
    CHECK(ainode > last_data && log_flush_between(&m.td, last_data, ainode));
    CHECK_MSG(dirent < 0, "the root's directory block was written again (entry %ld)", dirent);

    /* none of B's blocks went out */
    uint64_t *bblk = malloc(sizeof *bblk * MAXB);
    CHECK(ext2_unmount(fs) == 0);
    bcache_destroy(m.bc);
    testdev_close(&m.td);
    CHECK_FSCK(img);
    int nb = debugfs_blocks(img, "/B", bblk, MAXB);
    CHECK(nb > 2048);
    for (int i = 0; i < nb; i++)
        CHECK_MSG(log_find(&m.td, bblk[i], 1) < 0, "B's block %llu was written", (unsigned long long)bblk[i]);
    CHECK(ft_debugfs_cat_equals(img, "/B", bdata, bsize));

    /* the crash copy: A is intact, and e2fsck -p repairs the rest alone */
    CHECK(ft_debugfs_cat_equals(crash, "/A", adata, asize));
    char *out = NULL;
    int st = ft_sh(&out, "%s -p '%s'", ft_tool("e2fsck"), crash);
    CHECK_MSG(st == 0 || st == 1, "e2fsck -p exit %d: %.600s", st, out ? out : "");
    free(out);
    CHECK_FSCK(crash);
    CHECK(ft_debugfs_cat_equals(crash, "/A", adata, asize));
    free(bblk);
    free(log);
    free(adata);
    free(bdata);
}

/* A second FSYNC of the same file with nothing changed writes nothing; after
 * one more write it writes that block and the inode block only (the entry is
 * durable already). */
static void test_fsync_again_writes_little(void)
{
    char img[700];
    snprintf(img, sizeof img, "%s/again.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 8 * 1024, NULL) == 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 512, 0), 0);
    uint32_t ino;
    struct ext2_stats es;
    CHECK_EQ(ext2_create(m.fs, "/f", 0644, &ino), 0);
    CHECK_EQ(ext2_write(m.fs, ino, 0, "hello", 5), 5);
    CHECK_EQ(ext2_fsync(m.fs, ino), 0);
    ext2_get_stats(m.fs, &es);
    CHECK(es.fsync_last_blocks >= 2);       /* data and inode (the entry is durable since create) */
    CHECK_EQ(ext2_fsync(m.fs, ino), 0);
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.fsync_last_blocks, 0);
    CHECK_EQ(ext2_write(m.fs, ino, 5, " world", 6), 6);
    CHECK_EQ(ext2_fsync(m.fs, ino), 0);
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.fsync_last_blocks, 2);      /* the data block and the inode block */
    CHECK_EQ(es.fsyncs, 3);
    CHECK_EQ(ext2_fsync(m.fs, 0), -FS_EINVAL);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    CHECK(ft_debugfs_cat_equals(img, "/f", (const uint8_t *)"hello world", 11));
}

/* More new files than the ring remembers, none synced: an FSYNC of one pushed
 * out cannot tell whether it is new, so it syncs the volume (counted), and its
 * directory entry is on the disk afterwards (a crash copy shows it). */
static void test_fsync_forgotten_new_file_syncs_volume(void)
{
    char img[700], crash[700];
    snprintf(img, sizeof img, "%s/ring.img", tmpdir);
    snprintf(crash, sizeof crash, "%s/ring-crash.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 8 * 1024, NULL) == 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 512, 0), 0);
    uint32_t first = 0, ino;
    char name[32];
    for (int i = 0; i < 70; i++) {
        snprintf(name, sizeof name, "/n%d", i);
        CHECK_EQ(ext2_create(m.fs, name, 0644, &ino), 0);
        if (i == 0)
            first = ino;
    }
    CHECK_EQ(ext2_write(m.fs, first, 0, "first", 5), 5);
    CHECK_EQ(ext2_fsync(m.fs, first), 0);
    struct ext2_stats es;
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.fsync_fallbacks, 1);
    CHECK(copy_file(img, crash) == 0);
    CHECK(ft_debugfs_cat_equals(crash, "/n0", (const uint8_t *)"first", 5));
    /* the sync covered the rest: no more fallbacks */
    CHECK_EQ(ext2_write(m.fs, ino, 0, "last", 4), 4);
    CHECK_EQ(ext2_fsync(m.fs, ino), 0);
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.fsync_fallbacks, 1);
    CHECK_EQ(es.fsync_last_blocks, 2);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* A corrupt map: the triple-indirect block points at a block full of pointers
 * to itself (2^30 paths to one block).  FSYNC must still end (its walk counts
 * the pointers it follows), answering by a volume sync. */
static void test_fsync_corrupt_map_ends(void)
{
    char img[700];
    snprintf(img, sizeof img, "%s/loop.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 8 * 1024, NULL) == 0);
    char *out = NULL;
    CHECK(ft_sh(&out, "printf 'x' > '%s/x' && %s -w -R 'write %s/x f' '%s'", tmpdir,
                ft_tool("debugfs"), tmpdir, img) == 0);
    free(out);
    uint64_t blk[4];
    CHECK_EQ(debugfs_blocks(img, "/f", blk, 4), 1);
    /* the loop block: the file's one data block, now full of its own number */
    uint32_t self[1024];
    for (int i = 0; i < 1024; i++)
        self[i] = (uint32_t)blk[0];
    int fd = open(img, O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(pwrite(fd, self, sizeof self, (off_t)(blk[0] * 4096)), (ssize_t)sizeof self);
    close(fd);
    out = NULL;
    CHECK(ft_sh(&out, "%s -w -R 'sif /f block[TIND] %llu' '%s'", ft_tool("debugfs"),
                (unsigned long long)blk[0], img) == 0);
    free(out);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    uint32_t ino;
    CHECK_EQ(ext2_lookup(m.fs, "/f", &ino), 0);
    CHECK_EQ(ext2_fsync(m.fs, ino), 0);
    struct ext2_stats es;
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.fsync_fallbacks, 1);
    CHECK_EQ(fsimg_close(&m), 0);
}

struct writer {
    struct ext2_fs *fs;
    uint32_t ino;
    volatile int stop;
    volatile uint64_t blocks;       /* 4 KiB writes done */
    uint64_t max_blocks;
    volatile int done;              /* the writer has returned */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t buf[4096];
    memset(buf, 0x5a, sizeof buf);
    while (!w->stop && w->blocks < w->max_blocks) {
        if (ext2_write(w->fs, w->ino, w->blocks * 4096, buf, sizeof buf) != 4096)
            break;
        __atomic_fetch_add(&w->blocks, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A volume sync while another thread keeps writing ends having written at
 * most what was dirty at its start (plus the few blocks dirtied before its
 * stamp), although the writer dirtied many more meanwhile; and an FSYNC of
 * a small file under the same writer writes a handful of blocks. */
static void test_sync_bounded_under_writer(void)
{
    char img[700];
    snprintf(img, sizeof img, "%s/writer.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 128 * 1024, NULL) == 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 16384, 0), 0);
    uint32_t bino, sino;
    CHECK_EQ(ext2_create(m.fs, "/big", 0644, &bino), 0);
    CHECK_EQ(ext2_create(m.fs, "/small", 0644, &sino), 0);
    CHECK_EQ(ext2_sync(m.fs), 0);
    m.td.write_delay_us = 300;      /* the device is slow: the writer outruns the sync */

    struct writer w = { m.fs, bino, 0, 0, 12000, 0 };
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, writer_main, &w), 0);
    /* until the writer has dirtied 1000 blocks, or stopped (an error, checked below) */
    while (__atomic_load_n(&w.blocks, __ATOMIC_RELAXED) < 1000 &&
           !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
        usleep(1000);
    struct bcache_stats st;
    bcache_get_stats(m.bc, &st);
    uint64_t dirty_at_start = st.dirty;
    uint64_t w0 = __atomic_load_n(&w.blocks, __ATOMIC_RELAXED);
    uint32_t written = 0;
    int r = bcache_sync_counted(m.bc, &written);
    uint64_t w1 = __atomic_load_n(&w.blocks, __ATOMIC_RELAXED);

    int64_t sw = ext2_write(m.fs, sino, 0, "small", 5);
    int fr = ext2_fsync(m.fs, sino);
    struct ext2_stats es;
    ext2_get_stats(m.fs, &es);
    w.stop = 1;
    pthread_join(t, NULL);  /* before any CHECK can return: w is on this stack */
    m.td.write_delay_us = 0;
    CHECK_MSG(w0 >= 1000, "the writer stopped after %llu blocks", (unsigned long long)w0);
    CHECK_EQ(r, 0);
    CHECK_EQ(sw, 5);
    CHECK_EQ(fr, 0);
    /* at most what was dirty at its stamp, which is about what we saw before */
    bcache_get_stats(m.bc, &st);
    CHECK_MSG(written <= st.sync_last_dirty, "sync wrote %u, %llu were dirty at its stamp",
              written, (unsigned long long)st.sync_last_dirty);
    CHECK(st.sync_last_dirty >= dirty_at_start);    /* the writer only adds */
    CHECK_MSG(w1 - w0 > 256 || w1 >= w.max_blocks,
              "the writer made only %llu writes during the sync: nothing was tested",
              (unsigned long long)(w1 - w0));
    CHECK_MSG(es.fsync_last_blocks <= 8, "fsync of a 5-byte file wrote %llu blocks",
              (unsigned long long)es.fsync_last_blocks);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    CHECK(ft_debugfs_cat_equals(img, "/small", (const uint8_t *)"small", 5));
}

/* Mount marks the volume in use (not clean on disk, mount count + 1); a
 * clean unmount marks it clean; a crash leaves it not clean, which the next
 * mount reports (unclean_mount) and keeps until e2fsck; a read-only mount
 * writes nothing. */
static void test_clean_flag(void)
{
    char img[700], crash[700];
    snprintf(img, sizeof img, "%s/clean.img", tmpdir);
    snprintf(crash, sizeof crash, "%s/clean-crash.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 8 * 1024, NULL) == 0);
    CHECK(state_is_clean(img));
    long mc = mount_count(img);
    CHECK(mc >= 0);

    struct fsimg m;
    struct ext2_stats es;
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.unclean_mount, 0);
    CHECK_EQ(es.mount_count, mc + 1);
    CHECK(!state_is_clean(img));            /* written at mount */
    CHECK_EQ(mount_count(img), mc + 1);
    uint32_t ino;
    CHECK_EQ(ext2_create(m.fs, "/x", 0644, &ino), 0);
    CHECK_EQ(ext2_write(m.fs, ino, 0, "abc", 3), 3);
    CHECK_EQ(ext2_shutdown(m.fs), 0);
    CHECK(state_is_clean(img));
    CHECK_EQ(ext2_write(m.fs, ino, 0, "zzz", 3), -FS_EROFS);   /* read-only after shutdown */
    char buf[4];
    CHECK_EQ(ext2_read(m.fs, ino, 0, buf, 3), 3);               /* but still readable */
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK(state_is_clean(img));
    CHECK_FSCK(img);
    CHECK(ft_debugfs_cat_equals(img, "/x", (const uint8_t *)"abc", 3));
    char v[64];
    CHECK_EQ(dumpe2fs_field(img, "Last write time:", v, sizeof v), 0);
    CHECK(strcmp(v, "n/a") != 0);

    /* a crash: the copy taken while mounted */
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    CHECK(copy_file(img, crash) == 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_EQ(mount_count(img), mc + 2);
    CHECK(state_is_clean(img));
    CHECK(!state_is_clean(crash));
    CHECK_EQ(fsimg_open(&m, crash, 256, 0), 0);
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.unclean_mount, 1);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK(!state_is_clean(crash));          /* as Linux: stays not clean until checked */
    CHECK_EQ(mount_count(crash), mc + 3);

    /* read-only: not one byte written, even at unmount */
    CHECK_EQ(fsimg_open(&m, img, 256, EXT2_MOUNT_RDONLY), 0);
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.unclean_mount, 0);
    CHECK_EQ(ext2_fsync(m.fs, ino), 0);
    CHECK_EQ(ext2_sync(m.fs), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_EQ(m.td.writes, 0);
    CHECK_EQ(mount_count(img), mc + 2);
}


/* fs/ext2_order.c's invariant: whatever part of the dirty cache reaches the disk, e2fsck -p
 * repairs the result alone.  Rounds of creates, big writes (indirect blocks), renames over
 * files, truncations, unlinks (of open files too), mkdir and rmdir with no sync; then the
 * disk as it is (what the barriers made durable) is copied, a volume sync is logged (the
 * writes it makes are exactly the dirty blocks), and crash images are made from the copy
 * plus a random half of those writes (their contents as the sync left them).  Each must be
 * repaired by e2fsck -p (exit 0 or 1) and be clean under e2fsck -fn after.  Without the
 * ordering (the rig's first run) such images said "illegal block", "directory corrupted",
 * "unattached inode" and "duplicate blocks". */
#define ORD_LOG 4096
static void test_order_any_part_of_the_cache_repairs(void)
{
    char img[700], base[720], crash[720];
    snprintf(img, sizeof img, "%s/order.img", tmpdir);
    snprintf(base, sizeof base, "%s/order.base", tmpdir);
    snprintf(crash, sizeof crash, "%s/order.crash", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 32 * 1024, NULL) == 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 4096, 0), 0);
    struct ext2_fs *fs = m.fs;
    struct testdev_op *log = calloc(ORD_LOG, sizeof *log);
    uint8_t *buf = malloc(400 * 1024), *blk = malloc(4096);
    uint64_t seed = 42;
    uint32_t held[4] = { 0 };
    int images = 0, bad = 0;
    CHECK(log && buf && blk);
    if (!log || !buf || !blk)
        goto done;
    CHECK_EQ(ext2_mkdir(fs, "/d", 0755), 0);
    for (int round = 0; round < 6; round++) {
        char a[64], b[64];
        for (int op = 0; op < 12; op++) {
            uint32_t ino, k = (uint32_t)(ft_rand(&seed) % 6), r = (uint32_t)(ft_rand(&seed) % 8);
            snprintf(a, sizeof a, "/%s%u", k % 2 ? "d/" : "", k);
            snprintf(b, sizeof b, "/%s%u", k % 3 ? "d/" : "", (k + 1) % 6);
            if (r < 3) {
                if (ext2_create(fs, a, 0644, &ino) == 0 || ext2_lookup(fs, a, &ino) == 0) {
                    size_t n = (size_t)(ft_rand(&seed) % (400 * 1024)) + 1;
                    ft_fill(buf, n, seed);
                    CHECK_EQ(ext2_write(fs, ino, ft_rand(&seed) % 4096, buf, n), (int64_t)n);
                }
            } else if (r == 3) {
                (void)ext2_rename(fs, a, b);
            } else if (r == 4) {
                if (ext2_lookup(fs, a, &ino) == 0)
                    (void)ext2_truncate(fs, ino, ft_rand(&seed) % 60000);
            } else if (r == 5) {
                (void)ext2_unlink(fs, a);
            } else if (r == 6) {
                /* unlinked while open: on the orphan list until the close (next round) */
                if (!held[k % 4] && ext2_lookup(fs, a, &ino) == 0 && ext2_open_ino(fs, ino) == 0) {
                    CHECK_EQ(ext2_unlink(fs, a), 0);
                    held[k % 4] = ino;
                }
            } else {
                snprintf(a, sizeof a, "/d/e%u", k);
                if (ext2_mkdir(fs, a, 0755) != 0)
                    (void)ext2_rmdir(fs, a);
            }
        }
        CHECK(copy_file(img, base) == 0);       /* the disk now: only what barriers wrote */
        pthread_mutex_lock(&m.td.lock);
        m.td.log = log;
        m.td.log_cap = ORD_LOG;
        m.td.log_n = 0;
        pthread_mutex_unlock(&m.td.lock);
        CHECK_EQ(ext2_sync(fs), 0);             /* writes exactly the dirty blocks */
        pthread_mutex_lock(&m.td.lock);
        uint32_t nlog = m.td.log_n < ORD_LOG ? m.td.log_n : ORD_LOG;
        m.td.log = NULL;
        pthread_mutex_unlock(&m.td.lock);
        CHECK(nlog > 2);
        int dst = -1, src = open(img, O_RDONLY);
        for (int k = 0; k < 6 && src >= 0; k++) {
            CHECK(copy_file(base, crash) == 0);
            dst = open(crash, O_RDWR);
            CHECK(dst >= 0);
            uint64_t pick = seed + (uint64_t)k * 7919;
            for (uint32_t i = 0; dst >= 0 && i < nlog; i++) {
                if (log[i].flush || ft_rand(&pick) % 2)
                    continue;       /* this write stayed in the volatile cache */
                for (uint32_t sct = 0; sct < log[i].count; sct += 8) {
                    off_t off = (off_t)(log[i].lba + sct) * 512;
                    uint32_t len = log[i].count - sct < 8 ? (log[i].count - sct) * 512 : 4096;
                    CHECK(pread(src, blk, len, off) == (ssize_t)len);
                    CHECK(pwrite(dst, blk, len, off) == (ssize_t)len);
                }
            }
            if (dst >= 0)
                close(dst);
            char *out = NULL;
            int st = ft_sh(&out, "%s -p '%s' 2>&1", ft_tool("e2fsck"), crash);
            images++;
            if (st != 0 && st != 1) {
                bad++;
                CHECK_MSG(0, "round %d image %d: e2fsck -p exit %d: %.500s", round, k, st, out ? out : "");
            } else {
                CHECK_FSCK(crash);
            }
            free(out);
        }
        if (src >= 0)
            close(src);
        for (int i = 0; i < 4; i++)             /* the orphans go at their last close */
            if (held[i] && round % 2) {
                CHECK_EQ(ext2_close_ino(fs, held[i]), 0);
                held[i] = 0;
            }
    }
    printf("# %d crash images from the dirty cache, %d needed more than e2fsck -p\n", images, bad);
    for (int i = 0; i < 4; i++)
        if (held[i])
            CHECK_EQ(ext2_close_ino(fs, held[i]), 0);
done:
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    free(log);
    free(buf);
    free(blk);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    if (!tmpdir) {
        printf("FAIL test_fs_durable: no temp dir\n");
        return 1;
    }
    ft_run("fsync_writes_only_the_file_in_order", test_fsync_writes_only_the_file);
    ft_run("fsync_again_writes_little", test_fsync_again_writes_little);
    ft_run("fsync_forgotten_new_file_syncs_volume", test_fsync_forgotten_new_file_syncs_volume);
    ft_run("fsync_corrupt_map_ends", test_fsync_corrupt_map_ends);
    ft_run("sync_bounded_under_writer", test_sync_bounded_under_writer);
    ft_run("clean_flag_mount_shutdown_crash_ro", test_clean_flag);
    ft_run("order_any_part_of_the_cache_repairs", test_order_any_part_of_the_cache_repairs);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
