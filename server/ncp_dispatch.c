/* ncp_dispatch.c - one handler per NCP function, on top of ncp_vfs_ops.
 *
 * A handler returns a completion code (the engine sends a header-only
 * reply), NCP_RET_SENT after sending a reply with payload itself,
 * NCP_RET_BLOCK when it would have to sleep and may not, or
 * NCP_RET_DEFERRED when the reply comes later. */
#include "server/ncp_server_internal.h"
#include "proto/ncp_auth.h"
#include "fs/fs_errno.h"

#define USERS_FILE_MAX (64u * 1024u)
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
    if (!buf) { buf = small; cap = sizeof small; }
    size_t n = ncp_encode_reply(buf, cap, rp);
    if (!n) return NCP_E_IO;                      /* a server bug: say so, do not crash */
    return ncp_send_frame(x->c, buf, n, true, x->may_block) ? NCP_RET_SENT : NCP_RET_BLOCK;
}

/* Wire path -> canonical "/a/b"; refuses the users file to non-admins
 * (it holds password-equivalent hashes). */
static int canon(const struct ctx *x, struct ncp_str p, char out[PATH_BUF])
{
    struct ncp_path_iter it;
    const char *name;
    size_t n, len = 0;
    ncp_path_iter_init(&it, p.ptr, p.len);
    while (ncp_path_iter_next(&it, &name, &n)) {
        if (len + 1 + n > NCP_PATH_MAX) return NCP_E_NAMETOOLONG;
        out[len++] = '/';
        memcpy(out + len, name, n);
        len += n;
    }
    if (len == 0) out[len++] = '/';
    out[len] = '\0';
    if (!LOAD(x->c->admin) && len == strlen(x->s->cfg.users_path) &&
        memcmp(out, x->s->cfg.users_path, len) == 0)
        return NCP_E_ACCES;
    return NCP_OK;
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
    if (*busy) return NULL;
    if (c->handles && h >= 1 && h <= c->srv->cfg.max_handles && c->handles[h - 1]) {
        o = c->handles[h - 1];
        INC(o->refs);
    }
    fs_mutex_unlock(&c->lock);
    return o;
}

/* ---- session ----------------------------------------------------------- */

static int do_negotiate(struct ctx *x)
{
    if (x->rq->u.negotiate.version < 1) return NCP_E_BADVERSION;
    uint32_t want = x->rq->u.negotiate.max_frame;
    if (want < NCP_MIN_MAX_FRAME) want = NCP_MIN_MAX_FRAME;
    if (want > x->s->cfg.max_frame) want = x->s->cfg.max_frame;
    STORE(x->c->max_frame, want);
    struct ncp_reply rp = reply_for(x);
    rp.u.negotiate.version = NCP_VERSION;
    rp.u.negotiate.max_frame = want;
    rp.u.negotiate.conn = x->c->number;
    rp.u.negotiate.max_handles = x->s->cfg.max_handles;
    rp.u.negotiate.max_inflight = x->s->cfg.max_inflight;
    return send_reply(x, &rp, NULL, 0);
}

/* Reads the users file and finds `user` in it. */
static int find_user(struct ctx *x, struct ncp_str user, struct ncp_user *u, bool *found)
{
    uint32_t ino;
    struct ncp_stat st;
    *found = false;
    int e = x->vfs->lookup(x->fs, x->s->cfg.users_path, &ino);
    if (e == -FS_ENOENT) return NCP_OK;           /* no users file: nobody logs in */
    if (e) return ncp_completion_from_errno(e);
    if ((e = x->vfs->stat(x->fs, ino, &st))) return ncp_completion_from_errno(e);
    uint32_t size = st.size > USERS_FILE_MAX ? USERS_FILE_MAX : (uint32_t)st.size;
    char *text = fs_alloc(size + 1);
    if (!text) return NCP_E_NOMEM;
    int64_t got = x->vfs->read(x->fs, ino, 0, text, size);
    if (got >= 0) *found = ncp_users_find(text, (size_t)got, user.ptr, user.len, u);
    fs_free(text);
    return got < 0 ? ncp_completion_from_errno((int)got) : NCP_OK;
}

