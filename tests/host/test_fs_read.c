/* Host tests of the ext2 read side: images made by mke2fs -d from a
 * generated tree (block sizes 1, 2 and 4 KiB) are read back completely and
 * compared with the source tree. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;
static int no_ftype;  /* revision 0: entries carry no file type */
static char srcdir[600], img[600];

static void write_file(const char *rel, uint64_t size, uint64_t seed, uint64_t sparse_at)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", srcdir, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    uint8_t buf[8192];
    uint64_t s = seed;
    if (sparse_at) {
        /* a little data at 0 and at sparse_at, a hole between */
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (uint8_t)ft_rand(&s);
        if (pwrite(fd, buf, 5000, 0) != 5000 || pwrite(fd, buf, 3000, (off_t)sparse_at) != 3000)
            abort();
    } else {
        for (uint64_t done = 0; done < size;) {
            size_t n = size - done < sizeof buf ? (size_t)(size - done) : sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)ft_rand(&s);
            if (write(fd, buf, n) != (ssize_t)n)
                abort();
            done += n;
        }
    }
    close(fd);
}

static void make_tree(void)
{
    char path[1200];
    snprintf(srcdir, sizeof srcdir, "%s/src", tmpdir);
    mkdir(srcdir, 0755);
    const char *dirs[] = { "docs", "docs/notes", "docs/notes/deep", "docs/notes/deep/er", "empty", "many", "data" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", srcdir, dirs[i]);
        mkdir(path, 0755);
    }
    uint64_t sizes[] = { 0, 1, 100, 1023, 1024, 1025, 2047, 2048, 4095, 4096, 4097, 12288, 13000,
                         49152, 49153, 300000, 1100000, 3000000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "data/f%zu_%llu", i, (unsigned long long)sizes[i]);
        write_file(rel, sizes[i], i + 1, 0);
    }
    write_file("hello.txt", 13, 99, 0);
    write_file("docs/notes/deep/er/leaf.bin", 77777, 5, 0);
    write_file("data/sparse_mid", 0, 7, 2u << 20);
    write_file("data/sparse_triple", 0, 8, 80u << 20);     /* triple indirect at 1 KiB */
    /* 300 entries: several directory blocks */
    for (int i = 0; i < 300; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "many/entry_with_a_longish_name_%04d", i);
        write_file(rel, (uint64_t)(i % 7) * 100, (uint64_t)i + 1000, 0);
    }
    char longname[300];
    memset(longname, 'L', 255);
    longname[255] = 0;
    write_file(longname, 42, 3, 0);
    snprintf(path, sizeof path, "%s/link", srcdir);
    if (symlink("hello.txt", path))
        abort();
}

