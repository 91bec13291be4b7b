/* ncpd_linux.c - Linux main of the NCP server: options, volume, listener.
 *
 *   ncpd [--image FILE [--ro] | --memfs] [--users FILE] [--host ADDR] [--port N]
 *        [--threads | --workers N] [--max-conns N] [--max-handles N] [--max-inflight N]
 *        [--cache-mb N] [--max-locks-per-handle N] [--max-locks-per-conn N] [--max-locks N]
 *        [--intruder-attempts N] [--intruder-window-s S] [--intruder-lock-s S]
 *        [--intruder-names N] [--conn-mem-mb N] [--login-timeout S]
 *        [--frame-timeout S] [--quiet]
 *
 * --image serves an ext2 image through fs/ (bcache + ext2).  --memfs serves
 * an in-memory volume laid out like the demo volume: the root 1777 (like /tmp),
 * /etc the administrator's (uid 0, 0755); --users copies a host users file into
 * it as /etc/ncp-users (uid 0, mode 0600) and gives every user in it a home
 * directory /home/NAME of their own (0700), as scripts/volume-layout.sh does.  --port 0 picks a free port and
 * prints "port N" on stdout.
 * Event loop by default, with --workers (default 2; 0 = inline) threads for
 * requests that would block; --threads: one thread per connection.
 * --conn-mem-mb (256): the memory budget for all connection state (ncpd_mem.c);
 * --login-timeout / --frame-timeout (30 s each, 0 = never): a connection not logged
 * in, or holding a partial frame, that long is closed.
 */
#include "server/linux/ncpd.h"
#include "server/ncp_memfs.h"
#include "proto/ncp_auth.h"
#include "server/ncp_vfs_ext2.h"
#include "fs/ext2.h"
#include "fs/fs_errno.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ncpd_counters ncpd_ctr;
volatile int ncpd_stop;

/* ---- a file as a block device ---- */

static int file_read(struct fs_blockdev *d, uint64_t lba, uint32_t n, void *buf)
{
    int fd = (int)(intptr_t)d->priv;
    size_t len = (size_t)n * d->sector_size;
    ssize_t r = pread(fd, buf, len, (off_t)(lba * d->sector_size));
    return r == (ssize_t)len ? 0 : -FS_EIO;
}

static int file_write(struct fs_blockdev *d, uint64_t lba, uint32_t n, const void *buf)
{
    int fd = (int)(intptr_t)d->priv;
    size_t len = (size_t)n * d->sector_size;
    ssize_t r = pwrite(fd, buf, len, (off_t)(lba * d->sector_size));
    return r == (ssize_t)len ? 0 : -FS_EIO;
}

static int file_flush(struct fs_blockdev *d)
{
    return fdatasync((int)(intptr_t)d->priv) == 0 ? 0 : -FS_EIO;
}

/* ---- engine callbacks ---- */

static void get_random(void *arg, uint8_t *buf, size_t n)
{
    while (n) {
        ssize_t r = getrandom(buf, n, 0);
        if (r <= 0) {
            perror("getrandom");
            exit(1);
        }
        buf += r;
        n -= (size_t)r;
    }
}

static bool quiet;
static unsigned ncpd_login_timeout_s, ncpd_frame_timeout_s;   /* for STATS */

