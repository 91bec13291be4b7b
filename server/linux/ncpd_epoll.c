/* ncpd_epoll.c - ncpd's event-loop mode, shaped like the kernel server.
 *
 * One loop thread owns the sockets (non-blocking, epoll).  Each frame first
 * goes through the engine's non-blocking fast path; what would block is
 * copied to a queue served by --workers threads (0: run it inline), the way
 * the kernel hands such requests to WTD workers.  Replies from any thread are
 * appended to the connection's output buffer and flushed by the loop; a
 * connection with too much unsent output is not read until it drains.  A client
 * that half-closes is closed once its requests are answered and sent.
 *
 * Limits: every client's state (this struct, the engine's connection, the frame being
 * reassembled -- a buffer that grows with the bytes that arrived --, unsent replies and
 * queued requests) is charged to the budget of ncpd_mem.c; a client not logged in after
 * --login-timeout seconds, or holding a partial frame for --frame-timeout seconds, is
 * closed (checked once a second).
 */
#include "server/linux/ncpd.h"
#include "proto/ncp_reasm.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_HIGH_WATER (4u << 20)
#define OUT_HIGH_WATER_PRELOGIN 0u   /* before login: a client stops being read while any reply to it is unsent */
#define OUT_KEEP (16u << 10)            /* a drained reply buffer bigger than this is freed */
#define RBUF_KEEP (64u << 10)           /* likewise a reassembly buffer between frames */

struct client {
    int fd;
    struct ncp_conn *conn;
    struct ncp_reasm ra;        /* loop thread only; its buffer is charged to the budget */
    size_t base_bytes;          /* charged for this struct and the engine's connection (grows at login) */
    bool login_charged;         /* loop thread only */
    uint64_t accepted_ms, partial_ms;    /* loop thread only; partial_ms 0: no partial frame */
    struct client *lnext, *lprev;        /* all clients (loop thread only) */
    pthread_mutex_t out_lock;   /* out*, send_failed: workers append, the loop flushes */
    uint8_t *out;
    size_t out_len, out_cap, out_off;
    bool send_failed;
    bool want_out, paused, closing;   /* loop thread only */
    bool peer_closed;           /* EOF read: in the draining list until all is answered */
    bool queued;                /* in the pending list; pending_lock */
};

static int epfd, wake_fd;
static struct client *clients;          /* loop thread only */

/* Half-closed clients waiting for their last replies (loop thread only). */
static struct client **draining;
static size_t ndraining, draining_cap;
static struct ncp_server *server;

/* Clients with output to flush or about to close, handled once per loop turn. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct client **pending;
static size_t npending, pending_cap;

static void mark_pending(struct client *cl)
{
    pthread_mutex_lock(&pending_lock);
    if (!cl->queued) {
        if (npending == pending_cap) {
            pending_cap = pending_cap ? pending_cap * 2 : 256;
            pending = realloc(pending, pending_cap * sizeof *pending);
        }
        cl->queued = true;
        pending[npending++] = cl;
    }
    pthread_mutex_unlock(&pending_lock);
}

static void wake_loop(void)
{
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) { /* already signalled */ }
}

/* The engine's send callback: may run on a worker. */
static void client_send(void *arg, const uint8_t *frame, size_t len)
{
    struct client *cl = arg;
    pthread_mutex_lock(&cl->out_lock);
    if (cl->out_len + len > cl->out_cap) {
        if (cl->out_off) {                          /* compact before growing */
            memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
            cl->out_len -= cl->out_off;
            cl->out_off = 0;
        }
        size_t cap = cl->out_cap ? cl->out_cap : 1024;
        while (cap < cl->out_len + len)
            cap *= 2;
        if (!ncp_conn_logged_in(cl->conn))
            cap = cl->out_len + len; /* before login: no slack */
        uint8_t *b = ncpd_mem_resize(cl->out, cl->out_cap, cap);
        if (!b) {
            if (!cl->send_failed)
                add_counter(&ncpd_ctr.closed_mem, 1);
            cl->send_failed = true;
            pthread_mutex_unlock(&cl->out_lock);
            mark_pending(cl);
            if (!pthread_equal(pthread_self(), ncpd_loop_thread))
                wake_loop();
            return;
        }
        cl->out = b;
        cl->out_cap = cap;
    }
    memcpy(cl->out + cl->out_len, frame, len);
    cl->out_len += len;
    pthread_mutex_unlock(&cl->out_lock);
    mark_pending(cl);
    if (!pthread_equal(pthread_self(), ncpd_loop_thread))
        wake_loop();
}

