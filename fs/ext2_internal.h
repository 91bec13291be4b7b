/* ext2_internal.h - shared between the ext2_*.c files; not for users. */
#ifndef FS_EXT2_INTERNAL_H
#define FS_EXT2_INTERNAL_H

#include "ext2.h"
#include "ext2_format.h"
#include "fs_errno.h"

/* A file created since the last volume sync: its FSYNC also writes the entry
 * in parent and the parent's inode (ext2_fsync.c). */
struct ext2_new_file {
    uint32_t ino, parent;
    uint32_t sync_gen;              /* fs->sync_gen when it was created */
};
#define EXT2_NEW_FILES 64

struct ext2_fs {
    struct bcache *bc;
    struct fs_mutex lock;           /* serializes every change */
    uint32_t seq;                   /* odd while a change is in progress */
    bool read_only;                 /* set at mount; ext2_shutdown sets it under fs->lock.
                                     * Changes test it without the lock; one that passed the
                                     * test before shutdown finds `stopped` in change_begin */
    bool was_clean;                 /* s_state had VALID_FS at mount */
    uint16_t mount_state;           /* s_state found at mount (back at clean unmount) */

    uint32_t block_size, ptrs_per_block;
    uint32_t blocks_count, inodes_count, first_data_block;
    uint32_t blocks_per_group, inodes_per_group, ngroups;
    uint32_t inode_size, first_ino, rev;
    uint32_t inode_table_blocks;    /* per group */
    uint64_t max_file_size;

    struct bcache_buf *sb_buf;      /* pinned; superblock at +1024 */
    struct ext2_super *sb;
    uint32_t gdt_block;             /* first fs block of the descriptors */
    uint32_t gdt_end;               /* first fs block after them: no block below it (the
                                     * superblock and the descriptors) is ever file data,
                                     * an indirect block, a bitmap or an inode table */
    struct bcache_buf **gdt_bufs;   /* pinned cache blocks holding them */
    uint32_t gdt_nbufs;
    uint32_t alloc_group_hint;
    bool stopped;                   /* fs->lock: ext2_shutdown marked it clean */

    /* ext2_fsync.c, all under fs->lock */
    struct ext2_new_file new_files[EXT2_NEW_FILES];
    uint32_t new_files_next;        /* slot the next one takes (a ring) */
    bool new_files_lost;            /* one was pushed out before a volume sync */
    uint32_t new_files_lost_gen;    /* the sync_gen when that happened */
    uint32_t sync_gen;              /* volume syncs started */

    /* ext2_order.c, all under fs->lock: the blocks this change wrote that must be durable
     * before its deferred frees, and the frees (one map per group, NULL if none) */
#define EXT2_ORDER_NOTES 64
    uint64_t ord_notes[EXT2_ORDER_NOTES];   /* cache block numbers */
    uint32_t ord_nnotes;
    uint32_t ord_pending;           /* deferred frees in the maps */
    bool ord_error;                 /* an early barrier of the notes failed */
    uint8_t **ord_block_maps, **ord_inode_maps, **ord_dirs_maps;

    struct ext2_stats st;           /* atomic counters */
    struct ext2_journal *j;         /* ext3: the journal (ext2_journal.c); NULL: plain ext2 writes */
    struct ext2_open_ino **open_tab; /* lock: inodes open through the server (ext2_orphan.c) */
};

/* A lock-free reader found an unlinked inode: only under fs->lock can it tell an open
 * orphan from a freed inode (never returned to callers). */
#define EXT2_E_RETRY_LOCKED (-4096)

/* A fs block held in the cache: p points at it inside buf. */
struct ext2_blk {
    struct bcache_buf *buf;
    uint8_t *p;
    struct ext2_fs *fs;
};

/* ext2_super.c */
struct ext2_group_desc *ext2_gd(struct ext2_fs *fs, uint32_t group);
void ext2_gd_dirty(struct ext2_fs *fs, uint32_t group);
void ext2_sb_dirty(struct ext2_fs *fs);
void ext2_super_mark_mounted(struct ext2_fs *fs);
void ext2_super_mark_clean(struct ext2_fs *fs);
void ext2_change_begin(struct ext2_fs *fs);
void ext2_change_end(struct ext2_fs *fs);
uint32_t ext2_seq_read(struct ext2_fs *fs);

