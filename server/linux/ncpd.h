/* ncpd.h - the Linux ncpd: the portable engine behind real sockets.
 * Lives in server/linux/ so a kernel build of server/ (non-recursive) never sees it. */
#ifndef NCPD_H
#define NCPD_H

#include "server/ncp_server.h"

struct ncpd_opts {
    const char *host;           /* listen address */
    int port;                   /* 0 = pick one and print it */
    bool threads;               /* thread per connection instead of epoll */
    bool quiet;
};

/* Serves until an admin SHUTDOWN; returns the process exit status. */
int ncpd_serve_epoll(struct ncp_server *srv, int listen_fd, const struct ncpd_opts *o);
int ncpd_serve_threads(struct ncp_server *srv, int listen_fd, const struct ncpd_opts *o);

/* Counters the loops keep for STATS (net.*, worker.*). */
struct ncpd_counters {
    uint64_t accepts, refused, rx_bytes, tx_bytes, frames, threads, loop_wakeups;
};
extern struct ncpd_counters ncpd_ctr;
extern volatile int ncpd_stop;

#endif
