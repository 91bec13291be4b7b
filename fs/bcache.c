/*
 * bcache.c - block cache: 4 KiB buffers, hash lookup, LRU replacement,
 * write-back, sequential read-ahead.
 *
 * Concurrency model
 * -----------------
 * One sleeping mutex, c->lock, protects the hash table, the LRU list, every
 * buffer's flags and identity (blockno), the read-ahead state and the stats.
 * It is never held across device I/O.  A buffer's contents are protected by
 * the users' own locking (the file system), not by the cache.
 *
 * References: `refs` is only ever INCREMENTED with c->lock held (a lookup
 * finds the buffer in the hash and takes a reference before dropping the
 * lock) but it is DECREMENTED atomically without the lock, so
 * bcache_release() never sleeps and can run from the network transmit-done
 * path.  A buffer with refs > 0 is never evicted; refs reaching 0 only ever
 * makes a buffer newly evictable, so the lock-free decrement cannot race
 * with eviction in a harmful way.  The LRU order is by last acquisition:
 * a lookup moves the buffer to the most-recently-used end.
 *
 * I/O states (flags, under c->lock):
 *   READING  the data is being read; it is not valid.  Exactly one thread
 *            (the one that set READING) does the device read; everybody else
 *            who wants the block holds a reference and sleeps on c->cond.
 *            This gives ONE device read per block however many ask for it.
 *   WRITING  a write-back of the data is in progress.  The data stays
 *            readable and even writable: DIRTY is cleared when the write is
 *            started, so a modification during the write sets DIRTY again
 *            and the block is written once more later.
 *   DIRTY    the buffer holds data not yet written.  Eviction never picks a
 *            dirty buffer; it writes a batch of old dirty buffers first.
 * c->cond is broadcast when READING or WRITING ends or a read-ahead job ends.
 *
 * Epochs (bounded syncs): c->epoch only grows.  A buffer that becomes dirty
 * gets dirty_epoch = c->epoch; a write-back copies it to write_epoch.  A
 * sync (or a write of a set of blocks, for a file's fsync) first takes a
 * stamp S = ++c->epoch, then writes only buffers with dirty_epoch < S and
 * waits only for writes with write_epoch < S.  Whatever is dirtied after
 * the stamp has an epoch >= S, so the sync writes each buffer at most once
 * and ends however fast other threads dirty buffers.
 *
 * Non-blocking lookup (bcache_lookup_nb) uses fs_mutex_trylock and gives up
 * (-EWOULDBLOCK) if the lock is busy or the block is not valid in memory;
 * it never sleeps and never starts I/O itself.
 *
 * Read-ahead: a small table of "streams" remembers the next expected block
 * of recent sequential runs.  When a stream advances and is within half a
 * window of the end of what was prefetched, the next window is queued as a
 * job with fs_run_async, once c->lock is dropped (the port may run the job
 * at once, and the job takes the lock).  A job claims missing blocks under
 * the lock (so a concurrent reader waits for the job's read instead of
 * issuing its own) and reads each contiguous run with a single device call.
 * Read-ahead only takes clean unreferenced buffers: it never writes back or
 * waits.
 */
#include "bcache.h"
#include "fs_errno.h"

enum {
    B_VALID   = 1u << 0,
    B_DIRTY   = 1u << 1,
    B_READING = 1u << 2,
    B_WRITING = 1u << 3,
    B_RA      = 1u << 4,    /* brought in by read-ahead, not used yet */
};

#define NO_BLOCK       UINT64_MAX
#define RA_STREAMS     8
#define RA_JOBS        4
#define RA_WINDOW_MAX  32u      /* blocks (128 KiB) */
#define WRITE_BATCH    32u      /* buffers written per device round */

struct ra_stream {
    uint64_t next;          /* block expected next */
    uint64_t ra_end;        /* read-ahead issued up to here (exclusive) */
    uint32_t age;
};

struct ra_job {
    struct bcache *c;
    uint64_t first;
    uint32_t count;
    bool busy;      /* set under c->lock; cleared by the job under it, or (atomically,
                       without it) by a caller whose fs_run_async failed */
};

struct bcache {
    struct fs_blockdev *dev;
    uint32_t sectors_per_block;
    uint64_t nblocks;
    struct fs_mutex lock;
    struct fs_cond cond;
    uint32_t waiters;               /* threads sleeping on cond */
    uint64_t epoch;                 /* c->lock; see "Epochs" above */
    uint64_t flushed_upto;          /* atomic: blocks_written known flushed */

    struct bcache_buf *bufs;
    uint32_t nbuf;                  /* c->lock: bufs[0..nbuf) have memory */
    uint32_t capacity;              /* bufs[] entries; nbuf grows to it (bcache_grow) */
    struct bcache_buf **hash;
    uint32_t hash_mask;
    struct bcache_buf lru;          /* sentinel; lru.lru_next is the oldest */

    struct ra_stream streams[RA_STREAMS];
    uint32_t stream_clock;
    uint32_t ra_window;
    struct ra_job jobs[RA_JOBS];
    uint32_t jobs_running;          /* c->lock: jobs inside ra_job_run */