/* ext2_fsync.c */
void ext2_fsync_note_new(struct ext2_fs *fs, uint32_t ino, uint32_t parent);
void ext2_fsync_volume_synced(struct ext2_fs *fs, uint32_t gen);
int ext2_inode_block(struct ext2_fs *fs, uint32_t ino, uint32_t *blk);

/* ext2_journal.c, ext2_jtrans.c: the ext3 journal.  The hooks do nothing
 * without one (fs->j NULL); they are called with fs->lock held. */
struct ext2_journal;
int ext2_journal_mount(struct ext2_fs *fs, bool writable);
void ext2_journal_begin(struct ext2_fs *fs);
bool ext2_journal_writing(struct ext2_fs *fs);
void ext2_journal_free(struct ext2_fs *fs);
void ext2_journal_meta(struct ext2_fs *fs, struct bcache_buf *buf, uint32_t blk);  /* metadata dirtied */
void ext2_journal_data(struct ext2_fs *fs, uint32_t blk);                          /* file data dirtied */
void ext2_journal_freed(struct ext2_fs *fs, uint32_t g, const uint8_t *bitmap, uint32_t bit, uint32_t blk);
bool ext2_journal_busy(struct ext2_fs *fs, uint32_t g, uint32_t bit);             /* freed, not durable */
void ext2_journal_change_begin(struct ext2_fs *fs);
void ext2_journal_allocated(struct ext2_fs *fs);                                  /* a file block allocated */
/* Without fs->lock, before a change: waits while a writer is ahead of the disk (ext2_jtrans.c). */
void ext2_journal_throttle(struct ext2_fs *fs);
int ext2_journal_sync(struct ext2_fs *fs);
int ext2_journal_stop_locked(struct ext2_fs *fs);
void ext2_journal_get_stats(struct ext2_fs *fs, struct ext2_stats *st);

/* ext2_order.c: the order of writes on plain ext2 (the rules are at its top) */
int ext2_order_init(struct ext2_fs *fs);
void ext2_order_fini(struct ext2_fs *fs);
int ext2_order_barrier(struct ext2_fs *fs, const uint32_t *blks, uint32_t n);   /* write + flush now */
int ext2_order_barrier_inode(struct ext2_fs *fs, uint32_t ino);
int ext2_order_barrier_notes(struct ext2_fs *fs);       /* what this change noted so far */
void ext2_order_note(struct ext2_fs *fs, uint32_t blk);  /* durable before this change's frees */
void ext2_order_note_super(struct ext2_fs *fs);
void ext2_order_note_blk(struct ext2_fs *fs, const struct ext2_blk *b);
int ext2_free_block_later(struct ext2_fs *fs, uint32_t blk);    /* freed at ext2_order_commit */
int ext2_free_inode_later(struct ext2_fs *fs, uint32_t ino, bool is_dir);
int ext2_order_commit(struct ext2_fs *fs);      /* end of a change (ext2_change_end) */

/* ext2_block.c: fs-block access */
int ext2_bread(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out);
int ext2_bread_nb(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out);
int ext2_bnew(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out);  /* zeroed */
int ext2_bget_overwrite(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out);
void ext2_brelse(struct ext2_blk *b);
void ext2_bdirty(struct ext2_blk *b);           /* metadata */
void ext2_bdirty_data(struct ext2_blk *b);      /* file data (not journaled; written before the commit) */
int ext2_bnew_data(struct ext2_fs *fs, uint32_t blk, struct ext2_blk *out);
bool ext2_block_valid(struct ext2_fs *fs, uint32_t blk);

/* ext2_inode.c */
int ext2_iget(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in);
int ext2_iget_nb(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in);
int ext2_iput(struct ext2_fs *fs, uint32_t ino, const struct ext2_inode *in);
int ext2_inode_init(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint16_t mode);
uint64_t ext2_isize(const struct ext2_inode *in);
int ext2_set_isize(struct ext2_fs *fs, struct ext2_inode *in, uint64_t size);
bool ext2_inode_has_blocks(struct ext2_fs *fs, const struct ext2_inode *in);
int ext2_inode_release(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in);
uint8_t ext2_mode_to_ftype(uint16_t mode);

/* ext2_bmap.c: logical -> physical block mapping */
int ext2_bmap(struct ext2_fs *fs, const struct ext2_inode *in, uint64_t lblk, uint32_t *pblk, bool nonblock);
/* Up to n blocks from lblk at once (0 for holes): how many, or an error. */
int ext2_bmap_run(struct ext2_fs *fs, const struct ext2_inode *in, uint64_t lblk, uint32_t n, uint32_t *pblk);
int ext2_bmap_alloc(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint64_t lblk, uint32_t *pblk);
int ext2_bmap_alloc_fill(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint64_t lblk,
                         void (*fill)(void *arg, uint8_t *p), void *arg, uint32_t *pblk);
