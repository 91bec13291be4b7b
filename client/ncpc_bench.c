/* ncpc_bench.c - `ncpc bench`: the load generator.
 *
 * Opens N logged-in connections (setup is pipelined across connections),
 * then drives them from one epoll loop with non-blocking sockets.  Three
 * ways to offer load:
 *   closed (default): `depth` requests in flight on each connection, the
 *     next sent the moment a reply lands;
 *   --rate R: open loop, Poisson arrivals at R requests/s in total; an
 *     arrival goes to the next connection with a free slot, or waits in a
 *     bounded client-side queue; latency counts from the intended send time
 *     (as wrk2 does), so a stalled server shows its stall;
 *   --users N --think MS: N users, each with one request outstanding, then
 *     an exponentially distributed think time of mean MS.
 * Stops at --duration or --count, whichever comes first, and reports
 * requests/s, MB/s, latency percentiles from an HDR-style histogram
 * (client/hdr_hist.c) per request kind and errors (optionally as JSON).
 * With --fsync a write is followed by an FSYNC of its scratch file and
 * counts as done (one request, latency to the FSYNC reply) only once that
 * reply is in.  --null-rpc drives the null-RPC service (include/null_rpc.h)
 * instead of the file service: the ceiling of cached 4 KiB reads.
 */
#include "client/hdr_hist.h"
#include "client/ncpc.h"
#include "client/ncpc_sched.h"
#include "client/progress.h"
#include "include/null_rpc.h"
#include "proto/ncp_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum bench_mode { MODE_CLOSED, MODE_RATE, MODE_USERS };
/* Request kinds; the first four are --mix's. */
enum kind { K_READ, K_STAT, K_READDIR, K_WRITE, K_PING, K_NULL, K_COUNT };
static const char *const kind_name[K_COUNT] = { "read", "stat", "readdir", "write", "ping", "null" };
#define MIX_KINDS 4
#define MIX_READ_MIN 4096u              /* --mix reads: 4 KiB .. 64 KiB, in 4 KiB steps */
#define MIX_READ_MAX 65536u
#define QUEUE_MAX (1u << 20)            /* client-side queue of --rate: arrivals beyond are errors */
#define DRAIN_S 10.0                    /* after the end: how long in-flight (and queued) requests may take */

struct bench_opts {
    uint32_t conns, depth, read_size, write_pct, nfiles;
    double duration;
    uint64_t count;
    const char *files, *json, *op, *scratch;
    bool keep, fsync;
    enum bench_mode mode;
    double rate;                /* --rate: requests/s in total */
    uint32_t users;             /* --users */
    double think_ms;            /* --think: mean think time */
    bool mix;                   /* --mix given */
    uint32_t mix_w[MIX_KINDS];  /* weights of read, stat, readdir, write */
    uint32_t mix_total;
    bool null_rpc;
    uint64_t seed;
    bool conns_given, depth_given;
};

struct bconn {
    struct ncpc c;              /* setup uses the blocking library; the run loop reuses its reassembler */
    uint32_t *handles;          /* one per bench file */
    uint32_t scratch;           /* write target */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint32_t inflight, next_gen;
    uint16_t *free_slots;
    uint32_t nfree;
    double *sent_at;            /* by slot: when its latency started (the intended send time) */
    uint8_t *slot_kind;         /* by slot: enum kind */
    uint32_t *slot_user;        /* by slot: --users: whose request */
    uint32_t idx;               /* index in the connection array */
    bool dead, want_out;
    uint32_t pending_frame;
    /* --null-rpc: replies come in order, each NULL_RPC_REPLY bytes */
    uint16_t *order;            /* slots in send order */
    uint32_t order_head, order_len;
    uint32_t rx_have;           /* bytes of the oldest reply received so far */
};

struct bench_file { char *path; char *dir; uint64_t size; };

static struct bench_opts bo;
static struct bench_file *files;
static uint32_t nfiles;
static uint8_t *write_data;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

static void bench_usage(void)
{
    fprintf(stderr,
        "usage: ncpc bench [--conns N] [--depth D] [--duration SEC] [--count N]\n"
        "                  [--files PATH,PATH... | --files DIR | --files 'DIR/GLOB'] [--nfiles N]\n"
        "                  [--read-size BYTES] [--write-pct P] [--op read|stat|ping]\n"
        "                  [--json FILE] [--keep] [--fsync] [--scratch DIR]\n"
        "                  [--rate R | --users N [--think MS]] [--mix read=70,stat=15,readdir=10,write=5]\n"
        "                  [--null-rpc] [--seed N]\n"
        "  Requests go to random offsets of the chosen files (reads), or to a scratch\n"
        "  file per connection under /bench.tmp (writes, --write-pct percent of them;\n"
        "  --scratch DIR puts them under DIR instead, e.g. for two runs side by side).\n"
        "  --fsync: each write is followed by an FSYNC of the scratch file; the pair is\n"
        "  one request, its latency from the WRITE sent to the FSYNC answered.\n"
        "  Load: closed loop by default (--depth requests in flight per connection).\n"
        "  --rate R: open loop, Poisson arrivals at R requests/s over all connections;\n"
        "  an arrival with no free slot (--depth per connection) waits in a client-side\n"
        "  queue (up to 1048576; beyond, an error); latency counts from the intended send\n"
        "  time, so a server that stalls shows the stall in the tail.\n"
        "  --users N --think MS: N users, each with one request outstanding and then an\n"
        "  exponentially distributed think time of mean MS (default 1000); one connection\n"
        "  per user unless --conns C spreads them (user u on connection u mod C).\n"
        "  --mix read=W,stat=W,readdir=W,write=W: request kinds by weight; reads of 4 KiB\n"
        "  to 64 KiB (4 KiB steps) across the files, STAT of a file, READDIR of its\n"
        "  directory, writes of --read-size bytes to the scratch files.\n"
        "  --null-rpc: drive the null-RPC service (-s HOST:PORT names it, guest port 5241)\n"
        "  with 16-byte requests answered by 4 KiB: no login, the same load options.\n"
        "  Latency: p50/p90/p99/p99.9/max per kind and in total (histogram, <1%% error).\n"
        "  The run stops at --duration seconds (default 10) or --count requests;\n"
        "  requests still in flight (or queued) get 10 s more, then count as errors.\n");
    exit(2);
}

