/* ncp_vfs_ext2.c - struct ncp_vfs_ops on top of fs/ext2.h.
 * The vfs context pointer is the struct ext2_fs itself. */
#include "server/ncp_vfs_ext2.h"
#include "fs/ext2.h"

static uint8_t type_of_mode(uint16_t mode)
{
    switch (mode & EXT2_S_IFMT) {
    case EXT2_S_IFREG: return NCP_FT_FILE;
    case EXT2_S_IFDIR: return NCP_FT_DIR;
    case EXT2_S_IFLNK: return NCP_FT_SYMLINK;
    default:           return NCP_FT_OTHER;
    }
}

static uint8_t type_of_ft(uint8_t ft)
{
    switch (ft) {
    case EXT2_FT_REG_FILE: return NCP_FT_FILE;
    case EXT2_FT_DIR:      return NCP_FT_DIR;
    case EXT2_FT_SYMLINK:  return NCP_FT_SYMLINK;
    case EXT2_FT_UNKNOWN:  return NCP_FT_UNKNOWN;
    default:               return NCP_FT_OTHER;
    }
}

static int e_lookup(void *fs, const char *path, uint32_t *ino)
{
    return ext2_lookup(fs, path, ino);
}

static int e_lookup_at(void *fs, uint32_t dir, const char *name, uint32_t len, uint32_t *ino)
{
    return ext2_lookup_at(fs, dir, name, len, ino);
}

static int e_stat(void *fs, uint32_t ino, struct ncp_stat *st)
{
    struct ext2_stat es;
    int e = ext2_stat(fs, ino, &es);
    if (e)
        return e;
    st->ino = es.ino;
    st->type = type_of_mode(es.mode);
    st->mode = es.mode & 07777;
    st->nlink = es.nlink;
    st->uid = es.uid;
    st->gid = es.gid;
    st->size = es.size;
    st->atime = es.atime;
    st->mtime = es.mtime;
    st->ctime = es.ctime;
    return 0;
}

static int e_readdir(void *fs, uint32_t dir, uint64_t *cookie, struct ncp_vfs_dirent *out)
{
    struct ext2_dirent d;
    int r = ext2_readdir(fs, dir, cookie, &d);
    if (r <= 0)
        return r;
    out->ino = d.ino;
    out->type = type_of_ft(d.type);
    out->name_len = d.name_len;
    memcpy(out->name, d.name, d.name_len);
    out->name[d.name_len] = '\0';
    return 1;
}

static int64_t e_read(void *fs, uint32_t ino, uint64_t off, void *buf, uint32_t len)
{
    return ext2_read(fs, ino, off, buf, len);
}

static int64_t e_read_nonblock(void *fs, uint32_t ino, uint64_t off, void *buf, uint32_t len)
{
    return ext2_read_nonblock(fs, ino, off, buf, len);
}

/* ext2's references, in the engine's shape. */
static int64_t e_read_ref_nonblock(void *fs, uint32_t ino, uint64_t off, uint32_t len,
                                   struct ncp_vfs_ref *refs, unsigned max, unsigned *n)
{
    struct ext2_ref er[NCP_VFS_REFS_MAX];
    if (max > NCP_VFS_REFS_MAX)
        max = NCP_VFS_REFS_MAX;
    int64_t got = ext2_read_nonblock_ref(fs, ino, off, len, er, max, n);
    for (unsigned i = 0; got >= 0 && i < *n; i++)
        refs[i] = (struct ncp_vfs_ref){ er[i].data, er[i].len, er[i].buf };
    return got;
}

static void e_ref_release(void *fs, struct ncp_vfs_ref *refs, unsigned n)
{
    (void)fs;
    for (unsigned i = 0; i < n; i++) {
        struct ext2_ref r = { refs[i].token, refs[i].data, refs[i].len };   /* NULL buf: a hole */
        ext2_refs_release(&r, 1);
    }
}

