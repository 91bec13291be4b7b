/* ext2_dir.c - directories: linear lists of variable-length entries, one
 * list per block.  Every block is checked before use so a corrupt entry
 * gives -EUCLEAN instead of an out-of-bounds access.  Indexed (htree)
 * directories are read linearly too (their index blocks look like empty
 * entries); a change to one clears EXT2_INDEX_FL so the stale index is
 * never trusted again (e2fsck accepts that). */
#include "ext2_internal.h"

static struct ext2_dir_entry *entry_at(uint8_t *p, uint32_t off)
{
    return (struct ext2_dir_entry *)(p + off);
}

static uint32_t dir_nblocks(struct ext2_fs *fs, const struct ext2_inode *dir)
{
    return dir->i_size / fs->block_size;
}

/* A name no path can spell (a NUL or '/' in it) is corruption: readdir would hand out a
 * name whose strlen is not its length, and the protocol cannot encode it. */
static bool name_chars_ok(const char *name, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (name[i] == '\0' || name[i] == '/')
            return false;
    return true;
}

static int check_block(struct ext2_fs *fs, uint8_t *p)
{
    bool ftype = (fs->sb->s_feature_incompat & EXT2_FEATURE_INCOMPAT_FILETYPE) != 0;
    for (uint32_t off = 0; off < fs->block_size;) {
        if (fs->block_size - off < EXT2_DIR_ENTRY_HEADER)
            return -FS_EUCLEAN;
        struct ext2_dir_entry *de = entry_at(p, off);
        uint32_t rl = de->rec_len;
        if (rl < EXT2_DIR_ENTRY_HEADER || rl % 4 || rl > fs->block_size - off)
            return -FS_EUCLEAN;
        if (de->inode) {
            if (de->name_len == 0 || EXT2_DIR_ENTRY_HEADER + (uint32_t)de->name_len > rl ||
                de->inode > fs->inodes_count || (!ftype && de->file_type) ||
                !name_chars_ok(de->name, de->name_len))
                return -FS_EUCLEAN;
        }
        off += rl;
    }
    return 0;
}

/* Reads and checks directory block lblk. */
static int dir_block(struct ext2_fs *fs, const struct ext2_inode *dir, uint32_t lblk, struct ext2_blk *b)
{
    uint32_t pblk;
    int r = ext2_bmap(fs, dir, lblk, &pblk, false);
    if (r)
        return r;
    if (!pblk)
        return -FS_EUCLEAN;     /* directories have no holes */
    r = ext2_bread(fs, pblk, b);
    if (r)
        return r;
    r = check_block(fs, b->p);
    if (r)
        ext2_brelse(b);
    return r;
}

static bool name_is(const struct ext2_dir_entry *de, const char *name, uint32_t len)
{
    return de->inode && de->name_len == len && memcmp(de->name, name, len) == 0;
}

static int check_dir(struct ext2_fs *fs, const struct ext2_inode *dir)
{
    if ((dir->i_mode & EXT2_S_IFMT) != EXT2_S_IFDIR)
        return -FS_ENOTDIR;
    if (dir->i_size % fs->block_size)
        return -FS_EUCLEAN;
    return 0;
}

/* Finds name: returns 0 with the block held and the entry's offset (and
 * the previous entry's, or UINT32_MAX if it is first in its block). */
static int find_entry(struct ext2_fs *fs, const struct ext2_inode *dir, const char *name, uint32_t len,
                      struct ext2_blk *b, uint32_t *off, uint32_t *prev)
{
    int r = check_dir(fs, dir);
    if (r)
        return r;
    for (uint32_t lblk = 0; lblk < dir_nblocks(fs, dir); lblk++) {
        r = dir_block(fs, dir, lblk, b);
        if (r)
            return r;
        uint32_t p = UINT32_MAX;
        for (uint32_t o = 0; o < fs->block_size; o += entry_at(b->p, o)->rec_len) {
            if (name_is(entry_at(b->p, o), name, len)) {
                *off = o;
                *prev = p;
                return 0;
            }
            p = o;
        }
        ext2_brelse(b);
    }
    return -FS_ENOENT;
}

