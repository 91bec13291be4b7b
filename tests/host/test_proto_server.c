/* test_proto_server.c - the protocol engine over the in-memory fs:
 * login, file ops, handles, readdir resume, locks, limits, fast path. */
#include "server/ncp_server.h"
#include "server/ncp_server_internal.h"   /* to hold an engine lock in one test */
#include "server/ncp_memfs.h"
#include "proto/ncp_auth.h"
#include "test_proto_check.h"
#include "test_proto_session.h"

/* ---- a fake transport: every sent frame is queued per connection ---- */
#define QMAX 64
struct peer {
    struct ncp_conn *c;
    uint8_t *q[QMAX];
    size_t qlen[QMAX];
    int n;
    uint32_t next_tag;
    uint32_t max_frame;
};

static void fake_send(void *arg, const uint8_t *frame, size_t len)
{
    struct peer *p = arg;
    if (p->n == QMAX) return;
    p->q[p->n] = malloc(len);
    memcpy(p->q[p->n], frame, len);
    p->qlen[p->n++] = len;
}

/* The gather send: the pieces become one queued frame, as a transport would send them. */
static int sendv_calls;
static void fake_sendv(void *arg, const struct ncp_iov *iov, unsigned n)
{
    struct peer *p = arg;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) len += iov[i].len;
    if (p->n == QMAX) return;
    uint8_t *f = malloc(len), *w = f;
    for (unsigned i = 0; i < n; i++) { memcpy(w, iov[i].base, iov[i].len); w += iov[i].len; }
    p->q[p->n] = f;
    p->qlen[p->n++] = len;
    sendv_calls++;
}

static void fake_random(void *arg, uint8_t *buf, size_t n)
{
    static uint8_t x = 1;
    for (size_t i = 0; i < n; i++) buf[i] = __atomic_fetch_add(&x, 1, __ATOMIC_RELAXED);
}

static int shutdowns;
static void fake_shutdown(void *arg) { shutdowns++; }

static unsigned extra(void *arg, struct ncp_counter *out, unsigned max)
{
    if (max < 1) return 0;
    out[0].name = "wtd.events"; out[0].value = 42;
    return 1;
}

static struct ncp_memfs *fs;
static struct ncp_server *srv;

static void setup(uint32_t max_handles, uint32_t max_inflight, uint32_t max_conns)
{
    fs = ncp_memfs_create(64 << 20, 4096);
    uint8_t salt[4] = { 1, 2, 3, 4 }, h1[32], h2[32];
    char line[512], hx1[65], hx2[65];
    ncp_auth_stored_hash(salt, 4, "pw", 2, h1);
    ncp_auth_stored_hash(salt, 4, "root", 4, h2);
    for (int i = 0; i < 32; i++) { sprintf(hx1 + 2 * i, "%02x", h1[i]); sprintf(hx2 + 2 * i, "%02x", h2[i]); }
    snprintf(line, sizeof line, "# test\nuser:01020304:%s\nadmin:01020304:%s:admin\n", hx1, hx2);
    ncp_memfs_put(fs, "/etc/ncp-users", line, strlen(line));
    struct ncp_server_config cfg = {
        .vfs = &ncp_memfs_ops, .vfs_ctx = fs, .max_conns = max_conns, .max_handles = max_handles,
        .max_inflight = max_inflight, .random = fake_random, .shutdown = fake_shutdown,
        .extra_counters = extra,
    };
    srv = ncp_server_create(&cfg);
}

static void peer_open(struct peer *p)
{
    memset(p, 0, sizeof *p);
    p->c = ncp_conn_create(srv, fake_send, p);
    p->max_frame = NCP_DEFAULT_MAX_FRAME;
}

static void peer_drain(struct peer *p)
{
    for (int i = 0; i < p->n; i++) free(p->q[i]);
    p->n = 0;
}

static void peer_close(struct peer *p)
{
    if (p->c) ncp_conn_destroy(p->c);
    peer_drain(p);
    p->c = NULL;
}

static void teardown(void)
{
    ncp_server_destroy(srv);
    ncp_memfs_destroy(fs);
}

/* Sends rq; returns its tag. */
static uint32_t submit(struct peer *p, struct ncp_request *rq, bool may_block, int *result)
{
    static uint8_t buf[NCP_MAX_FRAME_LIMIT + 8];
    rq->h.tag = ++p->next_tag;
    size_t n = ncp_encode_request(buf, sizeof buf, rq);
    int r = ncp_conn_handle(p->c, buf, n, may_block);
    if (r == NCP_WOULD_BLOCK) r = ncp_conn_handle_blocking(p->c, buf, n) == NCP_HANDLED ? NCP_WOULD_BLOCK : -1;
    if (result) *result = r;
    return rq->h.tag;
}

/* Takes the reply with `tag` off the queue (skipping BUSY frames if asked). */
static uint8_t *take(struct peer *p, uint32_t tag, struct ncp_reply *rp, bool busy_ok)
{
    for (int i = 0; i < p->n; i++) {
        if (ncp_decode_reply(p->q[i], p->qlen[i], rp) != NCP_OK) continue;
        if (rp->h.tag != tag || (rp->h.type == NCP_TYPE_BUSY && !busy_ok)) continue;
        uint8_t *f = p->q[i];
        memmove(&p->q[i], &p->q[i + 1], sizeof p->q[0] * (size_t)(p->n - i - 1));
        memmove(&p->qlen[i], &p->qlen[i + 1], sizeof p->qlen[0] * (size_t)(p->n - i - 1));
        p->n--;
        return f;
    }
    return NULL;
}

static uint8_t *last_frame;
/* One call: returns the completion code (-1 if no reply). */
static int call(struct peer *p, struct ncp_request *rq, struct ncp_reply *rp)
{
    free(last_frame);
    uint32_t tag = submit(p, rq, true, NULL);
    last_frame = take(p, tag, rp, false);
    return last_frame ? rp->h.completion : -1;
}

