/* ext2_namei.c - namespace changes: create, mkdir, unlink, rmdir, rename.
 * Each runs under fs->lock.  Steps are ordered so that a failure (e.g. a
 * full disk) leaves a consistent file system with nothing leaked. */
#include "ext2_internal.h"

#define ANCESTOR_WALK_MAX 65536

/* Parses path and finds its parent directory; the caller frees p (ext2_internal.h). */
int ext2_parent_of(struct ext2_fs *fs, const char *path, struct ext2_path *p, uint32_t *parent,
                     struct ext2_inode *pin, const char **name, uint32_t *len)
{
    int r = ext2_path_parse(path, p);
    if (r)
        return r;
    r = ext2_walk_parent(fs, p, parent, name, len);
    if (r == 0)
        r = ext2_iget(fs, *parent, pin);
    return r;
}

/* Frees a just-allocated inode whose creation failed half way. */
static void undo_new_inode(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    ext2_inode_release(fs, ino, in);
}

void ext2_set_owner(struct ext2_inode *in, uint32_t uid, uint32_t gid)
{
    in->i_uid = (uint16_t)uid;
    in->i_uid_high = (uint16_t)(uid >> 16);
    in->i_gid = (uint16_t)gid;
    in->i_gid_high = (uint16_t)(gid >> 16);
}

int ext2_create_locked(struct ext2_fs *fs, const char *path, uint16_t type, uint16_t mode, uint32_t uid,
                       uint32_t gid, const char *target, uint32_t tlen, uint32_t *out)
{
    bool dir = type == EXT2_S_IFDIR;
    struct ext2_path p;
    struct ext2_inode pin, in;
    const char *name;
    uint32_t len, parent, ino;
    int r = ext2_parent_of(fs, path, &p, &parent, &pin, &name, &len);
    if (r)
        goto out;
    r = ext2_dir_lookup(fs, &pin, name, len, &ino);
    if (r == 0)
        r = -FS_EEXIST;
    if (r != -FS_ENOENT)
        goto out;
    if (dir && pin.i_links_count >= EXT2_LINK_MAX) {
        r = -FS_EMLINK;
        goto out;
    }
    r = ext2_alloc_inode(fs, parent, dir, &ino);
    if (r)
        goto out;
    r = ext2_inode_init(fs, ino, &in, (uint16_t)(type | (mode & 07777)));
    if (r) {
        ext2_free_inode(fs, ino, dir);
        goto out;
    }
    in.i_links_count = dir ? 2 : 1;
    ext2_set_owner(&in, uid, gid);
    if (dir)
        r = ext2_dir_init(fs, ino, &in, parent);        /* its block durable: rule 1 */
    else if (type == EXT2_S_IFLNK)
        r = ext2_symlink_store(fs, ino, &in, target, tlen);
    uint8_t ft = dir ? EXT2_FT_DIR : type == EXT2_S_IFLNK ? EXT2_FT_SYMLINK : EXT2_FT_REG_FILE;
    /* order: the name first, durable with its directory's inode, and only then the inode
     * with its links and blocks (ext2_order.c rule 2): a crash between leaves a name of
     * an unused inode, which e2fsck -p clears, never an inode with blocks and no name (or
     * a directory nobody can reach) */
    if (r == 0)
        r = ext2_dir_add(fs, parent, &pin, name, len, ino, ft);
    if (r) {
        undo_new_inode(fs, ino, &in);           /* frees what ext2_dir_init or the store took */
        goto out;
    }
    if (dir) {
        pin.i_links_count++;            /* the new ".." */
        r = ext2_iput(fs, parent, &pin);
    }
    if (r == 0) {
        /* the entry's block and the parent's inode; a failed barrier (a failing disk)
         * still leaves the inode written in memory, so the cache stays consistent */
        int b = ext2_order_barrier_notes(fs);
        r = ext2_iput(fs, ino, &in);
        if (r == 0)
            r = b;
    }
    if (r == 0 && !dir)
        ext2_fsync_note_new(fs, ino, parent);   /* its FSYNC writes the entry too */
    if (r == 0 && out)
        *out = ino;
out:
    ext2_path_free(&p);
    return r;
}

int ext2_create_as(struct ext2_fs *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid,
                   uint32_t *ino)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = ext2_create_locked(fs, path, EXT2_S_IFREG, mode, uid, gid, NULL, 0, ino);
    ext2_change_end(fs);
    return r;
}

int ext2_mkdir_as(struct ext2_fs *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = ext2_create_locked(fs, path, EXT2_S_IFDIR, mode, uid, gid, NULL, 0, NULL);
    ext2_change_end(fs);
    return r;
}

