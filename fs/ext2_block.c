/* ext2_block.c - access to one fs block inside a 4 KiB cache buffer.
 * An fs block of 1, 2 or 4 KiB lies wholly inside cache block
 * blk * block_size / 4096, at offset blk * block_size % 4096. */
#include "ext2_internal.h"

/* A block a pointer on the volume may name: inside the volume and past the superblock
 * and the group descriptors, which stay pinned in the cache (a corrupt pointer to them
 * would have file data written over the in-memory superblock). */
bool ext2_block_valid(struct ext2_fs *fs, uint32_t blk)
{
    uint32_t low = fs->gdt_end ? fs->gdt_end : fs->first_data_block + 1;
    return blk >= low && blk < fs->blocks_count && blk != 0;
}

static int get(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out, int mode)
{
    uint64_t byte = (uint64_t)blk * fs->block_size;
    uint64_t cblk = byte / BCACHE_BLOCK_SIZE;
    int r;

    out->buf = NULL;
    out->p = NULL;
    out->fs = fs;
    if (!ext2_block_valid(fs, blk))
        return -FS_EUCLEAN;
    if (mode == 1)
        r = bcache_lookup_nb(fs->bc, cblk, &out->buf);
    else if (mode == 2 && fs->block_size == BCACHE_BLOCK_SIZE)
        r = bcache_get_noread(fs->bc, cblk, &out->buf);
    else
        r = bcache_read(fs->bc, cblk, &out->buf);
    if (r)
        return r;
    out->p = out->buf->data + byte % BCACHE_BLOCK_SIZE;
    return 0;
}

int ext2_bread(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out)
{
    return get(fs, blk, out, 0);
}

int ext2_bread_nb(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out)
{
    return get(fs, blk, out, 1);
}

/* A freshly allocated block: its old contents do not matter, so a whole
 * cache block is not read from disk; the fs block comes back zeroed and
 * marked dirty, as metadata or (data) as file data for the journal. */
static int bnew(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out, bool data)
{
    int r = get(fs, blk, out, 2);
    if (r)
        return r;
    memset(out->p, 0, fs->block_size);
    if (data)
        ext2_bdirty_data(out);
    else
        ext2_bdirty(out);
    return 0;
}

int ext2_bnew(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out)
{
    return bnew(fs, blk, out, false);
}

/* The same for a new file data block. */
int ext2_bnew_data(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out)
{
    return bnew(fs, blk, out, true);
}

/* The fs block b holds. */
static uint32_t blk_of(struct ext2_blk *b)
{
    uint64_t byte = b->buf->blockno * BCACHE_BLOCK_SIZE + (uint64_t)(b->p - b->buf->data);
    return (uint32_t)(byte / b->fs->block_size);
}

/* A block the caller is about to overwrite completely: with 4 KiB blocks
 * it is not read from disk first. */
int ext2_bget_overwrite(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out)
{
    return get(fs, blk, out, 2);
}

void ext2_brelse(struct ext2_blk *b)
{
    if (b->buf)
        bcache_release(b->buf);
    b->buf = NULL;
    b->p = NULL;
}

void ext2_bdirty(struct ext2_blk *b)
{
    if (b->fs->j)
        ext2_journal_meta(b->fs, b->buf, blk_of(b));
    bcache_mark_dirty(b->buf);
}

void ext2_bdirty_data(struct ext2_blk *b)
{
    if (b->fs->j)
        ext2_journal_data(b->fs, blk_of(b));
    bcache_mark_dirty(b->buf);
}