static int call_peer(void *peer, struct ncp_request *rq, struct ncp_reply *rp) { return call(peer, rq, rp); }
static int login(struct peer *p, const char *user, const char *pw) { return tp_login(call_peer, p, user, pw); }

static int open_file(struct peer *p, const char *path, uint32_t flags, uint32_t *h)
{
    struct ncp_request rq = R(NCP_FN_OPEN);
    struct ncp_reply rp;
    rq.u.open.flags = flags; rq.u.open.mode = 0644; rq.u.open.path = S(path);
    int e = call(p, &rq, &rp);
    if (!e) *h = rp.u.open.handle;
    return e;
}

static int write_at(struct peer *p, uint32_t h, uint64_t off, const char *data)
{
    struct ncp_request rq = R(NCP_FN_WRITE);
    struct ncp_reply rp;
    rq.u.write.handle = h; rq.u.write.offset = off;
    rq.u.write.data.ptr = (const uint8_t *)data; rq.u.write.data.len = (uint32_t)strlen(data);
    return call(p, &rq, &rp);
}

static int path_op(struct peer *p, uint8_t fn, const char *path)
{
    struct ncp_request rq = R(fn);
    struct ncp_reply rp;
    if (fn == NCP_FN_MKDIR) { rq.u.mkdir.path = S(path); rq.u.mkdir.mode = 0755; }
    else rq.u.path.path = S(path);
    return call(p, &rq, &rp);
}

static int lock(struct peer *p, uint8_t fn, uint32_t h, uint64_t off, uint64_t len, uint8_t flags, uint32_t *tag)
{
    struct ncp_request rq = R(fn);
    struct ncp_reply rp;
    rq.u.lock.handle = h; rq.u.lock.offset = off; rq.u.lock.length = len; rq.u.lock.flags = flags;
    if (tag) { *tag = submit(p, &rq, true, NULL); return 0; }
    return call(p, &rq, &rp);
}

/* ---- tests ---- */

static void test_login_required_and_checked(void)
{
    struct peer a; struct ncp_request rq; struct ncp_reply rp;
    setup(0, 0, 0); peer_open(&a);
    rq = R(NCP_FN_STATFS);
    CHECK_EQ(call(&a, &rq, &rp), NCP_E_NOTLOGGEDIN);
    rq = R(NCP_FN_PING); rq.u.ping.data.ptr = (const uint8_t *)"hi"; rq.u.ping.data.len = 2;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.ping.data.len, 2);
    rq = R(NCP_FN_NEGOTIATE); rq.u.negotiate.version = 1; rq.u.negotiate.max_frame = 4000;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.negotiate.max_frame, 4000);
    CHECK_EQ(rp.u.negotiate.conn, ncp_conn_number(a.c)); CHECK_EQ(ncp_conn_max_frame(a.c), 4000);
    CHECK_EQ(login(&a, "user", "wrong"), NCP_E_BADLOGIN);
    CHECK_EQ(login(&a, "nobody", "pw"), NCP_E_BADLOGIN);
    /* LOGIN without CHALLENGE fails even with a correct-looking proof. */
    rq = R(NCP_FN_LOGIN); rq.u.login.user = S("user");
    CHECK_EQ(call(&a, &rq, &rp), NCP_E_BADLOGIN);
    CHECK_EQ(login(&a, "user", "pw"), NCP_OK);
    rq = R(NCP_FN_STATFS);
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK(rp.h.conn_status & NCP_CS_LOGGED_IN);
    CHECK(!(rp.h.conn_status & NCP_CS_ADMIN)); CHECK(rp.u.statfs.blocks > 0);
    /* The users file is off limits to non-admins. */
    uint32_t h;
    CHECK_EQ(open_file(&a, "/etc//ncp-users", NCP_O_READ, &h), NCP_E_ACCES);
    rq = R(NCP_FN_LOGOUT); CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    rq = R(NCP_FN_STATFS); CHECK_EQ(call(&a, &rq, &rp), NCP_E_NOTLOGGEDIN);
    peer_close(&a); teardown();
}

static void test_file_roundtrip(void)
{
    struct peer a; struct ncp_request rq; struct ncp_reply rp; uint32_t h;
    setup(0, 0, 0); peer_open(&a); login(&a, "user", "pw");
    CHECK_EQ(open_file(&a, "/f.txt", NCP_O_READ, &h), NCP_E_NOENT);
    CHECK_EQ(open_file(&a, "/f.txt", NCP_O_READ | NCP_O_WRITE | NCP_O_CREATE, &h), NCP_OK);
    CHECK_EQ(write_at(&a, h, 0, "hello "), NCP_OK);
    CHECK_EQ(write_at(&a, h, 6, "world"), NCP_OK);
    rq = R(NCP_FN_READ); rq.u.read.handle = h; rq.u.read.offset = 0; rq.u.read.count = 100;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.read.data.len, 11);
    CHECK(memcmp(rp.u.read.data.ptr, "hello world", 11) == 0);
    rq.u.read.offset = 11; CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.read.data.len, 0);
    rq.u.read.count = NCP_DEFAULT_MAX_FRAME; CHECK_EQ(call(&a, &rq, &rp), NCP_E_INVAL);
    rq = R(NCP_FN_FSTAT); rq.u.handle.handle = h;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.stat.st.size, 11); CHECK_EQ(rp.u.stat.st.type, NCP_FT_FILE);
    rq = R(NCP_FN_TRUNCATE); rq.u.truncate.handle = h; rq.u.truncate.size = 5;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    rq = R(NCP_FN_STAT); rq.u.path.path = S("f.txt");
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.stat.st.size, 5);
    rq = R(NCP_FN_FSYNC); rq.u.handle.handle = h; CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    rq = R(NCP_FN_CLOSE); rq.u.handle.handle = h; CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    CHECK_EQ(call(&a, &rq, &rp), NCP_E_BADF);
    /* Read-only handle cannot write; EXCL create of an existing file fails. */
    CHECK_EQ(open_file(&a, "f.txt", NCP_O_READ, &h), NCP_OK);
    CHECK_EQ(write_at(&a, h, 0, "x"), NCP_E_BADF);
    CHECK_EQ(open_file(&a, "f.txt", NCP_O_WRITE | NCP_O_CREATE | NCP_O_EXCL, &h), NCP_E_EXIST);
    /* APPEND goes to the end whatever the offset. */
    CHECK_EQ(open_file(&a, "f.txt", NCP_O_WRITE | NCP_O_APPEND, &h), NCP_OK);
    CHECK_EQ(write_at(&a, h, 0, "!!"), NCP_OK);
    rq = R(NCP_FN_STAT); rq.u.path.path = S("f.txt");
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.stat.st.size, 7);
    CHECK_EQ(open_file(&a, "f.txt", NCP_O_WRITE | NCP_O_TRUNC, &h), NCP_OK);
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.stat.st.size, 0);
    CHECK_EQ(open_file(&a, "/", NCP_O_READ, &h), NCP_E_ISDIR);
    peer_close(&a); teardown();
}