    struct bcache_stats st;
};

/* ---- small helpers ------------------------------------------------------ */

static uint32_t hash_of(struct bcache *c, uint64_t blockno)
{
    return (uint32_t)((blockno * 0x9E3779B97F4A7C15ull) >> 32) & c->hash_mask;
}

static struct bcache_buf *hash_find(struct bcache *c, uint64_t blockno)
{
    struct bcache_buf *b = c->hash[hash_of(c, blockno)];
    while (b && b->blockno != blockno)
        b = b->hash_next;
    return b;
}

static void hash_insert(struct bcache *c, struct bcache_buf *b)
{
    uint32_t h = hash_of(c, b->blockno);
    b->hash_next = c->hash[h];
    c->hash[h] = b;
}

static void hash_remove(struct bcache *c, struct bcache_buf *b)
{
    struct bcache_buf **pp = &c->hash[hash_of(c, b->blockno)];
    while (*pp && *pp != b)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = b->hash_next;
    b->hash_next = NULL;
}

static void lru_unlink(struct bcache_buf *b)
{
    b->lru_prev->lru_next = b->lru_next;
    b->lru_next->lru_prev = b->lru_prev;
}

static void lru_push_newest(struct bcache *c, struct bcache_buf *b)
{
    b->lru_prev = c->lru.lru_prev;
    b->lru_next = &c->lru;
    c->lru.lru_prev->lru_next = b;
    c->lru.lru_prev = b;
}

static void lru_push_oldest(struct bcache *c, struct bcache_buf *b)
{
    b->lru_next = c->lru.lru_next;
    b->lru_prev = &c->lru;
    c->lru.lru_next->lru_prev = b;
    c->lru.lru_next = b;
}

static void touch(struct bcache *c, struct bcache_buf *b)
{
    lru_unlink(b);
    lru_push_newest(c, b);
}

static uint32_t refs_load(struct bcache_buf *b)
{
    return __atomic_load_n(&b->refs, __ATOMIC_ACQUIRE);
}

/* st.referenced counts buffers with refs > 0, kept at each 0 <-> 1 transition so
 * bcache_get_stats needs no scan (and no lock). */
