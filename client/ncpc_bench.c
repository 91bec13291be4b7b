/* ncpc_bench.c - `ncpc bench`: the load generator.
 *
 * Opens N logged-in connections (setup is pipelined across connections),
 * then drives them from one epoll loop with non-blocking sockets, keeping
 * `depth` requests in flight on each.  Stops at --duration or --count,
 * whichever comes first, and reports requests/s, MB/s, latency
 * percentiles and errors (optionally as JSON).  With --fsync a write is
 * followed by an FSYNC of its scratch file and counts as done (one request,
 * latency to the FSYNC reply) only once that reply is in.
 */
#include "client/ncpc.h"
#include "client/progress.h"
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
#include <unistd.h>

struct bench_opts {
    uint32_t conns, depth, read_size, write_pct, nfiles;
    double duration;
    uint64_t count;
    const char *files, *json, *op;
    bool keep, fsync;
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
    double *sent_at;            /* by slot */
    bool dead, want_out;
    uint32_t pending_frame;
};

struct bench_file { char *path; uint64_t size; };

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
        "                  [--json FILE] [--keep] [--fsync]\n"
        "  Requests go to random offsets of the chosen files (reads), or to a scratch\n"
        "  file per connection under /bench.tmp (writes, --write-pct percent of them).\n"
        "  --fsync: each write is followed by an FSYNC of the scratch file; the pair is\n"
        "  one request, its latency from the WRITE sent to the FSYNC answered.\n"
        "  The run stops at --duration seconds (default 10) or --count requests.\n");
    exit(2);
}

static void parse(int argc, char **argv)
{
    bo = (struct bench_opts){ 1, 1, 4096, 0, 100, 10.0, 0, NULL, NULL, "read", false, false };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) bench_usage();
        /* flags first: they take no value, so they may come last */
        if (!strcmp(a, "--keep")) { bo.keep = true; continue; }
        if (!strcmp(a, "--fsync")) { bo.fsync = true; continue; }
        if (!v) bench_usage();
        if (!strcmp(a, "--conns")) bo.conns = (uint32_t)atoi(v);
        else if (!strcmp(a, "--depth")) bo.depth = (uint32_t)atoi(v);
        else if (!strcmp(a, "--duration")) bo.duration = atof(v);
        else if (!strcmp(a, "--count")) bo.count = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--read-size")) bo.read_size = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--write-pct")) bo.write_pct = (uint32_t)atoi(v);
        else if (!strcmp(a, "--files")) bo.files = v;
        else if (!strcmp(a, "--nfiles")) bo.nfiles = (uint32_t)atoi(v);
        else if (!strcmp(a, "--json")) bo.json = v;
        else if (!strcmp(a, "--op")) bo.op = v;
        else bench_usage();
        i++;
    }
    if (!bo.conns || bo.conns > 10000 || !bo.depth || bo.depth > 1024 || bo.write_pct > 100 ||
        !bo.read_size || bo.read_size > NCP_MAX_FRAME_LIMIT - 64 || bo.duration <= 0)
        bench_usage();
    if (strcmp(bo.op, "read") && strcmp(bo.op, "stat") && strcmp(bo.op, "ping")) bench_usage();
    if (bo.fsync && !bo.write_pct) {
        fprintf(stderr, "ncpc: bench: --fsync syncs after writes: it needs --write-pct above 0\n");
        bench_usage();
    }
}

static void add_file(const char *path, uint64_t size)
{
    files = realloc(files, (nfiles + 1) * sizeof *files);
    files[nfiles].path = strdup(path);
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
    uint32_t want = bo.read_size + 64;
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
    uint32_t *lat;              /* units of 100 ns */
    size_t nlat, lat_cap;
    uint64_t by_code[NCP_E_COUNT];
};
static struct results res;

static void record_latency(double seconds)
{
    if (res.nlat == res.lat_cap) {
        res.lat_cap = res.lat_cap ? res.lat_cap * 2 : 1 << 16;
        res.lat = realloc(res.lat, res.lat_cap * sizeof *res.lat);
    }
    double u = seconds * 1e7;
    res.lat[res.nlat++] = u > 4e9 ? 4000000000u : (uint32_t)u;
}