int ext2_create(struct ext2_fs *fs, const char *path, uint16_t mode, uint32_t *ino)
{
    return ext2_create_as(fs, path, mode, 0, 0, ino);
}

int ext2_mkdir(struct ext2_fs *fs, const char *path, uint16_t mode)
{
    return ext2_mkdir_as(fs, path, mode, 0, 0);
}

/* Drops one link of ino (not a directory); frees it at zero, unless it is open: then it
 * waits on the orphan list for its last close (ext2_orphan.c). */
static int drop_link(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    if (in->i_links_count > 0)
        in->i_links_count--;
    in->i_ctime = fs_time_now();
    if (in->i_links_count == 0 && ext2_ino_is_open(fs, ino))
        return ext2_orphan_keep(fs, ino, in);
    if (in->i_links_count == 0)
        return ext2_inode_release(fs, ino, in);
    return ext2_iput(fs, ino, in);
}

static int remove_locked(struct ext2_fs *fs, const char *path, bool dir)
{
    struct ext2_path p;
    struct ext2_inode pin, in;
    const char *name;
    uint32_t len, parent, ino;
    int r = ext2_parent_of(fs, path, &p, &parent, &pin, &name, &len);
    if (r == 0)
        r = ext2_dir_lookup(fs, &pin, name, len, &ino);
    if (r == 0)
        r = ext2_iget(fs, ino, &in);
    if (r)
        goto out;
    bool is_dir = (in.i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR;
    if (in.i_links_count == 0 || in.i_mode == 0) {
        r = -FS_EUCLEAN;
        goto out;
    }
    if (dir && !is_dir) {
        r = -FS_ENOTDIR;
        goto out;
    }
    if (!dir && is_dir) {
        r = -FS_EISDIR;
        goto out;
    }
    if (dir) {
        r = ext2_dir_is_empty(fs, &in);
        if (r == 0)
            r = -FS_ENOTEMPTY;
        if (r < 0)
            goto out;
    }
    if (!dir && in.i_links_count > 1) {
        /* other names stay: either order leaves a link count e2fsck fixes */
        r = ext2_dir_remove(fs, parent, &pin, name, len);
        if (r == 0)
            r = drop_link(fs, ino, &in);
        goto out;
    }
    /* order: the last name goes after the inode is durably released or on the orphan
     * list (ext2_order.c rule 3): a crash between leaves a name of a deleted inode, which
     * e2fsck -p clears, never an inode with data and no name */
    if (dir) {
        in.i_links_count = 0;
        in.i_ctime = fs_time_now();
        r = ext2_inode_release(fs, ino, &in);
    } else {
        r = drop_link(fs, ino, &in);
    }
    if (r == 0)
        r = ext2_order_barrier_inode(fs, ino);
    if (r == 0)
        r = ext2_dir_remove(fs, parent, &pin, name, len);
    if (r == 0 && dir) {
        if (pin.i_links_count > 2)
            pin.i_links_count--;    /* its ".." is gone */
        r = ext2_iput(fs, parent, &pin);
    }
out:
    ext2_path_free(&p);
    return r;
}

int ext2_unlink(struct ext2_fs *fs, const char *path)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = remove_locked(fs, path, false);
    ext2_change_end(fs);
    return r;
}

int ext2_rmdir(struct ext2_fs *fs, const char *path)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = remove_locked(fs, path, true);
    ext2_change_end(fs);
    return r;
}

/* Is dir equal to or below ancestor?  Follows ".." up to the root. */
static int is_within(struct ext2_fs *fs, uint32_t dir, uint32_t ancestor)
{
    for (int steps = 0; steps < ANCESTOR_WALK_MAX; steps++) {
        struct ext2_inode in;
        if (dir == ancestor)
            return 1;
        if (dir == EXT2_ROOT_INO)
            return 0;
        int r = ext2_iget(fs, dir, &in);
        if (r == 0)
            r = ext2_dir_lookup(fs, &in, "..", 2, &dir);
        if (r)
            return r;
    }
    return -FS_EUCLEAN;     /* ".." chain loops */
}

