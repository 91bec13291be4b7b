/* fuzz_engine.c - libFuzzer harness for the protocol engine (server/) over the memory fs.
 *
 * One server and two connections per input, driven the way an embedder drives them (see
 * server/ncp_server.h).  The input is a script of ops; each op starts with a byte
 *     bit 0     the connection (0 or 1)
 *     bit 1     may_block: run on the blocking path (else the non-blocking one; work it hands
 *               back is queued and run later, by a RUN op or at the end of the input)
 *     bits 2-7  the op, modulo OP_COUNT:
 *   OP_RAW      u16 n, n bytes: header + payload of one frame (the harness writes the length
 *               prefix and the tag); a frame the connection's limit refuses is a bad stream
 *   OP_REQUEST  a request built from the bytes that follow (function, paths from a table or
 *               the input, small handles, offsets and counts): reaches deep with few bytes
 *   OP_LOGIN    u8 k: CHALLENGE + LOGIN as fuzz user k (the harness computes the proof; the
 *               last two k are a wrong password and an unknown user)
 *   OP_RECONNECT  the connection is dropped (requests and lock waits in flight included) and
 *               a new one opened
 *   OP_RUN      u8 n: runs up to n+1 queued pieces of blocking work
 *
 * Checked, for every input:
 *  - every frame the engine sends decodes as a reply (ncp_decode_reply), carries the
 *    connection's number, and answers a request that connection sent (tag 0 only for frames
 *    without a readable header); no request gets two final replies; BUSY only for lock waits;
 *  - after the queued work ran, the requests left unanswered on a live connection are lock
 *    waits, exactly as many as ncp_conn_inflight says;
 *  - once both connections are gone: a new admin connection sees conn.current 1 and
 *    conn.open_handles 0 in STATS and can lock the whole of every file exclusively (no lock
 *    outlived its connection);
 *  - after server and fs are destroyed, no fs_alloc'ed block is left (fuzz_port.c counts);
 *  - ASan/UBSan/LSan stay quiet, and libFuzzer's -timeout catches a hang.
 * Users: setup_users() below is the one place that knows the users file format. */
#include "server/ncp_server.h"
#include "server/ncp_memfs.h"
#include "proto/ncp_auth.h"
#include "fuzz_check.h"
#include "fuzz_port.h"

#include <stdio.h>
#include <string.h>

enum { OP_RAW, OP_REQUEST, OP_LOGIN, OP_RECONNECT, OP_RUN, OP_COUNT };

#define TAGS_MAX   8192
#define QUEUE_MAX  64
#define RAW_MAX    2048

/* ---- the users this harness logs in as ---- */
struct fuzz_user { const char *name, *password; bool admin; const char *ids; };
static const struct fuzz_user users[] = {
    { "user", "pw", false, "1000:100:300" },
    { "guest", "guest", false, "1001:101:" },
    { "admin", "root", true, "0:0:" },
};
#define NUSERS (sizeof users / sizeof users[0])
#define ADMIN_USER 2

/* Writes /etc/ncp-users for `users` (the one function that knows the file format:
 * name:salthex:hashhex:uid:gid:groups:flags, and %group:gid lines), owned by the admin,
 * mode 0600.  Returns the first error. */
static int setup_users(struct ncp_memfs *fs)
{
    static char text[2048];
    static size_t n;
    if (!n) {                                   /* the same text for every input */
        n = (size_t)snprintf(text, sizeof text, "# fuzz users\n%%staff:100\n%%guests:101\n%%proj:300\n");
        for (unsigned i = 0; i < NUSERS; i++) {
            uint8_t salt[4] = { 1, 2, 3, (uint8_t)i }, hash[NCP_HASH_SIZE];
            ncp_auth_stored_hash(salt, sizeof salt, users[i].password, strlen(users[i].password), hash);
            n += (size_t)snprintf(text + n, sizeof text - n, "%s:010203%02x:", users[i].name, i);
            for (int k = 0; k < NCP_HASH_SIZE; k++)
                n += (size_t)snprintf(text + n, sizeof text - n, "%02x", hash[k]);
            n += (size_t)snprintf(text + n, sizeof text - n, ":%s:%s\n", users[i].ids,
                                  users[i].admin ? "admin" : "");
        }
    }
    int e = ncp_memfs_put(fs, "/etc/ncp-users", text, n);
    if (!e)
        e = ncp_memfs_chattr(fs, "/etc/ncp-users", 0600, 0, 0);
    return e;
}

