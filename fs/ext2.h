/* ext2.h - ext2 file system on top of the block cache.
 *
 * Paths are absolute ("/a/b"); "." is ignored and ".." is resolved
 * lexically (it may not climb above "/": -EINVAL).  Symbolic links are not
 * followed (the protocol engine resolves them, see server/ncp_resolve.c).  All functions return 0 (or a byte count) on success and a
 * negative errno (fs_errno.h) on failure; corrupt on-disk data gives
 * -EUCLEAN (or -EIO), never a crash.
 *
 * Locking: operations that change the file system serialize on one fs-wide
 * sleeping mutex.  Reads (lookup, stat, read, readdir) take no lock across
 * disk I/O: a slow read never holds up other requests.  A read that raced
 * with a change and found inconsistent data is retried under the mutex.
 */
#ifndef FS_EXT2_H
#define FS_EXT2_H

#include "bcache.h"

struct ext2_fs;

#define EXT2_MOUNT_RDONLY 1u

/* File types: the type bits of ext2_stat.mode (the on-disk i_mode) ... */
#define EXT2_S_IFMT   0170000
#define EXT2_S_IFSOCK 0140000
#define EXT2_S_IFLNK  0120000
#define EXT2_S_IFREG  0100000
#define EXT2_S_IFBLK  0060000
#define EXT2_S_IFDIR  0040000
#define EXT2_S_IFCHR  0020000
#define EXT2_S_IFIFO  0010000

/* ... and ext2_dirent.type (the on-disk directory entry file type). */
#define EXT2_FT_UNKNOWN  0
#define EXT2_FT_REG_FILE 1
#define EXT2_FT_DIR      2
#define EXT2_FT_CHRDEV   3
#define EXT2_FT_BLKDEV   4
#define EXT2_FT_FIFO     5
#define EXT2_FT_SOCK     6
#define EXT2_FT_SYMLINK  7

struct ext2_stat {
    uint32_t ino;
    uint16_t mode;          /* EXT2_S_IF* type bits | permissions */
    uint16_t nlink;
    uint32_t uid, gid;
    uint64_t size;
    uint64_t blocks;        /* 512-byte units allocated */
    uint32_t atime, mtime, ctime;
    uint32_t generation;
};

struct ext2_statfs {
    uint32_t block_size;
    uint64_t blocks, free_blocks, avail_blocks;     /* avail: minus reserved */
    uint64_t inodes, free_inodes;
    uint32_t name_max;
    bool read_only;
};

struct ext2_dirent {
    uint32_t ino;
    uint8_t type;           /* EXT2_FT_*; EXT2_FT_UNKNOWN without filetype */
    uint8_t name_len;
    char name[256];         /* NUL-terminated */
};

/* A piece of file data handed out by reference: `data` points into the
 * cache buffer `buf` (NULL for a hole, then data points at zeros). */
struct ext2_ref {
    struct bcache_buf *buf;
    const uint8_t *data;
    uint32_t len;
};

/* Mount / unmount.  A writable mount marks the superblock "not clean",
 * counts the mount (s_mnt_count, s_mtime) and writes it at once; a volume
 * found not clean is logged and counted (ext2_stats.unclean_mount).
 * ext2_shutdown marks it clean again (s_state, s_wtime; unless it was not
 * clean at mount, as Linux does) and syncs; the volume is read-only from
 * then on but stays usable for reading.  ext2_unmount = shutdown + free. */
int ext2_mount(struct bcache *bc, unsigned flags, struct ext2_fs **out);
int ext2_unmount(struct ext2_fs *fs);           /* shuts down, then frees fs */
int ext2_shutdown(struct ext2_fs *fs);
/* Everything dirty when it is called is durable on return (not what others
 * write meanwhile: the sync ends however fast they write).  On ext3 (a journal)
 * ext2_sync and ext2_fsync commit the running transaction instead (group commit:
 * one commit answers every FSYNC waiting on it); see fs/ext2_jtrans.c. */
