/* ncp_locks.c - byte-range locks with waiting that never blocks a thread.
 *
 * A LOCK with WAIT that conflicts becomes a waiter record and its request
 * stays in flight; whoever releases a range re-examines the waiters (FIFO)
 * and sends the grant.  Lists are linear: lock counts are small here. */
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
        if (conflicts(l, want)) return l;
    return NULL;
}

/* One level of wait-for: does the blocker's connection already wait for a
 * range that a lock of ours holds? */
static bool would_deadlock(struct ncp_server *s, const struct ncp_lock *want, const struct ncp_lock *blocker)
{
    struct ncp_conn *me = want->owner->conn, *them = blocker->owner->conn;
    for (struct ncp_waiter *w = s->waiters; w; w = w->next) {
        if (w->conn != them) continue;
        for (struct ncp_lock *l = s->locks; l; l = l->next)
            if (l->owner->conn == me && conflicts(l, &w->want)) return true;
    }
    return false;
}

/* Grants every waiter that no longer conflicts, in arrival order. */
static void grant_waiters(struct ncp_server *s)
{
    struct ncp_waiter **pp = &s->waiters;
    while (*pp) {
        struct ncp_waiter *w = *pp;
        if (first_conflict(s, &w->want)) { pp = &w->next; continue; }
        struct ncp_lock *l = fs_alloc(sizeof *l);
        if (!l) { pp = &w->next; continue; }      /* retry at the next release */
        *l = w->want;
        l->next = s->locks;
        s->locks = l;
        *pp = w->next;
        ctr_add(s, CTR_LOCK_GRANTS, 1);
        ncp_send_status(w->conn, &w->h, NCP_OK, true, true);
        ncp_open_put(w->want.owner);
        ncp_conn_put(w->conn);
        fs_free(w);
    }
}

int ncp_locks_acquire(struct ncp_server *s, struct ncp_open *o, const struct ncp_header *h,
                      uint64_t off, uint64_t len, uint8_t flags)
{
    struct ncp_lock want = { NULL, o->ino, off, range_end(off, len), (flags & NCP_LOCK_EXCLUSIVE) != 0, o };
    fs_mutex_lock(&s->lock);
    /* A request still running for a connection being torn down must not
     * leave a lock behind: teardown drops locks after marking it dead. */
    fs_mutex_lock(&o->conn->lock);
    bool dead = o->conn->dead;
    fs_mutex_unlock(&o->conn->lock);
    if (dead) { fs_mutex_unlock(&s->lock); return NCP_E_BADF; }
    struct ncp_lock *blocker = first_conflict(s, &want);
    /* Queue behind earlier waiters for an overlapping range too, so a
     * stream of shared locks cannot starve an exclusive waiter. */
    for (struct ncp_waiter *w = s->waiters; w && !blocker; w = w->next)
        if (conflicts(&w->want, &want)) blocker = &w->want;
    int r;
    if (!blocker) {
        struct ncp_lock *l = fs_alloc(sizeof *l);
        if (l) { *l = want; l->next = s->locks; s->locks = l; r = NCP_OK; }
        else r = NCP_E_NOMEM;
    } else if (!(flags & NCP_LOCK_WAIT)) {
        r = NCP_E_LOCKED;
    } else if (would_deadlock(s, &want, blocker)) {
        ctr_add(s, CTR_DEADLOCKS, 1);
        r = NCP_E_DEADLK;
    } else {
        struct ncp_waiter *w = fs_alloc(sizeof *w), **pp = &s->waiters;
        if (!w) { r = NCP_E_NOMEM; goto out; }
        w->next = NULL;
        w->want = want;
        w->conn = o->conn;
        w->h = *h;
        ncp_conn_get(o->conn);
        INC(o->refs);
        while (*pp) pp = &(*pp)->next;
        *pp = w;
        ctr_add(s, CTR_LOCK_WAITS, 1);
        /* Tell the client its request is waiting (NCP 0x9999). */
        struct ncp_header busy = *h;
        busy.type = NCP_TYPE_BUSY;
        uint8_t frame[NCP_LEN_SIZE + NCP_HDR_SIZE];
        ncp_encode_bare(frame, sizeof frame, &busy);
        ncp_send_frame(o->conn, frame, sizeof frame, false, true);
        r = -1;
    }
out:
    fs_mutex_unlock(&s->lock);
    return r;
}

int ncp_locks_release(struct ncp_server *s, struct ncp_open *o, uint64_t off, uint64_t len)
{
    uint64_t end = range_end(off, len);
    int r = NCP_E_INVAL;                            /* no such lock */
    fs_mutex_lock(&s->lock);
    for (struct ncp_lock **pp = &s->locks; *pp; pp = &(*pp)->next) {
        struct ncp_lock *l = *pp;
        if (l->owner == o && l->start == off && l->end == end) {
            *pp = l->next;
            fs_free(l);
            r = NCP_OK;
            break;
        }
    }
    if (r == NCP_OK) grant_waiters(s);
    fs_mutex_unlock(&s->lock);
    return r;
}

void ncp_locks_drop(struct ncp_server *s, struct ncp_open *o, struct ncp_conn *c, uint8_t completion)
{
    fs_mutex_lock(&s->lock);
    bool freed = false;
    for (struct ncp_lock **pp = &s->locks; *pp;) {
        struct ncp_lock *l = *pp;
        if (o ? l->owner == o : l->owner->conn == c) { *pp = l->next; fs_free(l); freed = true; }
        else pp = &l->next;
    }
    for (struct ncp_waiter **pp = &s->waiters; *pp;) {
        struct ncp_waiter *w = *pp;
        if (o ? w->want.owner == o : w->conn == c) {
            *pp = w->next;
            ncp_send_status(w->conn, &w->h, completion, true, true);
            ncp_open_put(w->want.owner);
            ncp_conn_put(w->conn);
            fs_free(w);
            freed = true;
        } else {
            pp = &w->next;
        }
    }
    if (freed) grant_waiters(s);
    fs_mutex_unlock(&s->lock);
}
