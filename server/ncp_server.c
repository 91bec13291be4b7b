/* ncp_server.c - connections, admission and reply sending of the engine. */
#include "server/ncp_server_internal.h"
#include "fs/fs_errno.h"

struct ncp_server *ncp_server_create(const struct ncp_server_config *cfg)
{
    if (!cfg->vfs || !cfg->random)
        return NULL;
    struct ncp_server *s = fs_alloc(sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    if (!s->cfg.max_conns)
        s->cfg.max_conns = 10000;
    if (s->cfg.max_conns > 65535)
        s->cfg.max_conns = 65535; /* u16 numbers */
    if (!s->cfg.max_handles)
        s->cfg.max_handles = 256;
    if (!s->cfg.max_inflight)
        s->cfg.max_inflight = 128;
    if (!s->cfg.max_frame || s->cfg.max_frame > NCP_MAX_FRAME_LIMIT)
        s->cfg.max_frame = NCP_MAX_FRAME_LIMIT;
    if (s->cfg.max_frame < NCP_DEFAULT_MAX_FRAME)
        s->cfg.max_frame = NCP_DEFAULT_MAX_FRAME;
    if (!s->cfg.users_path)
        s->cfg.users_path = "/etc/ncp-users";
    if (!s->cfg.max_locks_per_handle)
        s->cfg.max_locks_per_handle = 64;
    if (!s->cfg.max_locks_per_conn)
        s->cfg.max_locks_per_conn = 256;
    if (!s->cfg.max_locks)
        s->cfg.max_locks = 65536;
    if (!s->cfg.intruder_attempts)
        s->cfg.intruder_attempts = 5;
    if (!s->cfg.intruder_window_s)
        s->cfg.intruder_window_s = 60;
    if (!s->cfg.intruder_lock_s)
        s->cfg.intruder_lock_s = 300;
    if (!s->cfg.intruder_names)
        s->cfg.intruder_names = 256;
    if (s->cfg.intruder_names > 65536)
        s->cfg.intruder_names = 65536;
    s->conns = fs_alloc(sizeof *s->conns * s->cfg.max_conns);
    if (!s->conns) {
        fs_free(s);
        return NULL;
    }
    if (!ncp_intruder_init(s)) {
        fs_free(s->conns);
        fs_free(s);
        return NULL;
    }
    memset(s->conns, 0, sizeof *s->conns * s->cfg.max_conns);
    fs_mutex_init(&s->lock);
    fs_mutex_init(&s->ns_lock);
    ncp_users_init(s);
    s->cfg.random(s->cfg.arg, s->secret, sizeof s->secret);
    return s;
}

void ncp_server_destroy(struct ncp_server *s)
{
    if (!s)
        return;
    while (s->locks) {
        struct ncp_lock *l = s->locks;
        s->locks = l->next;
        fs_free(l);
    }
    /* Opens still queued are freed without vfs->release: embedders may have unmounted
     * the volume already (which frees what was still open). */
    struct ncp_open *o = s->released;
    while (o) {
        struct ncp_open *next = o->later;
        fs_free(o);
        o = next;
    }
    ncp_users_destroy(s);
    ncp_intruder_destroy(s);
    fs_free(s->conns);
    fs_free(s);
}

bool ncp_server_stopping(const struct ncp_server *s)
{
    return LOAD(s->stopping);
}

size_t ncp_server_refusal(uint8_t *buf)
{
    struct ncp_header h = { NCP_TYPE_REPLY, 0, NCP_E_TOOMANYCONNS, 0, NCP_CS_CLOSING, 0, 0, 0 };
    return ncp_encode_bare(buf, NCP_LEN_SIZE + NCP_HDR_SIZE, &h);
}

struct ncp_conn *ncp_conn_create(struct ncp_server *s, ncp_send_fn send, void *arg)
{
    struct ncp_conn *c = fs_alloc(sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->send = send;
    c->arg = arg;
    c->max_frame = NCP_DEFAULT_MAX_FRAME;
    c->refs = 1;
    fs_mutex_init(&c->lock);
    fs_mutex_init(&c->send_lock);

    fs_mutex_lock(&s->lock);
    if (s->nconns >= s->cfg.max_conns || LOAD(s->stopping)) {
        fs_mutex_unlock(&s->lock);
        ctr_add(s, CTR_CONN_REFUSED, 1);
        fs_free(c);
        return NULL;
    }
    /* Round-robin slot choice so a number is not reused at once. */
    uint32_t i = s->next_slot;
    while (s->conns[i])
        i = (i + 1) % s->cfg.max_conns;
    s->conns[i] = c;
    s->next_slot = (i + 1) % s->cfg.max_conns;
    __atomic_fetch_add(&s->nconns, 1, __ATOMIC_RELAXED);
    c->number = (uint16_t)(i + 1);
    fs_mutex_unlock(&s->lock);
    ctr_add(s, CTR_CONN_TOTAL, 1);
    return c;
}

void ncp_conn_get(struct ncp_conn *c) { INC(c->refs); }

void ncp_conn_put(struct ncp_conn *c)
{
    if (DEC(c->refs) != 0)
        return;
    fs_free(c->handles);                        /* emptied by ncp_conn_destroy */
    fs_free(c);
}

void ncp_open_put(struct ncp_open *o)
{
    if (DEC(o->refs) != 0)
        return;
    if (o->counted)
        o->srv->cfg.vfs->release(o->srv->cfg.vfs_ctx, o->ino);
    fs_free(o);
}

void ncp_open_put_later(struct ncp_open *o)
{
    uint32_t n = LOAD(o->refs);
    while (n > 1)
        if (__atomic_compare_exchange_n(&o->refs, &n, n - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;
    /* the last reference: onto the stack, still holding it */
    struct ncp_server *s = o->srv;
    o->later = LOAD(s->released);
    while (!__atomic_compare_exchange_n(&s->released, &o->later, o, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
}

void ncp_open_release_later(struct ncp_server *s)
{
    if (!LOAD(s->released))
        return;
    struct ncp_open *o = __atomic_exchange_n(&s->released, NULL, __ATOMIC_ACQ_REL);
    while (o) {
        struct ncp_open *next = o->later;
        ncp_open_put(o);
        o = next;
    }
}

/* Empties the handle table: locks first (other connections may be waiting
 * on them), then the slots. */
static void close_all_handles(struct ncp_conn *c)
{
    struct ncp_server *s = c->srv;
    ncp_locks_drop(s, NULL, c, NCP_E_BADF);
    for (;;) {
        struct ncp_open *o = NULL;
        fs_mutex_lock(&c->lock);
        for (uint32_t i = 0; c->handles && i < s->cfg.max_handles && !o; i++)
            if (c->handles[i]) {
                o = c->handles[i];
                c->handles[i] = NULL;
                c->nopen--;
            }
        fs_mutex_unlock(&c->lock);
        if (!o)
            break;
        __atomic_fetch_sub(&s->open_handles, 1, __ATOMIC_RELAXED);
        ncp_open_put(o);
    }
}

void ncp_conn_destroy(struct ncp_conn *c)
{
    struct ncp_server *s = c->srv;
    fs_mutex_lock(&c->lock);
    fs_mutex_lock(&c->send_lock);
    c->dead = true;             /* no send after this returns */
    fs_mutex_unlock(&c->send_lock);
    fs_mutex_unlock(&c->lock);
    close_all_handles(c);
    ncp_open_release_later(s);
    fs_mutex_lock(&s->lock);
    s->conns[c->number - 1] = NULL;
    __atomic_fetch_sub(&s->nconns, 1, __ATOMIC_RELAXED);
    fs_mutex_unlock(&s->lock);
    ncp_conn_put(c);
}

uint32_t ncp_conn_inflight(const struct ncp_conn *c) { return __atomic_load_n(&c->inflight, __ATOMIC_ACQUIRE); }
uint32_t ncp_conn_max_frame(const struct ncp_conn *c)
{
    uint32_t m = __atomic_load_n(&c->max_frame, __ATOMIC_ACQUIRE);
    if (!LOAD(c->logged_in) && m > NCP_PRELOGIN_MAX_FRAME)
        m = NCP_PRELOGIN_MAX_FRAME;             /* until login, whatever was negotiated */
    return m;
}
bool ncp_conn_logged_in(const struct ncp_conn *c) { return LOAD(c->logged_in); }
size_t ncp_server_conn_bytes(const struct ncp_server *s, bool logged_in)
{
    size_t table = logged_in ? (size_t)s->cfg.max_handles * sizeof(struct ncp_open *) : 0;
    return sizeof(struct ncp_conn) + table;
}

uint16_t ncp_conn_number(const struct ncp_conn *c) { return c->number; }

/* Patches conn number and status into a reply and sends it (send_lock held). */
static void send_locked(struct ncp_conn *c, const struct ncp_iov *iov, unsigned n)
{
    struct ncp_server *s = c->srv;
    uint8_t *frame = (uint8_t *)iov[0].base;      /* the engine's own header buffer */
    uint8_t st = 0;
    if (LOAD(c->logged_in))
        st |= NCP_CS_LOGGED_IN;
    if (LOAD(c->admin))
        st |= NCP_CS_ADMIN;
    if (LOAD(s->stopping))
        st |= NCP_CS_SERVER_DOWN;
    ncp_put16(frame + NCP_LEN_SIZE + 4, c->number);
    frame[NCP_LEN_SIZE + 6] = st;
    if (frame[NCP_LEN_SIZE + 3] != NCP_OK)
        ctr_add(s, CTR_ERRORS, 1);
    if (c->dead)
        return;
    if (n == 1)
        c->send(c->arg, frame, iov[0].len);
    else
        c->sendv(c->arg, iov, n);
}

static bool refusals_waiting(struct ncp_conn *c)
{
    for (unsigned i = 0; i < NCP_REFUSALS_MAX; i++)
        if (LOAD(c->refusals[i].state) == 2)
            return true;
    return false;
}

/* Sends the queued "too many requests" refusals (send_lock held). */
static void flush_refusals(struct ncp_conn *c)
{
    for (unsigned i = 0; i < NCP_REFUSALS_MAX; i++) {
        struct ncp_refusal *rf = &c->refusals[i];
        if (LOAD(rf->state) != 2)
            continue;
        struct ncp_header h = rf->h;
        STORE(rf->state, 0);
        uint8_t buf[NCP_LEN_SIZE + NCP_HDR_SIZE];
        ncp_encode_bare(buf, sizeof buf, &h);
        struct ncp_iov one = { buf, sizeof buf };
        send_locked(c, &one, 1);
    }
}

/* Releases the send lock, first sending the refusals queued meanwhile.  A refusal
 * queued after the check below finds the lock free (its queuer then sends it) or
 * still held (its holder checks again after unlocking): none is stranded. */
static void send_unlock(struct ncp_conn *c)
{
    for (;;) {
        flush_refusals(c);
        fs_mutex_unlock(&c->send_lock);
        if (!refusals_waiting(c))
            return;
        if (!fs_mutex_trylock(&c->send_lock))
            return;                               /* the holder sends them */
    }
}

/* Queues a refusal for request header h; false if the ring is full. */
static bool queue_refusal(struct ncp_conn *c, const struct ncp_header *rqh)
{
    for (unsigned i = 0; i < NCP_REFUSALS_MAX; i++) {
        struct ncp_refusal *rf = &c->refusals[i];
        uint32_t free_state = 0;
        if (!__atomic_compare_exchange_n(&rf->state, &free_state, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        rf->h = *rqh;
        rf->h.type = NCP_TYPE_REPLY;
        rf->h.completion = NCP_E_TOOMANYREQS;
        STORE(rf->state, 2);
        if (fs_mutex_trylock(&c->send_lock))
            send_unlock(c);                       /* free after all: send it now */
        return true;
    }
    return false;
}

bool ncp_send_framev(struct ncp_conn *c, const struct ncp_iov *iov, unsigned n, bool done, bool may_block)
{
    if (may_block)
        fs_mutex_lock(&c->send_lock);
    else if (!fs_mutex_trylock(&c->send_lock))
        return false;
    send_locked(c, iov, n);
    send_unlock(c);
    if (done)
        DEC(c->inflight);
    return true;
}

bool ncp_send_frame(struct ncp_conn *c, uint8_t *frame, size_t len, bool done, bool may_block)
{
    struct ncp_iov one = { frame, len };
    return ncp_send_framev(c, &one, 1, done, may_block);
}

void ncp_conn_set_sendv(struct ncp_conn *c, ncp_sendv_fn sendv) { c->sendv = sendv; }

bool ncp_send_status(struct ncp_conn *c, const struct ncp_header *rqh, uint8_t completion, bool done,
                     bool may_block)
{
    uint8_t buf[NCP_LEN_SIZE + NCP_HDR_SIZE];
    struct ncp_header h = *rqh;
    h.type = NCP_TYPE_REPLY;
    h.completion = completion;
    ncp_encode_bare(buf, sizeof buf, &h);
    return ncp_send_frame(c, buf, sizeof buf, done, may_block);
}

void ncp_conn_bad_stream(struct ncp_conn *c)
{
    struct ncp_header h = { NCP_TYPE_REPLY, 0, NCP_E_BADFRAME, 0, 0, 0, 0, 0 };
    ctr_add(c->srv, CTR_BAD_FRAMES, 1);
    ncp_send_status(c, &h, NCP_E_BADFRAME, false, true);
}

/* Runs one request; `admitted` when it already counts in flight.  With
 * may_block false nothing here sleeps: a contended lock or an operation that
 * needs I/O turns into NCP_WOULD_BLOCK (the request then stays admitted). */
static int process(struct ncp_conn *c, const uint8_t *frame, size_t len, bool may_block, bool admitted)
{
    struct ncp_server *s = c->srv;
    struct ncp_request rq;
    int e = ncp_decode_request(frame, len, &rq);

    if (!admitted) {
        if (INC(c->inflight) > s->cfg.max_inflight) {
            /* Never admitted, whichever path: refused now, or queued for the next
             * send (the send lock is busy); with the queue full too, handed back to
             * the embedder (NCP_RETRY), which refuses it later. */
            DEC(c->inflight);
            if (ncp_send_status(c, &rq.h, NCP_E_TOOMANYREQS, false, may_block)) {
                ctr_add(s, CTR_TOO_MANY_REQS, 1);
                return NCP_HANDLED;
            }
            if (queue_refusal(c, &rq.h)) {
                ctr_add(s, CTR_TOO_MANY_REQS, 1);
                ctr_add(s, CTR_REFUSALS_DEFERRED, 1);
                return NCP_HANDLED;
            }
            ctr_add(s, CTR_REFUSAL_OVERFLOWS, 1);
            return NCP_RETRY;
        }
        ctr_add(s, CTR_REQUESTS, 1);
    }
    /* Releases a non-blocking path had to leave (ncp_open_put_later) are done by the next
     * request that may sleep, before it runs (so it sees them done). */
    if (may_block)
        ncp_open_release_later(s);
    uint8_t early = NCP_OK;
    if (e)
        early = (uint8_t)e;
    else if (ncp_fn_needs_login(rq.h.function) && !LOAD(c->logged_in))
        early = NCP_E_NOTLOGGEDIN;
    if (early) {
        if (!ncp_send_status(c, &rq.h, early, true, may_block))
            return NCP_WOULD_BLOCK;
        if (e)
            ctr_add(s, CTR_BAD_FRAMES, 1);
        return NCP_HANDLED;
    }
    int r = ncp_dispatch(c, &rq, may_block);
    if (r == NCP_RET_BLOCK)
        return NCP_WOULD_BLOCK;
    if (r >= 0 && !ncp_send_status(c, &rq.h, (uint8_t)r, true, may_block))
        return NCP_WOULD_BLOCK;
    ctr_add(s, may_block ? CTR_BLOCKING : CTR_FAST_PATH, 1);
    return NCP_HANDLED;
}

int ncp_conn_handle(struct ncp_conn *c, const uint8_t *frame, size_t len, bool may_block)
{
    ncp_conn_get(c);
    int r = process(c, frame, len, may_block, false);
    if (r != NCP_WOULD_BLOCK)
        ncp_conn_put(c); /* else kept for the blocking call */
    return r;
}

int ncp_conn_handle_blocking(struct ncp_conn *c, const uint8_t *frame, size_t len)
{
    int r;
    fs_mutex_lock(&c->lock);
    bool dead = c->dead;
    fs_mutex_unlock(&c->lock);
    if (dead) {                                   /* nobody to answer */
        DEC(c->inflight);
        r = NCP_CLOSE_CONN;
    } else {
        r = process(c, frame, len, true, true);
    }
    ncp_conn_put(c);
    return r;
}

void ncp_conn_refuse(struct ncp_conn *c, const uint8_t *frame, size_t len)
{
    struct ncp_request rq;
    (void)ncp_decode_request(frame, len, &rq);    /* the header is enough, as in process() */
    ctr_add(c->srv, CTR_TOO_MANY_REQS, 1);
    ncp_send_status(c, &rq.h, NCP_E_TOOMANYREQS, false, true);
}

uint8_t ncp_completion_from_errno(int e)
{
    switch (-e) {
    case 0:               return NCP_OK;
    case FS_ENOENT:       return NCP_E_NOENT;
    case FS_EEXIST:       return NCP_E_EXIST;
    case FS_ENOTEMPTY:    return NCP_E_NOTEMPTY;
    case FS_ENOTDIR:      return NCP_E_NOTDIR;
    case FS_EISDIR:       return NCP_E_ISDIR;
    case FS_EACCES:
    case FS_EPERM:        return NCP_E_ACCES;
    case FS_EBADF:        return NCP_E_BADF;
    case FS_ELOOP:        return NCP_E_LOOP;
    case FS_EMLINK:       return NCP_E_MLINK;
    case FS_EINVAL:
    case FS_EXDEV:
    case FS_ENOTSUP:      return NCP_E_INVAL;
    case FS_ENOSPC:       return NCP_E_NOSPC;
    case FS_EROFS:        return NCP_E_ROFS;
    case FS_ENAMETOOLONG: return NCP_E_NAMETOOLONG;
    case FS_EAGAIN:       return NCP_E_LOCKED;
    case FS_EBUSY:        return NCP_E_BUSY;
    case FS_EFBIG:
    case FS_EOVERFLOW:    return NCP_E_FBIG;
    case FS_ENOMEM:
    case FS_ENOBUFS:      return NCP_E_NOMEM;
    default:              return NCP_E_IO;
    }
}
