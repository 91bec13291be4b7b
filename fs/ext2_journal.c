/* ext2_journal.c - the ext3 journal (jbd2, internal, in inode 8): loading it
 * at mount, replaying what a crash left in it exactly as e2fsck and Linux do,
 * and writing log blocks and the journal superblock.
 *
 * Replay is the three passes of jbd2's recovery.c.  From s_start, expecting
 * transaction s_sequence, the scan walks descriptor blocks (each followed by
 * the blocks its tags name), revoke blocks and commit blocks; a block without
 * the magic, with another sequence or of an unknown type ends the log, and
 * the last transaction with a commit block is the last one replayed.  The
 * revoke pass records, for each revoked block, the newest transaction that
 * revoked it; the replay pass writes each logged block home unless a revoke
 * of the same or a later transaction covers it, later copies over earlier
 * ones, with the magic put back in blocks logged escaped.  Then the log is
 * marked empty (s_start = 0) and the mount starts again on the replayed
 * metadata.  What is read: journal superblock v1 or v2 with no feature but
 * incompat_revoke (no 64-bit block numbers, no checksums, no async commit, no
 * fast commit: mke2fs -t ext3's default); anything else is refused with a
 * message naming it. */
#include "ext2_journal.h"

static int jfail(const char *why)
{
    fs_log("ext3: refusing to mount: journal %s\n", why);
    return -FS_EUCLEAN;
}

/* ---- log blocks ------------------------------------------------------------ */

static uint32_t wrap(struct ext2_journal *j, uint32_t lblk)
{
    return lblk >= j->maxlen ? j->first + (lblk - j->maxlen) % (j->maxlen - j->first) : lblk;
}

/* Reads journal block lblk: *p points at it inside the referenced *b. */
static int log_read(struct ext2_journal *j, uint32_t lblk, struct bcache_buf **b, const uint8_t **p)
{
    uint64_t byte = (uint64_t)j->map[lblk] * j->bs;
    int r = bcache_read(j->fs->bc, byte / BCACHE_BLOCK_SIZE, b);
    if (r)
        return r;
    *p = (*b)->data + byte % BCACHE_BLOCK_SIZE;
    return 0;
}

/* Writes journal blocks [lblk, lblk+n) from src (no wrap: the caller's run
 * stays inside the log), one device call per physically contiguous piece. */
int journal_log_write(struct ext2_journal *j, uint32_t lblk, uint32_t n, const uint8_t *src)
{
    uint32_t per_call = BCACHE_WT_MAX * BCACHE_BLOCK_SIZE / j->bs - BCACHE_BLOCK_SIZE / j->bs;
    uint32_t i = 0;
    while (i < n) {
        uint32_t k = 1;
        while (i + k < n && k < per_call && j->map[lblk + i + k] == j->map[lblk + i] + k)
            k++;
        int r = bcache_write_through(j->fs->bc, (uint64_t)j->map[lblk + i] * j->bs, k * j->bs,
                                     src + (size_t)i * j->bs);
        if (r)
            return r;
        i += k;
    }
    return 0;
}

int journal_write_jsb(struct ext2_journal *j, uint32_t start, uint32_t seq)
{
    be32_put(j->jsb + JSB_START, start);
    be32_put(j->jsb + JSB_SEQUENCE, seq);
    return journal_log_write(j, 0, 1, j->jsb);
}

/* ---- loading ------------------------------------------------------------------- */

static uint32_t sb_u32(struct ext2_fs *fs, uint32_t off)
{
    uint32_t v;
    memcpy(&v, (const uint8_t *)fs->sb + off, sizeof v);
    return v;
}

/* Reads inode 8 and its block map, then the journal superblock, and checks
 * what replay and commit rely on. */