static void test_namespace_errors(void)
{
    struct peer a; struct ncp_request rq; struct ncp_reply rp; uint32_t h;
    setup(0, 0, 0); peer_open(&a); login(&a, "user", "pw");
    CHECK_EQ(path_op(&a, NCP_FN_MKDIR, "d"), NCP_OK);
    CHECK_EQ(path_op(&a, NCP_FN_MKDIR, "d"), NCP_E_EXIST);
    CHECK_EQ(path_op(&a, NCP_FN_MKDIR, "nope/d"), NCP_E_NOENT);
    CHECK_EQ(open_file(&a, "d/x", NCP_O_WRITE | NCP_O_CREATE, &h), NCP_OK);
    CHECK_EQ(path_op(&a, NCP_FN_RMDIR, "d"), NCP_E_NOTEMPTY);
    CHECK_EQ(path_op(&a, NCP_FN_UNLINK, "d"), NCP_E_ISDIR);
    CHECK_EQ(path_op(&a, NCP_FN_RMDIR, "d/x"), NCP_E_NOTDIR);
    CHECK_EQ(path_op(&a, NCP_FN_MKDIR, "d/x/y"), NCP_E_NOTDIR);
    CHECK_EQ(path_op(&a, NCP_FN_RMDIR, "/"), NCP_E_BUSY);
    rq = R(NCP_FN_RENAME); rq.u.rename.from = S("d/x"); rq.u.rename.to = S("y");
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    CHECK_EQ(path_op(&a, NCP_FN_STAT, "d/x"), NCP_E_NOENT);
    CHECK_EQ(path_op(&a, NCP_FN_STAT, "y"), NCP_OK);
    rq.u.rename.from = S("d"); rq.u.rename.to = S("d/sub");
    CHECK_EQ(call(&a, &rq, &rp), NCP_E_INVAL);
    CHECK_EQ(path_op(&a, NCP_FN_UNLINK, "y"), NCP_OK);
    CHECK_EQ(path_op(&a, NCP_FN_RMDIR, "d"), NCP_OK);
    /* Paths escaping with .. never reach the fs. */
    CHECK_EQ(path_op(&a, NCP_FN_STAT, "../etc"), NCP_E_INVAL);
    peer_close(&a); teardown();
}

static void test_readdir_resumes(void)
{
    struct peer a; struct ncp_request rq; struct ncp_reply rp; uint32_t h;
    setup(0, 0, 0); peer_open(&a); login(&a, "user", "pw");
    rq = R(NCP_FN_NEGOTIATE); rq.u.negotiate.version = 1; rq.u.negotiate.max_frame = 1024;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    path_op(&a, NCP_FN_MKDIR, "big");
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "big/file-with-a-longish-name-%04d", i);
        CHECK_EQ(open_file(&a, name, NCP_O_WRITE | NCP_O_CREATE, &h), NCP_OK);
        rq = R(NCP_FN_CLOSE); rq.u.handle.handle = h; call(&a, &rq, &rp);
    }
    static int seen[300];
    memset(seen, 0, sizeof seen);
    uint64_t cookie = 0; int calls = 0, total = 0;
    for (;;) {
        rq = R(NCP_FN_READDIR); rq.u.readdir.path = S("/big"); rq.u.readdir.cookie = cookie;
        CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
        if (rp.h.completion) break;
        calls++;
        size_t pos = 0; struct ncp_dirent d;
        while (ncp_dirent_next(&rp, &pos, &d)) {
            char num[5]; memcpy(num, d.name + d.name_len - 4, 4); num[4] = 0;
            int k = atoi(num);
            CHECK(k >= 0 && k < 300); seen[k]++; total++;
            CHECK_EQ(d.type, NCP_FT_FILE);
        }
        cookie = rp.u.readdir.next_cookie;
        if (rp.u.readdir.eof) break;
        CHECK(calls < 1000);
    }
    CHECK_EQ(total, 300);
    for (int i = 0; i < 300; i++) CHECK_EQ(seen[i], 1);
    CHECK(calls > 5);                                  /* 1 KiB frames: must page */
    rq = R(NCP_FN_READDIR); rq.u.readdir.path = S("/big"); rq.u.readdir.max_entries = 7;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK); CHECK_EQ(rp.u.readdir.count, 7); CHECK_EQ(rp.u.readdir.eof, 0);
    rq.u.readdir.path = S("/big/file-with-a-longish-name-0001");
    CHECK_EQ(call(&a, &rq, &rp), NCP_E_NOTDIR);
    peer_close(&a); teardown();
}