/* --mix read=70,stat=15,readdir=10,write=5: any of the four, any order; false if malformed. */
static bool parse_mix(const char *v)
{
    char *spec = strdup(v), *save = NULL;
    bo.mix = true;
    for (char *p = strtok_r(spec, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');
        if (!eq) { free(spec); return false; }
        *eq = '\0';
        char *end;
        unsigned long w = strtoul(eq + 1, &end, 10);
        int k = -1;
        for (int i = 0; i < MIX_KINDS; i++)
            if (!strcmp(p, kind_name[i])) k = i;
        if (k < 0 || *end || end == eq + 1 || w > 1000000) { free(spec); return false; }
        bo.mix_w[k] = (uint32_t)w;
    }
    free(spec);
    bo.mix_total = 0;
    for (int i = 0; i < MIX_KINDS; i++) bo.mix_total += bo.mix_w[i];
    return bo.mix_total > 0;
}

static void parse(int argc, char **argv)
{
    bo = (struct bench_opts){ .conns = 1, .depth = 1, .read_size = 4096, .nfiles = 100, .duration = 10.0,
                              .op = "read", .think_ms = 1000, .seed = 0x9e3779b97f4a7c15ull };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) bench_usage();
        /* flags first: they take no value, so they may come last */
        if (!strcmp(a, "--keep")) { bo.keep = true; continue; }
        if (!strcmp(a, "--fsync")) { bo.fsync = true; continue; }
        if (!strcmp(a, "--null-rpc")) { bo.null_rpc = true; continue; }
        if (!v) bench_usage();
        if (!strcmp(a, "--conns")) { bo.conns = (uint32_t)atoi(v); bo.conns_given = true; }
        else if (!strcmp(a, "--depth")) { bo.depth = (uint32_t)atoi(v); bo.depth_given = true; }
        else if (!strcmp(a, "--rate")) { bo.rate = atof(v); bo.mode = MODE_RATE; if (!(bo.rate > 0 && bo.rate <= 1e7)) bench_usage(); }
        else if (!strcmp(a, "--users")) { bo.users = (uint32_t)atoi(v); bo.mode = MODE_USERS; }
        else if (!strcmp(a, "--think")) { bo.think_ms = atof(v); if (!(bo.think_ms >= 0 && bo.think_ms <= 3600e3)) bench_usage(); }
        else if (!strcmp(a, "--mix")) { if (!parse_mix(v)) { fprintf(stderr, "ncpc: bench: bad --mix '%s'\n", v); bench_usage(); } }
        else if (!strcmp(a, "--seed")) bo.seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--duration")) bo.duration = atof(v);
        else if (!strcmp(a, "--count")) bo.count = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--read-size")) bo.read_size = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--write-pct")) bo.write_pct = (uint32_t)atoi(v);
        else if (!strcmp(a, "--files")) bo.files = v;
        else if (!strcmp(a, "--nfiles")) bo.nfiles = (uint32_t)atoi(v);
        else if (!strcmp(a, "--json")) bo.json = v;
        else if (!strcmp(a, "--op")) bo.op = v;
        else if (!strcmp(a, "--scratch")) bo.scratch = v;
        else bench_usage();
        i++;
    }
    if (!bo.conns || bo.conns > 10000 || !bo.depth || bo.depth > 1024 || bo.write_pct > 100 ||
        !bo.read_size || bo.read_size > NCP_MAX_FRAME_LIMIT - 64 || bo.duration <= 0)
        bench_usage();
    if (strcmp(bo.op, "read") && strcmp(bo.op, "stat") && strcmp(bo.op, "ping")) bench_usage();
    if (bo.scratch && (bo.scratch[0] != '/' || strlen(bo.scratch) >= 48 || !strcmp(bo.scratch, "/"))) {
        fprintf(stderr, "ncpc: bench: --scratch wants an absolute directory other than / (under 48 bytes)\n");
        bench_usage();
    }
    if (bo.rate > 0 && bo.users) {
        fprintf(stderr, "ncpc: bench: --rate and --users are two ways to offer load: pick one\n");
        bench_usage();
    }
    if (bo.mode == MODE_USERS) {
        if (!bo.users || bo.users > 100000) bench_usage();
        if (!bo.conns_given) bo.conns = bo.users <= 10000 ? bo.users : 10000;   /* one connection per user */
        if (bo.conns > bo.users) bo.conns = bo.users;
        uint32_t per = (bo.users + bo.conns - 1) / bo.conns;
        if (per > 1024) bench_usage();
        if (bo.depth < per) bo.depth = per;         /* a slot for each user of a connection */
    }
    if (bo.null_rpc && (bo.mix || bo.write_pct || bo.fsync || bo.files)) {
        fprintf(stderr, "ncpc: bench: --null-rpc sends null requests only (no --mix, --write-pct, --fsync, --files)\n");
        bench_usage();
    }
    if (bo.mix && bo.write_pct) {
        fprintf(stderr, "ncpc: bench: --mix sets the share of writes itself (no --write-pct)\n");
        bench_usage();
    }
    if (bo.fsync && !bo.write_pct) {
        fprintf(stderr, "ncpc: bench: --fsync syncs after writes: it needs --write-pct above 0\n");
        bench_usage();
    }
}

static void add_file(const char *path, uint64_t size)
{
    files = realloc(files, (nfiles + 1) * sizeof *files);
    files[nfiles].path = strdup(path);
    files[nfiles].dir = strdup(path);
    char *slash = strrchr(files[nfiles].dir, '/');
    if (slash == files[nfiles].dir || !slash) strcpy(files[nfiles].dir, "/");
    else *slash = '\0';
    files[nfiles].size = size;
    nfiles++;
}

