/* Host tests of ext2's POSIX semantics (issue 14): files unlinked while open kept on the
 * orphan list until their last close, the list a crash leaves freed at the next mount,
 * rename's rules, O_APPEND writes atomic against each other, and the times each change
 * sets.  Each scenario ends with `e2fsck -fn` clean. */
#include "fs/ext2.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *tmpdir;
static char img[600];

static int new_image(const char *name)
{
    snprintf(img, sizeof img, "%s/%s.img", tmpdir, name);
    return ft_mkfs(img, NULL, 1024, 8 * 1024, NULL);
}

static int64_t free_blocks(struct ext2_fs *fs)
{
    struct ext2_statfs st;
    ext2_statfs(fs, &st);
    return (int64_t)st.free_blocks;
}

static int64_t free_inodes(struct ext2_fs *fs)
{
    struct ext2_statfs st;
    ext2_statfs(fs, &st);
    return (int64_t)st.free_inodes;
}

/* A file with n bytes of pattern seed at path; its inode. */
static uint32_t make_file(struct ext2_fs *fs, const char *path, uint8_t *data, size_t n, uint64_t seed)
{
    uint32_t ino = 0;
    ft_fill(data, n, seed);
    if (ext2_create(fs, path, 0644, &ino) || ext2_write(fs, ino, 0, data, n) != (int64_t)n)
        return 0;
    return ino;
}

/* Open, unlink: the data stays readable and writable by number, the space stays used, and
 * the inode is on the orphan list until the close frees it. */
