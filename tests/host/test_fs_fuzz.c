/* Corruption fuzz: a few hundred seeded byte corruptions of ext2 metadata
 * (superblock, group descriptors, bitmaps, inode table, directory and
 * indirect blocks).  Each image is mounted, walked, read and changed in a
 * child process with a time limit: the fs may refuse with an error but must
 * never crash, trip ASan/UBSan or hang.  FS_FUZZ_CASES overrides the count. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CASE_TIME_LIMIT 20      /* seconds per corrupted image */
#define WALK_MAX_DEPTH 24
#define WALK_MAX_ENTRIES 4000
#define READ_CAP (4u << 20)

static char *tmpdir;
static char base_img[2][600], case_img[600];
static uint8_t *base[2];
static size_t base_size[2];
static uint32_t targets[2][4096];
static unsigned ntargets[2];
static unsigned bsize[2] = { 1024, 4096 };

static void write_file(const char *path, size_t size, uint64_t seed)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint8_t *buf = malloc(size + 1);
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t)ft_rand(&seed);
    if (write(fd, buf, size) != (ssize_t)size)
        abort();
    free(buf);
    close(fd);
}

static void make_source(const char *src)
{
    char p[800];
    mkdir(src, 0755);
    snprintf(p, sizeof p, "%s/dir", src); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/dir/sub", src); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/many", src); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/small.txt", src); write_file(p, 100, 1);
    snprintf(p, sizeof p, "%s/dir/mid.bin", src); write_file(p, 40000, 2);
    snprintf(p, sizeof p, "%s/dir/sub/big.bin", src); write_file(p, 400000, 3);   /* double indirect at 1 KiB */
    for (int i = 0; i < 120; i++) {
        snprintf(p, sizeof p, "%s/many/entry_%03d", src, i);
        write_file(p, (size_t)i * 10, (uint64_t)i);
    }
}

static void add_target(int k, uint32_t blk)
{
    if (blk && ntargets[k] < 4096)
        targets[k][ntargets[k]++] = blk;
}

/* Metadata blocks of image k: superblock, descriptors, bitmaps, the used
 * part of the inode table, and (from debugfs) directory and indirect blocks. */
static void find_targets(int k)
{
    uint8_t *img = base[k];
    unsigned bs = bsize[k];
    struct ext2_super *sb = (struct ext2_super *)(img + 1024);
    uint32_t gdt = sb->s_first_data_block + 1;
    add_target(k, bs == 1024 ? 1 : 0);
    add_target(k, gdt);
    uint32_t ngroups = (sb->s_blocks_count - sb->s_first_data_block + sb->s_blocks_per_group - 1) /
                       sb->s_blocks_per_group;
    for (uint32_t g = 0; g < ngroups; g++) {
        struct ext2_group_desc *gd = (struct ext2_group_desc *)(img + (size_t)gdt * bs + g * 32);
        add_target(k, gd->bg_block_bitmap);
        add_target(k, gd->bg_inode_bitmap);
        uint32_t used = sb->s_inodes_per_group - gd->bg_free_inodes_count;
        uint32_t tblocks = (used * sb->s_inode_size + bs - 1) / bs;
        for (uint32_t i = 0; i < tblocks && i < 64; i++)
            add_target(k, gd->bg_inode_table + i);
    }
    const char *paths[] = { "/", "/dir", "/dir/sub", "/many", "/dir/mid.bin", "/dir/sub/big.bin" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *out = NULL;
        ft_sh(&out, "%s -R 'stat %s' '%s'", ft_tool("debugfs"), paths[i], base_img[k]);
        char *s = out ? strstr(out, "BLOCKS:") : NULL;
        bool dir = i < 4;
        /* "(0-11):100-111, (IND):112, (12-267):113-368, (DIND):369, ..." */
        while (s && (s = strchr(s, '('))) {
            bool meta = s[1] == 'I' || s[1] == 'D' || s[1] == 'T';
            char *colon = strchr(s, ':');
            if (!colon)
                break;
            unsigned long a = strtoul(colon + 1, &s, 10), b = a;
            if (*s == '-')
                b = strtoul(s + 1, &s, 10);
            if (meta || dir)
                for (unsigned long x = a; x <= b && x < a + 64; x++)
                    add_target(k, (uint32_t)x);
        }
        free(out);
    }
}

/* Walks the tree, reading everything (bounded). */
static void walk(struct ext2_fs *fs, uint32_t dir, int depth, int *entries, uint8_t *buf)
{
    struct ext2_dirent de;
    uint64_t cookie = 0;
    if (depth > WALK_MAX_DEPTH)
        return;
    while (*entries < WALK_MAX_ENTRIES && ext2_readdir(fs, dir, &cookie, &de) == 1) {
        (*entries)++;
        if (!strcmp(de.name, ".") || !strcmp(de.name, ".."))
            continue;
        struct ext2_stat st;
        if (ext2_stat(fs, de.ino, &st))
            continue;
        if ((st.mode & EXT2_S_IFMT) == EXT2_S_IFDIR) {
            walk(fs, de.ino, depth + 1, entries, buf);
        } else {
            for (uint64_t off = 0; off < READ_CAP;) {
                int64_t n = ext2_read(fs, de.ino, off, buf, 65536);
                if (n <= 0)
                    break;
                off += (uint64_t)n;
            }
            ext2_read_nonblock(fs, de.ino, 0, buf, 8192);
        }
    }
}