/* Compares the fs directory `fsdir` (inode dino) with host directory hdir. */
static int compare_dir(struct ext2_fs *fs, uint32_t dino, const char *hdir, int *files)
{
    /* names in the fs */
    struct ext2_dirent de;
    uint64_t cookie = 0;
    int n_fs = 0, r;
    while ((r = ext2_readdir(fs, dino, &cookie, &de)) == 1) {
        if (!strcmp(de.name, ".") || !strcmp(de.name, ".."))
            continue;
        if (dino == EXT2_ROOT_INO && !strcmp(de.name, "lost+found"))
            continue;
        n_fs++;
        char hpath[2048];
        struct stat st;
        snprintf(hpath, sizeof hpath, "%s/%s", hdir, de.name);
        REQUIRE(lstat(hpath, &st) == 0, "fs has %s, host does not", hpath);
        struct ext2_stat es;
        REQUIRE(ext2_stat(fs, de.ino, &es) == 0, "stat %s", hpath);
        uint32_t lino;
        REQUIRE(ext2_lookup_at(fs, dino, de.name, de.name_len, &lino) == 0 && lino == de.ino,
            "lookup_at %s", hpath);
        if (S_ISDIR(st.st_mode)) {
            REQUIRE((es.mode & EXT2_S_IFMT) == EXT2_S_IFDIR && (no_ftype ? de.type == 0 : de.type == EXT2_FT_DIR), "%s not dir", hpath);
            if (compare_dir(fs, de.ino, hpath, files))
                return -1;
        } else if (S_ISREG(st.st_mode)) {
            REQUIRE((es.mode & EXT2_S_IFMT) == EXT2_S_IFREG && (no_ftype ? de.type == 0 : de.type == EXT2_FT_REG_FILE), "%s not file", hpath);
            REQUIRE(es.size == (uint64_t)st.st_size, "%s size %llu vs %lld", hpath,
                (unsigned long long)es.size, (long long)st.st_size);
            REQUIRE((es.mode & 07777) == (st.st_mode & 07777), "%s mode", hpath);
            int fd = open(hpath, O_RDONLY);
            uint8_t *want = malloc(st.st_size + 1), *got = malloc(st.st_size + 1);
            REQUIRE(read(fd, want, st.st_size) == st.st_size, "host read");
            close(fd);
            /* read in uneven chunks */
            uint64_t off = 0, seed = (uint64_t)st.st_size;
            while (off < (uint64_t)st.st_size) {
                uint64_t len = 1 + ft_rand(&seed) % 70000;
                int64_t n = ext2_read(fs, de.ino, off, got + off, len);
                REQUIRE(n > 0, "%s read at %llu: %lld", hpath, (unsigned long long)off, (long long)n);
                off += (uint64_t)n;
            }
            REQUIRE(ext2_read(fs, de.ino, off, got, 10) == 0, "read at EOF");
            REQUIRE(memcmp(want, got, st.st_size) == 0, "%s content differs", hpath);
            free(want);
            free(got);
            (*files)++;
        } else if (S_ISLNK(st.st_mode)) {
            REQUIRE((es.mode & EXT2_S_IFMT) == EXT2_S_IFLNK, "%s not symlink", hpath);
            REQUIRE(ext2_read(fs, de.ino, 0, &lino, 1) == -FS_EINVAL, "read of symlink");
        }
    }
    REQUIRE(r == 0, "readdir %s: %d", hdir, r);
    /* and every host name is in the fs */
    DIR *d = opendir(hdir);
    struct dirent *e;
    int n_host = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "lost+found"))
            continue;
        n_host++;
    }
    closedir(d);
    REQUIRE(n_fs == n_host, "%s: %d entries in fs, %d on host", hdir, n_fs, n_host);
    return 0;
}

static void check_tree(unsigned bs)
{
    struct fsimg m;
    int files = 0;
    snprintf(img, sizeof img, "%s/tree%u.img", tmpdir, bs);
    CHECK(ft_mkfs(img, srcdir, bs, 48 * 1024, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 256, EXT2_MOUNT_RDONLY), 0);
    int r = compare_dir(m.fs, EXT2_ROOT_INO, srcdir, &files);
    struct ext2_statfs sf;
    ext2_statfs(m.fs, &sf);
    uint64_t writes = m.td.writes;
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK(r == 0);
    CHECK(files > 300);
    CHECK_EQ(sf.block_size, bs);
    CHECK(sf.free_blocks < sf.blocks && sf.free_inodes < sf.inodes);
    CHECK_EQ(writes, 0);            /* a read-only mount writes nothing */
}

static void test_tree_1k(void) { check_tree(1024); }
static void test_tree_2k(void) { check_tree(2048); }
static void test_tree_4k(void) { check_tree(4096); }

static void test_tree_tiny_cache(void)
{
    /* everything must still work with a cache far smaller than the data */
    struct fsimg m;
    int files = 0;
    snprintf(img, sizeof img, "%s/tree1024.img", tmpdir);
    CHECK_EQ(fsimg_open(&m, img, 16, EXT2_MOUNT_RDONLY), 0);
    int r = compare_dir(m.fs, EXT2_ROOT_INO, srcdir, &files);
    fsimg_close(&m);
    CHECK(r == 0);
}

