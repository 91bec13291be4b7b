/* ncpfs_ops.c - FUSE low-level operations onto NCP requests.
 *
 * Paths come from the inode table (ncpfs_nodes.c); the server checks every
 * permission itself for the user logged in (the kernel does not, unless the
 * mount has -o default_permissions).  Open files are server handles, each on
 * one connection of the pool: after a reconnect the handle is reopened by
 * path on first use (same access, no truncation), and if the path is gone or
 * now names another inode, that handle fails with EIO from then on.  Locks a
 * handle held do not survive a reconnect.
 *
 * Caching: entries and attributes for entry_timeout / attr_timeout seconds;
 * close-to-open: every open asks the server, and the page cache is kept only
 * if size, mtime and ctime are what the last open saw.  Writes go straight
 * to the server (no write-back cache unless -o writeback_cache).
 */
#include "client/ncpfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE  (1 << 1)
#endif

#define PATH_CAP (NCP_PATH_MAX + 1)

struct ncpfs g_fs;

int ncpfs_errno(int code)
{
    if (code < 0) return -code;
    switch (code) {
    case NCP_OK:             return 0;
    case NCP_E_NOENT:        return ENOENT;
    case NCP_E_EXIST:        return EEXIST;
    case NCP_E_NOTEMPTY:     return ENOTEMPTY;
    case NCP_E_NOTDIR:       return ENOTDIR;
    case NCP_E_ISDIR:        return EISDIR;
    case NCP_E_ACCES:        return EACCES;
    case NCP_E_INVAL:        return EINVAL;
    case NCP_E_NOSPC:        return ENOSPC;
    case NCP_E_ROFS:         return EROFS;
    case NCP_E_NAMETOOLONG:  return ENAMETOOLONG;
    case NCP_E_LOCKED:       return EAGAIN;
    case NCP_E_TOOMANYFILES: return EMFILE;
    case NCP_E_TOOMANYREQS:  return EAGAIN;
    case NCP_E_BADFUNC:      return ENOSYS;
    case NCP_E_FBIG:         return EFBIG;
    case NCP_E_DEADLK:       return EDEADLK;
    case NCP_E_BUSY:         return EBUSY;
    case NCP_E_NOMEM:        return ENOMEM;
    case NCP_E_LOOP:         return ELOOP;
    case NCP_E_MLINK:        return EMLINK;
    case NCP_E_PERM:         return EPERM;
    default:                 return EIO;    /* BADF (a lost handle), IO, SHUTDOWN, ... */
    }
}

static void to_stat(const struct ncp_stat *s, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = nodes_fuse_ino(&g_fs.nodes, s->ino);
    mode_t type = s->type == NCP_FT_DIR ? S_IFDIR : s->type == NCP_FT_SYMLINK ? S_IFLNK : S_IFREG;
    st->st_mode = type | (s->mode & 07777);
    st->st_nlink = s->nlink ? s->nlink : 1;
    st->st_uid = s->uid;
    st->st_gid = s->gid;
    st->st_size = (off_t)s->size;
    st->st_blocks = (blkcnt_t)((s->size + 511) / 512);
    st->st_blksize = (blksize_t)g_fs.io_max;    /* cp and friends use it as their buffer size */
    st->st_atim.tv_sec = s->atime;
    st->st_mtim.tv_sec = s->mtime;
    st->st_ctim.tv_sec = s->ctime;
}

/* LSTAT path into *st: completion code or -errno.  Never STAT: the kernel follows
 * symlinks itself (readlink), so a symlink's inode must look like one. */
static int stat_path(const char *path, struct ncp_stat *st)
{
    struct ncp_request rq = ncpc_req(NCP_FN_LSTAT);
    struct ncpc_reply r;
    struct ncpm_target t = { -1, 0 };
    rq.u.path.path = ncpc_str(path);
    int e = ncpm_call(&g_fs.m, &t, &rq, &r);
    if (e == 0) *st = r.rp.u.stat.st;
    ncpc_reply_free(&r);
    return e;
}

/* A request on one path with no reply payload. */
static int path_simple(uint8_t fn, const char *path)
{
    struct ncp_request rq = ncpc_req(fn);
    struct ncpm_target t = { -1, 0 };
    rq.u.path.path = ncpc_str(path);
    return ncpm_simple(&g_fs.m, &t, &rq);
}

static void reply_entry(fuse_req_t rq, uint64_t parent, const char *name, const struct ncp_stat *st)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = nodes_remember(&g_fs.nodes, parent, name, st->ino, st->type != NCP_FT_DIR && st->nlink > 1);
    if (!e.ino) {
        fuse_reply_err(rq, ENOMEM);
        return;
    }
    to_stat(st, &e.attr);
    e.attr_timeout = g_fs.o.attr_timeout;
    e.entry_timeout = g_fs.o.entry_timeout;
    if (fuse_reply_entry(rq, &e)) nodes_forget(&g_fs.nodes, e.ino, 1);   /* the kernel did not take it */
}

/* ---- open files ---- */

