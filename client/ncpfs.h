/* ncpfs.h - shared state of the FUSE mount (ncpfs.c: main and options;
 * ncpfs_ops.c: the file system operations; ncpfs_nodes.c: the inode table). */
#ifndef NCPFS_H
#define NCPFS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "client/ncp_mux.h"
#include "client/ncpfs_nodes.h"

#define NCPFS_IO_MAX (1024u * 1024u)   /* largest READ/WRITE the kernel is offered */

struct ncpfs_opts {
    double timeout;             /* seconds, every request (-o timeout=) */
    int conns;                  /* connections to the server (-o conns=) */
    double entry_timeout, attr_timeout, negative_timeout;
    int direct_io;              /* no page cache at all (-o direct_io) */
    int writeback_cache;        /* kernel write-back cache (-o writeback_cache; loses appends) */
    int verbose;                /* log reconnects and timeouts to stderr (-o verbose) */
};

struct ncpfs {
    struct ncpm m;
    struct nodes nodes;
    struct ncpfs_opts o;
    uint32_t io_max;            /* data bytes per READ / WRITE request */
    struct fuse_session *se;    /* set before the session loop starts */
};

/* An open file: a server handle on one connection of the pool (ncpfs_ops.c). */
struct ncpfs_lock;
struct ofile {
    pthread_mutex_t lock;       /* guards t, handle, lost and locks (a reopen replaces the handle) */
    int refs;                   /* atomic: the open, and a lock request waiting (ncpfs_locks.c) */
    struct ncpm_target t;
    uint32_t handle;
    uint32_t reopen_flags;      /* NCP_O_* for a reopen: the access, never CREATE/TRUNC/EXCL */
    uint64_t ino;
    uint32_t sino;
    bool lost;                  /* a reopen failed: EIO from now on */
    struct ncpfs_lock *locks;   /* byte ranges this handle holds, by lock owner */
    struct ofile *open_prev, *open_next;  /* ncpfs_ops.c's list of open files (its lock) */
};

static inline struct ofile *ofile_of(struct fuse_file_info *fi) { return (struct ofile *)(uintptr_t)fi->fh; }

void ncpfs_ofile_put(struct ofile *of);
/* The handle and target to use now; -EIO if the file was lost at a reconnect. */
int  ncpfs_ofile_get(struct ofile *of, struct ncpm_target *t, uint32_t *handle);
/* The connection of stale_gen is gone: open the file again by path. */
int  ncpfs_reopen(struct ofile *of, uint64_t stale_gen);
/* One request on the file's handle (put in by set_handle), reopening once if
 * the connection was lost since. */
int  ncpfs_handle_call(struct ofile *of, struct ncp_request *rq, void (*set_handle)(struct ncp_request *, uint32_t),
                       struct ncpc_reply *out);
void ncpfs_set_handle_only(struct ncp_request *rq, uint32_t h);

/* ncpfs_locks.c: fcntl byte-range locks onto LOCK / UNLOCK. */
void ncpfs_op_getlk(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lk);
void ncpfs_op_setlk(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lk, int sleep);
/* Releases every range `owner` holds through this file (close of a descriptor). */
void ncpfs_locks_release_owner(struct ofile *of, uint64_t owner);
void ncpfs_locks_free(struct ofile *of);

extern struct ncpfs g_fs;
extern const struct fuse_lowlevel_ops ncpfs_ops;

/* errno for a completion code (>= 0) or a pool error (< 0, already -errno). */
int ncpfs_errno(int code);

#endif /* NCPFS_H */