static void test_path_rules(void)
{
    struct fsimg m;
    uint32_t ino, ino2;
    char longpath[600];
    snprintf(img, sizeof img, "%s/tree2048.img", tmpdir);
    CHECK_EQ(fsimg_open(&m, img, 64, EXT2_MOUNT_RDONLY), 0);
    struct ext2_fs *fs = m.fs;
    CHECK_EQ(ext2_lookup(fs, "/", &ino), 0);
    CHECK_EQ(ino, EXT2_ROOT_INO);
    CHECK_EQ(ext2_lookup(fs, "/docs/notes/deep/er/leaf.bin", &ino), 0);
    CHECK_EQ(ext2_lookup(fs, "//docs/./notes/../notes/deep//er/leaf.bin", &ino2), 0);
    CHECK_EQ(ino, ino2);
    CHECK_EQ(ext2_lookup(fs, "/docs/../..", &ino), -FS_EINVAL);
    CHECK_EQ(ext2_lookup(fs, "/..", &ino), -FS_EINVAL);
    CHECK_EQ(ext2_lookup(fs, "relative", &ino), -FS_EINVAL);
    CHECK_EQ(ext2_lookup(fs, "/nope", &ino), -FS_ENOENT);
    CHECK_EQ(ext2_lookup(fs, "/hello.txt/x", &ino), -FS_ENOTDIR);
    memset(longpath, 'L', sizeof longpath);
    longpath[0] = '/';
    longpath[257] = 0;      /* 256-byte component */
    CHECK_EQ(ext2_lookup(fs, longpath, &ino), -FS_ENAMETOOLONG);
    longpath[256] = 0;      /* 255 bytes: exists */
    CHECK_EQ(ext2_lookup(fs, longpath, &ino), 0);
    CHECK_EQ(ext2_create(fs, "/new", 0644, &ino), -FS_EROFS);
    struct ext2_stat st;
    CHECK_EQ(ext2_stat(fs, 0, &st), -FS_ENOENT);
    CHECK_EQ(ext2_stat(fs, 999999999, &st), -FS_ENOENT);
    fsimg_close(&m);
}

