/* fuzz_ext2.c - libFuzzer harness for ext2 (fs/ext2.h over fs/bcache.h) on mutated images.
 *
 * Input: u16 n (big-endian), n bytes of operation script, then the image (its size rounded
 * down to 1 KiB; 4 KiB .. 256 KiB).  Seeds are small mke2fs-made images (1 KiB blocks, so
 * mutations land in metadata often): tests/fuzz/mkseeds.sh.
 * An ext3 volume cannot be that small (a journal has at least 1024 blocks), so the image may
 * also come sparse: "SPRS", u16 device size in KiB (at most 4 MiB), then records of u16 block
 * number and that 1 KiB block; every other block is zeros.  A journal is mostly zeros, so an
 * ext3 seed with a transaction to replay is about 50 KiB.
 *
 * The image sits in memory behind a struct fs_blockdev; a small cache (the script's first
 * byte picks 4..19 buffers, so evictions happen) and a mount (read-only when asked) go on
 * top.  Script ops, each an op byte and parameters (zeros past the end of the script):
 *   lookup+stat, readdir (bounded), read, read_nonblock, read_nonblock_ref, write, truncate,
 *   create, mkdir, unlink, rmdir, rename, sync (or fsync, or the journal's tick), statfs,
 *   stat of a raw inode number, lookup_at, a bounded walk of the whole tree (also run once at the end; it reads every
 *   symlink too), readlink of a raw inode number, symlink (fast or slow target), link.
 * Paths come from a table of names the seed images have (and some they lack).
 *
 * A corrupt image may make any call fail; it must never crash, trip ASan/UBSan/LSan, or hang
 * (libFuzzer's -timeout); unmount and cache teardown must free everything (fuzz_port.c
 * counts).  Work per input is bounded by the harness (entries, bytes, depth), so a hang is
 * the file system's own loop. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fuzz_check.h"
#include "fuzz_port.h"

#include <string.h>

#define IMG_MIN        4096u
#define IMG_MAX        (256u * 1024u)
#define SPARSE_MAX     (4096u * 1024u)
#define WALK_DEPTH     8
#define WALK_ENTRIES   256
#define READ_MAX       (64u * 1024u)
#define WRITE_MAX      (16u * 1024u)
#define REFS_MAX       8

struct memdev {
    struct fs_blockdev dev;
    uint8_t *img;
    size_t size;
};

static int md_read(struct fs_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
    struct memdev *m = dev->priv;
    if (lba > dev->sectors || count > dev->sectors - lba)
        return -FS_EIO;
    memcpy(buf, m->img + lba * dev->sector_size, (size_t)count * dev->sector_size);
    return 0;
}

static int md_write(struct fs_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
    struct memdev *m = dev->priv;
    if (lba > dev->sectors || count > dev->sectors - lba)
        return -FS_EIO;
    memcpy(m->img + lba * dev->sector_size, buf, (size_t)count * dev->sector_size);
    return 0;
}

static int md_flush(struct fs_blockdev *dev) { return 0; }

static const char *const paths[] = {
    "/", "/a", "/d", "/d/f", "/d/sub", "/d/sub/g", "/big", "/many", "/many/e05", "/n",
    "/d/n", "/d/sub/n", "/lost+found", "/d/../a", "/d/f/x", "/many/e17",
    "/fast", "/d/slow", "/hard",
};
#define NPATHS (sizeof paths / sizeof paths[0])

static uint8_t iobuf[READ_MAX];

/* load_image: the device's bytes from the input's image part (plain or sparse, above) in a
 * fresh allocation; 0 when the image is too small to mount. */
static uint8_t *load_image(struct fuzz_in *in, size_t *size)
{
    size_t got;
    const uint8_t *magic = in->p + in->pos;
    if (in->len - in->pos < 6 || memcmp(magic, "SPRS", 4) != 0) {
        const uint8_t *image = fin_bytes(in, IMG_MAX, &got);
        *size = got & ~(size_t)1023;
        uint8_t *img = *size >= IMG_MIN ? malloc(*size) : 0;
        if (img)
            memcpy(img, image, *size);
        return img;
    }
    in->pos += 4;
    size_t kib = fin_u16(in);
    *size = kib * 1024u;
    if (*size < IMG_MIN || *size > SPARSE_MAX)
        return 0;
    uint8_t *img = calloc(1, *size);
    while (img && in->len - in->pos >= 2 + 1024) {
        size_t blk = fin_u16(in);
        const uint8_t *bytes = fin_bytes(in, 1024, &got);
        if (blk < kib)
            memcpy(img + blk * 1024u, bytes, 1024);
    }
    return img;
}

