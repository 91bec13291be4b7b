/* ext2_jtrans.c - journaled writing of an ext3 volume: transactions, group
 * commit, data=ordered, checkpoint, revoke.
 *
 * Every change runs under fs->lock, so the running transaction is simply
 * everything changed since the last commit began.  A metadata block dirtied
 * (ext2_bdirty, the group descriptors, the superblock) joins it and its
 * cache buffer is pinned: the cache writes no pinned buffer home, so nothing
 * of a transaction reaches its home location before the transaction is
 * committed.  File data blocks written join its data list.
 *
 * Commit (one at a time, j->committing): under fs->lock the running
 * transaction is frozen (frozen copies of its metadata blocks are taken; a
 * copy beginning with the jbd2 magic is escaped) and a new one starts, so
 * changes go on while it is written.  Then, without fs->lock: its file data
 * is written home (a data block sharing a pinned cache block is written by
 * itself), its revoke blocks, descriptor blocks and copies to the log (and
 * the journal superblock if the log was empty), a device FLUSH, the commit
 * block, a FLUSH.  Only then are its buffers unpinned (they may go home) and
 * are its waiters answered.  Group commit: an FSYNC waits for the commit of
 * the transaction holding its changes; FSYNCs that come while a commit is
 * being written join the next one, which the first of them commits once the
 * current one is done, so one commit answers all of them.
 *
 * The log is written from s_first upwards and never wraps: before a change,
 * if the log might not hold the running transaction plus what one change can
 * add (j->reserve), the transaction is committed and, if still short, the
 * log is checkpointed: every block logged since the last checkpoint is
 * written home, FLUSH, s_start = 0 (empty), FLUSH, and the log starts again
 * at s_first with a higher sequence (stale blocks of earlier rounds carry
 * lower sequences, so a replay stops at them).  The ext2 superblock has
 * needs_recovery set from mount to the checkpoint of a clean unmount.
 *
 * Freed blocks: a block freed by a transaction not yet durable is not
 * allocated again (a copy of its group's bitmap from before the free keeps
 * it busy), so no file data overwrites a block whose old owner a crash
 * could bring back; and a freed block that was logged since the last
 * checkpoint is revoked, so a replay does not write its old metadata over a
 * later owner's data. */
#include "ext2_journal.h"

/* ---- block sets -------------------------------------------------------------- */

int jset_init(struct jset *s, uint32_t cap)
{
    uint32_t size = 16;
    while (size < 2 * cap)
        size <<= 1;
    memset(s, 0, sizeof *s);
    s->v = fs_alloc(sizeof *s->v * cap);
    s->slot = fs_alloc(sizeof *s->slot * size);
    if (!s->v || !s->slot)
        return -FS_ENOMEM;
    memset(s->slot, 0, sizeof *s->slot * size);
    s->cap = cap;
    s->mask = size - 1;
    return 0;
}

void jset_free(struct jset *s)
{
    fs_free(s->v);
    fs_free(s->slot);
    memset(s, 0, sizeof *s);
}

bool jset_has(const struct jset *s, uint32_t blk)
{
    if (!s->slot)
        return false;
    for (uint32_t i = (blk * 2654435761u) & s->mask; s->slot[i]; i = (i + 1) & s->mask)
        if (s->slot[i] == blk + 1)
            return true;
    return false;
}

int jset_add(struct jset *s, uint32_t blk)
{
    uint32_t i = (blk * 2654435761u) & s->mask;
    for (; s->slot[i]; i = (i + 1) & s->mask)
        if (s->slot[i] == blk + 1)
            return 0;
    if (s->n == s->cap)
        return -FS_ENOBUFS;
    s->slot[i] = blk + 1;
    s->v[s->n++] = blk;
    return 0;
}

void jset_clear(struct jset *s)
{
    memset(s->slot, 0, sizeof *s->slot * (s->mask + 1));
    s->n = 0;
}

/* ---- transactions -------------------------------------------------------------- */

