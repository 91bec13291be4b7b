/* ext2_fsync.c - making one file durable (ext2_write_ordered); the order of
 * the other metadata writes of plain ext2 is decided in ext2_order.c.
 *
 * An FSYNC of a file collects, under fs->lock, the cache blocks it needs in
 * four phases, each pointed at by the next:
 *   1. the file's data blocks and the indirect blocks that map them,
 *   2. the cache block holding its inode,
 *   3. for a file created since the last volume sync: the parent
 *      directory's blocks (the new entry is in one of them),
 *   4. ... and the cache block holding the parent's inode.
 * and then writes them without the lock: the objects before the pointers to
 * them, with a device flush between two phases whenever something was
 * written since the last flush, and a flush at the end.  Only the dirty
 * blocks of the set are written (bcache_write_set), and only data dirtied
 * before the FSYNC started is waited for, so it ends in bounded time however
 * much other clients write meanwhile.  A cache block is 4 KiB: what shares
 * one with these blocks (other inodes of the inode table block, other files'
 * 1 KiB blocks) is written too.
 *
 * The flusher and eviction write in no particular order; that any part of
 * what they write may reach the disk is safe because of the rules of
 * ext2_order.c (every cached state may reach the disk in any part).  So the
 * inode block written in phase 2 may carry the other inodes in it as they are
 * in memory, and a write to the same file while its FSYNC runs may reach the
 * inode with a pointer to a data block allocated after phase 1 was listed
 * (its bytes are that write's business: it was not FSYNCed; a new indirect
 * block is durable before any pointer to it).  Since a create makes the new
 * entry durable at once (ext2_order.c rule 2), phases 3 and 4 only find
 * something to write when the directory changed again since.
 * On ext3 (fs->j) none of this runs: an FSYNC commits the journal's running
 * transaction (ext2_jtrans.c), which holds every change made so far.
 *
 * New files: ext2_create notes (ino, parent) in a small ring; a volume sync
 * forgets the entries older than itself.  If the ring pushed out an entry
 * no sync covered yet, an FSYNC of a file not in the ring cannot know
 * whether it is new, so it syncs the volume (bounded too; counted as
 * fsync_fallbacks).
 */
#include "ext2_internal.h"

/* A growing list of cache block numbers, of at most FSYNC_MAX_BLOCKS (512 KiB of
 * them): a client's FSYNC must not make the server hold memory in proportion
 * to the volume.  A larger file (over 256 MiB of blocks) is synced with the
 * volume instead (bounded as well; counted as fsync_fallbacks). */
#define FSYNC_MAX_BLOCKS 65536u
struct blist {
    uint64_t *v;
    uint32_t n, cap;
    uint32_t visits;        /* pointers followed: a corrupt map repeating one block
                             * adds nothing to the list but must still end */
};