static int load(struct ext2_journal *j)
{
    struct ext2_fs *fs = j->fs;
    uint32_t inum = sb_u32(fs, EXT3_SB_JOURNAL_INUM);
    if ((fs->sb->s_feature_incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV) || inum == 0) {
        fs_log("ext3: refusing to mount: an external journal device is not supported\n");
        return -FS_ENOTSUP;
    }
    if (inum > fs->inodes_count || inum >= fs->first_ino)
        return jfail("inode number out of range");
    struct ext2_inode in;
    int r = ext2_iget(fs, inum, &in);
    if (r)
        return r;
    if ((in.i_mode & EXT2_S_IFMT) != EXT2_S_IFREG)
        return jfail("inode is not a regular file");
    uint64_t nblocks = ext2_isize(&in) / fs->block_size;
    if (nblocks < 1024 || nblocks > JOURNAL_MAX_BLOCKS) {
        fs_log("ext3: refusing to mount: journal of %llu blocks (1024 to %u supported)\n",
               (unsigned long long)nblocks, JOURNAL_MAX_BLOCKS);
        return -FS_ENOTSUP;
    }
    j->map = fs_alloc(sizeof *j->map * nblocks);
    j->jsb = fs_alloc(fs->block_size);
    if (!j->map || !j->jsb)
        return -FS_ENOMEM;
    for (uint32_t i = 0; i < nblocks;) {
        r = ext2_bmap_run(fs, &in, i, (uint32_t)nblocks - i, &j->map[i]);
        if (r < 0)
            return r == -FS_EUCLEAN ? jfail("has a block outside the file system") : r;
        for (uint32_t k = i; k < i + (uint32_t)r; k++)
            if (!ext2_block_valid(fs, j->map[k]))
                return jfail("has a hole or a block outside the file system");
        i += (uint32_t)r;
    }
    j->bs = fs->block_size;
    j->maxlen = (uint32_t)nblocks;     /* until the superblock says */
    struct bcache_buf *b;
    const uint8_t *p;
    r = log_read(j, 0, &b, &p);
    if (r)
        return r;
    memcpy(j->jsb, p, j->bs);
    bcache_release(b);
    uint32_t type = be32_get(j->jsb + JBD2_H_BLOCKTYPE);
    if (be32_get(j->jsb + JBD2_H_MAGIC) != JBD2_MAGIC ||
        (type != JBD2_SUPERBLOCK_V1 && type != JBD2_SUPERBLOCK_V2))
        return jfail("superblock has no jbd2 magic");
    if (be32_get(j->jsb + JSB_BLOCKSIZE) != j->bs)
        return jfail("block size differs from the file system's");
    uint32_t maxlen = be32_get(j->jsb + JSB_MAXLEN), first = be32_get(j->jsb + JSB_FIRST);
    if (maxlen > nblocks || maxlen < 1024 || first < 1 || first >= maxlen)
        return jfail("superblock has a bad length or first block");
    j->maxlen = maxlen;
    j->first = first;
    uint32_t start = be32_get(j->jsb + JSB_START);
    if (start != 0 && (start < first || start >= maxlen))
        return jfail("start outside the log");
    if (type == JBD2_SUPERBLOCK_V2) {
        uint32_t incompat = be32_get(j->jsb + JSB_FEATURE_INCOMPAT);
        uint32_t ro = be32_get(j->jsb + JSB_FEATURE_RO_COMPAT);
        if (incompat & ~JBD2_KNOWN_INCOMPAT) {
            fs_log("ext3: refusing to mount: journal incompat features 0x%x not supported "
                   "(64bit 0x2, async_commit 0x4, csum_v2 0x8, csum_v3 0x10, fast_commit 0x20)\n",
                   incompat & ~JBD2_KNOWN_INCOMPAT);
            return -FS_ENOTSUP;
        }
        if (ro) {
            fs_log("ext3: refusing to mount: journal ro_compat features 0x%x\n", ro);
            return -FS_ENOTSUP;
        }
        if (be32_get(j->jsb + JSB_NR_USERS) > 1)
            return jfail("shared by several file systems");
    }
    j->tags_per_desc = (j->bs - JBD2_HEADER_SIZE - JBD2_UUID_SIZE) / JBD2_TAG_SIZE;
    j->recs_per_revoke = (j->bs - JBD2_REVOKE_HEADER) / 4;
    return 0;
}