static int open_path(const char *path, uint32_t flags, uint16_t mode, bool create,
                     struct ncpm_target *t, uint32_t *handle, struct ncp_stat *st)
{
    struct ncp_request rq = ncpc_req(create ? NCP_FN_CREATE : NCP_FN_OPEN);
    struct ncpc_reply r;
    rq.u.open.flags = flags;
    rq.u.open.mode = mode;
    rq.u.open.path = ncpc_str(path);
    int e = ncpm_call(&g_fs.m, t, &rq, &r);
    if (e == 0) {
        *handle = r.rp.u.open.handle;
        *st = r.rp.u.open.st;
    }
    ncpc_reply_free(&r);
    return e;
}

static void close_handle(struct ncpm_target t, uint32_t handle)
{
    struct ncp_request rq = ncpc_req(NCP_FN_CLOSE);
    rq.u.handle.handle = handle;
    (void)ncpm_simple(&g_fs.m, &t, &rq);        /* a stale generation: the server closed it */
}

/* The handle's connection was lost: open the file again by path. */
int ncpfs_reopen(struct ofile *of, uint64_t stale_gen)
{
    pthread_mutex_lock(&of->lock);
    if (of->lost) {
        pthread_mutex_unlock(&of->lock);
        return -EIO;
    }
    if (of->t.gen != stale_gen) {               /* another thread reopened it */
        pthread_mutex_unlock(&of->lock);
        return 0;
    }
    char path[PATH_CAP];
    struct ncpm_target t = { -1, 0 };
    uint32_t h;
    struct ncp_stat st;
    int e = nodes_path(&g_fs.nodes, of->ino, path, sizeof path);
    if (e == 0) e = open_path(path, of->reopen_flags, 0, false, &t, &h, &st);
    if (e == 0 && st.ino != of->sino) {
        close_handle(t, h);
        e = -EIO;
    }
    if (e == 0) {
        of->t = t;
        of->handle = h;
    } else {
        of->lost = true;
        if (g_fs.o.verbose) fprintf(stderr, "ncpfs: inode %llu: cannot reopen after a reconnect: %s\n",
                                    (unsigned long long)of->ino, strerror(ncpfs_errno(e)));
    }
    pthread_mutex_unlock(&of->lock);
    return e ? -EIO : 0;
}

/* Every open file, so that a stat of a file whose name is gone (removed while open, here
 * or through another mount) can ask the server through one of its handles. */
static pthread_mutex_t open_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ofile *open_list;                 /* open_list_lock */

static void open_list_add(struct ofile *of)
{
    pthread_mutex_lock(&open_list_lock);
    of->open_prev = NULL;
    of->open_next = open_list;
    if (open_list) open_list->open_prev = of;
    open_list = of;
    pthread_mutex_unlock(&open_list_lock);
}

static void open_list_remove(struct ofile *of)
{
    pthread_mutex_lock(&open_list_lock);
    if (of->open_prev) of->open_prev->open_next = of->open_next;
    else open_list = of->open_next;
    if (of->open_next) of->open_next->open_prev = of->open_prev;
    of->open_prev = of->open_next = NULL;
    pthread_mutex_unlock(&open_list_lock);
}

/* FSTAT through any open handle of FUSE inode ino: 0, or an error (-ESTALE: none open). */
static int fstat_open_ino(uint64_t ino, struct ncp_stat *st)
{
    struct ofile *of;
    pthread_mutex_lock(&open_list_lock);
    for (of = open_list; of && of->ino != ino; of = of->open_next)
        ;
    if (of) __atomic_add_fetch(&of->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&open_list_lock);
    if (!of) return -ESTALE;
    struct ncp_request r = ncpc_req(NCP_FN_FSTAT);
    struct ncpc_reply rp;
    int e = ncpfs_handle_call(of, &r, ncpfs_set_handle_only, &rp);
    if (e == 0) *st = rp.rp.u.stat.st;
    ncpc_reply_free(&rp);
    ncpfs_ofile_put(of);
    return e;
}

void ncpfs_ofile_put(struct ofile *of)
{
    if (__atomic_sub_fetch(&of->refs, 1, __ATOMIC_ACQ_REL)) return;
    ncpfs_locks_free(of);
    pthread_mutex_destroy(&of->lock);
    free(of);
}

/* The handle and target to use now. */
int ncpfs_ofile_get(struct ofile *of, struct ncpm_target *t, uint32_t *handle)
{
    pthread_mutex_lock(&of->lock);
    bool lost = of->lost;
    *t = of->t;
    *handle = of->handle;
    pthread_mutex_unlock(&of->lock);
    return lost ? -EIO : 0;
}

/* One request on the file's handle (put there by set_handle), reopening once
 * if the connection was lost since. */
int ncpfs_handle_call(struct ofile *of, struct ncp_request *rq, void (*set_handle)(struct ncp_request *, uint32_t),
                      struct ncpc_reply *out)
{
    out->frame = NULL;
    for (int attempt = 0;; attempt++) {
        struct ncpm_target t;
        uint32_t h;
        int e = ncpfs_ofile_get(of, &t, &h);
        if (e) return e;
        set_handle(rq, h);
        e = ncpm_call(&g_fs.m, &t, rq, out);
        if (e != -ESTALE || attempt) return e == -ESTALE ? -EIO : e;
        if ((e = ncpfs_reopen(of, t.gen))) return e;
    }
}