int ext2_sync(struct ext2_fs *fs);
/* One file durable: its data, the indirect blocks mapping it, its inode, and
 * for a file created since the last volume sync its directory entry and the
 * parent directory's inode, in that order with device flushes between, then
 * a flush.  Other files' dirty blocks are not written (except those sharing
 * a cache block with what must be written). */
int ext2_fsync(struct ext2_fs *fs, uint32_t ino);

/* Counters (atomic; read without a lock). */
struct ext2_stats {
    uint64_t fsyncs;                /* ext2_fsync calls */
    uint64_t fsync_blocks;          /* cache blocks written by them */
    uint64_t fsync_last_blocks;     /* ... by the last one */
    uint64_t fsync_fallbacks;       /* fsyncs that synced the volume instead */
    uint64_t syncs;                 /* ext2_sync calls */
    uint64_t sync_blocks;           /* cache blocks written by them */
    uint64_t sync_last_blocks;      /* ... by the last one */
    uint64_t unclean_mount;         /* 1: the volume was not clean at mount */
    uint64_t mount_count;           /* s_mnt_count after this mount */
    uint64_t order_barriers;        /* write + flush barriers of plain ext2 (ext2_order.c) */
    /* ext3 (zero for ext2) */
    uint64_t journal_commits;       /* transactions committed */
    uint64_t journal_blocks;        /* log blocks they took (descriptors, copies, revokes, commits) */
    uint64_t journal_checkpoints;   /* times the log was written home and emptied */
    uint64_t journal_background_commits; /* of the commits: started in the background by size */
    uint64_t journal_inplace_commits; /* ... made by a change under the volume lock at a size limit */
    uint64_t journal_throttled;     /* changes that waited for a commit before starting */
    uint64_t journal_replayed;      /* transactions replayed at mount */
};
/* ext3: commits the running transaction when it is JOURNAL_COMMIT_SECONDS (5) old and
 * checkpoints a log over half full; the embedder calls it every second or so (the
 * flusher).  0 or an error; nothing on ext2. */
int ext2_journal_tick(struct ext2_fs *fs);
/* True if the volume is written through its ext3 journal (then ext2_sync and ext2_fsync
 * commit: the metadata reaches its home blocks later, at a checkpoint). */
bool ext2_has_journal(struct ext2_fs *fs);
void ext2_get_stats(struct ext2_fs *fs, struct ext2_stats *st);
int ext2_statfs(struct ext2_fs *fs, struct ext2_statfs *st);
bool ext2_is_read_only(struct ext2_fs *fs);
uint32_t ext2_block_size(struct ext2_fs *fs);   /* bytes per fs block; never sleeps */

/* Names. */
int ext2_lookup(struct ext2_fs *fs, const char *path, uint32_t *ino);
int ext2_lookup_at(struct ext2_fs *fs, uint32_t dir, const char *name, uint32_t len, uint32_t *ino);
int ext2_stat(struct ext2_fs *fs, uint32_t ino, struct ext2_stat *st);
/* Directory listing, one entry per call: returns 1 with *out filled, 0 at
 * the end, or an error.  *cookie starts at 0 and is opaque; it stays usable
 * across calls even if the directory changes in between.  "." and ".." are
 * returned like other entries. */
int ext2_readdir(struct ext2_fs *fs, uint32_t dir, uint64_t *cookie, struct ext2_dirent *out);

/* Data.  Reads return the bytes read (0 at or past end of file). */
int64_t ext2_read(struct ext2_fs *fs, uint32_t ino, uint64_t off, void *buf, uint64_t len);
/* off EXT2_WRITE_APPEND: at the end of the file, found and written under one lock (O_APPEND). */
#define EXT2_WRITE_APPEND UINT64_MAX
int64_t ext2_write(struct ext2_fs *fs, uint32_t ino, uint64_t off, const void *buf, uint64_t len);
int ext2_truncate(struct ext2_fs *fs, uint32_t ino, uint64_t size);

