/* ncp_codec.c - encode/decode of NCP frames with full bounds checking.
 * Portable and freestanding: no libc beyond ncp_mem.h. */
#include "ncp_codec.h"
#include "ncp_mem.h"

/* ---- bounded writer / reader ------------------------------------------ */

struct wr { uint8_t *p; size_t cap, len; bool bad; };

static uint8_t *wr_take(struct wr *w, size_t n)
{
    if (w->bad || n > w->cap - w->len) {
        w->bad = true;
        return NULL;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}
static void w8(struct wr *w, uint8_t v)
{
    uint8_t *p = wr_take(w, 1);
    if (p)
        p[0] = v;
}
static void w16(struct wr *w, uint16_t v)
{
    uint8_t *p = wr_take(w, 2);
    if (p)
        ncp_put16(p, v);
}
static void w32(struct wr *w, uint32_t v)
{
    uint8_t *p = wr_take(w, 4);
    if (p)
        ncp_put32(p, v);
}
static void w64(struct wr *w, uint64_t v)
{
    uint8_t *p = wr_take(w, 8);
    if (p)
        ncp_put64(p, v);
}
static void wmem(struct wr *w, const void *src, size_t n)
{
    uint8_t *p = wr_take(w, n);
    if (p && n && p != src)
        memmove(p, src, n); /* src may already be in place */
}
static void wstr(struct wr *w, struct ncp_str s)
{
    w16(w, s.len);
    wmem(w, s.ptr, s.len);
}

/* NAMES entries (request and reply alike): count, then each entry; a decoded message has
 * no array (names NULL) and is written from its validated raw entries.  False for an entry
 * no decoder would accept. */
static bool wnames(struct wr *w, uint16_t count, const struct ncp_name *names, struct ncp_bytes raw)
{
    if (count > NCP_NAMES_MAX)
        return false;
    w16(w, count);
    if (!names) {
        wmem(w, raw.ptr, raw.len);
        return true;
    }
    for (uint16_t i = 0; i < count; i++) {
        const struct ncp_name *n = &names[i];
        if (n->kind > NCP_NAME_GROUP || n->len > NCP_USER_MAX)
            return false;
        w8(w, n->kind);
        w32(w, n->id);
        w8(w, n->len);
        wmem(w, n->name, n->len);
    }
    return true;
}

struct rd { const uint8_t *p; size_t len, pos; bool bad; };

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p + r->pos;
    r->pos += n;
    return at;
}
static uint8_t  r8(struct rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? p[0] : 0;
}
static uint16_t r16(struct rd *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p ? ncp_get16(p) : 0;
}
static uint32_t r32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? ncp_get32(p) : 0;
}
static uint64_t r64(struct rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? ncp_get64(p) : 0;
}
static struct ncp_str rstr(struct rd *r)
{
    struct ncp_str s;
    s.len = r16(r);
    s.ptr = (const char *)rd_take(r, s.len);
    if (!s.ptr) {
        s.ptr = "";
        s.len = 0;
    }
    return s;
}
static struct ncp_bytes rbytes32(struct rd *r)
{
    struct ncp_bytes b;
    b.len = r32(r);
    b.ptr = rd_take(r, b.len);
    if (!b.ptr) {
        b.ptr = (const uint8_t *)"";
        b.len = 0;
    }
    return b;
}

/* NAMES entries: known kind, names of user-name bytes (no NUL, ':' or control). */
static bool names_ok(struct rd *r, uint16_t count)
{
    for (uint16_t i = 0; i < count; i++) {
        uint8_t kind = r8(r);
        (void)r32(r);
        uint8_t n = r8(r);
        const char *name = (const char *)rd_take(r, n);
        if (r->bad || kind > NCP_NAME_GROUP || n > NCP_USER_MAX)
            return false;
        for (uint8_t k = 0; k < n; k++)
            if ((unsigned char)name[k] <= ' ' || (unsigned char)name[k] >= 0x7f || name[k] == ':')
                return false;
    }
    return true;
}

/* ---- header ------------------------------------------------------------ */

void ncp_header_put(uint8_t *p, const struct ncp_header *h)
{
    ncp_put16(p, h->type);
    p[2] = h->function;
    p[3] = h->completion;
    ncp_put16(p + 4, h->conn);
    p[6] = h->conn_status;
    p[7] = h->flags;
    ncp_put32(p + 8, h->seq);
    ncp_put32(p + 12, h->tag);
}

void ncp_header_get(const uint8_t *p, struct ncp_header *h)
{
    h->type = ncp_get16(p);
    h->function = p[2];
    h->completion = p[3];
    h->conn = ncp_get16(p + 4);
    h->conn_status = p[6];
    h->flags = p[7];
    h->seq = ncp_get32(p + 8);
    h->tag = ncp_get32(p + 12);
}

/* Starts a frame: leaves room for the prefix, writes the header. */
static void frame_begin(struct wr *w, uint8_t *buf, size_t cap, const struct ncp_header *h)
{
    w->p = buf;
    w->cap = cap;
    w->len = 0;
    w->bad = false;
    uint8_t *p = wr_take(w, NCP_LEN_SIZE + NCP_HDR_SIZE);
    if (p)
        ncp_header_put(p + NCP_LEN_SIZE, h);
}