/* Resolves --files: a list, a directory, or DIR/GLOB. */
static int choose_files(struct ncpc *c)
{
    if (!bo.files) return 0;
    char *spec = strdup(bo.files), *save = NULL;
    bool single = !strchr(spec, ',');
    const char *star = strpbrk(spec, "*?[");
    if (single) {
        char *dir = spec, *pattern = NULL;
        struct ncp_stat st;
        if (star) {
            char *slash = strrchr(spec, '/');
            if (slash) { *slash = '\0'; pattern = slash + 1; dir = *spec ? spec : "/"; }
            else { pattern = spec; dir = "/"; }
        }
        int e = remote_stat(c, dir, &st);
        if (e) { free(spec); return report(c, e, "bench: files", dir); }
        if (st.type == NCP_FT_DIR) {
            uint64_t cookie = 0;
            while (nfiles < bo.nfiles) {
                struct ncp_request rq = ncpc_req(NCP_FN_READDIR);
                struct ncpc_reply r;
                rq.u.readdir.path = ncpc_str(dir);
                rq.u.readdir.cookie = cookie;
                e = ncpc_call(c, &rq, &r);
                if (e) { ncpc_reply_free(&r); free(spec); return report(c, e, "bench: list", dir); }
                size_t pos = 0;
                struct ncp_dirent d;
                while (nfiles < bo.nfiles && ncp_dirent_next(&r.rp, &pos, &d)) {
                    char name[NCP_NAME_MAX + 1], path[NCP_PATH_MAX + 2];
                    memcpy(name, d.name, d.name_len);
                    name[d.name_len] = '\0';
                    if (d.type != NCP_FT_FILE || (pattern && fnmatch(pattern, name, 0))) continue;
                    snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") ? dir : "", name);
                    add_file(path, d.size);
                }
                cookie = r.rp.u.readdir.next_cookie;
                bool eof = r.rp.u.readdir.eof;
                ncpc_reply_free(&r);
                if (eof) break;
            }
            free(spec);
            if (!nfiles) { fprintf(stderr, "ncpc: bench: no files match %s\n", bo.files); return 1; }
            return 0;
        }
    }
    for (char *p = strtok_r(spec, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        struct ncp_stat st;
        int e = remote_stat(c, p, &st);
        if (e) { free(spec); return report(c, e, "bench: file", p); }
        if (st.type != NCP_FT_FILE) { fprintf(stderr, "ncpc: bench: %s is not a file\n", p); free(spec); return 1; }
        add_file(p, st.size);
    }
    free(spec);
    return 0;
}

/* Runs one request kind on every live connection: send all, then wait all
 * (pipelined across connections).  fill() builds connection i's request. */
typedef void (*fill_fn)(struct bconn *b, uint32_t i, struct ncp_request *rq, void *arg);
typedef void (*done_fn)(struct bconn *b, uint32_t i, struct ncpc_reply *r, void *arg);

static uint64_t setup_errors;

static void phase(struct bconn *bc, uint32_t n, fill_fn fill, done_fn done, void *arg, const char *what)
{
    uint32_t *tags = calloc(n, sizeof *tags);
    for (uint32_t i = 0; i < n; i++) {
        if (bc[i].dead) continue;
        struct ncp_request rq;
        memset(&rq, 0, sizeof rq);
        fill(&bc[i], i, &rq, arg);
        tags[i] = ncpc_send(&bc[i].c, &rq);
        if (!tags[i]) bc[i].dead = true;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!tags[i]) continue;
        struct ncpc_reply r;
        int e = ncpc_wait(&bc[i].c, tags[i], &r);
        if (e == 0 && done) done(&bc[i], i, &r, arg);
        if (e && !(e == NCP_E_EXIST && !strcmp(what, "mkdir"))) {
            if (setup_errors++ < 5) report(&bc[i].c, e, what, NULL);
            if (e < 0 || strcmp(what, "unlink")) bc[i].dead = true;
        }
        ncpc_reply_free(&r);
    }
    free(tags);
}

static void fill_negotiate(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_NEGOTIATE;
    rq->u.negotiate.version = NCP_VERSION;
    uint32_t biggest = bo.mix && bo.read_size < MIX_READ_MAX ? MIX_READ_MAX : bo.read_size;
    uint32_t want = biggest + 64;
    rq->u.negotiate.max_frame = want < 4096 ? 4096 : want;
}
static void done_negotiate(struct bconn *b, uint32_t i, struct ncpc_reply *r, void *a)
{
    b->c.conn = r->rp.u.negotiate.conn;
    b->c.max_inflight = r->rp.u.negotiate.max_inflight;
    b->c.max_frame = r->rp.u.negotiate.max_frame;
    b->pending_frame = r->rp.u.negotiate.max_frame;   /* buffers resized after the reply is freed */
}
static void fill_challenge(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_CHALLENGE;
    rq->u.challenge.user = ncpc_str(g_opts.user);
}
static uint8_t (*proofs)[NCP_HASH_SIZE];
static void done_challenge(struct bconn *b, uint32_t i, struct ncpc_reply *r, void *pw)
{
    uint8_t stored[NCP_HASH_SIZE];
    ncp_auth_stored_hash(r->rp.u.challenge.salt, r->rp.u.challenge.salt_len, pw, strlen(pw), stored);
    ncp_auth_proof(r->rp.u.challenge.nonce, stored, proofs[i]);
}
static void fill_login(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_LOGIN;
    rq->u.login.user = ncpc_str(g_opts.user);
    memcpy(rq->u.login.proof, proofs[i], NCP_HASH_SIZE);
}
static void fill_open(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    uint32_t f = *(uint32_t *)a;
    rq->h.function = NCP_FN_OPEN;
    rq->u.open.flags = NCP_O_READ;
    rq->u.open.path = ncpc_str(files[f].path);
}
static void done_open(struct bconn *b, uint32_t i, struct ncpc_reply *r, void *a)
{
    b->handles[*(uint32_t *)a] = r->rp.u.open.handle;
}
static char scratch_dir[64];
static char *scratch_path(uint32_t i)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/c%u", scratch_dir, i);
    return p;
}
static void fill_mkdir(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_MKDIR;
    rq->u.mkdir.mode = 0755;
    rq->u.mkdir.path = ncpc_str(scratch_dir);
}
static void fill_scratch(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_OPEN;
    rq->u.open.flags = NCP_O_READ | NCP_O_WRITE | NCP_O_CREATE | NCP_O_TRUNC;
    rq->u.open.mode = 0644;
    rq->u.open.path = ncpc_str(scratch_path(i));   /* encoded before the next call */
}
static void done_scratch(struct bconn *b, uint32_t i, struct ncpc_reply *r, void *a)
{
    b->scratch = r->rp.u.open.handle;
}
static void fill_rmdir(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_RMDIR;
    rq->u.path.path = ncpc_str(scratch_dir);
}
static void fill_unlink(struct bconn *b, uint32_t i, struct ncp_request *rq, void *a)
{
    rq->h.function = NCP_FN_UNLINK;
    rq->u.path.path = ncpc_str(scratch_path(i));
}