void ncpfs_set_handle_only(struct ncp_request *rq, uint32_t h) { rq->u.handle.handle = h; }
static void set_setattr_handle(struct ncp_request *rq, uint32_t h) { rq->u.setattr.handle = h; }


static uint32_t ncp_flags(int flags)
{
    uint32_t f = 0;
    int acc = flags & O_ACCMODE;
    if (acc == O_RDONLY || acc == O_RDWR) f |= NCP_O_READ;
    if (acc == O_WRONLY || acc == O_RDWR) f |= NCP_O_WRITE;
    if (flags & O_APPEND) f |= NCP_O_APPEND;
    return f;
}

static void finish_open(fuse_req_t rq, uint64_t ino, struct fuse_file_info *fi, struct ncpm_target t,
                        uint32_t handle, uint32_t flags, const struct ncp_stat *st, const struct fuse_entry_param *entry)
{
    struct ofile *of = calloc(1, sizeof *of);
    if (!of) {
        close_handle(t, handle);
        fuse_reply_err(rq, ENOMEM);
        return;
    }
    pthread_mutex_init(&of->lock, NULL);
    of->refs = 1;
    of->t = t;
    of->handle = handle;
    of->reopen_flags = flags & (NCP_O_READ | NCP_O_WRITE | NCP_O_APPEND);
    of->ino = ino;
    of->sino = st->ino;
    fi->fh = (uintptr_t)of;
    /* O_APPEND: the server puts each write at the end (NCP_O_APPEND), wherever the
     * kernel thinks the end is, so such a handle bypasses the page cache (the kernel
     * would cache the bytes at its own guess of the offset). */
    fi->direct_io = g_fs.o.direct_io || (flags & NCP_O_APPEND) ? 1 : 0;
    fi->keep_cache = nodes_keep_cache(&g_fs.nodes, ino, st->size, st->mtime, st->ctime) ? 1 : 0;
    /* Close-to-open for the size too: the kernel's cached attributes may be
     * older than this open (another client wrote the file); drop them (only
     * them: offset -1), so that reads go by the size the server has now. */
    if (!fi->keep_cache && !entry) fuse_lowlevel_notify_inval_inode(g_fs.se, ino, -1, 0);
    open_list_add(of);
    int r = entry ? fuse_reply_create(rq, entry, fi) : fuse_reply_open(rq, fi);
    if (r) {                                    /* the opener is gone (interrupted) */
        open_list_remove(of);
        close_handle(t, handle);
        ncpfs_ofile_put(of);
    }
}