int jtrans_init(struct jtrans *t, uint32_t cap)
{
    memset(t, 0, sizeof *t);
    int r = jset_init(&t->meta, cap);
    t->bufs = fs_alloc(sizeof *t->bufs * cap);
    t->copy = fs_alloc(sizeof *t->copy * cap);
    t->escaped = fs_alloc(sizeof *t->escaped * cap);
    if (r == 0 && (!t->bufs || !t->copy || !t->escaped))
        r = -FS_ENOMEM;
    if (r == 0)
        memset(t->copy, 0, sizeof *t->copy * cap);
    return r;
}

void jtrans_free(struct jtrans *t)
{
    jset_free(&t->meta);
    fs_free(t->bufs);
    fs_free(t->copy);
    fs_free(t->escaped);
    fs_free(t->data);
    fs_free(t->revoke);
    memset(t, 0, sizeof *t);
}

static bool jtrans_empty(const struct jtrans *t)
{
    return t->meta.n == 0 && t->ndata == 0 && t->nrevoke == 0;
}

static uint32_t div_up(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

/* Log blocks transaction t takes: descriptors, copies, revoke blocks, commit. */
static uint32_t space_of(struct ext2_journal *j, const struct jtrans *t)
{
    return div_up(t->meta.n, j->tags_per_desc) + t->meta.n + div_up(t->nrevoke, j->recs_per_revoke) + 1;
}

static int grow(uint32_t **v, uint32_t *cap, uint32_t n)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 256;
    uint32_t *nv = fs_alloc(sizeof *nv * ncap);
    if (!nv)
        return -FS_ENOMEM;
    if (n)
        memcpy(nv, *v, sizeof *nv * n);
    fs_free(*v);
    *v = nv;
    *cap = ncap;
    return 0;
}

/* The journal cannot go on (out of memory, a write failed): the volume turns
 * read-only; what was committed stays, the running transaction is lost. */
static void journal_abort(struct ext2_journal *j, int err)
{
    fs_mutex_lock(&j->lock);
    if (!j->error) {
        j->error = err;
        fs_log("ext3: journal aborted (error %d): the volume is read-only now\n", err);
    }
    fs_mutex_unlock(&j->lock);
    j->fs->read_only = true;
}

static struct ext2_journal *active(struct ext2_fs *fs)
{
    struct ext2_journal *j = fs->j;
    return j && !j->stopped ? j : NULL;
}

/* ---- hooks from the ext2 code (fs->lock held) ----------------------------------- */

void ext2_journal_meta(struct ext2_fs *fs, struct bcache_buf *buf, uint32_t blk)
{
    struct ext2_journal *j = active(fs);
    if (!j)
        return;
    struct jtrans *t = j->run;
    if (jset_has(&t->meta, blk))
        return;
    if (jset_add(&t->meta, blk)) {
        journal_abort(j, -FS_ENOBUFS);
        return;
    }
    t->bufs[t->meta.n - 1] = buf;
    bcache_pin(buf);
    if (!j->run_since)
        j->run_since = fs_time_now();
}

void ext2_journal_data(struct ext2_fs *fs, uint32_t blk)
{
    struct ext2_journal *j = active(fs);
    if (!j)
        return;
    struct jtrans *t = j->run;
    if (t->ndata && t->data[t->ndata - 1] == blk)
        return;
    if (grow(&t->data, &t->data_cap, t->ndata)) {
        journal_abort(j, -FS_ENOMEM);
        return;
    }
    t->data[t->ndata++] = blk;
    if (!j->run_since)
        j->run_since = fs_time_now();
}

void ext2_journal_allocated(struct ext2_fs *fs)
{
    struct ext2_journal *j = active(fs);
    if (!j)
        return;
    j->run->nalloc++;
    __atomic_store_n(&j->run_nalloc, j->run->nalloc, __ATOMIC_RELAXED);
}

static bool durable(struct ext2_journal *j, uint32_t tid)
{
    return (int32_t)(__atomic_load_n(&j->committed_tid, __ATOMIC_ACQUIRE) - tid) >= 0;
}

/* Block blk (bit `bit` of group g, whose bitmap is `bitmap`, still showing it
 * in use) is being freed. */