static void get_ref(struct bcache_buf *b)     /* c->lock held */
{
    if (__atomic_fetch_add(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        __atomic_fetch_add(&b->cache->st.referenced, 1, __ATOMIC_RELAXED);
}

static void put_ref(struct bcache_buf *b)     /* any context, lock or not */
{
    if (__atomic_fetch_sub(&b->refs, 1, __ATOMIC_ACQ_REL) == 1)
        __atomic_fetch_sub(&b->cache->st.referenced, 1, __ATOMIC_RELAXED);
}

static void wait_locked(struct bcache *c)
{
    c->waiters++;
    fs_cond_wait(&c->cond, &c->lock);
    c->waiters--;
}

static void wake_all(struct bcache *c)
{
    if (c->waiters)
        fs_cond_broadcast(&c->cond);
}

static void set_dirty(struct bcache *c, struct bcache_buf *b)
{
    if (!(b->flags & B_DIRTY)) {
        b->flags |= B_DIRTY;
        b->dirty_epoch = c->epoch;
        c->st.dirty++;
    }
}

/* A write of b failed: it is dirty again with the epoch of the data that did
 * not reach the device (older than any modification made meanwhile). */
static void redirty_failed(struct bcache *c, struct bcache_buf *b)
{
    if (!(b->flags & B_DIRTY)) {
        b->flags |= B_DIRTY;
        c->st.dirty++;
        b->dirty_epoch = b->write_epoch;
    } else if (b->write_epoch < b->dirty_epoch) {
        b->dirty_epoch = b->write_epoch;
    }
}

/* ---- device I/O (no lock held) ------------------------------------------ */

/* Sectors of cache block `blockno` that exist on the device (the last cache
 * block may be partial). */
static uint32_t sectors_in_block(struct bcache *c, uint64_t blockno)
{
    uint64_t lba = blockno * c->sectors_per_block;
    uint64_t left = c->dev->sectors - lba;
    return left < c->sectors_per_block ? (uint32_t)left : c->sectors_per_block;
}

/* Reads/writes n consecutive cache blocks starting at first, to/from buf. */
static int dev_io(struct bcache *c, uint64_t first, uint32_t n, void *buf, bool write)
{
    struct fs_blockdev *dev = c->dev;
    uint64_t lba = first * c->sectors_per_block;
    uint32_t count = (n - 1) * c->sectors_per_block + sectors_in_block(c, first + n - 1);
    int r;

    __atomic_fetch_add(&c->st.io_in_flight, 1, __ATOMIC_RELAXED);
    if (write) {
        __atomic_fetch_add(&c->st.dev_writes, 1, __ATOMIC_RELAXED);
        r = dev->write(dev, lba, count, buf);
    } else {
        __atomic_fetch_add(&c->st.dev_reads, 1, __ATOMIC_RELAXED);
        r = dev->read(dev, lba, count, buf);
    }
    __atomic_fetch_sub(&c->st.io_in_flight, 1, __ATOMIC_RELAXED);
    if (r > 0)
        r = -FS_EIO;
    if (r < 0)
        __atomic_fetch_add(&c->st.io_errors, 1, __ATOMIC_RELAXED);
    else if (!write && count < n * c->sectors_per_block) {
        uint64_t got = (uint64_t)count * dev->sector_size;
        memset((uint8_t *)buf + got, 0, (uint64_t)n * BCACHE_BLOCK_SIZE - got);
    }
    return r;
}

/* Reads into (write=false) or writes from the buffers b[0..n) which hold
 * consecutive blocks, with one device call if a bounce buffer is available. */
static int run_io(struct bcache *c, struct bcache_buf **b, uint32_t n, bool write)
{
    uint8_t *bounce = n > 1 ? fs_alloc((size_t)n * BCACHE_BLOCK_SIZE) : NULL;
    int r = 0;

    if (!bounce) {
        for (uint32_t i = 0; i < n; i++) {
            int e = dev_io(c, b[i]->blockno, 1, b[i]->data, write);
            if (e && !r)
                r = e;
        }
        return r;
    }
    if (write)
        for (uint32_t i = 0; i < n; i++)
            memcpy(bounce + (size_t)i * BCACHE_BLOCK_SIZE, b[i]->data, BCACHE_BLOCK_SIZE);
    r = dev_io(c, b[0]->blockno, n, bounce, write);
    if (!write && r == 0)
        for (uint32_t i = 0; i < n; i++)
            memcpy(b[i]->data, bounce + (size_t)i * BCACHE_BLOCK_SIZE, BCACHE_BLOCK_SIZE);
    fs_free(bounce);
    return r;
}

/* ---- write-back ---------------------------------------------------------- */

static void sort_by_block(struct bcache_buf **v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        struct bcache_buf *x = v[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1]->blockno > x->blockno; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Writes the dirty buffers v[0..n).  Called and returns with c->lock held;
 * drops it during the I/O.  Contiguous blocks go out in one device call.
 * A buffer whose write failed is dirty again afterwards. */
static int write_batch(struct bcache *c, struct bcache_buf **v, uint32_t n)
{
    int err = 0;
    bool failed[WRITE_BATCH];

    for (uint32_t i = 0; i < n; i++) {
        struct bcache_buf *b = v[i];
        get_ref(b);
        b->flags = (b->flags | B_WRITING) & ~B_DIRTY;
        b->write_epoch = b->dirty_epoch;
        c->st.dirty--;
    }
    sort_by_block(v, n);
    fs_mutex_unlock(&c->lock);

    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1;
        while (j < n && v[j]->blockno == v[j - 1]->blockno + 1)
            j++;
        int r = run_io(c, v + i, j - i, true);
        for (uint32_t k = i; k < j; k++)
            failed[k] = r != 0;
        if (r && !err)
            err = r;
        i = j;
    }

    fs_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < n; i++) {
        struct bcache_buf *b = v[i];
        b->flags &= ~B_WRITING;
        if (failed[i])
            redirty_failed(c, b);
        else
            __atomic_fetch_add(&c->st.blocks_written, 1, __ATOMIC_RELEASE);
        put_ref(b);
    }
    wake_all(c);
    return err ? err : (int)n;
}

/* Writes a batch of the oldest dirty unreferenced buffers so eviction can
 * proceed.  Returns how many were written (0: none eligible) or an error. */
static int writeback_for_eviction(struct bcache *c)
{
    struct bcache_buf *v[WRITE_BATCH];
    uint32_t n = 0;

    for (struct bcache_buf *b = c->lru.lru_next; b != &c->lru && n < WRITE_BATCH; b = b->lru_next)
        if ((b->flags & (B_DIRTY | B_WRITING)) == B_DIRTY && refs_load(b) == 0 && !b->jpins)
            v[n++] = b;
    if (n == 0)
        return 0;
    return write_batch(c, v, n);
}

/* ---- replacement ---------------------------------------------------------- */

static struct bcache_buf *find_clean_victim(struct bcache *c)
{
    for (struct bcache_buf *b = c->lru.lru_next; b != &c->lru; b = b->lru_next)
        if (!(b->flags & (B_DIRTY | B_READING | B_WRITING)) && refs_load(b) == 0)
            return b;
    return NULL;
}

/* Gives the (clean, unreferenced) buffer b the identity `blockno`, with
 * one reference and the given flags. */
static void claim(struct bcache *c, struct bcache_buf *b, uint64_t blockno, uint32_t flags)
{
    if (b->blockno != NO_BLOCK) {
        hash_remove(c, b);
        if (b->flags & B_VALID)
            c->st.evictions++;
    }
    b->blockno = blockno;
    b->flags = flags;
    b->refs = 0;                    /* evictable buffers have none */
    get_ref(b);
    hash_insert(c, b);
    touch(c, b);
}

/* ---- read-ahead ------------------------------------------------------------ */

static void ra_job_run(void *arg);

/* Reserves a job to read [first, first+count) in the background; NULL if
 * there is nothing to read or every job is busy.  c->lock held; the caller
 * starts the job with start_readahead once it has dropped the lock. */
static struct ra_job *reserve_readahead(struct bcache *c, uint64_t first, uint32_t count)
{
    if (first >= c->nblocks)
        return NULL;
    if (count > c->nblocks - first)
        count = (uint32_t)(c->nblocks - first);
    while (count && hash_find(c, first)) {
        first++;
        count--;
    }
    if (!count)
        return NULL;
    for (int i = 0; i < RA_JOBS; i++) {
        struct ra_job *j = &c->jobs[i];
        if (__atomic_load_n(&j->busy, __ATOMIC_ACQUIRE))
            continue;
        j->busy = true;
        j->c = c;
        j->first = first;
        j->count = count;
        return j;
    }
    return NULL;
}

/* Starts a job note_access reserved; c->lock NOT held, since fs_run_async
 * may run the job before it returns and the job takes the lock.  Never
 * sleeps (the non-blocking lookup calls it): a job that cannot be started is
 * given back without the lock.  Nobody waits for a job that never ran
 * (bcache_destroy comes after every caller has returned). */
static void start_readahead(struct ra_job *j)
{
    if (j && fs_run_async(ra_job_run, j) != 0)
        __atomic_store_n(&j->busy, false, __ATOMIC_RELEASE);
}

/* True while a read-ahead job is reserved or running.  c->lock held. */
static bool jobs_busy(struct bcache *c)
{
    for (int i = 0; i < RA_JOBS; i++)
        if (__atomic_load_n(&c->jobs[i].busy, __ATOMIC_ACQUIRE))
            return true;
    return false;
}

/* Records an access to blockno for sequential detection; returns the
 * read-ahead job to start (start_readahead) or NULL.  c->lock held. */
static struct ra_job *note_access(struct bcache *c, uint64_t blockno)
{
    struct ra_stream *s = NULL, *oldest = &c->streams[0];
    struct ra_job *job = NULL;

    if (c->ra_window == 0)
        return NULL;
    for (int i = 0; i < RA_STREAMS; i++) {
        struct ra_stream *t = &c->streams[i];
        if (t->next == blockno || t->next == blockno + 1) {
            s = t;
            break;
        }
        if (t->age < oldest->age)
            oldest = t;
    }
    if (!s) {
        s = oldest;
        s->next = blockno + 1;
        s->ra_end = blockno + 1;
        s->age = ++c->stream_clock;
        return NULL;
    }
    s->age = ++c->stream_clock;
    if (s->next != blockno)
        return NULL;                    /* same block again */
    s->next = blockno + 1;
    if (s->ra_end < s->next)
        s->ra_end = s->next;
    if (s->ra_end < s->next + c->ra_window / 2) {
        uint64_t end = s->next + c->ra_window;
        job = reserve_readahead(c, s->ra_end, (uint32_t)(end - s->ra_end));
        s->ra_end = end;
    }
    return job;
}

static void ra_job_run(void *arg)
{
    struct ra_job *job = arg;
    struct bcache *c = job->c;
    uint64_t blk = job->first, end = job->first + job->count;
    struct bcache_buf *v[RA_WINDOW_MAX];

    fs_mutex_lock(&c->lock);
    c->jobs_running++;
    while (blk < end) {
        uint32_t n = 0;
        while (blk < end && n < RA_WINDOW_MAX) {
            if (hash_find(c, blk)) {
                if (n)
                    break;
                blk++;
                continue;
            }
            struct bcache_buf *b = find_clean_victim(c);
            if (!b) {
                end = blk;      /* cache full of busy data: stop */
                break;
            }
            claim(c, b, blk, B_READING | B_RA);
            v[n++] = b;
            blk++;
        }
        if (!n)
            continue;
        fs_mutex_unlock(&c->lock);
        int r = run_io(c, v, n, false);
        fs_mutex_lock(&c->lock);
        for (uint32_t i = 0; i < n; i++) {
            v[i]->flags = r == 0 ? (B_VALID | B_RA) : 0;
            put_ref(v[i]);
        }
        c->st.ra_blocks += n;
        wake_all(c);
    }
    __atomic_store_n(&job->busy, false, __ATOMIC_RELEASE);
    c->jobs_running--;
    wake_all(c);
    fs_mutex_unlock(&c->lock);
}

/* ---- lookup ---------------------------------------------------------------- */

static void count_hit(struct bcache *c, struct bcache_buf *b)
{
    c->st.hits++;
    if (b->flags & B_RA) {
        b->flags &= ~B_RA;
        c->st.ra_hits++;
    }
}

int bcache_lookup_nb(struct bcache *c, uint64_t blockno, struct bcache_buf **out)
{
    if (!fs_mutex_trylock(&c->lock))
        return -FS_EWOULDBLOCK;
    struct bcache_buf *b = hash_find(c, blockno);
    if (b && (b->flags & B_VALID)) {
        get_ref(b);
        touch(c, b);
        count_hit(c, b);
        struct ra_job *ra = note_access(c, blockno);
        fs_mutex_unlock(&c->lock);
        start_readahead(ra);
        *out = b;
        return 0;
    }
    c->st.nb_misses++;
    fs_mutex_unlock(&c->lock);
    return -FS_EWOULDBLOCK;
}

/* Common body of bcache_read and bcache_get_noread. */
static int get_block(struct bcache *c, uint64_t blockno, bool noread, struct bcache_buf **out)
{
    struct bcache_buf *b;
    int r;

    if (blockno >= c->nblocks)
        return -FS_EINVAL;
    fs_mutex_lock(&c->lock);
    for (;;) {
        b = hash_find(c, blockno);
        if (b) {
            bool waited = false;
            get_ref(b);
            touch(c, b);
            while (b->flags & B_READING) {
                waited = true;
                wait_locked(c);
            }
            if (b->flags & B_VALID) {
                count_hit(c, b);
                struct ra_job *ra = note_access(c, blockno);
                fs_mutex_unlock(&c->lock);
                start_readahead(ra);
                *out = b;
                return 0;
            }
            if (waited && !noread) {
                /* the one read we waited for failed: report it */
                fs_mutex_unlock(&c->lock);
                bcache_release(b);
                return -FS_EIO;
            }
            /* a stale entry left by a failed read: redo it ourselves */
            b->flags = noread ? b->flags : (b->flags | B_READING);
            break;
        }
        b = find_clean_victim(c);
        if (b) {
            claim(c, b, blockno, noread ? 0 : B_READING);
            break;
        }
        r = writeback_for_eviction(c);
        if (r < 0) {
            fs_mutex_unlock(&c->lock);
            return r;
        }
        if (r == 0) {
            bool io_busy = c->jobs_running != 0;
            for (uint32_t i = 0; i < c->nbuf && !io_busy; i++)
                io_busy = (c->bufs[i].flags & (B_READING | B_WRITING)) != 0;
            if (!io_busy) {
                fs_mutex_unlock(&c->lock);
                return -FS_ENOBUFS;
            }
            wait_locked(c);
        }
        /* the lock was dropped: somebody may have brought the block in */
    }

    if (noread) {
        memset(b->data, 0, BCACHE_BLOCK_SIZE);
        b->flags |= B_VALID;
        fs_mutex_unlock(&c->lock);
        *out = b;
        return 0;
    }
    c->st.misses++;
    struct ra_job *ra = note_access(c, blockno);
    fs_mutex_unlock(&c->lock);
    start_readahead(ra);

    r = run_io(c, &b, 1, false);

    fs_mutex_lock(&c->lock);
    b->flags &= ~B_READING;
    if (r == 0)
        b->flags |= B_VALID;
    wake_all(c);
    fs_mutex_unlock(&c->lock);
    if (r) {
        bcache_release(b);
        return r;
    }
    *out = b;
    return 0;
}

int bcache_read(struct bcache *c, uint64_t blockno, struct bcache_buf **out)
{
    return get_block(c, blockno, false, out);
}

int bcache_get_noread(struct bcache *c, uint64_t blockno, struct bcache_buf **out)
{
    return get_block(c, blockno, true, out);
}

void bcache_release(struct bcache_buf *b)
{
    if (b)
        put_ref(b);
}

void bcache_mark_dirty(struct bcache_buf *b)
{
    struct bcache *c = b->cache;
    fs_mutex_lock(&c->lock);
    set_dirty(c, b);
    fs_mutex_unlock(&c->lock);
}

/* ---- flushing ---------------------------------------------------------------- */

int bcache_flush_some(struct bcache *c, uint32_t max)
{
    struct bcache_buf *v[WRITE_BATCH];
    uint32_t done = 0;
    int err = 0;

    fs_mutex_lock(&c->lock);
    while (done < max) {
        uint32_t n = 0;
        for (struct bcache_buf *b = c->lru.lru_next;
             b != &c->lru && n < WRITE_BATCH && done + n < max; b = b->lru_next)
            if ((b->flags & (B_DIRTY | B_WRITING)) == B_DIRTY && !b->jpins)
                v[n++] = b;
        if (!n)
            break;
        int r = write_batch(c, v, n);
        if (r < 0) {
            err = r;
            break;
        }
        done += n;
    }
    fs_mutex_unlock(&c->lock);
    return err ? err : (int)done;
}

/* b holds data from before stamp S that is not on the device and no write of
 * it is running: the sync writes it. */
static bool needs_write(struct bcache_buf *b, uint64_t stamp)
{
    return (b->flags & (B_DIRTY | B_WRITING)) == B_DIRTY && b->dirty_epoch < stamp && !b->jpins;
}

/* A write of b is running and b holds data from before S (in that write, or
 * dirty behind it): the sync waits for it and looks again. */
static bool must_wait(struct bcache_buf *b, uint64_t stamp)
{
    if (!(b->flags & B_WRITING))
        return false;
    return b->write_epoch < stamp || ((b->flags & B_DIRTY) && b->dirty_epoch < stamp);
}

static bool in_batch(struct bcache_buf **v, uint32_t n, struct bcache_buf *b)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == b)
            return true;
    return false;
}

