/* ncp_server_internal.h - state shared by the engine's source files.
 *
 * Lock order (take only in this order; a thread never takes an earlier one while
 * holding a later one):
 *   1. server->lock        connection table, lock table, waiters, per-handle and
 *                          per-connection lock counts
 *   2. conn->lock          `dead`, nonce, handle table
 *   3. conn->send_lock     the send itself, `dead` (read), the refusal ring
 *   4. the embedder's own locks, taken inside its send callback (the kernel's
 *      lwIP core lock, ncpd's output-queue mutex)
 * server->append_lock and the intruder table lock (ncp_intruder.c) are leaves:
 * nothing else is taken while holding them.  No engine mutex is held across a file
 * system call, except append_lock (APPEND writes).
 *
 * Sending: the engine calls send()/sendv() holding conn->send_lock and NO other
 * engine mutex (never server->lock: lock grants and waiter errors are collected
 * under it and sent after it is released), so an embedder whose receive path
 * holds its own lock (lwIP's core lock) and only try-locks engine mutexes cannot
 * deadlock against a worker that sends. */
#ifndef NCP_SERVER_INTERNAL_H
#define NCP_SERVER_INTERNAL_H

#include "server/ncp_server.h"

/* Fields marked "atomic" are read by the non-blocking path without locks. */
#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define INC(x)      __atomic_add_fetch(&(x), 1, __ATOMIC_ACQ_REL)
#define DEC(x)      __atomic_sub_fetch(&(x), 1, __ATOMIC_ACQ_REL)

/* An open file: one handle-table slot of one connection. */
struct ncp_open {
    uint32_t ino;
    uint32_t flags;             /* NCP_O_* */
    uint32_t refs;              /* atomic: table slot + running requests + locks + waiters */
    struct ncp_conn *conn;
    bool closing;               /* server->lock: CLOSE started; no lock attaches any more */
    uint32_t nlocks;            /* server->lock: locks + waiters of this handle */
};

/* A granted byte-range lock.  Holds a reference on its owner, so the owner
 * outlives it whatever CLOSE does meanwhile. */
struct ncp_lock {
    struct ncp_lock *next;
    uint32_t ino;
    uint64_t start, end;        /* [start, end); end UINT64_MAX = infinity */
    bool excl;
    struct ncp_open *owner;
};

/* A LOCK request waiting for a conflicting lock to go away.  Holds a
 * connection reference and an open reference; counts as in flight. */
struct ncp_waiter {
    struct ncp_waiter *next;
    struct ncp_lock want;
    struct ncp_conn *conn;
    struct ncp_header h;
    uint8_t result;             /* the reply, once taken off the list */
};

/* "Too many requests" refusals that could not be sent at once (the send lock was
 * busy on the non-blocking path): the next holder of the send lock sends them. */
#define NCP_REFUSALS_MAX 16
struct ncp_refusal {
    uint32_t state;             /* atomic: 0 free, 1 being filled, 2 ready to send */
    struct ncp_header h;
};

enum ncp_ctr {
    CTR_REQUESTS, CTR_ERRORS, CTR_BAD_FRAMES, CTR_FAST_PATH, CTR_BLOCKING,
    CTR_BYTES_READ, CTR_BYTES_READ_BY_REF, CTR_BYTES_WRITTEN, CTR_FSYNCS, CTR_LOCK_WAITS, CTR_LOCK_GRANTS, CTR_DEADLOCKS,
    CTR_CONN_TOTAL, CTR_CONN_REFUSED, CTR_LOGINS, CTR_LOGIN_FAILURES, CTR_TOO_MANY_REQS,
    CTR_TOO_MANY_LOCKS, CTR_REFUSALS_DEFERRED, CTR_REFUSAL_OVERFLOWS, CTR_LOCKOUTS, CTR_LOCKED_LOGINS,
    CTR_COUNT
};

struct ncp_server {
    struct ncp_server_config cfg;
    struct fs_mutex lock;       /* conns, locks, waiters */
    struct fs_mutex append_lock;/* serializes APPEND writes (size, then write) */
    struct ncp_conn **conns;    /* index = number - 1 */
    uint32_t nconns, next_slot;
    uint32_t open_handles;
    struct ncp_lock *locks;
    struct ncp_waiter *waiters; /* FIFO */
    uint32_t nlocks, nwaiters;  /* server->lock (read atomically by STATS) */
    struct ncp_intruder *intruder;  /* failed-login table (ncp_intruder.c) */
    uint8_t secret[NCP_HASH_SIZE];
    bool stopping;
    uint64_t ctr[CTR_COUNT];
};

