/* ncpd_threads.c - ncpd's thread-per-connection mode (for comparison with
 * the event loop): blocking sockets, every request handled on the
 * connection's own thread.  The same limits as the event loop: state charged to the
 * budget of ncpd_mem.c (the thread's stack is not), and the login and partial-frame
 * timeouts, checked whenever recv times out (every second) or returns. */
#include "server/linux/ncpd.h"
#include "proto/ncp_reasm.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct tclient {
    int fd;
    struct ncp_conn *conn;
    struct ncp_reasm ra;        /* its buffer is charged to the budget */
    size_t base_bytes;          /* charged for this struct and the engine's connection */
    bool broken;                /* a send failed: stop */
};

/* The engine serializes sends per connection; lock grants may call this
 * from another connection's thread. */
static void thread_send(void *arg, const uint8_t *frame, size_t len)
{
    struct tclient *cl = arg;
    while (len && !cl->broken) {
        ssize_t n = send(cl->fd, frame, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cl->broken = true;
            shutdown(cl->fd, SHUT_RDWR);
            break;
        }
        add_counter(&ncpd_ctr.tx_bytes, (uint64_t)n);
        frame += n;
        len -= (size_t)n;
    }
}

/* True (and counted) once the client is past a timeout. */
static bool timed_out(struct tclient *cl, const struct ncpd_opts *o, uint64_t accepted_ms, uint64_t partial_ms)
{
    uint64_t now = ncpd_now_ms();
    if (o->login_timeout_s && now - accepted_ms >= o->login_timeout_s * 1000ull && !ncp_conn_logged_in(cl->conn)) {
        add_counter(&ncpd_ctr.login_timeouts, 1);
        return true;
    }
    if (o->frame_timeout_s && partial_ms && now - partial_ms >= o->frame_timeout_s * 1000ull) {
        add_counter(&ncpd_ctr.frame_timeouts, 1);
        return true;
    }
    return false;
}

static const struct ncpd_opts *opts;
static struct ncp_server *opts_srv;

static void *conn_thread(void *arg)
{
    struct tclient *cl = arg;
    static __thread uint8_t buf[64 * 1024];
    add_counter(&ncpd_ctr.threads, 1);
    bool closing = false;
    uint64_t accepted_ms = ncpd_now_ms(), partial_ms = 0;
    bool login_charged = false;
    struct timeval tv = { 1, 0 };
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!closing && !cl->broken && !ncpd_stop) {
        if (!login_charged && ncp_conn_logged_in(cl->conn)) {
            /* logged in: the engine's state may grow by its handle table (admission left
             * room for it); past the budget the client is closed */
            size_t more = ncp_server_conn_bytes(opts_srv, true) - ncp_server_conn_bytes(opts_srv, false);
            if (!ncpd_mem_charge(more)) {
                add_counter(&ncpd_ctr.closed_mem, 1);
                break;
            }
            cl->base_bytes += more;
            login_charged = true;
        }
        ssize_t n = recv(cl->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (timed_out(cl, opts, accepted_ms, partial_ms))
                break;
            continue;
        }
        if (n <= 0)
            break;
        add_counter(&ncpd_ctr.rx_bytes, (uint64_t)n);
        size_t used = 0;
        while (!closing) {
            uint32_t mf = ncp_conn_max_frame(cl->conn);
            if (mf != cl->ra.max_frame)
                ncp_reasm_set_max(&cl->ra, mf);
            const uint8_t *f;
            size_t fl;
            int r = ncp_reasm_frame(&cl->ra, &f, &fl);
            if (r == NCP_REASM_ERROR) {
                ncp_conn_bad_stream(cl->conn);
                closing = true;
                break;
            }
            if (r == NCP_REASM_NOMEM) {
                add_counter(&ncpd_ctr.closed_mem, 1);
                closing = true;
                break;
            }
            if (r == NCP_REASM_FRAME) {
                add_counter(&ncpd_ctr.frames, 1);
                if (ncp_conn_handle(cl->conn, f, fl, true) == NCP_CLOSE_CONN)
                    closing = true;
                ncp_reasm_consume(&cl->ra);
                continue;
            }
            if (used == (size_t)n)
                break;
            used += ncp_reasm_feed(&cl->ra, buf + used, (size_t)n - used);
        }
        if (cl->ra.have == 0) {
            partial_ms = 0;
            if (cl->ra.cap > (64u << 10))
                ncp_reasm_release(&cl->ra);
        } else if (!partial_ms) {
            partial_ms = ncpd_now_ms();
        }
        if (!closing && timed_out(cl, opts, accepted_ms, partial_ms))
            closing = true;
    }
    ncp_conn_destroy(cl->conn);
    close(cl->fd);
    ncp_reasm_release(&cl->ra);
    ncpd_mem_uncharge(cl->base_bytes);
    free(cl);
    __atomic_fetch_sub(&ncpd_ctr.threads, 1, __ATOMIC_RELAXED);
    return NULL;
}

int ncpd_serve_threads(struct ncp_server *srv, int lfd, const struct ncpd_opts *o)
{
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    opts = o;
    opts_srv = srv;
    while (!ncpd_stop) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        add_counter(&ncpd_ctr.accepts, 1);
        size_t base = sizeof(struct tclient) + ncp_server_conn_bytes(srv, false);
        size_t login = ncp_server_conn_bytes(srv, true) - ncp_server_conn_bytes(srv, false);
        bool room = ncpd_mem_admit(base + login) && ncpd_mem_charge(base);
        struct tclient *cl = room ? calloc(1, sizeof *cl) : NULL;
        pthread_t t;
        if (cl) {
            cl->fd = fd;
            cl->base_bytes = base;
            cl->conn = ncp_conn_create(srv, thread_send, cl);
        }
        if (!cl || !cl->conn ||
            !ncp_reasm_init_growing(&cl->ra, ncp_conn_max_frame(cl->conn), ncpd_mem_realloc, NULL) ||
            pthread_create(&t, &at, conn_thread, cl)) {
            uint8_t rf[NCP_LEN_SIZE + NCP_HDR_SIZE];
            size_t n = ncp_server_refusal(rf);
            if (send(fd, rf, n, MSG_NOSIGNAL) < 0) { /* closing anyway */ }
            add_counter(&ncpd_ctr.refused, 1);
            if (!room)
                add_counter(&ncpd_ctr.refused_mem, 1);
            if (cl && cl->conn)
                ncp_conn_destroy(cl->conn);
            free(cl);
            if (room)
                ncpd_mem_uncharge(base);
            close(fd);
        }
    }
    pthread_attr_destroy(&at);
    usleep(100 * 1000);                              /* let the SHUTDOWN reply leave */
    return 0;
}
