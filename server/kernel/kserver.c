/*
 * The file service: TCP connections on port 524, one engine connection each.
 *
 * Where requests run (NetWare's fast path, in WTD form):
 *  - lwIP delivers segments in the e1000 receive WTD, with the core lock held.  There
 *    each complete frame is offered to the engine with may_block=false: pings, stats
 *    and reads whose blocks are all in the block cache are answered right there, in
 *    that WTD, with no thread switch beyond the one the ISR exit hook already made.
 *  - Anything that may block (a cache miss, a lock wait, a write, fsync, open...)
 *    comes back NCP_WOULD_BLOCK: the frame (already a buffer of its own) becomes a
 *    WTD of its own.  The worker that runs it may sleep on the disk; the engine
 *    sends the reply when done; other requests, on this connection or others, go
 *    on in the receive WTD or in other workers meanwhile.
 *  - A cached READ reply is handed over as a header plus references to the block
 *    cache's buffers (ncp_conn_set_sendv); lwIP copies them into its segments, so the
 *    bytes are copied once on their way from the cache to the wire.
 *
 * Lock order -- one order for the whole file service, outermost first:
 *   1. the engine's mutexes (server->lock, then a connection's conn->lock; the engine
 *      documents its own order among them and never holds one across I/O);
 *   2. the file system's (ext2's fs->lock, the block cache's c->lock);
 *   3. lwIP's core lock (net_core_lock), innermost: every field of a kconn and every
 *      lwIP call is under it, and the engine's send callback (ksendv) takes it while
 *      the engine holds conn->lock.
 * So with the core lock held nothing here may WAIT for an engine or file-system mutex:
 * the receive path (lwIP's callbacks, in the e1000 receive WTD or the timer WTD) and
 * every other core-lock section only try-lock them (ncp_conn_handle with
 * may_block=false, bcache_lookup_nb) and read counters that need no lock (STATS:
 * bcache_get_stats, kserver_get_stats).  What used to block there now runs in a WTD of
 * its own, without the core lock, and takes the core lock afterwards:
 *   - accept: on_accept only admits (counts, memory budget) and queues create_fn,
 *     which calls ncp_conn_create (server->lock); bytes arriving meanwhile are held;
 *   - a malformed stream: feed queues bad_stream_fn, which calls ncp_conn_bad_stream
 *     (conn->lock, then the core lock to send), then closes;
 *   - requests that may block (blocking_fn) and ncp_conn_destroy (destroy_fn).
 * Asserted: those WTD functions check they do not hold the core lock, and the
 * kernel's fs_mutex_lock panics if the calling thread holds it (net_core_lock marks
 * the thread: kernel/fs_port_kernel.c), so an order violation fails at once in tests
 * instead of deadlocking one day.
 *
 * Lifetime: a kconn holds one reference for the TCP connection, one per request in a
 * worker and one per queued create_fn / bad_stream_fn.  The engine connection is
 * destroyed (in a WTD: it may sleep) when the last reference goes.
 *
 * Frames: proto/ncp_reasm (the fuzzed reassembler) in its growing mode, limit
 * ncp_conn_max_frame() asked before each frame: its buffer grows with the bytes that
 * arrived (a 4-byte prefix announcing 1 MiB costs nothing) and a whole frame's buffer
 * is taken over by the request (ncp_reasm_take), so a connection with no partial frame
 * costs no buffer at all, which is what lets 10000 idle clients fit in memory.
 *
 * Limits (docs/security.md): every byte of connection state -- the kconn, the engine's
 * connection, frame buffers, queued requests and replies, held-chain nodes -- is
 * charged to one budget (ncp.conn_mem_mb; heap footprints, not requested sizes).  A
 * new connection is admitted only with room left for a pre-login frame, otherwise it
 * gets the ETOOMANYCONNS refusal; a frame, request or reply that would pass the budget
 * closes its connection (conn.closed_mem).  lwIP's poll callback (every second) closes a
 * connection not logged in after ncp.login_timeout_s and one that has held a partial
 * frame for ncp.frame_timeout_s.
 */
#include "kserver.h"
#include "net.h"
#include "lwip/tcp.h"
#include "server/ncp_server.h"
#include "proto/ncp_reasm.h"
#include "server/ncp_vfs_ext2.h"
#include "random.h"
#include "fs/kernel/storage.h"
#include "fs/bcache.h"
#include "fs/ext2.h"
#include "wtd.h"
#include "sched.h"
#include "irq.h"
#include "mm.h"
#include "io.h"
#include "init.h"
#include "kopt.h"
#include "printf.h"
#include "string.h"
#include "power.h"
#include "time.h"
#include "panic.h"

#define NCP_PORT 524

