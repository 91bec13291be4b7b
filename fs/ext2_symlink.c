/* ext2_symlink.c - symbolic links (made, read) and hard links.
 *
 * A target shorter than the 60 bytes of i_block is a fast symlink: the bytes live in i_block
 * itself, NUL padded, and the inode owns no block (i_blocks 0).  A longer one is a slow
 * symlink: one data block holding the target and a NUL, so a target is at most block_size - 1
 * bytes (what Linux allows).  Which kind an inode is follows from i_blocks, as in Linux and
 * e2fsck (ext2_inode_has_blocks), never from the size alone.  Releasing a fast symlink frees
 * no block (ext2_inode_release asks ext2_inode_has_blocks).
 *
 * A hard link is one more directory entry and one more i_links_count; directories are never
 * hard linked (-EPERM) and a file stops at EXT2_LINK_MAX (-EMLINK).  Both run under fs->lock. */
#include "ext2_internal.h"

#define FAST_SYMLINK_MAX (EXT2_N_BLOCKS * 4 - 1)       /* 59 bytes + the NUL */

struct slow_target {
    const char *target;
    uint32_t len;
};

static void fill_target(void *arg, uint8_t *p)
{
    struct slow_target *t = arg;
    memcpy(p, t->target, t->len);
}

/* Puts the target into the new inode: i_block, or a block of its own. */
int ext2_symlink_store(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, const char *target,
                       uint32_t len)
{
    in->i_size = len;
    if (len <= FAST_SYMLINK_MAX) {
        memset(in->i_block, 0, sizeof in->i_block);
        memcpy(in->i_block, target, len);
        return 0;
    }
    struct slow_target t = { target, len };
    return ext2_first_block(fs, ino, in, fill_target, &t);    /* durable before the inode */
}

int ext2_symlink_as(struct ext2_fs *fs, const char *path, const char *target, uint32_t len, uint32_t uid,
                    uint32_t gid, uint32_t *ino)
{
    if (fs->read_only)
        return -FS_EROFS;
    if (len == 0)
        return -FS_ENOENT;                      /* as Linux: an empty target names nothing */
    if (len >= fs->block_size)
        return -FS_ENAMETOOLONG;
    for (uint32_t i = 0; i < len; i++)
        if (target[i] == '\0')
            return -FS_EINVAL;
    ext2_change_begin(fs);
    int r = ext2_create_locked(fs, path, EXT2_S_IFLNK, 0777, uid, gid, target, len, ino);
    ext2_change_end(fs);
    return r;
}

/* Reads the target of symlink ino into buf (cap bytes): its length, or an error.  A symlink
 * whose size or blocks do not fit its kind is corruption (-EUCLEAN), never an overrun. */
static int64_t readlink_once(struct ext2_fs *fs, uint32_t ino, char *buf, uint32_t cap)
{
    struct ext2_inode in;
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    int r = ext2_iget(fs, ino, &in);
    if (r)
        return r;
    if (in.i_links_count == 0 || in.i_mode == 0)
        return -FS_ENOENT;
    if ((in.i_mode & EXT2_S_IFMT) != EXT2_S_IFLNK)
        return -FS_EINVAL;
    uint32_t len = in.i_size;
    if (len == 0 || len >= fs->block_size)
        return -FS_EUCLEAN;
    if (len > cap)
        return -FS_ENAMETOOLONG;
    if (!ext2_inode_has_blocks(fs, &in)) {
        if (len > FAST_SYMLINK_MAX)
            return -FS_EUCLEAN;
        memcpy(buf, in.i_block, len);
        return len;
    }
    uint32_t pblk;
    struct ext2_blk b;
    r = ext2_bmap(fs, &in, 0, &pblk, false);
    if (r)
        return r;
    if (!pblk)
        return -FS_EUCLEAN;
    r = ext2_bread(fs, pblk, &b);
    if (r)
        return r;
    memcpy(buf, b.p, len);
    ext2_brelse(&b);
    return len;
}

int64_t ext2_readlink(struct ext2_fs *fs, uint32_t ino, char *buf, uint32_t cap)
{
    uint32_t seq = ext2_seq_read(fs);
    int64_t r = readlink_once(fs, ino, buf, cap);
    if (r < 0 && ((seq & 1) || ext2_seq_read(fs) != seq)) {
        fs_mutex_lock(&fs->lock);               /* raced a change: once more, under the lock */
        r = readlink_once(fs, ino, buf, cap);
        fs_mutex_unlock(&fs->lock);
    }
    return r;
}

static int link_locked(struct ext2_fs *fs, const char *existing, const char *newpath)
{
    struct ext2_path ps = { 0 }, pd = { 0 };
    struct ext2_inode pin, in;
    const char *name;
    uint32_t len, parent, ino, other;
    int r = ext2_path_parse(existing, &ps);
    if (r == 0)
        r = ext2_walk(fs, ps.buf, ps.len, &ino);
    if (r == 0)
        r = ext2_iget(fs, ino, &in);
    if (r)
        goto out;
    if ((in.i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR) {
        r = -FS_EPERM;
        goto out;
    }
    if (in.i_links_count >= EXT2_LINK_MAX) {
        r = -FS_EMLINK;
        goto out;
    }
    r = ext2_parent_of(fs, newpath, &pd, &parent, &pin, &name, &len);
    if (r)
        goto out;
    r = ext2_dir_lookup(fs, &pin, name, len, &other);
    if (r == 0)
        r = -FS_EEXIST;
    if (r != -FS_ENOENT)
        goto out;
    /* The count first: a crash between the two steps leaves one link too many (e2fsck
     * fixes that quietly), never an entry the count does not know of. */
    in.i_links_count++;
    in.i_ctime = fs_time_now();
    r = ext2_iput(fs, ino, &in);
    if (r)
        goto out;
    r = ext2_dir_add(fs, parent, &pin, name, len, ino, ext2_mode_to_ftype(in.i_mode));
    if (r) {
        in.i_links_count--;
        ext2_iput(fs, ino, &in);
    }
out:
    ext2_path_free(&ps);
    ext2_path_free(&pd);
    return r;
}

int ext2_link(struct ext2_fs *fs, const char *existing, const char *newpath)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = link_locked(fs, existing, newpath);
    ext2_change_end(fs);
    return r;
}
