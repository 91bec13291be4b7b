/* Regression tests for corruptions the libFuzzer harness (tests/fuzz/fuzz_ext2.c) found;
 * each reproducer also sits in tests/fuzz/ext2/crashes/ and is replayed by `make test`.
 * A corrupt image may refuse with -EUCLEAN/-EIO but must never hand out nonsense. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
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

/* Makes a 1 KiB-block image holding files `names`, then overwrites byte `at` of the first
 * name's on-disk directory entry with `c`. Returns 0 on success. */
static int image_with_bad_name(const char *name, size_t at, char c)
{
    char src[700], path[1400];
    snprintf(src, sizeof src, "%s/src", tmpdir);
    ft_rm_rf(src);
    mkdir(src, 0755);
    snprintf(path, sizeof path, "%s/%s", src, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0 && write(fd, "x", 1) == 1, "write %s", path);
    close(fd);
    snprintf(path, sizeof path, "%s/other", src);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(fd);
    snprintf(img, sizeof img, "%s/bad.img", tmpdir);
    REQUIRE(ft_mkfs(img, src, 1024, 256, NULL) == 0, "mke2fs");
    fd = open(img, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    uint8_t *p = malloc((size_t)st.st_size);
    REQUIRE(read(fd, p, (size_t)st.st_size) == st.st_size, "read image");
    /* the name's bytes follow an entry header whose name_len matches */
    size_t n = strlen(name), hits = 0;
    for (size_t off = 8; off + n <= (size_t)st.st_size; off++) {
        if (memcmp(p + off, name, n) == 0 && p[off - 2] == n) {
            p[off + at] = (uint8_t)c;
            hits++;
        }
    }
    REQUIRE(hits == 1, "found the name %zu times", hits);
    REQUIRE(pwrite(fd, p, (size_t)st.st_size, 0) == st.st_size, "write image");
    free(p);
    close(fd);
    return 0;
}

/* A directory entry whose name holds a NUL or a '/': readdir refuses the block rather than
 * hand out a name whose strlen is not its length (found by fuzz_ext2). */
static void check_bad_char(char c)
{
    struct fsimg m;
    struct ext2_dirent de;
    uint64_t cookie = 0;
    uint32_t ino;
    int r, seen = 0;
    if (image_with_bad_name("abcdef", 2, c))
        return;
    CHECK_EQ(fsimg_open(&m, img, 32, EXT2_MOUNT_RDONLY), 0);
    size_t bad_len = 0;
    bool slash = false;
    while ((r = ext2_readdir(m.fs, EXT2_ROOT_INO, &cookie, &de)) == 1 && seen++ < 100) {
        if (de.name_len != strlen(de.name))
            bad_len = strlen(de.name) + 1;
        if (strchr(de.name, '/'))
            slash = true;
    }
    int lr = ext2_lookup(m.fs, "/other", &ino);
    fsimg_close(&m);
    CHECK_MSG(!bad_len, "an entry's strlen is %zu, not its length", bad_len - 1);
    CHECK_MSG(!slash, "an entry's name holds a '/'");
    CHECK_EQ(r, -FS_EUCLEAN);
    CHECK_EQ(lr, -FS_EUCLEAN);
}

static void test_dirent_name_with_nul(void) { check_bad_char('\0'); }
static void test_dirent_name_with_slash(void) { check_bad_char('/'); }

/* The oracle every fs test ends with: e2fsck -fn exits 0 when only the superblock's free
 * counts are wrong, so ft_e2fsck_clean must read its output too and call such an image
 * unclean (and a fresh image clean). */
static void test_e2fsck_clean_sees_wrong_free_count(void)
{
    char *rep = NULL;
    snprintf(img, sizeof img, "%s/counts.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 1024, NULL) == 0);
    CHECK_MSG(ft_e2fsck_clean(img, &rep), "fresh image: %.400s", rep ? rep : "");
    char *out = NULL;
    int st = ft_sh(&out, "%s -w -R 'ssv free_blocks_count 17' '%s'", ft_tool("debugfs"), img);
    free(out);
    CHECK_EQ(st, 0);
    st = ft_sh(NULL, "%s -fn '%s'", ft_tool("e2fsck"), img);
    CHECK_MSG(st == 0, "e2fsck -fn exited %d on wrong counts: this test expects 0", st);
    int clean = ft_e2fsck_clean(img, &rep);
    CHECK_MSG(!clean, "ft_e2fsck_clean calls an image with a wrong free count clean");
    CHECK_MSG(rep && strstr(rep, "Free blocks count wrong"), "report: %.400s", rep ? rep : "");
    free(rep);
}

/* debugfs -w REQUESTS on img (a ';'-separated list); 0 on success. */
static int debugfs_w(const char *requests)
{
    char *out = NULL;
    int st = ft_sh(&out, "%s -w -R '%s' '%s'", ft_tool("debugfs"), requests, img);
    free(out);
    return st;
}

/* A 1 KiB-block image holding /f (2 KiB) and an empty /g. */
static int small_image(const char *name)
{
    char src[700], path[1400];
    snprintf(src, sizeof src, "%s/src", tmpdir);
    ft_rm_rf(src);
    mkdir(src, 0755);
    static uint8_t two_k[2048];
    ft_fill(two_k, sizeof two_k, 7);
    const char *names[] = { "f", "g" };
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", src, names[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        REQUIRE(fd >= 0, "create %s", path);
        REQUIRE(i == 1 || write(fd, two_k, sizeof two_k) == (ssize_t)sizeof two_k, "write %s", path);
        close(fd);
    }
    snprintf(img, sizeof img, "%s/%s", tmpdir, name);
    REQUIRE(ft_mkfs(img, src, 1024, 1024, NULL) == 0, "mke2fs");
    return 0;
}

/* The superblock on disk still mounts and its free counts are within their totals. */
static bool super_intact(void)
{
    struct fsimg m;
    if (fsimg_open(&m, img, 32, EXT2_MOUNT_RDONLY) != 0)
        return false;
    struct ext2_statfs sf;
    ext2_statfs(m.fs, &sf);
    bool ok = sf.free_blocks <= sf.blocks && sf.free_inodes <= sf.inodes;
    fsimg_close(&m);
    return ok;
}

/* Mounts img read-write, writes data at offset 0 of path, reads it back into *read (the
 * result), takes statfs, unmounts: the write's result (or the mount's or lookup's error). */
static int64_t write_mounted(const char *path, void *data, size_t n, int64_t *read, struct ext2_statfs *sf)
{
    struct fsimg m;
    uint32_t ino;
    int64_t r = fsimg_open(&m, img, 32, 0);
    *read = r;
    memset(sf, 0, sizeof *sf);
    if (r)
        return r;
    r = ext2_lookup(m.fs, path, &ino);
    if (r == 0) {
        r = ext2_write(m.fs, ino, 0, data, n);
        *read = ext2_read(m.fs, ino, 0, data, n);
    }
    ext2_statfs(m.fs, sf);
    fsimg_close(&m);
    return r;
}

/* A file whose block pointer names the superblock (block 1 of a 1 KiB-block volume): writes
 * through it are refused, not written over the cached superblock, whose free counts then
 * read as file data (found by fuzz_ext2: statfs said 1936946035 free of 64). */
static void test_block_pointer_to_superblock_refused(void)
{
    if (small_image("sbptr.img"))
        return;
    CHECK_EQ(debugfs_w("sif /f block[0] 1"), 0);
    uint8_t data[1024];
    memset(data, 's', sizeof data);
    int64_t r;
    struct ext2_statfs sf;
    CHECK_EQ(write_mounted("/f", data, sizeof data, &r, &sf), -FS_EUCLEAN);
    CHECK_EQ(r, -FS_EUCLEAN);
    CHECK_MSG(sf.free_blocks <= sf.blocks, "statfs: %llu free of %llu", (unsigned long long)sf.free_blocks,
              (unsigned long long)sf.blocks);
    CHECK_MSG(super_intact(), "the superblock on disk was overwritten");
}

/* A block bitmap that has the superblock and the descriptors free: allocation skips them
 * (and marks them used), so new data never lands on them. */
static void test_bitmap_with_superblock_free(void)
{
    if (small_image("sbfree.img"))
        return;
    CHECK_EQ(debugfs_w("freeb 1 2"), 0);             /* the superblock and the descriptors */
    uint8_t data[8192];
    memset(data, 's', sizeof data);
    int64_t r;
    struct ext2_statfs sf;
    CHECK_EQ(write_mounted("/g", data, sizeof data, &r, &sf), (int64_t)sizeof data);
    CHECK_MSG(super_intact(), "the superblock on disk was overwritten");
    CHECK(ft_debugfs_cat_equals(img, "/g", data, sizeof data));
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    ft_run("ext2_dirent_name_with_nul", test_dirent_name_with_nul);
    ft_run("ext2_dirent_name_with_slash", test_dirent_name_with_slash);
    ft_run("e2fsck_clean_sees_wrong_free_count", test_e2fsck_clean_sees_wrong_free_count);
    ft_run("ext2_block_pointer_to_superblock_refused", test_block_pointer_to_superblock_refused);
    ft_run("ext2_bitmap_with_superblock_free", test_bitmap_with_superblock_free);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