static uint64_t opt_maxconn = 12000, opt_max_inflight = 128;
KOPT_U64("ncp.maxconn", opt_maxconn, 1, 100000, "most file-service connections (more are refused)");
KOPT_U64("ncp.inflight", opt_max_inflight, 1, 4096, "most requests in flight per connection");
/* Engine limits and intruder detection (engine defaults; see docs/security.md). */
static uint64_t opt_locks_per_handle = 64, opt_locks_per_conn = 256, opt_locks = 65536;
KOPT_U64("ncp.locks_per_handle", opt_locks_per_handle, 1, 65536, "most byte-range locks (and waiters) per open handle");
KOPT_U64("ncp.locks_per_conn", opt_locks_per_conn, 1, 1000000, "most byte-range locks (and waiters) per connection");
KOPT_U64("ncp.locks", opt_locks, 1, 10000000, "most byte-range locks (and waiters) in the server");
static uint64_t opt_intruder_attempts = 5, opt_intruder_window_s = 60, opt_intruder_lock_s = 300;
static uint64_t opt_intruder_names = 256;
KOPT_U64("ncp.intruder_attempts", opt_intruder_attempts, 1, 1000, "failed logins for one name that lock it (intruder detection)");
KOPT_U64("ncp.intruder_window_s", opt_intruder_window_s, 1, 86400, "seconds within which the failed logins count");
KOPT_U64("ncp.intruder_lock_s", opt_intruder_lock_s, 1, 604800, "seconds a name stays locked");
KOPT_U64("ncp.intruder_names", opt_intruder_names, 1, 65536, "names the failed-login table tracks");
static uint64_t opt_read_ref = 1;
KOPT_U64("ncp.read_ref", opt_read_ref, 0, 1, "cached reads go from the block cache straight into lwIP (0: through a reply buffer)");
static uint64_t opt_conn_mem_mb = 128, opt_login_timeout_s = 30, opt_frame_timeout_s = 30;
KOPT_U64("ncp.conn_mem_mb", opt_conn_mem_mb, 1, 1048576, "memory budget for all file-service connection state, MiB (past it new connections are refused)");
KOPT_U64("ncp.login_timeout_s", opt_login_timeout_s, 0, 86400, "close a connection not logged in after this many seconds (0: never)");
KOPT_U64("ncp.frame_timeout_s", opt_frame_timeout_s, 0, 86400, "close a connection that has held a partial frame this many seconds (0: never)");

#define POLL_TICKS 2                     /* lwIP's poll callback every 2 x 500 ms */
/* Before login a client gets no more than this in lwIP's send queue unacknowledged (it
 * stops being fed), and one that makes us hold more than PRELOGIN_HELD_MAX received
 * bytes unfed meanwhile is closed: pre-login state stays a few KiB, not a TCP window. */
#define PRELOGIN_UNACKED_MAX (8u << 10)
#define PRELOGIN_HELD_MAX (2u * (NCP_LEN_SIZE + NCP_PRELOGIN_MAX_FRAME))

struct out_chunk {
    struct out_chunk *next;
    size_t len, off;
    size_t cost;                         /* charged to the budget */
    uint8_t data[];
};

/* Received bytes not fed to the engine yet (one node per pbuf chain lwIP delivered). */
struct held_chain {
    struct held_chain *next;
    struct pbuf *p;
};

/* Every field under the core lock, except conn (set once by create_fn, under it, before
 * anything else uses it). */
struct kconn {
    struct tcp_pcb *pcb;                 /* NULL once closed or dropped by lwIP */
    struct ncp_conn *conn;               /* NULL until create_fn made it */
    uint32_t refs;
    bool closing;
    bool peer_closed;                    /* FIN seen: close once every reply is out */
    bool bad;                            /* malformed stream: bad_stream_fn answers, then closes */
    bool login_charged;                  /* the engine's logged-in state is charged (charge_login) */
    struct ncp_reasm ra;                 /* the frame being assembled; a whole one waits for room */
    bool in_engine;                      /* ra's frame is with the engine: drop_output leaves ra */
    uint64_t accepted_ms, partial_ms;    /* partial_ms: when the partial frame began (0: none) */
    struct held_chain *held_head, *held_tail;
    size_t held_bytes;                   /* received, not fed to the reassembler yet */
    struct held_chain held_spare;        /* used when nothing else is held: no allocation */
    struct pbuf *held_q;                 /* the pbuf of held_head's chain being fed (NULL: its first) */
    uint32_t held_off;                   /* bytes of held_q already fed */
    struct out_chunk *out_head, *out_tail;   /* replies lwIP had no room for yet */
    size_t out_bytes;
    uint32_t remote_ip;
    uint16_t remote_port, local_port;
    bool indexed;                        /* in net/'s connection index (net_pcb_index_add) */
    uint64_t requests, fast, slow, bytes_in, bytes_out;
    struct kconn *next, *prev;
    struct wtd create_wtd, bad_wtd, destroy_wtd;
};

struct kreq {
    struct wtd w;
    struct kconn *kc;
    uint8_t *frame;
    size_t len, cap;                     /* cap: the frame buffer's size (charged) */
};

static struct ncp_server *server;
static struct kconn *conns;
static bool pcb_aborted;                 /* kconn_close_pcb had to tcp_abort (core lock held) */
static struct kserver_stats st;
static uint64_t mem_limit, conn_base_cost;   /* set at init: kconn + pre-login engine state */
static uint64_t login_extra_cost;            /* what the engine's state grows by at login */

static void kconn_close(struct kconn *kc);

static uint64_t uptime_ms(void) { return now_ns() / 1000000u; }

/* ---- the connection memory budget ----
 * st.mem_bytes is atomic: buffers are charged under the core lock but a worker frees a
 * request's frame without it. */

static bool conn_mem_charge(size_t n)
{
    uint64_t used = __atomic_add_fetch(&st.mem_bytes, n, __ATOMIC_RELAXED);
    if (used <= mem_limit)
        return true;
    __atomic_fetch_sub(&st.mem_bytes, n, __ATOMIC_RELAXED);
    return false;
}

static void conn_mem_uncharge(size_t n) { __atomic_fetch_sub(&st.mem_bytes, n, __ATOMIC_RELAXED); }

/* kmalloc through the budget; *size is raised to what the block holds. */
static void *conn_mem_alloc(size_t *size)
{
    size_t cost = kmalloc_footprint(*size);
    if (!conn_mem_charge(cost))
        return NULL;
    void *p = kmalloc(*size);
    if (!p) {
        conn_mem_uncharge(cost);
        return NULL;
    }
    *size = kmalloc_usable(*size);
    return p;
}

static void conn_mem_free(void *p, size_t size)
{
    if (!p)
        return;
    kfree(p);
    conn_mem_uncharge(kmalloc_footprint(size));
}