/* ---- worker pool ---- */

struct job {
    struct job *next;
    struct ncp_conn *conn;      /* kept alive by the engine until handle_blocking */
    size_t len;
    uint8_t frame[];
};

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cond = PTHREAD_COND_INITIALIZER;
static struct job *job_head, *job_tail;
static bool jobs_stop;

static void *worker_main(void *arg)
{
    add_counter(&ncpd_ctr.threads, 1);
    for (;;) {
        pthread_mutex_lock(&job_lock);
        while (!job_head && !jobs_stop)
            pthread_cond_wait(&job_cond, &job_lock);
        struct job *j = job_head;
        if (j) {
            job_head = j->next;
            if (!job_head)
                job_tail = NULL;
        }
        pthread_mutex_unlock(&job_lock);
        if (!j)
            break;
        add_counter(&ncpd_ctr.worker_jobs, 1);
        ncp_conn_handle_blocking(j->conn, j->frame, j->len);
        ncpd_mem_resize(j, sizeof *j + j->len, 0);
    }
    return NULL;
}

static bool queue_job(struct ncp_conn *conn, const uint8_t *frame, size_t len)
{
    struct job *j = ncpd_mem_resize(NULL, 0, sizeof *j + len);   /* queued requests count too */
    if (!j)
        return false;
    j->next = NULL;
    j->conn = conn;
    j->len = len;
    memcpy(j->frame, frame, len);
    pthread_mutex_lock(&job_lock);
    if (job_tail)
        job_tail->next = j;
    else
        job_head = j;
    job_tail = j;
    pthread_cond_signal(&job_cond);
    pthread_mutex_unlock(&job_lock);
    return true;
}

/* ---- connections ---- */

static void arm(struct client *cl)
{
    struct epoll_event ev = { .data.ptr = cl };
    ev.events = (cl->paused || cl->peer_closed ? 0 : EPOLLIN) | (cl->want_out ? EPOLLOUT : 0);
    epoll_ctl(epfd, EPOLL_CTL_MOD, cl->fd, &ev);
}

static void flush_out(struct client *cl)
{
    pthread_mutex_lock(&cl->out_lock);
    if (cl->send_failed)
        cl->closing = true;
    while (cl->out_off < cl->out_len) {
        ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            cl->closing = true;
            cl->out_off = cl->out_len = 0;
            break;
        }
        add_counter(&ncpd_ctr.tx_bytes, (uint64_t)n);
        cl->out_off += (size_t)n;
    }
    if (cl->out_off == cl->out_len)
        cl->out_off = cl->out_len = 0;
    if (cl->out_len == 0 && (cl->out_cap > OUT_KEEP || !ncp_conn_logged_in(cl->conn))) {
        ncpd_mem_resize(cl->out, cl->out_cap, 0);
        cl->out = NULL;
        cl->out_cap = 0;
    }
    size_t high = ncp_conn_logged_in(cl->conn) ? OUT_HIGH_WATER : OUT_HIGH_WATER_PRELOGIN;
    bool want = cl->out_len > 0, pause = cl->out_len - cl->out_off > high;
    pthread_mutex_unlock(&cl->out_lock);
    if (want != cl->want_out || pause != cl->paused) {
        cl->want_out = want;
        cl->paused = pause;
        arm(cl);
    }
}