static void test_handles_are_per_connection(void)
{
    struct peer a, b; struct ncp_request rq; struct ncp_reply rp; uint32_t h, h2;
    setup(4, 0, 0); peer_open(&a); peer_open(&b);
    login(&a, "user", "pw"); login(&b, "user", "pw");
    CHECK_EQ(open_file(&a, "f", NCP_O_WRITE | NCP_O_READ | NCP_O_CREATE, &h), NCP_OK);
    rq = R(NCP_FN_READ); rq.u.read.handle = h; rq.u.read.count = 10;
    CHECK_EQ(call(&b, &rq, &rp), NCP_E_BADF);
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    for (int i = 0; i < 3; i++) CHECK_EQ(open_file(&a, "f", NCP_O_READ, &h2), NCP_OK);
    CHECK_EQ(open_file(&a, "f", NCP_O_READ, &h2), NCP_E_TOOMANYFILES);
    CHECK_EQ(open_file(&b, "f", NCP_O_READ, &h2), NCP_OK);
    peer_close(&a); peer_close(&b); teardown();
}

static void test_locks_nonblocking_and_waiting(void)
{
    struct peer a, b; struct ncp_reply rp; uint32_t ha, hb, tag;
    setup(0, 0, 0); peer_open(&a); peer_open(&b);
    login(&a, "user", "pw"); login(&b, "user", "pw");
    open_file(&a, "f", NCP_O_WRITE | NCP_O_CREATE, &ha);
    open_file(&b, "f", NCP_O_READ, &hb);
    CHECK_EQ(lock(&a, NCP_FN_LOCK, ha, 0, 100, NCP_LOCK_EXCLUSIVE, NULL), NCP_OK);
    CHECK_EQ(lock(&b, NCP_FN_LOCK, hb, 50, 10, 0, NULL), NCP_E_LOCKED);
    CHECK_EQ(lock(&b, NCP_FN_LOCK, hb, 100, 10, NCP_LOCK_EXCLUSIVE, NULL), NCP_OK);  /* adjacent */
    /* A waiting lock: BUSY now, the grant when a unlocks. */
    lock(&b, NCP_FN_LOCK, hb, 0, 0, NCP_LOCK_WAIT, &tag);
    uint8_t *f = take(&b, tag, &rp, true);
    CHECK(f && rp.h.type == NCP_TYPE_BUSY); free(f);
    CHECK(take(&b, tag, &rp, false) == NULL);
    CHECK_EQ(lock(&a, NCP_FN_UNLOCK, ha, 0, 50, 0, NULL), NCP_E_INVAL);           /* not that range */
    CHECK(take(&b, tag, &rp, false) == NULL);
    CHECK_EQ(lock(&a, NCP_FN_UNLOCK, ha, 0, 100, 0, NULL), NCP_OK);
    /* b's own lock at [100,110) does not block b. */
    f = take(&b, tag, &rp, false);
    CHECK(f && rp.h.completion == NCP_OK && rp.h.type == NCP_TYPE_REPLY); free(f);
    /* a now waits on b's shared whole-file lock; closing b's handle grants it. */
    lock(&a, NCP_FN_LOCK, ha, 10, 1, NCP_LOCK_EXCLUSIVE | NCP_LOCK_WAIT, &tag);
    CHECK(take(&a, tag, &rp, false) == NULL);
    struct ncp_request rq = R(NCP_FN_CLOSE); rq.u.handle.handle = hb;
    CHECK_EQ(call(&b, &rq, &rp), NCP_OK);
    f = take(&a, tag, &rp, false);
    CHECK(f && rp.h.completion == NCP_OK); free(f);
    peer_close(&a); peer_close(&b); teardown();
}

static void test_lock_waits_end_with_connection(void)
{
    struct peer a, b; struct ncp_reply rp; uint32_t ha, hb, tag;
    setup(0, 0, 0); peer_open(&a); peer_open(&b);
    login(&a, "user", "pw"); login(&b, "user", "pw");
    open_file(&a, "f", NCP_O_WRITE | NCP_O_CREATE, &ha);
    open_file(&b, "f", NCP_O_WRITE, &hb);
    CHECK_EQ(lock(&a, NCP_FN_LOCK, ha, 0, 10, NCP_LOCK_EXCLUSIVE, NULL), NCP_OK);
    CHECK_EQ(lock(&b, NCP_FN_LOCK, hb, 20, 10, NCP_LOCK_EXCLUSIVE, NULL), NCP_OK);
    lock(&b, NCP_FN_LOCK, hb, 0, 10, NCP_LOCK_EXCLUSIVE | NCP_LOCK_WAIT, &tag);
    /* a waiting for b while b waits for a: refused instead of hanging. */
    CHECK_EQ(lock(&a, NCP_FN_LOCK, ha, 20, 10, NCP_LOCK_EXCLUSIVE | NCP_LOCK_WAIT, NULL), NCP_E_DEADLK);
    /* a disconnects: b's wait is granted. */
    peer_close(&a);
    uint8_t *f = take(&b, tag, &rp, false);
    CHECK(f && rp.h.completion == NCP_OK); free(f);
    /* b disconnecting with a waiter of its own pending must not leak or crash. */
    peer_open(&a); login(&a, "user", "pw");
    open_file(&a, "f", NCP_O_WRITE, &ha);
    lock(&a, NCP_FN_LOCK, ha, 0, 0, NCP_LOCK_WAIT | NCP_LOCK_EXCLUSIVE, &tag);
    peer_close(&a);
    peer_close(&b); teardown();
}