/* The reassembler's allocator (ncp_reasm_alloc_fn). */
static void *reasm_alloc(void *arg, void *p, size_t old_size, size_t *new_size)
{
    if (*new_size == 0) {
        conn_mem_free(p, old_size);
        return NULL;
    }
    uint8_t *q = conn_mem_alloc(new_size);
    if (q && p) {
        memcpy(q, p, old_size);
        conn_mem_free(p, old_size);
    }
    return q;
}

/* ---- sending ---- */

/* Pushes queued reply bytes into lwIP as far as its send buffer allows. */
static void kconn_flush(struct kconn *kc)
{
    struct tcp_pcb *pcb = kc->pcb;
    if (!pcb)
        return;
    bool wrote = false;
    while (kc->out_head) {
        struct out_chunk *c = kc->out_head;
        size_t room = tcp_sndbuf(pcb);
        if (room == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 4)
            break;
        size_t n = c->len - c->off;
        if (n > room)
            n = room;
        if (n > 0xFFFF)
            n = 0xFFFF;
        if (tcp_write(pcb, c->data + c->off, (u16_t)n, TCP_WRITE_FLAG_COPY |
                      (n < c->len - c->off || c->next ? TCP_WRITE_FLAG_MORE : 0)) != ERR_OK)
            break;
        wrote = true;
        c->off += n;
        kc->out_bytes -= n;
        st.bytes_out += n;
        kc->bytes_out += n;
        if (c->off == c->len) {
            kc->out_head = c->next;
            if (!kc->out_head)
                kc->out_tail = NULL;
            conn_mem_free(c, c->cost);
        }
    }
    if (wrote)
        tcp_output(pcb);
}

/* Writes as much of [p, p+len) straight into lwIP as its send buffer takes (lwIP copies
 * it); returns how many bytes went.  Only when nothing is queued ahead of it.  `more`: the
 * frame goes on after these bytes (no PSH yet). */
static size_t write_direct(struct kconn *kc, const uint8_t *p, size_t len, bool more)
{
    struct tcp_pcb *pcb = kc->pcb;
    size_t done = 0;
    while (done < len) {
        size_t room = tcp_sndbuf(pcb);
        if (room == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 4)
            break;
        size_t n = MIN(MIN(len - done, room), (size_t)0xFFFF);
        u8_t flags = TCP_WRITE_FLAG_COPY | (more || done + n < len ? TCP_WRITE_FLAG_MORE : 0);
        if (tcp_write(pcb, p + done, (u16_t)n, flags) != ERR_OK)
            break;
        done += n;
    }
    st.bytes_out += done;
    kc->bytes_out += done;
    return done;
}

/* Queues the bytes of iov from piece i, offset off on, in one chunk (one copy). */
static void queue_rest(struct kconn *kc, const struct ncp_iov *iov, unsigned n, unsigned i, size_t off)
{
    size_t rest = 0;
    for (unsigned k = i; k < n; k++)
        rest += iov[k].len - (k == i ? off : 0);
    if (!rest)
        return;
    size_t cost = sizeof(struct out_chunk) + rest;
    struct out_chunk *c = conn_mem_alloc(&cost);
    if (!c) {                            /* past the budget (or the heap): close, cleanly */
        st.closed_mem++;
        kconn_close(kc);
        return;
    }
    c->cost = cost;
    size_t at = 0;
    for (unsigned k = i; k < n; k++) {
        size_t skip = k == i ? off : 0;
        memcpy(c->data + at, iov[k].base + skip, iov[k].len - skip);
        at += iov[k].len - skip;
    }
    c->len = rest;
    c->off = 0;
    c->next = NULL;
    if (kc->out_tail)
        kc->out_tail->next = c;
    else
        kc->out_head = c;
    kc->out_tail = c;
    kc->out_bytes += rest;
    if (kc->out_bytes > st.send_queued_max)
        st.send_queued_max = kc->out_bytes;
}

/* The engine's gather send: a reply frame in pieces (a header, then the file system's cached
 * buffers for a READ).  The common case -- nothing queued, room in lwIP -- copies each piece
 * once, into lwIP's segments; what does not fit waits in our queue for on_sent. */
static void ksendv(void *arg, const struct ncp_iov *iov, unsigned n)
{
    struct kconn *kc = arg;
    bool lock = !net_core_locked();
    if (lock)
        net_core_lock();
    if (kc->pcb && !kc->closing) {
        unsigned i = 0;
        size_t off = 0;
        if (!kc->out_head) {
            for (; i < n; i++, off = 0) {
                off = write_direct(kc, iov[i].base, iov[i].len, i + 1 < n);
                if (off < iov[i].len)
                    break;
            }
            if (i > 0 || off > 0)
                tcp_output(kc->pcb);
        }
        if (i < n)
            queue_rest(kc, iov, n, i, off);
    }
    if (lock)
        net_core_unlock();
}

static void ksend(void *arg, const uint8_t *frame, size_t len)
{
    struct ncp_iov one = { frame, len };
    ksendv(arg, &one, 1);
}

/* ---- lifetime ---- */

static uint32_t destroy_fn(struct wtd *w)
{
    struct kconn *kc = w->context;
    ASSERT(!net_core_locked());          /* the lock order: engine mutexes first */
    if (kc->conn)
        ncp_conn_destroy(kc->conn);      /* may sleep: not under the core lock */
    net_core_lock();
    if (kc->prev)
        kc->prev->next = kc->next;
    else
        conns = kc->next;
    if (kc->next)
        kc->next->prev = kc->prev;
    st.live--;
    st.closed++;
    net_core_unlock();
    uint64_t engine = conn_base_cost - kmalloc_footprint(sizeof *kc) + (kc->login_charged ? login_extra_cost : 0);
    conn_mem_free(kc, sizeof *kc);
    conn_mem_uncharge(engine);           /* the engine's part */
    return 0;
}

