/* powercut_load.c - the load of the power-cut test (tests/e2e/powercut.sh): two
 * connections to a server whose disk is logged by QEMU's blklogwrites, and a record of
 * every promise the server made, placed in the write log.
 *
 *   powercut_load HOST:PORT LOG EVENTS OPS SEED
 *
 * Connection A (directory /home/guest/a) keeps its files durable: it writes a new file and
 * FSYNCs its handle; renames it over one of a few names and FSYNCs the volume; unlinks,
 * truncates (FSYNC of the handle), appends (FSYNC of the handle), and unlinks a file it
 * holds open (FSYNC of the volume).  Connection B (/home/guest/b) writes, overwrites,
 * truncates, renames and removes files and directories without ever asking for FSYNC.
 *
 * EVENTS gets one line per promise:  PATH SENT ANSWERED STATE
 *   SENT      the number of entries in LOG before the change was asked for: no entry
 *             with an index below it comes from the change;
 *   ANSWERED  the number of entries in LOG when the FSYNC that made it durable was
 *             answered (QEMU logs a flush before the guest sees it complete, so the
 *             flush is among them);
 *   STATE     the SHA-256 of the file's contents, or "-" for "no such name".
 * A crash image holding every entry below ANSWERED in order must show PATH in STATE unless
 * it also holds an entry of the next change of PATH (index >= that change's SENT).  Before
 * each change a marker line "PATH SENT 18446744073709551615 ?" is written (a change whose
 * answer never comes still bounds the promise before it).  The
 * count comes from the log superblock (log-super-update-interval=1 rewrites it after every
 * entry).  Prints "load: N ops, M fsyncs" at the end; exit status 0 if every request
 * succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ncp_client.h"
#include "client/cli_common.h"
#include "proto/sha256.h"

#define A_NAMES   6
#define B_NAMES   12
#define B_DIRS    3
#define CHUNK     (48u * 1024u)
#define MAX_FILE  (1200u * 1024u)

static int log_fd = -1;
static FILE *events;
static uint64_t rng_state;
static unsigned long nfsync;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t log_count(void)
{
    uint8_t b[8];
    if (pread(log_fd, b, 8, 16) != 8) {
        fprintf(stderr, "powercut_load: cannot read the log superblock\n");
        exit(1);
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void fail(struct ncpc *c, const char *what, const char *path, int e)
{
    fprintf(stderr, "powercut_load: %s %s: %d %s\n", what, path, e, e < 0 ? c->err : "");
    exit(1);
}

struct file {                   /* A's view of one of its names */
    uint8_t *data;
    uint32_t size;
    int exists;
};

static void hex_of(const uint8_t *p, uint32_t n, char out[2 * SHA256_DIGEST_SIZE + 1])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256(p, n, d);
    sha256_hex(d, sizeof d, out);
}

static void event(const char *path, uint64_t sent, uint64_t answered, const struct file *f)
{
    char h[2 * SHA256_DIGEST_SIZE + 1] = "-";
    if (f)
        hex_of(f->data, f->size, h);
    fprintf(events, "%s %" PRIu64 " %" PRIu64 " %s\n", path, sent, answered, h);
    fflush(events);
}

/* A change of path is about to be asked for: nothing logged from here on may be assumed
 * to show path's previous state, even if the change is never answered (a marker whose
 * ANSWERED never comes). */
static uint64_t changing(const char *path)
{
    uint64_t sent = log_count();
    fprintf(events, "%s %" PRIu64 " 18446744073709551615 ?\n", path, sent);
    fflush(events);
    return sent;
}

static struct ncpc *session(const char *host, int port, const char *user, const char *pw)
{
    struct ncpc *c = calloc(1, sizeof *c);
    if (!c || ncpc_connect_timeout(c, host, port, 120000)) {
        fprintf(stderr, "powercut_load: connect: %s\n", c ? c->err : "no memory");
        exit(1);
    }
    int e = ncpc_negotiate(c, 128 * 1024);
    if (!e)
        e = ncpc_login(c, user, pw);
    if (e)
        fail(c, "login", user, e);
    return c;
}

static int op_open(struct ncpc *c, const char *path, uint32_t flags, uint32_t *h)
{
    return ncpc_open(c, path, flags, 0644, h, NULL);
}

static int op_handle(struct ncpc *c, uint8_t fn, uint32_t h)
{
    struct ncp_request rq = ncpc_req(fn);
    rq.u.handle.handle = h;
    return ncpc_simple(c, &rq);
}

static int op_write(struct ncpc *c, uint32_t h, uint64_t off, const uint8_t *p, uint32_t n)
{
    while (n) {
        uint32_t k = n < CHUNK ? n : CHUNK;
        struct ncp_request rq = ncpc_req(NCP_FN_WRITE);
        rq.u.write.handle = h;
        rq.u.write.offset = off;
        rq.u.write.data.ptr = p;
        rq.u.write.data.len = k;
        int e = ncpc_simple(c, &rq);
        if (e)
            return e;
        off += k;
        p += k;
        n -= k;
    }
    return 0;
}