/* ---- the run loop ---- */

struct results {
    uint64_t requests, errors, bytes, transport_errors;
    uint64_t arrivals;          /* --rate: arrivals generated (sent, queued or dropped) */
    uint64_t unsent;            /* --rate: still queued when the run ended (errors) */
    uint64_t by_code[NCP_E_COUNT];
    uint64_t kind_sent[K_COUNT], kind_errors[K_COUNT];
};
static struct results res;
static struct hdr_hist lat_all, lat_kind[K_COUNT];    /* nanoseconds */

static void record_latency(enum kind k, double seconds)
{
    uint64_t ns = seconds <= 0 ? 0 : (uint64_t)(seconds * 1e9);
    hdr_record(&lat_all, ns);
    hdr_record(&lat_kind[k], ns);
}

static int epfd;
static uint64_t g_inflight;
static uint32_t g_live;                 /* connections not lost */
static struct bconn *g_bc;
static struct sched_fifo queue;         /* --rate: arrivals waiting for a slot */
static struct sched_ring ready;         /* --rate: connections with a free slot */
static struct sched_heap thinking;      /* --users: users by the time their next request is due */
static struct sched_rng think_rng;
static uint8_t null_req[NULL_RPC_REQ];
static uint8_t null_reply[NULL_RPC_REPLY];

static void arm(struct bconn *b, bool want_out)
{
    if (want_out == b->want_out) return;
    b->want_out = want_out;
    struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = b };
    epoll_ctl(epfd, EPOLL_CTL_MOD, b->c.fd, &ev);
}

static void kill_conn(struct bconn *b)
{
    if (b->dead) return;
    b->dead = true;
    g_live--;
    res.transport_errors++;
    res.errors += b->inflight;
    for (uint32_t s = 0; s < bo.depth && b->inflight; s++) {
        bool is_free = false;
        for (uint32_t k = 0; k < b->nfree; k++) is_free |= b->free_slots[k] == s;
        if (!is_free) res.kind_errors[b->slot_kind[s]]++;
    }
    g_inflight -= b->inflight;
    b->inflight = 0;
    epoll_ctl(epfd, EPOLL_CTL_DEL, b->c.fd, NULL);
}

static void flush(struct bconn *b)
{
    while (b->out_off < b->out_len) {
        ssize_t n = send(b->c.fd, b->out + b->out_off, b->out_len - b->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) { kill_conn(b); return; }
        b->out_off += (size_t)n;
    }
    if (b->out_off == b->out_len) b->out_off = b->out_len = 0;
    arm(b, b->out_len > 0);
}

static void out_room(struct bconn *b, size_t need)
{
    if (b->out_cap - b->out_len < need) {
        b->out_cap = b->out_len + need + 4096;
        b->out = realloc(b->out, b->out_cap);
    }
}

/* Appends rq to the connection's output under a fresh tag for `slot`. */
static void encode_request(struct bconn *b, struct ncp_request *rq, uint16_t slot)
{
    rq->h.tag = (++b->next_gen << 10) | slot;      /* depth <= 1024 */
    rq->h.seq = b->next_gen;
    rq->h.conn = b->c.conn;
    out_room(b, NCP_LEN_SIZE + b->c.max_frame);
    size_t n = ncp_encode_request(b->out + b->out_len, b->out_cap - b->out_len, rq);
    if (!n) { fprintf(stderr, "ncpc: bench: request too large for the frame\n"); exit(1); }
    b->out_len += n;
}

/* The kind of the next request. */
static enum kind pick_kind(void)
{
    if (bo.null_rpc) return K_NULL;
    if (bo.mix) {
        uint32_t r = (uint32_t)(rnd() % bo.mix_total);
        for (int k = 0; k < MIX_KINDS; k++) {
            if (r < bo.mix_w[k]) return (enum kind)k;
            r -= bo.mix_w[k];
        }
        return K_WRITE;
    }
    if (bo.write_pct && rnd() % 100 < bo.write_pct) return K_WRITE;
    if (!strcmp(bo.op, "ping") || !nfiles) return K_PING;
    if (!strcmp(bo.op, "stat")) return K_STAT;
    return K_READ;
}

/* Encodes one request on a free slot of b; its latency starts at `start` (the intended
 * send time: now in the closed loop, the arrival in an open one). */