/* ---- operations ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    conn->max_write = g_fs.io_max;
    if (conn->max_readahead > g_fs.io_max) conn->max_readahead = g_fs.io_max;
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    conn->time_gran = 1000000000;               /* the protocol keeps whole seconds */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
    if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
    if (g_fs.o.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    else
        conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void op_lookup(fuse_req_t rq, fuse_ino_t parent, const char *name)
{
    char path[PATH_CAP];
    struct ncp_stat st;
    int e = nodes_child_path(&g_fs.nodes, parent, name, path, sizeof path);
    if (e == 0) e = stat_path(path, &st);
    if (e == NCP_E_NOENT && g_fs.o.negative_timeout > 0) {
        struct fuse_entry_param ne;
        memset(&ne, 0, sizeof ne);
        ne.entry_timeout = g_fs.o.negative_timeout;
        fuse_reply_entry(rq, &ne);
        return;
    }
    if (e) fuse_reply_err(rq, ncpfs_errno(e));
    else reply_entry(rq, parent, name, &st);
}

static void op_forget(fuse_req_t rq, fuse_ino_t ino, uint64_t n)
{
    nodes_forget(&g_fs.nodes, ino, n);
    fuse_reply_none(rq);
}

static void op_forget_multi(fuse_req_t rq, size_t count, struct fuse_forget_data *f)
{
    for (size_t i = 0; i < count; i++) nodes_forget(&g_fs.nodes, f[i].ino, f[i].nlookup);
    fuse_reply_none(rq);
}

static void reply_stat(fuse_req_t rq, int e, const struct ncp_stat *st)
{
    if (e) {
        fuse_reply_err(rq, ncpfs_errno(e));
        return;
    }
    struct stat s;
    to_stat(st, &s);
    fuse_reply_attr(rq, &s, g_fs.o.attr_timeout);
}

static void op_getattr(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ncp_stat st;
    int e;
    if (fi) {
        struct ncp_request r = ncpc_req(NCP_FN_FSTAT);
        struct ncpc_reply rp;
        e = ncpfs_handle_call(ofile_of(fi), &r, ncpfs_set_handle_only, &rp);
        if (e == 0) st = rp.rp.u.stat.st;
        ncpc_reply_free(&rp);
    } else {
        char path[PATH_CAP];
        e = nodes_path(&g_fs.nodes, ino, path, sizeof path);
        if (e == 0) e = stat_path(path, &st);
        /* The name now holds another file: the kernel looks it up again. */
        if (e == 0 && nodes_fuse_ino(&g_fs.nodes, st.ino) != ino) e = -ESTALE;
        /* No name any more (removed while open): the server still has the file, and
         * its open handles can tell (fstat of such a descriptor comes here). */
        if ((e == -ESTALE || e == NCP_E_NOENT) && fstat_open_ino(ino, &st) == 0) e = 0;
    }
    reply_stat(rq, e, &st);
}

static void op_setattr(fuse_req_t rq, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    struct ncp_request r = ncpc_req(NCP_FN_SETATTR);
    uint32_t mask = 0;
    if (to_set & FUSE_SET_ATTR_MODE) mask |= NCP_SA_MODE;
    if (to_set & FUSE_SET_ATTR_UID) mask |= NCP_SA_UID;
    if (to_set & FUSE_SET_ATTR_GID) mask |= NCP_SA_GID;
    if (to_set & FUSE_SET_ATTR_SIZE) mask |= NCP_SA_SIZE;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) mask |= NCP_SA_ATIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME) mask |= NCP_SA_ATIME;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) mask |= NCP_SA_MTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME) mask |= NCP_SA_MTIME;
    if (attr->st_size < 0 || (uint64_t)attr->st_atim.tv_sec > UINT32_MAX || (uint64_t)attr->st_mtim.tv_sec > UINT32_MAX) {
        if (mask & (NCP_SA_SIZE | NCP_SA_ATIME | NCP_SA_MTIME)) {
            fuse_reply_err(rq, EINVAL);
            return;
        }
    }
    if (!mask) {                                /* ctime only: nothing the protocol sets */
        op_getattr(rq, ino, fi);
        return;
    }
    r.u.setattr.mask = mask;
    r.u.setattr.mode = (uint16_t)(attr->st_mode & 07777);
    r.u.setattr.uid = (uint32_t)attr->st_uid;
    r.u.setattr.gid = (uint32_t)attr->st_gid;
    r.u.setattr.size = (uint64_t)attr->st_size;
    r.u.setattr.atime = (uint32_t)attr->st_atim.tv_sec;
    r.u.setattr.mtime = (uint32_t)attr->st_mtim.tv_sec;
    struct ncpc_reply rp;
    struct ncp_stat st;
    int e;
    char path[PATH_CAP];
    if (fi) {
        r.u.setattr.path = ncpc_str("");
        e = ncpfs_handle_call(ofile_of(fi), &r, set_setattr_handle, &rp);
    } else {
        struct ncpm_target t = { -1, 0 };
        e = nodes_path(&g_fs.nodes, ino, path, sizeof path);
        r.u.setattr.handle = NCP_HANDLE_NONE;
        r.u.setattr.mask |= NCP_SA_NOFOLLOW;    /* the inode itself (lchown, lutimes) */
        r.u.setattr.path = ncpc_str(path);
        if (e == 0) e = ncpm_call(&g_fs.m, &t, &r, &rp);
        else rp.frame = NULL;
    }
    if (e == 0) st = rp.rp.u.stat.st;
    ncpc_reply_free(&rp);
    /* chmod, chown and utimes that are not allowed fail with EPERM (POSIX);
     * truncate and touch-to-now need write permission (EACCES). */
    if (e == NCP_E_ACCES && (mask & (NCP_SA_MODE | NCP_SA_UID | NCP_SA_GID | NCP_SA_ATIME | NCP_SA_MTIME)))
        e = -EPERM;
    reply_stat(rq, e, &st);
}

static void op_mknod(fuse_req_t rq, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    if (!S_ISREG(mode)) {
        fuse_reply_err(rq, EPERM);              /* no devices, fifos or sockets on the volume */
        return;
    }
    char path[PATH_CAP];
    struct ncpm_target t = { -1, 0 };
    uint32_t h;
    struct ncp_stat st;
    int e = nodes_child_path(&g_fs.nodes, parent, name, path, sizeof path);
    if (e == 0) e = open_path(path, NCP_O_WRITE | NCP_O_CREATE | NCP_O_EXCL, (uint16_t)(mode & 07777), true, &t, &h, &st);
    if (e) {
        fuse_reply_err(rq, ncpfs_errno(e));
        return;
    }
    close_handle(t, h);
    reply_entry(rq, parent, name, &st);
}

static void op_mkdir(fuse_req_t rq, fuse_ino_t parent, const char *name, mode_t mode)
{
    char path[PATH_CAP];
    struct ncp_stat st;
    int e = nodes_child_path(&g_fs.nodes, parent, name, path, sizeof path);
    if (e == 0) {
        struct ncp_request r = ncpc_req(NCP_FN_MKDIR);
        struct ncpm_target t = { -1, 0 };
        r.u.mkdir.mode = (uint16_t)(mode & 07777);
        r.u.mkdir.path = ncpc_str(path);
        e = ncpm_simple(&g_fs.m, &t, &r);
    }
    if (e == 0) e = stat_path(path, &st);
    if (e) fuse_reply_err(rq, ncpfs_errno(e));
    else reply_entry(rq, parent, name, &st);
}

