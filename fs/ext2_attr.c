/* ext2_attr.c - attribute changes: mode bits, owner, group, times.
 * One inode read, changed and written back through the cache under
 * fs->lock, like every other change, so e2fsck sees a consistent inode. */
#include "ext2_internal.h"

int ext2_setattr(struct ext2_fs *fs, uint32_t ino, const struct ext2_setattr *a)
{
    struct ext2_inode in;
    if (fs->read_only)
        return -FS_EROFS;
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    ext2_change_begin(fs);
    int r = ext2_iget(fs, ino, &in);
    if (r == 0)
        r = ext2_inode_usable(fs, ino, &in, true);
    if (r == 0) {
        if (a->mask & EXT2_SA_MODE)
            in.i_mode = (uint16_t)((in.i_mode & EXT2_S_IFMT) | (a->mode & 07777));
        if (a->mask & EXT2_SA_UID) {
            in.i_uid = (uint16_t)a->uid;
            in.i_uid_high = (uint16_t)(a->uid >> 16);
        }
        if (a->mask & EXT2_SA_GID) {
            in.i_gid = (uint16_t)a->gid;
            in.i_gid_high = (uint16_t)(a->gid >> 16);
        }
        if (a->mask & EXT2_SA_ATIME)
            in.i_atime = a->atime;
        if (a->mask & EXT2_SA_MTIME)
            in.i_mtime = a->mtime;
        in.i_ctime = fs_time_now();
        r = ext2_iput(fs, ino, &in);
    }
    ext2_change_end(fs);
    return r;
}