static void test_readdir_cookie_resume(void)
{
    struct fsimg m;
    uint32_t dir;
    snprintf(img, sizeof img, "%s/tree1024.img", tmpdir);
    CHECK_EQ(fsimg_open(&m, img, 64, EXT2_MOUNT_RDONLY), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/many", &dir), 0);
    /* restart from each saved cookie: same sequence */
    uint64_t cookies[400];
    char names[400][64];
    int n = 0, r;
    struct ext2_dirent de;
    uint64_t c = 0;
    cookies[0] = 0;
    while ((r = ext2_readdir(m.fs, dir, &c, &de)) == 1 && n < 399) {
        snprintf(names[n], 64, "%.60s", de.name);
        cookies[++n] = c;
    }
    CHECK_EQ(n, 302);
    for (int i = 0; i < n; i += 37) {
        uint64_t cc = cookies[i];
        CHECK_EQ(ext2_readdir(m.fs, dir, &cc, &de), 1);
        CHECK(!strcmp(de.name, names[i]));
    }
    fsimg_close(&m);
}

static void test_nonblocking_read(void)
{
    struct fsimg m;
    uint32_t ino;
    static uint8_t a[1100000], b[1100000];
    snprintf(img, sizeof img, "%s/tree4096.img", tmpdir);
    fs_host_async_mode = FS_ASYNC_REFUSE;   /* no read-ahead: exact counts */
    CHECK_EQ(fsimg_open(&m, img, 1024, EXT2_MOUNT_RDONLY), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/data/f16_1100000", &ino), 0);
    uint64_t reads = m.td.reads;
    CHECK_EQ(ext2_read_nonblock(m.fs, ino, 0, a, 100000), -FS_EWOULDBLOCK);
    CHECK_EQ(m.td.reads, reads);    /* a miss started no I/O */
    CHECK_EQ(ext2_read(m.fs, ino, 0, a, sizeof a), 1100000);
    reads = m.td.reads;
    CHECK_EQ(ext2_read_nonblock(m.fs, ino, 12345, b, 700000), 700000);
    CHECK(memcmp(a + 12345, b, 700000) == 0);
    CHECK_EQ(ext2_read_nonblock(m.fs, ino, 1099990, b, 100), 10);
    /* by reference */
    struct ext2_ref refs[400];
    unsigned nrefs;
    CHECK_EQ(ext2_read_nonblock_ref(m.fs, ino, 5000, 300000, refs, 400, &nrefs), 300000);
    uint64_t off = 5000;
    for (unsigned i = 0; i < nrefs; i++) {
        CHECK(memcmp(refs[i].data, a + off, refs[i].len) == 0);
        off += refs[i].len;
    }
    CHECK_EQ(off, 305000);
    struct bcache_stats st;
    bcache_get_stats(m.bc, &st);
    CHECK(st.referenced >= nrefs / 2);
    ext2_refs_release(refs, nrefs);
    bcache_get_stats(m.bc, &st);
    CHECK(st.referenced < 10);      /* only the fs's pinned metadata */
    /* fewer refs than needed: a short answer */
    int64_t got = ext2_read_nonblock_ref(m.fs, ino, 0, 300000, refs, 3, &nrefs);
    CHECK_EQ(nrefs, 3);
    CHECK_EQ(got, 3 * 4096);
    ext2_refs_release(refs, nrefs);
    CHECK_EQ(m.td.reads, reads);
    /* holes come back as zeros without a buffer */
    CHECK_EQ(ext2_lookup(m.fs, "/data/sparse_mid", &ino), 0);
    CHECK_EQ(ext2_read(m.fs, ino, 0, a, 20000), 20000);
    CHECK_EQ(ext2_read_nonblock_ref(m.fs, ino, 8192, 4096, refs, 4, &nrefs), 4096);
    CHECK(nrefs == 1 && refs[0].buf == NULL && refs[0].data[0] == 0 && refs[0].data[4095] == 0);
    fsimg_close(&m);
    fs_host_async_mode = FS_ASYNC_THREAD;
}

/* Patches a 32-bit superblock field of an image file. */
static void patch_sb32(const char *path, unsigned offset, uint32_t or_bits)
{
    int fd = open(path, O_RDWR);
    uint32_t v;
    if (pread(fd, &v, 4, 1024 + offset) != 4)
        abort();
    v |= or_bits;
    if (pwrite(fd, &v, 4, 1024 + offset) != 4)
        abort();
    close(fd);
}

static void test_feature_checks(void)
{
    struct fsimg m;
    snprintf(img, sizeof img, "%s/feat.img", tmpdir);
    CHECK(ft_mkfs(img, NULL, 1024, 2048, NULL) == 0);
    patch_sb32(img, 96, 0x40);                      /* INCOMPAT extents: refuse */
    CHECK_EQ(fsimg_open(&m, img, 32, 0), -FS_ENOTSUP);
    CHECK(ft_mkfs(img, NULL, 1024, 2048, NULL) == 0);
    patch_sb32(img, 100, 0x8000);                   /* unknown RO_COMPAT: read-only */
    CHECK_EQ(fsimg_open(&m, img, 32, 0), 0);
    CHECK(ext2_is_read_only(m.fs));
    CHECK_EQ(ext2_mkdir(m.fs, "/x", 0755), -FS_EROFS);
    uint32_t ino;
    CHECK_EQ(ext2_lookup(m.fs, "/lost+found", &ino), 0);
    CHECK_EQ(ext2_write(m.fs, ino, 0, "x", 1), -FS_EROFS);
    fsimg_close(&m);
}

static void test_revision0(void)
{
    struct fsimg m;
    int files = 0;
    snprintf(img, sizeof img, "%s/rev0.img", tmpdir);
    CHECK(ft_mkfs(img, srcdir, 1024, 48 * 1024, "-r 0") == 0);
    CHECK_EQ(fsimg_open(&m, img, 128, EXT2_MOUNT_RDONLY), 0);
    no_ftype = 1;
    int r = compare_dir(m.fs, EXT2_ROOT_INO, srcdir, &files);
    no_ftype = 0;
    fsimg_close(&m);
    CHECK(r == 0);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    make_tree();
    ft_run("ext2_read_tree_1k", test_tree_1k);
    ft_run("ext2_read_tree_2k", test_tree_2k);
    ft_run("ext2_read_tree_4k", test_tree_4k);
    ft_run("ext2_read_tree_tiny_cache", test_tree_tiny_cache);
    ft_run("ext2_path_rules", test_path_rules);
    ft_run("ext2_readdir_cookie_resume", test_readdir_cookie_resume);
    ft_run("ext2_nonblocking_read", test_nonblocking_read);
    ft_run("ext2_feature_checks", test_feature_checks);
    ft_run("ext2_revision0", test_revision0);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