/* ---- the engine's clock (intruder detection) ---- */
static uint64_t fuzz_ms;
static uint64_t fuzz_now(void *arg)
{
    (void)arg;
    return fuzz_ms;
}

/* ---- the volume ---- */
static const char *const paths[] = {
    "/", "/d", "/d/f", "/d/sub", "/pub", "/pub/a", "/big", "/new", "/d/new", "/etc",
    "/etc/ncp-users", "d//f/", "/./pub/./a", "/d/f/x", "/a/../b", "",
};
#define NPATHS (sizeof paths / sizeof paths[0])
/* Files the final check locks (those of the initial volume and the two create targets). */
static const char *const files[] = { "/d/f", "/pub/a", "/big", "/new", "/d/new", "/etc/ncp-users" };
#define NFILES (sizeof files / sizeof files[0])

static void setup_volume(struct ncp_memfs *fs)
{
    static uint8_t big[12000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    FUZZ_CHECK(ncp_memfs_put(fs, "/d/f", "0123456789", 10) == 0);
    FUZZ_CHECK(ncp_memfs_put(fs, "/d/sub/.keep", "", 0) == 0);
    FUZZ_CHECK(ncp_memfs_put(fs, "/pub/a", "hello", 5) == 0);
    FUZZ_CHECK(ncp_memfs_put(fs, "/big", big, sizeof big) == 0);
    FUZZ_CHECK(setup_users(fs) == 0);
    /* The demo layout and owners of every kind, so permission checks are reached both ways:
     * a sticky world-writable root, /etc the admin's, /d user's (group-writable by staff),
     * /d/sub private to user, /pub guest's and world-readable, /big the admin's 0640. */
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/", 01777, 0, 0) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/etc", 0755, 0, 0) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/d", 0775, 1000, 100) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/d/f", 0664, 1000, 100) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/d/sub", 0700, 1000, 100) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/pub", 0755, 1001, 101) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/pub/a", 0644, 1001, 101) == 0);
    FUZZ_CHECK(ncp_memfs_chattr(fs, "/big", 0640, 0, 300) == 0);
    /* symlinks the resolver must handle: into user's private /d/sub, past the root, to the
     * users file, a loop, a dangling one */
    static const char *const links[][2] = {
        { "../../d/sub", "/pub/up" }, { "/../../etc/ncp-users", "/d/abs" }, { "loop", "/loop" },
        { "nowhere/x", "/pub/dangling" }, { "f", "/d/rel" },
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        FUZZ_CHECK(ncp_memfs_ops.symlink(fs, links[i][1], links[i][0], (uint32_t)strlen(links[i][0]), 1001, 101,
                                         NULL) == 0);
}

/* SYMLINK targets: a few that climb, point at private places or loop, else input bytes. */
static const char *const targets[] = { "..", "../../..", "/etc/ncp-users", "/d/sub", "f", "loop", "/pub/up/x", "." };
#define NTARGETS (sizeof targets / sizeof targets[0])

/* ---- connections and what was said on them ---- */
struct tag_info {
    uint8_t peer;
    uint8_t fn;
    bool lock_wait;             /* a LOCK with NCP_LOCK_WAIT (may stay unanswered) */
    bool closed;                /* its connection is gone: no reply expected */
    uint8_t finals, busies;
};

struct peer {
    struct ncp_conn *c;
    unsigned index;
    bool have_challenge;
    uint8_t salt[NCP_SALT_MAX], salt_len, nonce[NCP_NONCE_SIZE];
    uint32_t last_tag;          /* of the last reply (the probe reads its replies through it) */
    uint8_t last_completion;
    uint8_t last_frame[4096];
    size_t last_len;
};

struct job { struct ncp_conn *c; uint8_t *frame; size_t len; };

static struct ncp_server *srv;
static struct ncp_memfs *vol;
static struct peer peers[3];    /* two fuzzed connections and the final probe */
static struct tag_info tags[TAGS_MAX];
static uint32_t ntags;
static struct job queue[QUEUE_MAX];
static unsigned nqueue;
static uint8_t rng_counter;