/* ---- replay ------------------------------------------------------------------ */

/* Revoked block -> newest revoking transaction: open addressing, grows. */
struct revtab {
    uint32_t *blk, *tid;            /* blk + 1; 0 = free */
    uint32_t n, mask;
};

static int rev_grow(struct revtab *t);

static int rev_set(struct revtab *t, uint32_t blk, uint32_t tid)
{
    if (2 * (t->n + 1) > t->mask + 1) {
        int r = rev_grow(t);
        if (r)
            return r;
    }
    uint32_t i = (blk * 2654435761u) & t->mask;
    while (t->blk[i] && t->blk[i] != blk + 1)
        i = (i + 1) & t->mask;
    if (!t->blk[i]) {
        t->blk[i] = blk + 1;
        t->tid[i] = tid;
        t->n++;
    } else if ((int32_t)(tid - t->tid[i]) > 0) {
        t->tid[i] = tid;
    }
    return 0;
}

static int rev_grow(struct revtab *t)
{
    struct revtab o = *t;
    uint32_t size = t->mask ? 2 * (t->mask + 1) : 1024;
    t->blk = fs_alloc(sizeof *t->blk * size);
    t->tid = fs_alloc(sizeof *t->tid * size);
    if (!t->blk || !t->tid) {
        fs_free(t->blk);
        fs_free(t->tid);
        *t = o;
        return -FS_ENOMEM;
    }
    memset(t->blk, 0, sizeof *t->blk * size);
    t->mask = size - 1;
    t->n = 0;
    for (uint32_t i = 0; o.mask && i <= o.mask; i++)
        if (o.blk[i])
            (void)rev_set(t, o.blk[i] - 1, o.tid[i]);
    fs_free(o.blk);
    fs_free(o.tid);
    return 0;
}

/* Revoked for a copy logged in transaction tid: by tid itself or a later one. */
static bool rev_covers(const struct revtab *t, uint32_t blk, uint32_t tid)
{
    if (!t->mask)
        return false;
    uint32_t i = (blk * 2654435761u) & t->mask;
    while (t->blk[i]) {
        if (t->blk[i] == blk + 1)
            return (int32_t)(t->tid[i] - tid) >= 0;
        i = (i + 1) & t->mask;
    }
    return false;
}

enum pass { PASS_SCAN, PASS_REVOKE, PASS_REPLAY };

struct replay {
    uint32_t start_tid, end_tid;    /* transactions [start, end) are complete */
    uint32_t blocks;                /* blocks written home */
    struct revtab rev;
};

/* Writes one logged block home through the cache (flushed at the end). */
static int write_home(struct ext2_journal *j, uint32_t blk, const uint8_t *src, bool escaped)
{
    struct ext2_fs *fs = j->fs;
    if (blk >= fs->blocks_count)
        return jfail("names a block outside the file system");
    uint64_t byte = (uint64_t)blk * j->bs;
    struct bcache_buf *b;
    int r = j->bs == BCACHE_BLOCK_SIZE ? bcache_get_noread(fs->bc, byte / BCACHE_BLOCK_SIZE, &b)
                                       : bcache_read(fs->bc, byte / BCACHE_BLOCK_SIZE, &b);
    if (r)
        return r;
    uint8_t *dst = b->data + byte % BCACHE_BLOCK_SIZE;
    memcpy(dst, src, j->bs);
    if (escaped)
        be32_put(dst, JBD2_MAGIC);
    bcache_mark_dirty(b);
    bcache_release(b);
    return 0;
}

/* The tags of descriptor block d: calls back (replay pass) for each, returns
 * how many log blocks they take. */
