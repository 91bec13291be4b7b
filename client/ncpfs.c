/* ncpfs.c - mounts a WorkToDo volume with FUSE.
 *
 *   ncpfs [-s HOST:PORT] [-u USER] [-o OPTIONS] [-f] [-d] MOUNTPOINT
 *
 * Server: -s, else $NCP_SERVER, else 127.0.0.1:5240.  User: -u, else guest.
 * Password: $NCP_PASSWORD (wiped from the environment once read), else asked
 * on the terminal.  The login is checked before mounting, so a wrong password
 * or an unreachable server is an error here, not a broken mount.  Unmount
 * with `fusermount3 -u MOUNTPOINT`.  Options: usage() below and README.md.
 */
#include "client/ncpfs.h"
#include "client/cli_common.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ncpfs [-s HOST:PORT] [-u USER] [-o OPTIONS] [-f] [-d] MOUNTPOINT\n"
        "Mounts a WorkToDo volume; unmount with: fusermount3 -u MOUNTPOINT\n"
        "  -s HOST:PORT   server (default $NCP_SERVER, else 127.0.0.1:5240)\n"
        "  -u USER        user to log in as (default guest); password from $NCP_PASSWORD or a prompt\n"
        "  -f             stay in the foreground (messages on stderr)\n"
        "  -d             FUSE debug output (implies -f)\n"
        "  -h, --help     this text\n"
        "ncpfs options (-o, comma-separated):\n"
        "  timeout=SEC          every request fails with EIO after SEC seconds without a reply (default 5);\n"
        "                       the connection is then dropped and made again, and the login redone, on next use\n"
        "  conns=N              connections to the server, requests spread over them (default 4, max %d)\n"
        "  entry_timeout=SEC    how long names are cached (default 1)\n"
        "  attr_timeout=SEC     how long attributes are cached (default 1)\n"
        "  negative_timeout=SEC how long a missing name is cached (default 0)\n"
        "  direct_io            no page cache: every read and write goes to the server\n"
        "  writeback_cache      kernel write-back caching (faster small writes; loses appends of other\n"
        "                       clients, not close-to-open: not recommended)\n"
        "  verbose              log reconnects and lost handles to stderr\n"
        "FUSE options that matter here (see mount.fuse3(8)):\n"
        "  default_permissions  let the kernel check mode bits too (against LOCAL uids: the server's\n"
        "                       uids may mean other people here); the server checks every request anyway\n"
        "  allow_other          other local users may use the mount -- as the user logged in here;\n"
        "                       needs user_allow_other in /etc/fuse.conf for non-root\n"
        "  ro, fsname=NAME, max_read=N, auto_unmount\n"
        "Open files survive a reconnect: they are reopened by path on first use; a file whose\n"
        "path is gone or names another file then fails with EIO.  Locks do not survive it.\n",
        NCPM_MAX_CONNS);
}

#define OPT(t, p, v) { t, offsetof(struct ncpfs_opts, p), v }
static const struct fuse_opt ncpfs_fuse_opts[] = {
    OPT("timeout=%lf", timeout, 0),
    OPT("conns=%d", conns, 0),
    OPT("entry_timeout=%lf", entry_timeout, 0),
    OPT("attr_timeout=%lf", attr_timeout, 0),
    OPT("negative_timeout=%lf", negative_timeout, 0),
    OPT("direct_io", direct_io, 1),
    OPT("writeback_cache", writeback_cache, 1),
    OPT("verbose", verbose, 1),
    FUSE_OPT_END
};

/* $NCP_PASSWORD's value is overwritten in place: /proc/PID/environ shows the
 * original environment block for as long as the mount runs. */
static void wipe_env_password(void)
{
    char *v = getenv("NCP_PASSWORD");
    if (v) explicit_bzero(v, strlen(v));
    unsetenv("NCP_PASSWORD");
}

static void log_line(const char *msg)
{
    if (g_fs.o.verbose) fprintf(stderr, "ncpfs: %s\n", msg);
}

