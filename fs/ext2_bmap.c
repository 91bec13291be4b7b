/* ext2_bmap.c - the block map: logical file block -> disk block through
 * 12 direct pointers and single, double and triple indirect blocks;
 * allocation of missing blocks; freeing blocks past a new end of file. */
#include "ext2_internal.h"

/* Splits lblk into the i_block slot and the indices inside each indirect
 * block on the way.  Returns the number of indirect levels, or -EFBIG. */
static int map_path(struct ext2_fs *fs, uint64_t lblk, uint32_t *slot, uint32_t idx[3])
{
    uint64_t p = fs->ptrs_per_block;

    if (lblk < EXT2_NDIR_BLOCKS) {
        *slot = (uint32_t)lblk;
        return 0;
    }
    lblk -= EXT2_NDIR_BLOCKS;
    if (lblk < p) {
        *slot = EXT2_IND_BLOCK;
        idx[0] = (uint32_t)lblk;
        return 1;
    }
    lblk -= p;
    if (lblk < p * p) {
        *slot = EXT2_DIND_BLOCK;
        idx[0] = (uint32_t)(lblk / p);
        idx[1] = (uint32_t)(lblk % p);
        return 2;
    }
    lblk -= p * p;
    if (lblk < p * p * p) {
        *slot = EXT2_TIND_BLOCK;
        idx[0] = (uint32_t)(lblk / (p * p));
        idx[1] = (uint32_t)(lblk / p % p);
        idx[2] = (uint32_t)(lblk % p);
        return 3;
    }
    return -FS_EFBIG;
}

/* Follows idx[0..levels) down the indirect blocks from ptr: *out is the pointer found
 * there, or 0 at the first hole, after *level levels were read. */
static int walk(struct ext2_fs *fs, uint32_t ptr, const uint32_t idx[3], int levels, bool nonblock,
                uint32_t *out, int *level)
{
    int d = 0;
    for (; d < levels && ptr; d++) {
        struct ext2_blk b;
        int r = nonblock ? ext2_bread_nb(fs, ptr, &b) : ext2_bread(fs, ptr, &b);
        if (r)
            return r;
        ptr = ((const uint32_t *)b.p)[idx[d]];
        ext2_brelse(&b);
    }
    *out = ptr;
    if (level)
        *level = d;
    return 0;
}

int ext2_bmap(struct ext2_fs *fs, const struct ext2_inode *in, uint64_t lblk, uint32_t *pblk, bool nonblock)
{
    uint32_t slot, idx[3], ptr;
    int depth = map_path(fs, lblk, &slot, idx);
    if (depth < 0)
        return depth;
    int r = walk(fs, in->i_block[slot], idx, depth, nonblock, &ptr, NULL);
    if (r)
        return r;
    if (ptr && !ext2_block_valid(fs, ptr))
        return -FS_EUCLEAN;
    *pblk = ptr;
    return 0;
}

/* Maps up to n blocks from lblk into pblk[] (0 for holes), reading each indirect block
 * once for the run of entries it holds: the mount maps a whole journal with it.  Returns
 * how many it mapped (at least 1 if n is), or an error. */
