/* ext2_alloc.c - block and inode bitmaps, and the free counts in the
 * group descriptors and superblock that must always agree with them.
 * Callers hold fs->lock. */
#include "ext2_internal.h"

uint32_t ext2_group_of_inode(struct ext2_fs *fs, uint32_t ino)
{
    return (ino - 1) / fs->inodes_per_group;
}

static uint32_t blocks_in_group(struct ext2_fs *fs, uint32_t g)
{
    uint32_t start = fs->first_data_block + g * fs->blocks_per_group;
    uint32_t n = fs->blocks_count - start;
    return n < fs->blocks_per_group ? n : fs->blocks_per_group;
}

/* First clear bit in [from, to) of bitmap p, or -1. */
static int64_t find_clear(const uint8_t *p, uint32_t from, uint32_t to);

/* First block of group g free in bitmap p, not freed by a journal transaction that is not
 * durable yet (ext2_jtrans.c), and not the superblock or the descriptors (a corrupt bitmap
 * may have them free: found by fuzz_ext2), or -1. */
static int64_t find_free(struct ext2_fs *fs, uint32_t g, const uint8_t *p, uint32_t from, uint32_t to)
{
    int64_t bit = find_clear(p, from, to);
    while (bit >= 0 && ((fs->j && ext2_journal_busy(fs, g, (uint32_t)bit)) ||
                        !ext2_block_valid(fs, fs->first_data_block + g * fs->blocks_per_group + (uint32_t)bit)))
        bit = find_clear(p, (uint32_t)bit + 1, to);
    return bit;
}

static int64_t find_clear(const uint8_t *p, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to;) {
        if ((i & 7) == 0 && i + 8 <= to && p[i / 8] == 0xFF) {
            i += 8;
            continue;
        }
        if (!(p[i / 8] & (1u << (i & 7))))
            return i;
        i++;
    }
    return -1;
}

int ext2_alloc_block(struct ext2_fs *fs, uint32_t goal, uint32_t *blk)
{
    if (fs->sb->s_free_blocks_count == 0)
        return -FS_ENOSPC;
    if (goal < fs->first_data_block || goal >= fs->blocks_count)
        goal = fs->first_data_block;
    uint32_t g0 = (goal - fs->first_data_block) / fs->blocks_per_group;
    uint32_t start = (goal - fs->first_data_block) % fs->blocks_per_group;

    for (uint32_t k = 0; k <= fs->ngroups; k++) {
        uint32_t g = (g0 + k) % fs->ngroups;
        struct ext2_group_desc *gd = ext2_gd(fs, g);
        if (gd->bg_free_blocks_count == 0)
            continue;
        struct ext2_blk bm;
        int r = ext2_bread(fs, gd->bg_block_bitmap, &bm);
        if (r)
            return r;
        uint32_t n = blocks_in_group(fs, g);
        int64_t bit = -1;
        if (k == 0)
            bit = find_free(fs, g, bm.p, start < n ? start : 0, n);
        if (bit < 0)
            bit = find_free(fs, g, bm.p, 0, n);
        if (bit < 0) {
            ext2_brelse(&bm);
            continue;       /* descriptor count was wrong; keep looking */
        }
        bm.p[bit / 8] |= (uint8_t)(1u << (bit & 7));
        ext2_bdirty(&bm);
        ext2_brelse(&bm);
        gd->bg_free_blocks_count--;
        ext2_gd_dirty(fs, g);
        fs->sb->s_free_blocks_count--;
        ext2_sb_dirty(fs);
        *blk = fs->first_data_block + g * fs->blocks_per_group + (uint32_t)bit;
        return 0;
    }
    return -FS_ENOSPC;
}

