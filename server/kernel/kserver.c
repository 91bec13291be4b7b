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
 * Locking: every field of a kconn, and every lwIP call, is under the lwIP core lock.
 * The engine's send callback may be called with it held (receive path) or not (a
 * worker), so ksend takes it only when needed.  Nothing here sleeps with it held
 * except the engine's short mutexes, which are never held across I/O.
 *
 * Lifetime: a kconn holds one reference for the TCP connection and one per request
 * in a worker.  The engine connection is destroyed (in a WTD: it may sleep) when the
 * last reference goes.
 *
 * Frames are assembled one buffer per frame, sized by the length prefix (checked
 * against the connection's negotiated maximum): a connection with no partial frame
 * costs no buffer at all, which is what lets 10000 idle clients fit in memory.
 */
#include "kserver.h"
#include "net.h"
#include "lwip/tcp.h"
#include "server/ncp_server.h"
#include "server/ncp_vfs_ext2.h"
#include "random.h"
#include "fs/kernel/storage.h"
#include "fs/bcache.h"
#include "wtd.h"
#include "sched.h"
#include "mm.h"
#include "io.h"
#include "init.h"
#include "kopt.h"
#include "printf.h"
#include "string.h"
#include "power.h"
#include "time.h"

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

struct out_chunk {
    struct out_chunk *next;
    size_t len, off;
    uint8_t data[];
};

/* Received bytes not fed to the engine yet (one node per pbuf chain lwIP delivered). */
struct held_chain {
    struct held_chain *next;
    struct pbuf *p;
};

struct kconn {
    struct tcp_pcb *pcb;                 /* NULL once closed or dropped by lwIP */
    struct ncp_conn *conn;
    uint32_t refs;
    bool closing;
    bool peer_closed;                    /* FIN seen: close once every reply is out */
    uint8_t prefix[NCP_LEN_SIZE];        /* the frame being assembled */
    uint32_t prefix_have;
    uint8_t *frame;                      /* whole when frame_have == frame_len: waits for room */
    uint32_t frame_len, frame_have;
    struct held_chain *held_head, *held_tail;
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
    struct wtd destroy_wtd;
};

struct kreq {
    struct wtd w;
    struct kconn *kc;
    uint8_t *frame;
    size_t len;
};

static struct ncp_server *server;
static struct kconn *conns;
static bool pcb_aborted;                 /* kconn_close_pcb had to tcp_abort (core lock held) */
static struct kserver_stats st;

static void kconn_close(struct kconn *kc);

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
        if (n > room) n = room;
        if (n > 0xFFFF) n = 0xFFFF;
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
            kfree(c);
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
    struct out_chunk *c = kmalloc(sizeof *c + rest);
    if (!c) {
        kprintf("ncp: out of memory for a %zu-byte reply: closing connection %u\n",
                rest, ncp_conn_number(kc->conn));
        kconn_close(kc);
        return;
    }
    size_t at = 0;
    for (unsigned k = i; k < n; k++) {
        size_t skip = k == i ? off : 0;
        memcpy(c->data + at, iov[k].base + skip, iov[k].len - skip);
        at += iov[k].len - skip;
    }
    c->len = rest;
    c->off = 0;
    c->next = NULL;
    if (kc->out_tail) kc->out_tail->next = c; else kc->out_head = c;
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
    ncp_conn_destroy(kc->conn);          /* may sleep: not under the core lock */
    net_core_lock();
    if (kc->prev) kc->prev->next = kc->next; else conns = kc->next;
    if (kc->next) kc->next->prev = kc->prev;
    st.live--;
    st.closed++;
    net_core_unlock();
    kfree(kc);
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
        kfree(h);
}