static int desc_tags(struct ext2_journal *j, const uint8_t *d, uint32_t pos, uint32_t tid, enum pass pass,
                     struct replay *rp, uint32_t *count)
{
    uint32_t off = JBD2_HEADER_SIZE, n = 0;
    while (off + JBD2_TAG_SIZE <= j->bs) {
        const uint8_t *tag = d + off;
        uint32_t flags = be16_get(tag + JBD2_TAG_FLAGS);
        n++;
        if (pass == PASS_REPLAY) {
            uint32_t blk = be32_get(tag + JBD2_TAG_BLOCKNR);
            if (!rev_covers(&rp->rev, blk, tid)) {
                struct bcache_buf *b;
                const uint8_t *p;
                int r = log_read(j, wrap(j, pos + n), &b, &p);
                if (r)
                    return r;
                r = write_home(j, blk, p, (flags & JBD2_FLAG_ESCAPE) != 0);
                bcache_release(b);
                if (r)
                    return r;
                rp->blocks++;
            }
        }
        off += JBD2_TAG_SIZE;
        if (!(flags & JBD2_FLAG_SAME_UUID))
            off += JBD2_UUID_SIZE;
        if (flags & JBD2_FLAG_LAST_TAG)
            break;
    }
    *count = n;
    return 0;
}

static int revoke_records(struct ext2_journal *j, const uint8_t *d, uint32_t tid, struct replay *rp)
{
    uint32_t used = be32_get(d + JBD2_REVOKE_COUNT);
    if (used > j->bs || used < JBD2_REVOKE_HEADER)
        return jfail("revoke block has a bad count");
    for (uint32_t off = JBD2_REVOKE_HEADER; off + 4 <= used; off += 4) {
        int r = rev_set(&rp->rev, be32_get(d + off), tid);
        if (r)
            return r;
    }
    return 0;
}

/* One walk of the log from s_start (jbd2's do_one_pass). */
static int one_pass(struct ext2_journal *j, enum pass pass, struct replay *rp)
{
    uint32_t pos = be32_get(j->jsb + JSB_START);
    uint32_t tid = be32_get(j->jsb + JSB_SEQUENCE);
    uint32_t walked = 0, span = j->maxlen - j->first;
    if (pass == PASS_SCAN)
        rp->start_tid = tid;
    for (;;) {
        if (pass != PASS_SCAN && (int32_t)(tid - rp->end_tid) >= 0)
            break;
        if (walked++ > span)
            break;                  /* a log that loops on itself ends here */
        struct bcache_buf *b;
        const uint8_t *p;
        int r = log_read(j, pos, &b, &p);
        if (r)
            return r;
        uint32_t type = be32_get(p + JBD2_H_BLOCKTYPE);
        if (be32_get(p + JBD2_H_MAGIC) != JBD2_MAGIC || be32_get(p + JBD2_H_SEQUENCE) != tid) {
            bcache_release(b);
            break;
        }
        uint32_t n = 0;
        bool end = false;
        if (type == JBD2_DESCRIPTOR_BLOCK) {
            r = desc_tags(j, p, pos, tid, pass, rp, &n);
            walked += n;
        } else if (type == JBD2_COMMIT_BLOCK) {
            tid++;
        } else if (type == JBD2_REVOKE_BLOCK) {
            if (pass == PASS_REVOKE)
                r = revoke_records(j, p, tid, rp);
        } else {
            end = true;             /* unknown block type: the end of the log */
        }
        bcache_release(b);
        if (r)
            return r;
        if (end)
            break;
        pos = wrap(j, pos + 1 + n);
    }
    if (pass == PASS_SCAN)
        rp->end_tid = tid;
    return 0;
}

static int replay(struct ext2_journal *j, uint32_t *next_tid)
{
    struct replay rp;
    memset(&rp, 0, sizeof rp);
    int r = one_pass(j, PASS_SCAN, &rp);
    if (r == 0)
        r = one_pass(j, PASS_REVOKE, &rp);
    if (r == 0)
        r = one_pass(j, PASS_REPLAY, &rp);
    fs_free(rp.rev.blk);
    fs_free(rp.rev.tid);
    if (r == 0)
        r = bcache_sync(j->fs->bc);     /* home blocks durable before the log is emptied */
    if (r)
        return r;
    fs_log("ext3: journal replayed: transactions %u to %u, %u blocks\n", rp.start_tid,
           rp.end_tid - 1, rp.blocks);
    __atomic_fetch_add(&j->fs->st.journal_replayed, rp.end_tid - rp.start_tid, __ATOMIC_RELAXED);
    *next_tid = rp.end_tid + 1;
    return 0;
}

