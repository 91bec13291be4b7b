/* ncp_perm.c - who may do what: POSIX permission bits, the sticky bit, and
 * the path walk that checks search permission on every directory.
 *
 * The administrator passes every check (like root), including execute bits:
 * nothing is executed on this server, so root's "x only if some x bit is set"
 * rule for regular files is left out. */
#include "server/ncp_server_internal.h"
#include "fs/fs_errno.h"

#define S_STICKY 01000u

bool ncp_in_group(const struct ncp_ident *id, uint32_t gid)
{
    if (id->gid == gid)
        return true;
    for (unsigned i = 0; i < id->ngroups; i++)
        if (id->groups[i] == gid)
            return true;
    return false;
}

bool ncp_may(const struct ncp_ident *id, const struct ncp_stat *st, unsigned want)
{
    unsigned bits;
    if (id->admin)
        return true;
    if (id->uid == NCP_ID_NONE)
        return false;                           /* not logged in: nothing */
    if (st->uid == id->uid)
        bits = (st->mode >> 6) & 7u;
    else if (ncp_in_group(id, st->gid))
        bits = (st->mode >> 3) & 7u;
    else
        bits = st->mode & 7u;
    return (bits & want) == want;
}

bool ncp_may_delete(const struct ncp_ident *id, const struct ncp_stat *dir, const struct ncp_stat *victim)
{
    if (!ncp_may(id, dir, NCP_MAY_W | NCP_MAY_X))
        return false;
    if (id->admin || !(dir->mode & S_STICKY))
        return true;
    return id->uid == victim->uid || id->uid == dir->uid;
}

/* Walks path[0..len) (canonical, "" = the root) from the root. */
static int walk_len(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
                    size_t len, uint32_t *ino, struct ncp_stat *st)
{
    uint32_t cur;
    int e = vfs->lookup(fs, "/", &cur);
    if (!e)
        e = vfs->stat(fs, cur, st);
    if (e)
        return ncp_completion_from_errno(e);
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (i == start)
            break;
        if (st->type != NCP_FT_DIR)
            return NCP_E_NOTDIR;
        if (!ncp_may(id, st, NCP_MAY_X))
            return NCP_E_ACCES;
        e = vfs->lookup_at(fs, cur, path + start, (uint32_t)(i - start), &cur);
        if (!e)
            e = vfs->stat(fs, cur, st);
        if (e)
            return ncp_completion_from_errno(e);
    }
    *ino = cur;
    return NCP_OK;
}

int ncp_walk(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
             uint32_t *ino, struct ncp_stat *st)
{
    return walk_len(vfs, fs, id, path, strlen(path), ino, st);
}

int ncp_walk_parent(const struct ncp_vfs_ops *vfs, void *fs, const struct ncp_ident *id, const char *path,
                    uint32_t *dir, struct ncp_stat *dst, const char **name, uint32_t *name_len)
{
    size_t len = strlen(path), slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    if (slash == len)
        return NCP_E_INVAL;                     /* "/": no last component */
    int e = walk_len(vfs, fs, id, path, slash, dir, dst);
    if (e)
        return e;
    if (dst->type != NCP_FT_DIR)
        return NCP_E_NOTDIR;
    if (!ncp_may(id, dst, NCP_MAY_X))
        return NCP_E_ACCES;
    *name = path + slash;
    *name_len = (uint32_t)(len - slash);
    return NCP_OK;
}