static int epfd;
static uint64_t g_inflight;

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
    res.transport_errors++;
    res.errors += b->inflight;
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

/* Appends rq to the connection's output under a fresh tag for `slot`. */
static void encode_request(struct bconn *b, struct ncp_request *rq, uint16_t slot)
{
    rq->h.tag = (++b->next_gen << 10) | slot;      /* depth <= 1024 */
    rq->h.seq = b->next_gen;
    rq->h.conn = b->c.conn;
    size_t need = NCP_LEN_SIZE + b->c.max_frame;
    if (b->out_cap - b->out_len < need) {
        b->out_cap = b->out_len + need + 4096;
        b->out = realloc(b->out, b->out_cap);
    }
    size_t n = ncp_encode_request(b->out + b->out_len, b->out_cap - b->out_len, rq);
    if (!n) { fprintf(stderr, "ncpc: bench: request too large for the frame\n"); exit(1); }
    b->out_len += n;
}

static void queue_request(struct bconn *b, double now)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    uint16_t slot = b->free_slots[--b->nfree];
    bool write = bo.write_pct && rnd() % 100 < bo.write_pct;
    if (write) {
        rq.h.function = NCP_FN_WRITE;
        rq.u.write.handle = b->scratch;
        rq.u.write.offset = (rnd() % 256) * (uint64_t)bo.read_size;
        rq.u.write.data.ptr = write_data;
        rq.u.write.data.len = bo.read_size;
    } else if (!strcmp(bo.op, "ping") || !nfiles) {
        rq.h.function = NCP_FN_PING;
        rq.u.ping.data.ptr = write_data;
        rq.u.ping.data.len = 16;
    } else {
        uint32_t f = (uint32_t)(rnd() % nfiles);
        if (!strcmp(bo.op, "stat")) {
            rq.h.function = NCP_FN_STAT;
            rq.u.path.path = ncpc_str(files[f].path);
        } else {
            uint64_t blocks = files[f].size > bo.read_size ? files[f].size / bo.read_size : 1;
            rq.h.function = NCP_FN_READ;
            rq.u.read.handle = b->handles[f];
            rq.u.read.offset = (rnd() % blocks) * bo.read_size;
            rq.u.read.count = bo.read_size;
        }
    }
    encode_request(b, &rq, slot);
    b->sent_at[slot] = now;
    b->inflight++;
    g_inflight++;
    res.requests++;
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

/* Tops a connection up to `depth` requests in flight and sends them. */
static void refill(struct bconn *b, double now, bool stopping)
{
    if (b->dead) return;
    while (!stopping && b->nfree && !(bo.count && res.requests >= bo.count)) queue_request(b, now);
    if (b->out_len) flush(b);
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
    record_latency(now - b->sent_at[slot]);
    b->free_slots[b->nfree++] = slot;
    b->inflight--;
    g_inflight--;
    if (h.completion) {
        res.errors++;
        if (h.completion < NCP_E_COUNT) res.by_code[h.completion]++;
    } else if (h.function == NCP_FN_READ && len >= NCP_READ_REPLY_DATA_OFF) {
        res.bytes += ncp_get32(f + NCP_LEN_SIZE + NCP_HDR_SIZE);
    } else if (h.function == NCP_FN_WRITE || h.function == NCP_FN_FSYNC) {
        res.bytes += bo.read_size;                 /* FSYNC only ever follows a write */
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
        size_t used = 0;
        while (used < (size_t)n) {
            used += ncp_reasm_feed(&b->c.ra, buf + used, (size_t)n - used);
            const uint8_t *f;
            size_t fl;
            int r = ncp_reasm_frame(&b->c.ra, &f, &fl);
            if (r == NCP_REASM_ERROR) { kill_conn(b); return; }
            if (r == NCP_REASM_FRAME) { on_frame(b, f, fl, now); ncp_reasm_consume(&b->c.ra); }
        }
        if ((size_t)n < sizeof buf) return;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!res.nlat) return 0;
    size_t i = (size_t)(p * (double)(res.nlat - 1) + 0.5);
    return res.lat[i] / 10.0;                      /* microseconds */
}

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