static uint16_t queue_request(struct bconn *b, double start)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    uint16_t slot = b->free_slots[--b->nfree];
    enum kind k = pick_kind();
    if (k == K_NULL) {
        out_room(b, NULL_RPC_REQ);
        memcpy(b->out + b->out_len, null_req, NULL_RPC_REQ);
        b->out_len += NULL_RPC_REQ;
        b->order[(b->order_head + b->order_len++) % bo.depth] = slot;
    } else {
        uint32_t f = nfiles ? (uint32_t)(rnd() % nfiles) : 0;
        if (k == K_WRITE) {
            rq.h.function = NCP_FN_WRITE;
            rq.u.write.handle = b->scratch;
            rq.u.write.offset = (rnd() % 256) * (uint64_t)bo.read_size;
            rq.u.write.data.ptr = write_data;
            rq.u.write.data.len = bo.read_size;
        } else if (k == K_PING) {
            rq.h.function = NCP_FN_PING;
            rq.u.ping.data.ptr = write_data;
            rq.u.ping.data.len = 16;
        } else if (k == K_STAT) {
            rq.h.function = NCP_FN_STAT;
            rq.u.path.path = ncpc_str(files[f].path);
        } else if (k == K_READDIR) {
            rq.h.function = NCP_FN_READDIR;
            rq.u.readdir.path = ncpc_str(files[f].dir);
            rq.u.readdir.cookie = 0;
        } else {
            uint32_t size = bo.read_size;
            if (bo.mix) {
                uint32_t max = b->c.max_frame > 64 + MIX_READ_MIN ? b->c.max_frame - 64 : MIX_READ_MIN;
                if (max > MIX_READ_MAX) max = MIX_READ_MAX;
                size = MIX_READ_MIN * (1 + (uint32_t)(rnd() % (max / MIX_READ_MIN)));
            }
            uint64_t blocks = files[f].size > size ? files[f].size / size : 1;
            rq.h.function = NCP_FN_READ;
            rq.u.read.handle = b->handles[f];
            rq.u.read.offset = (rnd() % blocks) * size;
            rq.u.read.count = size;
        }
        encode_request(b, &rq, slot);
    }
    b->sent_at[slot] = start;
    b->slot_kind[slot] = (uint8_t)k;
    b->inflight++;
    g_inflight++;
    res.requests++;
    res.kind_sent[k]++;
    return slot;
}

/* --fsync: the second half of a write.  It keeps the write's slot, start
 * time and in-flight count, so the pair is one request everywhere (--count,
 * draining at the end, errors of a lost connection). */
static void queue_fsync(struct bconn *b, uint16_t slot)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = NCP_FN_FSYNC;
    rq.u.handle.handle = b->scratch;
    encode_request(b, &rq, slot);
}

/* Closed loop: tops a connection up to `depth` requests in flight and sends them. */
static void refill(struct bconn *b, double now, bool stopping)
{
    if (b->dead) return;
    while (bo.mode == MODE_CLOSED && !stopping && b->nfree && !(bo.count && res.requests >= bo.count))
        queue_request(b, now);
    if (b->out_len) flush(b);
}

/* --rate: sched_dispatch's sender (the intended time is the arrival's). */
static int send_queued(void *ctx, uint32_t conn, double intended)
{
    struct bconn *b = &g_bc[conn];
    if (b->dead || !b->nfree)
        return -1;                                 /* lost since it joined the ring */
    queue_request(b, intended);
    flush(b);
    return !b->dead && b->nfree > 0;
}

/* A request of slot is answered (or failed): its latency, then what the mode does next. */
static void complete_slot(struct bconn *b, uint16_t slot, double now, bool failed)
{
    enum kind k = (enum kind)b->slot_kind[slot];
    record_latency(k, now - b->sent_at[slot]);
    if (failed) res.kind_errors[k]++;
    b->free_slots[b->nfree++] = slot;
    b->inflight--;
    g_inflight--;
    if (bo.mode == MODE_RATE)
        sched_ring_push(&ready, b->idx);
    else if (bo.mode == MODE_USERS)
        sched_heap_push(&thinking, now + sched_exp(&think_rng, bo.think_ms / 1000.0), b->slot_user[slot]);
}

static void on_frame(struct bconn *b, const uint8_t *f, size_t len, double now)
{
    struct ncp_header h;
    ncp_header_get(f + NCP_LEN_SIZE, &h);
    if (h.type == NCP_TYPE_BUSY) return;
    uint16_t slot = h.tag & 1023;
    if (slot >= bo.depth || b->inflight == 0) { res.errors++; return; }
    if (bo.fsync && h.function == NCP_FN_WRITE && !h.completion) {
        queue_fsync(b, slot);                      /* sent by the refill that follows this read */
        return;
    }
    if (h.completion) {
        res.errors++;
        if (h.completion < NCP_E_COUNT) res.by_code[h.completion]++;
    } else if (h.function == NCP_FN_READ && len >= NCP_READ_REPLY_DATA_OFF) {
        res.bytes += ncp_get32(f + NCP_LEN_SIZE + NCP_HDR_SIZE);
    } else if (h.function == NCP_FN_WRITE || h.function == NCP_FN_FSYNC) {
        res.bytes += bo.read_size;                 /* FSYNC only ever follows a write */
    }
    complete_slot(b, slot, now, h.completion != 0);
}

/* --null-rpc: replies are NULL_RPC_REPLY bytes each, in order; every byte is checked. */
static void on_null_bytes(struct bconn *b, const uint8_t *p, size_t n, double now)
{
    while (n) {
        if (!b->order_len) {                       /* bytes nobody asked for */
            fprintf(stderr, "ncpc: bench: null-rpc: %zu bytes beyond the replies asked for\n", n);
            kill_conn(b);
            return;
        }
        size_t take = NULL_RPC_REPLY - b->rx_have;
        if (take > n) take = n;
        if (memcmp(p, null_reply + b->rx_have, take)) {
            fprintf(stderr, "ncpc: bench: null-rpc: reply bytes differ from the pattern\n");
            kill_conn(b);
            return;
        }
        b->rx_have += (uint32_t)take;
        p += take;
        n -= take;
        if (b->rx_have == NULL_RPC_REPLY) {
            b->rx_have = 0;
            uint16_t slot = b->order[b->order_head];
            b->order_head = (b->order_head + 1) % bo.depth;
            b->order_len--;
            res.bytes += NULL_RPC_REPLY;
            complete_slot(b, slot, now, false);
        }
    }
}

