/* ncpd_loop.c - ncpd's two serving modes.
 *
 * epoll: one thread, non-blocking sockets; requests run inline (the memory
 *   fs and a host image file are fast enough; the kernel uses workers).
 *   Replies go to a per-connection output buffer flushed on EPOLLOUT; a
 *   connection with too much unsent output is not read until it drains.
 * threads: one thread per connection with blocking sockets (for comparison).
 */
#include "server/linux/ncpd.h"
#include "proto/ncp_reasm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_HIGH_WATER (4u << 20)

struct client {
    int fd;
    struct ncp_conn *conn;
    struct ncp_reasm ra;
    uint8_t *rbuf;
    uint8_t *out;
    size_t out_len, out_cap, out_off;
    bool want_out, paused, closing, queued;
    int epfd;
    pthread_mutex_t wlock;      /* thread mode */
};

static void mark_pending(struct client *cl);

static void add_counter(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

static bool reasm_setup(struct client *cl, uint32_t max_frame)
{
    uint8_t *b = realloc(cl->rbuf, NCP_LEN_SIZE + (size_t)max_frame);
    if (!b) return false;
    cl->rbuf = b;
    return ncp_reasm_init(&cl->ra, b, NCP_LEN_SIZE + (size_t)max_frame, max_frame);
}

/* ---- epoll mode ---- */

static void arm(struct client *cl)
{
    struct epoll_event ev = { .data.ptr = cl };
    ev.events = (cl->paused ? 0 : EPOLLIN) | (cl->want_out ? EPOLLOUT : 0);
    epoll_ctl(cl->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
}

static void flush_out(struct client *cl)
{
    while (cl->out_off < cl->out_len) {
        ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) { cl->closing = true; cl->out_off = cl->out_len = 0; break; }
        add_counter(&ncpd_ctr.tx_bytes, (uint64_t)n);
        cl->out_off += (size_t)n;
    }
    if (cl->out_off == cl->out_len) cl->out_off = cl->out_len = 0;
    bool want = cl->out_len > 0, pause = cl->out_len - cl->out_off > OUT_HIGH_WATER;
    if (want != cl->want_out || pause != cl->paused) {
        cl->want_out = want;
        cl->paused = pause;
        arm(cl);
    }
}

static void epoll_send(void *arg, const uint8_t *frame, size_t len)
{
    struct client *cl = arg;
    if (cl->closing) return;
    if (cl->out_len + len > cl->out_cap) {
        if (cl->out_off) {                          /* compact before growing */
            memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
            cl->out_len -= cl->out_off;
            cl->out_off = 0;
        }
        size_t cap = cl->out_cap ? cl->out_cap : 65536;
        while (cap < cl->out_len + len) cap *= 2;
        uint8_t *b = realloc(cl->out, cap);
        if (!b) { cl->closing = true; return; }
        cl->out = b;
        cl->out_cap = cap;
    }
    memcpy(cl->out + cl->out_len, frame, len);
    cl->out_len += len;
    mark_pending(cl);
}

static void client_free(struct client *cl)
{
    if (cl->conn) ncp_conn_destroy(cl->conn);
    close(cl->fd);
    free(cl->rbuf);
    free(cl->out);
    free(cl);
}

/* Feeds received bytes through the reassembler and the engine. */
static void consume_bytes(struct client *cl, const uint8_t *data, size_t len)
{
    size_t used = 0;
    while (!cl->closing) {
        const uint8_t *f;
        size_t fl;
        int r = ncp_reasm_frame(&cl->ra, &f, &fl);
        if (r == NCP_REASM_ERROR) { ncp_conn_bad_stream(cl->conn); cl->closing = true; break; }
        if (r == NCP_REASM_FRAME) {
            add_counter(&ncpd_ctr.frames, 1);
            /* Try the non-blocking fast path first, as the kernel does. */
            int h = ncp_conn_handle(cl->conn, f, fl, false);
            if (h == NCP_WOULD_BLOCK) h = ncp_conn_handle_blocking(cl->conn, f, fl);
            if (h == NCP_CLOSE_CONN) cl->closing = true;
            ncp_reasm_consume(&cl->ra);
            uint32_t mf = ncp_conn_max_frame(cl->conn);
            if (mf != cl->ra.max_frame && !reasm_setup(cl, mf)) cl->closing = true;
            continue;
        }
        if (used == len) break;
        used += ncp_reasm_feed(&cl->ra, data + used, len - used);
    }
}

static void on_readable(struct client *cl)
{
    static uint8_t buf[256 * 1024];
    for (int rounds = 0; rounds < 8 && !cl->closing && !cl->paused; rounds++) {
        ssize_t n = recv(cl->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) { cl->closing = true; break; }
        add_counter(&ncpd_ctr.rx_bytes, (uint64_t)n);
        consume_bytes(cl, buf, (size_t)n);
        if ((size_t)n < sizeof buf) break;
    }
}

static void accept_all(int lfd, int epfd, struct ncp_server *srv)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        add_counter(&ncpd_ctr.accepts, 1);
        struct client *cl = calloc(1, sizeof *cl);
        if (!cl) { close(fd); continue; }
        cl->fd = fd;
        cl->epfd = epfd;
        cl->conn = ncp_conn_create(srv, epoll_send, cl);
        if (!cl->conn || !reasm_setup(cl, NCP_DEFAULT_MAX_FRAME)) {
            uint8_t rf[NCP_LEN_SIZE + NCP_HDR_SIZE];
            size_t n = ncp_server_refusal(rf);
            if (send(fd, rf, n, MSG_NOSIGNAL) < 0) { /* closing anyway */ }
            add_counter(&ncpd_ctr.refused, 1);
            client_free(cl);
            continue;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = cl };
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* Clients with output queued or closing, handled after each event batch
 * (a reply can go to a client other than the one being served: lock grants). */
static struct client **pending;
static size_t npending, pending_cap;

static void mark_pending(struct client *cl)
{
    if (cl->queued) return;
    if (npending == pending_cap) {
        pending_cap = pending_cap ? pending_cap * 2 : 256;
        pending = realloc(pending, pending_cap * sizeof *pending);
    }
    cl->queued = true;
    pending[npending++] = cl;
}

static void run_pending(void)
{
    for (size_t i = 0; i < npending; i++) {
        struct client *cl = pending[i];
        cl->queued = false;
        if (cl->out_len) flush_out(cl);
        if (cl->closing) client_free(cl);
    }
    npending = 0;
}

int ncpd_serve_epoll(struct ncp_server *srv, int lfd, const struct ncpd_opts *o)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) { perror("epoll_ctl"); return 1; }
    struct epoll_event evs[256];
    while (!ncpd_stop) {
        int n = epoll_wait(epfd, evs, 256, 200);
        add_counter(&ncpd_ctr.loop_wakeups, 1);
        for (int i = 0; i < n; i++) {
            struct client *cl = evs[i].data.ptr;
            if (!cl) { accept_all(lfd, epfd, srv); continue; }
            if (cl->closing) continue;               /* freed after this batch */
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(cl);
            if (evs[i].events & EPOLLOUT) flush_out(cl);
            if (cl->closing) mark_pending(cl);
            run_pending();
        }
        run_pending();
    }
    /* Let the last replies (the SHUTDOWN answer) leave before exiting. */
    for (size_t i = 0; i < npending; i++) pending[i]->closing = true;
    run_pending();
    close(epfd);
    return 0;
}