/* The engine's clock for intruder detection. */
static uint64_t monotonic_ms(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_shutdown(void *arg)
{
    if (!quiet)
        fprintf(stderr, "ncpd: shutdown requested by administrator\n");
    ncpd_stop = 1;
}

static struct bcache *cache;
static struct ext2_fs *volume;      /* for STATS: the ext2 image served, or NULL */

/* SIGTERM, SIGINT: stop serving; main then unmounts (the superblock says clean). */
static void on_stop_signal(int sig)
{
    (void)sig;
    ncpd_stop = 1;
}

static unsigned extra_counters(void *arg, struct ncp_counter *out, unsigned max)
{
    static struct bcache_stats bs;
    struct { const char *name; uint64_t v; } all[] = {
        { "net.accepts", ncpd_ctr.accepts }, { "net.refused", ncpd_ctr.refused },
        { "net.rx_bytes", ncpd_ctr.rx_bytes }, { "net.tx_bytes", ncpd_ctr.tx_bytes },
        { "net.frames", ncpd_ctr.frames }, { "worker.threads", ncpd_ctr.threads },
        { "worker.jobs", ncpd_ctr.worker_jobs }, { "wtd.loop_wakeups", ncpd_ctr.loop_wakeups },
        { "conn.mem_bytes", ncpd_ctr.mem_bytes }, { "conn.mem_limit", ncpd_mem_limit },
        { "conn.refused_mem", ncpd_ctr.refused_mem }, { "conn.closed_mem", ncpd_ctr.closed_mem },
        { "conn.login_timeouts", ncpd_ctr.login_timeouts }, { "conn.frame_timeouts", ncpd_ctr.frame_timeouts },
        { "conn.login_timeout_s", ncpd_login_timeout_s }, { "conn.frame_timeout_s", ncpd_frame_timeout_s },
        { "cache.hits", 0 }, { "cache.misses", 0 }, { "cache.nb_misses", 0 },
        { "cache.evictions", 0 }, { "cache.dirty", 0 },
        { "fs.fsyncs", 0 }, { "fs.fsync_blocks", 0 }, { "fs.fsync_last_blocks", 0 },
        { "fs.sync_last_blocks", 0 }, { "fs.unclean_mount", 0 }, { "fs.mount_count", 0 },
        { "fs.journal_commits", 0 }, { "fs.journal_checkpoints", 0 },
        { "fs.order_barriers", 0 }, { "fs.journal_background_commits", 0 },
    };
    if (cache) {
        bcache_get_stats(cache, &bs);
        all[16].v = bs.hits;
        all[17].v = bs.misses;
        all[18].v = bs.nb_misses;
        all[19].v = bs.evictions;
        all[20].v = bs.dirty;
    }
    if (volume) {
        struct ext2_stats es;
        ext2_get_stats(volume, &es);
        all[21].v = es.fsyncs;
        all[22].v = es.fsync_blocks;
        all[23].v = es.fsync_last_blocks;
        all[24].v = es.sync_last_blocks;
        all[25].v = es.unclean_mount;
        all[26].v = es.mount_count;
        all[27].v = es.journal_commits;
        all[28].v = es.journal_checkpoints;
        all[29].v = es.order_barriers;
        all[30].v = es.journal_background_commits;
    }
    unsigned n = 0, total = volume ? 31 : cache ? 21 : 16;
    for (; n < total && n < max; n++) {
        out[n].name = all[n].name;
        out[n].value = all[n].v;
    }
    return n;
}

/* ext3: the journal's periodic commit (every 5 s) and checkpoint, once a second
 * until main stops it before the unmount. */
static volatile int ticker_stop;

static void *journal_ticker(void *arg)
{
    struct ext2_fs *fs = arg;
    for (int ms = 0; !ticker_stop; ms += 100) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        if (ms % 1000 == 900 && ext2_journal_tick(fs))
            fprintf(stderr, "ncpd: journal error\n");
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: ncpd [--image FILE [--ro] | --memfs] [--users FILE] [--host ADDR] [--port N]\n"
        "            [--threads | --workers N] [--max-conns N] [--max-handles N] [--max-inflight N]\n"
        "            [--cache-mb N] [--max-locks-per-handle N] [--max-locks-per-conn N] [--max-locks N]\n"
        "            [--intruder-attempts N] [--intruder-window-s S] [--intruder-lock-s S]\n"
        "            [--intruder-names N] [--conn-mem-mb N] [--login-timeout S]\n"
        "            [--frame-timeout S] [--quiet]\n");
    exit(2);
}

/* A command-line option and what it sets: a flag, or the value that follows it (a string,
 * a number, or MiB kept in bytes).  Exactly one of the pointers is set. */
struct cli_option {
    const char *name;
    bool *flag;
    const char **str;
    int *i;
    unsigned *u;
    uint32_t *u32;
    uint64_t *mib;
};

static const struct cli_option *find_option(const struct cli_option *opts, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(opts[k].name, name))
            return &opts[k];
    return NULL;
}

