/* Host tests of the ext3 journal (issue 15 item 3, fs/ext2_journal.c and
 * fs/ext2_jtrans.c): replay of journals e2fsprogs wrote (debugfs's journal
 * writer) compared with e2fsck's own replay; refusal of what is not
 * supported; and what WorkToDo writes: debugfs logdump reads it, and a copy
 * of the disk as it was at any device flush (plus some of the writes after
 * it, in any order a volatile cache may keep) is clean under e2fsck -fn
 * after e2fsck's replay and after ours, with every file whose FSYNC was
 * answered intact. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs/ext2_journal.h"       /* JOURNAL_DATA_MAX: the limits the test goes past */
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;

static int mk_ext3(const char *img, unsigned bs, unsigned kb)
{
    return ft_mkfs(img, NULL, bs, kb, "-j");
}

static int copy_file(const char *from, const char *to)
{
    return ft_sh(NULL, "cp '%s' '%s'", from, to);
}

static int read_at(const char *img, uint64_t off, void *buf, size_t n)
{
    int fd = open(img, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t got = pread(fd, buf, n, (off_t)off);
    close(fd);
    return got == (ssize_t)n ? 0 : -1;
}

static int write_at(const char *img, uint64_t off, const void *buf, size_t n)
{
    int fd = open(img, O_RDWR);
    if (fd < 0)
        return -1;
    ssize_t put = pwrite(fd, buf, n, (off_t)off);
    close(fd);
    return put == (ssize_t)n ? 0 : -1;
}

/* The fs block of journal block 0 (debugfs bmap <8> 0). */
static long journal_sb_block(const char *img)
{
    char *out = NULL;
    ft_sh(&out, "%s -R 'bmap <8> 0' '%s' 2>/dev/null", ft_tool("debugfs"), img);
    long b = -1;
    for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char *end;
        long v = strtol(line, &end, 10);
        if (end != line && (*end == '\n' || *end == 0))
            b = v;          /* the line that is only a number (not the banner) */
    }
    free(out);
    return b;
}

static int has_feature(const char *img, const char *name)
{
    char *out = NULL;
    ft_sh(&out, "%s -h '%s' 2>/dev/null | grep -i '^Filesystem features:'", ft_tool("dumpe2fs"), img);
    int yes = out && strstr(out, name) != NULL;
    free(out);
    return yes;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int write_all(struct ext2_fs *fs, uint32_t ino, const uint8_t *p, uint32_t len);

/* ---- replay of journals e2fsprogs wrote --------------------------------------- */

static void test_replay_matches_e2fsck(void)
{
    char img[600], a[600], b[600], f1[600], f2[600], fm[600], cmds[600];
    snprintf(img, sizeof img, "%s/r.img", tmpdir);
    snprintf(a, sizeof a, "%s/r_e2fsck.img", tmpdir);
    snprintf(b, sizeof b, "%s/r_ours.img", tmpdir);
    snprintf(f1, sizeof f1, "%s/f1", tmpdir);
    snprintf(f2, sizeof f2, "%s/f2", tmpdir);
    snprintf(fm, sizeof fm, "%s/fm", tmpdir);
    snprintf(cmds, sizeof cmds, "%s/cmds", tmpdir);
    CHECK_EQ(mk_ext3(img, 1024, 16384), 0);
    uint8_t blk[3][1024];
    memset(blk[0], 'A', 1024);
    memset(blk[1], 'B', 1024);
    memset(blk[2], 'C', 1024);
    FILE *f = fopen(f1, "w");
    fwrite(blk[0], 1, 1024, f);
    fwrite(blk[1], 1, 1024, f);
    fclose(f);
    f = fopen(f2, "w");
    fwrite(blk[2], 1, 1024, f);
    fclose(f);
    uint8_t magic[1024];
    memset(magic, 'M', sizeof magic);
    put_be32(magic, 0xC03B3998u);   /* logged escaped */
    f = fopen(fm, "w");
    fwrite(magic, 1, sizeof magic, f);
    fclose(f);
    /* T1 logs X, Y; T2 revokes Y; T3 logs Z (escaped); T4 logs Y again (after its revoke:
     * replayed); T5 logs X and revokes it in the same transaction (not replayed) */
    const unsigned X = 16000, Y = 16001, Z = 16002, W = 16003;
    f = fopen(cmds, "w");
    fprintf(f, "jo\njw -b %u,%u %s\njc\n", X, Y, f1);
    fprintf(f, "jo\njw -r %u\njc\n", Y);
    fprintf(f, "jo\njw -b %u %s\njc\n", Z, fm);
    fprintf(f, "jo\njw -b %u %s\njc\n", Y, f2);
    fprintf(f, "jo\njw -b %u %s\njw -r %u\njc\n", W, f2, W);
    fclose(f);
    char *out = NULL;
    CHECK_EQ(ft_sh(&out, "%s -w -f '%s' '%s'", ft_tool("debugfs"), cmds, img), 0);
    free(out);
    CHECK(has_feature(img, "needs_recovery"));
    /* the transactions debugfs's logdump sees committed are the ones we replay */
    out = NULL;
    ft_sh(&out, "%s -R 'logdump' '%s' 2>&1", ft_tool("debugfs"), img);
    int commits = 0;
    for (char *q = out; q && (q = strstr(q, "(commit block)")) != NULL; q++)
        commits++;
    free(out);
    CHECK(commits >= 5);
    CHECK_EQ(copy_file(img, a), 0);
    CHECK_EQ(copy_file(img, b), 0);

    out = NULL;
    int st = ft_sh(&out, "%s -E journal_only -y '%s'", ft_tool("e2fsck"), a);
    CHECK_MSG(st == 0 || st == 1, "e2fsck journal replay exited %d: %s", st, out ? out : "");
    free(out);

    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, b, 256, EXT2_MOUNT_RDONLY), 0);
    struct ext2_stats es;
    ext2_get_stats(m.fs, &es);
    CHECK_EQ(es.journal_replayed, commits);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK(!has_feature(b, "needs_recovery"));

    uint8_t got[1024];
    CHECK_EQ(read_at(b, (uint64_t)X * 1024, got, 1024), 0);
    CHECK(memcmp(got, blk[0], 1024) == 0);
    CHECK_EQ(read_at(b, (uint64_t)Y * 1024, got, 1024), 0);
    CHECK(memcmp(got, blk[2], 1024) == 0);
    CHECK_EQ(read_at(b, (uint64_t)Z * 1024, got, 1024), 0);
    CHECK(memcmp(got, magic, 1024) == 0);
    CHECK_EQ(read_at(b, (uint64_t)W * 1024, got, 1024), 0);
    uint8_t zero[1024] = { 0 };
    CHECK(memcmp(got, zero, 1024) == 0);

    /* every block but the superblock and the journal superblock as e2fsck left it */
    long jsb = journal_sb_block(img);
    CHECK(jsb > 0);
    uint8_t *pa = malloc(1024), *pb = malloc(1024);
    unsigned diff = 0;
    for (unsigned i = 0; i < 16384; i++) {
        if (i == 1 || i == (unsigned)jsb)
            continue;
        if (read_at(a, (uint64_t)i * 1024, pa, 1024) || read_at(b, (uint64_t)i * 1024, pb, 1024) ||
            memcmp(pa, pb, 1024)) {
            if (!diff)
                fprintf(stderr, "first differing block %u\n", i);
            diff++;
        }
    }
    free(pa);
    free(pb);
    CHECK_EQ(diff, 0);
    CHECK_FSCK(b);
}