static void remove_entry(fuse_req_t rq, fuse_ino_t parent, const char *name, uint8_t fn)
{
    char path[PATH_CAP];
    int e = nodes_child_path(&g_fs.nodes, parent, name, path, sizeof path);
    if (e == 0) e = path_simple(fn, path);
    if (e == 0) nodes_unlink(&g_fs.nodes, parent, name);
    fuse_reply_err(rq, ncpfs_errno(e));
}

static void op_unlink(fuse_req_t rq, fuse_ino_t parent, const char *name) { remove_entry(rq, parent, name, NCP_FN_UNLINK); }
static void op_rmdir(fuse_req_t rq, fuse_ino_t parent, const char *name) { remove_entry(rq, parent, name, NCP_FN_RMDIR); }

/* SYMLINK and LINK answer with the new entry's stat, which becomes the kernel's entry. */
static void op_symlink(fuse_req_t rq, const char *link, fuse_ino_t parent, const char *name)
{
    char path[PATH_CAP];
    struct ncpc_reply rp;
    struct ncp_stat st;
    size_t tlen = strlen(link);
    if (tlen > NCP_SYMLINK_MAX) {
        fuse_reply_err(rq, ENAMETOOLONG);
        return;
    }
    int e = nodes_child_path(&g_fs.nodes, parent, name, path, sizeof path);
    rp.frame = NULL;
    if (e == 0) {
        struct ncp_request r = ncpc_req(NCP_FN_SYMLINK);
        struct ncpm_target t = { -1, 0 };
        r.u.symlink.target.ptr = link;
        r.u.symlink.target.len = (uint16_t)tlen;
        r.u.symlink.path = ncpc_str(path);
        e = ncpm_call(&g_fs.m, &t, &r, &rp);
    }
    if (e == 0) st = rp.rp.u.stat.st;
    ncpc_reply_free(&rp);
    if (e) fuse_reply_err(rq, ncpfs_errno(e));
    else reply_entry(rq, parent, name, &st);
}

static void op_readlink(fuse_req_t rq, fuse_ino_t ino)
{
    char path[PATH_CAP], target[NCP_SYMLINK_MAX + 1];
    struct ncpc_reply rp;
    rp.frame = NULL;
    int e = nodes_path(&g_fs.nodes, ino, path, sizeof path);
    if (e == 0) {
        struct ncp_request r = ncpc_req(NCP_FN_READLINK);
        struct ncpm_target t = { -1, 0 };
        r.u.path.path = ncpc_str(path);
        e = ncpm_call(&g_fs.m, &t, &r, &rp);
    }
    if (e == 0) {
        memcpy(target, rp.rp.u.readlink.target.ptr, rp.rp.u.readlink.target.len);   /* <= NCP_SYMLINK_MAX */
        target[rp.rp.u.readlink.target.len] = '\0';
    }
    ncpc_reply_free(&rp);
    if (e) fuse_reply_err(rq, ncpfs_errno(e));
    else fuse_reply_readlink(rq, target);
}

/* The inode table keeps one name per inode: the new name becomes it (the old one still
 * works through the kernel's dentry; should the new one go, the next use looks it up). */
static void op_link(fuse_req_t rq, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
    char from[PATH_CAP], to[PATH_CAP];
    struct ncpc_reply rp;
    struct ncp_stat st;
    rp.frame = NULL;
    int e = nodes_path(&g_fs.nodes, ino, from, sizeof from);
    if (e == 0) e = nodes_child_path(&g_fs.nodes, parent, name, to, sizeof to);
    if (e == 0) {
        struct ncp_request r = ncpc_req(NCP_FN_LINK);
        struct ncpm_target t = { -1, 0 };
        r.u.link.existing = ncpc_str(from);
        r.u.link.newpath = ncpc_str(to);
        e = ncpm_call(&g_fs.m, &t, &r, &rp);
    }
    if (e == 0) st = rp.rp.u.stat.st;
    ncpc_reply_free(&rp);
    if (e) fuse_reply_err(rq, ncpfs_errno(e));
    else reply_entry(rq, parent, name, &st);
}

static void op_rename(fuse_req_t rq, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    if (flags & ~(unsigned)RENAME_NOREPLACE) {
        fuse_reply_err(rq, EINVAL);             /* RENAME_EXCHANGE, WHITEOUT: not in the protocol */
        return;
    }
    char from[PATH_CAP], to[PATH_CAP];
    int e = nodes_child_path(&g_fs.nodes, parent, name, from, sizeof from);
    if (e == 0) e = nodes_child_path(&g_fs.nodes, newparent, newname, to, sizeof to);
    if (e == 0 && (flags & RENAME_NOREPLACE)) {
        /* Checked, then renamed: another client may create `to` in between. */
        struct ncp_stat st;
        int s = stat_path(to, &st);
        if (s == 0) e = NCP_E_EXIST;
        else if (s != NCP_E_NOENT) e = s;
    }
    if (e == 0) {
        struct ncp_request r = ncpc_req(NCP_FN_RENAME);
        struct ncpm_target t = { -1, 0 };
        r.u.rename.from = ncpc_str(from);
        r.u.rename.to = ncpc_str(to);
        e = ncpm_simple(&g_fs.m, &t, &r);
    }
    if (e == 0) nodes_rename(&g_fs.nodes, parent, name, newparent, newname);
    fuse_reply_err(rq, ncpfs_errno(e));
}