int ext2_dir_lookup(struct ext2_fs *fs, const struct ext2_inode *dir, const char *name, uint32_t len,
                    uint32_t *ino)
{
    struct ext2_blk b;
    uint32_t off, prev;
    int r = find_entry(fs, dir, name, len, &b, &off, &prev);
    if (r)
        return r;
    *ino = entry_at(b.p, off)->inode;
    ext2_brelse(&b);
    return 0;
}

/* Records that dir changed: times, and the index (if any) is now stale. */
static int dir_touch(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir)
{
    dir->i_mtime = dir->i_ctime = fs_time_now();
    dir->i_flags &= ~EXT2_INDEX_FL;
    return ext2_iput(fs, dir_ino, dir);
}

static void fill_entry(struct ext2_fs *fs, struct ext2_dir_entry *de, const char *name, uint32_t len,
                       uint32_t ino, uint8_t ftype)
{
    de->inode = ino;
    de->name_len = (uint8_t)len;
    de->file_type = (fs->sb->s_feature_incompat & EXT2_FEATURE_INCOMPAT_FILETYPE) ? ftype : 0;
    memcpy(de->name, name, len);
}

/* A new directory block holding one entry (ext2_bmap_alloc_fill's fill). */
struct new_entry {
    struct ext2_fs *fs;
    const char *name;
    uint32_t len, ino;
    uint8_t ftype;
};

static void fill_one_entry(void *arg, uint8_t *p)
{
    struct new_entry *e = arg;
    struct ext2_dir_entry *de = entry_at(p, 0);
    de->rec_len = (uint16_t)e->fs->block_size;
    fill_entry(e->fs, de, e->name, e->len, e->ino, e->ftype);
}

int ext2_dir_add(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir, const char *name,
                 uint32_t len, uint32_t ino, uint8_t ftype)
{
    uint32_t need = EXT2_DIR_REC_LEN(len);
    struct ext2_blk b;
    int r = check_dir(fs, dir);
    if (r)
        return r;
    if (len == 0 || len > EXT2_NAME_MAX)
        return len ? -FS_ENAMETOOLONG : -FS_EINVAL;

    uint32_t n = dir_nblocks(fs, dir);
    for (uint32_t lblk = 0; lblk < n; lblk++) {
        r = dir_block(fs, dir, lblk, &b);
        if (r)
            return r;
        for (uint32_t o = 0; o < fs->block_size;) {
            struct ext2_dir_entry *de = entry_at(b.p, o);
            uint32_t used = de->inode ? EXT2_DIR_REC_LEN(de->name_len) : 0;
            uint32_t rl = de->rec_len;
            if (rl - used >= need) {
                struct ext2_dir_entry *ne = de;
                if (used) {
                    de->rec_len = (uint16_t)used;
                    ne = entry_at(b.p, o + used);
                    ne->rec_len = (uint16_t)(rl - used);
                }
                fill_entry(fs, ne, name, len, ino, ftype);
                ext2_bdirty(&b);
                ext2_order_note_blk(fs, &b);
                ext2_brelse(&b);
                return dir_touch(fs, dir_ino, dir);
            }
            o += rl;
        }
        ext2_brelse(&b);
    }

    /* no room: append a block, holding the entry before the directory points at it
     * (order: ext2_order.c rule 1) */
    uint32_t pblk;
    if ((uint64_t)dir->i_size + fs->block_size > 0xFFFFFFFFu)
        return -FS_EFBIG;
    struct new_entry ne = { fs, name, len, ino, ftype };
    r = ext2_bmap_alloc_fill(fs, dir_ino, dir, n, fill_one_entry, &ne, &pblk);
    if (r) {
        ext2_iput(fs, dir_ino, dir);    /* keep i_blocks right if anything was allocated */
        return r;
    }
    ext2_order_note(fs, pblk);
    dir->i_size += fs->block_size;
    return dir_touch(fs, dir_ino, dir);
}

int ext2_dir_remove(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir, const char *name, uint32_t len)
{
    struct ext2_blk b;
    uint32_t off, prev;
    int r = find_entry(fs, dir, name, len, &b, &off, &prev);
    if (r)
        return r;
    struct ext2_dir_entry *de = entry_at(b.p, off);
    if (prev != UINT32_MAX)
        entry_at(b.p, prev)->rec_len += de->rec_len;
    else
        de->inode = 0;
    ext2_bdirty(&b);
    ext2_order_note_blk(fs, &b);
    ext2_brelse(&b);
    return dir_touch(fs, dir_ino, dir);
}