/* Writes every buffer holding data from before stamp: all buffers
 * (blocks == NULL) or those of blocks[0..n).  c->lock held (dropped during
 * I/O).  A cursor walks the buffers once; only the buffers that had to be
 * waited for make it walk again, and those are finitely many (their epochs
 * are older than the stamp).  Adds the blocks written to *written.
 * It sleeps only on a write it saw running since it last held the lock
 * throughout: a write seen before one of its own batches (which drops the
 * lock) may have ended meanwhile, its wake-up gone to nobody, so that one is
 * looked at again instead of waited for (a sync once slept forever so). */
static int write_stamped(struct bcache *c, uint64_t stamp, const uint64_t *blocks, uint32_t n,
                         uint32_t *written)
{
    struct bcache_buf *v[WRITE_BATCH];
    uint32_t total = blocks ? n : c->nbuf;
    uint32_t i = 0;
    bool wait = false;          /* a write of old data runs, seen since the lock was last dropped */
    bool again = false;         /* one was seen before a drop: walk again */

    for (;;) {
        uint32_t k = 0;
        for (; i < total && k < WRITE_BATCH; i++) {
            struct bcache_buf *b = blocks ? hash_find(c, blocks[i]) : &c->bufs[i];
            if (!b)
                continue;
            if (needs_write(b, stamp) && !in_batch(v, k, b))
                v[k++] = b;
            else if (must_wait(b, stamp))
                wait = true;
        }
        if (k) {
            int r = write_batch(c, v, k);
            if (r < 0)
                return r;
            *written += k;
            again |= wait;
            wait = false;
            continue;
        }
        if (wait)
            wait_locked(c);     /* somebody else's write of old data must finish */
        else if (!again)
            return 0;
        i = 0;
        wait = false;
        again = false;
    }
}