int ext2_bmap_run(struct ext2_fs *fs, const struct ext2_inode *in, uint64_t lblk, uint32_t n,
                  uint32_t *pblk)
{
    uint32_t slot, idx[3];
    int depth = map_path(fs, lblk, &slot, idx);
    if (depth < 0)
        return depth;
    if (n == 0)
        return 0;
    if (depth == 0) {
        uint32_t k = 0;
        for (; k < n && slot + k < EXT2_NDIR_BLOCKS; k++)
            pblk[k] = in->i_block[slot + k];
        for (uint32_t i = 0; i < k; i++)
            if (pblk[i] && !ext2_block_valid(fs, pblk[i]))
                return -FS_EUCLEAN;
        return (int)k;
    }
    uint32_t ptr;
    int r = walk(fs, in->i_block[slot], idx, depth - 1, false, &ptr, NULL);
    if (r)
        return r;
    uint32_t first = idx[depth - 1], k = fs->ptrs_per_block - first;
    if (k > n)
        k = n;
    if (!ptr) {                                 /* the whole run is a hole */
        memset(pblk, 0, sizeof *pblk * k);
        return (int)k;
    }
    struct ext2_blk b;
    r = ext2_bread(fs, ptr, &b);
    if (r)
        return r;
    memcpy(pblk, (const uint32_t *)b.p + first, sizeof *pblk * k);
    ext2_brelse(&b);
    for (uint32_t i = 0; i < k; i++)
        if (pblk[i] && !ext2_block_valid(fs, pblk[i]))
            return -FS_EUCLEAN;
    return (int)k;
}

/* Blocks that mapping lblk would have to allocate (0 if mapped). */
static int blocks_needed(struct ext2_fs *fs, const struct ext2_inode *in, int depth, uint32_t slot,
                         const uint32_t idx[3], uint32_t *need)
{
    uint32_t ptr;
    int d, r = walk(fs, in->i_block[slot], idx, depth, false, &ptr, &d);
    if (r)
        return r;
    *need = ptr ? 0 : (uint32_t)(depth - d + 1);   /* the pointer missing at level d, and all below */
    return 0;
}

/* Where to look for a free block for lblk: right after the block before
 * it, else at the start of the inode's group. */
static uint32_t alloc_goal(struct ext2_fs *fs, uint32_t ino, const struct ext2_inode *in, uint64_t lblk)
{
    uint32_t prev = 0;
    if (lblk > 0 && ext2_bmap(fs, in, lblk - 1, &prev, false) == 0 && prev &&
        prev + 1 < fs->blocks_count)
        return prev + 1;
    return fs->first_data_block + ext2_group_of_inode(fs, ino) * fs->blocks_per_group;
}

/* Maps lblk, allocating the data block and any missing indirect blocks
 * (all zero-filled; a new data block then filled by fill(arg, p) if given).
 * Checks first that enough blocks are free, so that a full disk never leaves
 * half-built indirect chains.  The caller holds fs->lock and writes *in back
 * afterwards.
 * order: a new indirect block, and a new data block given contents by fill
 * (directories, symlinks), is durable before the pointer to it is set in its
 * parent (ext2_order.c rule 1); a file's data block is not (only its FSYNC
 * orders it). */
int ext2_bmap_alloc_fill(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint64_t lblk,
                         void (*fill)(void *arg, uint8_t *p), void *arg, uint32_t *pblk)
{
    uint32_t slot, idx[3], need;
    int depth = map_path(fs, lblk, &slot, idx);
    if (depth < 0)
        return depth;
    int r = blocks_needed(fs, in, depth, slot, idx, &need);
    if (r)
        return r;
    if (need > fs->sb->s_free_blocks_count)
        return -FS_ENOSPC;
    uint32_t goal = need ? alloc_goal(fs, ino, in, lblk) : 0;

    struct ext2_blk parent = { 0 };
    uint32_t ptr = 0;
    for (int d = 0; d <= depth; d++) {
        uint32_t *loc = d == 0 ? &in->i_block[slot] : &((uint32_t *)parent.p)[idx[d - 1]];
        struct ext2_blk child = { 0 };
        ptr = *loc;
        if (!ptr) {
            r = ext2_alloc_block(fs, goal, &ptr);
            if (r == 0 && fs->j)
                ext2_journal_allocated(fs);     /* what makes a background commit due */
            if (r == 0)
                r = d == depth && !fill ? ext2_bnew_data(fs, ptr, &child) : ext2_bnew(fs, ptr, &child);
            if (r == 0 && d == depth && fill) {
                fill(arg, child.p);
                ext2_bdirty(&child);
            }
            if (r == 0 && (d < depth || fill))
                r = ext2_order_barrier(fs, &ptr, 1);
            if (r) {
                ext2_brelse(&child);
                ext2_brelse(&parent);
                return r;
            }
            goal = ptr + 1;
            *loc = ptr;
            if (d > 0)
                ext2_bdirty(&parent);
            in->i_blocks += fs->block_size / 512;
        } else if (!ext2_block_valid(fs, ptr)) {
            ext2_brelse(&parent);
            return -FS_EUCLEAN;
        } else if (d < depth) {
            r = ext2_bread(fs, ptr, &child);
            if (r) {
                ext2_brelse(&parent);
                return r;
            }
        }
        ext2_brelse(&parent);
        parent = child;
    }
    ext2_brelse(&parent);
    *pblk = ptr;
    return 0;
}

