/* ext2_super.c - mount (superblock and group descriptor checks), unmount,
 * sync, statfs, and the fs-wide change lock.
 *
 * Clean flag, as Linux keeps it: a writable mount clears EXT2_VALID_FS in
 * s_state on disk (written before anything else), counts the mount and
 * stamps s_mtime; a clean shutdown puts back the state found at mount
 * (VALID_FS if it was clean) with s_wtime.  So a volume not cleanly
 * unmounted stays "not clean" until e2fsck checks it.  Read-only mounts
 * never write the superblock. */
#include "ext2_internal.h"
#include "jbd2_format.h"

static int fail(const char *why)
{
    fs_log("ext2: refusing to mount: %s\n", why);
    return -FS_EUCLEAN;
}

static bool is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

/* Checks the superblock fields everything else relies on and fills fs. */
static int load_super(struct ext2_fs *fs, unsigned flags)
{
    struct ext2_super *sb = fs->sb;
    uint64_t dev_bytes = bcache_nblocks(fs->bc) * (uint64_t)BCACHE_BLOCK_SIZE;

    if (sb->s_magic != EXT2_MAGIC)
        return fail("bad magic (not ext2)");
    if (sb->s_rev_level > 1)
        return fail("unknown revision");
    if (sb->s_log_block_size > 2)
        return fail("block size not 1, 2 or 4 KiB");
    fs->block_size = 1024u << sb->s_log_block_size;
    fs->ptrs_per_block = fs->block_size / 4;
    fs->rev = sb->s_rev_level;
    fs->blocks_count = sb->s_blocks_count;
    fs->inodes_count = sb->s_inodes_count;
    fs->first_data_block = sb->s_first_data_block;
    fs->blocks_per_group = sb->s_blocks_per_group;
    fs->inodes_per_group = sb->s_inodes_per_group;

    if (fs->rev == 0) {
        fs->inode_size = EXT2_GOOD_OLD_INODE_SIZE;
        fs->first_ino = EXT2_GOOD_OLD_FIRST_INO;
    } else {
        fs->inode_size = sb->s_inode_size;
        fs->first_ino = sb->s_first_ino;
        uint32_t unknown = sb->s_feature_incompat & ~EXT2_SUPPORTED_INCOMPAT;
        if (unknown) {
            fs_log("ext2: refusing to mount: unsupported INCOMPAT features 0x%x\n", unknown);
            return -FS_ENOTSUP;
        }
        unknown = sb->s_feature_ro_compat & ~EXT2_SUPPORTED_RO_COMPAT;
        if (unknown && !(flags & EXT2_MOUNT_RDONLY)) {
            fs_log("ext2: unsupported RO_COMPAT features 0x%x: mounting read-only\n", unknown);
            fs->read_only = true;
        }
    }
    if (fs->first_data_block != (fs->block_size == 1024 ? 1u : 0u))
        return fail("bad first data block");
    if (fs->blocks_count <= fs->first_data_block + 1)
        return fail("bad block count");
    if ((uint64_t)fs->blocks_count * fs->block_size > dev_bytes)
        return fail("file system larger than the device");
    if (fs->blocks_per_group == 0 || fs->blocks_per_group > 8 * fs->block_size ||
        fs->blocks_per_group % 8)
        return fail("bad blocks per group");
    if (fs->inodes_per_group == 0 || fs->inodes_per_group > 8 * fs->block_size)
        return fail("bad inodes per group");
    if (fs->inode_size < EXT2_GOOD_OLD_INODE_SIZE || fs->inode_size > fs->block_size ||
        !is_pow2(fs->inode_size))
        return fail("bad inode size");
    fs->ngroups = (fs->blocks_count - fs->first_data_block + fs->blocks_per_group - 1) /
                  fs->blocks_per_group;
    if ((uint64_t)fs->ngroups * fs->inodes_per_group != fs->inodes_count)
        return fail("inode count does not match groups");
    if (fs->first_ino <= EXT2_ROOT_INO || fs->first_ino >= fs->inodes_count)
        return fail("bad first inode");
    if (sb->s_free_blocks_count > fs->blocks_count || sb->s_free_inodes_count > fs->inodes_count)
        return fail("bad free counts");
    fs->inode_table_blocks = (uint32_t)(((uint64_t)fs->inodes_per_group * fs->inode_size +
                                          fs->block_size - 1) / fs->block_size);

    /* The largest offset the block map and i_blocks (32-bit, 512-byte
     * units) can describe, and 2 GiB without large_file support. */
    uint64_t p = fs->ptrs_per_block;
    uint64_t max_blocks = EXT2_NDIR_BLOCKS + p + p * p + p * p * p;
    uint64_t max_by_iblocks = ((1ull << 32) / (fs->block_size / 512)) * 1015 / 1024;
    if (max_blocks > max_by_iblocks)
        max_blocks = max_by_iblocks;
    fs->max_file_size = max_blocks * fs->block_size;
    if (fs->rev == 0)
        fs->max_file_size = 0x7FFFFFFF;
    return 0;
}