static void fuzz_random(void *arg, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = rng_counter++;
}

/* FUZZ_TRACE=1 in the environment prints every reply (to see how far an input gets). */
static int trace = -1;

static void on_send(void *arg, const uint8_t *frame, size_t len)
{
    struct peer *p = arg;
    struct ncp_reply rp;
    FUZZ_CHECK(ncp_decode_reply(frame, len, &rp) == NCP_OK);
    if (trace < 0)
        trace = getenv("FUZZ_TRACE") != NULL;
    if (trace)
        fprintf(stderr, "conn %u tag %u: %s fn 0x%02x %s\n", p->index, (unsigned)rp.h.tag,
                rp.h.type == NCP_TYPE_BUSY ? "BUSY " : "reply", rp.h.function,
                ncp_errname(rp.h.completion));
    FUZZ_CHECK(rp.h.conn == ncp_conn_number(p->c));
    uint32_t tag = rp.h.tag;
    FUZZ_CHECK(tag < ntags + 1);
    if (tag) {
        struct tag_info *t = &tags[tag - 1];
        FUZZ_CHECK(t->peer == p->index);
        FUZZ_CHECK(!t->closed);
        FUZZ_CHECK(rp.h.function == t->fn);
        if (rp.h.type == NCP_TYPE_BUSY) {
            FUZZ_CHECK(t->lock_wait && t->finals == 0);
            t->busies++;
        } else {
            t->finals++;
            FUZZ_CHECK(t->finals == 1);
        }
    }
    if (rp.h.type == NCP_TYPE_REPLY && rp.h.function == NCP_FN_CHALLENGE && rp.h.completion == NCP_OK) {
        p->have_challenge = true;
        p->salt_len = rp.u.challenge.salt_len;
        memcpy(p->salt, rp.u.challenge.salt, p->salt_len);
        memcpy(p->nonce, rp.u.challenge.nonce, NCP_NONCE_SIZE);
    }
    if (rp.h.type == NCP_TYPE_REPLY) {
        p->last_tag = tag;
        p->last_completion = rp.h.completion;
        p->last_len = len <= sizeof p->last_frame ? len : 0;
        memcpy(p->last_frame, frame, p->last_len);
    }
}

/* The gather send: the pieces must add up to one well-formed reply. */
static void on_sendv(void *arg, const struct ncp_iov *iov, unsigned n)
{
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += iov[i].len;
    uint8_t *f = malloc(len), *w = f;
    for (unsigned i = 0; i < n; i++) {
        memcpy(w, iov[i].base, iov[i].len);
        w += iov[i].len;
    }
    on_send(arg, f, len);
    free(f);
}

static void peer_open(struct peer *p, unsigned index, bool sendv)
{
    memset(p, 0, sizeof *p);
    p->index = index;
    p->c = ncp_conn_create(srv, on_send, p);    /* NULL after SHUTDOWN: the peer stays idle */
    if (p->c && sendv)
        ncp_conn_set_sendv(p->c, on_sendv);
}

static void peer_close(struct peer *p)
{
    if (!p->c)
        return;
    ncp_conn_destroy(p->c);
    p->c = NULL;
    for (uint32_t i = 0; i < ntags; i++)
        if (tags[i].peer == p->index)
            tags[i].closed = true;
}

/* Runs queued blocking work, oldest first (a connection may be gone by now: allowed). */
static void run_queue(unsigned max)
{
    while (nqueue && max--) {
        struct job j = queue[0];
        memmove(queue, queue + 1, sizeof queue[0] * --nqueue);
        int r = ncp_conn_handle_blocking(j.c, j.frame, j.len);
        FUZZ_CHECK(r == NCP_HANDLED || r == NCP_CLOSE_CONN);
        free(j.frame);
    }
}

static uint32_t new_tag(unsigned peer, uint8_t *frame, size_t len)
{
    struct ncp_request rq;
    if (ntags == TAGS_MAX)
        return 0;
    struct tag_info *t = &tags[ntags++];
    memset(t, 0, sizeof *t);
    t->peer = (uint8_t)peer;
    t->fn = frame[NCP_LEN_SIZE + 2];
    ncp_put32(frame + NCP_LEN_SIZE + 12, ntags);
    if (ncp_decode_request(frame, len, &rq) == NCP_OK && rq.h.function == NCP_FN_LOCK)
        t->lock_wait = (rq.u.lock.flags & NCP_LOCK_WAIT) != 0;
    return ntags;
}

