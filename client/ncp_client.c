/* ncp_client.c - blocking NCP connection with tagged, stashed replies. */
#include "client/ncp_client.h"
#include "proto/ncp_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int fail(struct ncpc *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

struct ncp_str ncpc_str(const char *s)
{
    struct ncp_str r = { s, (uint16_t)strlen(s) };
    return r;
}

int ncpc_open(struct ncpc *c, const char *path, uint32_t flags, uint16_t mode, uint32_t *h,
              struct ncp_stat *st)
{
    struct ncp_request rq = ncpc_req(NCP_FN_OPEN);
    struct ncpc_reply r;
    rq.u.open.flags = flags;
    rq.u.open.mode = mode;
    rq.u.open.path = ncpc_str(path);
    int e = ncpc_call(c, &rq, &r);
    if (!e) {
        *h = r.rp.u.open.handle;
        if (st)
            *st = r.rp.u.open.st;
    }
    ncpc_reply_free(&r);
    return e;
}

struct ncp_request ncpc_req(uint8_t function)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = function;
    return rq;
}

static bool buffers_for(struct ncpc *c, uint32_t max_frame)
{
    size_t cap = NCP_LEN_SIZE + (size_t)max_frame;
    uint8_t *r = realloc(c->rbuf, cap), *s;
    if (!r) return false;
    c->rbuf = r;
    s = realloc(c->sbuf, cap);
    if (!s) return false;
    c->sbuf = s;
    c->scap = cap;
    c->max_frame = max_frame;
    return ncp_reasm_init(&c->ra, c->rbuf, cap, max_frame);
}

/* connect() that gives up after timeout_ms (0: the system's own limit). */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    if (timeout_ms <= 0) return connect(fd, sa, len);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    int r = connect(fd, sa, len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        do r = poll(&pfd, 1, timeout_ms); while (r < 0 && errno == EINTR);
        if (r == 0) { errno = ETIMEDOUT; return -1; }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0) {
            if (soerr) { errno = soerr; return -1; }
            r = 0;
        } else {
            r = -1;
        }
    }
    if (r == 0 && fcntl(fd, F_SETFL, fl) < 0) return -1;
    return r;
}

int ncpc_connect(struct ncpc *c, const char *host, int port)
{
    return ncpc_connect_timeout(c, host, port, 0);
}

