/* ncp_users.c - the users file, parsed once and kept until it changes.
 *
 * Every use (CHALLENGE, LOGIN, NAMES) looks the file up and stats it (both
 * cached by the file system) and re-reads it only when its inode, size, mtime
 * or ctime differ from what was parsed, or when the engine itself changed it
 * (a write, truncate or SETATTR on that inode; a create, remove or rename of
 * its path or a directory above it).  The engine's own flag covers changes
 * inside one second, which the 1-second timestamps would miss; the stat
 * covers changes made behind the engine's back.  A change behind its back in
 * the same second as the parse, at the same size, leaves the stat unchanged:
 * so, as git does for its racy index, a file whose mtime or ctime is not
 * older than the second it was parsed in is re-read on every use until a
 * parse happens in a later second (found by fuzz_engine: the harness rewrote
 * the file under the engine within one second). */
#include "server/ncp_server_internal.h"
#include "fs/fs_errno.h"
#include "proto/ncp_mem.h"

#define USERS_FILE_MAX (64u * 1024u)

void ncp_users_init(struct ncp_server *s)
{
    fs_mutex_init(&s->users.lock);
}

static void drop_tables(struct ncp_users_cache *uc)
{
    fs_free(uc->users);
    fs_free(uc->groups);
    uc->users = NULL;
    uc->groups = NULL;
    uc->nusers = 0;
    uc->ngroups = 0;
}

void ncp_users_destroy(struct ncp_server *s)
{
    drop_tables(&s->users);
}

/* Parses text into fresh tables (two passes: count, then fill). */
static int parse(struct ncp_users_cache *uc, const char *text, size_t len)
{
    struct ncp_user u;
    struct ncp_group g;
    const char *line;
    size_t pos = 0, n, nu = 0, ng = 0;
    while (ncp_users_next_line(text, len, &pos, &line, &n)) {
        int k = ncp_users_parse_line(line, n, &u, &g);
        if (k == NCP_LINE_USER)
            nu++;
        else if (k == NCP_LINE_GROUP)
            ng++;
    }
    struct ncp_user *users = nu ? fs_alloc(sizeof *users * nu) : NULL;
    struct ncp_group *groups = ng ? fs_alloc(sizeof *groups * ng) : NULL;
    if ((nu && !users) || (ng && !groups)) {
        fs_free(users);
        fs_free(groups);
        return NCP_E_NOMEM;
    }
    drop_tables(uc);
    uc->users = users;
    uc->groups = groups;
    pos = 0;
    while (ncp_users_next_line(text, len, &pos, &line, &n)) {
        int k = ncp_users_parse_line(line, n, &u, &g);
        if (k == NCP_LINE_USER && uc->nusers < nu)
            uc->users[uc->nusers++] = u;
        else if (k == NCP_LINE_GROUP && uc->ngroups < ng)
            uc->groups[uc->ngroups++] = g;
    }
    return NCP_OK;
}