static const char *take_path(struct fuzz_in *in) { return paths[fin_u8(in) % NPATHS]; }

static uint64_t take_off(struct fuzz_in *in)
{
    uint8_t b = fin_u8(in);
    if (b >= 0xf0)
        return (uint64_t)fin_u16(in) << (b & 15);   /* up to 2^31: indirect levels */
    return (uint64_t)b * 97;
}

static int stat_path(struct ext2_fs *fs, const char *path, uint32_t *ino, struct ext2_stat *st)
{
    int e = ext2_lookup(fs, path, ino);
    if (e)
        return e;
    return ext2_stat(fs, *ino, st);
}

/* Reads a file whole, up to a bound. */
static void read_all(struct ext2_fs *fs, uint32_t ino)
{
    uint64_t off = 0;
    for (int i = 0; i < 8; i++) {
        int64_t n = ext2_read(fs, ino, off, iobuf, sizeof iobuf);
        FUZZ_CHECK(n <= (int64_t)sizeof iobuf);
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
}

/* Lists, stats and reads the tree, bounded in depth and entries. */
static void walk(struct ext2_fs *fs, uint32_t dir, int depth, int *entries)
{
    struct ext2_dirent de;
    uint64_t cookie = 0;
    if (depth > WALK_DEPTH)
        return;
    while (*entries < WALK_ENTRIES) {
        int r = ext2_readdir(fs, dir, &cookie, &de);
        if (r != 1)
            break;
        (*entries)++;
        FUZZ_CHECK(de.name_len == strlen(de.name));
        if (!strcmp(de.name, ".") || !strcmp(de.name, ".."))
            continue;
        struct ext2_stat st;
        if (ext2_stat(fs, de.ino, &st))
            continue;
        uint32_t again;
        (void)ext2_lookup_at(fs, dir, de.name, de.name_len, &again);
        if ((st.mode & EXT2_S_IFMT) == EXT2_S_IFDIR)
            walk(fs, de.ino, depth + 1, entries);
        else if ((st.mode & EXT2_S_IFMT) == EXT2_S_IFLNK)
            FUZZ_CHECK(ext2_readlink(fs, de.ino, (char *)iobuf, 4096) <= 4096);
        else
            read_all(fs, de.ino);
    }
}

static void run_script(struct ext2_fs *fs, struct fuzz_in *in)
{
    uint32_t ino;
    struct ext2_stat st;
    int entries;
    while (fin_more(in)) {
        uint8_t op = fin_u8(in);
        switch (op % 20) {
        case 0:
            (void)stat_path(fs, take_path(in), &ino, &st);
            break;
        case 1: {
            struct ext2_dirent de;
            uint64_t cookie = take_off(in);
            if (ext2_lookup(fs, take_path(in), &ino))
                break;
            for (int i = 0; i < WALK_ENTRIES && ext2_readdir(fs, ino, &cookie, &de) == 1; i++)
                FUZZ_CHECK(de.name_len == strlen(de.name));
            break;
        }
        case 2: {
            uint64_t off = take_off(in);
            uint32_t len = (uint32_t)fin_u16(in) % (READ_MAX + 1);
            if (!ext2_lookup(fs, take_path(in), &ino)) {
                int64_t n = ext2_read(fs, ino, off, iobuf, len);
                FUZZ_CHECK(n <= (int64_t)len);
            }
            break;
        }
        case 3: {
            uint64_t off = take_off(in);
            uint32_t len = (uint32_t)fin_u16(in) % (READ_MAX + 1);
            if (!ext2_lookup(fs, take_path(in), &ino)) {
                int64_t n = ext2_read_nonblock(fs, ino, off, iobuf, len);
                FUZZ_CHECK(n <= (int64_t)len);
            }
            break;
        }
        case 4: {
            struct ext2_ref refs[REFS_MAX];
            unsigned nrefs = 0;
            uint64_t off = take_off(in);
            uint32_t len = (uint32_t)fin_u16(in) % (READ_MAX + 1);
            if (!ext2_lookup(fs, take_path(in), &ino)) {
                int64_t n = ext2_read_nonblock_ref(fs, ino, off, len, refs, REFS_MAX, &nrefs);
                FUZZ_CHECK(n <= (int64_t)len);
                FUZZ_CHECK(nrefs <= REFS_MAX);
                if (n >= 0) {
                    uint64_t sum = 0;
                    for (unsigned i = 0; i < nrefs; i++)
                        sum += refs[i].len;
                    FUZZ_CHECK(sum == (uint64_t)n);
                    ext2_refs_release(refs, nrefs);
                }
            }
            break;
        }
        case 5: {
            uint64_t off = take_off(in);
            uint32_t len = (uint32_t)fin_u16(in) % (WRITE_MAX + 1);
            memset(iobuf, op, len);
            if (!ext2_lookup(fs, take_path(in), &ino)) {
                int64_t n = ext2_write(fs, ino, off, iobuf, len);
                FUZZ_CHECK(n <= (int64_t)len);
            }
            break;
        }
        case 6: {
            uint64_t size = take_off(in);
            if (!ext2_lookup(fs, take_path(in), &ino))
                (void)ext2_truncate(fs, ino, size);
            break;
        }
        case 7:
            (void)ext2_create(fs, take_path(in), 0644, &ino);
            break;
        case 8:
            (void)ext2_mkdir(fs, take_path(in), 0755);
            break;
        case 9:
            (void)ext2_unlink(fs, take_path(in));
            break;
        case 10:
            (void)ext2_rmdir(fs, take_path(in));
            break;
        case 11: {
            const char *from = take_path(in);
            (void)ext2_rename(fs, from, take_path(in));
            break;
        }
        case 12: {
            uint8_t how = fin_u8(in);
            if (how & 1)
                (void)ext2_fsync(fs, fin_u16(in));     /* any inode number, valid or not */
            else if (how & 2)
                (void)ext2_journal_tick(fs);            /* the flusher's call (ext3) */
            else
                (void)ext2_sync(fs);
            break;
        }
        case 13: {
            struct ext2_statfs sf;
            if (ext2_statfs(fs, &sf) == 0)
                FUZZ_CHECK(sf.free_blocks <= sf.blocks && sf.free_inodes <= sf.inodes);
            break;
        }
        case 14:
            (void)ext2_stat(fs, fin_u16(in), &st);     /* any inode number, valid or not */
            break;
        case 15: {
            uint8_t n = fin_u8(in) % 12;
            char name[16] = "e00";
            name[1] = (char)('0' + n / 10);
            name[2] = (char)('0' + n % 10);
            if (!ext2_lookup(fs, take_path(in), &ino))
                (void)ext2_lookup_at(fs, ino, name, 3, &ino);
            break;
        }
        case 17: {
            uint32_t cap = fin_u16(in) % 4097;    /* any inode, any room: never past cap */
            int64_t n = ext2_readlink(fs, fin_u16(in), (char *)iobuf, cap);
            FUZZ_CHECK(n <= (int64_t)cap);
            break;
        }
        case 18: {
            uint32_t len = fin_u16(in) % 4200;    /* fast, slow, too long for the block */
            memset(iobuf, 'a' + op % 26, len);
            if (len > 2)
                memcpy(iobuf, "../", 3);
            (void)ext2_symlink_as(fs, take_path(in), (const char *)iobuf, len, 1000, 1000, &ino);
            break;
        }
        case 19: {
            const char *from = take_path(in);
            (void)ext2_link(fs, from, take_path(in));
            break;
        }
        default:
            entries = 0;
            walk(fs, EXT2_ROOT_INO, 0, &entries);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size, 0 };
    size_t slen, ilen;
    uint16_t n = fin_u16(&in);
    const uint8_t *script = fin_bytes(&in, n, &slen);
    struct memdev md;
    md.img = load_image(&in, &ilen);
    if (!md.img)
        return 0;
    long allocs_before = fuzz_allocs_live;
    fs_host_async_mode = FS_ASYNC_REFUSE;

    md.size = ilen;
    md.dev.sector_size = 512;
    md.dev.sectors = ilen / 512;
    md.dev.read = md_read;
    md.dev.write = md_write;
    md.dev.flush = md_flush;
    md.dev.priv = &md;

    struct fuzz_in sc = { script, slen, 0 };
    uint8_t mode = fin_u8(&sc);
    struct bcache *bc = bcache_init(&md.dev, 4u + (mode & 15u));
    FUZZ_CHECK(bc);
    struct ext2_fs *fs;
    if (ext2_mount(bc, (mode & 0x80) ? EXT2_MOUNT_RDONLY : 0, &fs) == 0) {
        run_script(fs, &sc);
        int entries = 0;
        walk(fs, EXT2_ROOT_INO, 0, &entries);
        (void)ext2_unmount(fs);
    }
    struct bcache_stats bs;
    bcache_get_stats(bc, &bs);
    FUZZ_CHECK(bs.referenced == 0);              /* every buffer given back */
    bcache_destroy(bc);
    free(md.img);
    FUZZ_CHECK(fuzz_allocs_live == allocs_before);
    return 0;
}