static int do_challenge(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    struct ncp_str user = x->rq->u.challenge.user;
    struct ncp_user u;
    bool found;
    int e = find_user(x, user, &u, &found);
    if (e) return e;
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
    if (!x->may_block) return NCP_RET_BLOCK;
    struct ncp_str user = x->rq->u.login.user;
    uint8_t nonce[NCP_NONCE_SIZE];
    fs_mutex_lock(&x->c->lock);
    bool ok = x->c->have_nonce && strlen(x->c->chal_user) == user.len &&
              memcmp(x->c->chal_user, user.ptr, user.len) == 0;
    memcpy(nonce, x->c->nonce, sizeof nonce);
    x->c->have_nonce = false;                     /* a proof is good once */
    fs_mutex_unlock(&x->c->lock);

    struct ncp_user u;
    bool found = false;
    if (ok) {
        int e = find_user(x, user, &u, &found);
        if (e) return e;
    }
    uint8_t want[NCP_HASH_SIZE];
    if (found) ncp_auth_proof(nonce, u.hash, want);
    if (!found || !ncp_auth_equal(want, x->rq->u.login.proof, NCP_HASH_SIZE)) {
        ctr_add(x->s, CTR_LOGIN_FAILURES, 1);
        return NCP_E_BADLOGIN;
    }
    fs_mutex_lock(&x->c->lock);
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
    if (!x->may_block) return NCP_RET_BLOCK;       /* drops locks: other connections' sends */
    drop_all_handles(x->c);
    fs_mutex_lock(&x->c->lock);
    STORE(x->c->logged_in, false);
    STORE(x->c->admin, false);
    fs_mutex_unlock(&x->c->lock);
    return NCP_OK;
}

static int do_ping(struct ctx *x)
{
    struct ncp_reply rp = reply_for(x);
    rp.u.ping.data = x->rq->u.ping.data;
    size_t cap = NCP_LEN_SIZE + NCP_HDR_SIZE + 4 + rp.u.ping.data.len;
    uint8_t *buf = fs_alloc(cap);
    if (!buf) return NCP_E_NOMEM;
    int r = send_reply(x, &rp, buf, cap);
    fs_free(buf);
    return r;
}

/* ---- files ------------------------------------------------------------- */

static int do_open(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    char path[PATH_BUF];
    uint32_t flags = x->rq->u.open.flags, ino;
    int e = canon(x, x->rq->u.open.path, path);
    if (e) return e;
    e = x->vfs->lookup(x->fs, path, &ino);
    if (e == -FS_ENOENT && (flags & NCP_O_CREATE)) {
        e = x->vfs->create(x->fs, path, x->rq->u.open.mode ? x->rq->u.open.mode : 0644, &ino);
        if (e == -FS_EEXIST && !(flags & NCP_O_EXCL)) e = x->vfs->lookup(x->fs, path, &ino);
        else if (e == 0) flags &= ~(uint32_t)NCP_O_TRUNC;   /* new: nothing to cut */
    } else if (e == 0 && (flags & NCP_O_CREATE) && (flags & NCP_O_EXCL)) {
        return NCP_E_EXIST;
    }
    if (e) return ncp_completion_from_errno(e);

    struct ncp_reply rp = reply_for(x);
    if ((e = x->vfs->stat(x->fs, ino, &rp.u.open.st))) return ncp_completion_from_errno(e);
    if (rp.u.open.st.type == NCP_FT_DIR) return NCP_E_ISDIR;
    if (rp.u.open.st.type != NCP_FT_FILE) return NCP_E_INVAL;
    if (flags & NCP_O_TRUNC) {
        if ((e = x->vfs->truncate(x->fs, ino, 0))) return ncp_completion_from_errno(e);
        rp.u.open.st.size = 0;
    }

    struct ncp_open *o = fs_alloc(sizeof *o);
    if (!o) return NCP_E_NOMEM;
    o->ino = ino; o->flags = flags; o->refs = 1; o->conn = x->c;   /* not shared yet */
    struct ncp_conn *c = x->c;
    uint32_t max = x->s->cfg.max_handles, slot = max;
    fs_mutex_lock(&c->lock);
    if (!c->handles) {
        c->handles = fs_alloc(sizeof *c->handles * max);
        if (c->handles) memset(c->handles, 0, sizeof *c->handles * max);
    }
    for (uint32_t i = 0; c->handles && i < max && slot == max && !c->dead; i++)
        if (!c->handles[i]) slot = i;
    if (slot < max) { c->handles[slot] = o; c->nopen++; }
    bool dead = c->dead;                          /* disconnected meanwhile: keep nothing */
    fs_mutex_unlock(&c->lock);
    if (slot == max) { fs_free(o); return dead ? NCP_E_BADF : c->handles ? NCP_E_TOOMANYFILES : NCP_E_NOMEM; }
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
        if (got >= 0) x->vfs->ref_release(x->fs, refs, n);
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
    if (count > LOAD(x->c->max_frame) - NCP_READ_REPLY_OVERHEAD) return NCP_E_INVAL;
    if (!x->may_block && !x->vfs->read_nonblock) return NCP_RET_BLOCK;
    bool busy = false;
    struct ncp_open *o = x->may_block ? open_get(x->c, x->rq->u.read.handle)
                                      : open_try_get(x->c, x->rq->u.read.handle, &busy);
    if (busy) return NCP_RET_BLOCK;
    if (!o) return NCP_E_BADF;
    int r = NCP_E_BADF;
    uint8_t *buf = NULL;
    if (!(o->flags & NCP_O_READ)) goto out;
    /* (reads of more than NCP_VFS_REFS_MAX - 1 file system blocks would run out of references) */
    if (!x->may_block && count && x->c->sendv && x->vfs->read_ref_nonblock &&
        count <= (NCP_VFS_REFS_MAX - 1) * (uint64_t)x->vfs->ref_span(x->fs) && read_by_ref(x, o, count, &r))
        goto out;
    size_t cap = NCP_READ_REPLY_DATA_OFF + (size_t)count;
    buf = fs_alloc(cap);
    r = NCP_E_NOMEM;
    if (!buf) goto out;
    uint8_t *data = buf + NCP_READ_REPLY_DATA_OFF;
    int64_t got = x->may_block
        ? x->vfs->read(x->fs, o->ino, x->rq->u.read.offset, data, count)
        : x->vfs->read_nonblock(x->fs, o->ino, x->rq->u.read.offset, data, count);
    if (got == -FS_EAGAIN && !x->may_block) { r = NCP_RET_BLOCK; goto out; }
    if (got < 0) { r = ncp_completion_from_errno((int)got); goto out; }
    struct ncp_reply rp = reply_for(x);
    rp.u.read.data.ptr = data;                    /* already in place: no copy */
    rp.u.read.data.len = (uint32_t)got;
    ctr_add(x->s, CTR_BYTES_READ, (uint64_t)got);
    r = send_reply(x, &rp, buf, cap);
out:
    fs_free(buf);
    ncp_open_put(o);
    return r;
}

