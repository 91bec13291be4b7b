/* ncp_mux.c - many threads, a few connections, replies by tag (see ncp_mux.h).
 *
 * Per connection: senders take send_lock to write a frame; one receiver
 * thread reads frames and completes the waiter with the frame's tag.  A
 * request that times out, a send that fails, or a receiver that loses the
 * stream tears the connection down (teardown_locked): every waiter fails with
 * -EIO at once, the socket is shut down (not closed: only the thread that
 * reconnects closes it, after joining the receiver), and the next request
 * reconnects.  Lock order: send_lock before lock.
 */
#include "client/ncp_mux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct ncpm_waiter {
    struct ncpm_waiter *next;   /* cn->lock, like every field here */
    pthread_cond_t done_cv;
    uint32_t tag;
    bool done;
    int code;                   /* 0: frame holds the reply; else -errno */
    uint8_t *frame;
    size_t len;
};

static uint64_t g_gen;          /* generations are unique across connections (atomic) */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec abs_time(long long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    return ts;
}

static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* Waits on cv until ms (monotonic); false once that time has passed. */
static bool wait_until(pthread_cond_t *cv, pthread_mutex_t *mx, long long ms)
{
    struct timespec ts = abs_time(ms);
    return pthread_cond_timedwait(cv, mx, &ts) != ETIMEDOUT || now_ms() < ms;
}