/* Hands one whole frame (prefix included, a private copy the harness may keep) to peer p as
 * the embedder would; the frame is freed or queued. */
static void submit(struct peer *p, uint8_t *frame, size_t len, bool may_block)
{
    if (!p->c) {
        free(frame);
        return;
    }
    if (len - NCP_LEN_SIZE > ncp_conn_max_frame(p->c) || len - NCP_LEN_SIZE < NCP_MIN_FRAME) {
        ncp_conn_bad_stream(p->c);              /* what the reassembler would report */
        free(frame);
        peer_close(p);
        peer_open(p, p->index, p->index == 0);
        return;
    }
    if (len >= NCP_LEN_SIZE + NCP_HDR_SIZE && !new_tag(p->index, frame, len)) {
        free(frame);                            /* out of tags: the input is long enough */
        return;
    }
    int r = ncp_conn_handle(p->c, frame, len, may_block);
    if (r == NCP_WOULD_BLOCK) {
        FUZZ_CHECK(!may_block);
        if (nqueue == QUEUE_MAX)
            run_queue(1);
        queue[nqueue++] = (struct job){ p->c, frame, len };
        return;
    }
    if (r == NCP_RETRY) {                       /* past the limit, refusal queue full */
        FUZZ_CHECK(!may_block);
        ncp_conn_refuse(p->c, frame, len);
        r = NCP_HANDLED;
    }
    free(frame);
    if (r == NCP_CLOSE_CONN) {
        peer_close(p);
        peer_open(p, p->index, p->index == 0);
        return;
    }
    FUZZ_CHECK(r == NCP_HANDLED);
}

static void submit_request(struct peer *p, struct ncp_request *rq, bool may_block)
{
    size_t cap = NCP_LEN_SIZE + NCP_HDR_SIZE + 64 + 2 * 1024 + RAW_MAX;
    uint8_t *frame = malloc(cap);
    size_t n = ncp_encode_request(frame, cap, rq);
    if (!n) {
        free(frame);
        return;
    }
    submit(p, frame, n, may_block);
}

/* ---- building requests from input bytes ---- */
static char path_buf[2][256];

static struct ncp_str take_path(struct fuzz_in *in, int slot)
{
    uint8_t b = fin_u8(in);
    struct ncp_str s;
    if (b & 0x80) {                             /* from the input */
        size_t n;
        const uint8_t *src = fin_bytes(in, b & 0x7f, &n);
        memcpy(path_buf[slot], src, n);
        s.ptr = path_buf[slot];
        s.len = (uint16_t)n;
        return s;
    }
    s.ptr = paths[b % NPATHS];
    s.len = (uint16_t)strlen(s.ptr);
    return s;
}

static uint32_t take_handle(struct fuzz_in *in)
{
    uint8_t b = fin_u8(in);
    if (b == 0xff)
        return fin_u32(in);
    if (b == 0xfe)
        return NCP_HANDLE_NONE;
    return 1u + b % 8u;
}

/* Offsets and lengths: small mostly, sometimes anything. */
static uint64_t take_off(struct fuzz_in *in)
{
    uint8_t b = fin_u8(in);
    if (b == 0xff) {
        uint64_t hi = fin_u32(in);
        return hi << 32 | fin_u32(in);
    }
    if (b >= 0xf0)
        return (uint64_t)fin_u16(in) << (b & 15);
    return b;
}

static const uint8_t functions[] = {
    NCP_FN_NEGOTIATE, NCP_FN_CHALLENGE, NCP_FN_LOGIN, NCP_FN_LOGOUT, NCP_FN_PING, NCP_FN_OPEN,
    NCP_FN_CREATE, NCP_FN_READ, NCP_FN_WRITE, NCP_FN_CLOSE, NCP_FN_STAT, NCP_FN_FSTAT,
    NCP_FN_READDIR, NCP_FN_UNLINK, NCP_FN_RENAME, NCP_FN_MKDIR, NCP_FN_RMDIR, NCP_FN_TRUNCATE,
    NCP_FN_LOCK, NCP_FN_UNLOCK, NCP_FN_FSYNC, NCP_FN_STATFS, NCP_FN_STATS, NCP_FN_SHUTDOWN,
    NCP_FN_SYMLINK, NCP_FN_READLINK, NCP_FN_LINK, NCP_FN_LSTAT,
};