struct ext2_group_desc *ext2_gd(struct ext2_fs *fs, uint32_t group)
{
    uint64_t off = (uint64_t)fs->gdt_block * fs->block_size + (uint64_t)group * 32;
    uint64_t first = (uint64_t)fs->gdt_block * fs->block_size / BCACHE_BLOCK_SIZE;
    uint32_t i = (uint32_t)(off / BCACHE_BLOCK_SIZE - first);
    return (struct ext2_group_desc *)(fs->gdt_bufs[i]->data + off % BCACHE_BLOCK_SIZE);
}

void ext2_gd_dirty(struct ext2_fs *fs, uint32_t group)
{
    uint64_t off = (uint64_t)fs->gdt_block * fs->block_size + (uint64_t)group * 32;
    uint64_t first = (uint64_t)fs->gdt_block * fs->block_size / BCACHE_BLOCK_SIZE;
    struct bcache_buf *b = fs->gdt_bufs[off / BCACHE_BLOCK_SIZE - first];
    if (fs->j)
        ext2_journal_meta(fs, b, (uint32_t)(off / fs->block_size));
    bcache_mark_dirty(b);
}

void ext2_sb_dirty(struct ext2_fs *fs)
{
    if (fs->j)
        ext2_journal_meta(fs, fs->sb_buf, EXT2_SUPER_OFFSET / fs->block_size);
    bcache_mark_dirty(fs->sb_buf);
}

static bool range_ok(struct ext2_fs *fs, uint32_t start, uint32_t n)
{
    return start >= fs->first_data_block && start < fs->blocks_count &&
           n <= fs->blocks_count - start;
}

/* Loads and pins the group descriptor table, checking every descriptor. */
static int load_groups(struct ext2_fs *fs)
{
    uint64_t start = (uint64_t)fs->gdt_block * fs->block_size;
    uint64_t end = start + (uint64_t)fs->ngroups * 32;
    uint64_t first = start / BCACHE_BLOCK_SIZE, last = (end - 1) / BCACHE_BLOCK_SIZE;
    uint32_t gdt_fs_blocks = (uint32_t)((end - start + fs->block_size - 1) / fs->block_size);

    if (!range_ok(fs, fs->gdt_block, gdt_fs_blocks))
        return fail("group descriptors past the end");
    fs->gdt_end = fs->gdt_block + gdt_fs_blocks;
    fs->gdt_nbufs = (uint32_t)(last - first + 1);
    fs->gdt_bufs = fs_alloc(sizeof(*fs->gdt_bufs) * fs->gdt_nbufs);
    if (!fs->gdt_bufs)
        return -FS_ENOMEM;
    memset(fs->gdt_bufs, 0, sizeof(*fs->gdt_bufs) * fs->gdt_nbufs);
    for (uint32_t i = 0; i < fs->gdt_nbufs; i++) {
        int r = bcache_read(fs->bc, first + i, &fs->gdt_bufs[i]);
        if (r)
            return r;
    }
    uint64_t free_blocks = 0, free_inodes = 0;
    for (uint32_t g = 0; g < fs->ngroups; g++) {
        struct ext2_group_desc *gd = ext2_gd(fs, g);
        if (!range_ok(fs, gd->bg_block_bitmap, 1) || !range_ok(fs, gd->bg_inode_bitmap, 1) ||
            !range_ok(fs, gd->bg_inode_table, fs->inode_table_blocks))
            return fail("group descriptor points outside the file system");
        if (gd->bg_block_bitmap < fs->gdt_end || gd->bg_inode_bitmap < fs->gdt_end ||
            gd->bg_inode_table < fs->gdt_end)
            return fail("group descriptor points at the superblock or the descriptors");
        if (gd->bg_free_blocks_count > fs->blocks_per_group ||
            gd->bg_free_inodes_count > fs->inodes_per_group ||
            gd->bg_used_dirs_count > fs->inodes_per_group)
            return fail("bad group descriptor counts");
        free_blocks += gd->bg_free_blocks_count;
        free_inodes += gd->bg_free_inodes_count;
    }
    if (free_blocks > fs->blocks_count || free_inodes > fs->inodes_count)
        return fail("group free counts exceed totals");
    return 0;
}

static void release_pins(struct ext2_fs *fs)
{
    ext2_order_fini(fs);
    for (uint32_t i = 0; fs->gdt_bufs && i < fs->gdt_nbufs; i++)
        bcache_release(fs->gdt_bufs[i]);
    fs_free(fs->gdt_bufs);
    bcache_release(fs->sb_buf);
}

