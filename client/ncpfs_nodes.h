/* ncpfs_nodes.h - the mount's inode table: FUSE inode number -> path.
 *
 * The protocol names files by path; the kernel names them by inode number
 * (the server's: STAT returns it).  Each inode the kernel knows (lookup count
 * above zero) has a node holding its names: (parent inode, name) pairs, so its
 * path is built by walking up; a rename moves one name and everything below it
 * follows.  A directory has one name; a file with several hard links keeps up
 * to NODE_NAMES_MAX of the names it was found under, the latest first, so that
 * when one name goes (unlink, rename over it, another inode found under it)
 * the file is still reached by another.  A node without names is detached: it
 * has no path any more, but stays until the kernel forgets it (its open
 * handles keep working).  A node is freed when the kernel has forgotten it and
 * no name has it as parent.  One mutex guards the table (lookups are short).
 *
 * The server's root inode is FUSE's 1 (FUSE_ROOT_ID); should the server use 1
 * for another file, that one takes the root's number (the two swap).
 */
#ifndef NCPFS_NODES_H
#define NCPFS_NODES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define NODES_BUCKETS 16384
#define NODE_NAMES_MAX 8        /* names kept per hard-linked file (a limit per node) */

struct node_name {
    uint64_t parent;            /* the parent's FUSE number */
    char *name;                 /* the name in the parent */
    struct node *node;          /* the file it names */
    struct node_name *bucket_next, *alias_next;
};

struct node {
    uint64_t ino;               /* FUSE's number */
    struct node_name *names;    /* attached: latest first; NULL when detached */
    uint32_t nnames;
    uint64_t nlookup;           /* the kernel's lookup count */
    uint32_t children;          /* names whose parent this is */
    bool cache_known;           /* size/mtime/ctime below were seen at an open */
    uint64_t size;
    uint32_t mtime, ctime;
    struct node *ino_next;
};

struct nodes {
    pthread_mutex_t lock;       /* guards everything here and in every node */
    uint32_t root_sino;         /* the server's root inode */
    uint64_t count;
    struct node *by_ino[NODES_BUCKETS];
    struct node_name *by_name[NODES_BUCKETS];
};

void     nodes_init(struct nodes *t, uint32_t root_sino);
void     nodes_destroy(struct nodes *t);
uint64_t nodes_fuse_ino(const struct nodes *t, uint32_t sino);
uint32_t nodes_server_ino(const struct nodes *t, uint64_t ino);
/* The path of ino ("/" for the root) into buf[cap]: 0, -ESTALE (unknown or
 * detached) or -ENAMETOOLONG. */
int      nodes_path(struct nodes *t, uint64_t ino, char *buf, size_t cap);
/* The path of `name` in directory `parent`. */
int      nodes_child_path(struct nodes *t, uint64_t parent, const char *name, char *buf, size_t cap);
/* A lookup (or create) answered: sino is `name` in `parent`; `linked` if it is
 * a non-directory with more than one link (its other names stay known).
 * Counts one kernel lookup and returns the FUSE number (0 if out of memory). */
uint64_t nodes_remember(struct nodes *t, uint64_t parent, const char *name, uint32_t sino, bool linked);
void     nodes_forget(struct nodes *t, uint64_t ino, uint64_t n);
/* `name` in `parent` is gone. */
void     nodes_unlink(struct nodes *t, uint64_t parent, const char *name);
/* `oname` in `op` is now `nname` in `np` (replacing whatever was there; a
 * rename between two names of one file changes nothing, as POSIX says). */
void     nodes_rename(struct nodes *t, uint64_t op, const char *oname, uint64_t np, const char *nname);
/* Close-to-open: true if an open may keep the page cache (size, mtime and
 * ctime as at the last open); records these for the next one. */
bool     nodes_keep_cache(struct nodes *t, uint64_t ino, uint64_t size, uint32_t mtime, uint32_t ctime);

#endif /* NCPFS_NODES_H */