static void on_readable(struct bconn *b, double now)
{
    uint8_t buf[64 * 1024];
    for (;;) {
        ssize_t n = recv(b->c.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) { kill_conn(b); return; }
        if (bo.null_rpc) {
            on_null_bytes(b, buf, (size_t)n, now);
            if (b->dead) return;
        } else {
            size_t used = 0;
            while (used < (size_t)n) {
                used += ncp_reasm_feed(&b->c.ra, buf + used, (size_t)n - used);
                const uint8_t *f;
                size_t fl;
                int r = ncp_reasm_frame(&b->c.ra, &f, &fl);
                if (r == NCP_REASM_ERROR) { kill_conn(b); return; }
                if (r == NCP_REASM_FRAME) { on_frame(b, f, fl, now); ncp_reasm_consume(&b->c.ra); }
            }
        }
        if ((size_t)n < sizeof buf) return;
    }
}

/* Open loop: arrivals due by now into the queue, then out to free slots. */
static struct sched_poisson arrivals;
static void offer_rate(double now, bool stopping)
{
    double t;
    while (!stopping && !(bo.count && res.arrivals >= bo.count) && sched_poisson_due(&arrivals, now, &t)) {
        res.arrivals++;
        if (!sched_fifo_push(&queue, t)) res.errors++;     /* the client-side queue is full */
    }
    sched_dispatch(&queue, &ready, send_queued, NULL);
}

/* Users: those whose think time is over send their next request. */
static void offer_users(double now, bool stopping)
{
    struct sched_heap_entry e;
    while (!stopping && !(bo.count && res.requests >= bo.count) && sched_heap_pop_due(&thinking, now, &e)) {
        struct bconn *b = &g_bc[e.id % bo.conns];
        if (b->dead || !b->nfree) continue;        /* a lost connection loses its users */
        uint16_t slot = queue_request(b, e.t);
        b->slot_user[slot] = e.id;
        flush(b);
    }
}

/* When the loop must wake next (seconds from now, at most 50 ms). */
static double next_wake(double now, double stop_at, bool stopping)
{
    double next = now + 0.05;
    if (!stopping && stop_at < next) next = stop_at;
    if (!stopping && bo.mode == MODE_RATE && arrivals.next < next) next = arrivals.next;
    if (!stopping && bo.mode == MODE_USERS) {
        double u = sched_heap_next(&thinking, next);
        if (u < next) next = u;
    }
    return next > now ? next - now : 0;
}

static double pct_us(const struct hdr_hist *h, double q) { return hdr_quantile(h, q) / 1000.0; }

static void raise_fd_limit(uint32_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    if (rl.rlim_cur < need + 64) {
        rl.rlim_cur = rl.rlim_max < need + 64 ? rl.rlim_max : need + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need + 16)
        fprintf(stderr, "ncpc: bench: warning: descriptor limit %llu is below --conns %u\n",
                (unsigned long long)rl.rlim_cur, need);
}

static const char *mode_name(void)
{
    return bo.mode == MODE_RATE ? "rate" : bo.mode == MODE_USERS ? "users" : "closed";
}

static void print_text(uint32_t live, double elapsed, double rps, double mbps)
{
    printf("bench: %s:%d conns=%u depth=%u op=%s read-size=%u write-pct=%u fsync=%d files=%u\n",
           g_opts.host, g_opts.port, live, bo.depth, bo.null_rpc ? "null-rpc" : bo.mix ? "mix" : bo.op,
           bo.read_size, bo.write_pct, bo.fsync, nfiles);
    if (bo.mode == MODE_RATE)
        printf("load open loop: rate %.1f req/s (Poisson), arrivals %llu, queue peak %u, dropped %llu, unsent %llu\n",
               bo.rate, (unsigned long long)res.arrivals, queue.peak, (unsigned long long)queue.dropped,
               (unsigned long long)res.unsent);
    else if (bo.mode == MODE_USERS)
        printf("load users: %u users, think %.1f ms (exponential), over %u connections\n", bo.users, bo.think_ms, live);
    else
        printf("load closed loop: depth %u per connection\n", bo.depth);
    printf("requests %llu  completed %llu  errors %llu  elapsed %.2f s\n", (unsigned long long)res.requests,
           (unsigned long long)lat_all.total, (unsigned long long)res.errors, elapsed);
    printf("throughput %.1f req/s  %.2f MB/s\n", rps, mbps);
    printf("latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  mean %.1f  max %.1f\n",
           pct_us(&lat_all, 0.50), pct_us(&lat_all, 0.90), pct_us(&lat_all, 0.99), pct_us(&lat_all, 0.999),
           hdr_mean(&lat_all) / 1000.0, lat_all.max / 1000.0);
    for (int k = 0; k < K_COUNT; k++) {
        const struct hdr_hist *h = &lat_kind[k];
        if (!res.kind_sent[k]) continue;
        printf("  %-8s sent %llu  errors %llu  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us\n",
               kind_name[k], (unsigned long long)res.kind_sent[k], (unsigned long long)res.kind_errors[k],
               pct_us(h, 0.50), pct_us(h, 0.90), pct_us(h, 0.99), pct_us(h, 0.999), h->max / 1000.0);
    }
    for (unsigned k = 1; k < NCP_E_COUNT; k++)
        if (res.by_code[k]) printf("  %llu x %s (%s)\n", (unsigned long long)res.by_code[k], ncp_errname(k), ncp_strerror(k));
}