static void op_open(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi)
{
    char path[PATH_CAP];
    struct ncpm_target t = { -1, 0 };
    uint32_t h, flags = ncp_flags(fi->flags);
    struct ncp_stat st;
    if (fi->flags & O_TRUNC) flags |= NCP_O_TRUNC;
    int e = nodes_path(&g_fs.nodes, ino, path, sizeof path);
    if (e == 0) e = open_path(path, flags, 0, false, &t, &h, &st);
    if (e == 0 && nodes_fuse_ino(&g_fs.nodes, st.ino) != ino) {
        close_handle(t, h);                     /* the name holds another file now */
        e = -ESTALE;
    }
    if (e) fuse_reply_err(rq, ncpfs_errno(e));
    else finish_open(rq, ino, fi, t, h, flags, &st, NULL);
}

static void op_create(fuse_req_t rq, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    char path[PATH_CAP];
    struct ncpm_target t = { -1, 0 };
    uint32_t h, flags = ncp_flags(fi->flags) | NCP_O_CREATE | NCP_O_WRITE;
    struct ncp_stat st;
    if (fi->flags & O_EXCL) flags |= NCP_O_EXCL;
    if (fi->flags & O_TRUNC) flags |= NCP_O_TRUNC;
    int e = nodes_child_path(&g_fs.nodes, parent, name, path, sizeof path);
    if (e == 0) e = open_path(path, flags, (uint16_t)(mode & 07777), true, &t, &h, &st);
    if (e) {
        fuse_reply_err(rq, ncpfs_errno(e));
        return;
    }
    struct fuse_entry_param en;
    memset(&en, 0, sizeof en);
    en.ino = nodes_remember(&g_fs.nodes, parent, name, st.ino, st.type != NCP_FT_DIR && st.nlink > 1);
    if (!en.ino) {
        close_handle(t, h);
        fuse_reply_err(rq, ENOMEM);
        return;
    }
    to_stat(&st, &en.attr);
    en.attr_timeout = g_fs.o.attr_timeout;
    en.entry_timeout = g_fs.o.entry_timeout;
    /* The handle may write even if the creator asked O_RDONLY: keep only what was asked for a reopen. */
    uint32_t asked = ncp_flags(fi->flags);
    finish_open(rq, en.ino, fi, t, h, asked ? asked : NCP_O_READ, &st, &en);
}

/* Reads and writes are cut into requests of io_max bytes, all in flight at once. */
#define IO_PARTS_MAX 64

/* How many parts for *size bytes (cutting *size to what IO_PARTS_MAX parts hold:
 * a short read or write, the kernel asks again for the rest). */
static size_t parts_for(size_t *size)
{
    size_t n = (*size + g_fs.io_max - 1) / g_fs.io_max;
    if (n > IO_PARTS_MAX) {
        n = IO_PARTS_MAX;
        *size = n * (size_t)g_fs.io_max;
    }
    return n ? n : 1;
}

static uint32_t part_len(size_t size, size_t i)
{
    size_t done = i * g_fs.io_max;
    return (uint32_t)(size - done < g_fs.io_max ? size - done : g_fs.io_max);
}

/* Starts READs (data NULL) or WRITEs of the parts of [off, off + size) on the
 * file's handle; -EIO if the handle was lost for good. */
static int start_parts(struct ofile *of, struct ncpm_target *t, off_t off, const char *data, size_t size,
                       size_t nparts, struct ncpm_call *calls)
{
    uint32_t h;
    if (ncpfs_ofile_get(of, t, &h)) return -EIO;
    for (size_t i = 0; i < nparts; i++) {
        struct ncp_request r = ncpc_req(data ? NCP_FN_WRITE : NCP_FN_READ);
        uint64_t at = (uint64_t)off + i * (uint64_t)g_fs.io_max;
        if (data) {
            r.u.write.handle = h;
            r.u.write.offset = at;
            r.u.write.data.ptr = (const uint8_t *)data + i * (size_t)g_fs.io_max;
            r.u.write.data.len = part_len(size, i);
        } else {
            r.u.read.handle = h;
            r.u.read.offset = at;
            r.u.read.count = part_len(size, i);
        }
        struct ncpm_target ti = *t;
        ncpm_start_call(&g_fs.m, &ti, &r, &calls[i]);
    }
    return 0;
}