static void kconn_put(struct kconn *kc)
{
    if (--kc->refs == 0) {
        wtd_init(&kc->destroy_wtd, destroy_fn, kc);
        wtd_schedule(&kc->destroy_wtd);
    }
}

static void free_held(struct kconn *kc, struct held_chain *h)
{
    if (h != &kc->held_spare)
        conn_mem_free(h, sizeof *h);
}

static void drop_output(struct kconn *kc)
{
    while (kc->out_head) {
        struct out_chunk *c = kc->out_head;
        kc->out_head = c->next;
        conn_mem_free(c, c->cost);
    }
    kc->out_tail = NULL;
    kc->out_bytes = 0;
    if (!kc->in_engine)                  /* else dispatch_frame releases it after the call */
        ncp_reasm_release(&kc->ra);
    kc->partial_ms = 0;
    while (kc->held_head) {
        struct held_chain *h = kc->held_head;
        kc->held_head = h->next;
        pbuf_free(h->p);
        free_held(kc, h);
    }
    kc->held_tail = NULL;
    kc->held_q = NULL;
    kc->held_off = 0;
    kc->held_bytes = 0;
}

static void unindex(struct kconn *kc, struct tcp_pcb *pcb)
{
    if (kc->indexed) {
        net_pcb_index_del(pcb, kc->remote_ip, kc->remote_port, kc->local_port);
        kc->indexed = false;
    }
}

static void detach_pcb(struct kconn *kc)
{
    struct tcp_pcb *pcb = kc->pcb;
    unindex(kc, pcb);
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
    kc->pcb = NULL;
}

/* Closes the TCP side; returns true if the pcb had to be aborted (ERR_ABRT in callbacks). */
static bool kconn_close_pcb(struct kconn *kc)
{
    bool aborted = false;
    if (kc->closing)
        return false;
    kc->closing = true;
    if (kc->pcb) {
        struct tcp_pcb *pcb = kc->pcb;
        detach_pcb(kc);
        if (tcp_close(pcb) != ERR_OK) {
            tcp_abort(pcb);
            aborted = true;
            pcb_aborted = true;
        }
    }
    drop_output(kc);
    kconn_put(kc);
    return aborted;
}

static void kconn_close(struct kconn *kc) { (void)kconn_close_pcb(kc); }

/* ---- receiving ---- */

/* After the client's FIN (it may half-close and still read): closes once nothing it asked
 * for is unanswered -- no held bytes, no queued reply, no request in a worker (refs counts
 * one for the connection plus one per such request; `extra` more are being let go).
 * Returns true if it closed (and lwIP needs ERR_ABRT when pcb_aborted). */
static bool frame_whole(const struct kconn *kc)
{
    const uint8_t *f;
    size_t fl;
    return ncp_reasm_frame(&kc->ra, &f, &fl) == NCP_REASM_FRAME;
}

static bool close_if_finished(struct kconn *kc, uint32_t extra)
{
    /* a partial frame never ends; a whole one waiting for room will be answered */
    if (!kc->peer_closed || kc->closing || kc->held_head || frame_whole(kc) || kc->out_head ||
        kc->refs > 1 + extra)
        return false;
    kconn_close_pcb(kc);
    return true;
}

static uint32_t blocking_fn(struct wtd *w)
{
    struct kreq *rq = (struct kreq *)w;
    struct kconn *kc = rq->kc;
    ASSERT(!net_core_locked());                  /* the lock order: engine mutexes first */
    int r = ncp_conn_handle_blocking(kc->conn, rq->frame, rq->len);
    conn_mem_free(rq->frame, rq->cap);
    net_core_lock();
    if (r == NCP_CLOSE_CONN)
        kconn_close(kc);
    else
        close_if_finished(kc, 1);                /* this request's reference goes next */
    kconn_put(kc);
    net_core_unlock();
    conn_mem_free(rq, sizeof *rq);
    return 0;
}

/* Runs in a WTD of its own because ncp_conn_bad_stream waits for conn->lock (and then
 * takes the core lock to send the BADFRAME reply): never in the receive path. */
static uint32_t bad_stream_fn(struct wtd *w)
{
    struct kconn *kc = w->context;
    ASSERT(!net_core_locked());
    ncp_conn_bad_stream(kc->conn);               /* tells the client why, then we close */
    net_core_lock();
    kconn_close(kc);
    kconn_put(kc);
    net_core_unlock();
    return 0;
}

/* A malformed stream: no more bytes are fed; bad_stream_fn answers and closes. */
static void bad_stream(struct kconn *kc)
{
    st.bad_frames++;
    kc->bad = true;
    kc->refs++;
    wtd_init(&kc->bad_wtd, bad_stream_fn, kc);
    wtd_schedule(&kc->bad_wtd);
}

/* What became of a whole frame offered to the engine. */
enum { FRAME_DONE, FRAME_RETRY, FRAME_CLOSED };

/* One complete frame, still in the reassembler (f, fl).  The request that may have to go
 * to a worker is allocated first: once the engine said NCP_WOULD_BLOCK it counts the
 * request in flight and only ncp_conn_handle_blocking lets it go, so there must be no
 * failure between the two; the frame's buffer is then taken over by the request.
 * FRAME_RETRY: past the in-flight limit with the refusal queue full (the send lock is
 * held by a worker waiting for the core lock); the frame stays where it is and is
 * offered again by on_sent once that worker's reply and the queued refusals went out
 * (on_poll too, as a backstop), and nothing more is read meanwhile. */