static size_t frame_end(struct wr *w)
{
    if (w->bad || w->len - NCP_LEN_SIZE > NCP_MAX_FRAME_LIMIT)
        return 0;
    ncp_put32(w->p, (uint32_t)(w->len - NCP_LEN_SIZE));
    return w->len;
}

size_t ncp_encode_bare(uint8_t *buf, size_t cap, const struct ncp_header *h)
{
    struct wr w;
    frame_begin(&w, buf, cap, h);
    return frame_end(&w);
}

/* Opens a frame for decoding: checks prefix and header, positions `r` at the
 * payload. */
static int frame_open(struct rd *r, const uint8_t *frame, size_t len,
                      struct ncp_header *h, const char **why)
{
    if (len < NCP_LEN_SIZE + NCP_HDR_SIZE) {
        *why = "truncated header";
        return NCP_E_BADFRAME;
    }
    uint32_t flen = ncp_frame_len(frame);
    if (flen > NCP_MAX_FRAME_LIMIT) {
        *why = "frame too large";
        return NCP_E_BADFRAME;
    }
    if ((size_t)flen != len - NCP_LEN_SIZE) {
        *why = "length prefix mismatch";
        return NCP_E_BADFRAME;
    }
    ncp_header_get(frame + NCP_LEN_SIZE, h);
    r->p = frame;
    r->len = len;
    r->pos = NCP_LEN_SIZE + NCP_HDR_SIZE;
    r->bad = false;
    return NCP_OK;
}

/* ---- paths ------------------------------------------------------------- */

int ncp_path_check(const char *p, size_t len)
{
    if (len > NCP_PATH_MAX)
        return NCP_E_NAMETOOLONG;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] == '\0')
            return NCP_E_INVAL;
        if (i < len && p[i] != '/')
            continue;
        size_t n = i - start;
        if (n > NCP_NAME_MAX)
            return NCP_E_NAMETOOLONG;
        if (n == 2 && p[start] == '.' && p[start + 1] == '.')
            return NCP_E_INVAL;
        start = i + 1;
    }
    return NCP_OK;
}

int ncp_symlink_target_check(const char *t, size_t len)
{
    if (len == 0)
        return NCP_E_INVAL;
    if (len > NCP_SYMLINK_MAX)
        return NCP_E_NAMETOOLONG;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\0')
            return NCP_E_INVAL;
    return NCP_OK;
}

void ncp_path_iter_init(struct ncp_path_iter *it, const char *p, size_t len)
{
    it->p = p;
    it->len = len;
    it->pos = 0;
}

bool ncp_path_iter_next(struct ncp_path_iter *it, const char **name, size_t *name_len)
{
    while (it->pos < it->len) {
        size_t s = it->pos;
        while (it->pos < it->len && it->p[it->pos] != '/')
            it->pos++;
        size_t n = it->pos - s;
        if (it->pos < it->len)
            it->pos++; /* skip the '/' */
        if (n == 0 || (n == 1 && it->p[s] == '.'))
            continue;
        *name = it->p + s;
        *name_len = n;
        return true;
    }
    return false;
}

bool ncp_path_split(const char *p, size_t len, size_t *parent_len,
                    const char **last, size_t *last_len)
{
    struct ncp_path_iter it;
    const char *name, *found = NULL;
    size_t n, found_len = 0;
    ncp_path_iter_init(&it, p, len);
    while (ncp_path_iter_next(&it, &name, &n)) {
        found = name;
        found_len = n;
    }
    if (!found)
        return false;
    *parent_len = (size_t)(found - p);
    *last = found;
    *last_len = found_len;
    return true;
}

/* ---- request ----------------------------------------------------------- */

/* A user name is a users-file field: 1..NCP_USER_MAX bytes, printable, no ':'. */
static bool user_ok(struct ncp_str u)
{
    if (u.len == 0 || u.len > NCP_USER_MAX)
        return false;
    for (size_t i = 0; i < u.len; i++) {
        unsigned char c = (unsigned char)u.ptr[i];
        if (c <= ' ' || c == ':' || c >= 0x7f)
            return false;
    }
    return true;
}

/* File positions are kept below 2^63 so (offset + length) never wraps. */
#define NCP_OFF_MAX ((uint64_t)INT64_MAX)