/* flushed_upto only moves after a flush returned, to the count of writes that
 * had completed before that flush was issued: a flush still running covers
 * nothing yet. */
int bcache_flush(struct bcache *c)
{
    if (!c->dev->flush)
        return 0;
    uint64_t done = __atomic_load_n(&c->st.blocks_written, __ATOMIC_ACQUIRE);
    __atomic_fetch_add(&c->st.dev_flushes, 1, __ATOMIC_RELAXED);
    int r = c->dev->flush(c->dev);
    if (r)
        return r > 0 ? -FS_EIO : r;
    uint64_t old = __atomic_load_n(&c->flushed_upto, __ATOMIC_RELAXED);
    while (old < done &&
           !__atomic_compare_exchange_n(&c->flushed_upto, &old, done, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
        ;
    return 0;
}

bool bcache_unflushed(struct bcache *c)
{
    if (!c->dev->flush)
        return false;
    return __atomic_load_n(&c->st.blocks_written, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&c->flushed_upto, __ATOMIC_ACQUIRE);
}

int bcache_sync_counted(struct bcache *c, uint32_t *written)
{
    uint32_t n = 0;

    fs_mutex_lock(&c->lock);
    uint64_t stamp = ++c->epoch;
    c->st.syncs++;
    c->st.sync_last_dirty = c->st.dirty;    /* what this sync may write, at most */
    int err = write_stamped(c, stamp, NULL, 0, &n);
    c->st.sync_blocks += n;
    fs_mutex_unlock(&c->lock);
    if (written)
        *written = n;
    if (err)
        return err;
    return bcache_flush(c);
}

int bcache_sync(struct bcache *c)
{
    return bcache_sync_counted(c, NULL);
}

int bcache_write_set(struct bcache *c, const uint64_t *blocks, uint32_t n, uint32_t *written)
{
    uint32_t w = 0;

    fs_mutex_lock(&c->lock);
    uint64_t stamp = ++c->epoch;
    int err = write_stamped(c, stamp, blocks, n, &w);
    c->st.set_blocks += w;
    fs_mutex_unlock(&c->lock);
    if (written)
        *written = w;
    return err;
}

uint32_t bcache_count_dirty(struct bcache *c, const uint64_t *blocks, uint32_t n)
{
    uint32_t k = 0;

    fs_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < n; i++) {
        struct bcache_buf *b = hash_find(c, blocks[i]);
        if (b && (b->flags & (B_DIRTY | B_WRITING)))
            k++;
    }
    fs_mutex_unlock(&c->lock);
    return k;
}

/* ---- journal support --------------------------------------------------------- */

void bcache_pin(struct bcache_buf *b)
{
    struct bcache *c = b->cache;
    fs_mutex_lock(&c->lock);
    get_ref(b);
    b->jpins++;
    fs_mutex_unlock(&c->lock);
}

void bcache_unpin(struct bcache_buf *b)
{
    struct bcache *c = b->cache;
    fs_mutex_lock(&c->lock);
    b->jpins--;
    put_ref(b);
    wake_all(c);
    fs_mutex_unlock(&c->lock);
}

bool bcache_is_pinned(struct bcache *c, uint64_t blockno)
{
    fs_mutex_lock(&c->lock);
    struct bcache_buf *b = hash_find(c, blockno);
    bool pinned = b && b->jpins;
    fs_mutex_unlock(&c->lock);
    return pinned;
}

/* Takes buffer b for a journal write: waits until no read or write of it
 * runs, then marks it being written.  c->lock held.  False if b holds no data. */
static bool take_for_write(struct bcache *c, struct bcache_buf *b)
{
    get_ref(b);
    while (b->flags & (B_READING | B_WRITING))
        wait_locked(c);
    if (!(b->flags & B_VALID)) {
        put_ref(b);
        return false;
    }
    b->flags |= B_WRITING;
    return true;
}

static void give_back(struct bcache *c, struct bcache_buf **held, uint32_t n, int r)
{
    for (uint32_t i = 0; i < n; i++) {
        held[i]->flags &= ~B_WRITING;
        put_ref(held[i]);
    }
    if (r == 0)
        __atomic_fetch_add(&c->st.blocks_written, 1, __ATOMIC_RELEASE);
    wake_all(c);
}

int bcache_write_through(struct bcache *c, uint64_t off, uint32_t len, const void *src)
{
    struct fs_blockdev *dev = c->dev;
    struct bcache_buf *held[BCACHE_WT_MAX];
    uint32_t n = 0;
    if (len == 0 || off % dev->sector_size || len % dev->sector_size)
        return -FS_EINVAL;
    uint64_t first = off / BCACHE_BLOCK_SIZE, last = (off + len - 1) / BCACHE_BLOCK_SIZE;
    if (last - first + 1 > BCACHE_WT_MAX || last >= c->nblocks)
        return -FS_EINVAL;
    fs_mutex_lock(&c->lock);
    for (uint64_t blk = first; blk <= last; blk++) {
        struct bcache_buf *b = hash_find(c, blk);
        if (!b || !take_for_write(c, b))
            continue;
        uint64_t lo = blk * BCACHE_BLOCK_SIZE > off ? blk * BCACHE_BLOCK_SIZE : off;
        uint64_t hi = (blk + 1) * BCACHE_BLOCK_SIZE < off + len ? (blk + 1) * BCACHE_BLOCK_SIZE : off + len;
        memcpy(b->data + lo % BCACHE_BLOCK_SIZE, (const uint8_t *)src + (lo - off), hi - lo);
        held[n++] = b;
    }
    fs_mutex_unlock(&c->lock);
    __atomic_fetch_add(&c->st.dev_writes, 1, __ATOMIC_RELAXED);
    int r = dev->write(dev, off / dev->sector_size, len / dev->sector_size, src);
    if (r > 0)
        r = -FS_EIO;
    if (r)
        __atomic_fetch_add(&c->st.io_errors, 1, __ATOMIC_RELAXED);
    fs_mutex_lock(&c->lock);
    give_back(c, held, n, r);
    fs_mutex_unlock(&c->lock);
    return r;
}

int bcache_write_part(struct bcache *c, uint64_t blockno, uint32_t off, uint32_t len)
{
    struct fs_blockdev *dev = c->dev;
    if (len == 0 || off % dev->sector_size || len % dev->sector_size || off + len > BCACHE_BLOCK_SIZE)
        return -FS_EINVAL;
    fs_mutex_lock(&c->lock);
    struct bcache_buf *b = hash_find(c, blockno);
    if (!b || !take_for_write(c, b)) {
        fs_mutex_unlock(&c->lock);
        return 0;
    }
    fs_mutex_unlock(&c->lock);
    __atomic_fetch_add(&c->st.dev_writes, 1, __ATOMIC_RELAXED);
    uint64_t lba = (blockno * BCACHE_BLOCK_SIZE + off) / dev->sector_size;
    int r = dev->write(dev, lba, len / dev->sector_size, b->data + off);
    if (r > 0)
        r = -FS_EIO;
    if (r)
        __atomic_fetch_add(&c->st.io_errors, 1, __ATOMIC_RELAXED);
    fs_mutex_lock(&c->lock);
    give_back(c, &b, 1, r);
    fs_mutex_unlock(&c->lock);
    return r;
}

/* ---- setup and stats -------------------------------------------------------- */

struct bcache *bcache_init(struct fs_blockdev *dev, uint32_t nbuffers)
{
    return bcache_init_partial(dev, nbuffers, nbuffers);
}

struct bcache *bcache_init_partial(struct fs_blockdev *dev, uint32_t nbuffers, uint32_t first)
{
    if (!dev || dev->sector_size == 0 || BCACHE_BLOCK_SIZE % dev->sector_size ||
        nbuffers < 4 || first < 4 || first > nbuffers || !dev->read || !dev->write)
        return NULL;
    struct bcache *c = fs_alloc(sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->dev = dev;
    c->sectors_per_block = BCACHE_BLOCK_SIZE / dev->sector_size;
    c->nblocks = (dev->sectors + c->sectors_per_block - 1) / c->sectors_per_block;
    c->epoch = 1;
    fs_mutex_init(&c->lock);
    fs_cond_init(&c->cond);

    uint32_t hsize = 1;
    while (hsize < nbuffers)
        hsize <<= 1;
    c->hash_mask = hsize - 1;
    c->hash = fs_alloc(sizeof(*c->hash) * hsize);
    c->bufs = fs_alloc(sizeof(*c->bufs) * nbuffers);
    if (!c->hash || !c->bufs)
        goto fail;
    memset(c->hash, 0, sizeof(*c->hash) * hsize);
    memset(c->bufs, 0, sizeof(*c->bufs) * nbuffers);
    c->lru.lru_next = c->lru.lru_prev = &c->lru;
    c->capacity = nbuffers;
    c->st.capacity = nbuffers;
    for (uint32_t i = 0; i < first; i++) {
        struct bcache_buf *b = &c->bufs[i];
        b->data = fs_alloc(BCACHE_BLOCK_SIZE);
        if (!b->data)
            goto fail;
        c->nbuf++;
        b->cache = c;
        b->blockno = NO_BLOCK;
        lru_push_newest(c, b);
    }
    c->st.nbuffers = first;
    c->ra_window = nbuffers / 8 < RA_WINDOW_MAX ? nbuffers / 8 : RA_WINDOW_MAX;
    for (int i = 0; i < RA_STREAMS; i++)
        c->streams[i].next = NO_BLOCK;
    return c;
fail:
    bcache_destroy(c);
    return NULL;
}

int bcache_grow(struct bcache *c, uint32_t n)
{
    enum { STEP = 64 };
    void *mem[STEP];
    int added = 0;
    while (n) {
        fs_mutex_lock(&c->lock);
        uint32_t room = c->capacity - c->nbuf;
        fs_mutex_unlock(&c->lock);
        uint32_t k = n < STEP ? n : STEP;
        if (k > room)
            k = room;
        if (!k)
            break;
        uint32_t got = 0;
        for (; got < k; got++)                  /* memory first, without the lock */
            if (!(mem[got] = fs_alloc(BCACHE_BLOCK_SIZE)))
                break;
        fs_mutex_lock(&c->lock);
        uint32_t used = 0;
        for (; used < got && c->nbuf < c->capacity; used++) {   /* room again: another grow may run */
            struct bcache_buf *b = &c->bufs[c->nbuf];
            b->data = mem[used];
            b->cache = c;
            b->blockno = NO_BLOCK;
            c->nbuf++;
            lru_push_oldest(c, b);              /* free buffers: the first to be taken */
        }
        __atomic_store_n(&c->st.nbuffers, c->nbuf, __ATOMIC_RELAXED);
        wake_all(c);                            /* someone may wait for a buffer */
        fs_mutex_unlock(&c->lock);
        for (uint32_t i = used; i < got; i++)
            fs_free(mem[i]);
        added += (int)used;
        if (used < got)
            break;
        n -= got;
        if (got < k)
            return added ? added : -FS_ENOMEM;
    }
    return added;
}

void bcache_destroy(struct bcache *c)
{
    if (!c)
        return;
    fs_mutex_lock(&c->lock);
    while (jobs_busy(c))
        wait_locked(c);
    fs_mutex_unlock(&c->lock);
    for (uint32_t i = 0; c->bufs && i < c->nbuf; i++) {
        if (c->bufs[i].refs)
            fs_log("bcache: destroy with block %llu still referenced\n",
                   (unsigned long long)c->bufs[i].blockno);
        fs_free(c->bufs[i].data);
    }
    fs_free(c->bufs);
    fs_free(c->hash);
    fs_free(c);
}

uint64_t bcache_nblocks(struct bcache *c)
{
    return c->nblocks;
}


/* Running counters only: no lock, no scan, so it may be called anywhere (the kernel's
 * STATS runs in the network receive path).  Each field is exact; they are read one by
 * one, not as one snapshot. */
#define LOAD_ST(f) (st->f = __atomic_load_n(&c->st.f, __ATOMIC_RELAXED))
void bcache_get_stats(struct bcache *c, struct bcache_stats *st)
{
    LOAD_ST(hits);
    LOAD_ST(misses);
    LOAD_ST(nb_misses);
    LOAD_ST(ra_hits);
    LOAD_ST(ra_blocks);
    LOAD_ST(evictions);
    LOAD_ST(dev_reads);
    LOAD_ST(dev_writes);
    LOAD_ST(blocks_written);
    LOAD_ST(io_errors);
    LOAD_ST(dev_flushes);
    LOAD_ST(syncs);
    LOAD_ST(sync_blocks);
    LOAD_ST(sync_last_dirty);
    LOAD_ST(set_blocks);
    LOAD_ST(nbuffers);
    LOAD_ST(capacity);
    LOAD_ST(dirty);
    LOAD_ST(io_in_flight);
    LOAD_ST(referenced);
}
#undef LOAD_ST