static int blist_add(struct blist *l, uint64_t blk)
{
    if (++l->visits > 4 * FSYNC_MAX_BLOCKS)
        return -FS_ENOBUFS;
    if (l->n && l->v[l->n - 1] == blk)
        return 0;               /* 1 KiB blocks: four in a row share a cache block */
    if (l->n == FSYNC_MAX_BLOCKS)
        return -FS_ENOBUFS;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 64;
        uint64_t *v = fs_alloc(sizeof *v * cap);
        if (!v)
            return -FS_ENOMEM;
        if (l->n)
            memcpy(v, l->v, sizeof *v * l->n);
        fs_free(l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = blk;
    return 0;
}

static void blist_free(struct blist *l)
{
    fs_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static uint64_t cache_block_of(struct ext2_fs *fs, uint32_t blk)
{
    return (uint64_t)blk * fs->block_size / BCACHE_BLOCK_SIZE;
}

/* Adds fs block blk and, for an indirect block (level > 0), every block it
 * maps.  A pointer outside the file system is skipped (e2fsck's business),
 * not followed. */
static int add_tree(struct ext2_fs *fs, uint32_t blk, int level, struct blist *l)
{
    if (!blk || !ext2_block_valid(fs, blk))
        return 0;
    int r = blist_add(l, cache_block_of(fs, blk));
    if (r || level == 0)
        return r;
    struct ext2_blk b;
    r = ext2_bread(fs, blk, &b);
    if (r)
        return r;
    const uint32_t *p = (const uint32_t *)b.p;
    for (uint32_t i = 0; i < fs->ptrs_per_block && r == 0; i++)
        r = add_tree(fs, p[i], level - 1, l);
    ext2_brelse(&b);
    return r;
}

/* The data and indirect blocks of an inode.  fs->lock held. */
static int add_inode_blocks(struct ext2_fs *fs, const struct ext2_inode *in, struct blist *l)
{
    if (!ext2_inode_has_blocks(fs, in))
        return 0;               /* a fast symlink keeps its target in i_block */
    int r = 0;
    for (uint32_t i = 0; i < EXT2_NDIR_BLOCKS && r == 0; i++)
        r = add_tree(fs, in->i_block[i], 0, l);
    if (r == 0)
        r = add_tree(fs, in->i_block[EXT2_IND_BLOCK], 1, l);
    if (r == 0)
        r = add_tree(fs, in->i_block[EXT2_DIND_BLOCK], 2, l);
    if (r == 0)
        r = add_tree(fs, in->i_block[EXT2_TIND_BLOCK], 3, l);
    return r;
}

static int add_inode_slot(struct ext2_fs *fs, uint32_t ino, struct blist *l)
{
    uint32_t blk;
    int r = ext2_inode_block(fs, ino, &blk);
    return r ? r : blist_add(l, cache_block_of(fs, blk));
}

/* ---- new files ---------------------------------------------------------- */

void ext2_fsync_note_new(struct ext2_fs *fs, uint32_t ino, uint32_t parent)
{
    struct ext2_new_file *e = &fs->new_files[fs->new_files_next];
    if (e->ino) {
        /* no volume sync covered it yet (that would have cleared it) */
        if (!fs->new_files_lost || e->sync_gen > fs->new_files_lost_gen)
            fs->new_files_lost_gen = e->sync_gen;
        fs->new_files_lost = true;
    }
    e->ino = ino;
    e->parent = parent;
    e->sync_gen = fs->sync_gen;
    fs->new_files_next = (fs->new_files_next + 1) % EXT2_NEW_FILES;
}

/* A volume sync that started as generation gen succeeded: what was created
 * before it is durable.  Takes fs->lock. */
void ext2_fsync_volume_synced(struct ext2_fs *fs, uint32_t gen)
{
    fs_mutex_lock(&fs->lock);
    for (uint32_t i = 0; i < EXT2_NEW_FILES; i++)
        if (fs->new_files[i].ino && fs->new_files[i].sync_gen < gen)
            fs->new_files[i].ino = 0;
    if (fs->new_files_lost && fs->new_files_lost_gen < gen)
        fs->new_files_lost = false;
    fs_mutex_unlock(&fs->lock);
}

static struct ext2_new_file *find_new(struct ext2_fs *fs, uint32_t ino)
{
    for (uint32_t i = 0; i < EXT2_NEW_FILES; i++)
        if (fs->new_files[i].ino == ino)
            return &fs->new_files[i];
    return NULL;
}

/* ---- ordered writing ------------------------------------------------------ */

/* Writes the phases in order, so that a block reaches the device before any
 * block of a later phase (they point at it): before a phase with something
 * dirty, a flush if any write since the last flush is not covered yet; at
 * the end a flush, so the whole set is durable.  The one place where writes
 * are ordered; a journal would commit the phases instead.  Adds the blocks
 * written to *written. */
static int ext2_write_ordered(struct ext2_fs *fs, struct blist *phase, int nphases, uint32_t *written)
{
    struct bcache *c = fs->bc;
    for (int i = 0; i < nphases; i++) {
        if (phase[i].n == 0)
            continue;
        if (i > 0 && bcache_unflushed(c) && bcache_count_dirty(c, phase[i].v, phase[i].n)) {
            int r = bcache_flush(c);
            if (r)
                return r;
        }
        uint32_t w = 0;
        int r = bcache_write_set(c, phase[i].v, phase[i].n, &w);
        *written += w;
        if (r)
            return r;
    }
    return bcache_unflushed(c) ? bcache_flush(c) : 0;
}

/* ---- FSYNC of one file ------------------------------------------------------ */

static void count_fsync(struct ext2_fs *fs, uint32_t written)
{
    __atomic_fetch_add(&fs->st.fsyncs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&fs->st.fsync_blocks, written, __ATOMIC_RELAXED);
    __atomic_store_n(&fs->st.fsync_last_blocks, written, __ATOMIC_RELAXED);
}

/* Fills the four phases (see the top of the file).  fs->lock held.  Sets
 * *fallback when the file may be new but the ring forgot it. */
static int collect(struct ext2_fs *fs, uint32_t ino, struct blist ph[4], uint32_t *gen, bool *fallback)
{
    struct ext2_inode in;
    int r = ext2_iget(fs, ino, &in);
    if (r)
        return r;
    r = add_inode_blocks(fs, &in, &ph[0]);
    if (r == 0)
        r = add_inode_slot(fs, ino, &ph[1]);
    if (r)
        return r;
    struct ext2_new_file *e = find_new(fs, ino);
    if (!e) {
        *fallback = fs->new_files_lost;
        return 0;
    }
    *gen = e->sync_gen;
    struct ext2_inode pin;
    r = ext2_iget(fs, e->parent, &pin);
    if (r == 0 && (pin.i_mode & EXT2_S_IFMT) != EXT2_S_IFDIR)
        return 0;               /* the parent went away and its inode was reused */
    if (r == 0)
        r = add_inode_blocks(fs, &pin, &ph[2]);
    if (r == 0)
        r = add_inode_slot(fs, e->parent, &ph[3]);
    return r;
}

int ext2_fsync(struct ext2_fs *fs, uint32_t ino)
{
    struct blist ph[4] = { { 0 } };
    uint32_t written = 0, gen = 0;
    bool fallback = false;

    if (ino < 1 || ino > fs->inodes_count)
        return -FS_EINVAL;
    if (fs->j) {
        /* ext3: the commit of the transaction holding its changes (group commit) */
        int jr = fs->read_only ? 0 : ext2_journal_sync(fs);
        count_fsync(fs, 0);
        return jr;
    }
    fs_mutex_lock(&fs->lock);
    bool nothing = fs->read_only;   /* a read-only volume has nothing to write */
    int r = nothing ? 0 : collect(fs, ino, ph, &gen, &fallback);
    fs_mutex_unlock(&fs->lock);
    if (r == -FS_ENOBUFS) {
        r = 0;
        fallback = true;        /* too many blocks to list */
    }
    if (r == 0 && fallback) {
        __atomic_fetch_add(&fs->st.fsync_fallbacks, 1, __ATOMIC_RELAXED);
        r = ext2_sync(fs);
        written = (uint32_t)__atomic_load_n(&fs->st.sync_last_blocks, __ATOMIC_RELAXED);
    } else if (r == 0 && !nothing) {
        r = ext2_write_ordered(fs, ph, 4, &written);
    }
    if (r == 0 && ph[3].n) {
        /* its entry is durable now: later FSYNCs need not write the directory */
        fs_mutex_lock(&fs->lock);
        struct ext2_new_file *e = find_new(fs, ino);
        if (e && e->sync_gen == gen)
            e->ino = 0;
        fs_mutex_unlock(&fs->lock);
    }
    for (int i = 0; i < 4; i++)
        blist_free(&ph[i]);
    count_fsync(fs, written);
    return r;
}

void ext2_get_stats(struct ext2_fs *fs, struct ext2_stats *st)
{
    st->fsyncs = __atomic_load_n(&fs->st.fsyncs, __ATOMIC_RELAXED);
    st->fsync_blocks = __atomic_load_n(&fs->st.fsync_blocks, __ATOMIC_RELAXED);
    st->fsync_last_blocks = __atomic_load_n(&fs->st.fsync_last_blocks, __ATOMIC_RELAXED);
    st->fsync_fallbacks = __atomic_load_n(&fs->st.fsync_fallbacks, __ATOMIC_RELAXED);
    st->syncs = __atomic_load_n(&fs->st.syncs, __ATOMIC_RELAXED);
    st->sync_blocks = __atomic_load_n(&fs->st.sync_blocks, __ATOMIC_RELAXED);
    st->sync_last_blocks = __atomic_load_n(&fs->st.sync_last_blocks, __ATOMIC_RELAXED);
    st->unclean_mount = __atomic_load_n(&fs->st.unclean_mount, __ATOMIC_RELAXED);
    st->mount_count = __atomic_load_n(&fs->st.mount_count, __ATOMIC_RELAXED);
    st->journal_commits = st->journal_blocks = st->journal_checkpoints = 0;
    st->journal_background_commits = st->journal_inplace_commits = st->journal_throttled = 0;
    st->journal_replayed = __atomic_load_n(&fs->st.journal_replayed, __ATOMIC_RELAXED);
    ext2_journal_get_stats(fs, st);
    st->order_barriers = __atomic_load_n(&fs->st.order_barriers, __ATOMIC_RELAXED);
}
