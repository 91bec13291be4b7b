/* bcache.h - block cache of 4 KiB buffers over a struct fs_blockdev.
 *
 * The cache unit is 4 KiB of device space at a 4 KiB-aligned offset
 * ("cache block" n covers bytes [n*4096, n*4096+4096)).  File systems with
 * 1 or 2 KiB blocks read sub-ranges of a buffer: an fs block never straddles
 * two cache blocks, one buffer size keeps the allocator and read-ahead
 * simple, and 4 KiB is the unit the network path transmits from.
 * See bcache.c for the concurrency model. */
#ifndef FS_BCACHE_H
#define FS_BCACHE_H

#include "fs_port.h"
#include "blockdev.h"

#define BCACHE_BLOCK_SIZE 4096u

struct bcache;

/* A cached block.  Only `blockno` and `data` are for users; while you hold a
 * reference the buffer keeps its identity and `data` stays valid. */
struct bcache_buf {
    uint64_t blockno;
    uint8_t *data;                      /* BCACHE_BLOCK_SIZE bytes */
    /* private to bcache.c */
    struct bcache *cache;
    struct bcache_buf *hash_next;
    struct bcache_buf *lru_prev, *lru_next;
    uint32_t refs;
    uint32_t flags;
    uint64_t dirty_epoch;               /* c->epoch when it last became dirty */
    uint64_t write_epoch;               /* dirty_epoch of the data being written */
    uint32_t jpins;                     /* c->lock: journal pins (never written while > 0) */
};

struct bcache_stats {
    uint64_t hits;          /* lookups served from memory (both paths) */
    uint64_t misses;        /* blocking lookups that had to read the device */
    uint64_t nb_misses;     /* non-blocking lookups that returned -EWOULDBLOCK */
    uint64_t ra_hits;       /* first use of a block brought in by read-ahead */
    uint64_t ra_blocks;     /* blocks read by read-ahead */
    uint64_t evictions;     /* valid buffers reused for another block */
    uint64_t dev_reads;     /* device read calls */
    uint64_t dev_writes;    /* device write calls */
    uint64_t blocks_written;
    uint64_t io_errors;
    uint64_t dev_flushes;   /* device flush calls (bcache_sync, bcache_flush) */
    uint64_t syncs;         /* bcache_sync calls */
    uint64_t sync_blocks;   /* blocks written by bcache_sync */
    uint64_t sync_last_dirty; /* buffers dirty when the last bcache_sync took its stamp */
    uint64_t set_blocks;    /* blocks written by bcache_write_set (file fsyncs) */
    uint32_t nbuffers;          /* buffers with memory now */
    uint32_t capacity;          /* buffers it grows to (bcache_grow) */
    uint32_t dirty;         /* buffers holding unwritten data now */
    uint32_t io_in_flight;  /* device calls running now */
    uint32_t referenced;    /* buffers with refs > 0 now (a running count) */
};

/* Creates a cache of nbuffers 4 KiB buffers.  NULL if out of memory. */
struct bcache *bcache_init(struct fs_blockdev *dev, uint32_t nbuffers);
/* ... with memory for the first `first` of them only (at least 4): the rest come with
 * bcache_grow, so that a large cache need not hold up the boot. */
struct bcache *bcache_init_partial(struct fs_blockdev *dev, uint32_t capacity, uint32_t first);
/* Gives up to n more buffers their memory, up to the capacity: how many it added (0 when
 * full), or -ENOMEM when memory ran out first (the cache keeps what it has). */
int bcache_grow(struct bcache *c, uint32_t n);
/* Frees the cache.  Waits for read-ahead in progress.  Dirty data is lost:
 * call bcache_sync first.  No buffer may still be referenced. */
void bcache_destroy(struct bcache *c);

/* Number of cache blocks on the device (last one may be partial; its tail
 * past the device end reads as zeros and is never written). */
uint64_t bcache_nblocks(struct bcache *c);

/* Non-blocking lookup: never sleeps, never starts I/O (it may queue
 * read-ahead with fs_run_async).  Hit: *out = referenced buffer with valid
 * data, returns 0.  Otherwise -EWOULDBLOCK. */
int bcache_lookup_nb(struct bcache *c, uint64_t blockno, struct bcache_buf **out);

/* Blocking read: returns a referenced buffer with valid data.  However many
 * threads ask for a missing block at once, the device is read once.
 * Errors: -EIO (device), -ENOBUFS (every buffer referenced), -EINVAL. */
int bcache_read(struct bcache *c, uint64_t blockno, struct bcache_buf **out);

/* Like bcache_read but for a block the caller will overwrite completely:
 * if not cached, the buffer is zero-filled instead of read. */
int bcache_get_noread(struct bcache *c, uint64_t blockno, struct bcache_buf **out);

void bcache_release(struct bcache_buf *b);      /* drop a reference */
void bcache_mark_dirty(struct bcache_buf *b);   /* caller holds a reference */

/* Writes up to max dirty buffers, oldest first (the periodic flusher).
 * Returns the number written or a negative errno. */
int bcache_flush_some(struct bcache *c, uint32_t max);

/* Returns after every buffer dirty at call time is written and dev->flush
 * succeeded.  Buffers dirtied after the call started are not waited for (an
 * epoch stamp tells them apart), so a sync ends however fast others write:
 * it writes at most the buffers dirty at its start.  *written (may be NULL)
 * gets the number of blocks this call wrote. */
int bcache_sync(struct bcache *c);
int bcache_sync_counted(struct bcache *c, uint32_t *written);

/* Makes the contents the blocks blocks[0..n) had at call time reach the
 * device: writes those that are dirty, waits for writes of them already
 * running.  No device flush (see bcache_flush).  Duplicates are allowed;
 * blocks not in the cache are skipped.  Like bcache_sync it never waits for
 * data dirtied after it started.  *written (may be NULL) counts the blocks
 * this call wrote. */
int bcache_write_set(struct bcache *c, const uint64_t *blocks, uint32_t n, uint32_t *written);
/* How many of blocks[0..n) are dirty or being written now. */
uint32_t bcache_count_dirty(struct bcache *c, const uint64_t *blocks, uint32_t n);
/* dev->flush: what was written so far is durable on return. */
int bcache_flush(struct bcache *c);
/* True if some write completed that no finished flush covers yet (false
 * for a device without flush). */
bool bcache_unflushed(struct bcache *c);

/* Journal support (fs/ext2_journal*.c).  A pinned buffer holds metadata of a
 * transaction not yet committed: no path writes it back (flusher, eviction,
 * sync, write_set) until every pin is gone.  A pin holds a reference. */
void bcache_pin(struct bcache_buf *b);
void bcache_unpin(struct bcache_buf *b);
bool bcache_is_pinned(struct bcache *c, uint64_t blockno);
/* Writes len bytes of src at device byte offset off (sector multiples, at most
 * BCACHE_WT_MAX cache blocks) with one device call, and copies them into the
 * cached buffers it covers so the cache stays coherent (those buffers are
 * marked being written meanwhile, so no write-back of old contents races). */
#define BCACHE_WT_MAX 32u
int bcache_write_through(struct bcache *c, uint64_t off, uint32_t len, const void *src);
/* Writes bytes [off, off+len) of cached block blockno as they are in memory
 * (sector multiples), leaving the buffer's state alone (a pinned buffer's
 * data part); nothing if the block is not cached. */
int bcache_write_part(struct bcache *c, uint64_t blockno, uint32_t off, uint32_t len);

/* Running counters, read without the lock and without a scan (callable anywhere). */
void bcache_get_stats(struct bcache *c, struct bcache_stats *st);

#endif