void ext2_journal_freed(struct ext2_fs *fs, uint32_t g, const uint8_t *bitmap, uint32_t bit, uint32_t blk)
{
    struct ext2_journal *j = active(fs);
    if (!j)
        return;
    struct jtrans *t = j->run;
    if (j->busy_bm[g] && durable(j, j->busy_tid[g])) {
        fs_free(j->busy_bm[g]);
        j->busy_bm[g] = NULL;
    }
    if (!j->busy_bm[g]) {
        j->busy_bm[g] = fs_alloc(fs->block_size);
        if (!j->busy_bm[g]) {
            journal_abort(j, -FS_ENOMEM);
            return;
        }
        memcpy(j->busy_bm[g], bitmap, fs->block_size);
    }
    j->busy_bm[g][bit / 8] |= (uint8_t)(1u << (bit & 7));
    j->busy_tid[g] = t->tid;
    t->nfreed++;

    fs_mutex_lock(&j->lock);
    bool logged = jset_has(&j->live, blk) || (j->ctr && jset_has(&j->ctr->meta, blk));
    fs_mutex_unlock(&j->lock);
    if (!logged && !jset_has(&t->meta, blk))
        return;
    if (grow(&t->revoke, &t->revoke_cap, t->nrevoke)) {
        journal_abort(j, -FS_ENOMEM);
        return;
    }
    t->revoke[t->nrevoke++] = blk;
}

bool ext2_journal_busy(struct ext2_fs *fs, uint32_t g, uint32_t bit)
{
    struct ext2_journal *j = active(fs);
    if (!j || !j->busy_bm[g])
        return false;
    if (durable(j, j->busy_tid[g])) {
        fs_free(j->busy_bm[g]);
        j->busy_bm[g] = NULL;
        return false;
    }
    return (j->busy_bm[g][bit / 8] >> (bit & 7)) & 1;
}

/* ---- commit ------------------------------------------------------------------------ */

static uint8_t *block_in(struct ext2_journal *j, struct bcache_buf *b, uint32_t blk)
{
    return b->data + (uint64_t)blk * j->bs % BCACHE_BLOCK_SIZE;
}

/* fs->lock and j->lock held, no commit running: the running transaction
 * becomes the committing one (copies taken, log space assigned). */
static struct jtrans *freeze(struct ext2_journal *j)
{
    struct jtrans *t = j->run;
    if (jtrans_empty(t))
        return NULL;
    for (uint32_t i = 0; i < t->meta.n; i++) {
        t->copy[i] = fs_alloc(j->bs);
        if (!t->copy[i]) {
            while (i--) {
                fs_free(t->copy[i]);
                t->copy[i] = NULL;
            }
            return NULL;
        }
        memcpy(t->copy[i], block_in(j, t->bufs[i], t->meta.v[i]), j->bs);
        t->escaped[i] = be32_get(t->copy[i]) == JBD2_MAGIC;
        if (t->escaped[i])
            memset(t->copy[i], 0, 4);
    }
    t->start = j->next_head;
    t->write_jsb = j->log_empty;
    j->next_head += space_of(j, t);
    j->log_empty = false;
    struct jtrans *next = t == &j->trans[0] ? &j->trans[1] : &j->trans[0];
    next->tid = t->tid + 1;
    j->run = next;
    j->run_since = 0;
    __atomic_store_n(&j->run_nalloc, next->nalloc, __ATOMIC_RELAXED);
    j->ctr = t;
    j->committing = true;
    return t;
}

/* Appends journal blocks to the log through a 64 KiB staging buffer. */
struct logw {
    struct ext2_journal *j;
    uint8_t *buf;
    uint32_t n, cap;                /* blocks staged, capacity */
    uint32_t at;                    /* log block the staged ones start at */
    int err;
};

static void logw_flush(struct logw *w)
{
    if (w->n && !w->err)
        w->err = journal_log_write(w->j, w->at, w->n, w->buf);
    w->at += w->n;
    w->n = 0;
}