/* ms 0: no limit; a deadline already passed still gets 1 ms, never "no limit". */
static void set_sock_timeout(int fd, int opt, long long ms)
{
    if (ms < 0) ms = 1;
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* Takes w off the list and wakes its thread. */
static void complete_locked(struct ncpm_conn *cn, struct ncpm_waiter *w, int code, uint8_t *frame, size_t len)
{
    for (struct ncpm_waiter **pp = &cn->waiters; *pp; pp = &(*pp)->next) {
        if (*pp != w) continue;
        *pp = w->next;
        cn->inflight--;
        break;
    }
    w->done = true;
    w->code = code;
    w->frame = frame;
    w->len = len;
    pthread_cond_signal(&w->done_cv);
    pthread_cond_broadcast(&cn->changed);
}

static void teardown_locked(struct ncpm_conn *cn, uint64_t gen, const char *why)
{
    if (cn->state != NCPM_UP || cn->gen != gen) return;
    cn->state = NCPM_DOWN;
    /* Calls right after this one fail at once (the kernel retries a failed
     * read at once, which should not cost a second timeout). */
    cn->next_try_ms = now_ms() + NCPM_RETRY_MS;
    snprintf(cn->err, sizeof cn->err, "%s", why);
    shutdown(cn->c.fd, SHUT_RDWR);              /* wakes the receiver; fd closed by reconnect */
    while (cn->waiters) complete_locked(cn, cn->waiters, -EIO, NULL, 0);
}

/* A request got no reply in time: the server stopped answering, so the pool's
 * other connections (same server) are dropped too, and calls fail fast until
 * the retry time instead of each waiting out a timeout of its own.  Called
 * with cn->lock held; takes the others' locks one at a time without it. */
static void timed_out_locked(struct ncpm *m, struct ncpm_conn *cn, uint64_t gen, const char *why)
{
    teardown_locked(cn, gen, why);
    pthread_mutex_unlock(&cn->lock);
    for (int i = 0; i < m->nconns; i++) {
        struct ncpm_conn *o = &m->conns[i];
        if (o == cn) continue;
        pthread_mutex_lock(&o->lock);
        teardown_locked(o, o->gen, "another connection to the server timed out");
        pthread_mutex_unlock(&o->lock);
    }
    if (m->o.log) m->o.log(why);
    pthread_mutex_lock(&cn->lock);
}

static void rx_frame(void *arg, const uint8_t *f, size_t len)
{
    struct ncpm_conn *cn = arg;
    struct ncp_header h;
    ncp_header_get(f + NCP_LEN_SIZE, &h);
    uint8_t *copy = malloc(len);
    if (copy) memcpy(copy, f, len);
    pthread_mutex_lock(&cn->lock);
    struct ncpm_waiter *w = cn->waiters;
    while (w && w->tag != h.tag) w = w->next;
    if (w) {
        complete_locked(cn, w, copy ? 0 : -ENOMEM, copy, len);
        copy = NULL;
    } else if (h.tag == 0 && h.completion != NCP_OK) {
        teardown_locked(cn, cn->gen, "the server could not read a request header");
    }
    pthread_mutex_unlock(&cn->lock);
    free(copy);                                 /* nobody waits for it any more */
}

static void *rx_main(void *arg)
{
    struct ncpm_conn *cn = arg;
    pthread_mutex_lock(&cn->lock);
    uint64_t gen = cn->gen;
    pthread_mutex_unlock(&cn->lock);
    while (ncpc_pump(&cn->c, rx_frame, cn) == 0) {
    }
    pthread_mutex_lock(&cn->lock);
    teardown_locked(cn, gen, cn->c.err);
    pthread_mutex_unlock(&cn->lock);
    return NULL;
}

/* Connect, negotiate and log in a fresh ncpc within deadline; 0 or -1 (nc->err). */
static int login_new(struct ncpm *m, struct ncpc *nc, long long deadline)
{
    long long left = deadline - now_ms();
    if (left < 1) left = 1;
    if (ncpc_connect_timeout(nc, m->host, m->o.port, (int)left)) return -1;
    int e = ncpc_negotiate(nc, m->o.want_frame);
    if (e == 0) {
        long long rest = deadline - now_ms();
        set_sock_timeout(nc->fd, SO_RCVTIMEO, rest > 0 ? rest : 1);
        e = ncpc_login(nc, m->user, m->password);
    }
    if (e > 0) snprintf(nc->err, sizeof nc->err, "%s (%s)", ncp_strerror((unsigned)e), ncp_errname((unsigned)e));
    if (e) return -1;
    m->admin = nc->admin;
    /* The receiver blocks without limit (waiters keep the deadlines); sends
     * still give up when the server stops reading. */
    set_sock_timeout(nc->fd, SO_RCVTIMEO, 0);
    set_sock_timeout(nc->fd, SO_SNDTIMEO, m->o.timeout_ms);
    return 0;
}

/* Called with cn->lock held and state DOWN; returns with it held. */
static int reconnect_locked(struct ncpm *m, struct ncpm_conn *cn, long long deadline)
{
    cn->state = NCPM_CONNECTING;
    bool join = cn->rx_running;
    cn->rx_running = false;
    pthread_mutex_unlock(&cn->lock);
    if (join) pthread_join(cn->rx, NULL);
    pthread_mutex_lock(&cn->send_lock);
    ncpc_close(&cn->c);                         /* nobody else uses it while CONNECTING */
    pthread_mutex_unlock(&cn->send_lock);

    struct ncpc nc;
    int r = login_new(m, &nc, deadline);
    pthread_mutex_lock(&cn->send_lock);
    pthread_mutex_lock(&cn->lock);
    bool again = cn->gen != 0;                  /* this connection was up before */
    if (r == 0) {
        cn->c = nc;
        cn->gen = __atomic_add_fetch(&g_gen, 1, __ATOMIC_RELAXED);
        cn->state = NCPM_UP;
        if (m->started && pthread_create(&cn->rx, NULL, rx_main, cn) == 0) cn->rx_running = true;
        else if (m->started) teardown_locked(cn, cn->gen, "cannot start a receiver thread");
        if (again) __atomic_add_fetch(&m->reconnects, 1, __ATOMIC_RELAXED);
        if (again && m->o.log) {
            char msg[128];
            snprintf(msg, sizeof msg, "connection %d to the server logged in again", (int)(cn - m->conns));
            m->o.log(msg);
        }
    } else {
        snprintf(cn->err, sizeof cn->err, "%s", nc.err);
        ncpc_close(&nc);
        cn->state = NCPM_DOWN;
        cn->next_try_ms = now_ms() + NCPM_RETRY_MS;
    }
    pthread_cond_broadcast(&cn->changed);
    pthread_mutex_unlock(&cn->send_lock);
    return cn->state == NCPM_UP ? 0 : -EIO;
}

/* With cn->lock held: waits (until deadline) for the connection to be up,
 * reconnecting it if it is down. */
static int ensure_up_locked(struct ncpm *m, struct ncpm_conn *cn, long long deadline)
{
    for (;;) {
        if (cn->state == NCPM_UP) return 0;
        if (!m->started) return -EIO;
        if (cn->state == NCPM_CONNECTING) {
            if (!wait_until(&cn->changed, &cn->lock, deadline)) return -EIO;
            continue;
        }
        if (now_ms() < cn->next_try_ms) return -EIO;
        /* reconnect_locked lets go of cn->lock (send_lock comes first in the
         * lock order) and holds it again when it returns. */
        int r = reconnect_locked(m, cn, deadline);
        if (r) return r;
    }
}

static int pick_conn(struct ncpm *m, const struct ncpm_target *t)
{
    if (t->conn >= 0 && t->conn < m->nconns) return t->conn;
    int best = -1;
    uint32_t best_load = UINT32_MAX;
    long long now = now_ms();
    for (int i = 0; i < m->nconns; i++) {
        struct ncpm_conn *cn = &m->conns[i];
        pthread_mutex_lock(&cn->lock);
        uint32_t load = cn->state == NCPM_UP ? cn->inflight : UINT32_MAX - 1;
        if (cn->state == NCPM_DOWN && now < cn->next_try_ms) load = UINT32_MAX;
        pthread_mutex_unlock(&cn->lock);
        if (best < 0 || load < best_load) {
            best = i;
            best_load = load;
        }
    }
    return best;
}

void ncpm_start_call(struct ncpm *m, struct ncpm_target *t, struct ncp_request *rq, struct ncpm_call *call)
{
    memset(call, 0, sizeof *call);
    int idx = pick_conn(m, t);
    struct ncpm_conn *cn = &m->conns[idx];
    long long deadline = now_ms() + m->o.timeout_ms;
    call->cn = cn;
    t->conn = idx;
    pthread_mutex_lock(&cn->lock);
    int r = ensure_up_locked(m, cn, deadline);
    while (r == 0) {
        if (t->gen && t->gen != cn->gen) {
            r = -ESTALE;
            break;
        }
        uint32_t limit = cn->c.max_inflight ? cn->c.max_inflight : 1;
        if (cn->inflight < limit) break;
        if (!wait_until(&cn->changed, &cn->lock, deadline)) {
            timed_out_locked(m, cn, cn->gen, "no reply within the timeout (pipeline full)");
            r = -EIO;
            break;
        }
        r = ensure_up_locked(m, cn, deadline);
    }
    if (r) {
        pthread_mutex_unlock(&cn->lock);
        call->err = r;
        return;
    }
    struct ncpm_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        pthread_mutex_unlock(&cn->lock);
        call->err = -ENOMEM;
        return;
    }
    cond_init_mono(&w->done_cv);
    if (++cn->next_tag == 0) cn->next_tag = 1;  /* 0 means "none" */
    w->tag = cn->next_tag;
    w->next = cn->waiters;
    cn->waiters = w;
    cn->inflight++;
    uint64_t gen = cn->gen;
    t->gen = gen;
    call->gen = gen;
    call->w = w;
    pthread_mutex_unlock(&cn->lock);

    pthread_mutex_lock(&cn->send_lock);
    pthread_mutex_lock(&cn->lock);
    bool live = cn->state == NCPM_UP && cn->gen == gen;
    pthread_mutex_unlock(&cn->lock);
    int e = 0;
    if (live) {
        rq->h.tag = w->tag;
        e = ncpc_send_tagged(&cn->c, rq);
    }
    pthread_mutex_unlock(&cn->send_lock);
    if (live && e) {
        pthread_mutex_lock(&cn->lock);
        teardown_locked(cn, gen, "sending failed");
        pthread_mutex_unlock(&cn->lock);
    }
    /* !live: teardown already completed w with -EIO */
}