static int dispatch_frame(struct kconn *kc, const uint8_t *f, size_t fl)
{
    size_t rqsize = sizeof(struct kreq);
    struct kreq *rq = conn_mem_alloc(&rqsize);
    if (!rq) {                                   /* past the budget: close, cleanly */
        st.closed_mem++;
        kconn_close(kc);                         /* drops the frame with the reassembler */
        return FRAME_CLOSED;
    }
    kc->in_engine = true;                        /* a reply that fails to queue may close kc */
    int r = ncp_conn_handle(kc->conn, f, fl, false);
    kc->in_engine = false;
    if (r == NCP_RETRY && !kc->closing) {
        conn_mem_free(rq, sizeof *rq);
        st.waited_for_room++;
        return FRAME_RETRY;
    }
    kc->requests++;
    st.requests++;
    if (r == NCP_WOULD_BLOCK) {
        size_t len, cap;
        rq->kc = kc;
        rq->frame = ncp_reasm_take(&kc->ra, &len, &cap);   /* the same bytes as f */
        rq->len = len;
        rq->cap = cap;
        kc->refs++;
        kc->slow++;
        st.slow_path++;
        wtd_init(&rq->w, blocking_fn, rq);
        wtd_schedule(&rq->w);
        return FRAME_DONE;
    }
    conn_mem_free(rq, sizeof *rq);
    ncp_reasm_release(&kc->ra);                  /* answered: no buffer kept between frames */
    if (r == NCP_CLOSE_CONN || kc->closing) {
        kconn_close(kc);
        return FRAME_CLOSED;
    }
    kc->fast++;
    st.fast_path++;
    return FRAME_DONE;
}

/* Logged in (in a worker) since we last looked: the engine's state may grow by its handle
 * table, charged now (admission left room for it); false if that passed the budget and
 * the connection was closed. */
static bool charge_login(struct kconn *kc)
{
    if (kc->login_charged || !kc->conn || !ncp_conn_logged_in(kc->conn))
        return true;
    if (!conn_mem_charge(login_extra_cost)) {
        st.closed_mem++;
        kconn_close(kc);
        return false;
    }
    kc->login_charged = true;
    return true;
}

/* Backpressure: a whole frame goes to the engine only when nothing of ours is queued and
 * lwIP's send buffer has room for its reply (a READ's data, up to half the buffer), so
 * replies go straight into lwIP; otherwise the frame, the bytes behind it and the
 * client's window wait for on_sent.  A client that sends reads and never reads replies
 * costs a send buffer, not a queue of replies. */
static bool room_for_reply(struct kconn *kc, const uint8_t *frame, size_t len)
{
    struct tcp_pcb *pcb = kc->pcb;
    if (kc->out_head)
        return false;
    size_t need = MIN(ncp_read_reply_size(frame, len), (size_t)TCP_SND_BUF / 2);
    if (!ncp_conn_logged_in(kc->conn) && TCP_SND_BUF - pcb->snd_buf > PRELOGIN_UNACKED_MAX)
        return false;
    /* pcb->snd_buf, not tcp_sndbuf(): with window scaling that macro tops out at 64 KiB */
    return pcb->snd_buf >= need && tcp_sndqueuelen(pcb) + 2 * (need / TCP_MSS) + 8 < TCP_SND_QUEUELEN;
}

/* Feeds held bytes to the engine a frame at a time while replies have room; acknowledges
 * what was fed to lwIP, which reopens the client's window.  Returns false if the
 * connection was closed. */
