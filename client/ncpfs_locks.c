/* ncpfs_locks.c - fcntl (POSIX) byte-range locks onto LOCK and UNLOCK.
 *
 * The server locks byte ranges per handle (a handle's own locks never
 * conflict with each other; UNLOCK names exactly a range that was locked);
 * POSIX locks belong to a process (the kernel's lock owner) and change type
 * or go away byte by byte.  So each open file keeps the ranges each owner
 * holds through it, and a change is done as: lock the new range first (with
 * WAIT for F_SETLKW), then unlock every range of the owner it overlaps and
 * lock again the parts of those outside it.  That last step is not atomic:
 * between its UNLOCK and LOCK another client may take those parts (then they
 * are lost, logged with -o verbose).  Limits: locks taken through two
 * descriptors of one file by one process conflict with each other (they are
 * two handles on the server); closing one descriptor releases the locks taken
 * through it only; F_GETLK reports a conflict as a write lock by pid 0 over
 * the range asked; changing the type of exactly a range held unlocks it
 * before locking it again (not atomic); a waiting F_SETLKW ends when granted, when the file is
 * closed or the connection lost (EIO), not on a signal other than SIGKILL;
 * locks do not survive a reconnect.
 */
#include "client/ncpfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

struct ncpfs_lock {
    struct ncpfs_lock *next;    /* of->lock */
    uint64_t owner;
    uint64_t start, len;        /* len 0: to the end of file and beyond */
    bool excl;
    uint64_t gen;               /* the connection's generation it was taken on */
};

static uint64_t end_of(uint64_t start, uint64_t len) { return len ? start + len : UINT64_MAX; }

static void set_lock_handle(struct ncp_request *rq, uint32_t h) { rq->u.lock.handle = h; }

/* LOCK or UNLOCK on the file's handle; *gen gets the generation used. */
static int lock_call(struct ofile *of, uint8_t fn, uint64_t start, uint64_t len, bool excl, bool wait, uint64_t *gen)
{
    struct ncp_request r = ncpc_req(fn);
    r.u.lock.offset = start;
    r.u.lock.length = len;
    if (fn == NCP_FN_LOCK) r.u.lock.flags = (excl ? NCP_LOCK_EXCLUSIVE : 0) | (wait ? NCP_LOCK_WAIT : 0);
    struct ncpc_reply rp;
    int e;
    if (!wait) {
        e = ncpfs_handle_call(of, &r, set_lock_handle, &rp);
        pthread_mutex_lock(&of->lock);
        *gen = of->t.gen;
        pthread_mutex_unlock(&of->lock);
    } else {
        struct ncpm_target t;
        uint32_t h;
        if (ncpfs_ofile_get(of, &t, &h)) return -EIO;
        r.u.lock.handle = h;
        struct ncpm_call call;
        ncpm_start_call(&g_fs.m, &t, &r, &call);
        e = ncpm_finish(&g_fs.m, &call, &rp, true, NULL, NULL);
        *gen = t.gen;
        if (e == -ESTALE) e = -EIO;             /* the handle's locks went with its connection */
    }
    ncpc_reply_free(&rp);
    return e;
}

static void add_held(struct ofile *of, uint64_t owner, uint64_t start, uint64_t len, bool excl, uint64_t gen)
{
    struct ncpfs_lock *l = malloc(sizeof *l);
    if (!l) return;                             /* held on the server until close */
    *l = (struct ncpfs_lock){ NULL, owner, start, len, excl, gen };
    pthread_mutex_lock(&of->lock);
    l->next = of->locks;
    of->locks = l;
    pthread_mutex_unlock(&of->lock);
}

/* Takes the first range of owner overlapping [start, end) off the list
 * (ranges from an older connection are dropped: the server forgot them). */
static struct ncpfs_lock *take_overlap(struct ofile *of, uint64_t owner, uint64_t start, uint64_t end)
{
    pthread_mutex_lock(&of->lock);
    struct ncpfs_lock *found = NULL;
    for (struct ncpfs_lock **pp = &of->locks; *pp;) {
        struct ncpfs_lock *l = *pp;
        if (l->gen != of->t.gen) {
            *pp = l->next;
            free(l);
            continue;
        }
        if (l->owner == owner && l->start < end && start < end_of(l->start, l->len)) {
            *pp = l->next;
            found = l;
            break;
        }
        pp = &l->next;
    }
    pthread_mutex_unlock(&of->lock);
    return found;
}

/* Takes owner's range [start, start + len) exactly off the list, if held. */
static struct ncpfs_lock *take_exact(struct ofile *of, uint64_t owner, uint64_t start, uint64_t len)
{
    pthread_mutex_lock(&of->lock);
    struct ncpfs_lock *found = NULL;
    for (struct ncpfs_lock **pp = &of->locks; *pp; pp = &(*pp)->next) {
        struct ncpfs_lock *l = *pp;
        if (l->gen == of->t.gen && l->owner == owner && l->start == start && l->len == len) {
            *pp = l->next;
            found = l;
            break;
        }
    }
    pthread_mutex_unlock(&of->lock);
    return found;
}