int ext2_bmap_alloc(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint64_t lblk, uint32_t *pblk)
{
    return ext2_bmap_alloc_fill(fs, ino, in, lblk, NULL, NULL, pblk);
}

/* Frees the blocks that map logical blocks >= first in the subtree whose
 * root pointer is *loc: level 0 is a data block, level L an indirect block
 * L levels above the data.  base is the first logical block of the subtree.
 * holder is the indirect block containing loc (NULL: the inode). */
static int trunc_tree(struct ext2_fs *fs, struct ext2_inode *in, uint32_t *loc, int level, uint64_t base,
                      uint64_t first, struct ext2_blk *holder)
{
    uint32_t blk = *loc;
    uint64_t span = 1;
    for (int i = 0; i < level; i++)
        span *= fs->ptrs_per_block;
    if (!blk || base + span <= first)
        return 0;
    if (!ext2_block_valid(fs, blk))
        return -FS_EUCLEAN;
    if (level > 0) {
        struct ext2_blk b;
        int r = ext2_bread(fs, blk, &b);
        if (r)
            return r;
        uint64_t child_span = span / fs->ptrs_per_block;
        for (uint32_t i = 0; i < fs->ptrs_per_block; i++) {
            uint64_t child_base = base + i * child_span;
            if (child_base + child_span <= first)
                continue;
            r = trunc_tree(fs, in, &((uint32_t *)b.p)[i], level - 1, child_base, first, &b);
            if (r) {
                ext2_brelse(&b);
                return r;
            }
        }
        ext2_brelse(&b);
    }
    if (base >= first) {
        /* order: the block is free for others only once the pointer's removal is
         * durable (ext2_order.c rule 4): the holder is noted, the inode by ext2_iput */
        int r = ext2_free_block_later(fs, blk);
        if (r)
            return r;
        *loc = 0;
        if (holder) {
            ext2_bdirty(holder);
            ext2_order_note_blk(fs, holder);
        }
        uint32_t sectors = fs->block_size / 512;
        in->i_blocks = in->i_blocks >= sectors ? in->i_blocks - sectors : 0;
    }
    return 0;
}

int ext2_free_blocks_from(struct ext2_fs *fs, struct ext2_inode *in, uint64_t first)
{
    uint64_t p = fs->ptrs_per_block;
    int r = 0;
    for (uint32_t i = 0; i < EXT2_NDIR_BLOCKS && !r; i++)
        r = trunc_tree(fs, in, &in->i_block[i], 0, i, first, NULL);
    if (!r)
        r = trunc_tree(fs, in, &in->i_block[EXT2_IND_BLOCK], 1, EXT2_NDIR_BLOCKS, first, NULL);
    if (!r)
        r = trunc_tree(fs, in, &in->i_block[EXT2_DIND_BLOCK], 2, EXT2_NDIR_BLOCKS + p, first, NULL);
    if (!r)
        r = trunc_tree(fs, in, &in->i_block[EXT2_TIND_BLOCK], 3, EXT2_NDIR_BLOCKS + p + p * p, first, NULL);
    return r;
}