static void op_request(struct fuzz_in *in, struct peer *p, bool may_block)
{
    struct ncp_request rq;
    static uint8_t data[RAW_MAX];
    size_t n;
    memset(&rq, 0, sizeof rq);
    rq.h.function = functions[fin_u8(in) % sizeof functions];
    switch (rq.h.function) {
    case NCP_FN_NEGOTIATE:
        rq.u.negotiate.version = fin_u8(in) % 3;
        rq.u.negotiate.max_frame = (uint32_t)take_off(in) << 4;
        break;
    case NCP_FN_CHALLENGE:
    case NCP_FN_LOGIN: {
        uint8_t k = fin_u8(in);
        const char *name = k < NUSERS ? users[k].name : "nobody";
        rq.u.challenge.user.ptr = name;
        rq.u.challenge.user.len = (uint16_t)strlen(name);
        break;
    }
    case NCP_FN_PING:
        rq.u.ping.data.ptr = fin_bytes(in, fin_u8(in), &n);
        rq.u.ping.data.len = (uint32_t)n;
        break;
    case NCP_FN_OPEN:
    case NCP_FN_CREATE:
        rq.u.open.flags = fin_u8(in) & 0x7f;
        rq.u.open.mode = fin_u8(in) & 1 ? 0600 : 0;
        rq.u.open.path = take_path(in, 0);
        break;
    case NCP_FN_READ:
        rq.u.read.handle = take_handle(in);
        rq.u.read.offset = take_off(in);
        rq.u.read.count = (uint32_t)take_off(in) & 0x1fffff;
        break;
    case NCP_FN_WRITE: {
        rq.u.write.handle = take_handle(in);
        rq.u.write.offset = take_off(in);
        uint8_t len = fin_u8(in);
        memset(data, 'w', len);
        const uint8_t *src = fin_bytes(in, len & 7, &n);
        memcpy(data, src, n);
        rq.u.write.data.ptr = data;
        rq.u.write.data.len = len;
        break;
    }
    case NCP_FN_CLOSE:
    case NCP_FN_FSTAT:
    case NCP_FN_FSYNC:
        rq.u.handle.handle = take_handle(in);
        break;
    case NCP_FN_STAT:
    case NCP_FN_UNLINK:
    case NCP_FN_RMDIR:
    case NCP_FN_READLINK:
    case NCP_FN_LSTAT:
        rq.u.path.path = take_path(in, 0);
        break;
    case NCP_FN_SYMLINK: {
        uint8_t k = fin_u8(in);
        if (k & 0x80) {
            rq.u.symlink.target = take_path(in, 1);   /* any bytes (the codec decides) */
        } else {
            rq.u.symlink.target.ptr = targets[k % NTARGETS];
            rq.u.symlink.target.len = (uint16_t)strlen(targets[k % NTARGETS]);
        }
        rq.u.symlink.path = take_path(in, 0);
        break;
    }
    case NCP_FN_LINK:
        rq.u.link.existing = take_path(in, 0);
        rq.u.link.newpath = take_path(in, 1);
        break;
    case NCP_FN_READDIR:
        rq.u.readdir.path = take_path(in, 0);
        rq.u.readdir.cookie = take_off(in);
        rq.u.readdir.max_entries = fin_u8(in);
        break;
    case NCP_FN_RENAME:
        rq.u.rename.from = take_path(in, 0);
        rq.u.rename.to = take_path(in, 1);
        break;
    case NCP_FN_MKDIR:
        rq.u.mkdir.mode = fin_u8(in) & 1 ? 0700 : 0;
        rq.u.mkdir.path = take_path(in, 0);
        break;
    case NCP_FN_TRUNCATE:
        rq.u.truncate.handle = take_handle(in);
        rq.u.truncate.size = take_off(in);
        break;
    case NCP_FN_LOCK:
    case NCP_FN_UNLOCK:
        rq.u.lock.handle = take_handle(in);
        rq.u.lock.offset = take_off(in);
        rq.u.lock.length = take_off(in);
        if (rq.h.function == NCP_FN_LOCK)
            rq.u.lock.flags = fin_u8(in) & NCP_LOCK_ALL;
        break;
    case NCP_FN_STATS:
        rq.u.stats.first = fin_u8(in);
        break;
    default:
        break;
    }
    submit_request(p, &rq, may_block);
}

