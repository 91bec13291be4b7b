/* ncp_dispatch.c - one handler per NCP function, on top of ncp_vfs_ops.
 *
 * A handler returns a completion code (the engine sends a header-only
 * reply), NCP_RET_SENT after sending a reply with payload itself,
 * NCP_RET_BLOCK when it would have to sleep and may not, or
 * NCP_RET_DEFERRED when the reply comes later. */
#include "server/ncp_server_internal.h"
#include "proto/ncp_auth.h"
#include "fs/fs_errno.h"

#define PATH_BUF       (NCP_PATH_MAX + 2)

struct ctx {
    struct ncp_conn *c;
    struct ncp_server *s;
    const struct ncp_vfs_ops *vfs;
    void *fs;
    const struct ncp_request *rq;
    bool may_block;
};

static struct ncp_reply reply_for(const struct ctx *x)
{
    struct ncp_reply rp;
    memset(&rp, 0, sizeof rp);
    rp.h = x->rq->h;
    rp.h.type = NCP_TYPE_REPLY;
    rp.h.completion = NCP_OK;
    return rp;
}

/* Encodes rp into buf (or a small local buffer) and sends it.  On the
 * non-blocking path a busy send lock means "redo it in a worker": every
 * handler that can run there is free of side effects until this point. */
static int send_reply(const struct ctx *x, const struct ncp_reply *rp, uint8_t *buf, size_t cap)
{
    uint8_t small[256];
    if (!buf) {
        buf = small;
        cap = sizeof small;
    }
    size_t n = ncp_encode_reply(buf, cap, rp);
    if (!n)
        return NCP_E_IO; /* a server bug: say so, do not crash */
    return ncp_send_frame(x->c, buf, n, true, x->may_block) ? NCP_RET_SENT : NCP_RET_BLOCK;
}

/* Wire path -> canonical "/a/b".  Who may touch what is decided by the
 * permission checks of each handler, never by how a path is spelled. */
