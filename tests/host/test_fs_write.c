/* Host tests of ext2 changes: each scenario ends with `e2fsck -fn` printing
 * nothing but its pass headers, and debugfs seeing what we wrote. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs/ext2_internal.h"        /* ext2_bmap_run against ext2_bmap */
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;
static char img[600];

static void basic_ops(unsigned bs)
{
    struct fsimg m;
    uint32_t ino, ino2;
    size_t big = 3u << 20;
    uint8_t *data = malloc(big), *back = malloc(big);
    ft_fill(data, big, bs);
    snprintf(img, sizeof img, "%s/basic%u.img", tmpdir, bs);
    CHECK(ft_mkfs(img, NULL, bs, 16 * 1024, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 128, 0), 0);
    struct ext2_fs *fs = m.fs;
    struct ext2_statfs before, after;
    ext2_statfs(fs, &before);

    CHECK_EQ(ext2_create(fs, "/a.txt", 0644, &ino), 0);
    CHECK_EQ(ext2_create(fs, "/a.txt", 0644, &ino2), -FS_EEXIST);
    CHECK_EQ(ext2_write(fs, ino, 0, "hello world\n", 12), 12);
    CHECK_EQ(ext2_mkdir(fs, "/d", 0755), 0);
    CHECK_EQ(ext2_mkdir(fs, "/d", 0755), -FS_EEXIST);
    CHECK_EQ(ext2_mkdir(fs, "/d/e", 0700), 0);
    CHECK_EQ(ext2_create(fs, "/d/e/big", 0600, &ino2), 0);
    CHECK_EQ(ext2_write(fs, ino2, 0, data, big), (int64_t)big);
    CHECK_EQ(ext2_read(fs, ino2, 0, back, big), (int64_t)big);
    CHECK(memcmp(data, back, big) == 0);
    /* overwrite in the middle, unaligned */
    CHECK_EQ(ext2_write(fs, ino2, 1000001, data + 5, 70000), 70000);
    memcpy(data + 1000001, data + 5, 70000);
    /* shrink to an odd size, then grow: the tail must read as zeros */
    CHECK_EQ(ext2_truncate(fs, ino2, 1234567), 0);
    CHECK_EQ(ext2_truncate(fs, ino2, 2000000), 0);
    memset(data + 1234567, 0, 2000000 - 1234567);
    CHECK_EQ(ext2_read(fs, ino2, 0, back, big), 2000000);
    CHECK(memcmp(data, back, 2000000) == 0);
    struct ext2_stat st;
    CHECK_EQ(ext2_stat(fs, ino2, &st), 0);
    CHECK_EQ(st.size, 2000000);
    CHECK_EQ(st.mode, EXT2_S_IFREG | 0600);
    /* errors */
    CHECK_EQ(ext2_rmdir(fs, "/d"), -FS_ENOTEMPTY);
    CHECK_EQ(ext2_unlink(fs, "/d"), -FS_EISDIR);
    CHECK_EQ(ext2_rmdir(fs, "/a.txt"), -FS_ENOTDIR);
    CHECK_EQ(ext2_rename(fs, "/d", "/d/e/inside"), -FS_EINVAL);
    CHECK_EQ(ext2_create(fs, "/nodir/x", 0644, &ino2), -FS_ENOENT);
    CHECK_EQ(ext2_rmdir(fs, "/"), -FS_EINVAL);
    /* renames: file over file, dir to another parent */
    CHECK_EQ(ext2_create(fs, "/d/victim", 0644, &ino2), 0);
    CHECK_EQ(ext2_write(fs, ino2, 0, "old", 3), 3);
    CHECK_EQ(ext2_rename(fs, "/a.txt", "/d/victim"), 0);
    CHECK_EQ(ext2_lookup(fs, "/d/victim", &ino2), 0);
    CHECK_EQ(ino2, ino);
    CHECK_EQ(ext2_lookup(fs, "/a.txt", &ino2), -FS_ENOENT);
    CHECK_EQ(ext2_mkdir(fs, "/f", 0755), 0);
    CHECK_EQ(ext2_rename(fs, "/d/e", "/f/e2"), 0);
    CHECK_EQ(ext2_lookup(fs, "/f/e2/big", &ino2), 0);
    uint32_t fino, e2ino;
    CHECK_EQ(ext2_lookup(fs, "/f", &fino), 0);
    CHECK_EQ(ext2_lookup(fs, "/f/e2", &e2ino), 0);
    CHECK_EQ(ext2_lookup_at(fs, e2ino, "..", 2, &ino2), 0);
    CHECK_EQ(ino2, fino);           /* the moved dir's ".." was fixed */
    /* dir over empty dir */
    CHECK_EQ(ext2_mkdir(fs, "/g", 0755), 0);
    CHECK_EQ(ext2_rename(fs, "/g", "/d/emptytarget"), 0);
    CHECK_EQ(ext2_mkdir(fs, "/h", 0755), 0);
    CHECK_EQ(ext2_rename(fs, "/h", "/d/emptytarget"), 0);
    CHECK_EQ(ext2_rename(fs, "/f", "/d/victim"), -FS_ENOTDIR);
    CHECK_EQ(ext2_unmount(fs) == 0 && (bcache_destroy(m.bc), testdev_close(&m.td), 1), 1);
    CHECK_FSCK(img);
    CHECK(ft_debugfs_cat_equals(img, "/f/e2/big", data, 2000000));
    CHECK(ft_debugfs_cat_equals(img, "/d/victim", (const uint8_t *)"hello world\n", 12));

    /* remove everything: the free counts return to where they were */
    CHECK_EQ(fsimg_open(&m, img, 128, 0), 0);
    fs = m.fs;
    CHECK_EQ(ext2_unlink(fs, "/f/e2/big"), 0);
    CHECK_EQ(ext2_rmdir(fs, "/f/e2"), 0);
    CHECK_EQ(ext2_rmdir(fs, "/f"), 0);
    CHECK_EQ(ext2_unlink(fs, "/d/victim"), 0);
    CHECK_EQ(ext2_rmdir(fs, "/d/emptytarget"), 0);
    CHECK_EQ(ext2_rmdir(fs, "/d"), 0);
    ext2_statfs(fs, &after);
    CHECK_EQ(after.free_blocks, before.free_blocks);
    CHECK_EQ(after.free_inodes, before.free_inodes);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    free(data);
    free(back);
}