struct ncp_conn {
    struct ncp_server *srv;
    struct fs_mutex lock;       /* `dead`, nonce, handle table */
    struct fs_mutex send_lock;  /* sends (one at a time per connection), `dead` */
    ncp_send_fn send;
    ncp_sendv_fn sendv;         /* optional */
    void *arg;
    uint16_t number;
    bool dead;                  /* written under lock and send_lock */
    bool have_nonce;
    bool logged_in, admin;      /* atomic (written under lock) */
    uint32_t max_frame;         /* atomic */
    uint32_t inflight;          /* atomic: admitted, not yet answered */
    uint32_t refs;              /* atomic: embedder + running requests + waiters */
    uint8_t nonce[NCP_NONCE_SIZE];
    char chal_user[NCP_USER_MAX + 1];
    struct ncp_open **handles;  /* cfg.max_handles slots, lazily allocated */
    uint32_t nopen;
    uint32_t nlocks;            /* server->lock: locks + waiters of all its handles */
    struct ncp_refusal refusals[NCP_REFUSALS_MAX];
};

static inline void ctr_add(struct ncp_server *s, enum ncp_ctr i, uint64_t n)
{
    __atomic_fetch_add(&s->ctr[i], n, __ATOMIC_RELAXED);
}

/* ncp_server.c */
void ncp_conn_get(struct ncp_conn *c);
void ncp_conn_put(struct ncp_conn *c);
void ncp_open_put(struct ncp_open *o);
/* Sends a reply frame (fills conn number and status) and, if `done`,
 * retires one in-flight request.  With may_block false it only tries the
 * send lock and returns false (nothing sent) if that would wait. */
bool ncp_send_frame(struct ncp_conn *c, uint8_t *frame, size_t len, bool done, bool may_block);
/* The same for a frame in pieces: iov[0] holds at least the header (it is patched);
 * needs c->sendv when n > 1. */
bool ncp_send_framev(struct ncp_conn *c, const struct ncp_iov *iov, unsigned n, bool done, bool may_block);
/* Header-only reply (error, or empty success) for request header h. */
bool ncp_send_status(struct ncp_conn *c, const struct ncp_header *h, uint8_t completion, bool done,
                     bool may_block);

/* ncp_locks.c (all take server->lock themselves; none is called with an engine mutex held) */
/* 0 granted, an NCP_E_* code (LOCKED, DEADLK, BADF for a closing handle, TOOMANYLOCKS,
 * NOMEM), or -1 queued as a waiter (a BUSY frame went out first). */
int  ncp_locks_acquire(struct ncp_server *s, struct ncp_open *o, const struct ncp_header *h,
                       uint64_t off, uint64_t len, uint8_t flags);
int  ncp_locks_release(struct ncp_server *s, struct ncp_open *o, uint64_t off, uint64_t len);
/* Drops every lock and waiter of one open (handle close: marks it closing, so no
 * LOCK attaches to it afterwards) or of every open of a connection (o == NULL,
 * conn given). Waiters get `completion`. */
void ncp_locks_drop(struct ncp_server *s, struct ncp_open *o, struct ncp_conn *c, uint8_t completion);

/* ncp_intruder.c: NetWare's intruder detection (failed logins per account name) */
bool ncp_intruder_init(struct ncp_server *s);
void ncp_intruder_destroy(struct ncp_server *s);
/* True while `user` is locked out (LOGIN is then refused without checking the proof). */
bool ncp_intruder_locked(struct ncp_server *s, const char *user, size_t len);
/* A failed LOGIN for `user` (known or not: the same bookkeeping either way). */
void ncp_intruder_failed(struct ncp_server *s, const char *user, size_t len);
/* A successful LOGIN: the name's failure count starts again. */
void ncp_intruder_succeeded(struct ncp_server *s, const char *user, size_t len);
/* For an admin's STATS (a worker: takes the table lock, walks the bounded table):
 * intruder.locked_accounts, intruder.tracked, then per-name entries written as
 * "intruder.locked:NAME" (value: seconds left) and "intruder.failures:NAME" (value:
 * failures in the window) into names (NCP_STAT_NAME_MAX + 1 bytes each).  Returns
 * how many counters it wrote (<= max). */
unsigned ncp_intruder_counters(struct ncp_server *s, struct ncp_counter *out, char (*names)[NCP_STAT_NAME_MAX + 1],
                               unsigned max);

/* ncp_dispatch.c */
#define NCP_RET_BLOCK    (-1)   /* needs a context that may sleep */
#define NCP_RET_DEFERRED (-2)   /* the reply comes later (lock wait) */
#define NCP_RET_SENT     (-3)   /* the handler sent the reply itself */
int ncp_dispatch(struct ncp_conn *c, const struct ncp_request *rq, bool may_block);

#endif /* NCP_SERVER_INTERNAL_H */