static void test_refuses_unsupported(void)
{
    char img[600], bad[600];
    snprintf(img, sizeof img, "%s/u.img", tmpdir);
    snprintf(bad, sizeof bad, "%s/u_bad.img", tmpdir);
    CHECK_EQ(mk_ext3(img, 1024, 8192), 0);
    long jsb = journal_sb_block(img);
    CHECK(jsb > 0);

    /* an incompat journal feature we do not know (csum v3): refused, read-only too */
    CHECK_EQ(copy_file(img, bad), 0);
    uint8_t v[4];
    put_be32(v, 0x10);
    CHECK_EQ(write_at(bad, (uint64_t)jsb * 1024 + 0x28, v, 4), 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, bad, 128, 0), -FS_ENOTSUP);
    CHECK_EQ(fsimg_open(&m, bad, 128, EXT2_MOUNT_RDONLY), -FS_ENOTSUP);

    /* a journal superblock without the magic */
    CHECK_EQ(copy_file(img, bad), 0);
    put_be32(v, 0x12345678);
    CHECK_EQ(write_at(bad, (uint64_t)jsb * 1024, v, 4), 0);
    CHECK_EQ(fsimg_open(&m, bad, 128, 0), -FS_EUCLEAN);

    /* needs_recovery on a volume without a journal */
    char e2[600];
    snprintf(e2, sizeof e2, "%s/u_ext2.img", tmpdir);
    CHECK_EQ(ft_mkfs(e2, NULL, 1024, 8192, NULL), 0);
    uint32_t incompat;
    CHECK_EQ(read_at(e2, 1024 + 0x60, &incompat, 4), 0);
    incompat |= EXT2_FEATURE_INCOMPAT_RECOVER;
    CHECK_EQ(write_at(e2, 1024 + 0x60, &incompat, 4), 0);
    CHECK_EQ(fsimg_open(&m, e2, 128, 0), -FS_EUCLEAN);

    /* the untouched image mounts, and unmounts clean without needs_recovery */
    CHECK_EQ(fsimg_open(&m, img, 128, 0), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK(!has_feature(img, "needs_recovery"));
    CHECK_FSCK(img);
}