/* ---- thread per connection ---- */

static void thread_send(void *arg, const uint8_t *frame, size_t len)
{
    struct client *cl = arg;
    pthread_mutex_lock(&cl->wlock);
    while (len && !cl->closing) {
        ssize_t n = send(cl->fd, frame, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { cl->closing = true; shutdown(cl->fd, SHUT_RDWR); break; }
        add_counter(&ncpd_ctr.tx_bytes, (uint64_t)n);
        frame += n;
        len -= (size_t)n;
    }
    pthread_mutex_unlock(&cl->wlock);
}

static void *conn_thread(void *arg)
{
    struct client *cl = arg;
    static __thread uint8_t buf[64 * 1024];
    add_counter(&ncpd_ctr.threads, 1);
    while (!cl->closing && !ncpd_stop) {
        ssize_t n = recv(cl->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        add_counter(&ncpd_ctr.rx_bytes, (uint64_t)n);
        consume_bytes(cl, buf, (size_t)n);
    }
    ncp_conn_destroy(cl->conn);
    cl->conn = NULL;
    close(cl->fd);
    free(cl->rbuf);
    free(cl);
    __atomic_fetch_sub(&ncpd_ctr.threads, 1, __ATOMIC_RELAXED);
    return NULL;
}

int ncpd_serve_threads(struct ncp_server *srv, int lfd, const struct ncpd_opts *o)
{
    while (!ncpd_stop) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, 200) <= 0) continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        add_counter(&ncpd_ctr.accepts, 1);
        struct client *cl = calloc(1, sizeof *cl);
        cl->fd = fd;
        pthread_mutex_init(&cl->wlock, NULL);
        cl->conn = ncp_conn_create(srv, thread_send, cl);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 * 1024);
        if (!cl->conn || !reasm_setup(cl, NCP_DEFAULT_MAX_FRAME) || pthread_create(&t, &at, conn_thread, cl)) {
            uint8_t rf[NCP_LEN_SIZE + NCP_HDR_SIZE];
            size_t n = ncp_server_refusal(rf);
            if (send(fd, rf, n, MSG_NOSIGNAL) < 0) { /* closing anyway */ }
            add_counter(&ncpd_ctr.refused, 1);
            if (cl->conn) ncp_conn_destroy(cl->conn);
            close(fd);
            free(cl->rbuf);
            free(cl);
        }
        pthread_attr_destroy(&at);
    }
    usleep(100 * 1000);                              /* let the SHUTDOWN reply leave */
    return 0;
}
