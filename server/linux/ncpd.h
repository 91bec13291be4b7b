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
    unsigned login_timeout_s;   /* close a connection not logged in after this long (0: never) */
    unsigned frame_timeout_s;   /* close one holding a partial frame this long (0: never) */
};

/* Serve until an admin SHUTDOWN; return the process exit status. */
int ncpd_serve_epoll(struct ncp_server *srv, int listen_fd, const struct ncpd_opts *o);
int ncpd_serve_threads(struct ncp_server *srv, int listen_fd, const struct ncpd_opts *o);

/* Counters the loops keep for STATS (net.*, worker.*). */
struct ncpd_counters {
    uint64_t accepts, refused, rx_bytes, tx_bytes, frames, threads, loop_wakeups, worker_jobs;
    uint64_t mem_bytes;         /* connection state charged to the budget now (ncpd_mem.c) */
    uint64_t refused_mem, closed_mem, login_timeouts, frame_timeouts;
};
extern struct ncpd_counters ncpd_ctr;
extern volatile int ncpd_stop;
extern pthread_t ncpd_loop_thread;

static inline void add_counter(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

/* ---- the connection memory budget (ncpd_mem.c) ----
 * Every byte of connection state -- the client struct, the engine's connection, the
 * frame being reassembled, unsent replies -- is charged to one budget (--conn-mem-mb).
 * New connections are admitted only with room for a pre-login frame left; a frame or a
 * reply that would pass it closes its connection instead (never an allocation failure
 * deep inside). */
extern uint64_t ncpd_mem_limit;
/* Room for a new connection of `base` bytes plus a pre-login frame? (nothing charged) */
bool ncpd_mem_admit(size_t base);
bool ncpd_mem_charge(size_t n);             /* false (nothing charged) past the budget */
void ncpd_mem_uncharge(size_t n);
/* realloc through the budget, for ncp_reasm_init_growing and reply buffers. */
void *ncpd_mem_realloc(void *arg, void *p, size_t old_size, size_t *new_size);
/* The same for other buffers of this connection state (n 0 frees). */
void *ncpd_mem_resize(void *p, size_t old_size, size_t n);
uint64_t ncpd_now_ms(void);                 /* CLOCK_MONOTONIC */

#endif