static void test_inflight_limit(void)
{
    struct peer a, b; struct ncp_reply rp; uint32_t ha, hb, t1, t2;
    setup(0, 2, 0); peer_open(&a); peer_open(&b);
    login(&a, "user", "pw"); login(&b, "user", "pw");
    open_file(&a, "f", NCP_O_WRITE | NCP_O_CREATE, &ha);
    open_file(&b, "f", NCP_O_WRITE, &hb);
    lock(&a, NCP_FN_LOCK, ha, 0, 0, NCP_LOCK_EXCLUSIVE, NULL);
    lock(&b, NCP_FN_LOCK, hb, 0, 1, NCP_LOCK_WAIT, &t1);
    lock(&b, NCP_FN_LOCK, hb, 1, 1, NCP_LOCK_WAIT, &t2);
    struct ncp_request rq = R(NCP_FN_STATFS);
    CHECK_EQ(call(&b, &rq, &rp), NCP_E_TOOMANYREQS);
    lock(&a, NCP_FN_UNLOCK, ha, 0, 0, 0, NULL);
    CHECK_EQ(call(&b, &rq, &rp), NCP_OK);
    peer_close(&a); peer_close(&b); teardown();
}

static void test_connection_limit(void)
{
    struct peer a, b, c;
    setup(0, 0, 2); peer_open(&a); peer_open(&b); peer_open(&c);
    CHECK(a.c && b.c); CHECK(c.c == NULL);
    uint8_t buf[32]; struct ncp_reply rp;
    size_t n = ncp_server_refusal(buf);
    CHECK_EQ(ncp_decode_reply(buf, n, &rp), NCP_OK); CHECK_EQ(rp.h.completion, NCP_E_TOOMANYCONNS);
    peer_close(&a);
    peer_open(&c); CHECK(c.c != NULL);
    CHECK(ncp_conn_number(c.c) != ncp_conn_number(b.c));
    peer_close(&b); peer_close(&c); teardown();
}

static void test_fast_path_and_fallback(void)
{
    struct peer a; struct ncp_request rq; struct ncp_reply rp; uint32_t h; int r;
    setup(0, 0, 0); peer_open(&a); login(&a, "user", "pw");
    open_file(&a, "f", NCP_O_READ | NCP_O_WRITE | NCP_O_CREATE, &h);
    write_at(&a, h, 0, "cached");
    rq = R(NCP_FN_READ); rq.u.read.handle = h; rq.u.read.count = 6;
    uint32_t tag = submit(&a, &rq, false, &r);
    CHECK_EQ(r, NCP_HANDLED);                          /* answered without blocking */
    uint8_t *f = take(&a, tag, &rp, false);
    CHECK(f && rp.u.read.data.len == 6); free(f);
    ncp_memfs_set_nonblock_misses(fs, 1);
    tag = submit(&a, &rq, false, &r);
    CHECK_EQ(r, NCP_WOULD_BLOCK);                      /* then finished by the blocking call */
    f = take(&a, tag, &rp, false);
    CHECK(f && rp.u.read.data.len == 6 && memcmp(rp.u.read.data.ptr, "cached", 6) == 0); free(f);
    rq = R(NCP_FN_STAT); rq.u.path.path = S("f");
    submit(&a, &rq, false, &r); CHECK_EQ(r, NCP_WOULD_BLOCK);
    /* The fast path never waits for a lock: with the connection's lock held
     * elsewhere it hands the request over instead of sleeping. */
    static uint8_t fb[128];
    rq = R(NCP_FN_READ); rq.u.read.handle = h; rq.u.read.count = 6; rq.h.tag = 4242;
    size_t fn = ncp_encode_request(fb, sizeof fb, &rq);
    fs_mutex_lock(&a.c->lock);
    int fr = ncp_conn_handle(a.c, fb, fn, false);
    fs_mutex_unlock(&a.c->lock);
    CHECK_EQ(fr, NCP_WOULD_BLOCK);
    CHECK_EQ(ncp_conn_handle_blocking(a.c, fb, fn), NCP_HANDLED);
    f = take(&a, 4242, &rp, false);
    CHECK(f && rp.h.completion == NCP_OK && rp.u.read.data.len == 6); free(f);
    rq = R(NCP_FN_PING); rq.h.tag = 4243;
    fn = ncp_encode_request(fb, sizeof fb, &rq);
    fs_mutex_lock(&a.c->lock);
    fr = ncp_conn_handle(a.c, fb, fn, false);
    fs_mutex_unlock(&a.c->lock);
    CHECK_EQ(fr, NCP_WOULD_BLOCK);
    CHECK_EQ(ncp_conn_handle_blocking(a.c, fb, fn), NCP_HANDLED);
    f = take(&a, 4243, &rp, false);
    CHECK(f && rp.h.completion == NCP_OK); free(f);
    peer_drain(&a);
    peer_close(&a); teardown();
}

static void test_bad_frames_answered(void)
{
    struct peer a; struct ncp_reply rp;
    setup(0, 0, 0); peer_open(&a);
    struct ncp_request rq = R(NCP_FN_STAT); rq.u.path.path = S("x"); rq.h.tag = 77;
    uint8_t buf[64];
    size_t n = ncp_encode_request(buf, sizeof buf, &rq);
    buf[n - 1] = 0; ncp_put16(buf + NCP_LEN_SIZE + NCP_HDR_SIZE, 9);   /* string longer than frame */
    CHECK_EQ(ncp_conn_handle(a.c, buf, n, true), NCP_HANDLED);
    uint8_t *f = take(&a, 77, &rp, false);
    CHECK(f && rp.h.completion == NCP_E_BADFRAME); free(f);
    rq = R(0x66); n = ncp_encode_request(buf, sizeof buf, &rq);
    CHECK_EQ(n, 0);
    peer_close(&a); teardown();
}