static bool feed(struct kconn *kc)
{
    size_t fed = 0;
    bool alive = true;
    if (!kc->conn || kc->bad)                    /* not created yet / answered by bad_stream_fn */
        return !kc->closing;
    if (!charge_login(kc))
        return false;
    while (alive && !kc->closing && !kc->bad) {
        /* NEGOTIATE or a login may have changed the limit (in a worker): the
         * reassembler judges the next length prefix by it */
        uint32_t mf = ncp_conn_max_frame(kc->conn);
        if (mf != kc->ra.max_frame)
            ncp_reasm_set_max(&kc->ra, mf);
        const uint8_t *f;
        size_t fl;
        int r = ncp_reasm_frame(&kc->ra, &f, &fl);
        if (r == NCP_REASM_FRAME) {
            if (!room_for_reply(kc, f, fl)) {
                st.waited_for_room++;
                break;
            }
            int d = dispatch_frame(kc, f, fl);
            if (d == FRAME_RETRY)
                break;
            alive = d == FRAME_DONE;
            continue;
        }
        if (r == NCP_REASM_ERROR) {
            bad_stream(kc);
            break;
        }
        if (r == NCP_REASM_NOMEM) {              /* the frame would pass the budget */
            st.closed_mem++;
            kconn_close(kc);
            return false;
        }
        struct held_chain *h = kc->held_head;
        if (!h)
            break;
        struct pbuf *q = kc->held_q ? kc->held_q : h->p;
        while (q && kc->held_off >= q->len) {    /* this pbuf is all fed */
            q = q->next;
            kc->held_off = 0;
        }
        kc->held_q = q;
        if (!q) {                                /* and so is the chain */
            kc->held_head = h->next;
            if (!kc->held_head)
                kc->held_tail = NULL;
            pbuf_free(h->p);
            free_held(kc, h);
            continue;
        }
        size_t used = ncp_reasm_feed(&kc->ra, (const uint8_t *)q->payload + kc->held_off,
                                     q->len - kc->held_off);
        kc->held_off += (uint32_t)used;
        kc->held_bytes -= used;
        fed += used;
    }
    if (!alive || kc->closing)
        return false;
    if (kc->ra.have == 0 || frame_whole(kc))
        kc->partial_ms = 0;
    else if (!kc->partial_ms)
        kc->partial_ms = uptime_ms();
    for (; fed; fed -= MIN(fed, (size_t)0xFFFF))
        tcp_recved(kc->pcb, (u16_t)MIN(fed, (size_t)0xFFFF));
    return true;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct kconn *kc = arg;
    if (!kc) {
        if (p)
            pbuf_free(p);
        return ERR_OK;
    }
    pcb_aborted = false;
    if (!p) {                                    /* the client closed its side: answer what it sent */
        kc->peer_closed = true;
        if (!feed(kc))
            return pcb_aborted ? ERR_ABRT : ERR_OK;
        return close_if_finished(kc, 0) && pcb_aborted ? ERR_ABRT : ERR_OK;
    }
    st.bytes_in += p->tot_len;
    kc->bytes_in += p->tot_len;
    if (kc->bad) {                               /* nothing more is read from a bad stream */
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    }
    size_t hsize = sizeof(struct held_chain);
    struct held_chain *h = kc->held_head ? conn_mem_alloc(&hsize) : &kc->held_spare;
    if (!h) {
        pbuf_free(p);
        st.closed_mem++;
        return kconn_close_pcb(kc) ? ERR_ABRT : ERR_OK;
    }
    h->p = p;
    h->next = NULL;
    if (kc->held_tail)
        kc->held_tail->next = h;
    else
        kc->held_head = h;
    kc->held_tail = h;
    kc->held_bytes += p->tot_len;
    if (!feed(kc))                               /* closed while feeding: lwIP must not touch */
        return pcb_aborted ? ERR_ABRT : ERR_OK;  /* an aborted pcb again */
    if (kc->held_bytes > PRELOGIN_HELD_MAX && !(kc->conn && ncp_conn_logged_in(kc->conn))) {
        st.closed_mem++;                         /* sends without reading before login */
        return kconn_close_pcb(kc) ? ERR_ABRT : ERR_OK;
    }
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct kconn *kc = arg;
    if (!kc)
        return ERR_OK;
    kconn_flush(kc);
    pcb_aborted = false;
    if ((kc->held_head || frame_whole(kc)) && !feed(kc))
        return pcb_aborted ? ERR_ABRT : ERR_OK;
    return close_if_finished(kc, 0) && pcb_aborted ? ERR_ABRT : ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    struct kconn *kc = arg;
    if (!kc)
        return;
    unindex(kc, kc->pcb);                        /* by address only: lwIP may have freed it */
    kc->pcb = NULL;
    if (!kc->closing) {
        kc->closing = true;
        drop_output(kc);
        kconn_put(kc);
    }
}

/* Every POLL_TICKS: the login and partial-frame timeouts (no engine mutex: the
 * logged-in flag is atomic). */
static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    struct kconn *kc = arg;
    if (!kc || kc->closing)
        return ERR_OK;
    pcb_aborted = false;
    if (!charge_login(kc))
        return pcb_aborted ? ERR_ABRT : ERR_OK;
    /* a whole frame still waiting (for room or for its refusal's turn) is offered again:
     * on_sent does that as the replies go; this is the backstop should none be left */
    if (frame_whole(kc) && !feed(kc))
        return pcb_aborted ? ERR_ABRT : ERR_OK;
    uint64_t now = uptime_ms();
    bool close = false;
    if (opt_login_timeout_s && now - kc->accepted_ms >= opt_login_timeout_s * 1000 &&
        !(kc->conn && ncp_conn_logged_in(kc->conn))) {
        st.login_timeouts++;
        close = true;
    } else if (opt_frame_timeout_s && kc->partial_ms && now - kc->partial_ms >= opt_frame_timeout_s * 1000) {
        st.frame_timeouts++;
        close = true;
    }
    if (!close)
        return ERR_OK;
    pcb_aborted = false;
    return kconn_close_pcb(kc) ? ERR_ABRT : ERR_OK;
}