int cmd_bench(int argc, char **argv)
{
    parse(argc, argv);
    raise_fd_limit(bo.conns);
    const char *pw = get_password();
    if (!pw) return 1;
    setenv("NCP_PASSWORD", pw, 1);                 /* session_open below asks again */

    /* Connection 0 also resolves the file set. */
    struct bconn *bc = calloc(bo.conns, sizeof *bc);
    if (session_open(&bc[0].c, NCP_DEFAULT_MAX_FRAME)) return 1;
    if (choose_files(&bc[0].c)) return 1;
    if (!strcmp(bo.op, "read") && !nfiles && bo.write_pct < 100)
        fprintf(stderr, "ncpc: bench: no --files given: sending PING requests instead of reads\n");
    ncpc_close(&bc[0].c);

    double t0 = now_seconds();
    for (uint32_t i = 0; i < bo.conns; i++) {
        if (ncpc_connect(&bc[i].c, g_opts.host, g_opts.port)) {
            report(&bc[i].c, -1, "bench: connect", NULL);
            fprintf(stderr, "ncpc: bench: only %u of %u connections opened\n", i, bo.conns);
            return 1;
        }
        bc[i].handles = calloc(nfiles ? nfiles : 1, sizeof *bc[i].handles);
    }
    proofs = calloc(bo.conns, sizeof *proofs);
    phase(bc, bo.conns, fill_negotiate, done_negotiate, NULL, "negotiate");
    for (uint32_t i = 0; i < bo.conns; i++)
        if (!bc[i].dead && ncpc_set_max_frame(&bc[i].c, bc[i].pending_frame)) bc[i].dead = true;
    phase(bc, bo.conns, fill_challenge, done_challenge, (void *)pw, "challenge");
    phase(bc, bo.conns, fill_login, NULL, NULL, "login");
    for (uint32_t f = 0; f < nfiles && !strcmp(bo.op, "read"); f++)
        phase(bc, bo.conns, fill_open, done_open, &f, "open");
    snprintf(scratch_dir, sizeof scratch_dir, "/bench.tmp");
    if (bo.write_pct) {
        phase(bc, 1, fill_mkdir, NULL, NULL, "mkdir");
        phase(bc, bo.conns, fill_scratch, done_scratch, NULL, "open scratch");
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < bo.conns; i++) live += !bc[i].dead;
    if (!live) { fprintf(stderr, "ncpc: bench: no connection survived setup\n"); return 1; }
    fprintf(stderr, "bench: %u connections ready in %.2fs (%llu setup errors)\n", live,
            now_seconds() - t0, (unsigned long long)setup_errors);

    write_data = malloc(bo.read_size > 16 ? bo.read_size : 16);
    for (uint32_t i = 0; i < bo.read_size; i++) write_data[i] = (uint8_t)rnd();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    for (uint32_t i = 0; i < bo.conns; i++) {
        struct bconn *b = &bc[i];
        b->free_slots = malloc(bo.depth * sizeof *b->free_slots);
        b->sent_at = calloc(bo.depth, sizeof *b->sent_at);
        for (uint32_t k = 0; k < bo.depth; k++) b->free_slots[k] = (uint16_t)(bo.depth - 1 - k);
        b->nfree = bo.depth;
        if (b->dead) continue;
        fcntl(b->c.fd, F_SETFL, fcntl(b->c.fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = b };
        epoll_ctl(epfd, EPOLL_CTL_ADD, b->c.fd, &ev);
    }

    double start = now_seconds(), stop_at = start + bo.duration, now = start;
    bool stopping = false;
    struct epoll_event evs[512];
    for (uint32_t i = 0; i < bo.conns; i++) refill(&bc[i], now, stopping);
    for (;;) {
        now = now_seconds();
        if (!stopping && (now >= stop_at || (bo.count && res.requests >= bo.count))) stopping = true;
        if (stopping && (g_inflight == 0 || now > stop_at + 10)) break;
        int n = epoll_wait(epfd, evs, 512, 50);
        now = now_seconds();
        for (int i = 0; i < n; i++) {
            struct bconn *b = evs[i].data.ptr;
            if (b->dead) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(b, now);
            if (!b->dead && (evs[i].events & EPOLLOUT)) flush(b);
            refill(b, now, stopping || now >= stop_at);
        }
    }
    double elapsed = now - start;

    /* Cleanup: blocking again; remove scratch files unless --keep. */
    for (uint32_t i = 0; i < bo.conns; i++) {
        if (bc[i].dead) continue;
        if (bc[i].inflight) { bc[i].dead = true; continue; }   /* timed out: do not reuse */
        fcntl(bc[i].c.fd, F_SETFL, fcntl(bc[i].c.fd, F_GETFL) & ~O_NONBLOCK);
    }
    if (bo.write_pct && !bo.keep) {
        phase(bc, bo.conns, fill_unlink, NULL, NULL, "unlink");
        uint32_t first = 0;
        while (first < bo.conns && bc[first].dead) first++;
        if (first < bo.conns) phase(bc + first, 1, fill_rmdir, NULL, NULL, "unlink");  /* others may remain */
    }

    qsort(res.lat, res.nlat, sizeof *res.lat, cmp_u32);
    double mean = 0;
    for (size_t i = 0; i < res.nlat; i++) mean += res.lat[i] / 10.0;
    if (res.nlat) mean /= (double)res.nlat;
    double rps = elapsed > 0 ? (double)res.nlat / elapsed : 0, mbps = elapsed > 0 ? (double)res.bytes / elapsed / 1e6 : 0;
    double maxl = res.nlat ? res.lat[res.nlat - 1] / 10.0 : 0;
    printf("bench: %s:%d conns=%u depth=%u op=%s read-size=%u write-pct=%u fsync=%d files=%u\n",
           g_opts.host, g_opts.port, live, bo.depth, bo.op, bo.read_size, bo.write_pct, bo.fsync, nfiles);
    printf("requests %llu  completed %zu  errors %llu  elapsed %.2f s\n", (unsigned long long)res.requests,
           res.nlat, (unsigned long long)res.errors, elapsed);
    printf("throughput %.1f req/s  %.2f MB/s\n", rps, mbps);
    printf("latency us  p50 %.1f  p99 %.1f  p99.9 %.1f  mean %.1f  max %.1f\n",
           pct(0.50), pct(0.99), pct(0.999), mean, maxl);
    for (unsigned k = 1; k < NCP_E_COUNT; k++)
        if (res.by_code[k]) printf("  %llu x %s (%s)\n", (unsigned long long)res.by_code[k], ncp_errname(k), ncp_strerror(k));
    if (bo.json) {
        FILE *j = fopen(bo.json, "w");
        if (!j) { fprintf(stderr, "ncpc: bench: %s: %s\n", bo.json, strerror(errno)); return 1; }
        fprintf(j, "{\"server\":\"%s:%d\",\"conns\":%u,\"depth\":%u,\"op\":\"%s\",\"read_size\":%u,"
                   "\"write_pct\":%u,\"fsync\":%d,\"files\":%u,\"duration_s\":%.3f,\"requests\":%llu,\"completed\":%zu,"
                   "\"errors\":%llu,\"transport_errors\":%llu,\"req_per_s\":%.1f,\"mb_per_s\":%.3f,"
                   "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"mean\":%.1f,\"max\":%.1f}}\n",
                g_opts.host, g_opts.port, live, bo.depth, bo.op, bo.read_size, bo.write_pct, bo.fsync, nfiles,
                elapsed,
                (unsigned long long)res.requests, res.nlat, (unsigned long long)res.errors,
                (unsigned long long)res.transport_errors, rps, mbps, pct(0.50), pct(0.99), pct(0.999), mean, maxl);
        fclose(j);
    }
    for (uint32_t i = 0; i < bo.conns; i++) {
        ncpc_close(&bc[i].c);
        free(bc[i].handles); free(bc[i].out); free(bc[i].free_slots); free(bc[i].sent_at);
    }
    free(bc);
    /* Server error replies are results, not failures; lost connections are. */
    return res.transport_errors || res.nlat == 0 ? 1 : 0;
}