static uint8_t *logw_next(struct logw *w)
{
    if (w->n == w->cap)
        logw_flush(w);
    uint8_t *p = w->buf + (size_t)w->n++ * w->j->bs;
    memset(p, 0, w->j->bs);
    return p;
}

static void header(uint8_t *p, uint32_t type, uint32_t tid)
{
    be32_put(p + JBD2_H_MAGIC, JBD2_MAGIC);
    be32_put(p + JBD2_H_BLOCKTYPE, type);
    be32_put(p + JBD2_H_SEQUENCE, tid);
}

static void write_revokes(struct logw *w, struct jtrans *t)
{
    struct ext2_journal *j = w->j;
    for (uint32_t i = 0; i < t->nrevoke;) {
        uint8_t *p = logw_next(w);
        header(p, JBD2_REVOKE_BLOCK, t->tid);
        uint32_t off = JBD2_REVOKE_HEADER;
        for (; i < t->nrevoke && off + 4 <= j->bs; i++, off += 4)
            be32_put(p + off, t->revoke[i]);
        be32_put(p + JBD2_REVOKE_COUNT, off);
    }
}

static void write_descriptors(struct logw *w, struct jtrans *t)
{
    struct ext2_journal *j = w->j;
    for (uint32_t i = 0; i < t->meta.n;) {
        uint8_t *d = logw_next(w);
        header(d, JBD2_DESCRIPTOR_BLOCK, t->tid);
        uint32_t first = i, off = JBD2_HEADER_SIZE;
        uint8_t *last = NULL;
        for (; i < t->meta.n && i - first < j->tags_per_desc; i++) {
            uint8_t *tag = d + off;
            uint16_t flags = i == first ? 0 : JBD2_FLAG_SAME_UUID;
            if (t->escaped[i])
                flags |= JBD2_FLAG_ESCAPE;
            be32_put(tag + JBD2_TAG_BLOCKNR, t->meta.v[i]);
            be16_put(tag + JBD2_TAG_FLAGS, flags);
            off += JBD2_TAG_SIZE;
            if (i == first) {
                memcpy(d + off, j->jsb + JSB_UUID, JBD2_UUID_SIZE);
                off += JBD2_UUID_SIZE;
            }
            last = tag;
        }
        be16_put(last + JBD2_TAG_FLAGS, (uint16_t)(be16_get(last + JBD2_TAG_FLAGS) | JBD2_FLAG_LAST_TAG));
        /* d may be flushed out by the next logw_next: it is complete now */
        for (uint32_t k = first; k < i; k++)
            memcpy(logw_next(w), t->copy[k], j->bs);
    }
}

/* File data of t reaches its home blocks (data=ordered). */
static int write_data(struct ext2_journal *j, struct jtrans *t)
{
    struct bcache *c = j->fs->bc;
    uint64_t *cb = fs_alloc(sizeof *cb * (t->ndata ? t->ndata : 1));
    if (!cb)
        return -FS_ENOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->ndata; i++)
        if (!jset_has(&t->meta, t->data[i]))
            cb[n++] = (uint64_t)t->data[i] * j->bs / BCACHE_BLOCK_SIZE;
    int r = bcache_write_set(c, cb, n, NULL);
    for (uint32_t i = 0; r == 0 && i < t->ndata && j->bs < BCACHE_BLOCK_SIZE; i++) {
        uint64_t byte = (uint64_t)t->data[i] * j->bs;
        if (!jset_has(&t->meta, t->data[i]) && bcache_is_pinned(c, byte / BCACHE_BLOCK_SIZE))
            r = bcache_write_part(c, byte / BCACHE_BLOCK_SIZE, (uint32_t)(byte % BCACHE_BLOCK_SIZE), j->bs);
    }
    fs_free(cb);
    return r;
}