/* Sends the ETOOMANYCONNS refusal and closes; returns what lwIP's callback returns. */
static err_t refuse(struct tcp_pcb *pcb)
{
    uint8_t buf[NCP_LEN_SIZE + NCP_HDR_SIZE];
    size_t n = ncp_server_refusal(buf);
    st.refused++;
    tcp_arg(pcb, NULL);
    tcp_write(pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    if (tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

/* The engine connection, made outside the core lock (ncp_conn_create waits for
 * server->lock); bytes that arrived meanwhile are fed once it exists. */
static uint32_t create_fn(struct wtd *w)
{
    struct kconn *kc = w->context;
    ASSERT(!net_core_locked());
    struct ncp_conn *c = ncp_conn_create(server, ksend, kc);
    if (c && opt_read_ref)
        ncp_conn_set_sendv(c, ksendv);
    net_core_lock();
    if (!c) {                                    /* the engine's own limit, or stopping */
        if (kc->pcb && !kc->closing) {
            uint8_t buf[NCP_LEN_SIZE + NCP_HDR_SIZE];
            size_t n = ncp_server_refusal(buf);
            st.refused++;
            tcp_write(kc->pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
        }
        kconn_close(kc);
    } else {
        kc->conn = c;
        ncp_reasm_init_growing(&kc->ra, ncp_conn_max_frame(c), reasm_alloc, NULL);
        if (!kc->closing && feed(kc))
            close_if_finished(kc, 1);            /* this WTD's reference goes next */
    }
    kconn_put(kc);
    net_core_unlock();
    return 0;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    /* Admission needs no engine mutex: counts, the budget (room for this connection
     * and a pre-login frame), the stopping flag (atomic). */
    uint64_t need = conn_base_cost + login_extra_cost + kmalloc_footprint(NCP_LEN_SIZE + NCP_PRELOGIN_MAX_FRAME);
    if (st.live >= opt_maxconn || ncp_server_stopping(server))
        return refuse(pcb);
    if (__atomic_load_n(&st.mem_bytes, __ATOMIC_RELAXED) + need > mem_limit || !conn_mem_charge(conn_base_cost)) {
        st.refused_mem++;
        return refuse(pcb);
    }
    struct kconn *kc = kzalloc(sizeof *kc);
    if (!kc) {
        conn_mem_uncharge(conn_base_cost);
        st.refused_mem++;
        return refuse(pcb);
    }
    kc->pcb = pcb;
    kc->refs = 2;                                /* the TCP connection and create_fn */
    kc->accepted_ms = uptime_ms();
    kc->remote_ip = pcb->remote_ip.addr;
    kc->remote_port = pcb->remote_port;
    kc->local_port = pcb->local_port;
    net_pcb_index_add(pcb);                      /* tcp_input finds it in O(1) */
    kc->indexed = true;
    kc->next = conns;
    if (conns)
        conns->prev = kc;
    conns = kc;
    st.accepted++;
    st.live++;
    tcp_arg(pcb, kc);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tcp_poll(pcb, on_poll, POLL_TICKS);
    tcp_nagle_disable(pcb);                      /* request/reply: no coalescing delay */
    wtd_init(&kc->create_wtd, create_fn, kc);
    wtd_schedule(&kc->create_wtd);
    return ERR_OK;
}

/* ---- engine services ---- */

static uint64_t engine_now_ms(void *arg)
{
    return now_ns() / 1000000u;
}

static void poweroff_main(void *arg)
{
    thread_sleep_ms(300);              /* let the reply leave the NIC */
    kprintf("ncp: shutdown requested by an administrator: power off\n");
    power_run_shutdown_hooks();
    power_off();
}

static void admin_shutdown(void *arg)
{
    thread_create("poweroff", poweroff_main, NULL);
}

static unsigned extra_counters(void *arg, struct ncp_counter *out, unsigned max)
{
    struct wtd_stats w;
    struct kserver_stats k;
    uint64_t idx_hits, idx_misses;
    uint32_t idx_used;
    wtd_get_stats(&w);
    kserver_get_stats(&k);
    net_pcb_index_stats(&idx_hits, &idx_misses, &idx_used);
    struct ncp_counter all[] = {
        { "wtd.scheduled", w.scheduled }, { "wtd.run", w.run }, { "wtd.burst_yields", w.burst_yields },
        { "wtd.preemptions", w.preemptions }, { "wtd.delay_avg_tsc", w.delay_avg },
        { "worker.count", w.workers }, { "worker.idle", w.idle }, { "worker.sleeping", w.sleeping },
        { "worker.peak", w.peak }, { "worker.created", w.workers_created },
        { "worker.reclaimed", w.workers_reclaimed },
        { "conn.live", k.live }, { "conn.accepted", k.accepted }, { "conn.refused", k.refused },
        { "conn.mem_bytes", k.mem_bytes }, { "conn.mem_limit", mem_limit },
        { "conn.refused_mem", k.refused_mem }, { "conn.closed_mem", k.closed_mem },
        { "conn.login_timeouts", k.login_timeouts }, { "conn.frame_timeouts", k.frame_timeouts },
        { "conn.login_timeout_s", opt_login_timeout_s }, { "conn.frame_timeout_s", opt_frame_timeout_s },
        { "req.fast_path", k.fast_path }, { "req.slow_path", k.slow_path },
        { "net.bytes_in", k.bytes_in }, { "net.bytes_out", k.bytes_out },
        { "net.send_queued_max", k.send_queued_max }, { "req.waited_for_room", k.waited_for_room },
        { "net.rx_drops", net_rx_drops_total() }, { "net.tcp_refused", net_tcp_refused() },
        { "net.pcb_index_hits", idx_hits }, { "net.pcb_index_misses", idx_misses },
        { "mem.free_kib", pmm_free_count() * 4 },
        /* the cost per request (scripts/bench-cost.sh): under -icount shift=0 the TSC counts
         * guest instructions, so cpu.tsc - cpu.idle_tsc is the instructions executed */
        { "cpu.tsc", rdtsc() }, { "cpu.idle_tsc", sched_idle_tsc() },
        { "irq.net", irq_taken(IRQ_HOOKED_NET) }, { "irq.disk", irq_taken(IRQ_HOOKED_DISK) },
        { "irq.plain", irq_taken(IRQ_PLAIN) },
    };
    unsigned n = 0;
    for (; n < ARRAY_SIZE(all) && n < max; n++)
        out[n] = all[n];
    if (storage_cache() && n + 6 <= max) {
        struct bcache_stats b;
        bcache_get_stats(storage_cache(), &b);
        out[n++] = (struct ncp_counter){ "cache.hits", b.hits };
        out[n++] = (struct ncp_counter){ "cache.misses", b.misses };
        out[n++] = (struct ncp_counter){ "cache.nb_misses", b.nb_misses };
        out[n++] = (struct ncp_counter){ "cache.ra_hits", b.ra_hits };
        out[n++] = (struct ncp_counter){ "cache.evictions", b.evictions };
        out[n++] = (struct ncp_counter){ "cache.dirty", b.dirty };
    }
    if (storage_volume() && n + 11 <= max) {
        struct ext2_stats e;
        ext2_get_stats(storage_volume(), &e);
        out[n++] = (struct ncp_counter){ "fs.fsyncs", e.fsyncs };
        out[n++] = (struct ncp_counter){ "fs.fsync_blocks", e.fsync_blocks };
        out[n++] = (struct ncp_counter){ "fs.fsync_last_blocks", e.fsync_last_blocks };
        out[n++] = (struct ncp_counter){ "fs.sync_last_blocks", e.sync_last_blocks };
        out[n++] = (struct ncp_counter){ "fs.unclean_mount", e.unclean_mount };
        out[n++] = (struct ncp_counter){ "fs.mount_count", e.mount_count };
        out[n++] = (struct ncp_counter){ "fs.journal_commits", e.journal_commits };
        out[n++] = (struct ncp_counter){ "fs.journal_checkpoints", e.journal_checkpoints };
        out[n++] = (struct ncp_counter){ "fs.order_barriers", e.order_barriers };
        out[n++] = (struct ncp_counter){ "fs.journal_background_commits", e.journal_background_commits };
        out[n++] = (struct ncp_counter){ "fs.journal_throttled", e.journal_throttled };
    }
    return n;
}

void kserver_get_stats(struct kserver_stats *out)
{
    uint64_t f = irq_save();
    *out = st;
    irq_restore(f);
    out->mem_bytes = __atomic_load_n(&st.mem_bytes, __ATOMIC_RELAXED);
}

static int kserver_init(void)
{
    struct ext2_fs *vol = storage_volume();
    if (!vol) {
        kprintf("ncp: no volume mounted: file service not started\n");
        return -1;
    }
    struct ncp_server_config cfg = {
        .vfs = &ncp_vfs_ext2_ops, .vfs_ctx = vol,
        .max_conns = (uint32_t)opt_maxconn, .max_inflight = (uint32_t)opt_max_inflight,
        .random = random_fill, .shutdown = admin_shutdown, .extra_counters = extra_counters,
        .max_locks_per_handle = (uint32_t)opt_locks_per_handle, .max_locks_per_conn = (uint32_t)opt_locks_per_conn,
        .max_locks = (uint32_t)opt_locks, .intruder_attempts = (uint32_t)opt_intruder_attempts,
        .intruder_window_s = (uint32_t)opt_intruder_window_s, .intruder_lock_s = (uint32_t)opt_intruder_lock_s,
        .intruder_names = (uint32_t)opt_intruder_names, .now_ms = engine_now_ms,
    };
    server = ncp_server_create(&cfg);
    if (!server) {
        kprintf("ncp: cannot create the server\n");
        return -1;
    }
    mem_limit = opt_conn_mem_mb << 20;
    conn_base_cost = kmalloc_footprint(sizeof(struct kconn)) + kmalloc_footprint(ncp_server_conn_bytes(server, false));
    login_extra_cost = kmalloc_footprint(ncp_server_conn_bytes(server, true) - ncp_server_conn_bytes(server, false));
    net_core_lock();
    struct tcp_pcb *l = net_tcp_listen(NCP_PORT, on_accept, NULL);
    net_core_unlock();
    if (!l) {
        kprintf("ncp: cannot listen on port %d\n", NCP_PORT);
        return -1;
    }
    kprintf("ncp: file service on TCP port %d (max %lu connections, %lu MiB for their state, %lu B each idle)\n",
            NCP_PORT, opt_maxconn, opt_conn_mem_mb, conn_base_cost);
    return 0;
}
INITCALL(INIT_SERVICE, kserver_init);

/* ---- console ---- */
#include "console.h"

static void cmd_conns(int argc, char **argv)
{
    net_core_lock();
    kprintf("  %5s %-21s %9s %9s %9s %11s %11s %7s\n", "conn", "client", "requests", "fast",
            "slow", "bytes in", "bytes out", "queued");
    int shown = 0;
    for (struct kconn *kc = conns; kc && shown < 50; kc = kc->next, shown++) {
        uint32_t ip = kc->remote_ip;
        char addr[24];
        ksnprintf(addr, sizeof addr, "%u.%u.%u.%u:%u", ip & 255, (ip >> 8) & 255, (ip >> 16) & 255,
                  ip >> 24, kc->remote_port);
        kprintf("  %5u %-21s %9lu %9lu %9lu %11lu %11lu %7zu %s refs %u%s\n", kc->conn ? ncp_conn_number(kc->conn) : 0,
                addr, kc->requests, kc->fast, kc->slow, kc->bytes_in, kc->bytes_out, kc->out_bytes,
                kc->pcb ? tcp_debug_state_str(kc->pcb->state) : "-", kc->refs,
                kc->closing ? " closing" : "");
    }
    kprintf("  %lu live (%lu accepted, %lu refused, %lu closed)%s\n", st.live, st.accepted,
            st.refused, st.closed, shown == 50 ? "; first 50 shown" : "");
    kprintf("  state %lu of %lu bytes; refused for memory %lu, closed for memory %lu; timeouts: login %lu, frame %lu\n",
            __atomic_load_n(&st.mem_bytes, __ATOMIC_RELAXED), mem_limit, st.refused_mem, st.closed_mem,
            st.login_timeouts, st.frame_timeouts);
    net_core_unlock();
}
CONSOLE_COMMAND("conns", "file-service connections", cmd_conns);

static void cmd_stats(int argc, char **argv)
{
    struct kserver_stats k;
    struct wtd_stats w;
    kserver_get_stats(&k);
    wtd_get_stats(&w);
    uint64_t pct = k.requests ? k.fast_path * 100 / k.requests : 0;
    kprintf("  requests %lu: fast path %lu (%lu%%, answered in the receive WTD), slow path %lu (own WTD)\n",
            k.requests, k.fast_path, pct, k.slow_path);
    kprintf("  bad frames %lu, bytes in %lu, out %lu, largest send backlog %lu\n",
            k.bad_frames, k.bytes_in, k.bytes_out, k.send_queued_max);
    kprintf("  WTD: run %lu, preemptions %lu, workers %lu (peak %lu, sleeping %lu)\n",
            w.run, w.preemptions, w.workers, w.peak, w.sleeping);
}
CONSOLE_COMMAND("stats", "file-service fast path against slow path", cmd_stats);