static void drop_output(struct kconn *kc)
{
    while (kc->out_head) {
        struct out_chunk *c = kc->out_head;
        kc->out_head = c->next;
        kfree(c);
    }
    kc->out_tail = NULL;
    kc->out_bytes = 0;
    kfree(kc->frame);
    kc->frame = NULL;
    while (kc->held_head) {
        struct held_chain *h = kc->held_head;
        kc->held_head = h->next;
        pbuf_free(h->p);
        free_held(kc, h);
    }
    kc->held_tail = NULL;
    kc->held_q = NULL;
    kc->held_off = 0;
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
static bool close_if_finished(struct kconn *kc, uint32_t extra)
{
    bool frame_waiting = kc->frame && kc->frame_have == kc->frame_len;   /* a partial one never ends */
    if (!kc->peer_closed || kc->closing || kc->held_head || frame_waiting || kc->out_head ||
        kc->refs > 1 + extra)
        return false;
    kconn_close_pcb(kc);
    return true;
}

static uint32_t blocking_fn(struct wtd *w)
{
    struct kreq *rq = (struct kreq *)w;
    struct kconn *kc = rq->kc;
    int r = ncp_conn_handle_blocking(kc->conn, rq->frame, rq->len);
    kfree(rq->frame);
    net_core_lock();
    if (r == NCP_CLOSE_CONN)
        kconn_close(kc);
    else
        close_if_finished(kc, 1);                /* this request's reference goes next */
    kconn_put(kc);
    net_core_unlock();
    kfree(rq);
    return 0;
}

/* One complete frame (owned); false if the connection was closed. */
static bool dispatch_frame(struct kconn *kc, uint8_t *frame, size_t len)
{
    kc->requests++;
    st.requests++;
    int r = ncp_conn_handle(kc->conn, frame, len, false);
    if (r == NCP_WOULD_BLOCK) {
        struct kreq *rq = kmalloc(sizeof *rq);
        if (!rq) {
            kfree(frame);
            kprintf("ncp: out of memory queueing a request: closing connection\n");
            kconn_close(kc);
            return false;
        }
        rq->kc = kc;
        rq->frame = frame;
        rq->len = len;
        kc->refs++;
        kc->slow++;
        st.slow_path++;
        wtd_init(&rq->w, blocking_fn, rq);
        wtd_schedule(&rq->w);
        return true;
    }
    kfree(frame);
    if (r == NCP_CLOSE_CONN) {
        kconn_close(kc);
        return false;
    }
    kc->fast++;
    st.fast_path++;
    return true;
}

/* Takes bytes into the frame being assembled, stopping once a frame is whole; returns
 * how many it took, or -1 if the connection was closed (a bad length, no memory). */
static long assemble(struct kconn *kc, const uint8_t *p, size_t n)
{
    size_t used = 0;
    if (!kc->frame) {
        size_t take = MIN(n, NCP_LEN_SIZE - kc->prefix_have);
        memcpy(kc->prefix + kc->prefix_have, p, take);
        kc->prefix_have += take;
        used = take;
        if (kc->prefix_have < NCP_LEN_SIZE)
            return (long)used;
        uint32_t body = ncp_get32(kc->prefix);
        if (body < NCP_MIN_FRAME || body > ncp_conn_max_frame(kc->conn)) {
            st.bad_frames++;
            ncp_conn_bad_stream(kc->conn);       /* tells the client why, then we close */
            kconn_close(kc);
            return -1;
        }
        kc->frame_len = NCP_LEN_SIZE + body;
        kc->frame = kmalloc(kc->frame_len);
        if (!kc->frame) {
            kconn_close(kc);
            return -1;
        }
        memcpy(kc->frame, kc->prefix, NCP_LEN_SIZE);
        kc->frame_have = NCP_LEN_SIZE;
    }
    size_t take = MIN(n - used, kc->frame_len - kc->frame_have);
    memcpy(kc->frame + kc->frame_have, p + used, take);
    kc->frame_have += take;
    return (long)(used + take);
}

/* Backpressure: a whole frame goes to the engine only when nothing of ours is queued and
 * lwIP's send buffer has room for its reply (a READ's data, up to half the buffer), so
 * replies go straight into lwIP; otherwise the frame, the bytes behind it and the
 * client's window wait for on_sent.  A client that sends reads and never reads replies
 * costs a send buffer, not a queue of replies. */
static bool room_for_reply(struct kconn *kc)
{
    struct tcp_pcb *pcb = kc->pcb;
    if (kc->out_head)
        return false;
    size_t need = MIN(ncp_read_reply_size(kc->frame, kc->frame_len), (size_t)TCP_SND_BUF / 2);
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
    while (alive && !kc->closing) {
        if (kc->frame && kc->frame_have == kc->frame_len) {
            if (!room_for_reply(kc)) {
                st.waited_for_room++;
                break;
            }
            uint8_t *f = kc->frame;
            kc->frame = NULL;
            kc->prefix_have = 0;
            alive = dispatch_frame(kc, f, kc->frame_len);
            continue;
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
        long used = assemble(kc, (const uint8_t *)q->payload + kc->held_off, q->len - kc->held_off);
        if (used < 0)
            return false;
        kc->held_off += (uint32_t)used;
        fed += (size_t)used;
    }
    if (!alive || kc->closing)
        return false;
    for (; fed; fed -= MIN(fed, (size_t)0xFFFF))
        tcp_recved(kc->pcb, (u16_t)MIN(fed, (size_t)0xFFFF));
    return true;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct kconn *kc = arg;
    if (!kc) {
        if (p) pbuf_free(p);
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
    struct held_chain *h = kc->held_head ? kmalloc(sizeof *h) : &kc->held_spare;
    if (!h) {
        pbuf_free(p);
        kprintf("ncp: out of memory for received data: closing connection %u\n", ncp_conn_number(kc->conn));
        return kconn_close_pcb(kc) ? ERR_ABRT : ERR_OK;
    }
    h->p = p;
    h->next = NULL;
    if (kc->held_tail) kc->held_tail->next = h; else kc->held_head = h;
    kc->held_tail = h;
    if (!feed(kc))                               /* closed while feeding: lwIP must not touch */
        return pcb_aborted ? ERR_ABRT : ERR_OK;  /* an aborted pcb again */
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct kconn *kc = arg;
    if (!kc)
        return ERR_OK;
    kconn_flush(kc);
    pcb_aborted = false;
    if ((kc->held_head || kc->frame) && !feed(kc))
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

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    struct kconn *kc = kzalloc(sizeof *kc);
    struct ncp_conn *c = NULL;
    if (kc && st.live < opt_maxconn && !ncp_server_stopping(server))
        c = ncp_conn_create(server, ksend, kc);
    if (c && opt_read_ref)
        ncp_conn_set_sendv(c, ksendv);
    if (!c) {
        /* refused: tell the client why, then close */
        uint8_t buf[NCP_LEN_SIZE + NCP_HDR_SIZE];
        size_t n = ncp_server_refusal(buf);
        st.refused++;
        kfree(kc);
        tcp_arg(pcb, NULL);
        tcp_write(pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
        tcp_output(pcb);
        if (tcp_close(pcb) != ERR_OK) {
            tcp_abort(pcb);
            return ERR_ABRT;
        }
        return ERR_OK;
    }
    kc->pcb = pcb;
    kc->conn = c;
    kc->refs = 1;
    kc->remote_ip = pcb->remote_ip.addr;
    kc->remote_port = pcb->remote_port;
    kc->local_port = pcb->local_port;
    net_pcb_index_add(pcb);                      /* tcp_input finds it in O(1) */
    kc->indexed = true;
    kc->next = conns;
    if (conns) conns->prev = kc;
    conns = kc;
    st.accepted++;
    st.live++;
    tcp_arg(pcb, kc);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tcp_nagle_disable(pcb);                      /* request/reply: no coalescing delay */
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
        { "req.fast_path", k.fast_path }, { "req.slow_path", k.slow_path },
        { "net.bytes_in", k.bytes_in }, { "net.bytes_out", k.bytes_out },
        { "net.send_queued_max", k.send_queued_max }, { "req.waited_for_room", k.waited_for_room },
        { "net.rx_drops", net_rx_drops_total() }, { "net.tcp_refused", net_tcp_refused() },
        { "net.pcb_index_hits", idx_hits }, { "net.pcb_index_misses", idx_misses },
        { "mem.free_kib", pmm_free_count() * 4 },
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
    return n;
}

void kserver_get_stats(struct kserver_stats *out)
{
    uint64_t f = irq_save();
    *out = st;
    irq_restore(f);
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
    net_core_lock();
    struct tcp_pcb *l = net_tcp_listen(NCP_PORT, on_accept, NULL);
    net_core_unlock();
    if (!l) {
        kprintf("ncp: cannot listen on port %d\n", NCP_PORT);
        return -1;
    }
    kprintf("ncp: file service on TCP port %d (max %lu connections)\n", NCP_PORT, opt_maxconn);
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
        kprintf("  %5u %-21s %9lu %9lu %9lu %11lu %11lu %7zu %s refs %u%s\n", ncp_conn_number(kc->conn),
                addr, kc->requests, kc->fast, kc->slow, kc->bytes_in, kc->bytes_out, kc->out_bytes,
                kc->pcb ? tcp_debug_state_str(kc->pcb->state) : "-", kc->refs,
                kc->closing ? " closing" : "");
    }
    kprintf("  %lu live (%lu accepted, %lu refused, %lu closed)%s\n", st.live, st.accepted,
            st.refused, st.closed, shown == 50 ? "; first 50 shown" : "");
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