static int write_commit(struct ext2_journal *j, struct jtrans *t)
{
    struct bcache *c = j->fs->bc;
    struct logw w = { .j = j, .at = t->start };
    w.cap = 65536 / j->bs;
    w.buf = fs_alloc(65536);
    if (!w.buf)
        return -FS_ENOMEM;
    int r = write_data(j, t);
    if (r == 0 && t->write_jsb)
        r = journal_write_jsb(j, t->start, t->tid);
    if (r == 0) {
        write_revokes(&w, t);
        write_descriptors(&w, t);
        logw_flush(&w);
        r = w.err;
    }
    if (r == 0)
        r = bcache_flush(c);            /* data and log durable before the commit block */
    if (r == 0) {
        uint8_t *p = logw_next(&w);
        header(p, JBD2_COMMIT_BLOCK, t->tid);
        uint32_t now = fs_time_now();
        be32_put(p + JBD2_COMMIT_SEC + 4, now);
        logw_flush(&w);
        r = w.err;
    }
    if (r == 0)
        r = bcache_flush(c);            /* the commit block durable */
    fs_free(w.buf);
    if (r == 0) {
        __atomic_fetch_add(&j->commits, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&j->commit_blocks, space_of(j, t), __ATOMIC_RELAXED);
    }
    return r;
}

/* The commit of t ended (r: its result): its blocks join the log, its buffers
 * are unpinned, its waiters answered. */
static void finish(struct ext2_journal *j, struct jtrans *t, int r)
{
    fs_mutex_lock(&j->lock);
    for (uint32_t i = 0; r == 0 && i < t->meta.n; i++)
        if (jset_add(&j->live, t->meta.v[i]))
            r = -FS_ENOBUFS;        /* cannot happen: the log holds fewer blocks */
    if (r == 0)
        __atomic_store_n(&j->committed_tid, t->tid, __ATOMIC_RELEASE);
    j->committing = false;
    j->ctr = NULL;
    fs_mutex_unlock(&j->lock);
    for (uint32_t i = 0; i < t->meta.n; i++) {
        bcache_unpin(t->bufs[i]);
        fs_free(t->copy[i]);
        t->copy[i] = NULL;
    }
    jset_clear(&t->meta);
    t->ndata = 0;
    t->nalloc = 0;
    t->nrevoke = 0;
    t->nfreed = 0;
    if (r)
        journal_abort(j, r);
    fs_mutex_lock(&j->lock);
    fs_cond_broadcast(&j->cond);
    fs_mutex_unlock(&j->lock);
}

/* Commits the running transaction (nothing if it is empty); fs->lock held
 * by the caller if `locked`. */
static int commit(struct ext2_fs *fs, bool locked)
{
    struct ext2_journal *j = fs->j;
    for (;;) {
        /* not holding fs->lock while another commit is written: changes go on meanwhile
         * (and join the transaction this one commits) */
        if (!locked) {
            fs_mutex_lock(&j->lock);
            while (j->committing)
                fs_cond_wait(&j->cond, &j->lock);
            fs_mutex_unlock(&j->lock);
            fs_mutex_lock(&fs->lock);
        }
        fs_mutex_lock(&j->lock);
        if (!j->committing || locked)
            break;
        fs_mutex_unlock(&j->lock);
        fs_mutex_unlock(&fs->lock);
    }
    while (j->committing)
        fs_cond_wait(&j->cond, &j->lock);
    int err = j->error;
    struct jtrans *t = err || j->stopped ? NULL : freeze(j);
    if (!t && !err && !jtrans_empty(j->run) && !j->stopped)
        err = -FS_ENOMEM;
    fs_mutex_unlock(&j->lock);
    if (!locked)
        fs_mutex_unlock(&fs->lock);
    if (err && !j->error)
        journal_abort(j, err);
    if (!t)
        return err;
    int r = write_commit(j, t);
    finish(j, t, r);
    return r;
}

/* Returns once transaction tid is durable. */
static int force(struct ext2_fs *fs, uint32_t tid)
{
    struct ext2_journal *j = fs->j;
    int r = 0;
    fs_mutex_lock(&j->lock);
    for (;;) {
        if (j->error) {
            r = j->error;
            break;
        }
        if (durable(j, tid))
            break;
        if (j->committing) {
            fs_cond_wait(&j->cond, &j->lock);
            continue;
        }
        fs_mutex_unlock(&j->lock);
        r = commit(fs, false);
        fs_mutex_lock(&j->lock);
        if (r)
            break;
    }
    fs_mutex_unlock(&j->lock);
    return r;
}