/* wait_forever: is the connection still answering?  A PING on it, with the
 * normal deadline; a dead one is torn down by that PING's own timeout. */
static void probe(struct ncpm *m, struct ncpm_call *call)
{
    struct ncpm_target t = { (int)(call->cn - m->conns), call->gen };
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = NCP_FN_PING;
    (void)ncpm_simple(m, &t, &rq);
}

int ncpm_finish(struct ncpm *m, struct ncpm_call *call, struct ncpc_reply *out,
                bool wait_forever, bool (*cancelled)(void *), void *arg)
{
    out->frame = NULL;
    if (call->err) return call->err;
    struct ncpm_conn *cn = call->cn;
    struct ncpm_waiter *w = call->w;
    long long deadline = now_ms() + m->o.timeout_ms;
    pthread_mutex_lock(&cn->lock);
    while (!w->done) {
        if (wait_until(&w->done_cv, &cn->lock, deadline)) continue;
        if (!wait_forever) {
            timed_out_locked(m, cn, call->gen, "no reply within the timeout");
            break;
        }
        if (cancelled && cancelled(arg)) {
            complete_locked(cn, w, -EINTR, NULL, 0);
            break;
        }
        pthread_mutex_unlock(&cn->lock);
        probe(m, call);
        pthread_mutex_lock(&cn->lock);
        deadline = now_ms() + m->o.timeout_ms;
    }
    pthread_mutex_unlock(&cn->lock);
    int code = w->code;
    uint8_t *frame = w->frame;
    size_t len = w->len;
    pthread_cond_destroy(&w->done_cv);
    free(w);
    if (code) return code;
    int e = ncp_decode_reply(frame, len, &out->rp);
    if (e) {
        free(frame);
        pthread_mutex_lock(&cn->lock);
        teardown_locked(cn, call->gen, "malformed reply from the server");
        pthread_mutex_unlock(&cn->lock);
        return -EIO;
    }
    out->frame = frame;
    return out->rp.h.completion;
}