/* Non-blocking reads for the network receive path: served only if the
 * inode and every needed block are in the cache; otherwise -EWOULDBLOCK,
 * without sleeping or starting I/O.  The _ref variant hands out up to
 * max_refs references instead of copying (fewer bytes than asked if they
 * run out); release them with ext2_refs_release. */
int64_t ext2_read_nonblock(struct ext2_fs *fs, uint32_t ino, uint64_t off, void *buf, uint64_t len);
int64_t ext2_read_nonblock_ref(struct ext2_fs *fs, uint32_t ino, uint64_t off, uint64_t len,
                               struct ext2_ref *refs, unsigned max_refs, unsigned *nrefs);
void ext2_refs_release(struct ext2_ref *refs, unsigned n);

/* Namespace changes.  mode holds permission bits (07777).  The plain forms
 * make the new inode owned by uid 0, gid 0; the _as forms by uid, gid. */
int ext2_create(struct ext2_fs *fs, const char *path, uint16_t mode, uint32_t *ino);
int ext2_mkdir(struct ext2_fs *fs, const char *path, uint16_t mode);
int ext2_create_as(struct ext2_fs *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid,
                   uint32_t *ino);
int ext2_mkdir_as(struct ext2_fs *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid);

/* Attribute changes (chmod, chown, utimes): the fields named in mask; ctime
 * becomes now.  The mode keeps its type bits (only 07777 changes).  No
 * permission checks here: the caller decides who may. */
#define EXT2_SA_MODE  0x01u
#define EXT2_SA_UID   0x02u
#define EXT2_SA_GID   0x04u
#define EXT2_SA_ATIME 0x10u
#define EXT2_SA_MTIME 0x20u
struct ext2_setattr {
    unsigned mask;
    uint16_t mode;
    uint32_t uid, gid;
    uint32_t atime, mtime;
};
int ext2_setattr(struct ext2_fs *fs, uint32_t ino, const struct ext2_setattr *a);
int ext2_unlink(struct ext2_fs *fs, const char *path);
int ext2_rmdir(struct ext2_fs *fs, const char *path);
int ext2_rename(struct ext2_fs *fs, const char *from, const char *to);

/* Symbolic and hard links (ext2_symlink.c).  ext2_symlink_as makes path a symlink to
 * target[0..len) (1..block_size - 1 bytes, no NUL; under 60 bytes it is stored in the inode),
 * mode 0777, owned by uid, gid.  ext2_readlink copies the target of symlink ino into buf and
 * returns its length (-EINVAL if ino is no symlink, -ENAMETOOLONG if cap is too small).
 * ext2_link gives the file at `existing` (never a directory: -EPERM) a second name newpath;
 * -EMLINK at EXT2_LINK_MAX links.  Paths are not followed through symlinks here either. */
int ext2_symlink_as(struct ext2_fs *fs, const char *path, const char *target, uint32_t len, uint32_t uid,
                    uint32_t gid, uint32_t *ino);
int64_t ext2_readlink(struct ext2_fs *fs, uint32_t ino, char *buf, uint32_t cap);
int ext2_link(struct ext2_fs *fs, const char *existing, const char *newpath);
/* Open files (ext2_orphan.c).  The server counts each open handle of a regular file: an
 * inode whose last name goes while it is open stays (link count 0, on the orphan list),
 * readable and writable by number, until its last close frees it.  ext2_open_ino fails
 * with -ENOENT for an inode freed meanwhile, -EISDIR / -EINVAL for what is not a regular
 * file, -ENOMEM without memory for its entry. */
int ext2_open_ino(struct ext2_fs *fs, uint32_t ino);
int ext2_close_ino(struct ext2_fs *fs, uint32_t ino);
/* The first inode of the on-disk orphan list (0: empty); for tests and reports. */
uint32_t ext2_orphan_head(struct ext2_fs *fs);

#endif
