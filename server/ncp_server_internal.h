/* ncp_server_internal.h - state shared by the engine's source files.
 *
 * Lock order (take only in this order; a thread never takes an earlier one while
 * holding a later one):
 *   1. server->ns_lock     held from a permission check to the namespace or
 *                          attribute change it allows (may sleep: across fs calls)
 *   2. server->users.lock  held while the users file is re-read (across fs calls)
 *   3. server->lock        connection table, lock table, waiters, per-handle and
 *                          per-connection lock counts
 *   4. conn->lock          `dead`, nonce, identity, handle table
 *   5. conn->send_lock     the send itself, `dead` (read), the refusal ring
 *   6. the embedder's own locks, taken inside its send callback (the kernel's
 *      lwIP core lock, ncpd's output-queue mutex)
 * The intruder table lock (ncp_intruder.c) is a leaf: nothing else is taken while
 * holding it.  O_APPEND writes are atomic in the file system (NCP_VFS_APPEND).  Only handlers that run in a context
 * that may sleep take ns_lock or users.lock; server->lock, conn->lock and
 * send_lock are never held across a file system call.
 *
 * Sending: the engine calls send()/sendv() holding conn->send_lock and NO other
 * engine mutex (never server->lock: lock grants and waiter errors are collected
 * under it and sent after it is released), so an embedder whose receive path
 * holds its own lock (lwIP's core lock) and only try-locks engine mutexes cannot
 * deadlock against a worker that sends. */
#ifndef NCP_SERVER_INTERNAL_H
#define NCP_SERVER_INTERNAL_H

#include "server/ncp_server.h"
#include "proto/ncp_auth.h"

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
    struct ncp_server *srv;
    bool counted;               /* vfs->open was called: vfs->release at the last reference */
    struct ncp_open *later;     /* server->released: a last reference dropped where the
                                   vfs may not be called (ncp_open_put_later) */
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

/* Who a connection is logged in as, from its users-file line at LOGIN. */
struct ncp_ident {
    uint32_t uid, gid;          /* NCP_ID_NONE when not logged in */
    uint8_t  ngroups;
    uint32_t groups[NCP_GROUPS_MAX];
    bool     admin;
};

/* The parsed users file, re-read only when it changed (ncp_users.c). */
struct ncp_users_cache {
    struct fs_mutex lock;       /* all fields but `stale` and `ino` */
    bool loaded;
    uint32_t stale;             /* atomic: the engine changed the file or its path */
    uint32_t ino;               /* atomic: inode parsed (0: there was no file) */
    uint64_t size;              /* size, mtime, ctime of what was parsed */
    uint32_t mtime, ctime;
    bool racy;                  /* parsed in the second of its last change: re-read */
    struct ncp_user *users;
    uint32_t nusers;
    struct ncp_group *groups;
    uint32_t ngroups;
    uint64_t reloads;           /* times the file was read and parsed (tests) */
};