int ext2_free_blocks_from(struct ext2_fs *fs, struct ext2_inode *in, uint64_t first_lblk);

/* ext2_alloc.c: bitmaps */
int ext2_alloc_block(struct ext2_fs *fs, uint32_t goal, uint32_t *blk);
int ext2_free_block(struct ext2_fs *fs, uint32_t blk);
int ext2_alloc_inode(struct ext2_fs *fs, uint32_t parent, bool is_dir, uint32_t *ino);
int ext2_free_inode(struct ext2_fs *fs, uint32_t ino, bool is_dir);
uint32_t ext2_group_of_inode(struct ext2_fs *fs, uint32_t ino);

/* ext2_dir.c */
/* Allocates block 0 of the new inode ino (no blocks yet), zeroed and then filled by
 * fill(arg, p), and makes it durable (ext2_order.c rule 1) before the caller writes the
 * inode that points at it. */
int ext2_first_block(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in,
                     void (*fill)(void *arg, uint8_t *p), void *arg);
int ext2_dir_lookup(struct ext2_fs *fs, const struct ext2_inode *dir, const char *name, uint32_t len,
                    uint32_t *ino);
int ext2_dir_add(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir, const char *name,
                 uint32_t len, uint32_t ino, uint8_t ftype);
int ext2_dir_remove(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir, const char *name, uint32_t len);
int ext2_dir_retarget(struct ext2_fs *fs, uint32_t dir_ino, struct ext2_inode *dir, const char *name,
                      uint32_t len, uint32_t ino, uint8_t ftype);
int ext2_dir_is_empty(struct ext2_fs *fs, const struct ext2_inode *dir);
int ext2_dir_init(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint32_t parent);
int ext2_dir_next(struct ext2_fs *fs, const struct ext2_inode *dir, uint64_t *cookie, struct ext2_dirent *out);

/* ext2_orphan.c */
/* 0 if ino (read into `in`) may be read and written by number: linked, or an open orphan
 * (locked: fs->lock held; else an unlinked inode gives EXT2_E_RETRY_LOCKED); -ENOENT if not. */
int ext2_inode_usable(struct ext2_fs *fs, uint32_t ino, const struct ext2_inode *in, bool locked);
bool ext2_ino_is_open(struct ext2_fs *fs, uint32_t ino);                 /* fs->lock held */
/* The last link of an open inode went: onto the orphan list instead of freed (fs->lock). */
int ext2_orphan_keep(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in);
int ext2_orphans_mount(struct ext2_fs *fs);
void ext2_orphans_unmount(struct ext2_fs *fs);
void ext2_orphans_shutdown(struct ext2_fs *fs);

/* ext2_path.c */
struct ext2_path {
    char *buf;                      /* normalized "a/b/c", fs_alloc'ed */
    uint32_t len;
};
int ext2_path_parse(const char *path, struct ext2_path *p);
void ext2_path_free(struct ext2_path *p);
int ext2_walk(struct ext2_fs *fs, const char *s, uint32_t len, uint32_t *ino);
/* Splits into parent inode and last name (pointing into p->buf). */
int ext2_walk_parent(struct ext2_fs *fs, const struct ext2_path *p, uint32_t *parent,
                     const char **name, uint32_t *name_len);

/* ext2_namei.c, ext2_symlink.c: making names (fs->lock held).  ext2_create_locked makes
 * the inode of a new regular file, directory or symlink (type EXT2_S_IFREG, _IFDIR or
 * _IFLNK; a symlink's target[0..tlen), stored by ext2_symlink_store) owned by uid, gid, and
 * its entry in the parent of path; a failure half way frees what it took. */
int ext2_parent_of(struct ext2_fs *fs, const char *path, struct ext2_path *p, uint32_t *parent,
                   struct ext2_inode *pin, const char **name, uint32_t *len);
void ext2_set_owner(struct ext2_inode *in, uint32_t uid, uint32_t gid);
int ext2_create_locked(struct ext2_fs *fs, const char *path, uint16_t type, uint16_t mode, uint32_t uid,
                       uint32_t gid, const char *target, uint32_t tlen, uint32_t *out);
int ext2_symlink_store(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, const char *target,
                       uint32_t len);

#endif