size_t ncp_encode_request(uint8_t *buf, size_t cap, const struct ncp_request *rq)
{
    struct wr w;
    struct ncp_header h = rq->h;
    h.type = NCP_TYPE_REQUEST;
    frame_begin(&w, buf, cap, &h);
    switch (rq->h.function) {
    case NCP_FN_NEGOTIATE:
        w16(&w, rq->u.negotiate.version);
        w32(&w, rq->u.negotiate.max_frame);
        break;
    case NCP_FN_CHALLENGE:
        wstr(&w, rq->u.challenge.user);
        break;
    case NCP_FN_LOGIN:
        wstr(&w, rq->u.login.user);
        wmem(&w, rq->u.login.proof, NCP_HASH_SIZE);
        break;
    case NCP_FN_LOGOUT: case NCP_FN_STATFS: case NCP_FN_SHUTDOWN:
        break;
    case NCP_FN_PING:
        if (rq->u.ping.data.len > NCP_PING_MAX)
            return 0;
        w32(&w, rq->u.ping.data.len);
        wmem(&w, rq->u.ping.data.ptr, rq->u.ping.data.len);
        break;
    case NCP_FN_OPEN: case NCP_FN_CREATE:
        w32(&w, rq->u.open.flags);
        w16(&w, rq->u.open.mode);
        wstr(&w, rq->u.open.path);
        break;
    case NCP_FN_READ:
        w32(&w, rq->u.read.handle);
        w64(&w, rq->u.read.offset);
        w32(&w, rq->u.read.count);
        break;
    case NCP_FN_WRITE:
        w32(&w, rq->u.write.handle);
        w64(&w, rq->u.write.offset);
        w32(&w, rq->u.write.data.len);
        wmem(&w, rq->u.write.data.ptr, rq->u.write.data.len);
        break;
    case NCP_FN_CLOSE: case NCP_FN_FSTAT: case NCP_FN_FSYNC:
        w32(&w, rq->u.handle.handle);
        break;
    case NCP_FN_STAT: case NCP_FN_UNLINK: case NCP_FN_RMDIR: case NCP_FN_LSTAT: case NCP_FN_READLINK:
        wstr(&w, rq->u.path.path);
        break;
    case NCP_FN_SYMLINK:
        wstr(&w, rq->u.symlink.target);
        wstr(&w, rq->u.symlink.path);
        break;
    case NCP_FN_LINK:
        wstr(&w, rq->u.link.existing);
        wstr(&w, rq->u.link.newpath);
        break;
    case NCP_FN_READDIR:
        wstr(&w, rq->u.readdir.path);
        w64(&w, rq->u.readdir.cookie);
        w16(&w, rq->u.readdir.max_entries);
        break;
    case NCP_FN_RENAME:
        wstr(&w, rq->u.rename.from);
        wstr(&w, rq->u.rename.to);
        break;
    case NCP_FN_MKDIR:
        w16(&w, rq->u.mkdir.mode);
        wstr(&w, rq->u.mkdir.path);
        break;
    case NCP_FN_TRUNCATE:
        w32(&w, rq->u.truncate.handle);
        w64(&w, rq->u.truncate.size);
        break;
    case NCP_FN_LOCK:
        w32(&w, rq->u.lock.handle);
        w64(&w, rq->u.lock.offset);
        w64(&w, rq->u.lock.length);
        w8(&w, rq->u.lock.flags);
        break;
    case NCP_FN_UNLOCK:
        w32(&w, rq->u.lock.handle);
        w64(&w, rq->u.lock.offset);
        w64(&w, rq->u.lock.length);
        break;
    case NCP_FN_STATS:
        w16(&w, rq->u.stats.first);
        break;
    case NCP_FN_SETATTR:
        w32(&w, rq->u.setattr.mask);
        w32(&w, rq->u.setattr.handle);
        wstr(&w, rq->u.setattr.path);
        w16(&w, rq->u.setattr.mode);
        w32(&w, rq->u.setattr.uid);
        w32(&w, rq->u.setattr.gid);
        w64(&w, rq->u.setattr.size);
        w32(&w, rq->u.setattr.atime);
        w32(&w, rq->u.setattr.mtime);
        break;
    case NCP_FN_NAMES:
        if (!wnames(&w, rq->u.names.count, rq->u.names.ids, rq->u.names.raw))
            return 0;
        break;
    default:
        return 0;
    }
    return frame_end(&w);
}

static int bad(struct ncp_request *rq, int code, const char *why)
{
    rq->why = why;
    return code;
}

static int path_field(struct ncp_request *rq, struct ncp_str s)
{
    int e = ncp_path_check(s.ptr, s.len);
    if (e == NCP_E_NAMETOOLONG)
        return bad(rq, e, "path or name too long");
    if (e)
        return bad(rq, e, "bad path (NUL or '..')");
    return NCP_OK;
}

static bool range_ok(uint64_t offset, uint64_t length)
{
    return offset <= NCP_OFF_MAX && length <= NCP_OFF_MAX - offset;
}