struct ncp_server {
    struct ncp_server_config cfg;
    struct fs_mutex ns_lock;    /* namespace and attribute changes, check to change */
    struct ncp_users_cache users;
    struct fs_mutex lock;       /* conns, locks, waiters */
    struct ncp_conn **conns;    /* index = number - 1 */
    uint32_t nconns, next_slot;
    uint32_t open_handles;
    struct ncp_lock *locks;
    struct ncp_waiter *waiters; /* FIFO */
    uint32_t nlocks, nwaiters;  /* server->lock (read atomically by STATS) */
    struct ncp_intruder *intruder;  /* failed-login table (ncp_intruder.c) */
    uint8_t secret[NCP_HASH_SIZE];
    bool stopping;
    struct ncp_open *released;  /* atomic (a lock-free stack): opens whose release waits
                                   for a context that may call the vfs */
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
    struct ncp_ident id;        /* lock; meaningful while logged_in */
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
/* Drops a reference; the last one calls vfs->release (may sleep: never with an engine
 * mutex held, never on the non-blocking path). */
void ncp_open_put(struct ncp_open *o);
/* The same where the vfs may not be called (the non-blocking path, server->lock held): a
 * last reference is queued and released by ncp_open_release_later from a worker. */
void ncp_open_put_later(struct ncp_open *o);
void ncp_open_release_later(struct ncp_server *s);
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

/* ncp_users.c: the users-file cache (takes users.lock itself) */
void ncp_users_init(struct ncp_server *s);
void ncp_users_destroy(struct ncp_server *s);
/* Finds a user by name (0 and *found, or a completion code). */
int  ncp_users_lookup(struct ncp_server *s, const char *name, size_t len, struct ncp_user *u, bool *found);
/* A NAMES question: with len 0 the name of user (kind NCP_NAME_USER) or group *id,
 * else the id of name[0..len).  Fills *id (NCP_ID_NONE if unknown) and out (NUL
 * terminated) and returns the name's length (0 if unknown).  Call between
 * ncp_users_hold (0 or a completion code) and ncp_users_release. */
int  ncp_users_hold(struct ncp_server *s);
size_t ncp_users_resolve(struct ncp_server *s, uint8_t kind, uint32_t *id, const char *name, size_t len,
                         char out[NCP_USER_MAX + 1]);
void ncp_users_release(struct ncp_server *s);
/* The engine changed inode ino / the name path: re-read if that is the users file. */
void ncp_users_touch_ino(struct ncp_server *s, uint32_t ino);
void ncp_users_touch_path(struct ncp_server *s, const char *path);

/* ncp_perm.c: permission rules (POSIX owner/group/other bits; admin passes all) */
#define NCP_MAY_X 1u
#define NCP_MAY_W 2u
#define NCP_MAY_R 4u
bool ncp_in_group(const struct ncp_ident *id, uint32_t gid);
bool ncp_may(const struct ncp_ident *id, const struct ncp_stat *st, unsigned want);
/* May id remove or rename `victim` out of `dir` (write+search on dir, and the sticky rule)? */
bool ncp_may_delete(const struct ncp_ident *id, const struct ncp_stat *dir, const struct ncp_stat *victim);
/* May id give the (non-directory) st a new hard link?  Linux's protected_hardlinks rule. */
bool ncp_may_hardlink(const struct ncp_ident *id, const struct ncp_stat *st);

/* ncp_resolve.c: a client's canonical path -> inode, one component at a time from the
 * root, with search permission on every directory the walk looks a name up in, following
 * symlinks inside the volume only (absolute targets from the volume root, ".." stopping
 * there, NCP_SYMLOOP_MAX of them per resolution, then NCP_E_LOOP). */
#define NCP_RESOLVE_FOLLOW 1u           /* follow a final symlink too (STAT, not LSTAT) */
struct ncp_resolved {
    char path[NCP_PATH_MAX + 2];        /* the physical path: canonical, no symlink in it */
    size_t path_len;
    uint32_t ino;                       /* on NCP_OK: what the path names */
    struct ncp_stat st;
    bool missing;                       /* NCP_E_NOENT for the last component only: then */
    uint32_t dir;                       /* the directory it would be in, */
    struct ncp_stat dst;
    const char *name;                   /* its name (in path, which names it) */
    uint32_t name_len;
};
int  ncp_resolve(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
                 unsigned flags, struct ncp_resolved *r);
/* The same, only the inode and stat: ncp_walk follows a final symlink, ncp_walk_flags as
 * flags say.  A completion code. */
int  ncp_walk(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
              uint32_t *ino, struct ncp_stat *st);
int  ncp_walk_flags(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
                    unsigned flags, uint32_t *ino, struct ncp_stat *st);
/* Resolves the parent of the last component (every symlink on the way followed, search
 * permission on it too) and REWRITES path (a buffer of NCP_PATH_MAX + 2 bytes) into the
 * physical path of that parent plus the last name, so the file system's path-based calls
 * act on what was resolved; *name and *name_len point into path.  The last component is
 * not looked up (never followed).  NCP_E_INVAL for the root. */
int  ncp_walk_parent(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, char *path,
                     uint32_t *dir, struct ncp_stat *dst, const char **name, uint32_t *name_len);

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