static void test_stats_and_shutdown(void)
{
    struct peer a, b; struct ncp_request rq; struct ncp_reply rp;
    setup(0, 0, 0); peer_open(&a); peer_open(&b);
    login(&a, "user", "pw"); CHECK_EQ(login(&b, "admin", "root"), NCP_OK);
    rq = R(NCP_FN_STATS);
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    CHECK(rp.u.stats.total >= 10); CHECK_EQ(rp.u.stats.count, rp.u.stats.total);
    size_t pos = 0; char name[NCP_STAT_NAME_MAX + 1]; uint64_t v; int found = 0;
    while (ncp_counter_next(&rp, &pos, name, &v))
        if (!strcmp(name, "wtd.events") && v == 42) found++;
        else if (!strcmp(name, "conn.logins") && v == 2) found++;
    CHECK_EQ(found, 2);
    rq.u.stats.first = 3; CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    CHECK_EQ(rp.u.stats.count, rp.u.stats.total - 3);
    rq = R(NCP_FN_SHUTDOWN);
    CHECK_EQ(call(&a, &rq, &rp), NCP_E_ACCES);
    CHECK_EQ(shutdowns, 0);
    CHECK_EQ(call(&b, &rq, &rp), NCP_OK);
    CHECK(rp.h.conn_status & NCP_CS_ADMIN);
    CHECK_EQ(shutdowns, 1); CHECK(ncp_server_stopping(srv));
    peer_close(&a); peer_close(&b); teardown();
}


/* ---- concurrency: threads hammer one server the way kernel workers do ---- */
#include <pthread.h>

struct speer {
    pthread_mutex_t m;
    uint8_t last[512];
    size_t last_len;
    unsigned long frames;
};

static void stress_send(void *arg, const uint8_t *frame, size_t len)
{
    struct speer *p = arg;
    pthread_mutex_lock(&p->m);
    p->frames++;
    if (len <= sizeof p->last) { memcpy(p->last, frame, len); p->last_len = len; }
    pthread_mutex_unlock(&p->m);
}

static uint32_t xs(uint32_t *st) { *st ^= *st << 13; *st ^= *st >> 17; *st ^= *st << 5; return *st; }

static void stress_submit(struct ncp_conn *c, struct ncp_request *rq, uint32_t *rng)
{
    static __thread uint8_t buf[70000];
    size_t n = ncp_encode_request(buf, sizeof buf, rq);
    if (!n) return;
    if (ncp_conn_handle(c, buf, n, xs(rng) & 1) == NCP_WOULD_BLOCK)
        ncp_conn_handle_blocking(c, buf, n);
}

static struct ncp_conn *stress_login(struct speer *p, uint32_t *rng)
{
    struct ncp_conn *c = ncp_conn_create(srv, stress_send, p);
    if (!c) return NULL;
    struct ncp_request rq = R(NCP_FN_CHALLENGE);
    rq.u.challenge.user = S("user");
    stress_submit(c, &rq, rng);
    struct ncp_reply rp;
    pthread_mutex_lock(&p->m);
    int e = ncp_decode_reply(p->last, p->last_len, &rp);
    pthread_mutex_unlock(&p->m);
    if (e || rp.h.function != NCP_FN_CHALLENGE) return c;      /* stays logged out: also fine */
    uint8_t stored[32];
    ncp_auth_stored_hash(rp.u.challenge.salt, rp.u.challenge.salt_len, "pw", 2, stored);
    rq = R(NCP_FN_LOGIN);
    rq.u.login.user = S("user");
    ncp_auth_proof(rp.u.challenge.nonce, stored, rq.u.login.proof);
    stress_submit(c, &rq, rng);
    return c;
}

static void *stress_thread(void *arg)
{
    uint32_t rng = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    struct speer p;
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.m, NULL);
    struct ncp_conn *c = stress_login(&p, &rng);
    static const char *const paths[] = { "/s/a", "/s/b", "/s/c", "/s/d/e", "/s/d" };
    uint8_t data[3000];
    memset(data, 'z', sizeof data);
    for (int i = 0; i < 3000 && c; i++) {
        struct ncp_request rq;
        uint32_t h = 1 + xs(&rng) % 6;
        const char *path = paths[xs(&rng) % 5];
        switch (xs(&rng) % 12) {
        case 0: rq = R(NCP_FN_OPEN); rq.u.open.flags = NCP_O_READ | NCP_O_WRITE | NCP_O_CREATE;
                rq.u.open.path = S(path); break;
        case 1: rq = R(NCP_FN_WRITE); rq.u.write.handle = h; rq.u.write.offset = xs(&rng) % 10000;
                rq.u.write.data.ptr = data; rq.u.write.data.len = xs(&rng) % sizeof data; break;
        case 2: rq = R(NCP_FN_READ); rq.u.read.handle = h; rq.u.read.offset = xs(&rng) % 10000;
                rq.u.read.count = 4096; break;
        case 3: rq = R(NCP_FN_LOCK); rq.u.lock.handle = h; rq.u.lock.offset = xs(&rng) % 100;
                rq.u.lock.length = xs(&rng) % 50; rq.u.lock.flags = (uint8_t)(xs(&rng) % 4); break;
        case 4: rq = R(NCP_FN_UNLOCK); rq.u.lock.handle = h; rq.u.lock.offset = xs(&rng) % 100;
                rq.u.lock.length = xs(&rng) % 50; break;
        case 5: rq = R(NCP_FN_CLOSE); rq.u.handle.handle = h; break;
        case 6: rq = R(NCP_FN_MKDIR); rq.u.mkdir.path = S(path); break;
        case 7: rq = R(NCP_FN_UNLINK); rq.u.path.path = S(path); break;
        case 8: rq = R(NCP_FN_READDIR); rq.u.readdir.path = S("/s"); break;
        case 9: rq = R(NCP_FN_RENAME); rq.u.rename.from = S(path); rq.u.rename.to = S(paths[xs(&rng) % 5]); break;
        case 10: rq = R(NCP_FN_STATS); break;
        default:                                      /* drop the connection mid-flight */
            ncp_conn_destroy(c);
            c = stress_login(&p, &rng);
            continue;
        }
        stress_submit(c, &rq, &rng);
    }
    if (c) ncp_conn_destroy(c);
    return (void *)p.frames;
}