int ext2_mount(struct bcache *bc, unsigned flags, struct ext2_fs **out)
{
    struct ext2_fs *fs = fs_alloc(sizeof *fs);
    int r;

    if (!fs)
        return -FS_ENOMEM;
    memset(fs, 0, sizeof *fs);
    fs->bc = bc;
    fs_mutex_init(&fs->lock);
    fs->read_only = (flags & EXT2_MOUNT_RDONLY) != 0;
    if (bcache_nblocks(bc) < 1) {
        fs_free(fs);
        return -FS_EINVAL;
    }
    /* twice when an ext3 journal was replayed: then on the replayed metadata */
    for (int pass = 0;; pass++) {
        r = bcache_read(bc, 0, &fs->sb_buf);
        if (r) {
            fs_free(fs);
            return r;
        }
        fs->sb = (struct ext2_super *)(fs->sb_buf->data + EXT2_SUPER_OFFSET);
        fs->gdt_bufs = NULL;
        r = load_super(fs, flags);
        if (r == 0) {
            fs->gdt_block = fs->first_data_block + 1;
            r = load_groups(fs);
        }
        if (r == 0)
            r = ext2_order_init(fs);
        if (r == 0) {
            /* the root must be a directory */
            struct ext2_inode root;
            r = ext2_iget(fs, EXT2_ROOT_INO, &root);
            if (r == 0 && (root.i_mode & EXT2_S_IFMT) != EXT2_S_IFDIR)
                r = fail("root is not a directory");
        }
        if (r == 0)
            r = ext2_journal_mount(fs, !fs->read_only);
        if (r == 1 && pass == 0) {
            release_pins(fs);
            continue;
        }
        if (r == 1)
            r = fail("journal still needs recovery after its replay");
        if (r) {
            ext2_journal_free(fs);
            release_pins(fs);
            fs_free(fs);
            return r;
        }
        break;
    }
    if ((fs->sb->s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL) && !(fs->sb->s_state & EXT2_VALID_FS)) {
        /* ext3: the journal (replayed above if it held work) makes the volume consistent */
        fs_log("ext3: volume was not cleanly unmounted: consistent after its journal\n");
        fs->sb->s_state |= EXT2_VALID_FS;
    }
    fs->mount_state = fs->sb->s_state;
    if (r == 0)
        (void)ext2_orphans_mount(fs);   /* a crash's unlinked-while-open files */
    fs->was_clean = (fs->sb->s_state & EXT2_VALID_FS) != 0;
    fs->st.unclean_mount = !fs->was_clean;
    if (!fs->was_clean)
        fs_log("ext2: file system was not cleanly unmounted; run e2fsck\n");
    else if (fs->sb->s_state & EXT2_ERROR_FS)
        fs_log("ext2: mounting a file system with errors; run e2fsck\n");
    fs->st.mount_count = fs->sb->s_mnt_count;
    if (!fs->read_only) {
        fs_mutex_lock(&fs->lock);
        ext2_super_mark_mounted(fs);
        if (fs->j)
            fs->sb->s_feature_incompat |= EXT2_FEATURE_INCOMPAT_RECOVER;
        fs_mutex_unlock(&fs->lock);
        r = bcache_sync(bc);    /* the "in use" mark must reach the disk */
        if (r) {
            ext2_journal_free(fs);
            release_pins(fs);
            fs_free(fs);
            return r;
        }
        ext2_journal_begin(fs);
    }
    *out = fs;
    return 0;
}

/* A writable mount begins: the superblock says "in use".  fs->lock held. */
void ext2_super_mark_mounted(struct ext2_fs *fs)
{
    struct ext2_super *sb = fs->sb;
    /* only warnings, as in Linux: the mount goes ahead */
    if (sb->s_max_mnt_count > 0 && sb->s_mnt_count >= (uint16_t)sb->s_max_mnt_count)
        fs_log("ext2: maximal mount count reached, running e2fsck is recommended\n");
    else if (sb->s_checkinterval && sb->s_lastcheck + sb->s_checkinterval <= fs_time_now())
        fs_log("ext2: checktime reached, running e2fsck is recommended\n");
    if (sb->s_max_mnt_count == 0)
        sb->s_max_mnt_count = EXT2_DFL_MAX_MNT_COUNT;   /* as Linux sets it */
    sb->s_mnt_count++;
    sb->s_mtime = fs_time_now();
    sb->s_state &= (uint16_t)~EXT2_VALID_FS;
    fs->st.mount_count = sb->s_mnt_count;
    ext2_sb_dirty(fs);
}

/* A clean unmount: the state found at mount comes back (VALID_FS only if it
 * was clean then) and s_wtime says when.  fs->lock held. */