static int op_path(struct ncpc *c, uint8_t fn, const char *path)
{
    struct ncp_request rq = ncpc_req(fn);
    if (fn == NCP_FN_MKDIR) {
        rq.u.mkdir.mode = 0755;
        rq.u.mkdir.path = ncpc_str(path);
    } else {
        rq.u.path.path = ncpc_str(path);
    }
    return ncpc_simple(c, &rq);
}

static int op_rename(struct ncpc *c, const char *from, const char *to)
{
    struct ncp_request rq = ncpc_req(NCP_FN_RENAME);
    rq.u.rename.from = ncpc_str(from);
    rq.u.rename.to = ncpc_str(to);
    return ncpc_simple(c, &rq);
}

static int op_truncate(struct ncpc *c, uint32_t h, uint64_t size)
{
    struct ncp_request rq = ncpc_req(NCP_FN_TRUNCATE);
    rq.u.truncate.handle = h;
    rq.u.truncate.size = size;
    return ncpc_simple(c, &rq);
}

static int fsync_volume(struct ncpc *c)
{
    nfsync++;
    return op_handle(c, NCP_FN_FSYNC, NCP_HANDLE_NONE);
}

/* Sizes: mostly under the 12 direct blocks, often into the single indirect block, now and
 * then past 1 MiB (several indirect pointers changing in one FSYNC). */
static uint32_t pick_size(void)
{
    uint64_t r = rnd() % 16;
    if (r < 6)
        return (uint32_t)(rnd() % 40000) + 1;
    if (r < 14)
        return (uint32_t)(rnd() % 300000) + 1;
    return (uint32_t)(rnd() % MAX_FILE) + 1;
}

