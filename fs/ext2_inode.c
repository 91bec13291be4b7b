/* ext2_inode.c - reading and writing inodes in the inode tables, creating
 * and releasing them, sizes and types. */
#include "ext2_internal.h"

static int inode_loc(struct ext2_fs *fs, uint32_t ino, uint32_t *blk, uint32_t *off)
{
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_EUCLEAN;
    uint32_t g = (ino - 1) / fs->inodes_per_group;
    uint64_t byte = (uint64_t)((ino - 1) % fs->inodes_per_group) * fs->inode_size;
    *blk = ext2_gd(fs, g)->bg_inode_table + (uint32_t)(byte / fs->block_size);
    *off = (uint32_t)(byte % fs->block_size);
    return 0;
}

/* The fs block holding inode ino (for fsync). */
int ext2_inode_block(struct ext2_fs *fs, uint32_t ino, uint32_t *blk)
{
    uint32_t off;
    return inode_loc(fs, ino, blk, &off);
}

static int iget(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, bool nonblock)
{
    uint32_t blk, off;
    struct ext2_blk b;
    int r = inode_loc(fs, ino, &blk, &off);
    if (r)
        return r;
    r = nonblock ? ext2_bread_nb(fs, blk, &b) : ext2_bread(fs, blk, &b);
    if (r)
        return r;
    memcpy(in, b.p + off, sizeof *in);
    ext2_brelse(&b);
    return 0;
}

int ext2_iget(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    return iget(fs, ino, in, false);
}

int ext2_iget_nb(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    return iget(fs, ino, in, true);
}

int ext2_iput(struct ext2_fs *fs, uint32_t ino, const struct ext2_inode *in)
{
    uint32_t blk, off;
    struct ext2_blk b;
    int r = inode_loc(fs, ino, &blk, &off);
    if (r == 0)
        r = ext2_bread(fs, blk, &b);
    if (r)
        return r;
    memcpy(b.p + off, in, sizeof *in);
    ext2_bdirty(&b);
    ext2_order_note_blk(fs, &b);    /* durable before what this change frees (ext2_order.c) */
    ext2_brelse(&b);
    return 0;
}

/* Fills a new in-core inode and clears the whole on-disk slot (including
 * the extra space of large inodes, whose i_extra_isize is set as mke2fs
 * does). */
int ext2_inode_init(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint16_t mode)
{
    uint32_t blk, off, now = fs_time_now();
    struct ext2_blk b;
    int r = inode_loc(fs, ino, &blk, &off);
    if (r == 0)
        r = ext2_bread(fs, blk, &b);
    if (r)
        return r;
    memset(in, 0, sizeof *in);
    in->i_mode = mode;
    in->i_atime = in->i_ctime = in->i_mtime = now;
    in->i_generation = now ^ (ino * 2654435761u);
    memset(b.p + off, 0, fs->inode_size);
    if (fs->inode_size >= EXT2_GOOD_OLD_INODE_SIZE + EXT2_EXTRA_ISIZE_DEFAULT) {
        uint16_t extra = EXT2_EXTRA_ISIZE_DEFAULT;
        memcpy(b.p + off + EXT2_EXTRA_ISIZE_OFFSET, &extra, sizeof extra);
    }
    memcpy(b.p + off, in, sizeof *in);
    ext2_bdirty(&b);
    ext2_brelse(&b);
    return 0;
}

uint64_t ext2_isize(const struct ext2_inode *in)
{
    uint64_t size = in->i_size;
    if ((in->i_mode & EXT2_S_IFMT) == EXT2_S_IFREG)
        size |= (uint64_t)in->i_size_high << 32;
    return size;
}