static void test_unlinked_open_file_kept_until_close(void)
{
    struct fsimg m;
    static uint8_t data[300000], back[300000];
    CHECK(new_image("keep") == 0);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    int64_t blocks0 = free_blocks(m.fs), inodes0 = free_inodes(m.fs);
    uint32_t ino = make_file(m.fs, "/f", data, sizeof data, 1), got;
    CHECK(ino != 0);
    CHECK_EQ(ext2_open_ino(m.fs, ino), 0);
    CHECK_EQ(ext2_open_ino(m.fs, ino), 0);          /* two handles */
    CHECK_EQ(ext2_unlink(m.fs, "/f"), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/f", &got), -FS_ENOENT);
    CHECK_EQ(ext2_orphan_head(m.fs), ino);
    struct ext2_stat st;
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.nlink, 0);
    CHECK_EQ(st.size, sizeof data);
    CHECK_EQ(ext2_read(m.fs, ino, 0, back, sizeof back), (int64_t)sizeof back);
    CHECK(memcmp(data, back, sizeof data) == 0);
    CHECK_EQ(ext2_write(m.fs, ino, 1000, "still here", 10), 10);
    CHECK_EQ(ext2_read(m.fs, ino, 1000, back, 10), 10);
    CHECK(memcmp(back, "still here", 10) == 0);
    CHECK(free_blocks(m.fs) < blocks0);              /* the data still holds its blocks */
    CHECK_EQ(ext2_close_ino(m.fs, ino), 0);
    CHECK_EQ(ext2_orphan_head(m.fs), ino);           /* one handle left */
    CHECK_EQ(ext2_read(m.fs, ino, 0, back, 10), 10);
    CHECK_EQ(ext2_close_ino(m.fs, ino), 0);          /* the last close frees it */
    CHECK_EQ(ext2_orphan_head(m.fs), 0);
    CHECK_EQ(ext2_stat(m.fs, ino, &st), -FS_ENOENT);
    CHECK_EQ(ext2_read(m.fs, ino, 0, back, 10), -FS_ENOENT);
    CHECK_EQ(free_blocks(m.fs), blocks0);
    CHECK_EQ(free_inodes(m.fs), inodes0);
    /* a closed file that is unlinked goes at once; an inode freed meanwhile cannot be opened */
    ino = make_file(m.fs, "/g", data, 5000, 2);
    CHECK(ino != 0);
    CHECK_EQ(ext2_unlink(m.fs, "/g"), 0);
    CHECK_EQ(ext2_orphan_head(m.fs), 0);
    CHECK_EQ(ext2_open_ino(m.fs, ino), -FS_ENOENT);
    CHECK_EQ(ext2_open_ino(m.fs, 2), -FS_EISDIR);    /* the root: not a file */
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Three orphans closed in another order than they were unlinked (the list is unlinked from
 * its middle); a rename over an open file orphans the replaced one. */
static void test_orphan_list_any_order_and_rename_over(void)
{
    struct fsimg m;
    static uint8_t data[3][20000], back[20000];
    uint32_t ino[3];
    CHECK(new_image("order") == 0);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    int64_t blocks0 = free_blocks(m.fs), inodes0 = free_inodes(m.fs);
    for (int i = 0; i < 3; i++) {
        char p[16];
        snprintf(p, sizeof p, "/o%d", i);
        ino[i] = make_file(m.fs, p, data[i], sizeof data[i], (uint64_t)i + 10);
        CHECK(ino[i] != 0);
        CHECK_EQ(ext2_open_ino(m.fs, ino[i]), 0);
    }
    CHECK_EQ(ext2_unlink(m.fs, "/o0"), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/o1"), 0);
    uint32_t newer;
    CHECK(make_file(m.fs, "/new", back, 100, 99) != 0);
    CHECK_EQ(ext2_lookup(m.fs, "/new", &newer), 0);
    CHECK_EQ(ext2_rename(m.fs, "/new", "/o2"), 0);   /* o2 replaced while open */
    CHECK_EQ(ext2_lookup(m.fs, "/o2", &newer), 0);
    CHECK(newer != ino[2]);
    CHECK_EQ(ext2_orphan_head(m.fs), ino[0]);        /* orphans join at the tail */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(ext2_read(m.fs, ino[i], 0, back, sizeof back), (int64_t)sizeof back);
        CHECK(memcmp(back, data[i], sizeof back) == 0);
    }
    CHECK_EQ(ext2_close_ino(m.fs, ino[1]), 0);       /* the middle: spent, stays listed */
    CHECK_EQ(ext2_read(m.fs, ino[0], 0, back, sizeof back), (int64_t)sizeof back);
    CHECK(memcmp(back, data[0], sizeof back) == 0);
    CHECK_EQ(ext2_close_ino(m.fs, ino[2]), 0);       /* the tail: goes, and the spent one */
    CHECK_EQ(ext2_orphan_head(m.fs), ino[0]);
    CHECK_EQ(ext2_close_ino(m.fs, ino[0]), 0);
    CHECK_EQ(ext2_orphan_head(m.fs), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/o2"), 0);
    CHECK_EQ(free_blocks(m.fs), blocks0);
    CHECK_EQ(free_inodes(m.fs), inodes0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Every line e2fsck -fn prints about a crash's orphan list is one of these (plus the
 * pass headers and the summary): nothing else may be wrong with the image. */
static int orphan_report_only(const char *out, int *orphan_lines)
{
    static const char *const ok[] = {
        "e2fsck ", "Pass ", "Inodes that were part of a corrupted orphan linked list found",
        "was part of the orphaned inode list", "has zero dtime", "Block bitmap differences:",
        "Inode bitmap differences:", "Fix? no", "Free blocks count wrong", "Free inodes count wrong",
        "WARNING: Filesystem still has errors", " files (", NULL
    };
    *orphan_lines = 0;
    char *copy = strdup(out), *save = NULL;
    int good = 1;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int known = 0;
        for (int i = 0; ok[i] && !known; i++)
            known = strstr(l, ok[i]) != NULL;
        if (strstr(l, "orphan") || strstr(l, "zero dtime"))
            ++*orphan_lines;
        if (!known && strspn(l, " \t") != strlen(l))
            good = 0;
    }
    free(copy);
    return good;
}

/* A crash with two files unlinked while open: the image on disk holds the orphan list.
 * e2fsck -n reports only the orphans, e2fsck -p clears them, and WorkToDo's next mount
 * frees them itself, leaving the image clean. */
static void test_crash_orphans_freed_at_mount(void)
{
    struct fsimg m;
    static uint8_t data[200000];
    char crash[700], crash2[700];
    CHECK(new_image("crash") == 0);
    snprintf(crash, sizeof crash, "%s/crash-copy.img", tmpdir);
    snprintf(crash2, sizeof crash2, "%s/crash-copy2.img", tmpdir);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    int64_t blocks0 = free_blocks(m.fs), inodes0 = free_inodes(m.fs);
    uint32_t a = make_file(m.fs, "/a", data, sizeof data, 5), b = make_file(m.fs, "/b", data, 3000, 6);
    CHECK(a && b);
    CHECK(make_file(m.fs, "/kept", data, 1000, 7) != 0);
    CHECK_EQ(ext2_open_ino(m.fs, a), 0);
    CHECK_EQ(ext2_open_ino(m.fs, b), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/a"), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/b"), 0);
    CHECK_EQ(ext2_sync(m.fs), 0);
    /* the crash: the disk as it is now, with the files still open */
    CHECK_EQ(ft_sh(NULL, "cp '%s' '%s' && cp '%s' '%s'", img, crash, img, crash2), 0);
    CHECK_EQ(ext2_close_ino(m.fs, a), 0);
    CHECK_EQ(ext2_close_ino(m.fs, b), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);                                 /* the run that did not crash */

    /* On ext3 (FS_TEST_EXT3=1) the unlinks and the orphan list are in the journal: replay
     * it first (debugfs, which touches nothing else), as a mount or e2fsck -p would. */
    CHECK_EQ(ft_sh(NULL, "for i in '%s' '%s'; do ! %s -h \"$i\" 2>/dev/null | grep -q needs_recovery ||"
                         " %s -w -R journal_run \"$i\" >/dev/null 2>&1 || exit 1; done",
                   crash, crash2, ft_tool("dumpe2fs"), ft_tool("debugfs")), 0);
    char *out = NULL;
    int st = ft_sh(&out, "%s -fn '%s'", ft_tool("e2fsck"), crash);
    int orphan_lines = 0;
    int only = orphan_report_only(out, &orphan_lines);
    int cleared = 0;
    if (getenv("FS_POSIX_SHOW"))
        printf("# e2fsck -fn on the crash image (%d):\n%s", st, out);
    if (st != 0 && only && orphan_lines >= 2) {
        free(out);
        st = ft_sh(&out, "%s -fp '%s'", ft_tool("e2fsck"), crash2);
        cleared = (st == 0 || st == 1) && strstr(out, "Clearing orphaned inode") != NULL;
    }
    if (!cleared)
        ft_fail(__FILE__, __LINE__, "e2fsck on the crash image (%d): %.900s", st, out);
    free(out);
    if (!cleared)
        return;
    CHECK_FSCK(crash2);

    CHECK_EQ(fsimg_open(&m, crash, 256, 0), 0);      /* frees the orphans */
    CHECK_EQ(ext2_orphan_head(m.fs), 0);
    CHECK_EQ(free_inodes(m.fs), inodes0 - 1);        /* only /kept */
    CHECK(free_blocks(m.fs) >= blocks0 - 2);         /* /kept's one block (and its dir's) */
    uint32_t ino;
    CHECK_EQ(ext2_lookup(m.fs, "/kept", &ino), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(crash);
}

/* A corrupt orphan list (made with debugfs) is not followed into other files: the head a
 * linked file, or a free inode whose stale block pointers name another file's blocks, stops
 * the mount's processing with nothing freed; the head is cleared and the mount goes on. */
static void test_corrupt_orphan_list_stops(void)
{
    static const char *const lists[] = {
        "ssv last_orphan 12",                                   /* /a, linked */
        "sif <20> mode 0100644\\nsif <20> links_count 0\\nsif <20> size 4096\\n"
        "sif <20> block[0] %u\\nssv last_orphan 20",           /* free, pointing into /c */
        "ssv last_orphan 3000",                                 /* past the inode table */
    };
    for (int i = 0; i < 3; i++) {
        struct fsimg m;
        static uint8_t data[50000];
        uint32_t a, c;
        char name[32], cmd[400];
        snprintf(name, sizeof name, "corrupt%d", i);
        CHECK(new_image(name) == 0);
        CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
        CHECK((a = make_file(m.fs, "/a", data, sizeof data, 21)) == 12);
        CHECK((c = make_file(m.fs, "/c", data, sizeof data, 22)) != 0);
        int64_t blocks0 = free_blocks(m.fs), inodes0 = free_inodes(m.fs);
        CHECK_EQ(fsimg_close(&m), 0);
        char *out = NULL;
        ft_sh(&out, "%s -R 'bmap <%u> 0' '%s'", ft_tool("debugfs"), c, img);
        unsigned cblk = 0;
        char *nl = out ? strrchr(out, '\n') : NULL;
        while (nl && nl > out && nl[-1] != '\n' && nl[-1] != ' ')
            nl--;
        if (out)
            sscanf(nl && nl != out ? nl : out, "%u", &cblk);
        free(out);
        if (i == 1)
            CHECK(cblk != 0);
        snprintf(cmd, sizeof cmd, lists[i], cblk);
        CHECK_EQ(ft_sh(NULL, "printf '%s\\n' | %s -w -f - '%s'", cmd, ft_tool("debugfs"), img), 0);
        CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
        CHECK_EQ(ext2_orphan_head(m.fs), 0);
        CHECK_EQ(free_blocks(m.fs), blocks0);           /* nothing freed */
        CHECK_EQ(free_inodes(m.fs), inodes0);
        static uint8_t back[50000];
        ft_fill(data, sizeof data, 22);
        CHECK_EQ(ext2_read(m.fs, c, 0, back, sizeof back), (int64_t)sizeof back);
        CHECK(memcmp(back, data, sizeof back) == 0);
        CHECK_EQ(fsimg_close(&m), 0);
        if (i != 1)
            CHECK_FSCK(img);                        /* (inode 20's junk is e2fsck's to clear) */
    }
}

/* An unmount with an orphan still open (the server did not close it) frees it. */
static void test_unmount_frees_open_orphans(void)
{
    struct fsimg m;
    static uint8_t data[50000];
    CHECK(new_image("umount") == 0);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    uint32_t a = make_file(m.fs, "/a", data, sizeof data, 8);
    CHECK(a != 0);
    CHECK_EQ(ext2_open_ino(m.fs, a), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/a"), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static int nlink_of(struct ext2_fs *fs, const char *path)
{
    uint32_t ino;
    struct ext2_stat st;
    if (ext2_lookup(fs, path, &ino) || ext2_stat(fs, ino, &st))
        return -1;
    return st.nlink;
}

/* POSIX rename: over a file, over an empty directory, not over a non-empty one, file and
 * directory never over each other, no directory into its own subtree, onto itself a no-op;
 * a moved directory's ".." and its parents' link counts follow (e2fsck checks ".."). */
static void test_rename_rules(void)
{
    struct fsimg m;
    uint8_t data[100];
    uint32_t ino, f1, f2;
    CHECK(new_image("rename") == 0);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    struct ext2_fs *fs = m.fs;
    CHECK_EQ(ext2_mkdir(fs, "/p", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/q", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/p/d", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/p/d/sub", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/q/empty", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/q/full", 0755), 0);
    CHECK((f1 = make_file(fs, "/q/full/x", data, 10, 1)) != 0);
    CHECK((f2 = make_file(fs, "/file", data, 10, 2)) != 0);
    CHECK_EQ(ext2_rename(fs, "/p/d", "/p/d/sub/in"), -FS_EINVAL);
    CHECK_EQ(ext2_rename(fs, "/p/d", "/p/d/in"), -FS_EINVAL);
    CHECK_EQ(ext2_rename(fs, "/p/d", "/q/full"), -FS_ENOTEMPTY);
    CHECK_EQ(ext2_rename(fs, "/p/d", "/file"), -FS_ENOTDIR);
    CHECK_EQ(ext2_rename(fs, "/file", "/q/empty"), -FS_EISDIR);
    CHECK_EQ(ext2_rename(fs, "/file", "/file"), 0);
    CHECK_EQ(ext2_lookup(fs, "/file", &ino), 0);
    CHECK_EQ(ino, f2);
    CHECK_EQ(nlink_of(fs, "/p"), 3);
    CHECK_EQ(nlink_of(fs, "/q"), 4);
    CHECK_EQ(ext2_rename(fs, "/p/d", "/q/empty"), 0);  /* over an empty directory */
    CHECK_EQ(nlink_of(fs, "/p"), 2);
    CHECK_EQ(nlink_of(fs, "/q"), 4);                     /* one directory for another */
    CHECK_EQ(ext2_lookup(fs, "/q/empty/sub", &ino), 0);
    CHECK_EQ(ext2_lookup(fs, "/p/d", &ino), -FS_ENOENT);
    CHECK_EQ(ext2_rename(fs, "/q/empty", "/p/back"), 0); /* to a new name elsewhere */
    CHECK_EQ(nlink_of(fs, "/p"), 3);
    CHECK_EQ(nlink_of(fs, "/q"), 3);
    CHECK_EQ(ext2_rename(fs, "/file", "/q/full/x"), 0);  /* over a file: the old one freed */
    CHECK_EQ(ext2_lookup(fs, "/q/full/x", &ino), 0);
    CHECK_EQ(ino, f2);
    struct ext2_stat st;
    CHECK_EQ(ext2_stat(fs, f1, &st), -FS_ENOENT);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    /* onto another hard link of the same file (made by debugfs): nothing changes */
    CHECK_EQ(ft_sh(NULL, "printf 'ln /q/full/x /hard\\nsif /q/full/x links_count 2\\n' | %s -w -f - '%s'",
                   ft_tool("debugfs"), img), 0);
    CHECK_FSCK(img);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    CHECK_EQ(ext2_rename(m.fs, "/hard", "/q/full/x"), 0);
    CHECK_EQ(ext2_rename(m.fs, "/q/full/x", "/hard"), 0);
    CHECK_EQ(nlink_of(m.fs, "/hard"), 2);
    CHECK_EQ(ext2_lookup(m.fs, "/hard", &ino), 0);
    CHECK_EQ(ino, f2);
    CHECK_EQ(ext2_lookup(m.fs, "/q/full/x", &ino), 0);
    CHECK_EQ(ino, f2);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Appenders in several threads, each record written with EXT2_WRITE_APPEND: none lost,
 * none overwritten, each whole. */
#define APPENDERS 4
#define RECORDS 300
#define RECLEN 97
static struct ext2_fs *append_fs;
static uint32_t append_ino;

static void record(char *out, int who, int i)
{
    snprintf(out, RECLEN + 1, "%02d:%05d:", who, i);
    for (int k = (int)strlen(out); k < RECLEN - 1; k++)
        out[k] = (char)('a' + (who * 7 + i + k) % 26);
    out[RECLEN - 1] = '\n';
}

static void *appender(void *arg)
{
    int who = (int)(intptr_t)arg;
    char rec[RECLEN + 1];
    for (int i = 0; i < RECORDS; i++) {
        record(rec, who, i);
        if (ext2_write(append_fs, append_ino, EXT2_WRITE_APPEND, rec, RECLEN) != RECLEN)
            return (void *)1;
    }
    return NULL;
}

static void test_append_is_atomic(void)
{
    struct fsimg m;
    CHECK(new_image("append") == 0);
    CHECK_EQ(fsimg_open(&m, img, 512, 0), 0);
    append_fs = m.fs;
    CHECK_EQ(ext2_create(m.fs, "/log", 0644, &append_ino), 0);
    pthread_t t[APPENDERS];
    for (int i = 0; i < APPENDERS; i++)
        pthread_create(&t[i], NULL, appender, (void *)(intptr_t)i);
    int bad = 0;
    for (int i = 0; i < APPENDERS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        bad += rv != NULL;
    }
    CHECK_EQ(bad, 0);
    size_t total = (size_t)APPENDERS * RECORDS * RECLEN;
    char *buf = malloc(total + 1), want[RECLEN + 1];
    CHECK_EQ(ext2_read(m.fs, append_ino, 0, buf, total + 1), (int64_t)total);
    int next[APPENDERS] = { 0 };
    for (size_t off = 0; off < total; off += RECLEN) {
        int who = atoi(buf + off);
        CHECK(who >= 0 && who < APPENDERS);
        record(want, who, next[who]);
        CHECK_MSG(memcmp(buf + off, want, RECLEN) == 0, "record at %zu is not %.9s", off, want);
        next[who]++;                            /* each appender's records in its order */
    }
    free(buf);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Times: write and truncate set mtime and ctime, setattr ctime (and what it was asked),
 * create all three and the parent's mtime and ctime, unlink/rmdir/rename the parents' and
 * the inode's ctime, and a read atime as relatime.  Everything is made with the clock an
 * hour and a half back (fs_host_clock_offset), then one change is made now, and the times
 * compared: no sleeping. */
#define PAST (-5400)
static uint32_t now_s;

static void clock_past(void) { fs_host_clock_offset = PAST; }
static void clock_now(void) { fs_host_clock_offset = 0; now_s = (uint32_t)time(NULL); }
static int is_now(uint32_t t) { return t >= now_s && t <= now_s + 5; }
static int is_past(uint32_t t) { return t + 3600 < now_s; }

/* A non-blocking read the way the engine makes one.  -EWOULDBLOCK is a valid answer of
 * that path whenever a lock it tries is busy -- here the cache's, taken by a read-ahead job
 * the read itself may have started -- so it is asked again once the background work is
 * done (fs_host_async_drain: an event, not a pause), at most 20 times. */
static int64_t read_nb(struct ext2_fs *fs, uint32_t ino, uint64_t off, void *buf, uint64_t len)
{
    int64_t r = -FS_EWOULDBLOCK;
    for (int i = 0; i < 20 && r == -FS_EWOULDBLOCK; i++) {
        fs_host_async_drain();
        r = ext2_read_nonblock(fs, ino, off, buf, len);
    }
    return r;
}

static int stat_of(struct ext2_fs *fs, const char *path, struct ext2_stat *st)
{
    uint32_t ino;
    int r = ext2_lookup(fs, path, &ino);
    return r ? r : ext2_stat(fs, ino, st);
}

static void test_times(void)
{
    struct fsimg m;
    struct ext2_stat st, dst, est;
    uint32_t ino, ino2;
    uint8_t buf[16];
    CHECK(new_image("times") == 0);
    CHECK_EQ(fsimg_open(&m, img, 256, 0), 0);
    struct ext2_fs *fs = m.fs;
    clock_past();
    CHECK_EQ(ext2_mkdir(fs, "/d", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/e", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/e/sub", 0755), 0);
    CHECK_EQ(ext2_create(fs, "/d/f", 0644, &ino), 0);
    CHECK_EQ(ext2_create(fs, "/d/g", 0644, &ino2), 0);
    CHECK_EQ(ext2_write(fs, ino, 0, "abcdef", 6), 6);
    clock_now();
    /* create: all three on the new inode, mtime and ctime of the parent */
    uint32_t ino3;
    CHECK_EQ(ext2_create(fs, "/d/new", 0644, &ino3), 0);
    CHECK_EQ(ext2_stat(fs, ino3, &st), 0);
    CHECK(is_now(st.atime) && is_now(st.mtime) && is_now(st.ctime));
    CHECK_EQ(stat_of(fs, "/d", &dst), 0);
    CHECK(is_now(dst.mtime) && is_now(dst.ctime) && is_past(dst.atime));
    /* write: mtime and ctime, not atime */
    CHECK_EQ(ext2_stat(fs, ino, &st), 0);
    CHECK(is_past(st.mtime) && is_past(st.ctime));
    CHECK_EQ(ext2_write(fs, ino, 6, "g", 1), 1);
    CHECK_EQ(ext2_stat(fs, ino, &st), 0);
    CHECK(is_now(st.mtime) && is_now(st.ctime) && is_past(st.atime));
    /* truncate */
    CHECK_EQ(ext2_stat(fs, ino2, &st), 0);
    CHECK(is_past(st.mtime));
    CHECK_EQ(ext2_truncate(fs, ino2, 0), 0);
    CHECK_EQ(ext2_stat(fs, ino2, &st), 0);
    CHECK(is_now(st.mtime) && is_now(st.ctime));
    /* setattr: what was asked, and ctime now */
    struct ext2_setattr sa = { EXT2_SA_MTIME | EXT2_SA_ATIME, 0, 0, 0, 1000000, 2000000 };
    CHECK_EQ(ext2_setattr(fs, ino2, &sa), 0);
    CHECK_EQ(ext2_stat(fs, ino2, &st), 0);
    CHECK(st.atime == 1000000 && st.mtime == 2000000 && is_now(st.ctime));
    /* read: atime not after mtime (or ctime) -> now (relatime) ... */
    CHECK_EQ(ext2_read(fs, ino2, 0, buf, 1), 0);
    CHECK_EQ(ext2_stat(fs, ino2, &st), 0);
    CHECK(is_now(st.atime));
    /* ... and once after both, recent: left alone, by both read paths */
    struct ext2_setattr ahead = { EXT2_SA_ATIME, 0, 0, 0, now_s + 3600, 0 };
    CHECK_EQ(ext2_setattr(fs, ino2, &ahead), 0);
    CHECK_EQ(ext2_read(fs, ino2, 0, buf, 1), 0);
    CHECK_EQ(read_nb(fs, ino2, 0, buf, 1), 0);
    CHECK_EQ(ext2_stat(fs, ino2, &st), 0);
    CHECK_EQ(st.atime, now_s + 3600);
    /* a day-old atime after mtime and ctime: updated; the non-blocking path leaves it to
     * the blocking one */
    clock_past();
    CHECK_EQ(ext2_create(fs, "/e/old", 0644, &ino3), 0);
    fs_host_clock_offset = PAST + 100;
    CHECK_EQ(ext2_read(fs, ino3, 0, buf, 1), 0);    /* atime = past + 100 > mtime, ctime */
    fs_host_clock_offset = 2 * 86400;
    fs_host_async_drain();                          /* no job holds a lock: the atime is why */
    CHECK_EQ(ext2_stat(fs, ino3, &est), 0);
    CHECK_EQ(ext2_read_nonblock(fs, ino3, 0, buf, 1), -FS_EWOULDBLOCK);
    CHECK_EQ(ext2_stat(fs, ino3, &st), 0);
    CHECK_EQ(st.atime, est.atime);                  /* not written by the non-blocking path */
    CHECK_EQ(ext2_read(fs, ino3, 0, buf, 1), 0);
    CHECK_EQ(ext2_stat(fs, ino3, &st), 0);
    CHECK(st.atime >= now_s + 2 * 86400);
    clock_now();
    /* unlink: the parent's mtime and ctime, the inode's ctime (open: it stays to be seen) */
    CHECK_EQ(ext2_open_ino(fs, ino), 0);
    uint32_t ino_g;
    CHECK_EQ(ext2_lookup(fs, "/d/g", &ino_g), 0);
    clock_past();
    CHECK_EQ(ext2_mkdir(fs, "/u", 0755), 0);
    CHECK_EQ(ext2_create(fs, "/u/v", 0644, &ino3), 0);
    clock_now();
    CHECK_EQ(ext2_open_ino(fs, ino3), 0);
    CHECK_EQ(ext2_unlink(fs, "/u/v"), 0);
    CHECK_EQ(ext2_stat(fs, ino3, &st), 0);
    CHECK(is_now(st.ctime) && is_past(st.mtime));
    CHECK_EQ(ext2_close_ino(fs, ino3), 0);
    CHECK_EQ(stat_of(fs, "/u", &dst), 0);
    CHECK(is_now(dst.mtime) && is_now(dst.ctime));
    /* rename to another directory: both parents, and the inode's ctime */
    clock_past();
    CHECK_EQ(ext2_mkdir(fs, "/r1", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/r2", 0755), 0);
    CHECK_EQ(ext2_create(fs, "/r1/f", 0644, &ino3), 0);
    clock_now();
    CHECK_EQ(ext2_rename(fs, "/r1/f", "/r2/f"), 0);
    CHECK_EQ(ext2_stat(fs, ino3, &st), 0);
    CHECK(is_now(st.ctime) && is_past(st.mtime));
    CHECK_EQ(stat_of(fs, "/r1", &dst), 0);
    CHECK_EQ(stat_of(fs, "/r2", &est), 0);
    CHECK(is_now(dst.mtime) && is_now(dst.ctime) && is_now(est.mtime) && is_now(est.ctime));
    /* rmdir: the parent's times */
    CHECK_EQ(stat_of(fs, "/e", &dst), 0);
    CHECK(is_past(dst.ctime) || is_now(dst.ctime));
    clock_past();
    CHECK_EQ(ext2_mkdir(fs, "/s", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/s/sub", 0755), 0);
    clock_now();
    CHECK_EQ(ext2_rmdir(fs, "/s/sub"), 0);
    CHECK_EQ(stat_of(fs, "/s", &dst), 0);
    CHECK(is_now(dst.mtime) && is_now(dst.ctime));
    CHECK_EQ(ext2_close_ino(fs, ino), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    /* read-only: reads change nothing */
    CHECK_EQ(fsimg_open(&m, img, 256, EXT2_MOUNT_RDONLY), 0);
    struct ext2_stat before;
    CHECK_EQ(stat_of(m.fs, "/d/f", &before), 0);
    CHECK_EQ(ext2_read(m.fs, before.ino, 0, buf, 1), 1);
    CHECK_EQ(ext2_stat(m.fs, before.ino, &st), 0);
    CHECK_EQ(st.atime, before.atime);
    CHECK_EQ(fsimg_close(&m), 0);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    ft_run("ext2_unlinked_open_file_kept_until_close", test_unlinked_open_file_kept_until_close);
    ft_run("ext2_orphan_list_any_order_and_rename_over", test_orphan_list_any_order_and_rename_over);
    ft_run("ext2_crash_orphans_freed_at_mount", test_crash_orphans_freed_at_mount);
    ft_run("ext2_unmount_frees_open_orphans", test_unmount_frees_open_orphans);
    ft_run("ext2_corrupt_orphan_list_stops", test_corrupt_orphan_list_stops);
    ft_run("ext2_rename_rules", test_rename_rules);
    ft_run("ext2_append_is_atomic", test_append_is_atomic);
    ft_run("ext2_times", test_times);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