int ncpc_connect_timeout(struct ncpc *c, const char *host, int port, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *p;
    int e = getaddrinfo(host, portstr, &hints, &ai);
    if (e) return fail(c, "cannot resolve %s: %s", host, gai_strerror(e));
    int last = 0;
    for (p = ai; p; p = p->ai_next) {
        c->fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (c->fd < 0) { last = errno; continue; }
        if (connect_within(c->fd, p->ai_addr, p->ai_addrlen, timeout_ms) == 0) break;
        last = errno;
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(ai);
    if (c->fd < 0) return fail(c, "cannot connect to %s:%d: %s", host, port, strerror(last));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (timeout_ms > 0) {
        /* Every send and receive gives up too: a server that stops answering
         * (or reading) turns into an error, never a hang. */
        struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    c->max_inflight = 1;
    if (!buffers_for(c, NCP_DEFAULT_MAX_FRAME)) return fail(c, "out of memory");
    return 0;
}

void ncpc_close(struct ncpc *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    for (size_t i = 0; i < c->nstash; i++) free(c->stash[i].frame);
    free(c->stash);
    free(c->rbuf);
    free(c->sbuf);
    c->stash = NULL; c->rbuf = c->sbuf = NULL; c->nstash = 0;
}

uint32_t ncpc_send(struct ncpc *c, struct ncp_request *rq)
{
    if (++c->next_tag == 0) c->next_tag = 1;      /* 0 means "none" */
    rq->h.tag = c->next_tag;
    return ncpc_send_tagged(c, rq) ? 0 : rq->h.tag;
}

int ncpc_send_tagged(struct ncpc *c, struct ncp_request *rq)
{
    if (c->fd < 0) return fail(c, "not connected");
    rq->h.seq = ++c->seq;
    rq->h.conn = c->conn;
    size_t n = ncp_encode_request(c->sbuf, c->scap, rq);
    if (!n) return fail(c, "request does not fit in a %u-byte frame", c->max_frame);
    for (size_t off = 0; off < n;) {
        ssize_t w = send(c->fd, c->sbuf + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return fail(c, "timed out sending to the server");
        if (w <= 0) return fail(c, "connection lost while sending: %s", w < 0 ? strerror(errno) : "closed");
        off += (size_t)w;
    }
    return 0;
}

static void stash_put(struct ncpc *c, uint32_t tag, const uint8_t *f, size_t len)
{
    if (c->nstash == c->stash_cap) {
        c->stash_cap = c->stash_cap ? c->stash_cap * 2 : 16;
        c->stash = realloc(c->stash, c->stash_cap * sizeof *c->stash);
    }
    uint8_t *copy = malloc(len);
    memcpy(copy, f, len);
    c->stash[c->nstash].tag = tag;
    c->stash[c->nstash].frame = copy;
    c->stash[c->nstash].len = len;
    c->nstash++;
}

static int finish(struct ncpc *c, uint8_t *frame, size_t len, struct ncpc_reply *out)
{
    int e = ncp_decode_reply(frame, len, &out->rp);
    out->frame = frame;
    if (e) { free(frame); out->frame = NULL; return fail(c, "malformed reply from server: %s", out->rp.why); }
    return out->rp.h.completion;
}

static bool take_stashed(struct ncpc *c, uint32_t tag, uint8_t **f, size_t *len)
{
    for (size_t i = 0; i < c->nstash; i++) {
        if (c->stash[i].tag != tag) continue;
        *f = c->stash[i].frame;
        *len = c->stash[i].len;
        c->stash[i] = c->stash[--c->nstash];
        return true;
    }
    return false;
}

static void stash_frame(void *arg, const uint8_t *f, size_t len)
{
    struct ncpc *c = arg;
    struct ncp_header h;
    ncp_header_get(f + NCP_LEN_SIZE, &h);
    stash_put(c, h.tag, f, len);
}

int ncpc_wait(struct ncpc *c, uint32_t tag, struct ncpc_reply *out)
{
    out->frame = NULL;
    for (;;) {
        uint8_t *f;
        size_t len;
        /* tag 0 errors: the server could not read our header */
        if (take_stashed(c, tag, &f, &len)) return finish(c, f, len, out);
        if (take_stashed(c, 0, &f, &len)) return finish(c, f, len, out);
        if (ncpc_pump(c, stash_frame, c) < 0) return -1;
    }
}

static int deliver(struct ncpc *c, void (*fn)(void *, const uint8_t *, size_t), void *arg)
{
    const uint8_t *f;
    size_t fl;
    int r;
    while ((r = ncp_reasm_frame(&c->ra, &f, &fl)) == NCP_REASM_FRAME) {
        struct ncp_header h;
        ncp_header_get(f + NCP_LEN_SIZE, &h);
        if (h.type == NCP_TYPE_BUSY) c->busy_seen++;
        else fn(arg, f, fl);
        ncp_reasm_consume(&c->ra);
    }
    return r == NCP_REASM_ERROR ? fail(c, "server sent a malformed frame length") : 0;
}

int ncpc_pump(struct ncpc *c, void (*fn)(void *arg, const uint8_t *frame, size_t len), void *arg)
{
    uint8_t buf[64 * 1024];
    if (deliver(c, fn, arg)) return -1;
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) return 0;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return fail(c, "timed out waiting for the server");
    if (n <= 0) return fail(c, "connection closed by server%s%s", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
    size_t used = 0;
    while (used < (size_t)n) {
        size_t k = ncp_reasm_feed(&c->ra, buf + used, (size_t)n - used);
        if (k == 0 && deliver(c, fn, arg)) return -1;     /* a frame is complete: take it before feeding more */
        used += k;
    }
    return deliver(c, fn, arg);
}

void ncpc_reply_free(struct ncpc_reply *r)
{
    free(r->frame);
    r->frame = NULL;
}

int ncpc_call(struct ncpc *c, struct ncp_request *rq, struct ncpc_reply *out)
{
    uint32_t tag = ncpc_send(c, rq);
    out->frame = NULL;
    if (!tag) return -1;
    return ncpc_wait(c, tag, out);
}

int ncpc_simple(struct ncpc *c, struct ncp_request *rq)
{
    struct ncpc_reply r;
    int e = ncpc_call(c, rq, &r);
    ncpc_reply_free(&r);
    return e;
}

int ncpc_negotiate(struct ncpc *c, uint32_t want_frame)
{
    struct ncp_request rq = ncpc_req(NCP_FN_NEGOTIATE);
    struct ncpc_reply r;
    rq.u.negotiate.version = NCP_VERSION;
    rq.u.negotiate.max_frame = want_frame;
    int e = ncpc_call(c, &rq, &r);
    if (e) { ncpc_reply_free(&r); return e; }
    c->conn = r.rp.u.negotiate.conn;
    c->max_inflight = r.rp.u.negotiate.max_inflight;
    c->max_handles = r.rp.u.negotiate.max_handles;
    uint32_t mf = r.rp.u.negotiate.max_frame;
    ncpc_reply_free(&r);
    /* The reassembler is empty right after a reply was taken out of it. */
    if (c->nstash == 0 && !buffers_for(c, mf)) return fail(c, "out of memory");
    return 0;
}

int ncpc_set_max_frame(struct ncpc *c, uint32_t max_frame)
{
    if (c->ra.have || !buffers_for(c, max_frame)) return fail(c, "cannot resize buffers");
    return 0;
}

int ncpc_login(struct ncpc *c, const char *user, const char *password)
{
    if (strlen(user) == 0 || strlen(user) > NCP_USER_MAX) return fail(c, "bad user name '%s'", user);
    struct ncp_request rq = ncpc_req(NCP_FN_CHALLENGE);
    struct ncpc_reply r;
    rq.u.challenge.user = ncpc_str(user);
    int e = ncpc_call(c, &rq, &r);
    if (e) { ncpc_reply_free(&r); return e; }
    uint8_t stored[NCP_HASH_SIZE];
    ncp_auth_stored_hash(r.rp.u.challenge.salt, r.rp.u.challenge.salt_len, password, strlen(password), stored);
    rq = ncpc_req(NCP_FN_LOGIN);
    rq.u.login.user = ncpc_str(user);
    ncp_auth_proof(r.rp.u.challenge.nonce, stored, rq.u.login.proof);
    memset(stored, 0, sizeof stored);
    ncpc_reply_free(&r);
    e = ncpc_call(c, &rq, &r);
    if (e == 0) c->admin = (r.rp.u.login.flags & NCP_LOGIN_ADMIN) != 0;
    ncpc_reply_free(&r);
    return e;
}
