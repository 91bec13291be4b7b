/* ncp_mux.h - a small pool of NCP connections shared by many threads.
 *
 * Any thread may start a request on any connection; each request gets a tag of
 * its own, a receiver thread per connection hands replies to their waiters in
 * whatever order they come, so many requests are in flight at once (up to the
 * server's max_inflight per connection).  Built on client/ncp_client.c (codec,
 * reassembler, login): there is one wire format.
 *
 * Never hang: every request has a deadline (the pool's timeout).  A request
 * that misses it fails with -EIO and takes the pool's connections down (the
 * server stopped answering): every other request waiting fails with -EIO at
 * once.  A connection whose stream breaks (reset, malformed frame) goes down
 * alone.  The next
 * request on a connection that is down reconnects and logs in again (at most
 * one attempt per connection per NCPM_RETRY_MS, so a dead server costs a fast
 * -EIO, not a timeout per call).  Server handles belong to one connection and
 * one login: a target names the connection and its generation, and a request
 * for a generation that is gone fails with -ESTALE (the caller reopens).
 */
#ifndef NCP_MUX_H
#define NCP_MUX_H

#include "client/ncp_client.h"

#include <pthread.h>

#define NCPM_MAX_CONNS 16
#define NCPM_RETRY_MS  500

struct ncpm_opts {
    const char *host;
    int port;
    const char *user;
    const char *password;       /* kept (the pool logs in again after a reconnect) */
    uint32_t want_frame;        /* NEGOTIATE asks for this */
    int timeout_ms;             /* every request, connect and login */
    int nconns;                 /* 1..NCPM_MAX_CONNS */
    void (*log)(const char *msg);   /* timeouts and reconnects (NULL: quiet) */
};

/* Which connection (and which life of it) a request goes to. */
struct ncpm_target {
    int conn;                   /* -1: any (the least busy); set to the one used */
    uint64_t gen;               /* 0: any; set to the generation used */
};

struct ncpm_waiter;             /* one request in flight (ncp_mux.c) */

struct ncpm_conn {
    pthread_mutex_t lock;       /* guards everything below but c's buffers */
    pthread_mutex_t send_lock;  /* one sender at a time on c.fd and c.sbuf */
    pthread_cond_t  changed;    /* state, inflight or a waiter changed */
    struct ncpc c;              /* c.fd closed only with both locks, state DOWN, rx joined */
    enum { NCPM_DOWN, NCPM_CONNECTING, NCPM_UP } state;  /* lock */
    uint64_t gen;               /* lock: bumped by every successful login */
    uint32_t next_tag;          /* lock */
    uint32_t inflight;          /* lock */
    struct ncpm_waiter *waiters;/* lock: requests sent and not answered */
    long long next_try_ms;      /* lock: no reconnect attempt before this */
    bool rx_running;            /* lock: rx thread not yet joined */
    pthread_t rx;
    char err[256];              /* lock: why it went down last */
};

struct ncpm {
    struct ncpm_opts o;
    char host[256], user[NCP_USER_MAX + 1];
    char *password;             /* malloc'd, locked in memory, wiped by ncpm_close */
    int nconns;
    bool started;               /* receivers may run (after daemonizing) */
    bool admin;                 /* the login has the admin flag */
    uint32_t max_frame;         /* negotiated by the first connection */
    uint64_t reconnects;        /* logins after ncpm_start (all conns); atomic */
    struct ncpm_conn conns[NCPM_MAX_CONNS];
};

/* A request that was sent and is waited for with ncpm_finish. */
struct ncpm_call {
    struct ncpm_conn *cn;
    struct ncpm_waiter *w;
    uint64_t gen;
    int err;                    /* -errno if starting it failed */
};

/* Connects and logs in the first connection (no threads yet, so the caller may
 * fork afterwards); the others connect when first used.  0, or -1 with a
 * message in err. */
int  ncpm_open(struct ncpm *m, const struct ncpm_opts *o, char *err, size_t errlen);
/* Starts the receivers; call once, after any fork. */
void ncpm_start(struct ncpm *m);
void ncpm_close(struct ncpm *m);

/* Sends rq (tag, seq and conn are the pool's) to t; never blocks past the
 * deadline.  wait_forever: no deadline for the reply (LOCK with WAIT), but the
 * connection is pinged every timeout and fails like any other when it stops
 * answering, and cancelled(arg) is polled as often (NULL: never). */
void ncpm_start_call(struct ncpm *m, struct ncpm_target *t, struct ncp_request *rq, struct ncpm_call *call);
/* The reply: its completion code (>= 0), or -EIO (timeout, transport),
 * -ESTALE (t's generation is gone), -EINTR (cancelled), -ENOMEM.  On >= 0
 * out->frame holds the reply; free it with ncpc_reply_free. */
int  ncpm_finish(struct ncpm *m, struct ncpm_call *call, struct ncpc_reply *out,
                 bool wait_forever, bool (*cancelled)(void *), void *arg);
/* start + finish. */
int  ncpm_call(struct ncpm *m, struct ncpm_target *t, struct ncp_request *rq, struct ncpc_reply *out);
/* The same, for replies with nothing to read. */
int  ncpm_simple(struct ncpm *m, struct ncpm_target *t, struct ncp_request *rq);

#endif /* NCP_MUX_H */
