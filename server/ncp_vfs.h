/* ncp_vfs.h - the file system interface the protocol engine drives.
 *
 * Shaped after fs/ext2.h (inode numbers, absolute NUL-terminated paths,
 * negative fs_errno.h returns) so the ext2 adapter is thin; server/ncp_memfs.c
 * implements it in memory for tests.  Paths handed in are canonical: "/" or
 * "/a/b", no ".", "..", or repeated '/'.
 */
#ifndef NCP_VFS_H
#define NCP_VFS_H

#include "ncp_proto.h"

struct ncp_vfs_dirent {
    uint32_t ino;
    uint8_t  type;              /* NCP_FT_* */
    uint8_t  name_len;
    char     name[256];         /* NUL terminated */
};

/* A reference to bytes the file system holds in memory (a block-cache buffer); one
 * read_ref_nonblock call hands out at most NCP_VFS_REFS_MAX (a 256 KiB read in 4 KiB
 * blocks, unaligned, needs 65; each reference covers at most ref_span bytes). */
#define NCP_VFS_REFS_MAX 72
struct ncp_vfs_ref {
    const uint8_t *data;
    uint32_t len;
    void *token;                /* the file system's own: what ref_release gives back */
};

/* An attribute change (SETATTR minus the size, which is truncate): the fields
 * named in mask (NCP_SA_MODE, _UID, _GID, _ATIME, _MTIME); ctime becomes now. */
struct ncp_vfs_attr {
    uint32_t mask;
    uint16_t mode;              /* 07777 */
    uint32_t uid, gid;
    uint32_t atime, mtime;
};

struct ncp_vfs_ops {
    int     (*lookup)(void *fs, const char *path, uint32_t *ino);
    /* One component (len bytes, no '/') in directory dir: the engine's walk,
     * which checks search permission on every directory it passes. */
    int     (*lookup_at)(void *fs, uint32_t dir, const char *name, uint32_t len, uint32_t *ino);
    int     (*stat)(void *fs, uint32_t ino, struct ncp_stat *st);
    /* One entry per call: 1 with *out, 0 at the end, <0 error.  *cookie
     * starts at 0.  May return "." and ".." (the engine skips them). */
    int     (*readdir)(void *fs, uint32_t dir, uint64_t *cookie, struct ncp_vfs_dirent *out);
    int64_t (*read)(void *fs, uint32_t ino, uint64_t off, void *buf, uint32_t len);
    /* Optional (may be NULL): never sleeps; -FS_EAGAIN if it would. */
    int64_t (*read_nonblock)(void *fs, uint32_t ino, uint64_t off, void *buf, uint32_t len);
    /* Optional pair (both or neither): read_nonblock handing out up to `max` references to
     * the cached bytes instead of copying them (*n of them; fewer bytes than asked when the
     * file ends or the references run out).  ref_release gives them all back. */
    int64_t (*read_ref_nonblock)(void *fs, uint32_t ino, uint64_t off, uint32_t len,
                                 struct ncp_vfs_ref *refs, unsigned max, unsigned *n);
    void    (*ref_release)(void *fs, struct ncp_vfs_ref *refs, unsigned n);
    /* Required with read_ref_nonblock: the most bytes one reference covers (the file
     * system's block size), so the engine knows which reads the references can carry.
     * Never sleeps. */
    uint32_t (*ref_span)(void *fs);
    /* off NCP_VFS_APPEND: at the end of the file, the end found and the bytes written
     * atomically against every other write and truncate (O_APPEND). */
    int64_t (*write)(void *fs, uint32_t ino, uint64_t off, const void *buf, uint32_t len);
    int     (*truncate)(void *fs, uint32_t ino, uint64_t size);
    /* New files and directories belong to uid, gid. */
    int     (*create)(void *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid, uint32_t *ino);
    int     (*mkdir)(void *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid);
    int     (*setattr)(void *fs, uint32_t ino, const struct ncp_vfs_attr *a);
    int     (*unlink)(void *fs, const char *path);
    int     (*rmdir)(void *fs, const char *path);
    int     (*rename)(void *fs, const char *from, const char *to);
    int     (*sync)(void *fs);      /* the volume: what was dirty when asked is durable */
    /* Optional (NULL: sync): file ino durable, its data, the metadata mapping it and,
     * for a new file, its directory entry; need not write the rest of the volume. */
    int     (*fsync)(void *fs, uint32_t ino);
    int     (*statfs)(void *fs, struct ncp_statfs *st);
    /* Symbolic and hard links (the engine resolves symlinks itself, see ncp_resolve.c;
     * these never follow one).  symlink: path becomes a symlink to target[0..len)
     * (1..NCP_SYMLINK_MAX bytes, no NUL), owned by uid, gid.  readlink: the target of
     * symlink ino into buf, its length returned (-EINVAL for no symlink).  link: the
     * non-directory at `existing` gets the second name newpath (-EPERM for a directory,
     * -EMLINK at the file system's link limit). */
    int     (*symlink)(void *fs, const char *path, const char *target, uint32_t len, uint32_t uid, uint32_t gid,
                       uint32_t *ino);
    int64_t (*readlink)(void *fs, uint32_t ino, char *buf, uint32_t cap);
    int     (*link)(void *fs, const char *existing, const char *newpath);
    /* Optional pair (both or neither): the engine calls open once per handle it opens on a
     * regular file and release once when that handle is gone (its last reference).  A file
     * whose last name goes while it is open keeps its data, readable and writable by inode
     * number, until the last release.  open fails (-ENOENT) for an inode freed since its
     * lookup.  May sleep. */
    int     (*open)(void *fs, uint32_t ino);
    void    (*release)(void *fs, uint32_t ino);
};

#define NCP_VFS_APPEND UINT64_MAX       /* write offset: the end of the file */

#endif /* NCP_VFS_H */