/* A logged metadata block that begins with the jbd2 magic (a slow symlink's
 * target) is escaped in the log: both replays bring it back whole. */
static void test_escape_in_log(void)
{
    char img[600], a[600], b[600];
    snprintf(img, sizeof img, "%s/e.img", tmpdir);
    snprintf(a, sizeof a, "%s/e_e2fsck.img", tmpdir);
    snprintf(b, sizeof b, "%s/e_ours.img", tmpdir);
    CHECK_EQ(mk_ext3(img, 1024, 8192), 0);
    char target[200];
    memset(target, 'L', sizeof target);
    put_be32((uint8_t *)target, 0xC03B3998u);
    /* (no NUL in a target: the rest cannot look like a valid header, so an unescaped copy
     * would end the log before its commit block) */
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 128, 0), 0);
    uint32_t ino;
    CHECK_EQ(ext2_symlink_as(m.fs, "/magic", target, sizeof target, 0, 0, &ino), 0);
    CHECK_EQ(ext2_sync(m.fs), 0);
    CHECK_EQ(copy_file(img, a), 0);         /* a crash now: only the log has it */
    CHECK_EQ(copy_file(img, b), 0);
    struct ext2_stats es;
    ext2_get_stats(m.fs, &es);
    CHECK(es.journal_commits >= 1);
    CHECK_EQ(fsimg_close(&m), 0);

    /* debugfs sees the copy tagged escaped, and in the log it begins with zeros */
    char *out = NULL;
    ft_sh(&out, "%s -R 'logdump -a' '%s' 2>&1", ft_tool("debugfs"), a);
    unsigned fsb = 0, jb = 0, flags = 0;
    int escaped = 0;
    for (char *q = out; q && (q = strstr(q, "FS block ")) != NULL; q++)
        if (sscanf(q, "FS block %u logged at journal block %u (flags 0x%x)", &fsb, &jb, &flags) == 3 &&
            (flags & 1)) {
            escaped = 1;
            break;
        }
    free(out);
    CHECK(escaped);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "bmap <8> %u", jb);
    out = NULL;
    ft_sh(&out, "%s -R '%s' '%s' 2>/dev/null", ft_tool("debugfs"), cmd, a);
    long phys = -1;
    for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char *end;
        long v = strtol(line, &end, 10);
        if (end != line && (*end == '\n' || *end == 0))
            phys = v;
    }
    free(out);
    CHECK(phys > 0);
    uint8_t head[4] = { 1, 1, 1, 1 };
    CHECK_EQ(read_at(a, (uint64_t)phys * 1024, head, 4), 0);
    CHECK(head[0] == 0 && head[1] == 0 && head[2] == 0 && head[3] == 0);

    out = NULL;
    int st = ft_sh(&out, "%s -E journal_only -y '%s'", ft_tool("e2fsck"), a);
    CHECK_MSG(st == 0 || st == 1, "e2fsck replay exited %d: %s", st, out ? out : "");
    free(out);
    CHECK_FSCK(a);
    const char *imgs[2] = { a, b };
    for (int i = 0; i < 2; i++) {
        char got[256];
        CHECK_EQ(fsimg_open(&m, imgs[i], 128, 0), 0);
        uint32_t li = 0;
        CHECK_EQ(ext2_lookup(m.fs, "/magic", &li), 0);
        CHECK_EQ(ext2_readlink(m.fs, li, got, sizeof got), (int64_t)sizeof target);
        CHECK(memcmp(got, target, sizeof target) == 0);
        CHECK_EQ(fsimg_close(&m), 0);
        CHECK_FSCK(imgs[i]);
    }
}

/* Blocks freed by a transaction not yet committed are not reused: a crash
 * before that commit brings the old file back, and its data must be its own. */