static int do_write(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    struct ncp_open *o = open_get(x->c, x->rq->u.write.handle);
    if (!o) return NCP_E_BADF;
    int r = NCP_E_BADF;
    if (!(o->flags & NCP_O_WRITE)) goto out;
    struct ncp_bytes d = x->rq->u.write.data;
    int64_t put;
    if (o->flags & NCP_O_APPEND) {
        struct ncp_stat st;
        fs_mutex_lock(&x->s->append_lock);
        int e = x->vfs->stat(x->fs, o->ino, &st);
        put = e ? e : x->vfs->write(x->fs, o->ino, st.size, d.ptr, d.len);
        fs_mutex_unlock(&x->s->append_lock);
    } else {
        put = x->vfs->write(x->fs, o->ino, x->rq->u.write.offset, d.ptr, d.len);
    }
    if (put < 0) { r = ncp_completion_from_errno((int)put); goto out; }
    ctr_add(x->s, CTR_BYTES_WRITTEN, (uint64_t)put);
    struct ncp_reply rp = reply_for(x);
    rp.u.write.written = (uint32_t)put;
    r = send_reply(x, &rp, NULL, 0);
out:
    ncp_open_put(o);
    return r;
}

/* Removes handle h from the table; its locks go, waiters on it get BADF. */
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
    if (!o) return NCP_E_BADF;
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
    if (!x->may_block) return NCP_RET_BLOCK;       /* may grant other connections' locks */
    return close_handle(x->c, x->rq->u.handle.handle);
}

static int reply_stat(struct ctx *x, uint32_t ino)
{
    struct ncp_reply rp = reply_for(x);
    int e = x->vfs->stat(x->fs, ino, &rp.u.stat.st);
    if (e) return ncp_completion_from_errno(e);
    return send_reply(x, &rp, NULL, 0);
}

static int do_stat(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    char path[PATH_BUF];
    uint32_t ino;
    int e = canon(x, x->rq->u.path.path, path);
    if (e) return e;
    if ((e = x->vfs->lookup(x->fs, path, &ino))) return ncp_completion_from_errno(e);
    return reply_stat(x, ino);
}