static void op_raw(struct fuzz_in *in, struct peer *p, bool may_block)
{
    size_t n;
    size_t want = fin_u16(in) % (RAW_MAX + 1);
    const uint8_t *src = fin_bytes(in, want, &n);
    uint8_t *frame = malloc(NCP_LEN_SIZE + n);
    ncp_put32(frame, (uint32_t)n);
    memcpy(frame + NCP_LEN_SIZE, src, n);
    submit(p, frame, NCP_LEN_SIZE + n, may_block);
}

/* CHALLENGE then LOGIN on the blocking path, the proof computed from the challenge reply. */
static void login(struct peer *p, unsigned k)
{
    const char *name = k < NUSERS + 1 ? users[k < NUSERS ? k : 0].name : "nobody";
    const char *pw = k < NUSERS ? users[k].password : "wrong";
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = NCP_FN_CHALLENGE;
    rq.u.challenge.user.ptr = name;
    rq.u.challenge.user.len = (uint16_t)strlen(name);
    p->have_challenge = false;
    submit_request(p, &rq, true);
    if (!p->c || !p->have_challenge)
        return;
    uint8_t stored[NCP_HASH_SIZE];
    ncp_auth_stored_hash(p->salt, p->salt_len, pw, strlen(pw), stored);
    memset(&rq, 0, sizeof rq);
    rq.h.function = NCP_FN_LOGIN;
    rq.u.login.user.ptr = name;
    rq.u.login.user.len = (uint16_t)strlen(name);
    ncp_auth_proof(p->nonce, stored, rq.u.login.proof);
    submit_request(p, &rq, true);
}

/* ---- end of input: nothing may outlive its connection ---- */
static void check_unanswered(struct peer *p)
{
    if (!p->c)
        return;
    uint32_t open = 0;
    for (uint32_t i = 0; i < ntags; i++) {
        const struct tag_info *t = &tags[i];
        if (t->peer != p->index || t->closed || t->finals)
            continue;
        FUZZ_CHECK(t->lock_wait);
        open++;
    }
    FUZZ_CHECK(ncp_conn_inflight(p->c) == open);
}

/* Asks for STATS; the counter `name` of the reply (which on_send kept in last_frame). */
static uint64_t stats_value(struct peer *p, const char *name, bool ask)
{
    struct ncp_request rq;
    struct ncp_reply rp;
    if (ask) {
        memset(&rq, 0, sizeof rq);
        rq.h.function = NCP_FN_STATS;
        submit_request(p, &rq, true);
        FUZZ_CHECK(p->last_completion == NCP_OK && p->last_len);
    }
    FUZZ_CHECK(ncp_decode_reply(p->last_frame, p->last_len, &rp) == NCP_OK);
    FUZZ_CHECK(rp.h.function == NCP_FN_STATS);
    size_t pos = 0;
    char n[NCP_STAT_NAME_MAX + 1];
    uint64_t v;
    while (ncp_counter_next(&rp, &pos, n, &v))
        if (strcmp(n, name) == 0)
            return v;
    FUZZ_CHECK(!"counter missing");
    return 0;
}