static void fill(uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i += 8) {
        uint64_t v = rnd();
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

static uint8_t *buf;

/* ---- connection A: every change made durable and recorded ---- */

static struct file af[A_NAMES];
static unsigned long tmp_seq;

static void a_step(struct ncpc *c)
{
    char path[96], tmp[96];
    uint32_t h;
    int e;
    uint64_t r = rnd() % 10, sent;
    unsigned k = (unsigned)(rnd() % A_NAMES);
    struct file *f = &af[k];
    snprintf(path, sizeof path, "/home/guest/a/f%u", k);

    if (r < 4 || !f->exists) {
        /* a new version: written to a new name, FSYNCed, renamed over the old */
        struct file nf = { .size = pick_size(), .exists = 1 };
        nf.data = malloc(nf.size);
        if (!nf.data)
            exit(1);
        fill(nf.data, nf.size);
        snprintf(tmp, sizeof tmp, "/home/guest/a/t%lu", tmp_seq++);
        sent = changing(tmp);
        if ((e = op_open(c, tmp, NCP_O_READ | NCP_O_WRITE | NCP_O_CREATE | NCP_O_TRUNC, &h)))
            fail(c, "open", tmp, e);
        if ((e = op_write(c, h, 0, nf.data, nf.size)))
            fail(c, "write", tmp, e);
        nfsync++;
        if ((e = op_handle(c, NCP_FN_FSYNC, h)))
            fail(c, "fsync", tmp, e);
        event(tmp, sent, log_count(), &nf);
        if ((e = op_handle(c, NCP_FN_CLOSE, h)))
            fail(c, "close", tmp, e);
        if (rnd() % 8 == 0) {           /* left under its first name */
            free(nf.data);
            return;
        }
        sent = changing(tmp);
        changing(path);
        if ((e = op_rename(c, tmp, path)))
            fail(c, "rename", tmp, e);
        if ((e = fsync_volume(c)))
            fail(c, "fsync volume after rename", path, e);
        uint64_t ans = log_count();
        event(tmp, sent, ans, NULL);
        event(path, sent, ans, &nf);
        free(f->data);
        *f = nf;
    } else if (r < 5) {
        sent = changing(path);
        if ((e = op_path(c, NCP_FN_UNLINK, path)))
            fail(c, "unlink", path, e);
        if ((e = fsync_volume(c)))
            fail(c, "fsync volume after unlink", path, e);
        event(path, sent, log_count(), NULL);
        f->exists = 0;
    } else if (r < 7) {
        /* truncate to a shorter length */
        uint32_t ns = f->size ? (uint32_t)(rnd() % f->size) : 0;
        sent = changing(path);
        if ((e = op_open(c, path, NCP_O_READ | NCP_O_WRITE, &h)))
            fail(c, "open", path, e);
        if ((e = op_truncate(c, h, ns)))
            fail(c, "truncate", path, e);
        nfsync++;
        if ((e = op_handle(c, NCP_FN_FSYNC, h)))
            fail(c, "fsync", path, e);
        f->size = ns;
        event(path, sent, log_count(), f);
        op_handle(c, NCP_FN_CLOSE, h);
    } else if (r < 9) {
        /* append */
        uint32_t add = (uint32_t)(rnd() % 100000) + 1;
        if (f->size + add > MAX_FILE)
            add = 1;
        uint8_t *nd = realloc(f->data, f->size + add);
        if (!nd)
            exit(1);
        f->data = nd;
        fill(nd + f->size, add);
        sent = changing(path);
        if ((e = op_open(c, path, NCP_O_READ | NCP_O_WRITE, &h)))
            fail(c, "open", path, e);
        if ((e = op_write(c, h, f->size, nd + f->size, add)))
            fail(c, "append", path, e);
        nfsync++;
        if ((e = op_handle(c, NCP_FN_FSYNC, h)))
            fail(c, "fsync", path, e);
        f->size += add;
        event(path, sent, log_count(), f);
        op_handle(c, NCP_FN_CLOSE, h);
    } else {
        /* unlinked while open: written to after the unlink, closed after a volume FSYNC */
        sent = changing(path);
        if ((e = op_open(c, path, NCP_O_READ | NCP_O_WRITE, &h)))
            fail(c, "open", path, e);
        if ((e = op_path(c, NCP_FN_UNLINK, path)))
            fail(c, "unlink open", path, e);
        uint32_t n = (uint32_t)(rnd() % 200000) + 1;
        fill(buf, n);
        if ((e = op_write(c, h, 0, buf, n)))
            fail(c, "write unlinked", path, e);
        if ((e = fsync_volume(c)))
            fail(c, "fsync volume after unlink", path, e);
        event(path, sent, log_count(), NULL);
        if ((e = op_handle(c, NCP_FN_CLOSE, h)))
            fail(c, "close unlinked", path, e);
        f->exists = 0;
    }
}

/* ---- connection B: changes nobody waits for ---- */

static void b_step(struct ncpc *c)
{
    char path[96], to[96];
    uint32_t h;
    uint64_t r = rnd() % 10;
    unsigned k = (unsigned)(rnd() % B_NAMES), d = (unsigned)(rnd() % B_DIRS);
    if (rnd() % 3 == 0)
        snprintf(path, sizeof path, "/home/guest/b/d%u/g%u", d, k);
    else
        snprintf(path, sizeof path, "/home/guest/b/g%u", k);

    if (r < 5) {
        if (op_open(c, path, NCP_O_READ | NCP_O_WRITE | NCP_O_CREATE | (rnd() % 2 ? NCP_O_TRUNC : 0), &h))
            return;         /* its directory may be missing: fine */
        uint32_t n = pick_size(), off = (uint32_t)(rnd() % 200000);
        fill(buf, n);
        op_write(c, h, off, buf, n);
        op_handle(c, NCP_FN_CLOSE, h);
    } else if (r < 6) {
        op_path(c, NCP_FN_UNLINK, path);
    } else if (r < 7) {
        if (op_open(c, path, NCP_O_READ | NCP_O_WRITE, &h) == 0) {
            op_truncate(c, h, rnd() % 100000);
            op_handle(c, NCP_FN_CLOSE, h);
        }
    } else if (r < 8) {
        snprintf(to, sizeof to, "/home/guest/b/g%u", (unsigned)(rnd() % B_NAMES));
        op_rename(c, path, to);
    } else if (r < 9) {
        snprintf(path, sizeof path, "/home/guest/b/d%u", d);
        op_path(c, NCP_FN_MKDIR, path);
    } else {
        /* a directory goes, with what is in it */
        for (unsigned i = 0; i < B_NAMES; i++) {
            snprintf(path, sizeof path, "/home/guest/b/d%u/g%u", d, i);
            op_path(c, NCP_FN_UNLINK, path);
        }
        snprintf(path, sizeof path, "/home/guest/b/d%u", d);
        op_path(c, NCP_FN_RMDIR, path);
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: powercut_load HOST:PORT LOG EVENTS OPS SEED\n");
        return 2;
    }
    char host[256];
    int port = 524;
    if (cli_parse_server(argv[1], host, sizeof host, &port)) {
        fprintf(stderr, "powercut_load: bad server %s\n", argv[1]);
        return 2;
    }
    log_fd = open(argv[2], O_RDONLY);
    events = fopen(argv[3], "w");
    long ops = strtol(argv[4], NULL, 10);
    rng_state = strtoull(argv[5], NULL, 0);
    buf = malloc(MAX_FILE);
    if (log_fd < 0 || !events || ops < 1 || !buf) {
        fprintf(stderr, "powercut_load: cannot open %s or %s: %s\n", argv[2], argv[3], strerror(errno));
        return 2;
    }
    const char *pw = getenv("NCP_PASSWORD") ? getenv("NCP_PASSWORD") : "guest";
    struct ncpc *a = session(host, port, "guest", pw), *b = session(host, port, "guest", pw);
    op_path(a, NCP_FN_MKDIR, "/home/guest/a");
    op_path(b, NCP_FN_MKDIR, "/home/guest/b");
    int e = fsync_volume(a);
    if (e)
        fail(a, "fsync volume", "/", e);
    for (long i = 0; i < ops; i++) {
        a_step(a);
        unsigned nb = (unsigned)(rnd() % 3);
        for (unsigned j = 0; j < nb; j++)
            b_step(b);
    }
    printf("load: %ld ops, %lu fsyncs, %" PRIu64 " log entries\n", ops, nfsync, log_count());
    ncpc_close(a);
    ncpc_close(b);
    return 0;
}