static int do_fstat(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    struct ncp_open *o = open_get(x->c, x->rq->u.handle.handle);
    if (!o) return NCP_E_BADF;
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
    if (!x->may_block) return NCP_RET_BLOCK;
    char path[PATH_BUF];
    uint32_t dir;
    struct ncp_stat st;
    int e = canon(x, x->rq->u.readdir.path, path);
    if (e) return e;
    if ((e = x->vfs->lookup(x->fs, path, &dir))) return ncp_completion_from_errno(e);
    if ((e = x->vfs->stat(x->fs, dir, &st))) return ncp_completion_from_errno(e);
    if (st.type != NCP_FT_DIR) return NCP_E_NOTDIR;

    uint32_t max_frame = LOAD(x->c->max_frame);
    size_t cap = NCP_LEN_SIZE + max_frame;
    size_t room = max_frame - NCP_HDR_SIZE - NCP_READDIR_REPLY_FIXED;
    uint32_t max = x->rq->u.readdir.max_entries ? x->rq->u.readdir.max_entries : 0xFFFF;
    uint32_t slots = (uint32_t)(room / ncp_dirent_size(1));
    if (slots > max) slots = max;
    /* Entries and their names live in one allocation; the frame in another. */
    struct ncp_dirent *ents = fs_alloc(sizeof *ents * (slots ? slots : 1) + room);
    uint8_t *frame = fs_alloc(cap);
    struct ncp_vfs_dirent *d = fs_alloc(sizeof *d);
    int r = NCP_E_NOMEM;
    if (!ents || !frame || !d) goto out;
    char *names = (char *)(ents + (slots ? slots : 1));
    size_t used = 0, name_used = 0;
    uint16_t count = 0;
    uint64_t cookie = x->rq->u.readdir.cookie, before;
    bool eof = false;
    for (;;) {
        if (count >= slots) break;
        before = cookie;
        e = x->vfs->readdir(x->fs, dir, &cookie, d);
        if (e < 0) { r = ncp_completion_from_errno(e); goto out; }
        if (e == 0) { eof = true; break; }
        if (dot_or_dotdot(d) || d->name_len == 0) continue;
        if (used + ncp_dirent_size(d->name_len) > room) { cookie = before; break; }
        struct ncp_stat es;
        memset(&es, 0, sizeof es);
        (void)x->vfs->stat(x->fs, d->ino, &es);   /* best effort: raced deletes show zeros */
        struct ncp_dirent *o = &ents[count++];
        memcpy(names + name_used, d->name, d->name_len);
        o->ino = d->ino;
        o->type = d->type <= NCP_FT_OTHER ? d->type : NCP_FT_OTHER;
        o->mode = es.mode;
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

/* UNLINK, RMDIR, MKDIR: one path, never the root. */
static int do_path_op(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    char path[PATH_BUF];
    struct ncp_str p = x->rq->h.function == NCP_FN_MKDIR ? x->rq->u.mkdir.path : x->rq->u.path.path;
    int e = canon(x, p, path);
    if (e) return e;
    if (is_root(path)) return x->rq->h.function == NCP_FN_MKDIR ? NCP_E_EXIST : NCP_E_BUSY;
    switch (x->rq->h.function) {
    case NCP_FN_UNLINK: e = x->vfs->unlink(x->fs, path); break;
    case NCP_FN_RMDIR:  e = x->vfs->rmdir(x->fs, path); break;
    default: e = x->vfs->mkdir(x->fs, path, x->rq->u.mkdir.mode ? x->rq->u.mkdir.mode : 0755); break;
    }
    return ncp_completion_from_errno(e);
}

static int do_rename(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    char from[PATH_BUF], to[PATH_BUF];
    int e = canon(x, x->rq->u.rename.from, from);
    if (!e) e = canon(x, x->rq->u.rename.to, to);
    if (e) return e;
    if (is_root(from) || is_root(to)) return NCP_E_BUSY;
    return ncp_completion_from_errno(x->vfs->rename(x->fs, from, to));
}

static int do_truncate(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    struct ncp_open *o = open_get(x->c, x->rq->u.truncate.handle);
    if (!o) return NCP_E_BADF;
    int r = (o->flags & NCP_O_WRITE)
        ? ncp_completion_from_errno(x->vfs->truncate(x->fs, o->ino, x->rq->u.truncate.size))
        : NCP_E_BADF;
    ncp_open_put(o);
    return r;
}

static int do_lock(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;       /* lock table and grants take mutexes */
    struct ncp_open *o = open_get(x->c, x->rq->u.lock.handle);
    if (!o) return NCP_E_BADF;
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
    if (!x->may_block) return NCP_RET_BLOCK;
    ctr_add(x->s, CTR_FSYNCS, 1);                  /* counted here, once: the fast path only defers */
    uint32_t h = x->rq->u.handle.handle;
    if (h != NCP_HANDLE_NONE) {
        struct ncp_open *o = open_get(x->c, h);
        if (!o) return NCP_E_BADF;
        ncp_open_put(o);
    }
    return ncp_completion_from_errno(x->vfs->sync(x->fs));   /* ext2 syncs per volume */
}

static int do_statfs(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    struct ncp_reply rp = reply_for(x);
    int e = x->vfs->statfs(x->fs, &rp.u.statfs);
    if (e) return ncp_completion_from_errno(e);
    return send_reply(x, &rp, NULL, 0);
}

static const char *const ctr_names[CTR_COUNT] = {
    "ncp.requests", "ncp.errors", "ncp.bad_frames", "ncp.fast_path", "ncp.blocking",
    "ncp.bytes_read", "ncp.bytes_read_by_ref", "ncp.bytes_written", "ncp.fsyncs",
    "ncp.lock_waits", "ncp.lock_grants", "ncp.deadlocks",
    "conn.total", "conn.refused", "conn.logins", "conn.login_failures", "conn.too_many_requests",
};

#define MAX_COUNTERS 256

static int do_stats(struct ctx *x)
{
    struct ncp_counter *all = fs_alloc(sizeof *all * MAX_COUNTERS);
    uint32_t max_frame = LOAD(x->c->max_frame);
    size_t cap = NCP_LEN_SIZE + max_frame;
    uint8_t *frame = fs_alloc(cap);
    int r = NCP_E_NOMEM;
    if (!all || !frame) goto out;
    unsigned n = 0;
    for (unsigned i = 0; i < CTR_COUNT; i++) {
        all[n].name = ctr_names[i];
        all[n++].value = __atomic_load_n(&x->s->ctr[i], __ATOMIC_RELAXED);
    }
    all[n].name = "conn.current"; all[n++].value = __atomic_load_n(&x->s->nconns, __ATOMIC_RELAXED);
    all[n].name = "conn.open_handles"; all[n++].value = __atomic_load_n(&x->s->open_handles, __ATOMIC_RELAXED);
    if (x->s->cfg.extra_counters)
        n += x->s->cfg.extra_counters(x->s->cfg.arg, all + n, MAX_COUNTERS - n);
    uint16_t first = x->rq->u.stats.first;
    if (first > n) first = (uint16_t)n;
    size_t room = max_frame - NCP_HDR_SIZE - NCP_STATS_REPLY_FIXED, used = 0;
    uint16_t count = 0;
    while (first + count < n) {
        const char *name = all[first + count].name;
        size_t len = strlen(name);
        if (len == 0 || len > NCP_STAT_NAME_MAX) { all[first + count].name = "?"; continue; }
        if (used + ncp_counter_size(name) > room) break;
        used += ncp_counter_size(name);
        count++;
    }
    struct ncp_reply rp = reply_for(x);
    rp.u.stats.total = (uint16_t)n;
    rp.u.stats.count = count;
    rp.u.stats.counters = all + first;
    r = send_reply(x, &rp, frame, cap);
out:
    fs_free(frame);
    fs_free(all);
    return r;
}

static int do_shutdown(struct ctx *x)
{
    if (!x->may_block) return NCP_RET_BLOCK;
    if (!LOAD(x->c->admin)) return NCP_E_ACCES;
    STORE(x->s->stopping, true);
    ncp_send_status(x->c, &x->rq->h, NCP_OK, true, true);   /* answer before power goes */
    (void)x->vfs->sync(x->fs);
    if (x->s->cfg.shutdown) x->s->cfg.shutdown(x->s->cfg.arg);
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
    case NCP_FN_STAT:      return do_stat(&x);
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
    case NCP_FN_STATS:     return do_stats(&x);
    case NCP_FN_SHUTDOWN:  return do_shutdown(&x);
    default:               return NCP_E_BADFUNC;
    }
}
