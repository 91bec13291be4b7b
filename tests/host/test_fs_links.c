/* Host tests of ext2 symbolic and hard links (fs/ext2_symlink.c): fast and slow symlinks made
 * and read back, symlinks and hard links made by Linux's mke2fs -d read, link counts, the
 * EMLINK limit, unlinking both kinds of symlink.  Every image ends clean under `e2fsck -fn`
 * and debugfs sees what was written. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;
static char img[600];

/* The target of the symlink at path must be want. */
static int readlink_is(struct ext2_fs *fs, const char *path, const char *want)
{
    uint32_t ino;
    char buf[4096];
    if (ext2_lookup(fs, path, &ino))
        return 0;
    int64_t n = ext2_readlink(fs, ino, buf, sizeof buf);
    return n == (int64_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

/* debugfs's `stat` of path contains every one of the (NULL-ended) strings. */
static int debugfs_stat_has(const char *image, const char *path, const char *const *want)
{
    char *out = NULL;
    ft_sh(&out, "%s -R 'stat %s' '%s'", ft_tool("debugfs"), path, image);
    int ok = out != NULL;
    for (unsigned i = 0; ok && want[i]; i++)
        ok = strstr(out, want[i]) != NULL;
    free(out);
    return ok;
}

static void make_links(unsigned bs)
{
    struct fsimg m;
    struct ext2_stat st;
    struct ext2_statfs before, after;
    uint32_t ino, fino, dino;
    char slow[4096];
    char *out = NULL;
    memset(slow, 's', sizeof slow);
    snprintf(img, sizeof img, "%s/links%u.img", tmpdir, bs);
    CHECK(ft_mkfs(img, NULL, bs, 4096, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    struct ext2_fs *fs = m.fs;
    ext2_statfs(fs, &before);
    CHECK_EQ(ext2_mkdir(fs, "/d", 0755), 0);
    CHECK_EQ(ext2_create(fs, "/d/f", 0644, &fino), 0);
    CHECK_EQ(ext2_write(fs, fino, 0, "file data\n", 10), 10);

    /* fast: 59 bytes is the longest that fits i_block with its NUL */
    char fast[60];
    memset(fast, 'f', 59);
    fast[59] = 0;
    memcpy(fast, "../", 3);
    CHECK_EQ(ext2_symlink_as(fs, "/d/fast", fast, 59, 1000, 100, &ino), 0);
    CHECK_EQ(ext2_stat(fs, ino, &st), 0);
    CHECK_EQ(st.mode, EXT2_S_IFLNK | 0777);
    CHECK_EQ(st.size, 59);
    CHECK_EQ(st.blocks, 0);
    CHECK_EQ(st.uid, 1000);
    CHECK_EQ(st.gid, 100);
    CHECK_EQ(st.nlink, 1);
    CHECK(readlink_is(fs, "/d/fast", fast));
    CHECK_EQ(ext2_symlink_as(fs, "/d/rel", "f", 1, 0, 0, NULL), 0);
    CHECK_EQ(ext2_symlink_as(fs, "/abs", "/d/f", 4, 0, 0, NULL), 0);
    /* slow: 60 bytes up to block_size - 1 take a block */
    CHECK_EQ(ext2_symlink_as(fs, "/d/slow60", slow, 60, 0, 0, &ino), 0);
    CHECK_EQ(ext2_stat(fs, ino, &st), 0);
    CHECK_EQ(st.size, 60);
    CHECK_EQ(st.blocks, bs / 512);
    slow[60] = 0;
    CHECK(readlink_is(fs, "/d/slow60", slow));
    slow[60] = 's';
    CHECK_EQ(ext2_symlink_as(fs, "/d/slowmax", slow, bs - 1, 0, 0, &ino), 0);
    char buf[4096];
    CHECK_EQ(ext2_readlink(fs, ino, buf, sizeof buf), bs - 1);
    CHECK(memcmp(buf, slow, bs - 1) == 0);
    CHECK_EQ(ext2_readlink(fs, ino, buf, 10), -FS_ENAMETOOLONG);   /* never past cap */
    /* refusals */
    CHECK_EQ(ext2_symlink_as(fs, "/d/toolong", slow, bs, 0, 0, NULL), -FS_ENAMETOOLONG);
    CHECK_EQ(ext2_symlink_as(fs, "/d/empty", slow, 0, 0, 0, NULL), -FS_ENOENT);
    CHECK_EQ(ext2_symlink_as(fs, "/d/nul", "a\0b", 3, 0, 0, NULL), -FS_EINVAL);
    CHECK_EQ(ext2_symlink_as(fs, "/d/f", "x", 1, 0, 0, NULL), -FS_EEXIST);
    CHECK_EQ(ext2_symlink_as(fs, "/nodir/x", "x", 1, 0, 0, NULL), -FS_ENOENT);
    CHECK_EQ(ext2_readlink(fs, fino, buf, sizeof buf), -FS_EINVAL);
    CHECK_EQ(ext2_read(fs, ino, 0, buf, 10), -FS_EINVAL);          /* no file reads of a link */
    /* readdir says symlink */
    CHECK_EQ(ext2_lookup(fs, "/d", &dino), 0);
    uint64_t cookie = 0;
    struct ext2_dirent de;
    int links = 0;
    while (ext2_readdir(fs, dino, &cookie, &de) == 1)
        if (!strcmp(de.name, "fast") || !strcmp(de.name, "slow60") || !strcmp(de.name, "rel"))
            links += de.type == EXT2_FT_SYMLINK;
    CHECK_EQ(links, 3);

    /* hard links */
    CHECK_EQ(ext2_link(fs, "/d/f", "/g"), 0);
    CHECK_EQ(ext2_lookup(fs, "/g", &ino), 0);
    CHECK_EQ(ino, fino);
    CHECK_EQ(ext2_stat(fs, fino, &st), 0);
    CHECK_EQ(st.nlink, 2);
    CHECK_EQ(ext2_link(fs, "/d/f", "/d/h"), 0);
    CHECK_EQ(ext2_stat(fs, fino, &st), 0);
    CHECK_EQ(st.nlink, 3);
    CHECK_EQ(ext2_link(fs, "/d/fast", "/fast2"), 0);               /* a link to a symlink */
    CHECK(readlink_is(fs, "/fast2", fast));
    CHECK_EQ(ext2_link(fs, "/d", "/d2"), -FS_EPERM);
    CHECK_EQ(ext2_link(fs, "/", "/r"), -FS_EPERM);
    CHECK_EQ(ext2_link(fs, "/d/f", "/abs"), -FS_EEXIST);
    CHECK_EQ(ext2_link(fs, "/d/none", "/x"), -FS_ENOENT);
    CHECK_EQ(ext2_link(fs, "/d/f", "/none/x"), -FS_ENOENT);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    static const char *const fast_want[] = { "Type: symlink", "Fast link dest:", NULL };
    CHECK_MSG(debugfs_stat_has(img, "/d/fast", fast_want), "debugfs: /d/fast is no fast symlink");
    static const char *const slow_want[] = { "Type: symlink", "Size: 60", NULL };
    CHECK_MSG(debugfs_stat_has(img, "/d/slow60", slow_want), "debugfs: /d/slow60 is no 60-byte symlink");
    static const char *const hard_want[] = { "Links: 3", NULL };
    CHECK_MSG(debugfs_stat_has(img, "/g", hard_want), "debugfs: /g has not 3 links");
    ft_sh(&out, "%s -R 'cat /g' '%s'", ft_tool("debugfs"), img);
    CHECK_MSG(out && strstr(out, "file data"), "debugfs cat /g: %s", out ? out : "?");
    free(out);

    /* again after a remount, then everything goes: the blocks come back, fast links free none */
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    fs = m.fs;
    CHECK(readlink_is(fs, "/d/fast", fast));
    CHECK(readlink_is(fs, "/abs", "/d/f"));
    CHECK_EQ(ext2_unlink(fs, "/d/f"), 0);
    CHECK_EQ(ext2_stat(fs, fino, &st), 0);
    CHECK_EQ(st.nlink, 2);
    CHECK_EQ(ext2_read(fs, fino, 0, buf, 10), 10);
    CHECK(memcmp(buf, "file data\n", 10) == 0);
    CHECK_EQ(ext2_unlink(fs, "/g"), 0);
    CHECK_EQ(ext2_unlink(fs, "/d/h"), 0);
    CHECK_EQ(ext2_stat(fs, fino, &st), -FS_ENOENT);
    const char *victims[] = { "/d/fast", "/fast2", "/d/rel", "/abs", "/d/slow60", "/d/slowmax" };
    for (unsigned i = 0; i < sizeof victims / sizeof victims[0]; i++)
        CHECK_EQ(ext2_unlink(fs, victims[i]), 0);
    CHECK_EQ(ext2_rmdir(fs, "/d"), 0);
    ext2_statfs(fs, &after);
    CHECK_EQ(after.free_blocks, before.free_blocks);
    CHECK_EQ(after.free_inodes, before.free_inodes);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static void test_make_1k(void) { make_links(1024); }
static void test_make_4k(void) { make_links(4096); }

/* Symlinks and hard links that Linux's mke2fs -d made from a real directory read back. */
static void test_mke2fs_links(void)
{
    char src[700], path[800], longt[301];
    struct fsimg m;
    struct ext2_stat st, st2;
    uint32_t a, b;
    memset(longt, 'L', 300);
    longt[300] = 0;
    memcpy(longt, "../", 3);
    snprintf(src, sizeof src, "%s/src", tmpdir);
    ft_rm_rf(src);
    CHECK(mkdir(src, 0755) == 0);
    snprintf(path, sizeof path, "%s/sub", src);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/file", src);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("hello\n", f);
    fclose(f);
    char other[800];
    snprintf(other, sizeof other, "%s/sub/hard", src);
    CHECK(link(path, other) == 0);
    snprintf(path, sizeof path, "%s/short", src);
    CHECK(symlink("file", path) == 0);
    snprintf(path, sizeof path, "%s/sub/abs", src);
    CHECK(symlink("/file", path) == 0);
    snprintf(path, sizeof path, "%s/sub/long", src);
    CHECK(symlink(longt, path) == 0);
    snprintf(img, sizeof img, "%s/mke2fs.img", tmpdir);
    CHECK(ft_mkfs(img, src, 1024, 2048, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK(readlink_is(m.fs, "/short", "file"));
    CHECK(readlink_is(m.fs, "/sub/abs", "/file"));
    CHECK(readlink_is(m.fs, "/sub/long", longt));
    CHECK_EQ(ext2_lookup(m.fs, "/sub/long", &a), 0);
    CHECK_EQ(ext2_stat(m.fs, a, &st), 0);
    CHECK_EQ(st.mode & EXT2_S_IFMT, EXT2_S_IFLNK);
    CHECK(st.blocks > 0);                                     /* a slow one */
    CHECK_EQ(ext2_lookup(m.fs, "/file", &a), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/sub/hard", &b), 0);
    CHECK_EQ(a, b);
    CHECK_EQ(ext2_stat(m.fs, a, &st), 0);
    CHECK_EQ(ext2_stat(m.fs, b, &st2), 0);
    CHECK_EQ(st.nlink, 2);
    /* unlinking Linux's links keeps the image clean too */
    CHECK_EQ(ext2_unlink(m.fs, "/short"), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/sub/long"), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/file"), 0);
    CHECK_EQ(ext2_stat(m.fs, b, &st), 0);
    CHECK_EQ(st.nlink, 1);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* EXT2_LINK_MAX: the link that would pass it is refused, nothing changes. */
static void test_link_limit(void)
{
    struct fsimg m;
    struct ext2_stat st;
    uint32_t ino;
    char *out = NULL;
    snprintf(img, sizeof img, "%s/limit.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 2048, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create(m.fs, "/f", 0644, &ino), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    /* pretend 64998 other names exist (debugfs), so two links reach the limit */
    ft_sh(&out, "%s -w -R 'sif /f links_count %u' '%s'", ft_tool("debugfs"), EXT2_LINK_MAX - 2, img);
    free(out);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_link(m.fs, "/f", "/g"), 0);
    CHECK_EQ(ext2_link(m.fs, "/f", "/h"), 0);
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.nlink, EXT2_LINK_MAX);
    CHECK_EQ(ext2_link(m.fs, "/f", "/i"), -FS_EMLINK);
    CHECK_EQ(ext2_lookup(m.fs, "/i", &ino), -FS_ENOENT);
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.nlink, EXT2_LINK_MAX);
    CHECK_EQ(fsimg_close(&m), 0);
    ft_sh(&out, "%s -w -R 'sif /f links_count 3' '%s'", ft_tool("debugfs"), img);
    free(out);
    CHECK_FSCK(img);
}

/* A read-only volume refuses both kinds of link. */
static void test_read_only(void)
{
    struct fsimg m;
    snprintf(img, sizeof img, "%s/ro.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 1024, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create(m.fs, "/f", 0644, NULL), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_EQ(fsimg_open(&m, img, 64, EXT2_MOUNT_RDONLY), 0);
    CHECK_EQ(ext2_symlink_as(m.fs, "/l", "f", 1, 0, 0, NULL), -FS_EROFS);
    CHECK_EQ(ext2_link(m.fs, "/f", "/g"), -FS_EROFS);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    ft_run("ext2_links_made_1k", test_make_1k);
    ft_run("ext2_links_made_4k", test_make_4k);
    ft_run("ext2_links_from_mke2fs", test_mke2fs_links);
    ft_run("ext2_link_limit_emlink", test_link_limit);
    ft_run("ext2_links_read_only", test_read_only);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
