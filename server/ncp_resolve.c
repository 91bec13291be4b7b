/* ncp_resolve.c - path resolution: a client's path to an inode, following symbolic links
 * inside the volume only.
 *
 * The walk goes one component at a time from the volume root, with search permission
 * checked (the caller's credentials) on every directory it looks a name up in, the ones it
 * passes while following a symlink included.  A symlink's target is spliced in front of the
 * rest of the path: an absolute target starts again at the volume root (never the server's
 * root: there is none above the volume), ".." goes up one directory of the path resolved so
 * far and stops at the root, and at most NCP_SYMLOOP_MAX symlinks are followed per
 * resolution (then NCP_E_LOOP).  No target can name anything outside the volume, and none
 * can skip a directory the caller may not search.
 *
 * Alongside the inode the walk builds the physical path (no symlink in it, no "." or "..")
 * that the file system's path-based calls (create, unlink, rename, ...) are given, so those
 * act on what the resolution found.  The walk keeps the inodes of the directories on that
 * path, so ".." needs no ".." entry on disk (a corrupt one cannot send it elsewhere).
 *
 * Bounds: the rest of the path still to walk is at most NCP_RESOLVE_MAX bytes (targets
 * spliced in), the physical path at most NCP_PATH_MAX (both NCP_E_NAMETOOLONG); the scratch
 * space (about 11 KiB) is one allocation per resolution. */
#include "server/ncp_server_internal.h"
#include "fs/fs_errno.h"

/* Times a name is looked up again when its inode went between lookup and stat. */
#define RESOLVE_RACE_RETRIES 3

#define NCP_RESOLVE_MAX 4096                   /* bytes of path still to walk, as Linux's PATH_MAX */
#define DEPTH_MAX       (NCP_PATH_MAX / 2 + 1)  /* components of a physical path ("/x" each) */

struct walk {
    char rest[NCP_RESOLVE_MAX + NCP_SYMLINK_MAX + 2];
    size_t rlen, rpos;
    char target[NCP_SYMLINK_MAX + 1];
    uint32_t dirs[DEPTH_MAX];                  /* inode of each directory above cur */
    size_t ends[DEPTH_MAX];                    /* length of the physical path at each */
    uint32_t depth;
    uint32_t cur;                              /* where the walk is */
    struct ncp_stat st;
    unsigned links;                            /* symlinks followed so far */
};

/* The next component of the rest (skipping '/' and "."); false at the end. */
static bool next_name(struct walk *w, const char **name, size_t *len)
{
    while (w->rpos < w->rlen) {
        while (w->rpos < w->rlen && w->rest[w->rpos] == '/')
            w->rpos++;
        size_t s = w->rpos;
        while (w->rpos < w->rlen && w->rest[w->rpos] != '/')
            w->rpos++;
        size_t n = w->rpos - s;
        if (n == 0 || (n == 1 && w->rest[s] == '.'))
            continue;
        *name = w->rest + s;
        *len = n;
        return true;
    }
    return false;
}

/* Is anything but '/' left after the component just taken (then it is not the last)? */
static bool more_follows(const struct walk *w)
{
    for (size_t i = w->rpos; i < w->rlen; i++)
        if (w->rest[i] != '/')
            return true;
    return false;
}

static int to_root(const struct ncp_vfs_ops *vfs, void *fs, struct walk *w, struct ncp_resolved *r)
{
    int e = vfs->lookup(fs, "/", &w->cur);
    if (!e)
        e = vfs->stat(fs, w->cur, &w->st);
    w->depth = 0;
    r->path[0] = '\0';
    r->path_len = 0;
    return ncp_completion_from_errno(e);
}