static void op_read(fuse_req_t rq, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct ofile *of = ofile_of(fi);
    size_t nparts = parts_for(&size);
    struct ncpm_call calls[IO_PARTS_MAX];
    struct ncpc_reply reps[IO_PARTS_MAX];
    for (int attempt = 0;; attempt++) {
        struct ncpm_target t;
        int first_err = start_parts(of, &t, off, NULL, size, nparts, calls);
        bool started = first_err == 0;          /* then every part must be finished */
        for (size_t i = 0; i < nparts; i++) reps[i].frame = NULL;
        for (size_t i = 0; started && i < nparts; i++) {
            int c = ncpm_finish(&g_fs.m, &calls[i], &reps[i], false, NULL, NULL);
            if (c && !first_err) first_err = c;
        }
        if (first_err) {
            for (size_t i = 0; i < nparts; i++) ncpc_reply_free(&reps[i]);
            if (first_err == -ESTALE && !attempt && ncpfs_reopen(of, t.gen) == 0) continue;
            fuse_reply_err(rq, ncpfs_errno(first_err == -ESTALE ? -EIO : first_err));
            return;
        }
        if (nparts == 1) {
            fuse_reply_buf(rq, (const char *)reps[0].rp.u.read.data.ptr, reps[0].rp.u.read.data.len);
            ncpc_reply_free(&reps[0]);
            return;
        }
        char *buf = malloc(size);
        size_t got = 0;
        bool short_part = false;
        for (size_t i = 0; i < nparts; i++) {
            uint32_t n = reps[i].rp.u.read.data.len;
            if (buf && !short_part) {
                memcpy(buf + got, reps[i].rp.u.read.data.ptr, n);
                got += n;
            }
            if (n < part_len(size, i)) short_part = true;   /* end of file: later parts are past it */
            ncpc_reply_free(&reps[i]);
        }
        if (!buf) fuse_reply_err(rq, ENOMEM);
        else fuse_reply_buf(rq, buf, got);
        free(buf);
        return;
    }
}

static void op_write(fuse_req_t rq, fuse_ino_t ino, const char *data, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct ofile *of = ofile_of(fi);
    size_t nparts = parts_for(&size);
    struct ncpm_call calls[IO_PARTS_MAX];
    for (int attempt = 0;; attempt++) {
        struct ncpm_target t;
        int first_err = start_parts(of, &t, off, data, size, nparts, calls);
        bool started = first_err == 0;          /* then every part must be finished */
        size_t written = 0;
        bool short_part = false;
        for (size_t i = 0; started && i < nparts; i++) {
            struct ncpc_reply rp;
            int c = ncpm_finish(&g_fs.m, &calls[i], &rp, false, NULL, NULL);
            if (c && !first_err) first_err = c;
            if (c == 0 && !first_err && !short_part) {
                written += rp.rp.u.write.written;
                if (rp.rp.u.write.written < part_len(size, i)) short_part = true;
            }
            if (c) short_part = true;
            ncpc_reply_free(&rp);
        }
        if (first_err == -ESTALE && !attempt && written == 0 && ncpfs_reopen(of, t.gen) == 0) continue;
        if (written || !first_err) fuse_reply_write(rq, written);
        else fuse_reply_err(rq, ncpfs_errno(first_err == -ESTALE ? -EIO : first_err));
        return;
    }
}

static void op_flush(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi)
{
    /* Every write has been answered already; a descriptor closing gives up
     * its process's locks (POSIX). */
    struct ofile *of = ofile_of(fi);
    pthread_mutex_lock(&of->lock);
    bool any = of->locks != NULL;
    pthread_mutex_unlock(&of->lock);
    if (any) ncpfs_locks_release_owner(of, fi->lock_owner);
    fuse_reply_err(rq, 0);
}

static void op_release(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ofile *of = ofile_of(fi);
    struct ncpm_target t;
    uint32_t h;
    open_list_remove(of);
    if (ncpfs_ofile_get(of, &t, &h) == 0) close_handle(t, h);   /* also ends its lock waits */
    ncpfs_ofile_put(of);
    fuse_reply_err(rq, 0);
}

static void op_fsync(fuse_req_t rq, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct ncp_request r = ncpc_req(NCP_FN_FSYNC);
    struct ncpc_reply rp;
    int e = ncpfs_handle_call(ofile_of(fi), &r, ncpfs_set_handle_only, &rp);
    ncpc_reply_free(&rp);
    fuse_reply_err(rq, ncpfs_errno(e));
}

/* ---- directories: listed whole at opendir (and at a rewind), served by index ---- */

struct dent { uint64_t ino; uint8_t type; char *name; };
struct dirsnap { struct dent *ents; size_t n, cap; bool served; };

static void snap_free(struct dirsnap *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->ents[i].name);
    free(d->ents);
    d->ents = NULL;
    d->n = d->cap = 0;
}

static bool snap_add(struct dirsnap *d, uint64_t ino, uint8_t type, const char *name, size_t len)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        struct dent *e = realloc(d->ents, cap * sizeof *e);
        if (!e) return false;
        d->ents = e;
        d->cap = cap;
    }
    char *nm = strndup(name, len);
    if (!nm) return false;
    d->ents[d->n++] = (struct dent){ ino, type, nm };
    return true;
}

