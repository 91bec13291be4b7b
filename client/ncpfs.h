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

extern struct ncpfs g_fs;
extern const struct fuse_lowlevel_ops ncpfs_ops;

/* errno for a completion code (>= 0) or a pool error (< 0, already -errno). */
int ncpfs_errno(int code);

#endif /* NCPFS_H */