/* ---- mount ---------------------------------------------------------------------- */

static void journal_free(struct ext2_journal *j)
{
    if (!j)
        return;
    ext2_journal_wait_background(j);    /* a commit_job still holds j */
    for (int i = 0; i < 2; i++) {
        /* an aborted journal's transaction still pins its buffers: dropped unwritten */
        for (uint32_t k = 0; j->trans[i].bufs && k < j->trans[i].meta.n; k++) {
            bcache_unpin(j->trans[i].bufs[k]);
            if (j->trans[i].copy)
                fs_free(j->trans[i].copy[k]);
        }
        jtrans_free(&j->trans[i]);
    }
    jset_free(&j->live);
    for (uint32_t g = 0; j->busy_bm && g < j->fs->ngroups; g++)
        fs_free(j->busy_bm[g]);
    fs_free(j->busy_bm);
    fs_free(j->busy_tid);
    fs_free(j->map);
    fs_free(j->jsb);
    fs_free(j);
}

void ext2_journal_free(struct ext2_fs *fs)
{
    journal_free(fs->j);
    fs->j = NULL;
}

/* Called by ext2_mount once the groups are loaded.  Returns 1 if it replayed
 * the log (the mount must read the superblock and groups again), 0 when the
 * log is empty (fs->j is set if the volume will be written), or an error. */
int ext2_journal_mount(struct ext2_fs *fs, bool writable)
{
    if (!(fs->sb->s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL)) {
        if (fs->sb->s_feature_incompat & EXT3_FEATURE_INCOMPAT_RECOVER) {
            fs_log("ext3: refusing to mount: needs_recovery without a journal\n");
            return -FS_EUCLEAN;
        }
        return 0;
    }
    struct ext2_journal *j = fs_alloc(sizeof *j);
    if (!j)
        return -FS_ENOMEM;
    memset(j, 0, sizeof *j);
    j->fs = fs;
    int r = load(j);
    bool recover = (fs->sb->s_feature_incompat & EXT3_FEATURE_INCOMPAT_RECOVER) != 0;
    uint32_t start = r == 0 ? be32_get(j->jsb + JSB_START) : 0;
    uint32_t tid = r == 0 ? be32_get(j->jsb + JSB_SEQUENCE) : 0;
    if (r == 0 && recover && start != 0) {
        /* as Linux: a volume that needs recovery is replayed even on a read-only mount */
        if (!writable)
            fs_log("ext3: recovery required: writing to the device during replay\n");
        r = replay(j, &tid);
        if (r == 0)
            r = journal_write_jsb(j, 0, tid);
    } else if (r == 0 && start != 0 && writable) {
        fs_log("ext3: journal holds data but needs_recovery is clear: not replayed, emptied\n");
        r = journal_write_jsb(j, 0, tid + 1);
        tid++;
    }
    if (r == 0 && recover && (writable || start != 0)) {
        fs->sb->s_feature_incompat &= ~EXT3_FEATURE_INCOMPAT_RECOVER;
        ext2_sb_dirty(fs);
        r = bcache_sync(fs->bc);
        if (r == 0 && start != 0) {
            journal_free(j);
            return 1;               /* mount again on what the replay wrote */
        }
    }
    if (r == 0 && writable)
        r = journal_start(j, tid);
    if (r || !writable) {
        journal_free(j);
        return r;
    }
    j->stopped = true;               /* until ext2_journal_begin */
    fs->j = j;
    return 0;
}

/* The mount wrote the superblock (needs_recovery set): journaling starts. */
void ext2_journal_begin(struct ext2_fs *fs)
{
    if (fs->j)
        fs->j->stopped = false;
}

bool ext2_journal_writing(struct ext2_fs *fs)
{
    return fs->j && !fs->j->stopped;
}

bool ext2_has_journal(struct ext2_fs *fs)
{
    return ext2_journal_writing(fs);
}