int ncpm_call(struct ncpm *m, struct ncpm_target *t, struct ncp_request *rq, struct ncpc_reply *out)
{
    struct ncpm_call call;
    ncpm_start_call(m, t, rq, &call);
    return ncpm_finish(m, &call, out, false, NULL, NULL);
}

int ncpm_simple(struct ncpm *m, struct ncpm_target *t, struct ncp_request *rq)
{
    struct ncpc_reply r;
    int e = ncpm_call(m, t, rq, &r);
    ncpc_reply_free(&r);
    return e;
}

int ncpm_open(struct ncpm *m, const struct ncpm_opts *o, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->o = *o;
    m->nconns = o->nconns < 1 ? 1 : o->nconns > NCPM_MAX_CONNS ? NCPM_MAX_CONNS : o->nconns;
    snprintf(m->host, sizeof m->host, "%s", o->host);
    snprintf(m->user, sizeof m->user, "%s", o->user);
    size_t plen = strlen(o->password);
    m->password = malloc(plen + 1);
    if (!m->password) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mlock(m->password, plen + 1);               /* best effort: kept out of swap */
    memcpy(m->password, o->password, plen + 1);
    m->o.password = NULL;
    for (int i = 0; i < m->nconns; i++) {
        struct ncpm_conn *cn = &m->conns[i];
        pthread_mutex_init(&cn->lock, NULL);
        pthread_mutex_init(&cn->send_lock, NULL);
        cond_init_mono(&cn->changed);
        cn->c.fd = -1;
        cn->state = NCPM_DOWN;
    }
    struct ncpm_conn *c0 = &m->conns[0];
    pthread_mutex_lock(&c0->lock);
    int r = reconnect_locked(m, c0, now_ms() + o->timeout_ms);
    if (r) snprintf(err, errlen, "%s", c0->err);
    m->max_frame = c0->c.max_frame;
    pthread_mutex_unlock(&c0->lock);
    return r ? -1 : 0;
}

void ncpm_start(struct ncpm *m)
{
    m->started = true;
    for (int i = 0; i < m->nconns; i++) {
        struct ncpm_conn *cn = &m->conns[i];
        pthread_mutex_lock(&cn->lock);
        if (cn->state == NCPM_UP && !cn->rx_running) {
            if (pthread_create(&cn->rx, NULL, rx_main, cn) == 0) cn->rx_running = true;
            else teardown_locked(cn, cn->gen, "cannot start a receiver thread");
        }
        if (cn->state == NCPM_DOWN)             /* the others connect now; a failure retries later */
            (void)ensure_up_locked(m, cn, now_ms() + m->o.timeout_ms);
        pthread_mutex_unlock(&cn->lock);
    }
}

void ncpm_close(struct ncpm *m)
{
    for (int i = 0; i < m->nconns; i++) {
        struct ncpm_conn *cn = &m->conns[i];
        pthread_mutex_lock(&cn->lock);
        teardown_locked(cn, cn->gen, "closed");
        bool join = cn->rx_running;
        cn->rx_running = false;
        pthread_mutex_unlock(&cn->lock);
        if (join) pthread_join(cn->rx, NULL);
        ncpc_close(&cn->c);
    }
    if (m->password) {
        size_t n = strlen(m->password);
        explicit_bzero(m->password, n);
        munlock(m->password, n + 1);
        free(m->password);
        m->password = NULL;
    }
}