static int canon(const struct ctx *x, struct ncp_str p, char out[PATH_BUF])
{
    struct ncp_path_iter it;
    const char *name;
    size_t n, len = 0;
    (void)x;
    ncp_path_iter_init(&it, p.ptr, p.len);
    while (ncp_path_iter_next(&it, &name, &n)) {
        if (len + 1 + n > NCP_PATH_MAX)
            return NCP_E_NAMETOOLONG;
        out[len++] = '/';
        memcpy(out + len, name, n);
        len += n;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return NCP_OK;
}

/* The identity the request runs as (nobody when not logged in). */
static void ident_get(const struct ctx *x, struct ncp_ident *id)
{
    fs_mutex_lock(&x->c->lock);
    if (LOAD(x->c->logged_in)) {
        *id = x->c->id;
    } else {
        memset(id, 0, sizeof *id);
        id->uid = NCP_ID_NONE;
        id->gid = NCP_ID_NONE;
    }
    fs_mutex_unlock(&x->c->lock);
}

/* A users-file line as a connection identity. */
static void ident_from_user(struct ncp_ident *id, const struct ncp_user *u)
{
    id->uid = u->uid;
    id->gid = u->gid;
    id->ngroups = u->ngroups;
    memcpy(id->groups, u->groups, sizeof id->groups);
    id->admin = u->admin;
}

static bool is_root(const char *path) { return path[0] == '/' && path[1] == '\0'; }

/* Takes a reference on handle h of this connection (NULL if none). */
static struct ncp_open *open_get(struct ncp_conn *c, uint32_t h)
{
    struct ncp_open *o = NULL;
    fs_mutex_lock(&c->lock);
    if (c->handles && h >= 1 && h <= c->srv->cfg.max_handles && c->handles[h - 1]) {
        o = c->handles[h - 1];
        INC(o->refs);
    }
    fs_mutex_unlock(&c->lock);
    return o;
}

/* The same without waiting: *busy when the table lock was taken. */
static struct ncp_open *open_try_get(struct ncp_conn *c, uint32_t h, bool *busy)
{
    struct ncp_open *o = NULL;
    *busy = !fs_mutex_trylock(&c->lock);
    if (*busy)
        return NULL;
    if (c->handles && h >= 1 && h <= c->srv->cfg.max_handles && c->handles[h - 1]) {
        o = c->handles[h - 1];
        INC(o->refs);
    }
    fs_mutex_unlock(&c->lock);
    return o;
}

/* ---- session ----------------------------------------------------------- */

/* Before login the limit stays NCP_PRELOGIN_MAX_FRAME whatever is asked (see
 * ncp_conn_max_frame); the reply says what holds once logged in. */
static int do_negotiate(struct ctx *x)
{
    if (x->rq->u.negotiate.version < 1)
        return NCP_E_BADVERSION;
    uint32_t want = x->rq->u.negotiate.max_frame;
    if (want < NCP_MIN_MAX_FRAME)
        want = NCP_MIN_MAX_FRAME;
    if (want > x->s->cfg.max_frame)
        want = x->s->cfg.max_frame;
    STORE(x->c->max_frame, want);
    struct ncp_reply rp = reply_for(x);
    rp.u.negotiate.version = NCP_VERSION;
    rp.u.negotiate.max_frame = want;
    rp.u.negotiate.conn = x->c->number;
    rp.u.negotiate.max_handles = x->s->cfg.max_handles;
    rp.u.negotiate.max_inflight = x->s->cfg.max_inflight;
    return send_reply(x, &rp, NULL, 0);
}

/* Finds `user` in the (cached) users file. */
static int find_user(struct ctx *x, struct ncp_str user, struct ncp_user *u, bool *found)
{
    return ncp_users_lookup(x->s, user.ptr, user.len, u, found);
}

static int do_challenge(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_str user = x->rq->u.challenge.user;
    struct ncp_user u;
    bool found;
    int e = find_user(x, user, &u, &found);
    if (e)
        return e;
    struct ncp_reply rp = reply_for(x);
    if (found) {
        rp.u.challenge.salt_len = u.salt_len;
        memcpy(rp.u.challenge.salt, u.salt, u.salt_len);
    } else {
        rp.u.challenge.salt_len = 16;
        ncp_auth_fake_salt(x->s->secret, user.ptr, user.len, rp.u.challenge.salt);
    }
    x->s->cfg.random(x->s->cfg.arg, rp.u.challenge.nonce, NCP_NONCE_SIZE);
    fs_mutex_lock(&x->c->lock);
    memcpy(x->c->nonce, rp.u.challenge.nonce, NCP_NONCE_SIZE);
    memcpy(x->c->chal_user, user.ptr, user.len);
    x->c->chal_user[user.len] = '\0';
    x->c->have_nonce = true;
    fs_mutex_unlock(&x->c->lock);
    return send_reply(x, &rp, NULL, 0);
}

static int do_login(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_str user = x->rq->u.login.user;
    uint8_t nonce[NCP_NONCE_SIZE];
    fs_mutex_lock(&x->c->lock);
    bool ok = x->c->have_nonce && strlen(x->c->chal_user) == user.len &&
              memcmp(x->c->chal_user, user.ptr, user.len) == 0;
    memcpy(nonce, x->c->nonce, sizeof nonce);
    x->c->have_nonce = false;                     /* a proof is good once */
    fs_mutex_unlock(&x->c->lock);

    /* Intruder lockout: refused without looking at the proof, so a locked name
     * tells nothing about the password (nor, unknown names being locked alike,
     * about whether the account exists). */
    if (ncp_intruder_locked(x->s, user.ptr, user.len)) {
        ctr_add(x->s, CTR_LOCKED_LOGINS, 1);
        return NCP_E_LOCKEDOUT;
    }
    struct ncp_user u;
    bool found = false;
    if (ok) {
        int e = find_user(x, user, &u, &found);
        if (e)
            return e;
    }
    /* An unknown user costs what a known one does: a proof against a stand-in hash. */
    uint8_t want[NCP_HASH_SIZE];
    ncp_auth_proof(nonce, found ? u.hash : x->s->secret, want);
    bool match = ncp_auth_equal(want, x->rq->u.login.proof, NCP_HASH_SIZE);
    if (!found || !match) {
        ctr_add(x->s, CTR_LOGIN_FAILURES, 1);
        ncp_intruder_failed(x->s, user.ptr, user.len);
        return NCP_E_BADLOGIN;
    }
    ncp_intruder_succeeded(x->s, user.ptr, user.len);
    fs_mutex_lock(&x->c->lock);
    ident_from_user(&x->c->id, &u);
    STORE(x->c->logged_in, true);
    STORE(x->c->admin, u.admin);
    fs_mutex_unlock(&x->c->lock);
    ctr_add(x->s, CTR_LOGINS, 1);
    struct ncp_reply rp = reply_for(x);
    rp.u.login.flags = u.admin ? NCP_LOGIN_ADMIN : 0;
    return send_reply(x, &rp, NULL, 0);
}

static void drop_all_handles(struct ncp_conn *c);

static int do_logout(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK; /* drops locks: other connections' sends */
    drop_all_handles(x->c);
    fs_mutex_lock(&x->c->lock);
    STORE(x->c->logged_in, false);
    STORE(x->c->admin, false);
    memset(&x->c->id, 0, sizeof x->c->id);
    fs_mutex_unlock(&x->c->lock);
    return NCP_OK;
}

static int do_ping(struct ctx *x)
{
    struct ncp_reply rp = reply_for(x);
    rp.u.ping.data = x->rq->u.ping.data;
    size_t cap = NCP_LEN_SIZE + NCP_HDR_SIZE + 4 + rp.u.ping.data.len;
    uint8_t *buf = fs_alloc(cap);
    if (!buf)
        return NCP_E_NOMEM;
    int r = send_reply(x, &rp, buf, cap);
    fs_free(buf);
    return r;
}

/* ---- files ------------------------------------------------------------- */

/* OPEN with CREATE: the lookup, the permission check and the creation under
 * ns_lock, so no other client's change can come between them.  A final symlink is
 * followed (a dangling one makes its target, as Linux), except with EXCL, where any
 * entry, a symlink too, is "exists". */
static int open_create(struct ctx *x, const struct ncp_ident *id, const char *path, uint32_t flags,
                       uint32_t *ino, bool *created)
{
    *created = false;
    struct ncp_resolved *res = fs_alloc(sizeof *res);
    if (!res)
        return NCP_E_NOMEM;
    fs_mutex_lock(&x->s->ns_lock);
    int r = ncp_resolve(x->vfs, x->fs, id, path, (flags & NCP_O_EXCL) ? 0 : NCP_RESOLVE_FOLLOW, res);
    if (r == NCP_OK) {
        r = (flags & NCP_O_EXCL) ? NCP_E_EXIST : NCP_OK;
        *ino = res->ino;
    } else if (r == NCP_E_NOENT && res->missing) {
        if (!ncp_may(id, &res->dst, NCP_MAY_W | NCP_MAY_X)) {
            r = NCP_E_ACCES;
        } else {
            uint16_t mode = x->rq->u.open.mode ? x->rq->u.open.mode : 0644;
            r = ncp_completion_from_errno(x->vfs->create(x->fs, res->path, mode, id->uid, id->gid, ino));
            *created = r == NCP_OK;
            ncp_users_touch_path(x->s, res->path);
        }
    }
    fs_mutex_unlock(&x->s->ns_lock);
    fs_free(res);
    return r;
}

/* OPEN's checks on the counted inode: a regular file the caller may open this way; then
 * O_TRUNC.  A completion code. */
static int open_checks(struct ctx *x, const struct ncp_ident *id, uint32_t ino, uint32_t flags, bool created,
                       struct ncp_stat *st)
{
    int e = x->vfs->stat(x->fs, ino, st);
    if (e)
        return ncp_completion_from_errno(e);
    if (st->type == NCP_FT_DIR)
        return NCP_E_ISDIR;
    if (st->type != NCP_FT_FILE)
        return NCP_E_INVAL;
    unsigned want = 0;
    if (flags & NCP_O_READ)
        want |= NCP_MAY_R;
    if (flags & (NCP_O_WRITE | NCP_O_TRUNC))
        want |= NCP_MAY_W;
    if (!created && !ncp_may(id, st, want))
        return NCP_E_ACCES; /* the creator may always */
    if (flags & NCP_O_TRUNC) {
        if ((e = x->vfs->truncate(x->fs, ino, 0)))
            return ncp_completion_from_errno(e);
        ncp_users_touch_ino(x->s, ino);
        if ((e = x->vfs->stat(x->fs, ino, st)))
            return ncp_completion_from_errno(e);
    }
    return NCP_OK;
}

static int do_open(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_ident id;
    struct ncp_reply rp = reply_for(x);
    uint32_t flags = x->rq->u.open.flags, ino;
    bool created = false;
    int e = canon(x, x->rq->u.open.path, path);
    if (e)
        return e;
    ident_get(x, &id);
    if (flags & NCP_O_CREATE)
        e = open_create(x, &id, path, flags, &ino, &created);
    else
        e = ncp_walk(x->vfs, x->fs, &id, path, &ino, &rp.u.open.st);
    if (e)
        return e;
    if (created)
        flags &= ~(uint32_t)NCP_O_TRUNC; /* new: nothing to cut */
    /* Counted open first (the file then stays while this handle lives, even unlinked),
     * then the checks, on the inode that was counted. */
    if (x->vfs->open && (e = x->vfs->open(x->fs, ino)))
        return ncp_completion_from_errno(e);
    e = open_checks(x, &id, ino, flags, created, &rp.u.open.st);
    struct ncp_open *o = e ? NULL : fs_alloc(sizeof *o);
    if (!e && !o)
        e = NCP_E_NOMEM;
    if (e) {
        if (x->vfs->open)
            x->vfs->release(x->fs, ino);
        return e;
    }
    memset(o, 0, sizeof *o);                      /* not closing, no locks */
    o->ino = ino;
    o->flags = flags;
    o->refs = 1;
    o->conn = x->c; /* not shared yet */
    o->srv = x->s;
    o->counted = x->vfs->open != NULL;
    struct ncp_conn *c = x->c;
    uint32_t max = x->s->cfg.max_handles, slot = max;
    fs_mutex_lock(&c->lock);
    if (!c->handles) {
        c->handles = fs_alloc(sizeof *c->handles * max);
        if (c->handles)
            memset(c->handles, 0, sizeof *c->handles * max);
    }
    for (uint32_t i = 0; c->handles && i < max && slot == max && !c->dead; i++)
        if (!c->handles[i])
            slot = i;
    if (slot < max) {
        c->handles[slot] = o;
        c->nopen++;
    }
    bool dead = c->dead;                          /* disconnected meanwhile: keep nothing */
    fs_mutex_unlock(&c->lock);
    if (slot == max) {
        ncp_open_put(o);
        return dead ? NCP_E_BADF : c->handles ? NCP_E_TOOMANYFILES : NCP_E_NOMEM;
    }
    __atomic_fetch_add(&x->s->open_handles, 1, __ATOMIC_RELAXED);
    rp.u.open.handle = slot + 1;
    return send_reply(x, &rp, NULL, 0);
}

/* A cached read sent from the file system's own buffers: a header, then a reference per
 * cached piece, handed to the embedder's gather send (which copies them once, into its
 * transport).  False when it cannot serve the request whole this way (a short read, a file
 * system error): the copying path then answers it, errors included. */
static bool read_by_ref(struct ctx *x, const struct ncp_open *o, uint32_t count, int *r)
{
    struct ncp_vfs_ref refs[NCP_VFS_REFS_MAX];
    struct ncp_iov iov[NCP_VFS_REFS_MAX + 1];
    uint8_t head[NCP_READ_REPLY_DATA_OFF];
    unsigned n = 0;
    int64_t got = x->vfs->read_ref_nonblock(x->fs, o->ino, x->rq->u.read.offset, count, refs, NCP_VFS_REFS_MAX, &n);
    if (got == -FS_EAGAIN) {                      /* a miss: the copying path would miss too */
        *r = NCP_RET_BLOCK;
        return true;
    }
    if (got != (int64_t)count) {
        if (got >= 0)
            x->vfs->ref_release(x->fs, refs, n);
        return false;
    }
    struct ncp_reply rp = reply_for(x);
    size_t hn = ncp_encode_read_reply_head(head, sizeof head, &rp, count);
    if (hn) {
        iov[0] = (struct ncp_iov){ head, hn };
        for (unsigned i = 0; i < n; i++)
            iov[i + 1] = (struct ncp_iov){ refs[i].data, refs[i].len };
        ctr_add(x->s, CTR_BYTES_READ, (uint64_t)got);
        ctr_add(x->s, CTR_BYTES_READ_BY_REF, (uint64_t)got);
        *r = ncp_send_framev(x->c, iov, n + 1, true, x->may_block) ? NCP_RET_SENT : NCP_RET_BLOCK;
    }
    x->vfs->ref_release(x->fs, refs, n);
    return hn != 0;
}

static int do_read(struct ctx *x)
{
    uint32_t count = x->rq->u.read.count;
    if (count > LOAD(x->c->max_frame) - NCP_READ_REPLY_OVERHEAD)
        return NCP_E_INVAL;
    if (!x->may_block && !x->vfs->read_nonblock)
        return NCP_RET_BLOCK;
    bool busy = false;
    struct ncp_open *o = x->may_block ? open_get(x->c, x->rq->u.read.handle)
                                      : open_try_get(x->c, x->rq->u.read.handle, &busy);
    if (busy)
        return NCP_RET_BLOCK;
    if (!o)
        return NCP_E_BADF;
    int r = NCP_E_BADF;
    uint8_t *buf = NULL;
    if (!(o->flags & NCP_O_READ))
        goto out;
    /* (reads of more than NCP_VFS_REFS_MAX - 1 file system blocks would run out of references) */
    if (!x->may_block && count && x->c->sendv && x->vfs->read_ref_nonblock &&
        count <= (NCP_VFS_REFS_MAX - 1) * (uint64_t)x->vfs->ref_span(x->fs) && read_by_ref(x, o, count, &r))
        goto out;
    size_t cap = NCP_READ_REPLY_DATA_OFF + (size_t)count;
    buf = fs_alloc(cap);
    r = NCP_E_NOMEM;
    if (!buf)
        goto out;
    uint8_t *data = buf + NCP_READ_REPLY_DATA_OFF;
    int64_t got = x->may_block
        ? x->vfs->read(x->fs, o->ino, x->rq->u.read.offset, data, count)
        : x->vfs->read_nonblock(x->fs, o->ino, x->rq->u.read.offset, data, count);
    if (got == -FS_EAGAIN && !x->may_block) {
        r = NCP_RET_BLOCK;
        goto out;
    }
    if (got < 0) {
        r = ncp_completion_from_errno((int)got);
        goto out;
    }
    struct ncp_reply rp = reply_for(x);
    rp.u.read.data.ptr = data;                    /* already in place: no copy */
    rp.u.read.data.len = (uint32_t)got;
    ctr_add(x->s, CTR_BYTES_READ, (uint64_t)got);
    r = send_reply(x, &rp, buf, cap);
out:
    fs_free(buf);
    if (x->may_block)
        ncp_open_put(o);
    else
        ncp_open_put_later(o); /* a CLOSE meanwhile: the vfs is for workers */
    return r;
}

static int do_write(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_open *o = open_get(x->c, x->rq->u.write.handle);
    if (!o)
        return NCP_E_BADF;
    int r = NCP_E_BADF;
    if (!(o->flags & NCP_O_WRITE))
        goto out;
    struct ncp_bytes d = x->rq->u.write.data;
    int64_t put;
    /* O_APPEND: the file system finds the end and writes there under one lock, so
     * appenders on any connection or worker never overwrite each other. */
    uint64_t at = (o->flags & NCP_O_APPEND) ? NCP_VFS_APPEND : x->rq->u.write.offset;
    if (at == NCP_VFS_APPEND && !(o->flags & NCP_O_APPEND)) {
        r = NCP_E_INVAL;
        goto out;
    }
    put = x->vfs->write(x->fs, o->ino, at, d.ptr, d.len);
    ncp_users_touch_ino(x->s, o->ino);
    if (put < 0) {
        r = ncp_completion_from_errno((int)put);
        goto out;
    }
    ctr_add(x->s, CTR_BYTES_WRITTEN, (uint64_t)put);
    struct ncp_reply rp = reply_for(x);
    rp.u.write.written = (uint32_t)put;
    r = send_reply(x, &rp, NULL, 0);
out:
    ncp_open_put(o);
    return r;
}

/* Removes handle h from the table; its locks go, waiters on it get BADF.  The
 * handle is marked closing under server->lock as its locks are dropped, so a LOCK
 * racing this CLOSE either is dropped here or finds it closing (BADF); locks and
 * waiters hold references, so none outlives its handle's memory. */
static int close_handle(struct ncp_conn *c, uint32_t h)
{
    struct ncp_open *o = NULL;
    fs_mutex_lock(&c->lock);
    if (c->handles && h >= 1 && h <= c->srv->cfg.max_handles && c->handles[h - 1]) {
        o = c->handles[h - 1];
        c->handles[h - 1] = NULL;
        c->nopen--;
    }
    fs_mutex_unlock(&c->lock);
    if (!o)
        return NCP_E_BADF;
    ncp_locks_drop(c->srv, o, c, NCP_E_BADF);
    __atomic_fetch_sub(&c->srv->open_handles, 1, __ATOMIC_RELAXED);
    ncp_open_put(o);
    return NCP_OK;
}

static void drop_all_handles(struct ncp_conn *c)
{
    for (uint32_t h = 1; h <= c->srv->cfg.max_handles && c->handles; h++)
        (void)close_handle(c, h);
}

static int do_close(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK; /* may grant other connections' locks */
    return close_handle(x->c, x->rq->u.handle.handle);
}

static int reply_stat(struct ctx *x, uint32_t ino)
{
    struct ncp_reply rp = reply_for(x);
    int e = x->vfs->stat(x->fs, ino, &rp.u.stat.st);
    if (e)
        return ncp_completion_from_errno(e);
    return send_reply(x, &rp, NULL, 0);
}

static int do_stat(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_ident id;
    struct ncp_stat st;
    uint32_t ino;
    unsigned follow = x->rq->h.function == NCP_FN_LSTAT ? 0 : NCP_RESOLVE_FOLLOW;
    int e = canon(x, x->rq->u.path.path, path);
    if (e)
        return e;
    ident_get(x, &id);
    if ((e = ncp_walk_flags(x->vfs, x->fs, &id, path, follow, &ino, &st)))
        return e;
    struct ncp_reply rp = reply_for(x);         /* the walk's own stat: no second lookup race */
    rp.u.stat.st = st;
    return send_reply(x, &rp, NULL, 0);
}

static int do_fstat(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_open *o = open_get(x->c, x->rq->u.handle.handle);
    if (!o)
        return NCP_E_BADF;
    int r = reply_stat(x, o->ino);
    ncp_open_put(o);
    return r;
}

static bool dot_or_dotdot(const struct ncp_vfs_dirent *d)
{
    return d->name[0] == '.' && (d->name_len == 1 || (d->name_len == 2 && d->name[1] == '.'));
}

static int do_readdir(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_ident id;
    uint32_t dir;
    struct ncp_stat st;
    int e = canon(x, x->rq->u.readdir.path, path);
    if (e)
        return e;
    ident_get(x, &id);
    if ((e = ncp_walk(x->vfs, x->fs, &id, path, &dir, &st)))
        return e;
    if (st.type != NCP_FT_DIR)
        return NCP_E_NOTDIR;
    if (!ncp_may(&id, &st, NCP_MAY_R))
        return NCP_E_ACCES;
    bool searchable = ncp_may(&id, &st, NCP_MAY_X);   /* else names only, as ls without x */

    uint32_t max_frame = LOAD(x->c->max_frame);
    size_t cap = NCP_LEN_SIZE + max_frame;
    size_t room = max_frame - NCP_HDR_SIZE - NCP_READDIR_REPLY_FIXED;
    uint32_t max = x->rq->u.readdir.max_entries ? x->rq->u.readdir.max_entries : 0xFFFF;
    uint32_t slots = (uint32_t)(room / ncp_dirent_size(1));
    if (slots > max)
        slots = max;
    /* Entries and their names live in one allocation; the frame in another. */
    struct ncp_dirent *ents = fs_alloc(sizeof *ents * (slots ? slots : 1) + room);
    uint8_t *frame = fs_alloc(cap);
    struct ncp_vfs_dirent *d = fs_alloc(sizeof *d);
    int r = NCP_E_NOMEM;
    if (!ents || !frame || !d)
        goto out;
    char *names = (char *)(ents + (slots ? slots : 1));
    size_t used = 0, name_used = 0;
    uint16_t count = 0;
    uint64_t cookie = x->rq->u.readdir.cookie, before;
    bool eof = false;
    for (;;) {
        if (count >= slots)
            break;
        before = cookie;
        e = x->vfs->readdir(x->fs, dir, &cookie, d);
        if (e < 0) {
            r = ncp_completion_from_errno(e);
            goto out;
        }
        if (e == 0) {
            eof = true;
            break;
        }
        if (dot_or_dotdot(d) || d->name_len == 0)
            continue;
        if (used + ncp_dirent_size(d->name_len) > room) {
            cookie = before;
            break;
        }
        struct ncp_stat es;
        memset(&es, 0, sizeof es);
        if (searchable)
            (void)x->vfs->stat(x->fs, d->ino, &es);   /* best effort: raced deletes show zeros */
        struct ncp_dirent *o = &ents[count++];
        memcpy(names + name_used, d->name, d->name_len);
        o->ino = d->ino;
        o->type = d->type <= NCP_FT_OTHER ? d->type : NCP_FT_OTHER;
        if (o->type == NCP_FT_UNKNOWN && es.ino == d->ino)
            o->type = es.type;                    /* a volume without dirent types: the inode's */
        o->mode = es.mode;
        o->uid = es.uid;
        o->gid = es.gid;
        o->size = es.size;
        o->mtime = es.mtime;
        o->name_len = d->name_len;
        o->name = names + name_used;
        name_used += d->name_len;
        used += ncp_dirent_size(d->name_len);
    }
    struct ncp_reply rp = reply_for(x);
    rp.u.readdir.next_cookie = cookie;
    rp.u.readdir.eof = eof;
    rp.u.readdir.count = count;
    rp.u.readdir.entries = ents;
    r = send_reply(x, &rp, frame, cap);
out:
    fs_free(d);
    fs_free(frame);
    fs_free(ents);
    return r;
}

/* The entry `name` of directory dir, for removal: its inode and stat. */
static int victim_of(struct ctx *x, uint32_t dir, const char *name, uint32_t len, uint32_t *ino,
                     struct ncp_stat *st)
{
    int e = x->vfs->lookup_at(x->fs, dir, name, len, ino);
    if (!e)
        e = x->vfs->stat(x->fs, *ino, st);
    return ncp_completion_from_errno(e);
}

/* UNLINK, RMDIR, MKDIR under ns_lock: checks, then the change. */
static int path_op_locked(struct ctx *x, const struct ncp_ident *id, char *path)
{
    struct ncp_stat dst, vst;
    const char *name;
    uint32_t dir, nlen, ino;
    int r = ncp_walk_parent(x->vfs, x->fs, id, path, &dir, &dst, &name, &nlen);
    if (r)
        return r;
    if (x->rq->h.function == NCP_FN_MKDIR) {
        r = victim_of(x, dir, name, nlen, &ino, &vst);
        if (r == NCP_OK)
            return NCP_E_EXIST;
        if (r != NCP_E_NOENT)
            return r;
        if (!ncp_may(id, &dst, NCP_MAY_W | NCP_MAY_X))
            return NCP_E_ACCES;
        uint16_t mode = x->rq->u.mkdir.mode ? x->rq->u.mkdir.mode : 0755;
        return ncp_completion_from_errno(x->vfs->mkdir(x->fs, path, mode, id->uid, id->gid));
    }
    if ((r = victim_of(x, dir, name, nlen, &ino, &vst)))
        return r;
    if (!ncp_may_delete(id, &dst, &vst))
        return NCP_E_ACCES;
    if (x->rq->h.function == NCP_FN_UNLINK)
        return ncp_completion_from_errno(x->vfs->unlink(x->fs, path));
    return ncp_completion_from_errno(x->vfs->rmdir(x->fs, path));
}

/* UNLINK, RMDIR, MKDIR: one path, never the root. */
static int do_path_op(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_ident id;
    struct ncp_str p = x->rq->h.function == NCP_FN_MKDIR ? x->rq->u.mkdir.path : x->rq->u.path.path;
    int e = canon(x, p, path);
    if (e)
        return e;
    if (is_root(path))
        return x->rq->h.function == NCP_FN_MKDIR ? NCP_E_EXIST : NCP_E_BUSY;
    ident_get(x, &id);
    fs_mutex_lock(&x->s->ns_lock);
    e = path_op_locked(x, &id, path);
    ncp_users_touch_path(x->s, path);
    fs_mutex_unlock(&x->s->ns_lock);
    return e;
}

/* RENAME under ns_lock.  Write+search on both parents; the sticky rule for
 * the moved entry and for an entry it replaces; a directory moving to another
 * parent needs write permission on itself (its ".." changes). */
static int rename_locked(struct ctx *x, const struct ncp_ident *id, char *from, char *to)
{
    struct ncp_stat sdst, ddst, sst, tst;
    const char *sname, *dname;
    uint32_t sdir, ddir, slen, dlen, src, dst;
    int r = ncp_walk_parent(x->vfs, x->fs, id, from, &sdir, &sdst, &sname, &slen);
    if (r)
        return r;
    if ((r = victim_of(x, sdir, sname, slen, &src, &sst)))
        return r;
    if ((r = ncp_walk_parent(x->vfs, x->fs, id, to, &ddir, &ddst, &dname, &dlen)))
        return r;
    int t = victim_of(x, ddir, dname, dlen, &dst, &tst);
    if (t != NCP_OK && t != NCP_E_NOENT)
        return t;
    if (!ncp_may_delete(id, &sdst, &sst))
        return NCP_E_ACCES;
    if (!ncp_may(id, &ddst, NCP_MAY_W | NCP_MAY_X))
        return NCP_E_ACCES;
    if (t == NCP_OK && dst != src && !ncp_may_delete(id, &ddst, &tst))
        return NCP_E_ACCES;
    if (sst.type == NCP_FT_DIR && sdir != ddir && !ncp_may(id, &sst, NCP_MAY_W))
        return NCP_E_ACCES;
    return ncp_completion_from_errno(x->vfs->rename(x->fs, from, to));
}

static int do_rename(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char from[PATH_BUF], to[PATH_BUF];
    struct ncp_ident id;
    int e = canon(x, x->rq->u.rename.from, from);
    if (!e)
        e = canon(x, x->rq->u.rename.to, to);
    if (e)
        return e;
    if (is_root(from) || is_root(to))
        return NCP_E_BUSY;
    ident_get(x, &id);
    fs_mutex_lock(&x->s->ns_lock);
    e = rename_locked(x, &id, from, to);
    ncp_users_touch_path(x->s, from);
    ncp_users_touch_path(x->s, to);
    fs_mutex_unlock(&x->s->ns_lock);
    return e;
}

static int do_truncate(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_open *o = open_get(x->c, x->rq->u.truncate.handle);
    if (!o)
        return NCP_E_BADF;
    int r = (o->flags & NCP_O_WRITE)
        ? ncp_completion_from_errno(x->vfs->truncate(x->fs, o->ino, x->rq->u.truncate.size))
        : NCP_E_BADF;
    ncp_users_touch_ino(x->s, o->ino);
    ncp_open_put(o);
    return r;
}

/* ---- symbolic and hard links ------------------------------------------ */

/* SYMLINK: write+search on the parent, as for a new file; the link is never followed
 * (an existing entry of any kind, a dangling symlink too, is EXIST).  The target is
 * stored as sent: it is only resolved, inside the volume, when a path walks through it. */
static int do_symlink(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_ident id;
    struct ncp_stat dst, vst;
    const char *name;
    uint32_t dir, nlen, ino = 0;
    int e = canon(x, x->rq->u.symlink.path, path);
    if (e)
        return e;
    if (is_root(path))
        return NCP_E_EXIST;
    ident_get(x, &id);
    fs_mutex_lock(&x->s->ns_lock);
    e = ncp_walk_parent(x->vfs, x->fs, &id, path, &dir, &dst, &name, &nlen);
    if (!e) {
        e = victim_of(x, dir, name, nlen, &ino, &vst);
        if (e == NCP_OK) {
            e = NCP_E_EXIST;
        } else if (e == NCP_E_NOENT) {
            struct ncp_str t = x->rq->u.symlink.target;
            e = ncp_may(&id, &dst, NCP_MAY_W | NCP_MAY_X)
                ? ncp_completion_from_errno(x->vfs->symlink(x->fs, path, t.ptr, t.len, id.uid, id.gid, &ino))
                : NCP_E_ACCES;
            ncp_users_touch_path(x->s, path);
        }
    }
    fs_mutex_unlock(&x->s->ns_lock);
    return e ? e : reply_stat(x, ino);
}

/* READLINK: the final component is not followed; search permission on the way is all
 * it takes (a symlink's own mode means nothing, as on Linux). */
static int do_readlink(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_ident id;
    struct ncp_stat st;
    uint32_t ino;
    int e = canon(x, x->rq->u.path.path, path);
    if (e)
        return e;
    ident_get(x, &id);
    if ((e = ncp_walk_flags(x->vfs, x->fs, &id, path, 0, &ino, &st)))
        return e;
    if (st.type != NCP_FT_SYMLINK)
        return NCP_E_INVAL;
    size_t cap = NCP_LEN_SIZE + NCP_HDR_SIZE + 2 + NCP_SYMLINK_MAX;
    uint8_t *frame = fs_alloc(cap);
    char *target = fs_alloc(NCP_SYMLINK_MAX);
    int r = NCP_E_NOMEM;
    if (frame && target) {
        int64_t n = x->vfs->readlink(x->fs, ino, target, NCP_SYMLINK_MAX);
        if (n <= 0) {
            r = n == 0 ? NCP_E_IO : ncp_completion_from_errno((int)n);
        } else {
            struct ncp_reply rp = reply_for(x);
            rp.u.readlink.target.ptr = target;
            rp.u.readlink.target.len = (uint16_t)n;
            r = send_reply(x, &rp, frame, cap);
        }
    }
    fs_free(target);
    fs_free(frame);
    return r;
}

/* LINK under ns_lock.  The source is not followed (a link to a symlink links the symlink,
 * as Linux's link(2)); never a directory (EPERM); write+search on the new parent; and
 * Linux's protected_hardlinks rule: a non-admin who does not own the source needs it to
 * be a regular file, not setuid, not setgid-executable, that it may read and write (else
 * EPERM), so nobody pins or re-homes a file they could not change anyway. */
static int link_locked(struct ctx *x, const struct ncp_ident *id, char *existing, char *newpath, uint32_t *src)
{
    struct ncp_stat sdst, sst, ddst, tst;
    const char *sname, *dname;
    uint32_t sdir, slen, ddir, dlen, other;
    int r = ncp_walk_parent(x->vfs, x->fs, id, existing, &sdir, &sdst, &sname, &slen);
    if (r)
        return r;
    if ((r = victim_of(x, sdir, sname, slen, src, &sst)))
        return r;
    if (sst.type == NCP_FT_DIR)
        return NCP_E_PERM;
    if (!ncp_may_hardlink(id, &sst))
        return NCP_E_PERM;
    if ((r = ncp_walk_parent(x->vfs, x->fs, id, newpath, &ddir, &ddst, &dname, &dlen)))
        return r;
    int t = victim_of(x, ddir, dname, dlen, &other, &tst);
    if (t == NCP_OK)
        return NCP_E_EXIST;
    if (t != NCP_E_NOENT)
        return t;
    if (!ncp_may(id, &ddst, NCP_MAY_W | NCP_MAY_X))
        return NCP_E_ACCES;
    return ncp_completion_from_errno(x->vfs->link(x->fs, existing, newpath));
}

static int do_link(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    char existing[PATH_BUF], newpath[PATH_BUF];
    struct ncp_ident id;
    uint32_t src = 0;
    int e = canon(x, x->rq->u.link.existing, existing);
    if (!e)
        e = canon(x, x->rq->u.link.newpath, newpath);
    if (e)
        return e;
    if (is_root(existing))
        return NCP_E_PERM;
    if (is_root(newpath))
        return NCP_E_EXIST;
    ident_get(x, &id);
    fs_mutex_lock(&x->s->ns_lock);
    e = link_locked(x, &id, existing, newpath, &src);
    ncp_users_touch_path(x->s, newpath);
    fs_mutex_unlock(&x->s->ns_lock);
    return e ? e : reply_stat(x, src);
}

/* ---- attributes and names --------------------------------------------- */

/* The SETATTR rules (checked in full before anything changes):
 *   owner (UID)       admin only (the owner may "change" it to itself);
 *   group (GID)       admin, or the owner to one of the owner's own groups;
 *   mode              admin or owner; the setgid bit is dropped unless the
 *                     caller is admin or in the file's (new) group;
 *   explicit times    admin or owner;  times "now": also anyone who may write;
 *   size              a handle open for writing, or write permission on the path.
 * A change of owner or group of a non-directory clears setuid and setgid
 * (unless the same request sets the mode). */
static int setattr_check(const struct ncp_ident *id, const struct ncp_stat *st, const struct ncp_open *o,
                         struct ncp_vfs_attr *a, bool *truncate)
{
    uint32_t m = a->mask;
    bool owner = id->admin || id->uid == st->uid;
    uint32_t gid = (m & NCP_SA_GID) ? a->gid : st->gid;
    if ((m & NCP_SA_UID) && !id->admin && !(owner && a->uid == st->uid))
        return NCP_E_ACCES;
    if ((m & NCP_SA_GID) && !id->admin && !(owner && ncp_in_group(id, a->gid)))
        return NCP_E_ACCES;
    if ((m & NCP_SA_MODE) && !owner)
        return NCP_E_ACCES;
    if ((m & (NCP_SA_ATIME | NCP_SA_MTIME)) && !owner)
        return NCP_E_ACCES;
    if ((m & (NCP_SA_ATIME_NOW | NCP_SA_MTIME_NOW)) && !owner && !ncp_may(id, st, NCP_MAY_W))
        return NCP_E_ACCES;
    *truncate = (m & NCP_SA_SIZE) != 0;
    if (*truncate) {
        if (st->type == NCP_FT_DIR)
            return NCP_E_ISDIR;
        if (st->type != NCP_FT_FILE)
            return NCP_E_INVAL;
        if (o && !(o->flags & NCP_O_WRITE))
            return NCP_E_BADF;
        if (!o && !ncp_may(id, st, NCP_MAY_W))
            return NCP_E_ACCES;
    }
    if ((m & NCP_SA_MODE) && !id->admin && !ncp_in_group(id, gid))
        a->mode &= (uint16_t)~02000u;
    if ((m & (NCP_SA_UID | NCP_SA_GID)) && !(m & NCP_SA_MODE) && st->type != NCP_FT_DIR &&
        (st->mode & 06000)) {
        a->mode = (uint16_t)(st->mode & ~06000u);
        m |= NCP_SA_MODE;
    }
    uint32_t now = fs_time_now();
    if (m & NCP_SA_ATIME_NOW) {
        a->atime = now;
        m |= NCP_SA_ATIME;
    }
    if (m & NCP_SA_MTIME_NOW) {
        a->mtime = now;
        m |= NCP_SA_MTIME;
    }
    a->mask = m & (NCP_SA_MODE | NCP_SA_UID | NCP_SA_GID | NCP_SA_ATIME | NCP_SA_MTIME);
    return NCP_OK;
}

static int do_setattr(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_ident id;
    struct ncp_stat st;
    struct ncp_open *o = NULL;
    uint32_t ino;
    bool truncate = false;
    int r;
    ident_get(x, &id);
    if (x->rq->u.setattr.handle != NCP_HANDLE_NONE) {
        if (!(o = open_get(x->c, x->rq->u.setattr.handle)))
            return NCP_E_BADF;
        ino = o->ino;
    } else {
        char path[PATH_BUF];
        if ((r = canon(x, x->rq->u.setattr.path, path)))
            return r;
        unsigned follow = (x->rq->u.setattr.mask & NCP_SA_NOFOLLOW) ? 0 : NCP_RESOLVE_FOLLOW;
        if ((r = ncp_walk_flags(x->vfs, x->fs, &id, path, follow, &ino, &st)))
            return r;
    }
    struct ncp_vfs_attr a = { x->rq->u.setattr.mask, x->rq->u.setattr.mode, x->rq->u.setattr.uid,
                              x->rq->u.setattr.gid, x->rq->u.setattr.atime, x->rq->u.setattr.mtime };
    fs_mutex_lock(&x->s->ns_lock);                /* check and change against other SETATTRs */
    r = ncp_completion_from_errno(x->vfs->stat(x->fs, ino, &st));
    if (!r && st.type == NCP_FT_SYMLINK && (a.mask & (NCP_SA_MODE | NCP_SA_SIZE)))
        r = NCP_E_INVAL;
    if (!r)
        r = setattr_check(&id, &st, o, &a, &truncate);
    if (!r && truncate)
        r = ncp_completion_from_errno(x->vfs->truncate(x->fs, ino, x->rq->u.setattr.size));
    if (!r && a.mask)
        r = ncp_completion_from_errno(x->vfs->setattr(x->fs, ino, &a));
    if (!r)
        ncp_users_touch_ino(x->s, ino);
    fs_mutex_unlock(&x->s->ns_lock);
    if (o)
        ncp_open_put(o);
    return r ? r : reply_stat(x, ino);
}

/* NAMES: names for ids and ids for names, from the users file (never its hashes). */
static int do_names(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    uint16_t n = x->rq->u.names.count;
    struct ncp_name *out = fs_alloc(sizeof *out * (n ? n : 1));
    char (*names)[NCP_USER_MAX + 1] = fs_alloc(sizeof *names * (n ? n : 1));
    size_t cap = NCP_LEN_SIZE + NCP_HDR_SIZE + 2 + (size_t)n * ncp_name_size(NCP_USER_MAX);
    uint8_t *frame = fs_alloc(cap);
    int r = NCP_E_NOMEM;
    if (!out || !names || !frame)
        goto done;
    if ((r = ncp_users_hold(x->s)))
        goto done;
    size_t pos = 0;
    uint16_t k = 0;
    while (k < n && ncp_names_next(x->rq->u.names.raw, &pos, &out[k])) {
        out[k].len = (uint8_t)ncp_users_resolve(x->s, out[k].kind, &out[k].id, out[k].name, out[k].len, names[k]);
        out[k].name = names[k];
        k++;
    }
    ncp_users_release(x->s);
    struct ncp_reply rp = reply_for(x);
    rp.u.names.count = k;                         /* = n: the decoder checked every entry */
    rp.u.names.names = out;
    r = send_reply(x, &rp, frame, cap);
done:
    fs_free(frame);
    fs_free(names);
    fs_free(out);
    return r;
}

static int do_lock(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK; /* lock table and grants take mutexes */
    struct ncp_open *o = open_get(x->c, x->rq->u.lock.handle);
    if (!o)
        return NCP_E_BADF;
    int r;
    if (x->rq->h.function == NCP_FN_LOCK)
        r = ncp_locks_acquire(x->s, o, &x->rq->h, x->rq->u.lock.offset, x->rq->u.lock.length,
                              x->rq->u.lock.flags);
    else
        r = ncp_locks_release(x->s, o, x->rq->u.lock.offset, x->rq->u.lock.length);
    ncp_open_put(o);
    return r < 0 ? NCP_RET_DEFERRED : r;
}

static int do_fsync(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    ctr_add(x->s, CTR_FSYNCS, 1);                  /* counted here, once: the fast path only defers */
    uint32_t h = x->rq->u.handle.handle;
    if (h == NCP_HANDLE_NONE)
        return ncp_completion_from_errno(x->vfs->sync(x->fs));
    struct ncp_open *o = open_get(x->c, h);     /* only a handle of this connection */
    if (!o)
        return NCP_E_BADF;
    int e = x->vfs->fsync ? x->vfs->fsync(x->fs, o->ino) : x->vfs->sync(x->fs);
    ncp_open_put(o);
    return ncp_completion_from_errno(e);
}

static int do_statfs(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_reply rp = reply_for(x);
    int e = x->vfs->statfs(x->fs, &rp.u.statfs);
    if (e)
        return ncp_completion_from_errno(e);
    return send_reply(x, &rp, NULL, 0);
}

static const char *const ctr_names[CTR_COUNT] = {
    "ncp.requests", "ncp.errors", "ncp.bad_frames", "ncp.fast_path", "ncp.blocking",
    "ncp.bytes_read", "ncp.bytes_read_by_ref", "ncp.bytes_written", "ncp.fsyncs",
    "ncp.lock_waits", "ncp.lock_grants", "ncp.deadlocks",
    "conn.total", "conn.refused", "conn.logins", "conn.login_failures", "conn.too_many_requests",
    "ncp.too_many_locks", "conn.refusals_deferred", "conn.refusal_overflows",
    "intruder.lockouts", "intruder.locked_logins",
};

#define MAX_COUNTERS    256
#define STATS_NAMED_MAX 64                  /* per-name intruder entries in an admin's STATS */
#define STATS_ROOM_MAX  (8u * 1024u)        /* payload bytes per STATS reply; page with `first` */

/* Everyone logged in gets the engine's counters and the embedder's (cheap by contract,
 * see ncp_server.h): a fixed amount of work, no scan, two small allocations.  An
 * admin also gets the intruder table (a walk of it), so an admin's STATS runs in a
 * worker.  Replies are at most STATS_ROOM_MAX bytes whatever the negotiated frame. */
static int do_stats(struct ctx *x)
{
    bool admin = LOAD(x->c->admin);
    if (admin && !x->may_block)
        return NCP_RET_BLOCK;
    struct ncp_counter *all = fs_alloc(sizeof *all * MAX_COUNTERS);
    char (*names)[NCP_STAT_NAME_MAX + 1] = admin ? fs_alloc(sizeof *names * STATS_NAMED_MAX) : NULL;
    uint8_t *frame = NULL;
    int r = NCP_E_NOMEM;
    if (!all || (admin && !names))
        goto out;
    unsigned n = 0;
    for (unsigned i = 0; i < CTR_COUNT; i++) {
        all[n].name = ctr_names[i];
        all[n++].value = __atomic_load_n(&x->s->ctr[i], __ATOMIC_RELAXED);
    }
    uint32_t held = __atomic_load_n(&x->s->nlocks, __ATOMIC_RELAXED);
    uint32_t waiting = __atomic_load_n(&x->s->nwaiters, __ATOMIC_RELAXED);
    all[n].name = "conn.current";
    all[n++].value = __atomic_load_n(&x->s->nconns, __ATOMIC_RELAXED);
    all[n].name = "conn.open_handles";
    all[n++].value = __atomic_load_n(&x->s->open_handles, __ATOMIC_RELAXED);
    all[n].name = "ncp.locks";
    all[n++].value = held > waiting ? held - waiting : 0;
    all[n].name = "ncp.lock_waiters";
    all[n++].value = waiting;
    if (x->s->cfg.extra_counters)
        n += x->s->cfg.extra_counters(x->s->cfg.arg, all + n, MAX_COUNTERS - STATS_NAMED_MAX - 3 - n);
    if (admin)
        n += ncp_intruder_counters(x->s, all + n, names, MAX_COUNTERS - n < STATS_NAMED_MAX + 3
                                                          ? MAX_COUNTERS - n : STATS_NAMED_MAX + 3);
    uint16_t first = x->rq->u.stats.first;
    if (first > n)
        first = (uint16_t)n;
    size_t room = LOAD(x->c->max_frame) - NCP_HDR_SIZE - NCP_STATS_REPLY_FIXED, used = 0;
    if (room > STATS_ROOM_MAX)
        room = STATS_ROOM_MAX;
    uint16_t count = 0;
    while (first + count < n) {
        const char *name = all[first + count].name;
        size_t len = strlen(name);
        if (len == 0 || len > NCP_STAT_NAME_MAX) {
            all[first + count].name = "?";
            continue;
        }
        if (used + ncp_counter_size(name) > room)
            break;
        used += ncp_counter_size(name);
        count++;
    }
    size_t cap = NCP_LEN_SIZE + NCP_HDR_SIZE + NCP_STATS_REPLY_FIXED + used;
    frame = fs_alloc(cap);
    if (!frame)
        goto out;
    struct ncp_reply rp = reply_for(x);
    rp.u.stats.total = (uint16_t)n;
    rp.u.stats.count = count;
    rp.u.stats.counters = all + first;
    r = send_reply(x, &rp, frame, cap);
out:
    fs_free(frame);
    fs_free(names);
    fs_free(all);
    return r;
}

static int do_shutdown(struct ctx *x)
{
    if (!x->may_block)
        return NCP_RET_BLOCK;
    if (!LOAD(x->c->admin))
        return NCP_E_ACCES;
    STORE(x->s->stopping, true);
    ncp_send_status(x->c, &x->rq->h, NCP_OK, true, true);   /* answer before power goes */
    (void)x->vfs->sync(x->fs);
    if (x->s->cfg.shutdown)
        x->s->cfg.shutdown(x->s->cfg.arg);
    return NCP_RET_SENT;
}

int ncp_dispatch(struct ncp_conn *c, const struct ncp_request *rq, bool may_block)
{
    struct ctx x = { c, c->srv, c->srv->cfg.vfs, c->srv->cfg.vfs_ctx, rq, may_block };
    switch (rq->h.function) {
    case NCP_FN_NEGOTIATE: return do_negotiate(&x);
    case NCP_FN_CHALLENGE: return do_challenge(&x);
    case NCP_FN_LOGIN:     return do_login(&x);
    case NCP_FN_LOGOUT:    return do_logout(&x);
    case NCP_FN_PING:      return do_ping(&x);
    case NCP_FN_OPEN:
    case NCP_FN_CREATE:    return do_open(&x);
    case NCP_FN_READ:      return do_read(&x);
    case NCP_FN_WRITE:     return do_write(&x);
    case NCP_FN_CLOSE:     return do_close(&x);
    case NCP_FN_STAT:
    case NCP_FN_LSTAT:     return do_stat(&x);
    case NCP_FN_SYMLINK:   return do_symlink(&x);
    case NCP_FN_READLINK:  return do_readlink(&x);
    case NCP_FN_LINK:      return do_link(&x);
    case NCP_FN_FSTAT:     return do_fstat(&x);
    case NCP_FN_READDIR:   return do_readdir(&x);
    case NCP_FN_UNLINK:
    case NCP_FN_RMDIR:
    case NCP_FN_MKDIR:     return do_path_op(&x);
    case NCP_FN_RENAME:    return do_rename(&x);
    case NCP_FN_TRUNCATE:  return do_truncate(&x);
    case NCP_FN_LOCK:
    case NCP_FN_UNLOCK:    return do_lock(&x);
    case NCP_FN_FSYNC:     return do_fsync(&x);
    case NCP_FN_STATFS:    return do_statfs(&x);
    case NCP_FN_SETATTR:   return do_setattr(&x);
    case NCP_FN_NAMES:     return do_names(&x);
    case NCP_FN_STATS:     return do_stats(&x);
    case NCP_FN_SHUTDOWN:  return do_shutdown(&x);
    default:               return NCP_E_BADFUNC;
    }
}