/* Body of the child process: any return means it survived. */
static void exercise(const char *path)
{
    struct fsimg m;
    static uint8_t buf[65536];
    int entries = 0;
    uint32_t ino;
    fs_host_async_mode = FS_ASYNC_REFUSE;
    if (fsimg_open(&m, path, 64, 0))
        return;
    walk(m.fs, EXT2_ROOT_INO, 0, &entries, buf);
    /* changes on a corrupt fs: errors are fine, damage to memory is not */
    memset(buf, 0x5A, sizeof buf);
    if (ext2_create(m.fs, "/fuzz_new", 0644, &ino) == 0)
        ext2_write(m.fs, ino, 0, buf, 30000);
    ext2_mkdir(m.fs, "/fuzz_dir", 0755);
    ext2_mkdir(m.fs, "/many/fuzz_dir2", 0755);
    ext2_rename(m.fs, "/dir/mid.bin", "/fuzz_dir/moved");
    ext2_rename(m.fs, "/dir/sub", "/many/sub2");
    ext2_unlink(m.fs, "/small.txt");
    ext2_unlink(m.fs, "/many/entry_050");
    if (ext2_lookup(m.fs, "/many/sub2/big.bin", &ino) == 0) {
        ext2_truncate(m.fs, ino, 5000);
        ext2_write(m.fs, ino, 300000, buf, 20000);
    }
    ext2_rmdir(m.fs, "/dir");
    entries = 0;
    walk(m.fs, EXT2_ROOT_INO, 0, &entries, buf);
    fsimg_close(&m);
}

/* Applies 1..8 corruptions from the seed to a copy of base image k. */
static void corrupt(int k, uint64_t seed, uint8_t *img)
{
    unsigned bs = bsize[k];
    memcpy(img, base[k], base_size[k]);
    unsigned n = 1 + ft_rand(&seed) % 8;
    for (unsigned i = 0; i < n; i++) {
        uint32_t blk = targets[k][ft_rand(&seed) % ntargets[k]];
        size_t off = (size_t)blk * bs + ft_rand(&seed) % bs;
        if (blk == 0 && bs > 1024)
            off = 1024 + ft_rand(&seed) % 1024;     /* the superblock part of block 0 */
        if (off + 4 > base_size[k])
            continue;
        switch (ft_rand(&seed) % 4) {
        case 0: img[off] = (uint8_t)ft_rand(&seed); break;
        case 1: img[off] ^= (uint8_t)(1u << (ft_rand(&seed) % 8)); break;
        case 2: { uint32_t v = (uint32_t)ft_rand(&seed); memcpy(img + (off & ~(size_t)3), &v, 4); break; }
        default: img[off] = ft_rand(&seed) % 2 ? 0xFF : 0x00; break;
        }
    }
}

static int load_base(int k)
{
    char src[700];
    snprintf(src, sizeof src, "%s/src", tmpdir);
    snprintf(base_img[k], sizeof base_img[k], "%s/base%d.img", tmpdir, k);
    REQUIRE(ft_mkfs(base_img[k], src, bsize[k], 4096, NULL) == 0, "mke2fs");
    int fd = open(base_img[k], O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    base_size[k] = (size_t)st.st_size;
    base[k] = malloc(base_size[k]);
    REQUIRE(read(fd, base[k], base_size[k]) == (ssize_t)base_size[k], "read image");
    close(fd);
    find_targets(k);
    REQUIRE(ntargets[k] > 12, "only %u metadata blocks found in image %d", ntargets[k], k);
    return 0;
}

static void test_fuzz(void)
{
    const char *env = getenv("FS_FUZZ_CASES");
    unsigned cases = env ? (unsigned)atoi(env) : 300;
    char src[700];
    snprintf(src, sizeof src, "%s/src", tmpdir);
    make_source(src);
    for (int k = 0; k < 2; k++)
        if (load_base(k))
            return;
    /* the uncorrupted images pass the same exercise and stay clean */
    for (int k = 0; k < 2; k++) {
        snprintf(case_img, sizeof case_img, "%s/clean%d.img", tmpdir, k);
        int fd = open(case_img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(write(fd, base[k], base_size[k]) == (ssize_t)base_size[k]);
        close(fd);
        exercise(case_img);
        char *rep = NULL;
        CHECK_MSG(ft_e2fsck_clean(case_img, &rep), "clean image after exercise: %.600s", rep ? rep : "");
    }
    unsigned mounted = 0;
    for (unsigned c = 0; c < cases; c++) {
        int k = c % 2;
        uint8_t *img = malloc(base_size[k]);
        corrupt(k, 1000 + c, img);
        snprintf(case_img, sizeof case_img, "%s/case.img", tmpdir);
        int fd = open(case_img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(write(fd, img, base_size[k]) == (ssize_t)base_size[k]);
        close(fd);
        free(img);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(CASE_TIME_LIMIT);
            struct fsimg probe;
            fs_host_async_mode = FS_ASYNC_REFUSE;
            int mounted_ok = fsimg_open(&probe, case_img, 64, EXT2_MOUNT_RDONLY) == 0;
            if (mounted_ok)
                fsimg_close(&probe);
            exercise(case_img);
            _exit(mounted_ok ? 10 : 11);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st)) {
            CHECK_MSG(0, "case %u (seed %u): killed by signal %d%s", c, 1000 + c, WTERMSIG(st),
                      WTERMSIG(st) == SIGALRM ? " (time limit)" : "");
        }
        CHECK_MSG(WIFEXITED(st) && (WEXITSTATUS(st) == 10 || WEXITSTATUS(st) == 11),
                  "case %u (seed %u): child exit %d", c, 1000 + c, WEXITSTATUS(st));
        mounted += WEXITSTATUS(st) == 10;
    }
    /* most corruptions should still mount, so the deeper code was reached */
    CHECK_MSG(mounted > cases / 3, "only %u of %u corrupted images mounted", mounted, cases);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    ft_run("ext2_fuzz_corrupt_metadata", test_fuzz);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    free(base[0]);
    free(base[1]);
    return ft_summary();
}