static void test_concurrent_connections_stress(void)
{
    setup(6, 16, 64);
    ncp_memfs_put(fs, "/s/.keep", "", 0);
    pthread_t t[8];
    for (uintptr_t i = 0; i < 8; i++) pthread_create(&t[i], NULL, stress_thread, (void *)(i + 1));
    unsigned long total = 0;
    for (int i = 0; i < 8; i++) { void *r; pthread_join(t[i], &r); total += (unsigned long)r; }
    CHECK(total > 8 * 1000);
    /* Everything released: a fresh connection can lock the whole of any file. */
    struct peer a; uint32_t h;
    peer_open(&a); CHECK_EQ(login(&a, "user", "pw"), NCP_OK);
    CHECK_EQ(open_file(&a, "/s/x", NCP_O_WRITE | NCP_O_CREATE, &h), NCP_OK);
    CHECK_EQ(lock(&a, NCP_FN_LOCK, h, 0, 0, NCP_LOCK_EXCLUSIVE, NULL), NCP_OK);
    peer_close(&a);
    teardown();
}

/* Mutated frames straight into a logged-in connection: never a crash, a
 * leak or a missing reply for a readable header. */
static void test_engine_survives_mutated_frames(void)
{
    struct peer a;
    setup(8, 0, 0); peer_open(&a); CHECK_EQ(login(&a, "user", "pw"), NCP_OK);
    ncp_memfs_put(fs, "/d/f", "0123456789", 10);
    static const uint8_t fns[] = { NCP_FN_OPEN, NCP_FN_READ, NCP_FN_WRITE, NCP_FN_STAT, NCP_FN_READDIR,
        NCP_FN_RENAME, NCP_FN_MKDIR, NCP_FN_UNLINK, NCP_FN_LOCK, NCP_FN_UNLOCK, NCP_FN_CLOSE,
        NCP_FN_TRUNCATE, NCP_FN_STATS, NCP_FN_PING, NCP_FN_NEGOTIATE, NCP_FN_FSTAT };
    uint32_t rng = 12345;
    uint8_t buf[2048];
    long replies = 0;
    for (int i = 0; i < 8000; i++) {
        struct ncp_request rq = R(fns[xs(&rng) % sizeof fns]);
        rq.h.tag = (uint32_t)i + 1;
        const char *path = xs(&rng) & 1 ? "/d/f" : "/d/g";
        switch (rq.h.function) {
        case NCP_FN_OPEN:
            rq.u.open.flags = NCP_O_READ | NCP_O_WRITE | (xs(&rng) & 1 ? NCP_O_CREATE : 0);
            rq.u.open.path = S(path);
            break;
        case NCP_FN_STAT: case NCP_FN_UNLINK: rq.u.path.path = S(path); break;
        case NCP_FN_MKDIR: rq.u.mkdir.path = S(path); break;
        case NCP_FN_READ: case NCP_FN_WRITE: case NCP_FN_LOCK: case NCP_FN_UNLOCK: case NCP_FN_CLOSE:
        case NCP_FN_TRUNCATE: case NCP_FN_FSTAT:
            memset(&rq.u, 0, sizeof rq.u);
            rq.u.read.handle = 1 + xs(&rng) % 4; rq.u.read.count = xs(&rng) % 5000;
            break;
        case NCP_FN_RENAME: rq.u.rename.from = S("/d/f"); rq.u.rename.to = S("/d/h"); break;
        case NCP_FN_READDIR: memset(&rq.u, 0, sizeof rq.u); rq.u.readdir.path = S("/d"); break;
        case NCP_FN_NEGOTIATE: rq.u.negotiate.version = 1; rq.u.negotiate.max_frame = xs(&rng); break;
        default: break;
        }
        size_t n = ncp_encode_request(buf, sizeof buf, &rq);
        if (!n) continue;
        int flips = (int)(xs(&rng) % 4);
        for (int k = 0; k < flips; k++) buf[NCP_LEN_SIZE + xs(&rng) % (n - NCP_LEN_SIZE)] ^= (uint8_t)(1 + xs(&rng) % 255);
        if (xs(&rng) % 8 == 0) { n -= xs(&rng) % (n - NCP_LEN_SIZE); ncp_put32(buf, (uint32_t)(n - NCP_LEN_SIZE)); }
        uint8_t *copy = malloc(n);
        memcpy(copy, buf, n);
        int r = ncp_conn_handle(a.c, copy, n, xs(&rng) & 1);
        if (r == NCP_WOULD_BLOCK) ncp_conn_handle_blocking(a.c, copy, n);
        free(copy);
        replies += a.n;
        peer_drain(&a);
        if (!ncp_conn_number(a.c)) break;
    }
    CHECK(replies > 6000);
    peer_close(&a); teardown();
}


/* Cached reads through references (gather send): the same replies as the copying path, at
 * block-aligned and unaligned offsets, across pieces, to and past the end of the file;
 * every reference is given back; misses still go to the blocking path. */