static int64_t e_write(void *fs, uint32_t ino, uint64_t off, const void *buf, uint32_t len)
{
    _Static_assert(NCP_VFS_APPEND == EXT2_WRITE_APPEND, "one append offset");
    return ext2_write(fs, ino, off, buf, len);
}

static int e_truncate(void *fs, uint32_t ino, uint64_t size) { return ext2_truncate(fs, ino, size); }
static int e_create(void *fs, const char *p, uint16_t mode, uint32_t uid, uint32_t gid, uint32_t *ino)
{
    return ext2_create_as(fs, p, mode, uid, gid, ino);
}

static int e_mkdir(void *fs, const char *p, uint16_t mode, uint32_t uid, uint32_t gid)
{
    return ext2_mkdir_as(fs, p, mode, uid, gid);
}

static int e_setattr(void *fs, uint32_t ino, const struct ncp_vfs_attr *a)
{
    struct ext2_setattr ea = { 0, a->mode, a->uid, a->gid, a->atime, a->mtime };
    if (a->mask & NCP_SA_MODE)
        ea.mask |= EXT2_SA_MODE;
    if (a->mask & NCP_SA_UID)
        ea.mask |= EXT2_SA_UID;
    if (a->mask & NCP_SA_GID)
        ea.mask |= EXT2_SA_GID;
    if (a->mask & NCP_SA_ATIME)
        ea.mask |= EXT2_SA_ATIME;
    if (a->mask & NCP_SA_MTIME)
        ea.mask |= EXT2_SA_MTIME;
    return ext2_setattr(fs, ino, &ea);
}
static int e_unlink(void *fs, const char *p) { return ext2_unlink(fs, p); }
static int e_rmdir(void *fs, const char *p) { return ext2_rmdir(fs, p); }
static int e_rename(void *fs, const char *a, const char *b) { return ext2_rename(fs, a, b); }
static int e_sync(void *fs) { return ext2_sync(fs); }
static int e_fsync(void *fs, uint32_t ino) { return ext2_fsync(fs, ino); }

static uint32_t e_ref_span(void *fs) { return ext2_block_size(fs); }
static int e_open(void *fs, uint32_t ino) { return ext2_open_ino(fs, ino); }
static void e_release(void *fs, uint32_t ino) { (void)ext2_close_ino(fs, ino); }

static int e_statfs(void *fs, struct ncp_statfs *st)
{
    struct ext2_statfs es;
    int e = ext2_statfs(fs, &es);
    if (e)
        return e;
    st->block_size = es.block_size;
    st->blocks = es.blocks;
    st->blocks_free = es.avail_blocks;
    st->files = es.inodes;
    st->files_free = es.free_inodes;
    st->name_max = es.name_max;
    st->flags = es.read_only ? NCP_FS_READONLY : 0;
    return 0;
}

static int e_symlink(void *fs, const char *p, const char *target, uint32_t len, uint32_t uid, uint32_t gid,
                     uint32_t *ino)
{
    return ext2_symlink_as(fs, p, target, len, uid, gid, ino);
}

static int64_t e_readlink(void *fs, uint32_t ino, char *buf, uint32_t cap) { return ext2_readlink(fs, ino, buf, cap); }
static int e_link(void *fs, const char *existing, const char *newpath) { return ext2_link(fs, existing, newpath); }

const struct ncp_vfs_ops ncp_vfs_ext2_ops = {
    .lookup = e_lookup, .lookup_at = e_lookup_at, .setattr = e_setattr, .stat = e_stat, .readdir = e_readdir, .read = e_read,
    .read_nonblock = e_read_nonblock, .read_ref_nonblock = e_read_ref_nonblock,
    .ref_release = e_ref_release, .write = e_write, .truncate = e_truncate,
    .ref_span = e_ref_span,
    .create = e_create, .mkdir = e_mkdir, .unlink = e_unlink, .rmdir = e_rmdir,
    .rename = e_rename, .sync = e_sync, .fsync = e_fsync, .statfs = e_statfs,
    .symlink = e_symlink, .readlink = e_readlink, .link = e_link,
    .open = e_open, .release = e_release,
};
