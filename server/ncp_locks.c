/* ncp_locks.c - byte-range locks with waiting that never blocks a thread.
 *
 * A LOCK with WAIT that conflicts becomes a waiter record and its request
 * stays in flight; whoever releases a range re-examines the waiters (FIFO)
 * and sends the grant.  Lists are linear: their length is bounded by
 * cfg.max_locks (and per handle / per connection by the other two limits).
 *
 * Lifetime: a lock and a waiter each hold a reference on their handle (struct
 * ncp_open), so a CLOSE racing a LOCK of the same handle can free neither under
 * the other.  CLOSE marks the handle closing under server->lock and drops its
 * locks in the same critical section; a LOCK that comes later sees `closing` and
 * fails with NCP_E_BADF.
 *
 * Replies (grants, errors of dropped waiters, BUSY) are sent after server->lock
 * is released: sending takes the embedder's locks (see ncp_server_internal.h). */
#include "server/ncp_server_internal.h"

static uint64_t range_end(uint64_t off, uint64_t len)
{
    return len == 0 ? UINT64_MAX : off + len;     /* codec keeps off+len < 2^63 */
}

static bool conflicts(const struct ncp_lock *a, const struct ncp_lock *b)
{
    return a->ino == b->ino && a->owner != b->owner && (a->excl || b->excl) &&
           a->start < b->end && b->start < a->end;
}

static struct ncp_lock *first_conflict(struct ncp_server *s, const struct ncp_lock *want)
{
    for (struct ncp_lock *l = s->locks; l; l = l->next)
        if (conflicts(l, want))
            return l;
    return NULL;
}

/* One level of wait-for: does the blocker's connection already wait for a
 * range that a lock of ours holds? */
static bool would_deadlock(struct ncp_server *s, const struct ncp_lock *want, const struct ncp_lock *blocker)
{
    struct ncp_conn *me = want->owner->conn, *them = blocker->owner->conn;
    for (struct ncp_waiter *w = s->waiters; w; w = w->next) {
        if (w->conn != them)
            continue;
        for (struct ncp_lock *l = s->locks; l; l = l->next)
            if (l->owner->conn == me && conflicts(l, &w->want))
                return true;
    }
    return false;
}

/* Counts one lock or waiter against its handle, connection and server (server->lock). */
static void count_lock(struct ncp_server *s, struct ncp_open *o)
{
    o->nlocks++;
    o->conn->nlocks++;
    __atomic_fetch_add(&s->nlocks, 1, __ATOMIC_RELAXED);
}

static void uncount_lock(struct ncp_server *s, struct ncp_open *o)
{
    o->nlocks--;
    o->conn->nlocks--;
    __atomic_fetch_sub(&s->nlocks, 1, __ATOMIC_RELAXED);
}

/* Frees a granted lock and its handle reference (server->lock). */
static void free_lock(struct ncp_server *s, struct ncp_lock *l)
{
    uncount_lock(s, l->owner);
    ncp_open_put_later(l->owner);              /* server->lock held: no vfs call here */
    fs_free(l);
}

/* Moves waiter w (already unlinked) to the `done` list with reply `result`
 * (server->lock).  A granted waiter's count moves to its new lock. */
static void retire_waiter(struct ncp_server *s, struct ncp_waiter *w, uint8_t result, struct ncp_waiter **done)
{
    __atomic_fetch_sub(&s->nwaiters, 1, __ATOMIC_RELAXED);
    if (result != NCP_OK)
        uncount_lock(s, w->want.owner);
    w->result = result;
    w->next = *done;
    *done = w;
}

/* Grants every waiter that no longer conflicts, in arrival order (server->lock).
 * The waiter's handle reference and its count move to the new lock. */
static void grant_waiters(struct ncp_server *s, struct ncp_waiter **done)
{
    struct ncp_waiter **pp = &s->waiters;
    while (*pp) {
        struct ncp_waiter *w = *pp;
        if (first_conflict(s, &w->want)) {
            pp = &w->next;
            continue;
        }
        struct ncp_lock *l = fs_alloc(sizeof *l);
        if (!l) {    /* retry at the next release */
            pp = &w->next;
            continue;
        }
        *l = w->want;
        INC(l->owner->refs);                      /* the lock's; the waiter's goes when it is freed */
        l->next = s->locks;
        s->locks = l;
        *pp = w->next;
        ctr_add(s, CTR_LOCK_GRANTS, 1);
        retire_waiter(s, w, NCP_OK, done);
    }
}

/* Sends the replies of retired waiters and frees them; no engine mutex held. */
static void finish_waiters(struct ncp_waiter *done)
{
    while (done) {
        struct ncp_waiter *w = done;
        done = w->next;
        ncp_send_status(w->conn, &w->h, w->result, true, true);
        ncp_open_put(w->want.owner);
        ncp_conn_put(w->conn);
        fs_free(w);
    }
}

enum { EVAL_WAIT = -2, EVAL_QUEUED = -1 };

/* One look at the lock table (server->lock held): grants, refuses, queues a waiter
 * (only with may_queue) or says EVAL_WAIT (the caller sends BUSY and asks again). */