static void test_read_by_reference(void)
{
    struct peer a, b; struct ncp_request rq; struct ncp_reply ra, rb; uint32_t ha, hb; int r;
    static uint8_t content[40000];
    for (size_t i = 0; i < sizeof content; i++) content[i] = (uint8_t)(i * 31 + i / 4096);
    setup(0, 0, 0);
    ncp_memfs_put(fs, "/big", content, sizeof content);
    peer_open(&a); peer_open(&b);
    ncp_conn_set_sendv(a.c, fake_sendv);
    login(&a, "user", "pw"); login(&b, "user", "pw");
    CHECK_EQ(open_file(&a, "big", NCP_O_READ, &ha), NCP_OK);
    CHECK_EQ(open_file(&b, "big", NCP_O_READ, &hb), NCP_OK);
    static const struct { uint64_t off; uint32_t count; bool whole; } cases[] = {
        { 0, 6, true }, { 0, 4096, true }, { 100, 4096, true }, { 4095, 2, true },
        { 1000, 30000, true }, { 36864, 3136, true }, { 39000, 5000, false }, { 40000, 10, false },
    };
    uint64_t by_ref = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int calls0 = sendv_calls;
        rq = R(NCP_FN_READ); rq.u.read.handle = ha; rq.u.read.offset = cases[k].off; rq.u.read.count = cases[k].count;
        uint32_t ta = submit(&a, &rq, false, &r);
        CHECK_EQ(r, NCP_HANDLED);
        rq.u.read.handle = hb;
        uint32_t tb = submit(&b, &rq, false, &r);
        uint8_t *fa = take(&a, ta, &ra, false), *fb = take(&b, tb, &rb, false);
        CHECK(fa && fb);
        if (fa && fb) {
            uint64_t want = cases[k].off >= sizeof content ? 0 : sizeof content - cases[k].off;
            if (want > cases[k].count) want = cases[k].count;
            CHECK_EQ(ra.h.completion, NCP_OK);
            CHECK_EQ(ra.u.read.data.len, want);
            CHECK_EQ(rb.u.read.data.len, want);
            CHECK(memcmp(ra.u.read.data.ptr, content + cases[k].off, want) == 0);
            CHECK(memcmp(rb.u.read.data.ptr, content + cases[k].off, want) == 0);
        }
        CHECK_EQ(sendv_calls - calls0, cases[k].whole ? 1 : 0);   /* short reads: copied */
        if (cases[k].whole) by_ref += cases[k].count;
        CHECK_EQ(ncp_memfs_refs_out(fs), 0);
        free(fa); free(fb);
    }
    CHECK_EQ(srv->ctr[CTR_BYTES_READ_BY_REF], by_ref);
    ncp_memfs_set_nonblock_misses(fs, 1);                  /* a miss: finished by the blocking call */
    rq = R(NCP_FN_READ); rq.u.read.handle = ha; rq.u.read.offset = 8000; rq.u.read.count = 9000;
    uint32_t t = submit(&a, &rq, false, &r);
    CHECK_EQ(r, NCP_WOULD_BLOCK);
    uint8_t *f = take(&a, t, &ra, false);
    CHECK(f && ra.u.read.data.len == 9000 && memcmp(ra.u.read.data.ptr, content + 8000, 9000) == 0);
    free(f);
    CHECK_EQ(ncp_memfs_refs_out(fs), 0);
    peer_close(&a); peer_close(&b); teardown();
}

/* The engine sizes by-reference reads by the file system's block size (ncp_vfs_ops.ref_span),
 * not by an assumed 4096: with 16 KiB blocks a 300000-byte read (more than the references
 * would carry in 4 KiB blocks) still goes by reference, and with 512-byte blocks a read the
 * references cannot carry is copied -- both with the right bytes. */
static void test_read_by_reference_follows_block_size(void)
{
    struct peer a; struct ncp_request rq; struct ncp_reply rp; uint32_t h; int r;
    static uint8_t content[400000];
    for (size_t i = 0; i < sizeof content; i++) content[i] = (uint8_t)(i * 7 + i / 1000);
    setup(0, 0, 0);
    ncp_memfs_put(fs, "/big", content, sizeof content);
    peer_open(&a);
    ncp_conn_set_sendv(a.c, fake_sendv);
    login(&a, "user", "pw");
    rq = R(NCP_FN_NEGOTIATE); rq.u.negotiate.version = 1; rq.u.negotiate.max_frame = 512 * 1024;
    CHECK_EQ(call(&a, &rq, &rp), NCP_OK);
    a.max_frame = rp.u.negotiate.max_frame;
    CHECK_EQ(open_file(&a, "big", NCP_O_READ, &h), NCP_OK);
    static const struct { uint32_t block_size; uint64_t off; uint32_t count; bool by_ref; } cases[] = {
        { 16384, 0, 300000, true }, { 16384, 100, 300000, true },
        { 512, 0, (NCP_VFS_REFS_MAX - 1) * 512, true }, { 512, 0, 40000, false },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ncp_memfs_set_block_size(fs, cases[k].block_size);
        int calls0 = sendv_calls;
        rq = R(NCP_FN_READ); rq.u.read.handle = h; rq.u.read.offset = cases[k].off; rq.u.read.count = cases[k].count;
        uint32_t t = submit(&a, &rq, false, &r);
        CHECK_EQ(r, NCP_HANDLED);
        uint8_t *f = take(&a, t, &rp, false);
        CHECK(f != NULL);
        if (f) {
            CHECK_EQ(rp.h.completion, NCP_OK);
            CHECK_EQ(rp.u.read.data.len, cases[k].count);
            CHECK(memcmp(rp.u.read.data.ptr, content + cases[k].off, cases[k].count) == 0);
        }
        CHECK_EQ(sendv_calls - calls0, cases[k].by_ref ? 1 : 0);
        CHECK_EQ(ncp_memfs_refs_out(fs), 0);
        free(f);
    }
    peer_close(&a); teardown();
}

int main(void)
{
    RUN(test_login_required_and_checked);
    RUN(test_file_roundtrip);
    RUN(test_namespace_errors);
    RUN(test_readdir_resumes);
    RUN(test_handles_are_per_connection);
    RUN(test_locks_nonblocking_and_waiting);
    RUN(test_lock_waits_end_with_connection);
    RUN(test_inflight_limit);
    RUN(test_connection_limit);
    RUN(test_fast_path_and_fallback);
    RUN(test_read_by_reference);
    RUN(test_read_by_reference_follows_block_size);
    RUN(test_bad_frames_answered);
    RUN(test_stats_and_shutdown);
    RUN(test_concurrent_connections_stress);
    RUN(test_engine_survives_mutated_frames);
    free(last_frame);
    DONE();
}