static void test_freed_blocks_wait_for_commit(void)
{
    char img[600], crash[600];
    snprintf(img, sizeof img, "%s/f.img", tmpdir);
    snprintf(crash, sizeof crash, "%s/f_crash.img", tmpdir);
    CHECK_EQ(mk_ext3(img, 1024, 8192), 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    static uint8_t old_data[40000], new_data[40000];
    ft_fill(old_data, sizeof old_data, 1);
    ft_fill(new_data, sizeof new_data, 2);
    uint32_t a, b;
    CHECK_EQ(ext2_create(m.fs, "/old", 0644, &a), 0);
    CHECK_EQ(write_all(m.fs, a, old_data, sizeof old_data), 0);
    CHECK_EQ(ext2_fsync(m.fs, a), 0);
    /* while the unlink is only in the running transaction, a new file's data is
     * written home (the flusher) */
    CHECK_EQ(ext2_unlink(m.fs, "/old"), 0);
    CHECK_EQ(ext2_create(m.fs, "/new", 0644, &b), 0);
    CHECK_EQ(write_all(m.fs, b, new_data, sizeof new_data), 0);
    CHECK(bcache_flush_some(m.bc, 100000) >= 0);
    CHECK_EQ(bcache_flush(m.bc), 0);
    CHECK_EQ(copy_file(img, crash), 0);     /* crash before the unlink committed */
    CHECK_EQ(fsimg_close(&m), 0);
    struct fsimg m2;
    CHECK_EQ(fsimg_open(&m2, crash, 256, 0), 0);
    CHECK_EQ(fsimg_close(&m2), 0);
    CHECK_FSCK(crash);
    CHECK(ft_debugfs_cat_equals(crash, "/old", old_data, sizeof old_data));
}

/* A nearly full volume: the space a delete freed is usable by the next write
 * (the delete is committed first), not ENOSPC until some later commit. */
static void test_freed_space_reused_when_full(void)
{
    char img[600];
    snprintf(img, sizeof img, "%s/full.img", tmpdir);
    CHECK_EQ(mk_ext3(img, 4096, 16384), 0);        /* 4 KiB blocks: few indirect blocks to change */
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    struct ext2_statfs sf;
    CHECK_EQ(ext2_statfs(m.fs, &sf), 0);
    uint32_t len = (uint32_t)(sf.free_blocks - 60) * 4096;     /* room for its indirect blocks */
    uint8_t *data = malloc(len);
    ft_fill(data, len, 3);
    uint32_t a, b;
    CHECK_EQ(ext2_create(m.fs, "/a", 0644, &a), 0);
    CHECK_EQ(ext2_create(m.fs, "/b", 0644, &b), 0);
    CHECK_EQ(write_all(m.fs, a, data, len), 0);
    CHECK_EQ(ext2_sync(m.fs), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/a"), 0);          /* in the running transaction only */
    int64_t w = ext2_write(m.fs, b, 0, data, len);  /* one change: no commit inside it */
    free(data);
    CHECK_EQ(w, len);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Group commit: FSYNCs from several threads that come while a commit is
 * being written are answered by one later commit, not one commit each. */
struct gc_arg {
    struct fsimg *m;
    int id;
    pthread_barrier_t *bar;
    int err;
};

static void *gc_thread(void *p)
{
    struct gc_arg *g = p;
    char path[32];
    uint8_t buf[4096];
    uint32_t ino;
    snprintf(path, sizeof path, "/g%d", g->id);
    memset(buf, g->id, sizeof buf);
    if (ext2_create(g->m->fs, path, 0644, &ino)) {
        g->err = 1;
        return NULL;
    }
    pthread_barrier_wait(g->bar);
    for (int i = 0; i < 10 && !g->err; i++)
        if (ext2_write(g->m->fs, ino, (uint64_t)i * sizeof buf, buf, sizeof buf) != (int64_t)sizeof buf ||
            ext2_fsync(g->m->fs, ino))
            g->err = 1;
    return NULL;
}

static void test_group_commit(void)
{
    char img[600];
    snprintf(img, sizeof img, "%s/g.img", tmpdir);
    CHECK_EQ(mk_ext3(img, 4096, 32768), 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 1024, 0), 0);
    m.td.write_delay_us = 2000;             /* a slow disk: commits take a while */
    enum { N = 8 };
    pthread_t t[N];
    struct gc_arg a[N];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    struct ext2_stats before, after;
    ext2_get_stats(m.fs, &before);
    for (int i = 0; i < N; i++) {
        a[i] = (struct gc_arg){ &m, i, &bar, 0 };
        pthread_create(&t[i], NULL, gc_thread, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < N; i++)
        CHECK_EQ(a[i].err, 0);
    ext2_get_stats(m.fs, &after);
    uint64_t fsyncs = after.fsyncs - before.fsyncs, commits = after.journal_commits - before.journal_commits;
    CHECK_EQ(fsyncs, N * 10);
    CHECK_MSG(commits < fsyncs, "%llu commits for %llu fsyncs", (unsigned long long)commits,
              (unsigned long long)fsyncs);
    if (getenv("FS_LOG"))
        fprintf(stderr, "group commit: %llu commits for %llu fsyncs\n", (unsigned long long)commits,
            (unsigned long long)fsyncs);
    m.td.write_delay_us = 0;
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* A writer far ahead of a slow disk: its data goes out in background commits of about
 * JOURNAL_DATA_SOFT_BYTES each while the writer waits outside the volume lock
 * (throttled), never in a commit that a change makes in place under the lock at the
 * size limit (which would stall every other change for the whole write); meanwhile
 * small write + FSYNC pairs on another file go on, and everything reads back. */
struct bg_writer {
    struct ext2_fs *fs;
    uint32_t ino, blocks;
    int err;
    volatile int done;
};

static void *bg_writer_main(void *arg)
{
    struct bg_writer *w = arg;
    uint8_t buf[4096];
    for (uint32_t b = 0; b < w->blocks && !w->err; b++) {
        memset(buf, (int)(b * 7 + 1), sizeof buf);
        if (ext2_write(w->fs, w->ino, (uint64_t)b * 4096, buf, sizeof buf) != 4096)
            w->err = -1;
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_writer_commits_in_background(void)
{
    char img[600];
    snprintf(img, sizeof img, "%s/bg.img", tmpdir);
    CHECK_EQ(mk_ext3(img, 4096, 32768), 0);
    struct fsimg m;
    CHECK_EQ(fsimg_open(&m, img, 8192, 0), 0);
    uint32_t big, small;
    CHECK_EQ(ext2_create(m.fs, "/big", 0644, &big), 0);
    CHECK_EQ(ext2_create(m.fs, "/small", 0644, &small), 0);
    CHECK_EQ(ext2_sync(m.fs), 0);
    struct ext2_stats before, after;
    ext2_get_stats(m.fs, &before);
    m.td.write_delay_us = 100;              /* the disk is far slower than the writer */
    struct bg_writer w = { m.fs, big, 3 * JOURNAL_DATA_MAX / 2, 0, 0 };
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, bg_writer_main, &w), 0);
    int pairs = 0, perr = 0;
    uint8_t sbuf[4096];
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && !perr) {
        memset(sbuf, 'a' + pairs % 16, sizeof sbuf);
        if (ext2_write(m.fs, small, (uint64_t)(pairs % 16) * 4096, sbuf, sizeof sbuf) != 4096 ||
            ext2_fsync(m.fs, small) != 0)
            perr = 1;
        pairs++;
    }
    pthread_join(t, NULL);
    m.td.write_delay_us = 0;
    ext2_get_stats(m.fs, &after);
    CHECK_EQ(w.err, 0);
    CHECK_EQ(perr, 0);
    CHECK_MSG(pairs >= 2, "only %d write + fsync pairs beside the writer", pairs);
    uint64_t bg = after.journal_background_commits - before.journal_background_commits;
    uint64_t inplace = after.journal_inplace_commits - before.journal_inplace_commits;
    uint64_t thr = after.journal_throttled - before.journal_throttled;
    CHECK_MSG(bg >= 2, "%llu background commits for %u blocks of data", (unsigned long long)bg, w.blocks);
    CHECK_MSG(inplace == 0, "%llu commits in place under the volume lock", (unsigned long long)inplace);
    CHECK_MSG(thr >= 1, "the writer was never slowed down (%llu)", (unsigned long long)thr);
    if (getenv("FS_LOG"))
        fprintf(stderr, "background: %llu commits, %llu in place, %llu throttled, %d fsync pairs\n",
                (unsigned long long)bg, (unsigned long long)inplace, (unsigned long long)thr, pairs);
    /* overwrites allocate nothing: they start no background commit (their blocks stay in
     * the cache, written once however often they change) */
    uint8_t ob[4096];
    memset(ob, 0x77, sizeof ob);
    for (uint32_t b = 0; b < JOURNAL_DATA_MAX / 2; b++)
        CHECK_EQ(ext2_write(m.fs, big, (uint64_t)(b % 64) * 4096 + 4096 * 1000, ob, sizeof ob), 4096);
    struct ext2_stats over;
    ext2_get_stats(m.fs, &over);
    CHECK_EQ(over.journal_background_commits, after.journal_background_commits);
    uint8_t rb0[4096];
    CHECK_EQ(ext2_read(m.fs, big, 4096 * 1010, rb0, sizeof rb0), 4096);
    CHECK(memcmp(rb0, ob, sizeof ob) == 0);
    uint8_t rb[4096], want[4096];
    for (uint32_t b = 0; b < w.blocks; b += 97) {
        if (b >= 1000 && b < 1064)
            continue;                                   /* overwritten above */
        memset(want, (int)(b * 7 + 1), sizeof want);
        CHECK_EQ(ext2_read(m.fs, big, (uint64_t)b * 4096, rb, sizeof rb), 4096);
        CHECK(memcmp(rb, want, sizeof rb) == 0);
    }
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* ---- what we write ---------------------------------------------------------------- */

struct durable_file {
    char path[64];
    uint8_t *data;
    uint32_t len;
    uint32_t log_pos;       /* device log length when its FSYNC was answered */
};

struct run {
    struct fsimg m;
    struct durable_file files[256];
    int nfiles;
    uint64_t seed;
};

static int write_all(struct ext2_fs *fs, uint32_t ino, const uint8_t *p, uint32_t len)
{
    for (uint32_t off = 0; off < len;) {
        uint32_t n = len - off < 7000 ? len - off : 7000;
        int64_t w = ext2_write(fs, ino, off, p + off, n);
        if (w != (int64_t)n)
            return -1;
        off += n;
    }
    return 0;
}

/* Random creates, writes, fsyncs, renames, unlinks, truncates, mkdirs; files
 * whose FSYNC was answered are recorded and never touched again. */
static int random_ops(struct run *rn, int steps)
{
    struct ext2_fs *fs = rn->m.fs;
    char scratch[64][64];
    int nscratch = 0, ndirs = 1;
    if (ext2_mkdir(fs, "/d0", 0755))
        return -1;
    for (int s = 0; s < steps; s++) {
        unsigned op = (unsigned)(ft_rand(&rn->seed) % 10);
        if (op < 4 && rn->nfiles < 256) {
            struct durable_file *df = &rn->files[rn->nfiles];
            snprintf(df->path, sizeof df->path, "/d%u/f%d", (unsigned)(ft_rand(&rn->seed) % ndirs), s);
            df->len = (uint32_t)(ft_rand(&rn->seed) % 30000);
            df->data = malloc(df->len + 1);
            ft_fill(df->data, df->len, rn->seed + (uint64_t)s);
            uint32_t ino;
            if (ext2_create(fs, df->path, 0644, &ino) || write_all(fs, ino, df->data, df->len))
                return -1;
            if (ft_rand(&rn->seed) % 2 == 0) {
                if (ext2_fsync(fs, ino))
                    return -1;
                df->log_pos = rn->m.td.log_n;
                rn->nfiles++;
            } else {
                free(df->data);
                df->data = NULL;
                if (nscratch < 64)
                    snprintf(scratch[nscratch++], 64, "%s", df->path);
            }
        } else if (op == 4 && ndirs < 8) {
            char d[32];
            snprintf(d, sizeof d, "/d%d", ndirs++);
            if (ext2_mkdir(fs, d, 0755))
                return -1;
        } else if (op == 5 && nscratch) {
            int i = (int)(ft_rand(&rn->seed) % (uint64_t)nscratch);
            char to[64];
            snprintf(to, sizeof to, "/d%u/r%d", (unsigned)(ft_rand(&rn->seed) % ndirs), s);
            if (ext2_rename(fs, scratch[i], to))
                return -1;
            snprintf(scratch[i], 64, "%s", to);
        } else if (op == 6 && nscratch) {
            int i = (int)(ft_rand(&rn->seed) % (uint64_t)nscratch);
            if (ext2_unlink(fs, scratch[i]))
                return -1;
            memmove(scratch[i], scratch[nscratch - 1], 64);
            nscratch--;
        } else if (op == 7 && nscratch) {
            uint32_t ino;
            int i = (int)(ft_rand(&rn->seed) % (uint64_t)nscratch);
            if (ext2_lookup(fs, scratch[i], &ino) ||
                ext2_truncate(fs, ino, ft_rand(&rn->seed) % 5000))
                return -1;
        } else if (op == 8 && nscratch) {
            uint32_t ino;
            uint8_t junk[3000];
            int i = (int)(ft_rand(&rn->seed) % (uint64_t)nscratch);
            ft_fill(junk, sizeof junk, rn->seed);
            if (ext2_lookup(fs, scratch[i], &ino) ||
                ext2_write(fs, ino, ft_rand(&rn->seed) % 20000, junk, sizeof junk) != (int64_t)sizeof junk)
                return -1;
        } else if (op == 9 && ft_rand(&rn->seed) % 4 == 0) {
            if (ext2_sync(fs))
                return -1;
        }
        if (s % 3 == 0 && bcache_flush_some(rn->m.bc, (uint32_t)(ft_rand(&rn->seed) % 64)) < 0)
            return -1;              /* the kernel's flusher, between changes */
    }
    return 0;
}

/* 1 if every file whose FSYNC was answered before log position upto reads back
 * as written in image (one debugfs run dumps them all). */
static int files_intact(struct run *rn, const char *image, uint32_t upto, char *why, size_t whyn)
{
    char cmds[600];
    snprintf(cmds, sizeof cmds, "%s/dump.cmds", tmpdir);
    FILE *f = fopen(cmds, "w");
    int n = 0;
    for (int i = 0; i < rn->nfiles; i++)
        if (rn->files[i].log_pos <= upto) {
            fprintf(f, "dump %s %s/dump.%d\n", rn->files[i].path, tmpdir, i);
            n++;
        }
    fclose(f);
    if (!n)
        return 1;
    ft_sh(NULL, "rm -f %s/dump.*[0-9]; %s -f '%s' '%s'", tmpdir, ft_tool("debugfs"), cmds, image);
    for (int i = 0; i < rn->nfiles; i++) {
        struct durable_file *df = &rn->files[i];
        if (df->log_pos > upto)
            continue;
        char p[700];
        snprintf(p, sizeof p, "%s/dump.%d", tmpdir, i);
        FILE *g = fopen(p, "r");
        uint8_t *buf = malloc(df->len + 1);
        size_t got = g ? fread(buf, 1, df->len + 1, g) : 0;
        int ok = g && got == df->len && memcmp(buf, df->data, df->len) == 0;
        if (g)
            fclose(g);
        free(buf);
        if (!ok) {
            snprintf(why, whyn, "%s (%u bytes, fsync at %u) reads back %zu bytes%s", df->path, df->len,
                     df->log_pos, got, g ? "" : " (missing)");
            return 0;
        }
    }
    return 1;
}

/* Applies log entries [from, to) of the device log to the image file fd. */
static void apply(int fd, struct testdev_op *log, uint32_t from, uint32_t to, uint64_t *pick_seed)
{
    for (uint32_t i = from; i < to; i++) {
        if (log[i].flush || !log[i].data)
            continue;
        /* after the last flush a volatile cache keeps any part of each write: all of it,
         * none, or some of its 512-byte sectors */
        unsigned how = pick_seed ? (unsigned)(ft_rand(pick_seed) % 3) : 0;
        for (uint32_t sct = 0; sct < log[i].count; sct++) {
            if (how == 1 || (how == 2 && ft_rand(pick_seed) % 2))
                continue;
            if (pwrite(fd, (uint8_t *)log[i].data + (size_t)sct * 512, 512, (off_t)((log[i].lba + sct) * 512)) < 0)
                return;
        }
    }
}

static void crash_points(unsigned bs, uint64_t seed, int steps, int points)
{
    char img[600], base[600], work[600], crash[600];
    snprintf(img, sizeof img, "%s/c.img", tmpdir);
    snprintf(base, sizeof base, "%s/c_base.img", tmpdir);
    snprintf(work, sizeof work, "%s/c_work.img", tmpdir);
    snprintf(crash, sizeof crash, "%s/c_crash.img", tmpdir);
    CHECK_EQ(mk_ext3(img, bs, 16384), 0);
    struct run *rn = calloc(1, sizeof *rn);
    rn->seed = seed;
    CHECK_EQ(fsimg_open(&rn->m, img, 96, 0), 0);
    CHECK_EQ(copy_file(img, base), 0);     /* the disk after mount: every write flushed */
    rn->m.td.log_cap = 1u << 20;
    rn->m.td.log = calloc(rn->m.td.log_cap, sizeof *rn->m.td.log);
    rn->m.td.log_data = 1;
    int ops = random_ops(rn, steps);
    CHECK_EQ(ops, 0);
    /* one commit after whatever the run ended with (a checkpoint empties the log, and with
     * background commits on threads one may have come last): the log logdump reads holds
     * a transaction */
    uint32_t probe;
    CHECK_EQ(ext2_create(rn->m.fs, "/logdump-probe", 0644, &probe), 0);
    CHECK_EQ(ext2_write(rn->m.fs, probe, 0, "p", 1), 1);
    CHECK_EQ(ext2_fsync(rn->m.fs, probe), 0);
    struct testdev_op *log = rn->m.td.log;
    uint32_t nlog = rn->m.td.log_n;
    CHECK(nlog < rn->m.td.log_cap);

    /* debugfs reads our log (the disk as it is now, a crash without unmount) */
    CHECK_EQ(copy_file(img, crash), 0);
    char *out = NULL;
    ft_sh(&out, "%s -R 'logdump' '%s' 2>&1", ft_tool("debugfs"), crash);
    CHECK_MSG(out && strstr(out, "(commit block)") && strstr(out, "(descriptor block)"),
              "logdump: %.500s", out ? out : "");
    CHECK_MSG(out && !strstr(out, "unexpected") && !strstr(out, "bad"), "logdump: %.500s", out);
    free(out);
    struct ext2_stats es;
    ext2_get_stats(rn->m.fs, &es);
    CHECK(es.journal_commits > 2);

    uint32_t flushes[8192], nf = 0;
    for (uint32_t i = 0; i < nlog && nf < 8192; i++)
        if (log[i].flush)
            flushes[nf++] = i;
    CHECK(nf > 4);
    if (getenv("FS_LOG"))
        fprintf(stderr, "%u device log entries, %u flushes, %u commits, %u checkpoints\n", nlog, nf,
            (unsigned)es.journal_commits, (unsigned)es.journal_checkpoints);
    int wfd = -1;
    CHECK_EQ(copy_file(base, work), 0);
    wfd = open(work, O_RDWR);
    CHECK(wfd >= 0);
    uint32_t applied = 0;
    uint64_t pick = seed ^ 0x5555;
    if ((uint32_t)points > nf)
        points = (int)nf;
    for (int p = 0; p < points && !th_failed_now(); p++) {
        /* spread over the run, the last flush included */
        uint32_t k = (uint32_t)((uint64_t)(p + 1) * nf / (uint64_t)points) - 1;
        uint32_t at = flushes[k];
        apply(wfd, log, applied, at, NULL);
        applied = at;
        fsync(wfd);
        CHECK_EQ(copy_file(work, crash), 0);
        /* some of the writes up to the next flush reached the disk, some not */
        uint32_t next = k + 1 < nf ? flushes[k + 1] : nlog;
        int cfd = open(crash, O_RDWR);
        apply(cfd, log, at, next, &pick);
        close(cfd);
        char ours[700];
        snprintf(ours, sizeof ours, "%s.ours", crash);
        CHECK_EQ(copy_file(crash, ours), 0);

        /* e2fsck's replay, then a clean e2fsck -fn */
        out = NULL;
        int st = ft_sh(&out, "%s -E journal_only -y '%s'", ft_tool("e2fsck"), crash);
        CHECK_MSG(st == 0 || st == 1, "crash point %d (flush %u): e2fsck replay exited %d: %.300s", p, k, st,
                  out ? out : "");
        free(out);
        char *rep = NULL;
        if (!ft_e2fsck_clean(crash, &rep)) {
            ft_fail(__FILE__, __LINE__, "crash point %d (flush %u/%u) after e2fsck replay: %.600s", p, k, nf,
                rep ? rep : "?");
            free(rep);
            break;
        }
        char why[300];
        CHECK_MSG(files_intact(rn, crash, at, why, sizeof why), "crash point %d, e2fsck replay: %s", p, why);

        /* our replay at the next mount */
        struct fsimg m2;
        int mr = fsimg_open(&m2, ours, 64, 0);
        CHECK_MSG(mr == 0, "crash point %d: our mount failed %d", p, mr);
        struct ext2_stats es2;
        ext2_get_stats(m2.fs, &es2);
        CHECK_EQ(es2.unclean_mount, 0);         /* ext3: consistent after the journal */
        CHECK_EQ(fsimg_close(&m2), 0);
        if (p == 0) {
            char state[64] = "";
            out = NULL;
            ft_sh(&out, "%s -h '%s' 2>/dev/null | grep '^Filesystem state:'", ft_tool("dumpe2fs"), ours);
            CHECK_MSG(out && strstr(out, "clean") && !strstr(out, "not clean"), "state after our replay: %s%s",
                      out ? out : "?", state);
            free(out);
        }
        if (!ft_e2fsck_clean(ours, &rep)) {
            ft_fail(__FILE__, __LINE__, "crash point %d (flush %u/%u) after our replay: %.600s", p, k, nf,
                rep ? rep : "?");
            free(rep);
            break;
        }
        CHECK_MSG(files_intact(rn, ours, at, why, sizeof why), "crash point %d, our replay: %s", p, why);
    }
    close(wfd);

    /* and a clean unmount leaves no needs_recovery and a clean volume */
    CHECK_EQ(fsimg_close(&rn->m), 0);
    CHECK(!has_feature(img, "needs_recovery"));
    CHECK_FSCK(img);
    char why[300];
    CHECK_MSG(files_intact(rn, img, UINT32_MAX, why, sizeof why), "after unmount: %s", why);
    for (uint32_t i = 0; i < rn->m.td.log_n && i < rn->m.td.log_cap; i++)
        free(log[i].data);     /* the unmount's writes too */
    free(log);
    for (int i = 0; i < rn->nfiles; i++)
        free(rn->files[i].data);
    free(rn);
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

static void test_crash_points_1k(void)
{
    crash_points(1024, (uint64_t)env_int("FS_JOURNAL_SEED", 7), env_int("FS_JOURNAL_STEPS", 160), env_int("FS_JOURNAL_POINTS", 1000));
}

static void test_crash_points_4k(void)
{
    crash_points(4096, (uint64_t)env_int("FS_JOURNAL_SEED", 7) + 1, env_int("FS_JOURNAL_STEPS", 160) * 3 / 4, env_int("FS_JOURNAL_POINTS", 1000));
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    if (!tmpdir) {
        printf("FAIL test_fs_journal: no temp dir\n");
        return 1;
    }
    ft_run("journal_replay_matches_e2fsck", test_replay_matches_e2fsck);
    ft_run("journal_refuses_unsupported", test_refuses_unsupported);
    ft_run("journal_escape_in_log", test_escape_in_log);
    ft_run("journal_freed_blocks_wait_for_commit", test_freed_blocks_wait_for_commit);
    ft_run("journal_freed_space_reused_when_full", test_freed_space_reused_when_full);
    ft_run("journal_group_commit", test_group_commit);
    ft_run("journal_writer_commits_in_background", test_writer_commits_in_background);
    ft_run("journal_crash_points_1k", test_crash_points_1k);
    ft_run("journal_crash_points_4k", test_crash_points_4k);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