void ext2_super_mark_clean(struct ext2_fs *fs)
{
    fs->sb->s_state = fs->mount_state;
    fs->sb->s_wtime = fs_time_now();
    ext2_sb_dirty(fs);
}

int ext2_sync(struct ext2_fs *fs)
{
    if (ext2_journal_writing(fs)) {
        /* ext3: the running transaction committed */
        int jr = fs->read_only ? 0 : ext2_journal_sync(fs);
        __atomic_fetch_add(&fs->st.syncs, 1, __ATOMIC_RELAXED);
        return jr;
    }
    uint32_t gen;
    uint32_t written = 0;
    fs_mutex_lock(&fs->lock);
    if (!fs->read_only) {
        fs->sb->s_wtime = fs_time_now();
        ext2_sb_dirty(fs);
    }
    gen = ++fs->sync_gen;
    fs_mutex_unlock(&fs->lock);
    int r = bcache_sync_counted(fs->bc, &written);
    __atomic_fetch_add(&fs->st.syncs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&fs->st.sync_blocks, written, __ATOMIC_RELAXED);
    __atomic_store_n(&fs->st.sync_last_blocks, written, __ATOMIC_RELAXED);
    if (r == 0)
        ext2_fsync_volume_synced(fs, gen);
    return r;
}

/* Changes that already passed their read-only check finish first (they hold
 * fs->lock); later ones get -EROFS.  A change that slips in anyway (it read
 * read_only before this and took the lock after) marks the superblock not
 * clean again in ext2_change_begin. */
int ext2_shutdown(struct ext2_fs *fs)
{
    fs_mutex_lock(&fs->lock);
    bool was_writable = !fs->read_only;
    fs_mutex_unlock(&fs->lock);
    if (was_writable)
        ext2_orphans_shutdown(fs);      /* open files without a name: freed, as at unmount */
    fs_mutex_lock(&fs->lock);
    was_writable = !fs->read_only;
    if (was_writable && !fs->stopped) {
        if (ext2_journal_stop_locked(fs))       /* the log home and empty */
            fs->mount_state &= (uint16_t)~EXT2_VALID_FS;
        ext2_super_mark_clean(fs);
        fs->stopped = true;
    }
    fs->read_only = true;
    fs_mutex_unlock(&fs->lock);
    return was_writable ? ext2_sync(fs) : 0;
}

int ext2_unmount(struct ext2_fs *fs)
{
    int r = ext2_shutdown(fs);
    ext2_orphans_unmount(fs);       /* the table; shutdown freed the open orphans */
    ext2_journal_free(fs);
    release_pins(fs);
    fs_free(fs);
    return r;
}

bool ext2_is_read_only(struct ext2_fs *fs)
{
    return fs->read_only;
}

uint32_t ext2_block_size(struct ext2_fs *fs)
{
    return fs->block_size;
}

int ext2_statfs(struct ext2_fs *fs, struct ext2_statfs *st)
{
    struct ext2_super *sb = fs->sb;
    st->block_size = fs->block_size;
    st->blocks = fs->blocks_count;
    st->free_blocks = sb->s_free_blocks_count;
    st->avail_blocks = sb->s_free_blocks_count > sb->s_r_blocks_count ?
                       sb->s_free_blocks_count - sb->s_r_blocks_count : 0;
    st->inodes = fs->inodes_count;
    st->free_inodes = sb->s_free_inodes_count;
    st->name_max = EXT2_NAME_MAX;
    st->read_only = fs->read_only;
    return 0;
}

/* Changes run one at a time under fs->lock; seq is odd meanwhile so that
 * lock-free readers can tell they may have seen a half-made change. */
void ext2_change_begin(struct ext2_fs *fs)
{
    if (fs->j)
        ext2_journal_throttle(fs);      /* before the lock: a writer ahead of the disk waits */
    fs_mutex_lock(&fs->lock);
    __atomic_add_fetch(&fs->seq, 1, __ATOMIC_ACQ_REL);
    if (fs->stopped) {
        /* a change after ext2_shutdown: the volume is in use again */
        fs->sb->s_state &= (uint16_t)~EXT2_VALID_FS;
        ext2_sb_dirty(fs);
    }
    if (fs->j)
        ext2_journal_change_begin(fs);  /* room in the log; a commit if one is due */
}

void ext2_change_end(struct ext2_fs *fs)
{
    /* order: what this change freed becomes free only now, after a barrier on the blocks
     * that dropped their pointers to it (ext2_order.c rule 4) */
    (void)ext2_order_commit(fs);
    __atomic_add_fetch(&fs->seq, 1, __ATOMIC_ACQ_REL);
    fs_mutex_unlock(&fs->lock);
}

uint32_t ext2_seq_read(struct ext2_fs *fs)
{
    return __atomic_load_n(&fs->seq, __ATOMIC_ACQUIRE);
}