int ncp_decode_request(const uint8_t *frame, size_t len, struct ncp_request *rq)
{
    struct rd r;
    int e;
    memset(rq, 0, sizeof *rq);
    rq->why = "";
    e = frame_open(&r, frame, len, &rq->h, &rq->why);
    if (e)
        return e;
    if (rq->h.type != NCP_TYPE_REQUEST)
        return bad(rq, NCP_E_BADFRAME, "not a request");

    switch (rq->h.function) {
    case NCP_FN_NEGOTIATE:
        rq->u.negotiate.version = r16(&r);
        rq->u.negotiate.max_frame = r32(&r);
        break;
    case NCP_FN_CHALLENGE:
        rq->u.challenge.user = rstr(&r);
        if (!r.bad && !user_ok(rq->u.challenge.user))
            return bad(rq, NCP_E_INVAL, "bad user name");
        break;
    case NCP_FN_LOGIN: {
        rq->u.login.user = rstr(&r);
        const uint8_t *proof = rd_take(&r, NCP_HASH_SIZE);
        if (proof)
            memcpy(rq->u.login.proof, proof, NCP_HASH_SIZE);
        if (!r.bad && !user_ok(rq->u.login.user))
            return bad(rq, NCP_E_INVAL, "bad user name");
        break;
    }
    case NCP_FN_LOGOUT: case NCP_FN_STATFS: case NCP_FN_SHUTDOWN:
        break;
    case NCP_FN_PING:
        rq->u.ping.data = rbytes32(&r);
        if (!r.bad && rq->u.ping.data.len > NCP_PING_MAX)
            return bad(rq, NCP_E_INVAL, "ping too long");
        break;
    case NCP_FN_OPEN: case NCP_FN_CREATE: {
        uint32_t f;
        f = rq->u.open.flags = r32(&r);
        rq->u.open.mode = r16(&r);
        rq->u.open.path = rstr(&r);
        if (r.bad)
            break;
        if (rq->h.function == NCP_FN_CREATE)
            f |= NCP_O_CREATE | NCP_O_WRITE;
        rq->u.open.flags = f;
        if (f & ~(uint32_t)NCP_O_ALL)
            return bad(rq, NCP_E_INVAL, "unknown open flags");
        if (!(f & (NCP_O_READ | NCP_O_WRITE)))
            return bad(rq, NCP_E_INVAL, "open needs READ or WRITE");
        if ((f & NCP_O_EXCL) && !(f & NCP_O_CREATE))
            return bad(rq, NCP_E_INVAL, "EXCL without CREATE");
        if ((f & (NCP_O_TRUNC | NCP_O_APPEND)) && !(f & NCP_O_WRITE))
            return bad(rq, NCP_E_INVAL, "TRUNC/APPEND without WRITE");
        if (rq->u.open.mode > 07777)
            return bad(rq, NCP_E_INVAL, "bad mode");
        if ((e = path_field(rq, rq->u.open.path)))
            return e;
        break;
    }
    case NCP_FN_READ:
        rq->u.read.handle = r32(&r);
        rq->u.read.offset = r64(&r);
        rq->u.read.count = r32(&r);
        if (r.bad)
            break;
        if (rq->u.read.count > NCP_MAX_FRAME_LIMIT - NCP_READ_REPLY_OVERHEAD)
            return bad(rq, NCP_E_INVAL, "read count too large");
        if (!range_ok(rq->u.read.offset, rq->u.read.count))
            return bad(rq, NCP_E_INVAL, "read offset out of range");
        break;
    case NCP_FN_WRITE:
        rq->u.write.handle = r32(&r);
        rq->u.write.offset = r64(&r);
        rq->u.write.data = rbytes32(&r);
        if (r.bad)
            break;
        if (!range_ok(rq->u.write.offset, rq->u.write.data.len))
            return bad(rq, NCP_E_FBIG, "write beyond 2^63");
        break;
    case NCP_FN_CLOSE: case NCP_FN_FSTAT: case NCP_FN_FSYNC:
        rq->u.handle.handle = r32(&r);
        break;
    case NCP_FN_STAT: case NCP_FN_UNLINK: case NCP_FN_RMDIR: case NCP_FN_LSTAT: case NCP_FN_READLINK:
        rq->u.path.path = rstr(&r);
        if (!r.bad && (e = path_field(rq, rq->u.path.path)))
            return e;
        break;
    case NCP_FN_SYMLINK:
        rq->u.symlink.target = rstr(&r);
        rq->u.symlink.path = rstr(&r);
        if (r.bad)
            break;
        e = ncp_symlink_target_check(rq->u.symlink.target.ptr, rq->u.symlink.target.len);
        if (e)
            return bad(rq, e, "bad symlink target (empty, NUL or too long)");
        if ((e = path_field(rq, rq->u.symlink.path)))
            return e;
        break;
    case NCP_FN_LINK:
        rq->u.link.existing = rstr(&r);
        rq->u.link.newpath = rstr(&r);
        if (r.bad)
            break;
        if ((e = path_field(rq, rq->u.link.existing)))
            return e;
        if ((e = path_field(rq, rq->u.link.newpath)))
            return e;
        break;
    case NCP_FN_READDIR:
        rq->u.readdir.path = rstr(&r);
        rq->u.readdir.cookie = r64(&r);
        rq->u.readdir.max_entries = r16(&r);
        if (!r.bad && (e = path_field(rq, rq->u.readdir.path)))
            return e;
        break;
    case NCP_FN_RENAME:
        rq->u.rename.from = rstr(&r);
        rq->u.rename.to = rstr(&r);
        if (r.bad)
            break;
        if ((e = path_field(rq, rq->u.rename.from)))
            return e;
        if ((e = path_field(rq, rq->u.rename.to)))
            return e;
        break;
    case NCP_FN_MKDIR:
        rq->u.mkdir.mode = r16(&r);
        rq->u.mkdir.path = rstr(&r);
        if (r.bad)
            break;
        if (rq->u.mkdir.mode > 07777)
            return bad(rq, NCP_E_INVAL, "bad mode");
        if ((e = path_field(rq, rq->u.mkdir.path)))
            return e;
        break;
    case NCP_FN_TRUNCATE:
        rq->u.truncate.handle = r32(&r);
        rq->u.truncate.size = r64(&r);
        if (!r.bad && rq->u.truncate.size > NCP_OFF_MAX)
            return bad(rq, NCP_E_FBIG, "size beyond 2^63");
        break;
    case NCP_FN_LOCK: case NCP_FN_UNLOCK:
        rq->u.lock.handle = r32(&r);
        rq->u.lock.offset = r64(&r);
        rq->u.lock.length = r64(&r);
        if (rq->h.function == NCP_FN_LOCK)
            rq->u.lock.flags = r8(&r);
        if (r.bad)
            break;
        if (rq->u.lock.flags & ~NCP_LOCK_ALL)
            return bad(rq, NCP_E_INVAL, "unknown lock flags");
        if (!range_ok(rq->u.lock.offset, rq->u.lock.length))
            return bad(rq, NCP_E_INVAL, "lock range out of range");
        break;
    case NCP_FN_STATS:
        rq->u.stats.first = r16(&r);
        break;
    case NCP_FN_SETATTR: {
        uint32_t m = rq->u.setattr.mask = r32(&r);
        rq->u.setattr.handle = r32(&r);
        rq->u.setattr.path = rstr(&r);
        rq->u.setattr.mode = r16(&r);
        rq->u.setattr.uid = r32(&r);
        rq->u.setattr.gid = r32(&r);
        rq->u.setattr.size = r64(&r);
        rq->u.setattr.atime = r32(&r);
        rq->u.setattr.mtime = r32(&r);
        if (r.bad)
            break;
        if (m & ~(uint32_t)NCP_SA_ALL)
            return bad(rq, NCP_E_INVAL, "unknown setattr mask bits");
        if ((m & NCP_SA_ATIME) && (m & NCP_SA_ATIME_NOW))
            return bad(rq, NCP_E_INVAL, "ATIME with ATIME_NOW");
        if ((m & NCP_SA_MTIME) && (m & NCP_SA_MTIME_NOW))
            return bad(rq, NCP_E_INVAL, "MTIME with MTIME_NOW");
        if ((m & NCP_SA_MODE) && rq->u.setattr.mode > 07777)
            return bad(rq, NCP_E_INVAL, "bad mode");
        if ((m & NCP_SA_UID) && rq->u.setattr.uid == NCP_ID_NONE)
            return bad(rq, NCP_E_INVAL, "bad uid");
        if ((m & NCP_SA_GID) && rq->u.setattr.gid == NCP_ID_NONE)
            return bad(rq, NCP_E_INVAL, "bad gid");
        if ((m & NCP_SA_SIZE) && rq->u.setattr.size > NCP_OFF_MAX)
            return bad(rq, NCP_E_FBIG, "size beyond 2^63");
        if (rq->u.setattr.handle != NCP_HANDLE_NONE && rq->u.setattr.path.len)
            return bad(rq, NCP_E_INVAL, "setattr: both handle and path");
        if ((e = path_field(rq, rq->u.setattr.path)))
            return e;
        break;
    }
    case NCP_FN_NAMES: {
        uint16_t n = rq->u.names.count = r16(&r);
        if (r.bad)
            break;
        if (n > NCP_NAMES_MAX)
            return bad(rq, NCP_E_INVAL, "too many names asked");
        size_t start = r.pos;
        if (!names_ok(&r, n))
            return bad(rq, r.bad ? NCP_E_BADFRAME : NCP_E_INVAL, "bad name entry");
        rq->u.names.raw.ptr = frame + start;
        rq->u.names.raw.len = (uint32_t)(r.pos - start);
        break;
    }
    default:
        return bad(rq, NCP_E_BADFUNC, "unknown function");
    }
    if (r.bad)
        return bad(rq, NCP_E_BADFRAME, "payload truncated");
    if (r.pos != r.len)
        return bad(rq, NCP_E_BADFRAME, "trailing bytes after payload");
    return NCP_OK;
}