/* Points the existing entry `name` at another inode (rename over a file,
 * or ".." of a moved directory). */
int ext2_dir_retarget(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir, const char *name,
                      uint32_t len, uint32_t ino, uint8_t ftype)
{
    struct ext2_blk b;
    uint32_t off, prev;
    int r = find_entry(fs, dir, name, len, &b, &off, &prev);
    if (r)
        return r;
    fill_entry(fs, entry_at(b.p, off), name, len, ino, ftype);
    ext2_bdirty(&b);
    ext2_order_note_blk(fs, &b);
    ext2_brelse(&b);
    return dir_touch(fs, dir_ino, dir);
}

/* 1 if dir holds nothing but "." and "..", 0 if it holds more. */
int ext2_dir_is_empty(struct ext2_fs *fs, const struct ext2_inode *dir)
{
    struct ext2_blk b;
    int r = check_dir(fs, dir);
    if (r)
        return r;
    for (uint32_t lblk = 0; lblk < dir_nblocks(fs, dir); lblk++) {
        r = dir_block(fs, dir, lblk, &b);
        if (r)
            return r;
        for (uint32_t o = 0; o < fs->block_size; o += entry_at(b.p, o)->rec_len) {
            struct ext2_dir_entry *de = entry_at(b.p, o);
            if (de->inode && !name_is(de, ".", 1) && !name_is(de, "..", 2)) {
                ext2_brelse(&b);
                return 0;
            }
        }
        ext2_brelse(&b);
    }
    return 1;
}

int ext2_first_block(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in,
                     void (*fill)(void *arg, uint8_t *p), void *arg)
{
    uint32_t pblk;
    return ext2_bmap_alloc_fill(fs, ino, in, 0, fill, arg, &pblk);
}

struct dots {
    struct ext2_fs *fs;
    uint32_t ino, parent;
};

static void fill_dots(void *arg, uint8_t *p)
{
    struct dots *d = arg;
    struct ext2_dir_entry *dot = entry_at(p, 0);
    dot->rec_len = 12;
    fill_entry(d->fs, dot, ".", 1, d->ino, EXT2_FT_DIR);
    struct ext2_dir_entry *dotdot = entry_at(p, 12);
    dotdot->rec_len = (uint16_t)(d->fs->block_size - 12);
    fill_entry(d->fs, dotdot, "..", 2, d->parent, EXT2_FT_DIR);
}

/* Gives the new directory ino its first block with "." and ".." (durable before the
 * inode points at it). */
int ext2_dir_init(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint32_t parent)
{
    struct dots d = { fs, ino, parent };
    int r = ext2_first_block(fs, ino, in, fill_dots, &d);
    if (r)
        return r;
    in->i_size = fs->block_size;
    return 0;
}

/* The cookie is the byte offset of the next entry to consider.  Entries
 * never move inside a block (removal merges into the previous entry,
 * insertion splits), so an old cookie stays meaningful. */
int ext2_dir_next(struct ext2_fs *fs, const struct ext2_inode *dir, uint64_t *cookie, struct ext2_dirent *out)
{
    struct ext2_blk b;
    int r = check_dir(fs, dir);
    if (r)
        return r;
    uint32_t n = dir_nblocks(fs, dir);
    for (uint64_t lblk = *cookie / fs->block_size; lblk < n; lblk++) {
        uint32_t start = lblk == *cookie / fs->block_size ? (uint32_t)(*cookie % fs->block_size) : 0;
        r = dir_block(fs, dir, (uint32_t)lblk, &b);
        if (r)
            return r;
        for (uint32_t o = 0; o < fs->block_size; o += entry_at(b.p, o)->rec_len) {
            struct ext2_dir_entry *de = entry_at(b.p, o);
            if (o < start || !de->inode)
                continue;
            out->ino = de->inode;
            out->type = de->file_type;
            out->name_len = de->name_len;
            memcpy(out->name, de->name, de->name_len);
            out->name[de->name_len] = 0;
            *cookie = lblk * fs->block_size + o + de->rec_len;
            ext2_brelse(&b);
            return 1;
        }
        ext2_brelse(&b);
    }
    *cookie = (uint64_t)n * fs->block_size;
    return 0;
}