int main(int argc, char **argv)
{
    char host[256] = "127.0.0.1";
    int port = 5240;
    const char *user = "guest", *mountpoint = NULL;
    bool foreground = false, debug = false;
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    fuse_opt_add_arg(&args, argv[0]);
    const char *env = getenv("NCP_SERVER");
    if (env && *env && cli_parse_server(env, host, sizeof host, &port)) {
        fprintf(stderr, "ncpfs: bad NCP_SERVER '%s' (want HOST:PORT)\n", env);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-s") && i + 1 < argc) {
            if (cli_parse_server(argv[++i], host, sizeof host, &port)) {
                fprintf(stderr, "ncpfs: bad server address '%s' (want HOST:PORT)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "-u") && i + 1 < argc) {
            user = argv[++i];
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            fuse_opt_add_arg(&args, "-o");
            fuse_opt_add_arg(&args, argv[++i]);
        } else if (!strncmp(a, "-o", 2) && a[2]) {
            fuse_opt_add_arg(&args, a);
        } else if (!strcmp(a, "-f")) {
            foreground = true;
        } else if (!strcmp(a, "-d")) {
            foreground = debug = true;
            fuse_opt_add_arg(&args, "-d");
        } else if (a[0] == '-' || mountpoint) {
            usage(stderr);
            return 2;
        } else {
            mountpoint = a;
        }
    }
    if (!mountpoint) {
        usage(stderr);
        return 2;
    }
    struct ncpfs_opts *o = &g_fs.o;
    o->timeout = 5;
    o->conns = 4;
    o->entry_timeout = 1;
    o->attr_timeout = 1;
    o->negative_timeout = 0;
    if (fuse_opt_parse(&args, o, ncpfs_fuse_opts, NULL) == -1) return 2;
    if (o->timeout < 0.1 || o->timeout > 3600 || o->conns < 1 || o->conns > NCPM_MAX_CONNS) {
        fprintf(stderr, "ncpfs: timeout must be 0.1..3600 seconds and conns 1..%d\n", NCPM_MAX_CONNS);
        return 2;
    }
    char fsname[300];
    snprintf(fsname, sizeof fsname, "-ofsname=%s:%d,subtype=ncpfs", host, port);
    fuse_opt_insert_arg(&args, 1, fsname);

    const char *pw = cli_password("ncpfs", user, host);
    if (!pw) return 1;
    struct ncpm_opts mo = {
        .host = host, .port = port, .user = user, .password = pw,
        .want_frame = NCP_MAX_FRAME_LIMIT, .timeout_ms = (int)(o->timeout * 1000), .nconns = o->conns,
        .log = log_line,
    };
    char err[300];
    int r = ncpm_open(&g_fs.m, &mo, err, sizeof err);
    explicit_bzero((char *)pw, strlen(pw));
    wipe_env_password();
    if (r) {
        fprintf(stderr, "ncpfs: %s:%d as %s: %s\n", host, port, user, err);
        return 1;
    }
    /* The root's inode number, so that it can be FUSE's 1. */
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = NCP_FN_STAT;
    rq.u.path.path = (struct ncp_str){ "/", 1 };
    struct ncpc_reply rp;
    struct ncpc *c0 = &g_fs.m.conns[0].c;
    struct timeval tv = { .tv_sec = (time_t)o->timeout, .tv_usec = (suseconds_t)((o->timeout - (time_t)o->timeout) * 1e6) };
    struct timeval none = { 0, 0 };
    setsockopt(c0->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);   /* no receiver thread yet: bound it here */
    int e = ncpc_call(c0, &rq, &rp);
    setsockopt(c0->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    if (e) {
        fprintf(stderr, "ncpfs: stat of the volume root: %s\n",
                e < 0 ? c0->err : ncp_strerror((unsigned)e));
        ncpc_reply_free(&rp);
        return 1;
    }
    nodes_init(&g_fs.nodes, rp.rp.u.stat.st.ino);
    ncpc_reply_free(&rp);
    uint32_t mf = g_fs.m.max_frame;
    uint32_t cap = mf - NCP_READ_REPLY_OVERHEAD < mf - NCP_WRITE_REQ_OVERHEAD ? mf - NCP_READ_REPLY_OVERHEAD
                                                                             : mf - NCP_WRITE_REQ_OVERHEAD;
    if (cap > NCPFS_IO_MAX) cap = NCPFS_IO_MAX;
    g_fs.io_max = cap >= 4096 ? cap & ~4095u : cap;

    struct fuse_session *se = fuse_session_new(&args, &ncpfs_ops, sizeof ncpfs_ops, NULL);
    if (!se) {
        ncpm_close(&g_fs.m);
        return 2;
    }
    int rc = 1;
    g_fs.se = se;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, mountpoint) == 0) {
            if (fuse_daemonize(foreground) == 0) {
                ncpm_start(&g_fs.m);            /* threads only after the fork */
                if (o->verbose || debug)
                    fprintf(stderr, "ncpfs: %s:%d mounted on %s as %s (%d connections, %u-byte I/O, timeout %.1f s)\n",
                            host, port, mountpoint, user, g_fs.m.nconns, g_fs.io_max, o->timeout);
                struct fuse_loop_config *cfg = fuse_loop_cfg_create();
                fuse_loop_cfg_set_max_threads(cfg, 64);
                fuse_loop_cfg_set_idle_threads(cfg, 16);
                rc = fuse_session_loop_mt(se, cfg) ? 1 : 0;
                fuse_loop_cfg_destroy(cfg);
            }
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    fuse_session_destroy(se);
    ncpm_close(&g_fs.m);
    nodes_destroy(&g_fs.nodes);
    fuse_opt_free_args(&args);
    return rc;
}