/* Brings the cache up to date; called with uc->lock held. */
static int refresh(struct ncp_server *s)
{
    struct ncp_users_cache *uc = &s->users;
    const struct ncp_vfs_ops *vfs = s->cfg.vfs;
    void *fs = s->cfg.vfs_ctx;
    struct ncp_stat st;
    uint32_t ino;
    bool stale = __atomic_exchange_n(&uc->stale, 0, __ATOMIC_ACQ_REL);
    int e = vfs->lookup(fs, s->cfg.users_path, &ino);
    if (e == -FS_ENOENT) {                      /* no users file: nobody logs in */
        if (uc->loaded && LOAD(uc->ino) == 0)
            return NCP_OK;
        drop_tables(uc);
        STORE(uc->ino, 0);
        uc->loaded = true;
        uc->reloads++;
        return NCP_OK;
    }
    if (!e)
        e = vfs->stat(fs, ino, &st);
    if (e) {
        STORE(uc->stale, 1);
        return ncp_completion_from_errno(e);
    }
    if (uc->loaded && !stale && !uc->racy && LOAD(uc->ino) == ino && uc->size == st.size &&
        uc->mtime == st.mtime && uc->ctime == st.ctime)
        return NCP_OK;
    uint32_t now = fs_time_now();
    uint32_t size = st.size > USERS_FILE_MAX ? USERS_FILE_MAX : (uint32_t)st.size;
    char *text = fs_alloc(size + 1);
    if (!text) {
        STORE(uc->stale, 1);
        return NCP_E_NOMEM;
    }
    int64_t got = vfs->read(fs, ino, 0, text, size);
    /* Past the limit only whole lines count: the line the limit cuts could read as
     * another (an "admin" flag cut to "adm" is harmless, a uid cut short is not). */
    if (got > 0 && st.size > size) {
        int64_t whole = 0;
        const char *nl;
        while ((nl = memchr(text + whole, '\n', (size_t)(got - whole))) != NULL)
            whole = nl - text + 1;
        got = whole;
    }
    int r = got < 0 ? ncp_completion_from_errno((int)got) : parse(uc, text, (size_t)got);
    fs_free(text);
    if (r) {
        STORE(uc->stale, 1);                    /* try again next time */
        return r;
    }
    STORE(uc->ino, ino);
    uc->size = st.size;
    uc->mtime = st.mtime;
    uc->ctime = st.ctime;
    uc->racy = st.mtime >= now || st.ctime >= now;
    uc->loaded = true;
    uc->reloads++;
    return NCP_OK;
}

int ncp_users_lookup(struct ncp_server *s, const char *name, size_t len, struct ncp_user *u, bool *found)
{
    struct ncp_users_cache *uc = &s->users;
    *found = false;
    fs_mutex_lock(&uc->lock);
    int e = refresh(s);
    for (uint32_t i = 0; !e && !*found && i < uc->nusers; i++) {
        if (strlen(uc->users[i].name) == len && memcmp(uc->users[i].name, name, len) == 0) {
            *u = uc->users[i];
            *found = true;
        }
    }
    fs_mutex_unlock(&uc->lock);
    return e;
}

int ncp_users_hold(struct ncp_server *s)
{
    fs_mutex_lock(&s->users.lock);
    int e = refresh(s);
    if (e)
        fs_mutex_unlock(&s->users.lock);
    return e;
}

void ncp_users_release(struct ncp_server *s)
{
    fs_mutex_unlock(&s->users.lock);
}

static bool same(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

size_t ncp_users_resolve(struct ncp_server *s, uint8_t kind, uint32_t *id, const char *name, size_t len,
                         char out[NCP_USER_MAX + 1])
{
    struct ncp_users_cache *uc = &s->users;
    const char *found = NULL;
    uint32_t fid = NCP_ID_NONE;
    for (uint32_t i = 0; kind == NCP_NAME_USER && !found && i < uc->nusers; i++) {
        const struct ncp_user *u = &uc->users[i];
        if (len ? same(u->name, name, len) : u->uid == *id) {
            found = u->name;
            fid = u->uid;
        }
    }
    for (uint32_t i = 0; kind == NCP_NAME_GROUP && !found && i < uc->ngroups; i++) {
        const struct ncp_group *g = &uc->groups[i];
        if (len ? same(g->name, name, len) : g->gid == *id) {
            found = g->name;
            fid = g->gid;
        }
    }
    size_t n = found ? strlen(found) : 0;
    memcpy(out, found ? found : "", n);
    out[n] = '\0';
    *id = fid;
    return n;
}

void ncp_users_touch_ino(struct ncp_server *s, uint32_t ino)
{
    if (ino && LOAD(s->users.ino) == ino)
        STORE(s->users.stale, 1);
}

void ncp_users_touch_path(struct ncp_server *s, const char *path)
{
    const char *u = s->cfg.users_path;
    size_t n = strlen(path);
    if (n == 1 && path[0] == '/') {             /* the root holds everything */
        STORE(s->users.stale, 1);
        return;
    }
    /* path is the users file or a directory above it */
    if (strlen(u) >= n && memcmp(u, path, n) == 0 && (u[n] == '\0' || u[n] == '/'))
        STORE(s->users.stale, 1);
}