/* ---- reply ------------------------------------------------------------- */

static void wstat(struct wr *w, const struct ncp_stat *s)
{
    w32(w, s->ino);
    w8(w, s->type);
    w8(w, 0);
    w16(w, s->mode);
    w32(w, s->nlink);
    w32(w, s->uid);
    w32(w, s->gid);
    w64(w, s->size);
    w32(w, s->atime);
    w32(w, s->mtime);
    w32(w, s->ctime);
}

static void rstat(struct rd *r, struct ncp_stat *s)
{
    s->ino = r32(r);
    s->type = r8(r);
    (void)r8(r);
    s->mode = r16(r);
    s->nlink = r32(r);
    s->uid = r32(r);
    s->gid = r32(r);
    s->size = r64(r);
    s->atime = r32(r);
    s->mtime = r32(r);
    s->ctime = r32(r);
}

static bool name_ok(const char *n, size_t len)
{
    if (len == 0 || len > NCP_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (n[i] == '/' || n[i] == '\0')
            return false;
    return true;
}

size_t ncp_counter_size(const char *name)
{
    return 1 + strlen(name) + 8;
}

size_t ncp_read_reply_size(const uint8_t *frame, size_t len)
{
    const size_t count_at = NCP_LEN_SIZE + NCP_HDR_SIZE + 4 + 8;     /* after handle, offset */
    if (len < count_at + 4 || frame[NCP_LEN_SIZE + 2] != NCP_FN_READ)
        return 0;
    return NCP_READ_REPLY_DATA_OFF + (size_t)ncp_get32(frame + count_at);
}

size_t ncp_encode_read_reply_head(uint8_t *buf, size_t cap, const struct ncp_reply *rp, uint32_t data_len)
{
    if (rp->h.function != NCP_FN_READ || rp->h.completion != NCP_OK || cap < NCP_READ_REPLY_DATA_OFF ||
        data_len > NCP_MAX_FRAME_LIMIT - NCP_READ_REPLY_OVERHEAD)
        return 0;
    struct wr w;
    struct ncp_header h = rp->h;
    h.type = NCP_TYPE_REPLY;
    frame_begin(&w, buf, cap, &h);
    w32(&w, data_len);
    if (w.bad || w.len != NCP_READ_REPLY_DATA_OFF)
        return 0;
    ncp_put32(w.p, (uint32_t)(w.len - NCP_LEN_SIZE + data_len));   /* the length counts the data */
    return w.len;
}

size_t ncp_encode_reply(uint8_t *buf, size_t cap, const struct ncp_reply *rp)
{
    struct wr w;
    struct ncp_header h = rp->h;
    if (h.type != NCP_TYPE_BUSY)
        h.type = NCP_TYPE_REPLY;
    frame_begin(&w, buf, cap, &h);
    if (h.completion != NCP_OK || h.type == NCP_TYPE_BUSY)
        return frame_end(&w);

    switch (rp->h.function) {
    case NCP_FN_NEGOTIATE:
        w16(&w, rp->u.negotiate.version);
        w32(&w, rp->u.negotiate.max_frame);
        w16(&w, rp->u.negotiate.conn);
        w32(&w, rp->u.negotiate.max_handles);
        w32(&w, rp->u.negotiate.max_inflight);
        break;
    case NCP_FN_CHALLENGE:
        if (rp->u.challenge.salt_len > NCP_SALT_MAX)
            return 0;
        w8(&w, rp->u.challenge.salt_len);
        wmem(&w, rp->u.challenge.salt, rp->u.challenge.salt_len);
        wmem(&w, rp->u.challenge.nonce, NCP_NONCE_SIZE);
        break;
    case NCP_FN_LOGIN:
        w32(&w, rp->u.login.flags);
        break;
    case NCP_FN_PING:
        if (rp->u.ping.data.len > NCP_PING_MAX)
            return 0;
        w32(&w, rp->u.ping.data.len);
        wmem(&w, rp->u.ping.data.ptr, rp->u.ping.data.len);
        break;
    case NCP_FN_OPEN: case NCP_FN_CREATE:
        w32(&w, rp->u.open.handle);
        wstat(&w, &rp->u.open.st);
        break;
    case NCP_FN_READ:
        w32(&w, rp->u.read.data.len);
        wmem(&w, rp->u.read.data.ptr, rp->u.read.data.len);
        break;
    case NCP_FN_WRITE:
        w32(&w, rp->u.write.written);
        break;
    case NCP_FN_STAT: case NCP_FN_FSTAT: case NCP_FN_SETATTR: case NCP_FN_LSTAT:
    case NCP_FN_SYMLINK: case NCP_FN_LINK:
        wstat(&w, &rp->u.stat.st);
        break;
    case NCP_FN_READLINK:
        if (ncp_symlink_target_check(rp->u.readlink.target.ptr, rp->u.readlink.target.len))
            return 0;
        wstr(&w, rp->u.readlink.target);
        break;
    case NCP_FN_NAMES:
        if (!wnames(&w, rp->u.names.count, rp->u.names.names, rp->u.names.raw))
            return 0;
        break;
    case NCP_FN_READDIR:
        w64(&w, rp->u.readdir.next_cookie);
        w8(&w, rp->u.readdir.eof ? 1 : 0);
        w16(&w, rp->u.readdir.count);
        for (uint16_t i = 0; i < rp->u.readdir.count; i++) {
            const struct ncp_dirent *d = &rp->u.readdir.entries[i];
            if (!name_ok(d->name, d->name_len) || d->type > NCP_FT_OTHER)
                return 0;
            w32(&w, d->ino);
            w8(&w, d->type);
            w16(&w, d->mode);
            w32(&w, d->uid);
            w32(&w, d->gid);
            w64(&w, d->size);
            w32(&w, d->mtime);
            w8(&w, d->name_len);
            wmem(&w, d->name, d->name_len);
        }
        break;
    case NCP_FN_STATFS: {
        const struct ncp_statfs *s = &rp->u.statfs;
        w32(&w, s->block_size);
        w64(&w, s->blocks);
        w64(&w, s->blocks_free);
        w64(&w, s->files);
        w64(&w, s->files_free);
        w32(&w, s->name_max);
        w32(&w, s->flags);
        break;
    }
    case NCP_FN_STATS:
        if (rp->u.stats.count > rp->u.stats.total)
            return 0;
        w16(&w, rp->u.stats.total);
        w16(&w, rp->u.stats.count);
        for (uint16_t i = 0; i < rp->u.stats.count; i++) {
            const struct ncp_counter *c = &rp->u.stats.counters[i];
            size_t n = strlen(c->name);
            if (n == 0 || n > NCP_STAT_NAME_MAX)
                return 0;
            w8(&w, (uint8_t)n);
            wmem(&w, c->name, n);
            w64(&w, c->value);
        }
        break;
    case NCP_FN_LOGOUT: case NCP_FN_CLOSE: case NCP_FN_UNLINK: case NCP_FN_RENAME:
    case NCP_FN_MKDIR: case NCP_FN_RMDIR: case NCP_FN_TRUNCATE: case NCP_FN_LOCK:
    case NCP_FN_UNLOCK: case NCP_FN_FSYNC: case NCP_FN_SHUTDOWN:
        break;
    default:
        return 0;
    }
    return frame_end(&w);
}

static int rbad(struct ncp_reply *rp, int code, const char *why)
{
    rp->why = why;
    return code;
}

/* Walks `count` dirents from r, checking each; leaves r after the last. */
static bool dirents_ok(struct rd *r, uint16_t count)
{
    for (uint16_t i = 0; i < count; i++) {
        (void)r32(r);
        uint8_t type = r8(r);
        (void)r16(r);
        (void)r32(r);
        (void)r32(r);
        (void)r64(r);
        (void)r32(r);
        uint8_t n = r8(r);
        const char *name = (const char *)rd_take(r, n);
        if (r->bad || type > NCP_FT_OTHER || !name_ok(name, n))
            return false;
    }
    return true;
}

static bool counters_ok(struct rd *r, uint16_t count)
{
    for (uint16_t i = 0; i < count; i++) {
        uint8_t n = r8(r);
        const char *name = (const char *)rd_take(r, n);
        (void)r64(r);
        if (r->bad || n == 0 || n > NCP_STAT_NAME_MAX)
            return false;
        for (uint8_t k = 0; k < n; k++)
            if (name[k] == '\0')
                return false;
    }
    return true;
}

int ncp_decode_reply(const uint8_t *frame, size_t len, struct ncp_reply *rp)
{
    struct rd r;
    int e;
    memset(rp, 0, sizeof *rp);
    rp->why = "";
    e = frame_open(&r, frame, len, &rp->h, &rp->why);
    if (e)
        return e;
    if (rp->h.type != NCP_TYPE_REPLY && rp->h.type != NCP_TYPE_BUSY)
        return rbad(rp, NCP_E_BADFRAME, "not a reply");
    if (rp->h.completion >= NCP_E_COUNT)
        return rbad(rp, NCP_E_BADFRAME, "unknown completion code");
    if (rp->h.type == NCP_TYPE_BUSY || rp->h.completion != NCP_OK) {
        if (r.pos != r.len)
            return rbad(rp, NCP_E_BADFRAME, "payload on error/busy reply");
        return NCP_OK;
    }

    switch (rp->h.function) {
    case NCP_FN_NEGOTIATE:
        rp->u.negotiate.version = r16(&r);
        rp->u.negotiate.max_frame = r32(&r);
        rp->u.negotiate.conn = r16(&r);
        rp->u.negotiate.max_handles = r32(&r);
        rp->u.negotiate.max_inflight = r32(&r);
        if (!r.bad && (rp->u.negotiate.max_frame < NCP_MIN_MAX_FRAME ||
                       rp->u.negotiate.max_frame > NCP_MAX_FRAME_LIMIT))
            return rbad(rp, NCP_E_BADFRAME, "negotiated frame size out of range");
        break;
    case NCP_FN_CHALLENGE: {
        uint8_t n = r8(&r);
        if (n > NCP_SALT_MAX)
            return rbad(rp, NCP_E_BADFRAME, "salt too long");
        const uint8_t *salt = rd_take(&r, n);
        const uint8_t *nonce = rd_take(&r, NCP_NONCE_SIZE);
        if (r.bad)
            break;
        rp->u.challenge.salt_len = n;
        memcpy(rp->u.challenge.salt, salt, n);
        memcpy(rp->u.challenge.nonce, nonce, NCP_NONCE_SIZE);
        break;
    }
    case NCP_FN_LOGIN:
        rp->u.login.flags = r32(&r);
        break;
    case NCP_FN_PING:
        rp->u.ping.data = rbytes32(&r);
        if (!r.bad && rp->u.ping.data.len > NCP_PING_MAX)
            return rbad(rp, NCP_E_BADFRAME, "ping too long");
        break;
    case NCP_FN_OPEN: case NCP_FN_CREATE:
        rp->u.open.handle = r32(&r);
        rstat(&r, &rp->u.open.st);
        if (!r.bad && rp->u.open.st.type > NCP_FT_OTHER)
            return rbad(rp, NCP_E_BADFRAME, "bad file type");
        break;
    case NCP_FN_READ:
        rp->u.read.data = rbytes32(&r);
        break;
    case NCP_FN_WRITE:
        rp->u.write.written = r32(&r);
        break;
    case NCP_FN_READLINK:
        rp->u.readlink.target = rstr(&r);
        if (!r.bad && ncp_symlink_target_check(rp->u.readlink.target.ptr, rp->u.readlink.target.len))
            return rbad(rp, NCP_E_BADFRAME, "bad symlink target");
        break;
    case NCP_FN_STAT: case NCP_FN_FSTAT: case NCP_FN_SETATTR: case NCP_FN_LSTAT:
    case NCP_FN_SYMLINK: case NCP_FN_LINK:
        rstat(&r, &rp->u.stat.st);
        if (!r.bad && rp->u.stat.st.type > NCP_FT_OTHER)
            return rbad(rp, NCP_E_BADFRAME, "bad file type");
        break;
    case NCP_FN_NAMES: {
        rp->u.names.count = r16(&r);
        if (r.bad)
            break;
        if (rp->u.names.count > NCP_NAMES_MAX)
            return rbad(rp, NCP_E_BADFRAME, "too many names");
        size_t start = r.pos;
        if (!names_ok(&r, rp->u.names.count))
            return rbad(rp, NCP_E_BADFRAME, "bad name entry");
        rp->u.names.raw.ptr = frame + start;
        rp->u.names.raw.len = (uint32_t)(r.pos - start);
        break;
    }
    case NCP_FN_READDIR: {
        rp->u.readdir.next_cookie = r64(&r);
        uint8_t eof = r8(&r);
        rp->u.readdir.count = r16(&r);
        if (r.bad)
            break;
        if (eof > 1)
            return rbad(rp, NCP_E_BADFRAME, "bad eof flag");
        rp->u.readdir.eof = eof;
        size_t start = r.pos;
        if (!dirents_ok(&r, rp->u.readdir.count))
            return rbad(rp, NCP_E_BADFRAME, "bad directory entry");
        rp->u.readdir.raw.ptr = frame + start;
        rp->u.readdir.raw.len = (uint32_t)(r.pos - start);
        break;
    }
    case NCP_FN_STATFS: {
        struct ncp_statfs *s = &rp->u.statfs;
        s->block_size = r32(&r);
        s->blocks = r64(&r);
        s->blocks_free = r64(&r);
        s->files = r64(&r);
        s->files_free = r64(&r);
        s->name_max = r32(&r);
        s->flags = r32(&r);
        break;
    }
    case NCP_FN_STATS: {
        rp->u.stats.total = r16(&r);
        rp->u.stats.count = r16(&r);
        if (r.bad)
            break;
        if (rp->u.stats.count > rp->u.stats.total)
            return rbad(rp, NCP_E_BADFRAME, "count above total");
        size_t start = r.pos;
        if (!counters_ok(&r, rp->u.stats.count))
            return rbad(rp, NCP_E_BADFRAME, "bad counter");
        rp->u.stats.raw.ptr = frame + start;
        rp->u.stats.raw.len = (uint32_t)(r.pos - start);
        break;
    }
    case NCP_FN_LOGOUT: case NCP_FN_CLOSE: case NCP_FN_UNLINK: case NCP_FN_RENAME:
    case NCP_FN_MKDIR: case NCP_FN_RMDIR: case NCP_FN_TRUNCATE: case NCP_FN_LOCK:
    case NCP_FN_UNLOCK: case NCP_FN_FSYNC: case NCP_FN_SHUTDOWN:
        break;
    default:
        return rbad(rp, NCP_E_BADFUNC, "unknown function");
    }
    if (r.bad)
        return rbad(rp, NCP_E_BADFRAME, "payload truncated");
    if (r.pos != r.len)
        return rbad(rp, NCP_E_BADFRAME, "trailing bytes after payload");
    return NCP_OK;
}

bool ncp_dirent_next(const struct ncp_reply *rp, size_t *pos, struct ncp_dirent *out)
{
    const uint8_t *p = rp->u.readdir.raw.ptr;
    size_t len = rp->u.readdir.raw.len;
    if (*pos + NCP_DIRENT_FIXED > len)
        return false;
    p += *pos;
    out->ino = ncp_get32(p);
    out->type = p[4];
    out->mode = ncp_get16(p + 5);
    out->uid = ncp_get32(p + 7);
    out->gid = ncp_get32(p + 11);
    out->size = ncp_get64(p + 15);
    out->mtime = ncp_get32(p + 23);
    out->name_len = p[27];
    out->name = (const char *)p + 28;
    if (*pos + ncp_dirent_size(out->name_len) > len)
        return false;
    *pos += ncp_dirent_size(out->name_len);
    return true;
}

bool ncp_counter_next(const struct ncp_reply *rp, size_t *pos,
                      char name[NCP_STAT_NAME_MAX + 1], uint64_t *value)
{
    const uint8_t *p = rp->u.stats.raw.ptr;
    size_t len = rp->u.stats.raw.len;
    if (*pos + 1 > len)
        return false;
    uint8_t n = p[*pos];
    if (n > NCP_STAT_NAME_MAX || *pos + 1 + n + 8 > len)
        return false;
    memcpy(name, p + *pos + 1, n);
    name[n] = '\0';
    *value = ncp_get64(p + *pos + 1 + n);
    *pos += 1 + (size_t)n + 8;
    return true;
}

bool ncp_names_next(struct ncp_bytes raw, size_t *pos, struct ncp_name *out)
{
    const uint8_t *p = raw.ptr;
    if (*pos + ncp_name_size(0) > raw.len)
        return false;
    p += *pos;
    out->kind = p[0];
    out->id = ncp_get32(p + 1);
    out->len = p[5];
    out->name = (const char *)p + 6;
    if (*pos + ncp_name_size(out->len) > raw.len)
        return false;
    *pos += ncp_name_size(out->len);
    return true;
}
