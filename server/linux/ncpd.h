/* ncpd.h - the Linux ncpd: the portable engine behind real sockets.
 * Lives in server/linux/ so a kernel build of server/ (non-recursive) never sees it. */
#ifndef NCPD_H
#define NCPD_H

#include <pthread.h>
#include <stdlib.h>

#include "server/ncp_server.h"
#include "proto/ncp_reasm.h"

struct ncpd_opts {
    const char *host;           /* listen address */
    int port;                   /* 0 = pick one and print it */
    bool threads;               /* thread per connection instead of epoll */
    int workers;                /* epoll mode: threads for requests that block (0 = inline) */
    bool quiet;
};

/* Serve until an admin SHUTDOWN; return the process exit status. */
int ncpd_serve_epoll(struct ncp_server *srv, int listen_fd, const struct ncpd_opts *o);
int ncpd_serve_threads(struct ncp_server *srv, int listen_fd, const struct ncpd_opts *o);

/* Counters the loops keep for STATS (net.*, worker.*). */
struct ncpd_counters {
    uint64_t accepts, refused, rx_bytes, tx_bytes, frames, threads, loop_wakeups, worker_jobs;
};
extern struct ncpd_counters ncpd_ctr;
extern volatile int ncpd_stop;
extern pthread_t ncpd_loop_thread;

static inline void add_counter(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

/* (Re)sizes a connection's reassembly buffer for max_frame; only between frames. */
static inline bool ncpd_reasm_setup(struct ncp_reasm *ra, uint8_t **buf, uint32_t max_frame)
{
    uint8_t *b = realloc(*buf, NCP_LEN_SIZE + (size_t)max_frame);
    if (!b) return false;
    *buf = b;
    return ncp_reasm_init(ra, b, NCP_LEN_SIZE + (size_t)max_frame, max_frame);
}

#endif