/* Symlink ino met at the walk's position: its target goes in front of the rest. */
static int splice(const struct ncp_vfs_ops *vfs, void *fs, struct walk *w, uint32_t ino, struct ncp_resolved *r)
{
    if (++w->links > NCP_SYMLOOP_MAX)
        return NCP_E_LOOP;
    if (!vfs->readlink)
        return NCP_E_INVAL;
    int64_t n = vfs->readlink(fs, ino, w->target, NCP_SYMLINK_MAX);
    if (n < 0)
        return ncp_completion_from_errno((int)n);
    if (n == 0)
        return NCP_E_NOENT;
    size_t tail = w->rlen - w->rpos;
    if ((size_t)n + 1 + tail > NCP_RESOLVE_MAX)
        return NCP_E_NAMETOOLONG;
    memmove(w->rest + n + 1, w->rest + w->rpos, tail);
    memcpy(w->rest, w->target, (size_t)n);
    w->rest[n] = '/';
    w->rlen = (size_t)n + 1 + tail;
    w->rpos = 0;
    if (w->target[0] == '/')
        return to_root(vfs, fs, w, r);          /* absolute: from the volume's root */
    return NCP_OK;
}

/* Steps into the entry ino (stat st) called name: the physical path grows by "/name". */
static int descend(struct walk *w, struct ncp_resolved *r, const char *name, size_t len, uint32_t ino,
                   const struct ncp_stat *st)
{
    if (r->path_len + 1 + len > NCP_PATH_MAX || w->depth >= DEPTH_MAX)
        return NCP_E_NAMETOOLONG;
    w->dirs[w->depth] = w->cur;
    w->ends[w->depth] = r->path_len;
    w->depth++;
    r->path[r->path_len++] = '/';
    memcpy(r->path + r->path_len, name, len);
    r->path_len += len;
    r->path[r->path_len] = '\0';
    w->cur = ino;
    w->st = *st;
    return NCP_OK;
}

static int ascend(const struct ncp_vfs_ops *vfs, void *fs, struct walk *w, struct ncp_resolved *r)
{
    if (w->depth == 0)
        return NCP_OK;                          /* ".." of the root is the root */
    w->depth--;
    w->cur = w->dirs[w->depth];
    r->path_len = w->ends[w->depth];
    r->path[r->path_len] = '\0';
    return ncp_completion_from_errno(vfs->stat(fs, w->cur, &w->st));
}

/* The walk itself: the whole rest, following a final symlink if `follow`. */
static int walk_rest(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, struct walk *w,
                     bool follow, struct ncp_resolved *r)
{
    const char *name;
    size_t len;
    while (next_name(w, &name, &len)) {
        if (w->st.type != NCP_FT_DIR)
            return NCP_E_NOTDIR;
        if (!ncp_may(id, &w->st, NCP_MAY_X))
            return NCP_E_ACCES;
        int e;
        if (len == 2 && name[0] == '.' && name[1] == '.') {
            if ((e = ascend(vfs, fs, w, r)))
                return e;
            continue;
        }
        if (len > NCP_NAME_MAX)
            return NCP_E_NAMETOOLONG;
        bool last = !more_follows(w);
        uint32_t ino;
        struct ncp_stat st;
        /* Lookup, then stat: the inode can go in between (a rename over the name, an
         * unlink by another connection), and then the name is looked up again, a few
         * times, so a rename over an existing file never shows its target missing. */
        bool found = false;
        for (int tries = 0; tries <= RESOLVE_RACE_RETRIES; tries++) {
            e = vfs->lookup_at(fs, w->cur, name, (uint32_t)len, &ino);
            found = e == 0;
            if (!found)
                break;
            e = vfs->stat(fs, ino, &st);
            if (e != -FS_ENOENT)
                break;
        }
        if (!found && e == -FS_ENOENT && last) {
            /* only the last is missing: where it would be is known (create, dangling links) */
            r->dir = w->cur;
            r->dst = w->st;
            if (r->path_len + 1 + len > NCP_PATH_MAX)
                return NCP_E_NAMETOOLONG;
            r->path[r->path_len++] = '/';
            memcpy(r->path + r->path_len, name, len);
            r->name = r->path + r->path_len;
            r->name_len = (uint32_t)len;
            r->path_len += len;
            r->path[r->path_len] = '\0';
            r->missing = true;
            return NCP_E_NOENT;
        }
        if (e)
            return ncp_completion_from_errno(e);
        if (st.type == NCP_FT_SYMLINK && (!last || follow)) {
            if ((e = splice(vfs, fs, w, ino, r)))
                return e;
            continue;
        }
        r->dir = w->cur;
        r->dst = w->st;
        if ((e = descend(w, r, name, len, ino, &st)))
            return e;
        r->name = r->path + r->path_len - len;
        r->name_len = (uint32_t)len;
    }
    return NCP_OK;
}

