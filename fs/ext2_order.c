/* ext2_order.c - the order of writes on a plain ext2 volume, so that whatever part of
 * the dirty blocks reaches the disk before a power cut, `e2fsck -p` repairs the volume
 * without asking a person (issue 15 item 4; tests/e2e/powercut.sh checks it).
 *
 * The disk model: between two device flushes the disk may keep any subset of the writes
 * (a volatile cache); a flush makes every completed write durable.  The write-back
 * flusher and eviction write dirty cache blocks in any order, with no flush.  So "A
 * before B" is only ever true if A was written and flushed before B existed in memory.
 * The rules below therefore keep this invariant: every state of the cache is safe to
 * reach the disk in any part, because a block that points at something is only changed
 * to point at it after that something is durable (a barrier: write + flush, under
 * fs->lock), and nothing is reused before what pointed at it is durably gone.
 *
 * What e2fsck -p repairs alone (PREEN_OK in e2fsck/problem.c) and what it does not:
 *   repaired: bitmap differences, free counts, i_blocks and i_size, link counts, an entry
 *             naming an unused or deleted inode (cleared), an unattached zero-length
 *             inode (cleared), an orphan list it can walk;
 *   not:      an inode pointing at an indirect block with stale contents (illegal or
 *             duplicate blocks), a directory block with stale contents, a block claimed
 *             twice, an unattached inode with data, an unconnected directory, a
 *             directory with two names.
 * On ext3 the journal orders instead: every barrier here is a no-op (barrier_cache),
 * the deferred frees still wait for the end of the change.
 * Hence the rules, each enforced where the comment "order:" says so:
 *   1. The object before the pointer: a new indirect block (zeroed), directory block or
 *      slow symlink block is durable before the block or inode that points at it is
 *      changed (ext2_bmap.c ext2_bmap_alloc_fill; ext2_dir.c; ext2_symlink.c).
 *   2. A name before its inode: a new entry is durable (with its directory's inode)
 *      before the new inode is written with links, blocks or a directory's first block
 *      (ext2_namei.c ext2_create_locked).  A crash between leaves an entry naming an
 *      unused inode, which e2fsck clears.
 *   3. The inode dies before its last name goes: an unlinked (or rename-replaced) inode
 *      with no names left is durably released (links 0, dtime) or on the orphan list
 *      before the entry is removed (ext2_namei.c remove_locked, rename_locked), so no
 *      state shows an inode with data and no name.
 *   4. Nothing is reused before its old pointers are durably gone: blocks and inodes
 *      freed in a change are only marked free in the bitmaps at the end of the change,
 *      after a barrier on every block that dropped a pointer to them (the inode, the
 *      indirect blocks and the directory blocks the change wrote: ext2_order_note)
 *      (ext2_free_block_later, ext2_free_inode_later, ext2_order_commit from
 *      ext2_change_end).  Until then they stay allocated, which e2fsck would only count
 *      as bitmap differences.
 *   5. Rename: the new name is durable before the old one is removed (a crash between
 *      shows two names of one file: a link count e2fsck fixes).
 *   6. The orphan list: an inode is durably on it (links 0, i_dtime = the next) before
 *      the superblock points at it (ext2_orphan.c).
 * Truncation needs no orphan entry here: the inode's new size and cleared pointers are
 * one inode write, and the blocks are freed only after it is durable (rule 4), so any
 * crash shows the old or the new length of the file with blocks e2fsck accepts.
 * Not covered: renaming a directory to another parent ('..' and the two entries cannot
 * change together without a journal; a crash between may need e2fsck without -p), and
 * a 1 or 2 KiB-block volume (a cache block of 4 KiB carries several fs blocks, written
 * together).  File data is not ordered against its inode (a crash may show stale or
 * zero bytes in a file whose FSYNC was not answered: e2fsck does not look at data).
 *
 * A journaled volume (ext3) orders by its commits instead; these barriers are what
 * plain ext2 pays: one write and flush per create, unlink, rename, new indirect or
 * directory block, and one per change that frees something.
 *
 * The deferred frees: one bitmap per group (the size of the group's own bitmap),
 * allocated when the group first frees something in a change and freed at its end, so
 * a change holds at most one extra copy of the bitmaps it touches. */
#include "ext2_internal.h"