static void client_free(struct client *cl)
{
    for (size_t i = 0; cl->peer_closed && i < ndraining;) {
        if (draining[i] == cl)
            draining[i] = draining[--ndraining];    /* the one moved here is looked at next */
        else
            i++;
    }
    ncp_conn_destroy(cl->conn);                 /* after this no thread sends to cl */
    pthread_mutex_lock(&pending_lock);          /* a worker may have queued it meanwhile */
    for (size_t i = 0; cl->queued && i < npending; i++)
        if (pending[i] == cl) {
            pending[i] = pending[--npending];
            cl->queued = false;
        }
    pthread_mutex_unlock(&pending_lock);
    epoll_ctl(epfd, EPOLL_CTL_DEL, cl->fd, NULL);
    close(cl->fd);
    if (cl->lprev)
        cl->lprev->lnext = cl->lnext;
    else
        clients = cl->lnext;
    if (cl->lnext)
        cl->lnext->lprev = cl->lprev;
    ncp_reasm_release(&cl->ra);
    ncpd_mem_resize(cl->out, cl->out_cap, 0);
    ncpd_mem_uncharge(cl->base_bytes);
    pthread_mutex_destroy(&cl->out_lock);
    free(cl);
}

static void run_pending(void)
{
    for (;;) {
        pthread_mutex_lock(&pending_lock);
        struct client *cl = npending ? pending[--npending] : NULL;
        if (cl)
            cl->queued = false;
        pthread_mutex_unlock(&pending_lock);
        if (!cl)
            return;
        if (!cl->closing)
            flush_out(cl);
        if (cl->closing) {
            flush_out(cl);                      /* a last BADFRAME or SHUTDOWN reply */
            client_free(cl);
        }
    }
}

static void handle_frame(struct client *cl, const uint8_t *f, size_t fl, int workers)
{
    add_counter(&ncpd_ctr.frames, 1);
    int r = ncp_conn_handle(cl->conn, f, fl, false);
    if (r == NCP_WOULD_BLOCK) {
        if (workers == 0 || !queue_job(cl->conn, f, fl))
            r = ncp_conn_handle_blocking(cl->conn, f, fl);
        else
            r = NCP_HANDLED;
    }
    if (r == NCP_RETRY) {
        /* past the in-flight limit while a worker holds the send lock and 16 refusals
         * wait: refused here, waiting for the lock -- its holders only hand a reply to
         * client_send (out_lock, pending_lock), never wait for this thread */
        ncp_conn_refuse(cl->conn, f, fl);
        r = NCP_HANDLED;
    }
    if (r == NCP_CLOSE_CONN)
        cl->closing = true;
}

/* Logged in (on a worker) since we last looked: the engine's state may grow by its handle
 * table, charged now (admission left room for it); past the budget the client is closed. */
static void charge_login(struct client *cl)
{
    if (cl->login_charged || cl->closing || !ncp_conn_logged_in(cl->conn))
        return;
    size_t more = ncp_server_conn_bytes(server, true) - ncp_server_conn_bytes(server, false);
    if (!ncpd_mem_charge(more)) {
        add_counter(&ncpd_ctr.closed_mem, 1);
        cl->closing = true;
        mark_pending(cl);
        return;
    }
    cl->base_bytes += more;
    cl->login_charged = true;
}