int ncp_resolve(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
                unsigned flags, struct ncp_resolved *r)
{
    size_t len = strlen(path);
    memset(r, 0, sizeof *r);
    r->name = r->path;
    if (len > NCP_PATH_MAX)
        return NCP_E_NAMETOOLONG;
    struct walk *w = fs_alloc(sizeof *w);
    if (!w)
        return NCP_E_NOMEM;
    w->links = 0;
    memcpy(w->rest, path, len);
    w->rlen = len;
    w->rpos = 0;
    int e = to_root(vfs, fs, w, r);
    if (!e)
        e = walk_rest(vfs, fs, id, w, (flags & NCP_RESOLVE_FOLLOW) != 0, r);
    if (!e) {
        r->ino = w->cur;
        r->st = w->st;
        if (r->path_len == 0) {
            r->path[0] = '/';                   /* the root */
            r->path[1] = '\0';
            r->path_len = 1;
            r->name = r->path + 1;
            r->name_len = 0;
        }
    }
    fs_free(w);
    return e;
}

int ncp_walk(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
             uint32_t *ino, struct ncp_stat *st)
{
    return ncp_walk_flags(vfs, fs, id, path, NCP_RESOLVE_FOLLOW, ino, st);
}

int ncp_walk_flags(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
                   unsigned flags, uint32_t *ino, struct ncp_stat *st)
{
    struct ncp_resolved *r = fs_alloc(sizeof *r);
    if (!r)
        return NCP_E_NOMEM;
    int e = ncp_resolve(vfs, fs, id, path, flags, r);
    if (!e) {
        *ino = r->ino;
        *st = r->st;
    }
    fs_free(r);
    return e;
}

int ncp_walk_parent(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, char *path,
                    uint32_t *dir, struct ncp_stat *dst, const char **name, uint32_t *name_len)
{
    size_t len = strlen(path), slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    if (slash == len)
        return NCP_E_INVAL;                     /* "/": no last component */
    size_t nlen = len - slash;
    struct ncp_resolved *r = fs_alloc(sizeof *r);
    if (!r)
        return NCP_E_NOMEM;
    char keep = path[slash];
    path[slash] = '\0';                         /* the parent part, every symlink in it followed */
    int e = ncp_resolve(vfs, fs, id, path, NCP_RESOLVE_FOLLOW, r);
    path[slash] = keep;
    if (!e && r->st.type != NCP_FT_DIR)
        e = NCP_E_NOTDIR;
    if (!e && !ncp_may(id, &r->st, NCP_MAY_X))
        e = NCP_E_ACCES;
    size_t plen = r->path_len == 1 ? 0 : r->path_len;   /* "/" -> "" */
    if (!e && plen + 1 + nlen > NCP_PATH_MAX)
        e = NCP_E_NAMETOOLONG;
    if (!e) {
        memmove(path + plen + 1, path + slash, nlen);
        memcpy(path, r->path, plen);
        path[plen] = '/';
        path[plen + 1 + nlen] = '\0';
        *dir = r->ino;
        *dst = r->st;
        *name = path + plen + 1;
        *name_len = (uint32_t)nlen;
    }
    fs_free(r);
    return e;
}