static uint64_t cache_block_of(struct ext2_fs *fs, uint32_t blk)
{
    return (uint64_t)blk * fs->block_size / BCACHE_BLOCK_SIZE;
}

/* Writes cache blocks v[0..n) and flushes the device.  fs->lock held (nothing may change
 * the blocks meanwhile: they are written as they are now). */
static int barrier_cache(struct ext2_fs *fs, const uint64_t *v, uint32_t n)
{
    /* ext3: the journal orders (a change reaches its home blocks only after its commit);
     * writing a journaled buffer home here would break that. */
    if (fs->j)
        return 0;
    struct bcache *c = fs->bc;
    uint32_t w = 0;
    int r = n ? bcache_write_set(c, v, n, &w) : 0;
    __atomic_fetch_add(&fs->st.order_barriers, 1, __ATOMIC_RELAXED);
    if (r == 0 && bcache_unflushed(c))
        r = bcache_flush(c);
    return r;
}

int ext2_order_barrier(struct ext2_fs *fs, const uint32_t *blks, uint32_t n)
{
    uint64_t v[EXT2_ORDER_NOTES];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (k == EXT2_ORDER_NOTES) {
            int r = barrier_cache(fs, v, k);
            if (r)
                return r;
            k = 0;
        }
        v[k++] = cache_block_of(fs, blks[i]);
    }
    return barrier_cache(fs, v, k);
}

int ext2_order_barrier_inode(struct ext2_fs *fs, uint32_t ino)
{
    uint32_t blk;
    int r = ext2_inode_block(fs, ino, &blk);
    return r ? r : ext2_order_barrier(fs, &blk, 1);
}

int ext2_order_barrier_notes(struct ext2_fs *fs)
{
    return barrier_cache(fs, fs->ord_notes, fs->ord_nnotes);
}

/* Remembers cache block cb: its contents must be durable before this change's deferred
 * frees are applied.  A full list is made durable at once (every cached state is safe to
 * write, see above) and starts again. */
static void note_cache(struct ext2_fs *fs, uint64_t cb)
{
    for (uint32_t i = 0; i < fs->ord_nnotes; i++)
        if (fs->ord_notes[i] == cb)
            return;
    if (fs->ord_nnotes == EXT2_ORDER_NOTES) {
        if (barrier_cache(fs, fs->ord_notes, fs->ord_nnotes))
            fs->ord_error = true;
        fs->ord_nnotes = 0;
    }
    fs->ord_notes[fs->ord_nnotes++] = cb;
}

void ext2_order_note(struct ext2_fs *fs, uint32_t blk)
{
    note_cache(fs, cache_block_of(fs, blk));
}

void ext2_order_note_blk(struct ext2_fs *fs, const struct ext2_blk *b)
{
    note_cache(fs, b->buf->blockno);
}

void ext2_order_note_super(struct ext2_fs *fs)
{
    note_cache(fs, fs->sb_buf->blockno);
}

/* Sets bit `bit` of group g in the deferred map of kind k (0 blocks, 1 inodes);
 * -EUCLEAN if it is set already (freed twice in one change). */
static int defer(struct ext2_fs *fs, int k, uint32_t g, uint32_t bit)
{
    uint8_t **maps = k ? fs->ord_inode_maps : fs->ord_block_maps;
    if (!maps)
        return -FS_ENOMEM;
    if (!maps[g]) {
        maps[g] = fs_alloc(fs->block_size);
        if (!maps[g])
            return -FS_ENOMEM;
        memset(maps[g], 0, fs->block_size);
    }
    if (maps[g][bit / 8] & (1u << (bit & 7)))
        return -FS_EUCLEAN;
    maps[g][bit / 8] |= (uint8_t)(1u << (bit & 7));
    fs->ord_pending++;
    return 0;
}

int ext2_free_block_later(struct ext2_fs *fs, uint32_t blk)
{
    if (!ext2_block_valid(fs, blk))
        return -FS_EUCLEAN;
    uint32_t rel = blk - fs->first_data_block;
    return defer(fs, 0, rel / fs->blocks_per_group, rel % fs->blocks_per_group);
}