/* Feeds received bytes through the reassembler and the engine. */
static void consume_bytes(struct client *cl, const uint8_t *data, size_t len, int workers)
{
    size_t used = 0;
    charge_login(cl);
    while (!cl->closing) {
        /* NEGOTIATE or a login may have changed the limit (on a worker): the
         * reassembler judges the next length prefix by it. */
        uint32_t mf = ncp_conn_max_frame(cl->conn);
        if (mf != cl->ra.max_frame)
            ncp_reasm_set_max(&cl->ra, mf);
        const uint8_t *f;
        size_t fl;
        int r = ncp_reasm_frame(&cl->ra, &f, &fl);
        if (r == NCP_REASM_ERROR) {
            ncp_conn_bad_stream(cl->conn);
            cl->closing = true;
            break;
        }
        if (r == NCP_REASM_NOMEM) {             /* the frame would pass the budget */
            add_counter(&ncpd_ctr.closed_mem, 1);
            cl->closing = true;
            break;
        }
        if (r == NCP_REASM_FRAME) {
            handle_frame(cl, f, fl, workers);
            ncp_reasm_consume(&cl->ra);
            continue;
        }
        if (used == len)
            break;
        used += ncp_reasm_feed(&cl->ra, data + used, len - used);
    }
    if (cl->ra.have == 0) {
        cl->partial_ms = 0;
        /* before login no buffer is kept between frames (what it holds stays under a page
         * of frame and a page of replies) */
        if (cl->ra.cap > RBUF_KEEP || !ncp_conn_logged_in(cl->conn))
            ncp_reasm_release(&cl->ra);
    } else if (!cl->partial_ms) {
        cl->partial_ms = ncpd_now_ms();
    }
}

/* Closes the clients past the login or the partial-frame timeout (once a second). */
static void check_timeouts(const struct ncpd_opts *o)
{
    static uint64_t last;
    uint64_t now = ncpd_now_ms();
    if (now - last < 1000)
        return;
    last = now;
    for (struct client *cl = clients; cl; cl = cl->lnext) {
        charge_login(cl);
        if (cl->closing)
            continue;
        if (o->login_timeout_s && now - cl->accepted_ms >= o->login_timeout_s * 1000ull &&
            !ncp_conn_logged_in(cl->conn)) {
            add_counter(&ncpd_ctr.login_timeouts, 1);
            cl->closing = true;
        } else if (o->frame_timeout_s && cl->partial_ms && now - cl->partial_ms >= o->frame_timeout_s * 1000ull) {
            add_counter(&ncpd_ctr.frame_timeouts, 1);
            cl->closing = true;
        }
        if (cl->closing)
            mark_pending(cl);
    }
}

static void on_readable(struct client *cl, int workers)
{
    static uint8_t buf[256 * 1024];
    /* After EOF EPOLLIN is no longer asked for: an event now is EPOLLHUP or EPOLLERR, the
     * peer reset the connection and no reply can reach it.  (Reading again would see EOF
     * again -- the FIN came first -- and, EPOLLERR being level-triggered, put the client
     * on the draining list once per loop turn: the bug that killed ncpd after a SIGSTOP,
     * when clients that gave up waiting had closed with their requests unanswered.) */
    if (cl->peer_closed) {
        cl->closing = true;
        return;
    }
    /* before login never past the end of the current frame, one read per loop turn, and
     * none while a reply is unsent (flush_out pauses the client): the connection holds a
     * partial frame or a reply, never both in full, whatever the client sends unread */
    bool in = ncp_conn_logged_in(cl->conn);
    size_t want = sizeof buf;
    if (!in) {
        want = ncp_reasm_wanted(&cl->ra);
        if (want == 0)
            want = 1;                           /* a frame waits or the stream failed: see EOF */
    }
    for (int rounds = 0; rounds < (in ? 8 : 1) && !cl->closing && !cl->paused; rounds++) {
        ssize_t n = recv(cl->fd, buf, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            cl->closing = true;
            break;
        }
        if (n == 0) {                           /* half-close: answer, then close */
            if (ndraining == draining_cap) {
                draining_cap = draining_cap ? draining_cap * 2 : 64;
                struct client **d = realloc(draining, draining_cap * sizeof *d);
                if (!d) {
                    cl->closing = true;
                    break;
                }
                draining = d;
            }
            draining[ndraining++] = cl;
            cl->peer_closed = true;
            arm(cl);
            break;
        }
        add_counter(&ncpd_ctr.rx_bytes, (uint64_t)n);
        consume_bytes(cl, buf, (size_t)n, workers);
        if ((size_t)n < want)
            break;
    }
}

/* Closes the half-closed clients whose requests are all answered and sent (checked every
 * loop turn; the loop wakes at least every 200 ms). */