static int snap_fill(struct dirsnap *d, fuse_ino_t ino)
{
    char path[PATH_CAP];
    int e = nodes_path(&g_fs.nodes, ino, path, sizeof path);
    if (e) return e;
    snap_free(d);
    if (!snap_add(d, ino, NCP_FT_DIR, ".", 1) || !snap_add(d, FUSE_ROOT_ID, NCP_FT_DIR, "..", 2)) return -ENOMEM;
    uint64_t cookie = 0;
    for (;;) {
        struct ncp_request r = ncpc_req(NCP_FN_READDIR);
        struct ncpc_reply rp;
        struct ncpm_target t = { -1, 0 };
        r.u.readdir.path = ncpc_str(path);
        r.u.readdir.cookie = cookie;
        r.u.readdir.max_entries = 0xFFFF;
        e = ncpm_call(&g_fs.m, &t, &r, &rp);
        if (e) {
            ncpc_reply_free(&rp);
            return e;
        }
        size_t pos = 0;
        struct ncp_dirent de;
        while (ncp_dirent_next(&rp.rp, &pos, &de)) {
            if ((de.name_len == 1 && de.name[0] == '.') || (de.name_len == 2 && !memcmp(de.name, "..", 2))) continue;
            if (!snap_add(d, nodes_fuse_ino(&g_fs.nodes, de.ino), de.type, de.name, de.name_len)) {
                ncpc_reply_free(&rp);
                return -ENOMEM;
            }
        }
        cookie = rp.rp.u.readdir.next_cookie;
        bool eof = rp.rp.u.readdir.eof || rp.rp.u.readdir.count == 0;
        ncpc_reply_free(&rp);
        if (eof) return 0;
    }
}

static void op_opendir(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct dirsnap *d = calloc(1, sizeof *d);
    if (!d) {
        fuse_reply_err(rq, ENOMEM);
        return;
    }
    int e = snap_fill(d, ino);
    if (e) {
        snap_free(d);
        free(d);
        fuse_reply_err(rq, ncpfs_errno(e));
        return;
    }
    fi->fh = (uintptr_t)d;
    if (fuse_reply_open(rq, fi)) {
        snap_free(d);
        free(d);
    }
}

static void op_readdir(fuse_req_t rq, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct dirsnap *d = (struct dirsnap *)(uintptr_t)fi->fh;
    if (off == 0 && d->served) {                /* rewinddir: list again */
        int e = snap_fill(d, ino);
        if (e) {
            fuse_reply_err(rq, ncpfs_errno(e));
            return;
        }
    }
    d->served = true;
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(rq, ENOMEM);
        return;
    }
    size_t used = 0;
    for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = d->ents[i].ino;
        uint8_t t = d->ents[i].type;             /* d_type; DT_UNKNOWN makes programs stat */
        st.st_mode = t == NCP_FT_DIR ? S_IFDIR : t == NCP_FT_SYMLINK ? S_IFLNK : t == NCP_FT_FILE ? S_IFREG : 0;
        size_t need = fuse_add_direntry(rq, buf + used, size - used, d->ents[i].name, &st, (off_t)(i + 1));
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(rq, buf, used);
    free(buf);
}

static void op_releasedir(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct dirsnap *d = (struct dirsnap *)(uintptr_t)fi->fh;
    snap_free(d);
    free(d);
    fuse_reply_err(rq, 0);
}

static void op_fsyncdir(fuse_req_t rq, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct ncp_request r = ncpc_req(NCP_FN_FSYNC);
    struct ncpm_target t = { -1, 0 };
    r.u.handle.handle = NCP_HANDLE_NONE;        /* the protocol syncs a file or the volume */
    fuse_reply_err(rq, ncpfs_errno(ncpm_simple(&g_fs.m, &t, &r)));
}

static void op_statfs(fuse_req_t rq, fuse_ino_t ino)
{
    struct ncp_request r = ncpc_req(NCP_FN_STATFS);
    struct ncpc_reply rp;
    struct ncpm_target t = { -1, 0 };
    int e = ncpm_call(&g_fs.m, &t, &r, &rp);
    if (e) {
        ncpc_reply_free(&rp);
        fuse_reply_err(rq, ncpfs_errno(e));
        return;
    }
    const struct ncp_statfs *s = &rp.rp.u.statfs;
    struct statvfs v;
    memset(&v, 0, sizeof v);
    v.f_bsize = s->block_size;
    v.f_frsize = s->block_size;
    v.f_blocks = s->blocks;
    v.f_bfree = s->blocks_free;
    v.f_bavail = s->blocks_free;
    v.f_files = s->files;
    v.f_ffree = s->files_free;
    v.f_favail = s->files_free;
    v.f_namemax = s->name_max;
    if (s->flags & NCP_FS_READONLY) v.f_flag |= ST_RDONLY;
    ncpc_reply_free(&rp);
    fuse_reply_statfs(rq, &v);
}

const struct fuse_lowlevel_ops ncpfs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .readlink = op_readlink,
    .link = op_link,
    .rename = op_rename,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .getlk = ncpfs_op_getlk,
    .setlk = ncpfs_op_setlk,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
};