static void probe_locks_and_handles(void)
{
    struct peer *p = &peers[2];
    /* An admin of the input may have removed or replaced the users file: put it back (if
     * the input made that impossible, e.g. /etc is now a file, only the alloc check runs). */
    if (setup_users(vol) != 0)
        return;
    peer_open(p, 2, false);
    FUZZ_CHECK(p->c);
    login(p, ADMIN_USER);
    FUZZ_CHECK(p->last_completion == NCP_OK);
    FUZZ_CHECK(stats_value(p, "conn.current", true) == 1);
    FUZZ_CHECK(stats_value(p, "conn.open_handles", false) == 0);
    for (unsigned i = 0; i < NFILES; i++) {
        struct ncp_request rq;
        struct ncp_reply rp;
        memset(&rq, 0, sizeof rq);
        rq.h.function = NCP_FN_OPEN;
        rq.u.open.flags = NCP_O_READ;
        rq.u.open.path.ptr = files[i];
        rq.u.open.path.len = (uint16_t)strlen(files[i]);
        submit_request(p, &rq, true);
        if (p->last_completion != NCP_OK)
            continue;                           /* renamed or removed by the input */
        FUZZ_CHECK(ncp_decode_reply(p->last_frame, p->last_len, &rp) == NCP_OK);
        uint32_t h = rp.u.open.handle;
        memset(&rq, 0, sizeof rq);
        rq.h.function = NCP_FN_LOCK;
        rq.u.lock.handle = h;
        rq.u.lock.flags = NCP_LOCK_EXCLUSIVE;
        submit_request(p, &rq, true);
        FUZZ_CHECK(p->last_completion == NCP_OK);
        memset(&rq, 0, sizeof rq);
        rq.h.function = NCP_FN_CLOSE;
        rq.u.handle.handle = h;
        submit_request(p, &rq, true);
        FUZZ_CHECK(p->last_completion == NCP_OK);
    }
    peer_close(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size, 0 };
    long allocs_before = fuzz_allocs_live;
    rng_counter = 1;
    ntags = 0;
    nqueue = 0;
    vol = ncp_memfs_create(1u << 20, 64);
    FUZZ_CHECK(vol);
    fuzz_time_s = FUZZ_TIME_START;
    setup_volume(vol);
    /* the volume was made a second ago: the users file is parsed once, not on every
     * login (a file changed in the second of its parse is re-read each time) */
    fuzz_time_s++;
    /* Intruder detection with small numbers and a clock of the input's (each reconnect
     * is two seconds later), so lockouts, their expiry and the table's evictions are reached. */
    fuzz_ms = 1000000;
    struct ncp_server_config cfg = {
        .vfs = &ncp_memfs_ops, .vfs_ctx = vol, .max_conns = 3, .max_handles = 8,
        .max_inflight = 6, .random = fuzz_random, .now_ms = fuzz_now,
        .intruder_attempts = 3, .intruder_window_s = 10, .intruder_lock_s = 5, .intruder_names = 4,
        .max_locks_per_handle = 4, .max_locks_per_conn = 8, .max_locks = 12,
    };
    srv = ncp_server_create(&cfg);
    FUZZ_CHECK(srv);
    peer_open(&peers[0], 0, true);              /* connection 0 has the gather send */
    peer_open(&peers[1], 1, false);

    while (fin_more(&in)) {
        uint8_t b = fin_u8(&in);
        struct peer *p = &peers[b & 1];
        bool may_block = (b & 2) != 0;
        switch ((b >> 2) % OP_COUNT) {
        case OP_RAW:
            op_raw(&in, p, may_block);
            break;
        case OP_REQUEST:
            op_request(&in, p, may_block);
            break;
        case OP_LOGIN:
            login(p, fin_u8(&in) % (NUSERS + 2));
            break;
        case OP_RECONNECT:
            peer_close(p);
            peer_open(p, p->index, p->index == 0);
            fuzz_ms += 2000;
            fuzz_time_s += 2;
            break;
        default:
            run_queue(fin_u8(&in) + 1u);
            break;
        }
    }
    run_queue(QUEUE_MAX);
    check_unanswered(&peers[0]);
    check_unanswered(&peers[1]);
    peer_close(&peers[0]);
    peer_close(&peers[1]);
    /* (only inputs that sent a LOCK can leave a lock behind: the others skip the probe's
     * two dozen requests, and leaked handles or connections still show as allocations) */
    bool locked = false;
    for (uint32_t i = 0; i < ntags && !locked; i++)
        locked = tags[i].fn == NCP_FN_LOCK;
    if (locked && !ncp_server_stopping(srv)) {
        fuzz_ms += 60 * 1000;                   /* past any lockout the input caused */
        fuzz_time_s += 60;
        probe_locks_and_handles();
    }
    ncp_server_destroy(srv);
    ncp_memfs_destroy(vol);
    FUZZ_CHECK(fuzz_allocs_live == allocs_before);
    return 0;
}