static void check_draining(void)
{
    for (size_t i = 0; i < ndraining; i++) {      /* client_free takes them off the list */
        struct client *cl = draining[i];
        pthread_mutex_lock(&cl->out_lock);
        bool sent = cl->out_off == cl->out_len;
        pthread_mutex_unlock(&cl->out_lock);
        if (!cl->closing && sent && ncp_conn_inflight(cl->conn) == 0) {
            cl->closing = true;
            mark_pending(cl);
        }
    }
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        add_counter(&ncpd_ctr.accepts, 1);
        size_t base = sizeof(struct client) + ncp_server_conn_bytes(server, false);
        size_t login = ncp_server_conn_bytes(server, true) - ncp_server_conn_bytes(server, false);
        bool room = ncpd_mem_admit(base + login) && ncpd_mem_charge(base);
        struct client *cl = room ? calloc(1, sizeof *cl) : NULL;
        if (cl) {
            cl->fd = fd;
            cl->base_bytes = base;
            pthread_mutex_init(&cl->out_lock, NULL);
            cl->conn = ncp_conn_create(server, client_send, cl);
        }
        if (!cl || !cl->conn ||
            !ncp_reasm_init_growing(&cl->ra, ncp_conn_max_frame(cl->conn), ncpd_mem_realloc, NULL)) {
            uint8_t rf[NCP_LEN_SIZE + NCP_HDR_SIZE];
            size_t n = ncp_server_refusal(rf);
            if (send(fd, rf, n, MSG_NOSIGNAL) < 0) { /* closing anyway */ }
            add_counter(&ncpd_ctr.refused, 1);
            if (!room)
                add_counter(&ncpd_ctr.refused_mem, 1);
            if (cl && cl->conn)
                ncp_conn_destroy(cl->conn);
            if (cl) {
                pthread_mutex_destroy(&cl->out_lock);
                free(cl);
            }
            if (room)
                ncpd_mem_uncharge(base);
            close(fd);
            continue;
        }
        cl->accepted_ms = ncpd_now_ms();
        cl->lnext = clients;
        if (clients)
            clients->lprev = cl;
        clients = cl;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = cl };
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

pthread_t ncpd_loop_thread;

int ncpd_serve_epoll(struct ncp_server *srv, int lfd, const struct ncpd_opts *o)
{
    static char listen_tag, wake_tag;
    server = srv;
    ncpd_loop_thread = pthread_self();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_tag };
    struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &wake_tag };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &wev) < 0) {
        perror("ncpd: epoll_ctl");
        return 1;
    }
    pthread_t *tids = calloc((size_t)o->workers + 1, sizeof *tids);
    for (int i = 0; i < o->workers; i++)
        pthread_create(&tids[i], NULL, worker_main, NULL);

    struct epoll_event evs[256];
    while (!ncpd_stop) {
        int n = epoll_wait(epfd, evs, 256, 200);
        add_counter(&ncpd_ctr.loop_wakeups, 1);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &listen_tag) {
                accept_all(lfd);
                continue;
            }
            if (p == &wake_tag) {
                uint64_t v;
                if (read(wake_fd, &v, sizeof v) < 0) {
                    /* spurious */
                }
                continue;
            }
            struct client *cl = p;
            if (cl->closing)
                continue; /* freed in run_pending */
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(cl, o->workers);
            if (!cl->closing && (evs[i].events & EPOLLOUT))
                flush_out(cl);
            if (cl->closing)
                mark_pending(cl);
        }
        check_draining();
        check_timeouts(o);
        run_pending();
    }
    /* Shutdown: workers finish what they hold, the last replies leave. */
    pthread_mutex_lock(&job_lock);
    jobs_stop = true;
    pthread_cond_broadcast(&job_cond);
    pthread_mutex_unlock(&job_lock);
    for (int i = 0; i < o->workers; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    run_pending();
    close(wake_fd);
    close(epfd);
    return 0;
}