static void set_option(const struct cli_option *opt, const char *v)
{
    if (opt->str)
        *opt->str = v;
    else if (opt->i)
        *opt->i = atoi(v);
    else if (opt->u)
        *opt->u = (unsigned)atoi(v);
    else if (opt->u32)
        *opt->u32 = (uint32_t)atoi(v);
    else
        *opt->mib = (uint64_t)strtoull(v, NULL, 10) << 20;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* The demo layout for a memory volume: root 1777, /etc the admin's 0755, /home 0755. */
static int memfs_layout(struct ncp_memfs *m)
{
    int e = ncp_memfs_chattr(m, "/", 01777, 0, 0);
    if (!e)
        e = ncp_memfs_ops.mkdir(m, "/etc", 0755, 0, 0);
    if (!e)
        e = ncp_memfs_ops.mkdir(m, "/home", 0755, 0, 0);
    return e;
}

/* /etc/ncp-users (admin, 0600) and a private home per user. */
static int memfs_users(struct ncp_memfs *m, const char *text, size_t len)
{
    int e = ncp_memfs_put(m, "/etc/ncp-users", text, len);
    if (!e)
        e = ncp_memfs_chattr(m, "/etc/ncp-users", 0600, 0, 0);
    size_t pos = 0, n;
    const char *line;
    struct ncp_user u;
    struct ncp_group g;
    while (!e && ncp_users_next_line(text, len, &pos, &line, &n)) {
        if (ncp_users_parse_line(line, n, &u, &g) != NCP_LINE_USER)
            continue;
        char home[16 + NCP_USER_MAX];
        snprintf(home, sizeof home, "/home/%s", u.name);
        e = ncp_memfs_ops.mkdir(m, home, 0700, u.uid, u.gid);
        if (e == -FS_EEXIST)
            e = 0; /* a name twice: the first line's */
    }
    return e;
}

int main(int argc, char **argv)
{
    struct ncpd_opts o = { "127.0.0.1", 5240, false, 2, false, 30, 30 };
    const char *image = NULL, *users = NULL;
    bool ro = false, memfs = false;
    struct ncp_server_config cfg = { 0 };
    unsigned cache_mb = 64;

    const struct cli_option options[] = {
        { "--image", .str = &image }, { "--ro", .flag = &ro }, { "--memfs", .flag = &memfs },
        { "--users", .str = &users }, { "--host", .str = &o.host }, { "--port", .i = &o.port },
        { "--threads", .flag = &o.threads }, { "--workers", .i = &o.workers },
        { "--quiet", .flag = &o.quiet }, { "--max-conns", .u32 = &cfg.max_conns },
        { "--max-handles", .u32 = &cfg.max_handles }, { "--max-inflight", .u32 = &cfg.max_inflight },
        { "--cache-mb", .u = &cache_mb },
        { "--max-locks-per-handle", .u32 = &cfg.max_locks_per_handle },
        { "--max-locks-per-conn", .u32 = &cfg.max_locks_per_conn },
        { "--max-locks", .u32 = &cfg.max_locks },
        { "--intruder-attempts", .u32 = &cfg.intruder_attempts },
        { "--intruder-window-s", .u32 = &cfg.intruder_window_s },
        { "--intruder-lock-s", .u32 = &cfg.intruder_lock_s },
        { "--intruder-names", .u32 = &cfg.intruder_names },
        { "--conn-mem-mb", .mib = &ncpd_mem_limit },
        { "--login-timeout", .u = &o.login_timeout_s },
        { "--frame-timeout", .u = &o.frame_timeout_s },
    };
    for (int i = 1; i < argc; i++) {
        const struct cli_option *opt = find_option(options, sizeof options / sizeof options[0], argv[i]);
        if (!opt)
            usage();
        if (opt->flag) {
            *opt->flag = true;
            continue;
        }
        if (i + 1 == argc)
            usage();                    /* an option that takes a value, without one */
        set_option(opt, argv[++i]);
    }
    if (!image == !memfs)
        usage();
    quiet = o.quiet;
    ncpd_login_timeout_s = o.login_timeout_s;
    ncpd_frame_timeout_s = o.frame_timeout_s;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction stop = { .sa_handler = on_stop_signal };
    sigemptyset(&stop.sa_mask);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);

    /* Many connections need many descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct ext2_fs *ext2 = NULL;
    struct ncp_memfs *mem = NULL;
    pthread_t ticker;
    int have_ticker = 0;
    static struct fs_blockdev dev;
    if (image) {
        int fd = open(image, ro ? O_RDONLY : O_RDWR);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            perror(image);
            return 1;
        }
        dev.sector_size = 512;
        dev.sectors = (uint64_t)st.st_size / 512;
        dev.read = file_read;
        dev.write = file_write;
        dev.flush = file_flush;
        dev.priv = (void *)(intptr_t)fd;
        cache = bcache_init(&dev, cache_mb * 256);
        int e = cache ? ext2_mount(cache, ro ? EXT2_MOUNT_RDONLY : 0, &ext2) : -FS_ENOMEM;
        if (e) {
            fprintf(stderr, "ncpd: cannot mount %s: error %d\n", image, e);
            return 1;
        }
        volume = ext2;
        if (!ro && pthread_create(&ticker, NULL, journal_ticker, ext2) == 0)
            have_ticker = 1;
        struct ext2_stats es;
        ext2_get_stats(ext2, &es);
        if (es.unclean_mount)
            fprintf(stderr, "ncpd: %s was not cleanly unmounted (no journal): run e2fsck on it\n", image);
        cfg.vfs = &ncp_vfs_ext2_ops;
        cfg.vfs_ctx = ext2;
    } else {
        mem = ncp_memfs_create((uint64_t)cache_mb << 20, 100000);
        cfg.vfs = &ncp_memfs_ops;
        cfg.vfs_ctx = mem;
    }
    if (mem && memfs_layout(mem)) {
        fprintf(stderr, "ncpd: cannot lay out the memory volume\n");
        return 1;
    }
    if (users) {
        size_t len;
        char *text = slurp(users, &len);
        if (!text) {
            perror(users);
            return 1;
        }
        if (mem && memfs_users(mem, text, len)) {
            fprintf(stderr, "ncpd: cannot store %s\n", users);
            return 1;
        }
        if (!mem)
            fprintf(stderr, "ncpd: --users only applies to --memfs (ext2 images carry /etc/ncp-users)\n");
        free(text);
    }
    cfg.random = get_random;
    cfg.shutdown = on_shutdown;
    cfg.extra_counters = extra_counters;
    cfg.now_ms = monotonic_ms;
    struct ncp_server *srv = ncp_server_create(&cfg);
    if (!srv) {
        fprintf(stderr, "ncpd: out of memory\n");
        return 1;
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port) };
    if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "ncpd: bad --host\n");
        return 2;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
        perror("ncpd: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    if (o.port == 0) {
        printf("port %d\n", ntohs(sa.sin_port));
        fflush(stdout);
    }
    if (!o.quiet)
        fprintf(stderr, "ncpd: serving %s on %s:%d (%s, %d workers)\n", image ? image : "memory volume",
                o.host, ntohs(sa.sin_port), o.threads ? "thread per connection" : "epoll",
                o.threads ? 0 : o.workers);

    int rc = o.threads ? ncpd_serve_threads(srv, lfd, &o) : ncpd_serve_epoll(srv, lfd, &o);
    close(lfd);
    if (have_ticker) {
        ticker_stop = 1;
        pthread_join(ticker, NULL);
    }
    if (ext2) {
        /* Thread mode may still have connection threads inside the volume: shut it down
         * (read-only, marked clean, synced) without freeing it. */
        int e = o.threads ? ext2_shutdown(ext2) : ext2_unmount(ext2);
        if (e) {
            fprintf(stderr, "ncpd: unmount failed: %d\n", e);
            rc = 1;
        }
        if (!o.threads) {
            volume = NULL;
            bcache_destroy(cache);
        }
    }
    if (!o.threads) {
        ncp_server_destroy(srv);
        ncp_memfs_destroy(mem);
    }
    return rc;
}