/* Gives up owner's hold on [start, end), keeping the rest of each range it had. */
static void release_range(struct ofile *of, uint64_t owner, uint64_t start, uint64_t end, const struct ncpfs_lock *keep)
{
    struct ncpfs_lock *l;
    struct ncpfs_lock *kept = NULL;
    while ((l = take_overlap(of, owner, start, end))) {
        if (keep && l->start == keep->start && l->len == keep->len && l->excl == keep->excl && !kept) {
            kept = l;                           /* the range just taken: not given up */
            continue;
        }
        uint64_t gen, lend = end_of(l->start, l->len);
        (void)lock_call(of, NCP_FN_UNLOCK, l->start, l->len, l->excl, false, &gen);
        if (l->start < start) {
            if (lock_call(of, NCP_FN_LOCK, l->start, start - l->start, l->excl, false, &gen) == 0)
                add_held(of, owner, l->start, start - l->start, l->excl, gen);
            else if (g_fs.o.verbose)
                fprintf(stderr, "ncpfs: inode %llu: a lock split lost bytes %llu..%llu to another client\n",
                        (unsigned long long)of->ino, (unsigned long long)l->start, (unsigned long long)start);
        }
        if (end < lend) {
            uint64_t len = lend == UINT64_MAX ? 0 : lend - end;
            if (lock_call(of, NCP_FN_LOCK, end, len, l->excl, false, &gen) == 0)
                add_held(of, owner, end, len, l->excl, gen);
            else if (g_fs.o.verbose)
                fprintf(stderr, "ncpfs: inode %llu: a lock split lost bytes from %llu to another client\n",
                        (unsigned long long)of->ino, (unsigned long long)end);
        }
        free(l);
    }
    if (kept) {
        pthread_mutex_lock(&of->lock);
        kept->next = of->locks;
        of->locks = kept;
        pthread_mutex_unlock(&of->lock);
    }
}

static bool range_of(const struct flock *lk, uint64_t *start, uint64_t *len)
{
    if (lk->l_start < 0 || lk->l_len < 0) return false;     /* the kernel hands SEEK_SET ranges */
    *start = (uint64_t)lk->l_start;
    *len = (uint64_t)lk->l_len;
    return *start < (1ull << 62) && *len < (1ull << 62);
}

void ncpfs_op_setlk(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lk, int sleep)
{
    struct ofile *of = ofile_of(fi);
    uint64_t start, len, gen;
    if (!range_of(lk, &start, &len)) {
        fuse_reply_err(rq, EINVAL);
        return;
    }
    __atomic_add_fetch(&of->refs, 1, __ATOMIC_ACQ_REL);     /* a release may come while we wait */
    int e = 0;
    struct ncpfs_lock want = { NULL, fi->lock_owner, start, len, lk->l_type == F_WRLCK, 0 };
    struct ncpfs_lock *same = take_exact(of, fi->lock_owner, start, len);
    if (same && lk->l_type != F_UNLCK && same->excl == want.excl) {
        add_held(of, same->owner, start, len, same->excl, same->gen);   /* already held so */
        free(same);
        fuse_reply_err(rq, 0);
        ncpfs_ofile_put(of);
        return;
    }
    if (same) {
        /* Another type on the very same range: the server's UNLOCK could not
         * tell the two apart, so the old one goes first (not atomic). */
        (void)lock_call(of, NCP_FN_UNLOCK, start, len, same->excl, false, &gen);
        free(same);
    }
    if (lk->l_type != F_UNLCK) {
        e = lock_call(of, NCP_FN_LOCK, start, len, want.excl, sleep != 0, &gen);
        if (e == 0) add_held(of, fi->lock_owner, start, len, want.excl, gen);
    }
    if (e == 0) release_range(of, fi->lock_owner, start, end_of(start, len), lk->l_type == F_UNLCK ? NULL : &want);
    fuse_reply_err(rq, ncpfs_errno(e));
    ncpfs_ofile_put(of);
}

void ncpfs_op_getlk(fuse_req_t rq, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lk)
{
    struct ofile *of = ofile_of(fi);
    uint64_t start, len, gen;
    if (!range_of(lk, &start, &len)) {
        fuse_reply_err(rq, EINVAL);
        return;
    }
    /* The protocol has no "test": take the lock and give it back at once. */
    int e = lock_call(of, NCP_FN_LOCK, start, len, lk->l_type == F_WRLCK, false, &gen);
    if (e == 0) {
        (void)lock_call(of, NCP_FN_UNLOCK, start, len, false, false, &gen);
        lk->l_type = F_UNLCK;
    } else if (e == NCP_E_LOCKED) {
        lk->l_type = F_WRLCK;
        lk->l_pid = 0;
    } else {
        fuse_reply_err(rq, ncpfs_errno(e));
        return;
    }
    fuse_reply_lock(rq, lk);
}

void ncpfs_locks_release_owner(struct ofile *of, uint64_t owner)
{
    release_range(of, owner, 0, UINT64_MAX, NULL);
}

void ncpfs_locks_free(struct ofile *of)
{
    while (of->locks) {
        struct ncpfs_lock *l = of->locks;
        of->locks = l->next;
        free(l);
    }
}