int ext2_free_block(struct ext2_fs *fs, uint32_t blk)
{
    if (!ext2_block_valid(fs, blk))
        return -FS_EUCLEAN;
    uint32_t g = (blk - fs->first_data_block) / fs->blocks_per_group;
    uint32_t bit = (blk - fs->first_data_block) % fs->blocks_per_group;
    struct ext2_group_desc *gd = ext2_gd(fs, g);
    struct ext2_blk bm;
    int r = ext2_bread(fs, gd->bg_block_bitmap, &bm);
    if (r)
        return r;
    if (!(bm.p[bit / 8] & (1u << (bit & 7)))) {
        ext2_brelse(&bm);
        fs_log("ext2: freeing free block %u\n", blk);
        return -FS_EUCLEAN;
    }
    if (fs->j)
        ext2_journal_freed(fs, g, bm.p, bit, blk);
    bm.p[bit / 8] &= (uint8_t)~(1u << (bit & 7));
    ext2_bdirty(&bm);
    ext2_brelse(&bm);
    /* Counts that a corrupt volume got wrong (more free than its bitmap) stay within
     * their totals: statfs never shows more free than there is. */
    if (gd->bg_free_blocks_count < fs->blocks_per_group)
        gd->bg_free_blocks_count++;
    ext2_gd_dirty(fs, g);
    if (fs->sb->s_free_blocks_count < fs->blocks_count)
        fs->sb->s_free_blocks_count++;
    ext2_sb_dirty(fs);
    return 0;
}

/* Directories go to the group with the most free inodes (spreading the
 * tree); files stay with their parent. */
static uint32_t inode_group_goal(struct ext2_fs *fs, uint32_t parent, bool is_dir)
{
    if (!is_dir)
        return ext2_group_of_inode(fs, parent);
    uint32_t best = 0, best_free = 0;
    for (uint32_t g = 0; g < fs->ngroups; g++) {
        struct ext2_group_desc *gd = ext2_gd(fs, g);
        if (gd->bg_free_inodes_count > best_free && gd->bg_free_blocks_count > 0) {
            best = g;
            best_free = gd->bg_free_inodes_count;
        }
    }
    return best;
}

int ext2_alloc_inode(struct ext2_fs *fs, uint32_t parent, bool is_dir, uint32_t *ino)
{
    if (fs->sb->s_free_inodes_count == 0)
        return -FS_ENOSPC;
    uint32_t g0 = inode_group_goal(fs, parent, is_dir);
    for (uint32_t k = 0; k < fs->ngroups; k++) {
        uint32_t g = (g0 + k) % fs->ngroups;
        struct ext2_group_desc *gd = ext2_gd(fs, g);
        if (gd->bg_free_inodes_count == 0)
            continue;
        struct ext2_blk bm;
        int r = ext2_bread(fs, gd->bg_inode_bitmap, &bm);
        if (r)
            return r;
        uint32_t from = g == 0 ? fs->first_ino - 1 : 0;
        int64_t bit = find_clear(bm.p, from, fs->inodes_per_group);
        if (bit < 0) {
            ext2_brelse(&bm);
            continue;
        }
        bm.p[bit / 8] |= (uint8_t)(1u << (bit & 7));
        ext2_bdirty(&bm);
        ext2_brelse(&bm);
        gd->bg_free_inodes_count--;
        if (is_dir)
            gd->bg_used_dirs_count++;
        ext2_gd_dirty(fs, g);
        fs->sb->s_free_inodes_count--;
        ext2_sb_dirty(fs);
        *ino = g * fs->inodes_per_group + (uint32_t)bit + 1;
        return 0;
    }
    return -FS_ENOSPC;
}

int ext2_free_inode(struct ext2_fs *fs, uint32_t ino, bool is_dir)
{
    if (ino < fs->first_ino || ino > fs->inodes_count)
        return -FS_EUCLEAN;
    uint32_t g = ext2_group_of_inode(fs, ino);
    uint32_t bit = (ino - 1) % fs->inodes_per_group;
    struct ext2_group_desc *gd = ext2_gd(fs, g);
    struct ext2_blk bm;
    int r = ext2_bread(fs, gd->bg_inode_bitmap, &bm);
    if (r)
        return r;
    if (!(bm.p[bit / 8] & (1u << (bit & 7)))) {
        ext2_brelse(&bm);
        fs_log("ext2: freeing free inode %u\n", ino);
        return -FS_EUCLEAN;
    }
    bm.p[bit / 8] &= (uint8_t)~(1u << (bit & 7));
    ext2_bdirty(&bm);
    ext2_brelse(&bm);
    if (gd->bg_free_inodes_count < fs->inodes_per_group)	/* as for blocks */
        gd->bg_free_inodes_count++;
    if (is_dir && gd->bg_used_dirs_count)
        gd->bg_used_dirs_count--;
    ext2_gd_dirty(fs, g);
    if (fs->sb->s_free_inodes_count < fs->inodes_count)
        fs->sb->s_free_inodes_count++;
    ext2_sb_dirty(fs);
    return 0;
}