static int rename_locked(struct ext2_fs *fs, const char *from, const char *to)
{
    struct ext2_path pf = { 0 }, pt = { 0 };
    struct ext2_inode spi, dpi, si, di;
    const char *sname, *dname;
    uint32_t slen, dlen, sp, dp, src, dst = 0;
    bool have_dst = false;
    int r = ext2_parent_of(fs, from, &pf, &sp, &spi, &sname, &slen);
    if (r == 0)
        r = ext2_parent_of(fs, to, &pt, &dp, &dpi, &dname, &dlen);
    if (r == 0)
        r = ext2_dir_lookup(fs, &spi, sname, slen, &src);
    if (r == 0)
        r = ext2_iget(fs, src, &si);
    if (r)
        goto out;
    bool src_dir = (si.i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR;
    uint8_t ftype = ext2_mode_to_ftype(si.i_mode);

    r = ext2_dir_lookup(fs, &dpi, dname, dlen, &dst);
    if (r == 0)
        have_dst = true;
    else if (r != -FS_ENOENT)
        goto out;
    r = 0;
    if (have_dst && dst == src)
        goto out;                       /* same file: nothing to do */
    if (src_dir) {
        int in = is_within(fs, dp, src);
        if (in) {
            r = in < 0 ? in : -FS_EINVAL;   /* into itself */
            goto out;
        }
    }
    bool dst_dir = false;
    if (have_dst) {
        r = ext2_iget(fs, dst, &di);
        if (r)
            goto out;
        dst_dir = (di.i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR;
        if (src_dir && !dst_dir)
            r = -FS_ENOTDIR;
        else if (!src_dir && dst_dir)
            r = -FS_EISDIR;
        else if (dst_dir) {
            r = ext2_dir_is_empty(fs, &di);
            r = r == 1 ? 0 : (r == 0 ? -FS_ENOTEMPTY : r);
        }
        if (r)
            goto out;
    } else if (src_dir && sp != dp && dpi.i_links_count >= EXT2_LINK_MAX) {
        r = -FS_EMLINK;
        goto out;
    }

    /* 0. a replaced target losing its last name dies first, durably (order: ext2_order.c
     * rule 3; a crash between leaves the target's name naming a deleted inode, cleared by
     * e2fsck -p, and the source under its old name) */
    bool dst_last = have_dst && (dst_dir || di.i_links_count <= 1);
    if (dst_last) {
        if (dst_dir) {
            if (dpi.i_links_count > 2)
                dpi.i_links_count--;    /* its ".." goes with it */
            r = ext2_iput(fs, dp, &dpi);
            di.i_links_count = 0;
            if (r == 0)
                r = ext2_inode_release(fs, dst, &di);
        } else {
            r = drop_link(fs, dst, &di);
        }
        if (r == 0)
            r = ext2_order_barrier_inode(fs, dst);
        if (r)
            goto out;
    }
    /* 1. the new name (the only step that may need a new block), durable before the old
     * name goes (order: ext2_order.c rule 5) */
    if (have_dst)
        r = ext2_dir_retarget(fs, dp, &dpi, dname, dlen, src, ftype);
    else
        r = ext2_dir_add(fs, dp, &dpi, dname, dlen, src, ftype);
    if (r == 0)
        r = ext2_order_barrier_notes(fs);
    if (r)
        goto out;
    /* 2. the old name */
    r = ext2_iget(fs, sp, &spi);
    if (r == 0)
        r = ext2_dir_remove(fs, sp, &spi, sname, slen);
    if (r)
        goto out;
    /* 3. a moved directory's ".." and the parents' link counts */
    if (src_dir && sp != dp) {
        r = ext2_iget(fs, src, &si);
        if (r == 0)
            r = ext2_dir_retarget(fs, src, &si, "..", 2, dp, EXT2_FT_DIR);
        if (r == 0)
            r = ext2_iget(fs, sp, &spi);
        if (r)
            goto out;
        if (spi.i_links_count > 2)
            spi.i_links_count--;
        r = ext2_iput(fs, sp, &spi);
        if (r == 0)
            r = ext2_iget(fs, dp, &dpi);
        if (r)
            goto out;
        dpi.i_links_count++;
        r = ext2_iput(fs, dp, &dpi);
        if (r)
            goto out;
    }
    /* 4. a replaced target that keeps other names */
    if (have_dst && !dst_last) {
        r = ext2_iget(fs, dst, &di);
        if (r == 0)
            r = drop_link(fs, dst, &di);
        if (r)
            goto out;
    }
    r = ext2_iget(fs, src, &si);
    if (r == 0) {
        si.i_ctime = fs_time_now();
        r = ext2_iput(fs, src, &si);
    }
out:
    ext2_path_free(&pf);
    ext2_path_free(&pt);
    return r;
}

int ext2_rename(struct ext2_fs *fs, const char *from, const char *to)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = rename_locked(fs, from, to);
    ext2_change_end(fs);
    return r;
}