int ext2_free_inode_later(struct ext2_fs *fs, uint32_t ino, bool is_dir)
{
    if (ino < fs->first_ino || ino > fs->inodes_count)
        return -FS_EUCLEAN;
    uint32_t g = ext2_group_of_inode(fs, ino), bit = (ino - 1) % fs->inodes_per_group;
    int r = defer(fs, 1, g, bit);
    if (r == 0 && is_dir) {
        if (!fs->ord_dirs_maps[g]) {
            fs->ord_dirs_maps[g] = fs_alloc(fs->block_size);
            if (!fs->ord_dirs_maps[g])
                return -FS_ENOMEM;
            memset(fs->ord_dirs_maps[g], 0, fs->block_size);
        }
        fs->ord_dirs_maps[g][bit / 8] |= (uint8_t)(1u << (bit & 7));
    }
    return r;
}

/* Applies the deferred frees (the barrier before them done). */
static int apply_frees(struct ext2_fs *fs)
{
    int err = 0;
    for (uint32_t g = 0; g < fs->ngroups; g++) {
        uint8_t *bm = fs->ord_block_maps[g], *im = fs->ord_inode_maps[g], *dm = fs->ord_dirs_maps[g];
        for (uint32_t i = 0; bm && i < fs->blocks_per_group; i++) {
            if (!(bm[i / 8] & (1u << (i & 7))))
                continue;
            int r = ext2_free_block(fs, fs->first_data_block + g * fs->blocks_per_group + i);
            if (r && !err)
                err = r;
        }
        for (uint32_t i = 0; im && i < fs->inodes_per_group; i++) {
            if (!(im[i / 8] & (1u << (i & 7))))
                continue;
            bool dir = dm && (dm[i / 8] & (1u << (i & 7)));
            int r = ext2_free_inode(fs, g * fs->inodes_per_group + i + 1, dir);
            if (r && !err)
                err = r;
        }
        fs_free(bm);
        fs_free(im);
        fs_free(dm);
        fs->ord_block_maps[g] = fs->ord_inode_maps[g] = fs->ord_dirs_maps[g] = NULL;
    }
    fs->ord_pending = 0;
    return err;
}

int ext2_order_commit(struct ext2_fs *fs)
{
    int r = 0;
    if (fs->ord_pending) {
        r = barrier_cache(fs, fs->ord_notes, fs->ord_nnotes);
        if (r == 0 && fs->ord_error)
            r = -FS_EIO;
        /* A failed barrier leaves them allocated (bitmap differences for e2fsck): freeing
         * them now could hand a block to a file while an old pointer may still be on disk. */
        if (r == 0)
            r = apply_frees(fs);
        else
            fs_log("ext2: write barrier failed (%d): freed blocks stay allocated until e2fsck\n", r);
        if (r)
            for (uint32_t g = 0; g < fs->ngroups; g++) {
                fs_free(fs->ord_block_maps[g]);
                fs_free(fs->ord_inode_maps[g]);
                fs_free(fs->ord_dirs_maps[g]);
                fs->ord_block_maps[g] = fs->ord_inode_maps[g] = fs->ord_dirs_maps[g] = NULL;
            }
        fs->ord_pending = 0;
    }
    fs->ord_nnotes = 0;
    fs->ord_error = false;
    return r;
}

int ext2_order_init(struct ext2_fs *fs)
{
    size_t n = sizeof(uint8_t *) * fs->ngroups;
    fs->ord_block_maps = fs_alloc(n);
    fs->ord_inode_maps = fs_alloc(n);
    fs->ord_dirs_maps = fs_alloc(n);
    if (!fs->ord_block_maps || !fs->ord_inode_maps || !fs->ord_dirs_maps) {
        ext2_order_fini(fs);
        return -FS_ENOMEM;
    }
    memset(fs->ord_block_maps, 0, n);
    memset(fs->ord_inode_maps, 0, n);
    memset(fs->ord_dirs_maps, 0, n);
    return 0;
}

void ext2_order_fini(struct ext2_fs *fs)
{
    for (uint32_t g = 0; g < fs->ngroups; g++) {
        if (fs->ord_block_maps)
            fs_free(fs->ord_block_maps[g]);
        if (fs->ord_inode_maps)
            fs_free(fs->ord_inode_maps[g]);
        if (fs->ord_dirs_maps)
            fs_free(fs->ord_dirs_maps[g]);
    }
    fs_free(fs->ord_block_maps);
    fs_free(fs->ord_inode_maps);
    fs_free(fs->ord_dirs_maps);
    fs->ord_block_maps = fs->ord_inode_maps = fs->ord_dirs_maps = NULL;
}