static void test_basic_1k(void) { basic_ops(1024); }
static void test_basic_2k(void) { basic_ops(2048); }
static void test_basic_4k(void) { basic_ops(4096); }

/* ext2_bmap_run (the journal's mapping at mount) gives what ext2_bmap gives block by
 * block, holes included, across the direct, single, double and triple indirect ranges. */
static void bmap_run_equals(struct ext2_fs *fs, const struct ext2_inode *in, uint64_t start, uint32_t n)
{
    static uint32_t got[70000];
    uint32_t done = 0;
    while (done < n) {
        int k = ext2_bmap_run(fs, in, start + done, n - done, got + done);
        CHECK_MSG(k > 0, "bmap_run(%llu, %u) = %d", (unsigned long long)(start + done), n - done, k);
        if (k <= 0)
            return;
        done += (uint32_t)k;
    }
    CHECK_EQ(done, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t want = 0xFFFFFFFF;
        CHECK_EQ(ext2_bmap(fs, in, start + i, &want, false), 0);
        if (got[i] != want) {
            CHECK_MSG(got[i] == want, "block %llu: run %u, bmap %u", (unsigned long long)(start + i), got[i], want);
            return;
        }
    }
}

static void test_bmap_run_matches_bmap(void)
{
    struct fsimg m;
    uint32_t ino;
    snprintf(img, sizeof img, "%s/bmaprun.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 8 * 1024, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create(m.fs, "/holes", 0644, &ino), 0);
    /* 1 KiB blocks: direct 0-11, single 12-267, double 268-65803, triple from 65804 */
    static const uint64_t at[] = { 0, 3, 11, 12, 100, 267, 268, 300, 523, 524, 65803, 65804, 66104 };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        CHECK_EQ(ext2_write(m.fs, ino, at[i] * 1024, "x", 1), 1);
    struct ext2_inode in;
    CHECK_EQ(ext2_iget(m.fs, ino, &in), 0);
    static const uint64_t starts[] = { 0, 5, 11, 12, 13, 267, 268, 523, 524, 65800, 65803, 65804, 66000 };
    static const uint32_t lens[] = { 1, 7, 600 };
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
            bmap_run_equals(m.fs, &in, starts[i], lens[k]);
    bmap_run_equals(m.fs, &in, 0, 66500);
    uint32_t one;
    CHECK_EQ(ext2_bmap_run(m.fs, &in, 0, 0, &one), 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static void test_triple_indirect(void)
{
    struct fsimg m;
    uint32_t ino;
    uint8_t buf[5000], back[5000];
    ft_fill(buf, sizeof buf, 42);
    snprintf(img, sizeof img, "%s/tind.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 8 * 1024, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    struct ext2_statfs before, after;
    ext2_statfs(m.fs, &before);
    CHECK_EQ(ext2_create(m.fs, "/sparse", 0644, &ino), 0);
    uint64_t far = 12ull * 1024 + 256 * 1024 + 65536ull * 1024 + 12345;  /* triple indirect */
    CHECK_EQ(ext2_write(m.fs, ino, far, buf, sizeof buf), (int64_t)sizeof buf);
    CHECK_EQ(ext2_write(m.fs, ino, 300 * 1024, buf, sizeof buf), (int64_t)sizeof buf);
    CHECK_EQ(ext2_read(m.fs, ino, far, back, sizeof back), (int64_t)sizeof back);
    CHECK(memcmp(buf, back, sizeof buf) == 0);
    CHECK_EQ(ext2_read(m.fs, ino, far - 100, back, 100), 100);
    for (int i = 0; i < 100; i++)
        CHECK(back[i] == 0);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_truncate(m.fs, ino, 301 * 1024), 0);
    CHECK_EQ(ext2_truncate(m.fs, ino, 0), 0);
    ext2_statfs(m.fs, &after);
    CHECK_EQ(after.free_blocks, before.free_blocks);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static void test_full_disk(void)
{
    struct fsimg m;
    uint32_t ino;
    static uint8_t chunk[65536];
    ft_fill(chunk, sizeof chunk, 7);
    snprintf(img, sizeof img, "%s/full.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 1024, "-N 64") == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    struct ext2_statfs before, after;
    ext2_statfs(m.fs, &before);
    /* fill with data */
    int64_t total = 0, r = 0;
    for (int f = 0; f < 20 && r >= 0; f++) {
        char name[32];
        snprintf(name, sizeof name, "/big%d", f);
        r = ext2_create(m.fs, name, 0644, &ino);
        if (r)
            break;
        for (;;) {
            struct ext2_stat st;
            ext2_stat(m.fs, ino, &st);
            r = ext2_write(m.fs, ino, st.size, chunk, sizeof chunk);
            if (r < (int64_t)sizeof chunk)
                break;
            total += r;
        }
        if (r >= 0)
            total += r;
    }
    CHECK_MSG(r == -FS_ENOSPC || r >= 0, "r=%lld", (long long)r);
    CHECK(total > 700 * 1024);
    /* nothing left: even one byte more fails */
    struct ext2_statfs sf;
    ext2_statfs(m.fs, &sf);
    CHECK_EQ(sf.free_blocks, 0);
    CHECK_EQ(ext2_create(m.fs, "/one_more", 0644, &ino), 0);   /* inode only */
    CHECK_EQ(ext2_write(m.fs, ino, 0, "x", 1), -FS_ENOSPC);
    CHECK_EQ(ext2_mkdir(m.fs, "/dir_no_space", 0755), -FS_ENOSPC);
    /* many names: the root directory needs a new block at some point */
    int created = 0;
    for (int i = 0; i < 100; i++) {
        char name[80];
        snprintf(name, sizeof name, "/a_rather_long_file_name_to_fill_directory_blocks_%03d", i);
        r = ext2_create(m.fs, name, 0644, &ino);
        if (r)
            break;
        created++;
    }
    CHECK_MSG(r == -FS_ENOSPC, "create gave %lld after %d", (long long)r, created);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    /* delete everything again */
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    struct ext2_dirent de;
    uint64_t cookie = 0;
    char names[200][300];
    int n = 0;
    while (ext2_readdir(m.fs, EXT2_ROOT_INO, &cookie, &de) == 1 && n < 200)
        if (de.name[0] != '.' && strcmp(de.name, "lost+found"))
            snprintf(names[n++], 300, "/%s", de.name);
    for (int i = 0; i < n; i++)
        CHECK_MSG(ext2_unlink(m.fs, names[i]) == 0, "unlink %s", names[i]);
    ext2_statfs(m.fs, &after);
    CHECK_EQ(after.free_inodes, before.free_inodes);
    /* the root directory may keep the blocks it grew */
    CHECK(after.free_blocks + 3 >= before.free_blocks && after.free_blocks <= before.free_blocks);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static void test_inodes_exhausted(void)
{
    struct fsimg m;
    uint32_t ino;
    snprintf(img, sizeof img, "%s/noinodes.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 4096, "-N 32") == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    int r = 0, n = 0;
    while (n < 1000) {
        char name[32];
        snprintf(name, sizeof name, n % 3 ? "/f%d" : "/d%d", n);
        r = n % 3 ? ext2_create(m.fs, name, 0644, &ino) : ext2_mkdir(m.fs, name, 0755);
        if (r)
            break;
        n++;
    }
    CHECK_EQ(r, -FS_ENOSPC);
    CHECK(n > 10);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Directories that e2fsck -D turned into htrees, then changed by us. */
static void test_dir_index_preserved(void)
{
    struct fsimg m;
    uint32_t ino;
    char src[700], path[800];
    snprintf(src, sizeof src, "%s/htree_src", tmpdir);
    mkdir(src, 0755);
    snprintf(path, sizeof path, "%s/big", src);
    mkdir(path, 0755);
    for (int i = 0; i < 600; i++) {
        snprintf(path, sizeof path, "%s/big/file_%04d_with_some_name_length", src, i);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        close(fd);
    }
    snprintf(img, sizeof img, "%s/htree.img", tmpdir);
    CHECK(ft_mkfs(img, src, 1024, 8192, "-O dir_index") == 0);
    char *out = NULL;
    ft_sh(&out, "%s -fyD '%s'", ft_tool("e2fsck"), img);
    free(out);
    CHECK_FSCK(img);
    ft_sh(&out, "%s -R 'stat /big' '%s'", ft_tool("debugfs"), img);
    int indexed = out && strstr(out, "Flags: 0x1000");
    free(out);
    CHECK_MSG(indexed, "e2fsck -D did not index /big");
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/big/file_0300_with_some_name_length", &ino), 0);
    for (int i = 0; i < 600; i += 2) {
        snprintf(path, sizeof path, "/big/file_%04d_with_some_name_length", i);
        CHECK_EQ(ext2_unlink(m.fs, path), 0);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(path, sizeof path, "/big/new_%d", i);
        CHECK_EQ(ext2_create(m.fs, path, 0644, &ino), 0);
    }
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* A file with an extended attribute block: unlink frees the block. */
static void test_xattr_block_freed(void)
{
    struct fsimg m;
    uint32_t ino;
    snprintf(img, sizeof img, "%s/xattr.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 4096, "-I 128") == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create(m.fs, "/x", 0644, &ino), 0);
    CHECK_EQ(ext2_write(m.fs, ino, 0, "data", 4), 4);
    struct ext2_statfs before, after;
    ext2_statfs(m.fs, &before);
    CHECK_EQ(fsimg_close(&m), 0);
    char *out = NULL;
    ft_sh(&out, "%s -w -R 'ea_set /x user.test %0200d' '%s'", ft_tool("debugfs"), 7, img);
    free(out);
    ft_sh(&out, "%s -R 'stat /x' '%s'", ft_tool("debugfs"), img);
    int has_acl = out && strstr(out, "File ACL: ") && !strstr(out, "File ACL: 0");
    free(out);
    CHECK_MSG(has_acl, "debugfs did not make an attribute block");
    CHECK_FSCK(img);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_unlink(m.fs, "/x"), 0);
    ext2_statfs(m.fs, &after);
    CHECK_EQ(after.free_blocks, before.free_blocks + 1);    /* data; the attribute block came after "before" */
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static void test_large_file_flag(void)
{
    struct fsimg m;
    uint32_t ino;
    snprintf(img, sizeof img, "%s/large.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 8192, "-O ^large_file") == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create(m.fs, "/huge", 0644, &ino), 0);
    CHECK_EQ(ext2_write(m.fs, ino, 5ull << 30, "end", 3), 3);
    struct ext2_stat st;
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.size, (5ull << 30) + 3);
    char c[3];
    CHECK_EQ(ext2_read(m.fs, ino, 5ull << 30, c, 3), 3);
    CHECK(!memcmp(c, "end", 3));
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

static void test_sync_persists(void)
{
    struct fsimg m;
    uint32_t ino;
    snprintf(img, sizeof img, "%s/sync.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 4096, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create(m.fs, "/s", 0644, &ino), 0);
    CHECK_EQ(ext2_write(m.fs, ino, 0, "persist", 7), 7);
    uint64_t flushes = m.td.flushes;
    CHECK_EQ(ext2_sync(m.fs), 0);
    CHECK(m.td.flushes > flushes);
    /* without unmount: a second reader of the file sees it */
    CHECK(ft_debugfs_cat_equals(img, "/s", (const uint8_t *)"persist", 7));
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

/* Owners on create (32-bit uids and gids, high halves included) and attribute
 * changes: what we set is what stat, debugfs and a remount see; e2fsck stays clean. */
static void test_owner_and_setattr(void)
{
    struct fsimg m;
    uint32_t ino, dino;
    struct ext2_stat st;
    char *out = NULL;
    snprintf(img, sizeof img, "%s/attr.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 4096, 4096, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);
    CHECK_EQ(ext2_create_as(m.fs, "/owned", 0640, 70000, 1234, &ino), 0);
    CHECK_EQ(ext2_mkdir_as(m.fs, "/home", 0700, 1000, 100), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/home", &dino), 0);
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.uid, 70000); CHECK_EQ(st.gid, 1234); CHECK_EQ(st.mode, EXT2_S_IFREG | 0640);
    CHECK_EQ(ext2_stat(m.fs, dino, &st), 0);
    CHECK_EQ(st.uid, 1000); CHECK_EQ(st.gid, 100); CHECK_EQ(st.mode, EXT2_S_IFDIR | 0700);
    /* each field alone, then several; the type bits never change */
    struct ext2_setattr a = { EXT2_SA_MODE, 02750, 0, 0, 0, 0 };
    CHECK_EQ(ext2_setattr(m.fs, ino, &a), 0);
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.mode, EXT2_S_IFREG | 02750); CHECK_EQ(st.uid, 70000);
    a = (struct ext2_setattr){ EXT2_SA_UID | EXT2_SA_GID, 0, 0x12345678u, 0x01bcdef0u, 0, 0 };
    CHECK_EQ(ext2_setattr(m.fs, ino, &a), 0);
    a = (struct ext2_setattr){ EXT2_SA_ATIME | EXT2_SA_MTIME | EXT2_SA_MODE, 0177777, 0, 0, 111, 222 };
    CHECK_EQ(ext2_setattr(m.fs, dino, &a), 0);
    CHECK_EQ(ext2_stat(m.fs, dino, &st), 0);
    CHECK_EQ(st.mode, EXT2_S_IFDIR | 07777); CHECK_EQ(st.atime, 111); CHECK_EQ(st.mtime, 222);
    CHECK(st.ctime >= fs_time_now() - 5);
    CHECK_EQ(st.uid, 1000);
    CHECK_EQ(ext2_setattr(m.fs, 999999, &a), -FS_ENOENT);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
    /* debugfs reads the same inode fields */
    ft_sh(&out, "%s -R 'stat /owned' '%s'", ft_tool("debugfs"), img);
    int seen = out && strstr(out, "User: 305419896") && strstr(out, "Group: 29155056") &&
               strstr(out, "Mode:  02750");
    free(out);
    CHECK_MSG(seen, "debugfs does not show uid 0x12345678, gid 0x01bcdef0, mode 02750");
    /* and a remount, read-only: EROFS for changes */
    CHECK_EQ(fsimg_open(&m, img, 64, EXT2_MOUNT_RDONLY), 0);
    CHECK_EQ(ext2_stat(m.fs, ino, &st), 0);
    CHECK_EQ(st.uid, 0x12345678u); CHECK_EQ(st.gid, 0x01bcdef0u);
    CHECK_EQ(ext2_setattr(m.fs, ino, &a), -FS_EROFS);
    CHECK_EQ(ext2_create_as(m.fs, "/x", 0644, 1, 1, &ino), -FS_EROFS);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_FSCK(img);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    ft_run("ext2_write_basic_1k", test_basic_1k);
    ft_run("ext2_write_basic_2k", test_basic_2k);
    ft_run("ext2_write_basic_4k", test_basic_4k);
    ft_run("ext2_write_triple_indirect", test_triple_indirect);
    ft_run("ext2_write_full_disk_enospc", test_full_disk);
    ft_run("ext2_write_inodes_exhausted", test_inodes_exhausted);
    ft_run("ext2_write_dir_index_preserved", test_dir_index_preserved);
    ft_run("ext2_write_xattr_block_freed", test_xattr_block_freed);
    ft_run("ext2_write_large_file_flag", test_large_file_flag);
    ft_run("ext2_bmap_run_matches_bmap", test_bmap_run_matches_bmap);
    ft_run("ext2_write_sync_persists", test_sync_persists);
    ft_run("ext2_write_owner_and_setattr", test_owner_and_setattr);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
