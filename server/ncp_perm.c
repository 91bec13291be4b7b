/* ncp_perm.c - who may do what: POSIX permission bits and the sticky bit (the path
 * walk that checks search permission on every directory is ncp_resolve.c).
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

/* Linux's protected_hardlinks: the owner (or the admin) may link anything but a directory;
 * anyone else only a regular file that is not setuid, not setgid and group-executable, and
 * that they may read and write. */
bool ncp_may_hardlink(const struct ncp_ident *id, const struct ncp_stat *st)
{
    if (id->admin || (id->uid != NCP_ID_NONE && id->uid == st->uid))
        return true;
    if (st->type != NCP_FT_FILE)
        return false;
    if (st->mode & 04000u)
        return false;
    if ((st->mode & 02010u) == 02010u)
        return false;
    return ncp_may(id, st, NCP_MAY_R | NCP_MAY_W);
}
