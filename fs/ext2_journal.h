/* ext2_journal.h - the jbd2 journal of an ext3 volume, shared by
 * ext2_journal.c (loading, replay, the journal superblock) and ext2_jtrans.c
 * (transactions, commit, checkpoint).  Not for users: ext2.h is the API. */
#ifndef FS_EXT2_JOURNAL_H
#define FS_EXT2_JOURNAL_H

#include "ext2_internal.h"
#include "jbd2_format.h"

/* Journals larger than this many blocks are refused (the block map is held in
 * memory: 4 bytes a block, 4 MiB at most). */
#define JOURNAL_MAX_BLOCKS (1u << 20)
/* A transaction is committed once it holds this many metadata blocks (or a
 * quarter of the journal, or an eighth of the cache, whichever is least). */
#define JOURNAL_TRANS_MAX 1024u
/* ... or this many file data blocks, written before its commit (data=ordered). */
#define JOURNAL_DATA_MAX 2048u
/* Below those limits a commit starts in the background (ext2_jtrans.c,
 * commit_background) once the running transaction has allocated this much for
 * files (or holds half the metadata limit): a writer that grows files has its
 * data go to disk in steps this big, without holding fs->lock, so an FSYNC
 * beside it waits for little.  Overwrites do not count: their blocks stay in
 * the cache, written once however often they change, as before. */
#define JOURNAL_DATA_SOFT_BYTES (1024u * 1024u)
/* While one is being written, a change waits (ext2_journal_throttle, outside
 * fs->lock) once the next transaction has allocated twice that. */
#define JOURNAL_THROTTLE_BYTES (2u * JOURNAL_DATA_SOFT_BYTES)
/* ... or when the running transaction is this many seconds old (ext2_journal_tick). */
#define JOURNAL_COMMIT_SECONDS 5u

/* A set of fs block numbers: members in the order added (v) and an
 * open-addressing index (value + 1; 0 is a free slot).  Fixed capacity. */
struct jset {
    uint32_t *v;
    uint32_t n, cap;
    uint32_t *slot;
    uint32_t mask;
};

/* One transaction: the metadata blocks it changed (each pinned in the cache),
 * the file data blocks it wrote (written before its commit), the blocks it
 * revokes, and at commit frozen copies of the metadata. */
struct jtrans {
    uint32_t tid;
    struct jset meta;
    struct bcache_buf **bufs;       /* bufs[i]: pinned cache buffer of meta.v[i] */
    uint32_t *data;
    uint32_t ndata, data_cap;
    uint32_t nalloc;                /* blocks of files it allocated (background commits go by it) */
    uint32_t *revoke;
    uint32_t nrevoke, revoke_cap;
    uint32_t nfreed;                /* blocks it freed (not reusable before its commit) */
    uint8_t **copy;                 /* frozen copies (commit) */
    bool *escaped;
    uint32_t start;                 /* first log block (commit) */
    bool write_jsb;                 /* the log was empty: the journal superblock starts it */
};

struct ext2_journal {
    struct ext2_fs *fs;
    uint32_t bs;                    /* journal block size = fs block size */
    uint32_t maxlen, first;         /* s_maxlen, s_first */
    uint32_t *map;                  /* journal block -> fs block */
    uint8_t *jsb;                   /* copy of the journal superblock (journal block 0) */
    uint32_t tags_per_desc, recs_per_revoke;
    uint32_t trans_soft;            /* metadata blocks that make a commit due */
    uint32_t reserve;               /* log blocks one change may need at most */

    struct fs_mutex lock;           /* orders: fs->lock before j->lock */
    struct fs_cond cond;            /* j->lock: a commit ended */
    uint32_t committed_tid;         /* j->lock: the last transaction durable */
    bool committing;                /* j->lock: a commit is writing ctr */
    int error;                      /* j->lock: a commit failed: the journal is dead */
    struct jset live;               /* j->lock: blocks logged since the last checkpoint */
    struct jtrans *ctr;             /* j->lock: the transaction being committed */

    /* fs->lock */
    struct jtrans trans[2];         /* run and the one committing alternate */
    struct jtrans *run;             /* the running transaction */
    uint32_t next_head;             /* log block the next commit starts at */
    bool log_empty;                 /* no transaction in the log since a checkpoint */
    uint32_t run_since;             /* fs_time_now of the running transaction's first change */
    bool stopped;                   /* shut down: no more journaling */
    uint8_t **busy_bm;              /* per group: blocks freed by a transaction not yet durable */
    uint32_t *busy_tid;             /* ... the last such transaction */

    uint32_t async_jobs;            /* j->lock (read atomically): background commits not ended */
    uint32_t run_nalloc;            /* atomic: run->nalloc, for ext2_journal_throttle */

    /* atomic counters */
    uint64_t commits, commit_blocks, checkpoints, background_commits;
    uint64_t inplace_commits;       /* commits a change made under fs->lock at a size limit */
    uint64_t throttled;             /* waits in ext2_journal_throttle */
};

/* ext2_journal.c */
int journal_log_write(struct ext2_journal *j, uint32_t lblk, uint32_t n, const uint8_t *src);
int journal_write_jsb(struct ext2_journal *j, uint32_t start, uint32_t seq);

/* ext2_jtrans.c */
int jset_init(struct jset *s, uint32_t cap);
void jset_free(struct jset *s);
bool jset_has(const struct jset *s, uint32_t blk);
int jset_add(struct jset *s, uint32_t blk);
void jset_clear(struct jset *s);
int jtrans_init(struct jtrans *t, uint32_t cap);
void jtrans_free(struct jtrans *t);
int journal_start(struct ext2_journal *j, uint32_t tid);
/* Returns once no background commit holds j (before it is freed). */
void ext2_journal_wait_background(struct ext2_journal *j);

#endif