static int write_json(uint32_t live, double elapsed, double rps, double mbps)
{
    FILE *j = fopen(bo.json, "w");
    if (!j) { fprintf(stderr, "ncpc: bench: %s: %s\n", bo.json, strerror(errno)); return 1; }
    /* the fields of the closed-loop version first, unchanged (scripts/bench-workloads.sh) */
    fprintf(j, "{\"server\":\"%s:%d\",\"conns\":%u,\"depth\":%u,\"op\":\"%s\",\"read_size\":%u,"
               "\"write_pct\":%u,\"fsync\":%d,\"files\":%u,\"duration_s\":%.3f,\"requests\":%llu,\"completed\":%llu,"
               "\"errors\":%llu,\"transport_errors\":%llu,\"req_per_s\":%.1f,\"mb_per_s\":%.3f,"
               "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"mean\":%.1f,\"max\":%.1f,\"p90\":%.1f,\"p9999\":%.1f}",
            g_opts.host, g_opts.port, live, bo.depth, bo.null_rpc ? "null-rpc" : bo.mix ? "mix" : bo.op,
            bo.read_size, bo.write_pct, bo.fsync, nfiles, elapsed,
            (unsigned long long)res.requests, (unsigned long long)lat_all.total, (unsigned long long)res.errors,
            (unsigned long long)res.transport_errors, rps, mbps, pct_us(&lat_all, 0.50), pct_us(&lat_all, 0.99),
            pct_us(&lat_all, 0.999), hdr_mean(&lat_all) / 1000.0, lat_all.max / 1000.0,
            pct_us(&lat_all, 0.90), pct_us(&lat_all, 0.9999));
    fprintf(j, ",\"mode\":\"%s\",\"rate\":%.1f,\"users\":%u,\"think_ms\":%.1f,\"arrivals\":%llu,"
               "\"queue_peak\":%u,\"queue_dropped\":%llu,\"unsent\":%llu,\"null_rpc\":%d",
            mode_name(), bo.rate, bo.users, bo.think_ms, (unsigned long long)res.arrivals, queue.peak,
            (unsigned long long)queue.dropped, (unsigned long long)res.unsent, bo.null_rpc);
    fprintf(j, ",\"kinds\":{");
    bool first = true;
    for (int k = 0; k < K_COUNT; k++) {
        const struct hdr_hist *h = &lat_kind[k];
        if (!res.kind_sent[k]) continue;
        fprintf(j, "%s\"%s\":{\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,\"p50\":%.1f,\"p90\":%.1f,"
                   "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}", first ? "" : ",", kind_name[k],
                (unsigned long long)res.kind_sent[k], (unsigned long long)h->total,
                (unsigned long long)res.kind_errors[k], pct_us(h, 0.50), pct_us(h, 0.90), pct_us(h, 0.99),
                pct_us(h, 0.999), h->max / 1000.0);
        first = false;
    }
    fprintf(j, "}}\n");
    fclose(j);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    parse(argc, argv);
    raise_fd_limit(bo.conns);
    rng = bo.seed ? bo.seed : 1;
    hdr_init(&lat_all);
    for (int k = 0; k < K_COUNT; k++) hdr_init(&lat_kind[k]);
    const char *pw = NULL;
    struct bconn *bc = calloc(bo.conns, sizeof *bc);
    g_bc = bc;
    if (!bo.null_rpc) {
        pw = get_password();
        if (!pw) return 1;
        setenv("NCP_PASSWORD", pw, 1);             /* session_open below asks again */
        /* Connection 0 also resolves the file set. */
        if (session_open(&bc[0].c, NCP_DEFAULT_MAX_FRAME)) return 1;
        if (choose_files(&bc[0].c)) return 1;
        if (!strcmp(bo.op, "read") && !nfiles && bo.write_pct < 100 && !bo.mix)
            fprintf(stderr, "ncpc: bench: no --files given: sending PING requests instead of reads\n");
        if (bo.mix && !nfiles && bo.mix_w[K_WRITE] < bo.mix_total) {
            fprintf(stderr, "ncpc: bench: --mix reads, stats and lists files: it needs --files\n");
            return 1;
        }
        ncpc_close(&bc[0].c);
    }

    double t0 = now_seconds();
    for (uint32_t i = 0; i < bo.conns; i++) {
        bc[i].idx = i;
        if (ncpc_connect(&bc[i].c, g_opts.host, g_opts.port)) {
            report(&bc[i].c, -1, "bench: connect", NULL);
            fprintf(stderr, "ncpc: bench: only %u of %u connections opened\n", i, bo.conns);
            return 1;
        }
        bc[i].handles = calloc(nfiles ? nfiles : 1, sizeof *bc[i].handles);
    }
    bool need_scratch = bo.write_pct || (bo.mix && bo.mix_w[K_WRITE]);
    bool need_open = (!strcmp(bo.op, "read") && !bo.mix) || (bo.mix && bo.mix_w[K_READ]);
    if (!bo.null_rpc) {
        proofs = calloc(bo.conns, sizeof *proofs);
        phase(bc, bo.conns, fill_negotiate, done_negotiate, NULL, "negotiate");
        for (uint32_t i = 0; i < bo.conns; i++)
            if (!bc[i].dead && ncpc_set_max_frame(&bc[i].c, bc[i].pending_frame)) bc[i].dead = true;
        phase(bc, bo.conns, fill_challenge, done_challenge, (void *)pw, "challenge");
        phase(bc, bo.conns, fill_login, NULL, NULL, "login");
        for (uint32_t f = 0; f < nfiles && need_open; f++)
            phase(bc, bo.conns, fill_open, done_open, &f, "open");
        snprintf(scratch_dir, sizeof scratch_dir, "%s", bo.scratch ? bo.scratch : "/bench.tmp");
        if (need_scratch) {
            phase(bc, 1, fill_mkdir, NULL, NULL, "mkdir");
            phase(bc, bo.conns, fill_scratch, done_scratch, NULL, "open scratch");
        }
        for (uint32_t i = 0; i < bo.conns; i++)
            if (!bc[i].dead && bc[i].c.max_inflight && bo.depth > bc[i].c.max_inflight) {
                fprintf(stderr, "ncpc: bench: depth %u is above the server's %u requests in flight per connection%s\n",
                        bo.depth, bc[i].c.max_inflight, bo.mode == MODE_USERS ? " (use more --conns for these users)" : "");
                return 1;
            }
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < bo.conns; i++) live += !bc[i].dead;
    if (!live) { fprintf(stderr, "ncpc: bench: no connection survived setup\n"); return 1; }
    fprintf(stderr, "bench: %u connections ready in %.2fs (%llu setup errors)\n", live,
            now_seconds() - t0, (unsigned long long)setup_errors);

    write_data = malloc(bo.read_size > 16 ? bo.read_size : 16);
    for (uint32_t i = 0; i < bo.read_size; i++) write_data[i] = (uint8_t)rnd();
    for (uint32_t i = 0; i < NULL_RPC_REQ; i++) null_req[i] = (uint8_t)i;
    for (uint32_t i = 0; i < NULL_RPC_REPLY; i++) null_reply[i] = null_rpc_byte(i);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (bo.mode == MODE_RATE &&
        (sched_fifo_init(&queue, QUEUE_MAX) || sched_ring_init(&ready, bo.conns))) {
        fprintf(stderr, "ncpc: bench: out of memory\n");
        return 1;
    }
    if (bo.mode == MODE_USERS && sched_heap_init(&thinking, bo.users)) {
        fprintf(stderr, "ncpc: bench: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < bo.conns; i++) {
        struct bconn *b = &bc[i];
        b->free_slots = malloc(bo.depth * sizeof *b->free_slots);
        b->sent_at = calloc(bo.depth, sizeof *b->sent_at);
        b->slot_kind = calloc(bo.depth, 1);
        b->slot_user = calloc(bo.depth, sizeof *b->slot_user);
        b->order = calloc(bo.depth, sizeof *b->order);
        for (uint32_t k = 0; k < bo.depth; k++) b->free_slots[k] = (uint16_t)(bo.depth - 1 - k);
        b->nfree = bo.depth;
        if (b->dead) continue;
        fcntl(b->c.fd, F_SETFL, fcntl(b->c.fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = b };
        epoll_ctl(epfd, EPOLL_CTL_ADD, b->c.fd, &ev);
        if (bo.mode == MODE_RATE) sched_ring_push(&ready, i);
    }

    double start = now_seconds(), stop_at = start + bo.duration, now = start;
    bool stopping = false;
    struct epoll_event evs[512];
    if (bo.mode == MODE_RATE) sched_poisson_init(&arrivals, start, bo.rate, bo.seed);
    if (bo.mode == MODE_USERS) {
        /* each user starts thinking at the start: their first requests spread out */
        sched_rng_seed(&think_rng, bo.seed ^ 0x5bd1e995u);
        for (uint32_t u = 0; u < bo.users; u++)
            sched_heap_push(&thinking, start + sched_exp(&think_rng, bo.think_ms / 1000.0), u);
    }
    g_live = live;
    for (uint32_t i = 0; i < bo.conns; i++) refill(&bc[i], now, stopping);
    for (;;) {
        now = now_seconds();
        if (!stopping && (now >= stop_at || (bo.count && res.requests >= bo.count) ||
                          (bo.count && bo.mode == MODE_RATE && res.arrivals >= bo.count))) stopping = true;
        if (bo.mode == MODE_RATE) offer_rate(now, stopping || now >= stop_at);
        if (bo.mode == MODE_USERS) offer_users(now, stopping);
        if (stopping && ((g_inflight == 0 && queue.len == 0) || now > stop_at + DRAIN_S)) break;
        double wait = next_wake(now, stop_at, stopping);
        struct timespec ts = { .tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) };
        int n = epoll_pwait2(epfd, evs, 512, &ts, NULL);
        now = now_seconds();
        for (int i = 0; i < n; i++) {
            struct bconn *b = evs[i].data.ptr;
            if (b->dead) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(b, now);
            if (!b->dead && (evs[i].events & EPOLLOUT)) flush(b);
            refill(b, now, stopping || now >= stop_at);
        }
        if (!g_live) break;                        /* nothing queued can ever be sent */
    }
    double elapsed = now - start;
    if (bo.mode == MODE_RATE) {
        res.unsent = queue.len;
        res.errors += queue.len;
    }

    /* Cleanup: blocking again; remove scratch files unless --keep. */
    for (uint32_t i = 0; i < bo.conns; i++) {
        if (bc[i].dead) continue;
        if (bc[i].inflight) {                      /* timed out: do not reuse; they count as errors */
            res.errors += bc[i].inflight;
            bc[i].dead = true;
            continue;
        }
        fcntl(bc[i].c.fd, F_SETFL, fcntl(bc[i].c.fd, F_GETFL) & ~O_NONBLOCK);
    }
    if (need_scratch && !bo.keep) {
        phase(bc, bo.conns, fill_unlink, NULL, NULL, "unlink");
        uint32_t first = 0;
        while (first < bo.conns && bc[first].dead) first++;
        if (first < bo.conns) phase(bc + first, 1, fill_rmdir, NULL, NULL, "unlink");  /* others may remain */
    }

    double rps = elapsed > 0 ? (double)lat_all.total / elapsed : 0;
    double mbps = elapsed > 0 ? (double)res.bytes / elapsed / 1e6 : 0;
    print_text(live, elapsed, rps, mbps);
    if (bo.json && write_json(live, elapsed, rps, mbps)) return 1;
    for (uint32_t i = 0; i < bo.conns; i++) {
        ncpc_close(&bc[i].c);
        free(bc[i].handles); free(bc[i].out); free(bc[i].free_slots); free(bc[i].sent_at);
        free(bc[i].slot_kind); free(bc[i].slot_user); free(bc[i].order);
    }
    free(bc);
    sched_fifo_free(&queue);
    sched_ring_free(&ready);
    sched_heap_free(&thinking);
    /* Server error replies are results, not failures; lost connections are. */
    return res.transport_errors || lat_all.total == 0 ? 1 : 0;
}