static int evaluate(struct ncp_server *s, struct ncp_open *o, const struct ncp_header *h,
                    const struct ncp_lock *want, uint8_t flags, bool may_queue)
{
    /* A request still running for a connection being torn down, or for a handle
     * being closed, must not leave a lock behind: teardown drops locks after
     * marking them, under this same server->lock. */
    if (o->closing)
        return NCP_E_BADF;
    fs_mutex_lock(&o->conn->lock);
    bool dead = o->conn->dead;
    fs_mutex_unlock(&o->conn->lock);
    if (dead)
        return NCP_E_BADF;
    if (o->nlocks >= s->cfg.max_locks_per_handle || o->conn->nlocks >= s->cfg.max_locks_per_conn ||
        LOAD(s->nlocks) >= s->cfg.max_locks) {
        ctr_add(s, CTR_TOO_MANY_LOCKS, 1);
        return NCP_E_TOOMANYLOCKS;
    }
    struct ncp_lock *blocker = first_conflict(s, want);
    /* Queue behind earlier waiters for an overlapping range too, so a
     * stream of shared locks cannot starve an exclusive waiter. */
    for (struct ncp_waiter *w = s->waiters; w && !blocker; w = w->next)
        if (conflicts(&w->want, want))
            blocker = &w->want;
    if (!blocker) {
        struct ncp_lock *l = fs_alloc(sizeof *l);
        if (!l)
            return NCP_E_NOMEM;
        *l = *want;
        INC(o->refs);
        count_lock(s, o);
        l->next = s->locks;
        s->locks = l;
        return NCP_OK;
    }
    if (!(flags & NCP_LOCK_WAIT))
        return NCP_E_LOCKED;
    if (would_deadlock(s, want, blocker)) {
        ctr_add(s, CTR_DEADLOCKS, 1);
        return NCP_E_DEADLK;
    }
    if (!may_queue)
        return EVAL_WAIT;
    struct ncp_waiter *w = fs_alloc(sizeof *w), **pp = &s->waiters;
    if (!w)
        return NCP_E_NOMEM;
    w->next = NULL;
    w->want = *want;
    w->conn = o->conn;
    w->h = *h;
    w->result = NCP_OK;
    ncp_conn_get(o->conn);
    INC(o->refs);
    count_lock(s, o);
    __atomic_fetch_add(&s->nwaiters, 1, __ATOMIC_RELAXED);
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    ctr_add(s, CTR_LOCK_WAITS, 1);
    return EVAL_QUEUED;
}

int ncp_locks_acquire(struct ncp_server *s, struct ncp_open *o, const struct ncp_header *h,
                      uint64_t off, uint64_t len, uint8_t flags)
{
    struct ncp_lock want = { NULL, o->ino, off, range_end(off, len), (flags & NCP_LOCK_EXCLUSIVE) != 0, o };
    fs_mutex_lock(&s->lock);
    int r = evaluate(s, o, h, &want, flags, false);
    fs_mutex_unlock(&s->lock);
    if (r != EVAL_WAIT)
        return r;
    /* It will wait: tell the client (NCP 0x9999) before the waiter exists, so no
     * grant can overtake the BUSY frame.  Then look again: the blocker may be gone
     * (the reply follows the BUSY frame at once) or the handle closed meanwhile. */
    struct ncp_header busy = *h;
    busy.type = NCP_TYPE_BUSY;
    uint8_t frame[NCP_LEN_SIZE + NCP_HDR_SIZE];
    ncp_encode_bare(frame, sizeof frame, &busy);
    ncp_send_frame(o->conn, frame, sizeof frame, false, true);
    fs_mutex_lock(&s->lock);
    r = evaluate(s, o, h, &want, flags, true);
    fs_mutex_unlock(&s->lock);
    return r;
}

int ncp_locks_release(struct ncp_server *s, struct ncp_open *o, uint64_t off, uint64_t len)
{
    uint64_t end = range_end(off, len);
    int r = NCP_E_INVAL;                            /* no such lock */
    struct ncp_waiter *done = NULL;
    fs_mutex_lock(&s->lock);
    for (struct ncp_lock **pp = &s->locks; *pp; pp = &(*pp)->next) {
        struct ncp_lock *l = *pp;
        if (l->owner == o && l->start == off && l->end == end) {
            *pp = l->next;
            free_lock(s, l);
            r = NCP_OK;
            break;
        }
    }
    if (r == NCP_OK)
        grant_waiters(s, &done);
    fs_mutex_unlock(&s->lock);
    finish_waiters(done);
    return r;
}

void ncp_locks_drop(struct ncp_server *s, struct ncp_open *o, struct ncp_conn *c, uint8_t completion)
{
    struct ncp_waiter *done = NULL;
    fs_mutex_lock(&s->lock);
    if (o)
        o->closing = true;                          /* no LOCK attaches to it from now on */
    bool freed = false;
    for (struct ncp_lock **pp = &s->locks; *pp;) {
        struct ncp_lock *l = *pp;
        if (o ? l->owner == o : l->owner->conn == c) {
            *pp = l->next;
            free_lock(s, l);
            freed = true;
        } else {
            pp = &l->next;
        }
    }
    for (struct ncp_waiter **pp = &s->waiters; *pp;) {
        struct ncp_waiter *w = *pp;
        if (o ? w->want.owner == o : w->conn == c) {
            *pp = w->next;
            retire_waiter(s, w, completion, &done);
            freed = true;
        } else {
            pp = &w->next;
        }
    }
    if (freed)
        grant_waiters(s, &done);
    fs_mutex_unlock(&s->lock);
    finish_waiters(done);
}