int ext2_set_isize(struct ext2_fs *fs, struct ext2_inode *in, uint64_t size)
{
    bool reg = (in->i_mode & EXT2_S_IFMT) == EXT2_S_IFREG;
    if (size > fs->max_file_size || (!reg && size > 0xFFFFFFFFu))
        return -FS_EFBIG;
    if (size > 0x7FFFFFFF && !(fs->sb->s_feature_ro_compat & EXT2_FEATURE_RO_COMPAT_LARGE_FILE)) {
        fs->sb->s_feature_ro_compat |= EXT2_FEATURE_RO_COMPAT_LARGE_FILE;
        ext2_sb_dirty(fs);
    }
    in->i_size = (uint32_t)size;
    if (reg)
        in->i_size_high = (uint32_t)(size >> 32);
    return 0;
}

uint8_t ext2_mode_to_ftype(uint16_t mode)
{
    switch (mode & EXT2_S_IFMT) {
    case EXT2_S_IFREG: return EXT2_FT_REG_FILE;
    case EXT2_S_IFDIR: return EXT2_FT_DIR;
    case EXT2_S_IFCHR: return EXT2_FT_CHRDEV;
    case EXT2_S_IFBLK: return EXT2_FT_BLKDEV;
    case EXT2_S_IFIFO: return EXT2_FT_FIFO;
    case EXT2_S_IFSOCK: return EXT2_FT_SOCK;
    case EXT2_S_IFLNK: return EXT2_FT_SYMLINK;
    default: return EXT2_FT_UNKNOWN;
    }
}

/* Does i_block hold block pointers?  Not for devices, fifos, sockets and
 * fast symlinks (whose target is stored in i_block itself). */
bool ext2_inode_has_blocks(struct ext2_fs *fs, const struct ext2_inode *in)
{
    switch (in->i_mode & EXT2_S_IFMT) {
    case EXT2_S_IFREG:
    case EXT2_S_IFDIR:
        return true;
    case EXT2_S_IFLNK: {
        uint32_t ea = in->i_file_acl ? fs->block_size / 512 : 0;
        return in->i_blocks > ea;
    }
    default:
        return false;
    }
}

/* Drops one reference to the extended attribute block (shared blocks
 * carry a reference count). */
static int release_xattr_block(struct ext2_fs *fs, struct ext2_inode *in)
{
    uint32_t blk = in->i_file_acl;
    struct ext2_blk b;
    if (!blk)
        return 0;
    in->i_file_acl = 0;
    int r = ext2_bread(fs, blk, &b);
    if (r)
        return r;
    uint32_t magic, refs;
    memcpy(&magic, b.p, 4);
    memcpy(&refs, b.p + 4, 4);
    if (magic != EXT2_XATTR_MAGIC) {
        ext2_brelse(&b);
        return -FS_EUCLEAN;
    }
    uint32_t sectors = fs->block_size / 512;
    in->i_blocks = in->i_blocks >= sectors ? in->i_blocks - sectors : 0;
    if (refs > 1) {
        refs--;
        memcpy(b.p + 4, &refs, 4);
        ext2_bdirty(&b);
        ext2_brelse(&b);
        return 0;
    }
    ext2_brelse(&b);
    return ext2_free_block_later(fs, blk);  /* order: after the inode dropped it (rule 4) */
}

/* The last link is gone: free the data, the attribute block and the inode.  The inode
 * is written released (links 0, dtime) now; its blocks and its number become free at the
 * end of the change, after that write is durable (ext2_order.c rule 4). */
int ext2_inode_release(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    bool is_dir = (in->i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR;
    int r = 0;
    if (ext2_inode_has_blocks(fs, in))
        r = ext2_free_blocks_from(fs, in, 0);
    if (r == 0)
        r = release_xattr_block(fs, in);
    in->i_links_count = 0;
    in->i_dtime = fs_time_now();
    if ((in->i_mode & EXT2_S_IFMT) == EXT2_S_IFREG || is_dir)
        in->i_size = in->i_size_high = 0;
    int w = ext2_iput(fs, ino, in);
    if (r == 0)
        r = w;
    if (r == 0)
        r = ext2_free_inode_later(fs, ino, is_dir);
    return r;
}