/* ---- checkpoint ----------------------------------------------------------------------- */

/* fs->lock held: commits what runs, writes every logged block home, empties the log. */
static int checkpoint_locked(struct ext2_fs *fs)
{
    struct ext2_journal *j = fs->j;
    int r = commit(fs, true);
    if (r)
        return r;
    fs_mutex_lock(&j->lock);
    while (j->committing)
        fs_cond_wait(&j->cond, &j->lock);
    uint32_t n = j->live.n;
    uint64_t *cb = fs_alloc(sizeof *cb * (n ? n : 1));
    for (uint32_t i = 0; cb && i < n; i++)
        cb[i] = (uint64_t)j->live.v[i] * j->bs / BCACHE_BLOCK_SIZE;
    r = j->error;
    fs_mutex_unlock(&j->lock);
    if (!cb)
        return -FS_ENOMEM;
    if (r == 0)
        r = bcache_write_set(fs->bc, cb, n, NULL);
    fs_free(cb);
    if (r == 0)
        r = bcache_flush(fs->bc);       /* home blocks durable before the log forgets them */
    if (r == 0)
        r = journal_write_jsb(j, 0, j->run->tid);
    if (r == 0)
        r = bcache_flush(fs->bc);
    if (r) {
        journal_abort(j, r);
        return r;
    }
    fs_mutex_lock(&j->lock);
    jset_clear(&j->live);
    fs_mutex_unlock(&j->lock);
    j->next_head = j->first;
    j->log_empty = true;
    __atomic_fetch_add(&j->checkpoints, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Without fs->lock: the committed blocks of the log written home ahead of a
 * checkpoint (pinned ones, changed again since, are skipped), so the
 * checkpoint, which holds fs->lock, has little left to write. */
static int write_home_early(struct ext2_journal *j)
{
    fs_mutex_lock(&j->lock);
    uint32_t n = j->live.n;
    uint64_t *cb = fs_alloc(sizeof *cb * (n ? n : 1));
    for (uint32_t i = 0; cb && i < n; i++)
        cb[i] = (uint64_t)j->live.v[i] * j->bs / BCACHE_BLOCK_SIZE;
    fs_mutex_unlock(&j->lock);
    if (!cb)
        return -FS_ENOMEM;
    int r = bcache_write_set(j->fs->bc, cb, n, NULL);
    fs_free(cb);
    return r;
}

/* A background commit: the transaction change_begin froze, written on a thread of
 * the port's (fs_run_async) without fs->lock, exactly as a commit(fs, false) writes. */
static void commit_job(void *arg)
{
    struct ext2_journal *j = arg;
    fs_mutex_lock(&j->lock);
    struct jtrans *t = j->ctr;
    fs_mutex_unlock(&j->lock);
    int r = write_commit(j, t);
    finish(j, t, r);
    fs_mutex_lock(&j->lock);
    j->async_jobs--;                /* the last touch of j: journal_free waits for it */
    fs_cond_broadcast(&j->cond);
    fs_mutex_unlock(&j->lock);
}

/* fs->lock held: the running transaction frozen and committed in the background,
 * unless a commit is being written already (then it waits its turn: the next change
 * that finds it due starts it, or the hard limits commit it in place). */
static void commit_background(struct ext2_fs *fs)
{
    struct ext2_journal *j = fs->j;
    fs_mutex_lock(&j->lock);
    struct jtrans *t = j->committing || j->error || j->stopped ? NULL : freeze(j);
    if (t)
        j->async_jobs++;
    fs_mutex_unlock(&j->lock);
    if (!t)
        return;                     /* busy, empty, or no memory for the copies (the hard limit commits) */
    __atomic_fetch_add(&j->background_commits, 1, __ATOMIC_RELAXED);
    if (fs_run_async(commit_job, j) != 0)
        commit_job(j);              /* no thread to take it: written here, as before */
}

/* Without fs->lock, before a change: while a commit is being written and the running
 * transaction has already allocated twice the background step, wait for that commit
 * (a writer faster than the disk is slowed down here, holding nothing, instead of
 * piling up data until the hard limit commits it in place under fs->lock, where every
 * other change would wait for the whole write). */
void ext2_journal_throttle(struct ext2_fs *fs)
{
    struct ext2_journal *j = fs->j;
    uint64_t limit = JOURNAL_THROTTLE_BYTES / j->bs;
    if (__atomic_load_n(&j->run_nalloc, __ATOMIC_RELAXED) < limit)
        return;
    fs_mutex_lock(&j->lock);
    while (j->committing && !j->error && __atomic_load_n(&j->run_nalloc, __ATOMIC_RELAXED) >= limit) {
        __atomic_fetch_add(&j->throttled, 1, __ATOMIC_RELAXED);
        fs_cond_wait(&j->cond, &j->lock);
    }
    fs_mutex_unlock(&j->lock);
}

void ext2_journal_wait_background(struct ext2_journal *j)
{
    if (!__atomic_load_n(&j->async_jobs, __ATOMIC_ACQUIRE))
        return;                     /* none ever started (j->lock may not even be set up) */
    fs_mutex_lock(&j->lock);
    while (j->async_jobs)
        fs_cond_wait(&j->cond, &j->lock);
    fs_mutex_unlock(&j->lock);
}

/* ---- entry points ------------------------------------------------------------------------ */

/* Before a change (fs->lock held): room in the log for it, a commit if due. */
void ext2_journal_change_begin(struct ext2_fs *fs)
{
    struct ext2_journal *j = active(fs);
    if (!j || j->error)
        return;
    struct jtrans *t = j->run;
    /* space it freed comes back at its commit: commit first when free space runs low */
    bool short_of_space = t->nfreed && fs->sb->s_free_blocks_count < (uint64_t)t->nfreed + 2048;
    if (t->meta.n >= j->trans_soft || t->ndata >= JOURNAL_DATA_MAX) {
        __atomic_fetch_add(&j->inplace_commits, 1, __ATOMIC_RELAXED);
        (void)commit(fs, true);
    } else if (short_of_space || j->next_head + space_of(j, t) + j->reserve > j->maxlen)
        (void)commit(fs, true);
    else if (t->meta.n >= j->trans_soft / 2 || (uint64_t)t->nalloc * j->bs >= JOURNAL_DATA_SOFT_BYTES)
        commit_background(fs);
    if (j->next_head + 1 + j->reserve > j->maxlen)
        (void)checkpoint_locked(fs);
}

/* FSYNC of a file or of the volume: every change made so far is durable on
 * return (the one transaction that holds the newest ones is committed). */
int ext2_journal_sync(struct ext2_fs *fs)
{
    struct ext2_journal *j = fs->j;
    fs_mutex_lock(&fs->lock);
    uint32_t tid = jtrans_empty(j->run) ? j->run->tid - 1 : j->run->tid;
    fs_mutex_unlock(&fs->lock);
    return force(fs, tid);
}

int ext2_journal_tick(struct ext2_fs *fs)
{
    struct ext2_journal *j = active(fs);
    if (!j || fs->read_only)
        return 0;
    fs_mutex_lock(&fs->lock);
    uint32_t since = j->run_since;
    uint32_t used = j->next_head - j->first, span = j->maxlen - j->first;
    fs_mutex_unlock(&fs->lock);
    int r = 0;
    if (used > span / 4)
        r = write_home_early(j);
    if (r == 0 && used > span / 2) {
        fs_mutex_lock(&fs->lock);
        r = checkpoint_locked(fs);
        fs_mutex_unlock(&fs->lock);
    }
    if (r == 0 && since && since + JOURNAL_COMMIT_SECONDS <= fs_time_now())
        r = commit(fs, false);
    return r;
}

/* Clean unmount (fs->lock held): everything home, the log empty, needs_recovery
 * cleared in memory (the caller writes the superblock), journaling off. */
int ext2_journal_stop_locked(struct ext2_fs *fs)
{
    struct ext2_journal *j = fs->j;
    if (!j || j->stopped)
        return 0;
    int r = j->error ? j->error : checkpoint_locked(fs);
    j->stopped = true;
    if (r == 0)
        fs->sb->s_feature_incompat &= ~EXT3_FEATURE_INCOMPAT_RECOVER;
    return r;
}

void ext2_journal_get_stats(struct ext2_fs *fs, struct ext2_stats *st)
{
    struct ext2_journal *j = fs->j;
    if (!j)
        return;
    st->journal_commits = __atomic_load_n(&j->commits, __ATOMIC_RELAXED);
    st->journal_blocks = __atomic_load_n(&j->commit_blocks, __ATOMIC_RELAXED);
    st->journal_checkpoints = __atomic_load_n(&j->checkpoints, __ATOMIC_RELAXED);
    st->journal_background_commits = __atomic_load_n(&j->background_commits, __ATOMIC_RELAXED);
    st->journal_inplace_commits = __atomic_load_n(&j->inplace_commits, __ATOMIC_RELAXED);
    st->journal_throttled = __atomic_load_n(&j->throttled, __ATOMIC_RELAXED);
}

/* A writable mount begins journaling: the journal superblock says revoke
 * records may be in the log, no checksums, empty log at transaction tid. */
int journal_start(struct ext2_journal *j, uint32_t tid)
{
    struct ext2_fs *fs = j->fs;
    uint32_t gdt_blocks = div_up(fs->ngroups * 32, fs->block_size);
    j->reserve = 2 * fs->ngroups + gdt_blocks + 64 + div_up(j->maxlen, j->recs_per_revoke);
    if (4 * j->reserve > j->maxlen - j->first) {
        fs_log("ext3: journal of %u blocks too small for %u groups: refusing to write\n", j->maxlen,
               fs->ngroups);
        return -FS_ENOSPC;
    }
    struct bcache_stats cs;
    bcache_get_stats(fs->bc, &cs);
    j->trans_soft = JOURNAL_TRANS_MAX;
    if (j->trans_soft > (j->maxlen - j->first) / 4)
        j->trans_soft = (j->maxlen - j->first) / 4;
    if (j->trans_soft > cs.capacity / 8)        /* what the cache grows to (bcache_grow) */
        j->trans_soft = cs.capacity / 8;
    if (j->trans_soft < 1)
        j->trans_soft = 1;
    uint32_t cap = j->trans_soft + 2 * j->reserve;
    int r = jtrans_init(&j->trans[0], cap);
    if (r == 0)
        r = jtrans_init(&j->trans[1], cap);
    if (r == 0)
        r = jset_init(&j->live, j->maxlen);
    j->busy_bm = fs_alloc(sizeof *j->busy_bm * fs->ngroups);
    j->busy_tid = fs_alloc(sizeof *j->busy_tid * fs->ngroups);
    if (r == 0 && (!j->busy_bm || !j->busy_tid))
        r = -FS_ENOMEM;
    if (r)
        return r;
    memset(j->busy_bm, 0, sizeof *j->busy_bm * fs->ngroups);
    memset(j->busy_tid, 0, sizeof *j->busy_tid * fs->ngroups);
    fs_mutex_init(&j->lock);
    fs_cond_init(&j->cond);
    j->run = &j->trans[0];
    j->run->tid = tid;
    j->committed_tid = tid - 1;
    j->next_head = j->first;
    j->log_empty = true;
    if (be32_get(j->jsb + JBD2_H_BLOCKTYPE) == JBD2_SUPERBLOCK_V2) {
        be32_put(j->jsb + JSB_FEATURE_COMPAT, 0);
        be32_put(j->jsb + JSB_FEATURE_INCOMPAT, JBD2_FEATURE_INCOMPAT_REVOKE);
    }
    r = journal_write_jsb(j, 0, tid);
    return r ? r : bcache_flush(fs->bc);
}
