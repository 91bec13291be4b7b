/* fuzz_codec.c - libFuzzer harness for the request and reply decoders (proto/ncp_codec).
 *
 * Input: one flags byte, then a frame.  Flags bit 0 picks the reply decoder (else the request
 * decoder); bit 1 makes the harness write the length prefix itself (the frame bytes are then
 * header + payload), so mutations spend their time on the payload.
 *
 * Invariants, for every frame a decoder accepts:
 *  - it re-encodes (the encoder takes whatever the decoder hands out), to a frame that decodes
 *    to the same message; encoding that again gives the same bytes (one canonical form);
 *  - requests re-encode to the input bytes exactly (CREATE aside: its flags are normalized);
 *  - READDIR / STATS replies: the iterators yield exactly `count` entries;
 *  - READ: ncp_read_reply_size and ncp_encode_read_reply_head agree with the full encoding;
 *  - every decoded path passes ncp_path_check and iterates into sane components.
 * Rejected frames only need a completion code and a reason. */
#include "proto/ncp_codec.h"
#include "fuzz_check.h"

#include <string.h>

static bool str_eq(struct ncp_str a, struct ncp_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool bytes_eq(struct ncp_bytes a, struct ncp_bytes b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool hdr_eq(const struct ncp_header *a, const struct ncp_header *b)
{
    return a->type == b->type && a->function == b->function && a->completion == b->completion &&
           a->conn == b->conn && a->conn_status == b->conn_status && a->flags == b->flags &&
           a->seq == b->seq && a->tag == b->tag;
}

/* A path the decoder accepted: components are non-empty, free of '/', never "." or "..",
 * at most NCP_NAME_MAX bytes; ncp_path_split names the last of them. */
static void check_path(struct ncp_str p)
{
    FUZZ_CHECK(ncp_path_check(p.ptr, p.len) == NCP_OK);
    struct ncp_path_iter it;
    const char *name, *last = NULL;
    size_t n, last_len = 0, total = 0;
    ncp_path_iter_init(&it, p.ptr, p.len);
    while (ncp_path_iter_next(&it, &name, &n)) {
        FUZZ_CHECK(n > 0 && n <= NCP_NAME_MAX);
        FUZZ_CHECK(name >= p.ptr && name + n <= p.ptr + p.len);
        FUZZ_CHECK(memchr(name, '/', n) == NULL);
        FUZZ_CHECK(!(n == 1 && name[0] == '.'));
        FUZZ_CHECK(!(n == 2 && name[0] == '.' && name[1] == '.'));
        total += n;
        last = name;
        last_len = n;
    }
    FUZZ_CHECK(total <= p.len);
    size_t parent_len, split_len;
    const char *split_last;
    bool has_last = ncp_path_split(p.ptr, p.len, &parent_len, &split_last, &split_len);
    FUZZ_CHECK(has_last == (last != NULL));
    if (has_last) {
        FUZZ_CHECK(split_last == last && split_len == last_len);
        FUZZ_CHECK(parent_len == (size_t)(last - p.ptr));
    }
}

static bool request_eq(const struct ncp_request *a, const struct ncp_request *b)
{
    if (!hdr_eq(&a->h, &b->h))
        return false;
    switch (a->h.function) {
    case NCP_FN_NEGOTIATE:
        return a->u.negotiate.version == b->u.negotiate.version &&
               a->u.negotiate.max_frame == b->u.negotiate.max_frame;
    case NCP_FN_CHALLENGE:
        return str_eq(a->u.challenge.user, b->u.challenge.user);
    case NCP_FN_LOGIN:
        return str_eq(a->u.login.user, b->u.login.user) &&
               memcmp(a->u.login.proof, b->u.login.proof, NCP_HASH_SIZE) == 0;
    case NCP_FN_PING:
        return bytes_eq(a->u.ping.data, b->u.ping.data);
    case NCP_FN_OPEN:
    case NCP_FN_CREATE:
        return a->u.open.flags == b->u.open.flags && a->u.open.mode == b->u.open.mode &&
               str_eq(a->u.open.path, b->u.open.path);
    case NCP_FN_READ:
        return a->u.read.handle == b->u.read.handle && a->u.read.offset == b->u.read.offset &&
               a->u.read.count == b->u.read.count;
    case NCP_FN_WRITE:
        return a->u.write.handle == b->u.write.handle && a->u.write.offset == b->u.write.offset &&
               bytes_eq(a->u.write.data, b->u.write.data);
    case NCP_FN_CLOSE:
    case NCP_FN_FSTAT:
    case NCP_FN_FSYNC:
        return a->u.handle.handle == b->u.handle.handle;
    case NCP_FN_STAT:
    case NCP_FN_UNLINK:
    case NCP_FN_RMDIR:
        return str_eq(a->u.path.path, b->u.path.path);
    case NCP_FN_READDIR:
        return str_eq(a->u.readdir.path, b->u.readdir.path) &&
               a->u.readdir.cookie == b->u.readdir.cookie &&
               a->u.readdir.max_entries == b->u.readdir.max_entries;
    case NCP_FN_RENAME:
        return str_eq(a->u.rename.from, b->u.rename.from) && str_eq(a->u.rename.to, b->u.rename.to);
    case NCP_FN_SYMLINK:
        return str_eq(a->u.symlink.target, b->u.symlink.target) && str_eq(a->u.symlink.path, b->u.symlink.path);
    case NCP_FN_LINK:
        return str_eq(a->u.link.existing, b->u.link.existing) && str_eq(a->u.link.newpath, b->u.link.newpath);
    case NCP_FN_MKDIR:
        return a->u.mkdir.mode == b->u.mkdir.mode && str_eq(a->u.mkdir.path, b->u.mkdir.path);
    case NCP_FN_TRUNCATE:
        return a->u.truncate.handle == b->u.truncate.handle && a->u.truncate.size == b->u.truncate.size;
    case NCP_FN_LOCK:
    case NCP_FN_UNLOCK:
        return a->u.lock.handle == b->u.lock.handle && a->u.lock.offset == b->u.lock.offset &&
               a->u.lock.length == b->u.lock.length && a->u.lock.flags == b->u.lock.flags;
    case NCP_FN_STATS:
        return a->u.stats.first == b->u.stats.first;
    case NCP_FN_SETATTR:
        return a->u.setattr.mask == b->u.setattr.mask && a->u.setattr.handle == b->u.setattr.handle &&
               str_eq(a->u.setattr.path, b->u.setattr.path) && a->u.setattr.mode == b->u.setattr.mode &&
               a->u.setattr.uid == b->u.setattr.uid && a->u.setattr.gid == b->u.setattr.gid &&
               a->u.setattr.size == b->u.setattr.size && a->u.setattr.atime == b->u.setattr.atime &&
               a->u.setattr.mtime == b->u.setattr.mtime;
    case NCP_FN_NAMES:
        return a->u.names.count == b->u.names.count && bytes_eq(a->u.names.raw, b->u.names.raw);
    default:
        return true;            /* no payload */
    }
}

static void check_request_paths(const struct ncp_request *rq)
{
    switch (rq->h.function) {
    case NCP_FN_OPEN:
    case NCP_FN_CREATE:
        check_path(rq->u.open.path);
        break;
    case NCP_FN_STAT:
    case NCP_FN_UNLINK:
    case NCP_FN_RMDIR:
    case NCP_FN_LSTAT:
    case NCP_FN_READLINK:
        check_path(rq->u.path.path);
        break;
    case NCP_FN_SYMLINK:
        /* a target is no path: only its length and the absence of NUL are promised */
        FUZZ_CHECK(rq->u.symlink.target.len >= 1 && rq->u.symlink.target.len <= NCP_SYMLINK_MAX);
        FUZZ_CHECK(memchr(rq->u.symlink.target.ptr, '\0', rq->u.symlink.target.len) == NULL);
        check_path(rq->u.symlink.path);
        break;
    case NCP_FN_LINK:
        check_path(rq->u.link.existing);
        check_path(rq->u.link.newpath);
        break;
    case NCP_FN_READDIR:
        check_path(rq->u.readdir.path);
        break;
    case NCP_FN_RENAME:
        check_path(rq->u.rename.from);
        check_path(rq->u.rename.to);
        break;
    case NCP_FN_MKDIR:
        check_path(rq->u.mkdir.path);
        break;
    default:
        break;
    }
}

static void fuzz_request(const uint8_t *frame, size_t len)
{
    struct ncp_request a, b;
    int e = ncp_decode_request(frame, len, &a);
    FUZZ_CHECK(e >= 0 && e < NCP_E_COUNT && a.why != NULL);
    FUZZ_CHECK(e != NCP_OK || a.why[0] == '\0');
    size_t rsize = ncp_read_reply_size(frame, len);
    if (e != NCP_OK) {
        FUZZ_CHECK(a.why[0] != '\0');
        return;
    }
    check_request_paths(&a);
    if (a.h.function == NCP_FN_READ)
        FUZZ_CHECK(rsize == NCP_READ_REPLY_DATA_OFF + (size_t)a.u.read.count);
    else
        FUZZ_CHECK(rsize == 0);

    uint8_t *enc = malloc(len);
    size_t n = ncp_encode_request(enc, len, &a);
    FUZZ_CHECK(n == len);
    if (a.h.function != NCP_FN_CREATE)
        FUZZ_CHECK(memcmp(enc, frame, len) == 0);
    FUZZ_CHECK(ncp_decode_request(enc, n, &b) == NCP_OK);
    FUZZ_CHECK(request_eq(&a, &b));
    uint8_t *enc2 = malloc(len);
    FUZZ_CHECK(ncp_encode_request(enc2, len, &b) == n);
    FUZZ_CHECK(memcmp(enc, enc2, n) == 0);
    /* One byte too little room is refused, never overrun. */
    FUZZ_CHECK(ncp_encode_request(enc2, n - 1, &b) == 0);
    free(enc2);
    free(enc);
}

static bool stat_eq(const struct ncp_stat *a, const struct ncp_stat *b)
{
    return a->ino == b->ino && a->type == b->type && a->mode == b->mode && a->nlink == b->nlink &&
           a->uid == b->uid && a->gid == b->gid && a->size == b->size && a->atime == b->atime &&
           a->mtime == b->mtime && a->ctime == b->ctime;
}

/* Entries of a decoded READDIR / STATS reply, copied out so the encoder can take them. */
struct reply_parts {
    struct ncp_dirent *ents;
    struct ncp_counter *ctrs;
    char (*names)[NCP_STAT_NAME_MAX + 1];
};

static void parts_free(struct reply_parts *p)
{
    free(p->ents);
    free(p->ctrs);
    free(p->names);
}

/* Walks the entries with the public iterators (exactly `count` of them) and points the
 * reply's encode-side fields at the copies. */
static void reply_collect(struct ncp_reply *rp, struct reply_parts *p)
{
    memset(p, 0, sizeof *p);
    if (rp->h.type == NCP_TYPE_BUSY || rp->h.completion != NCP_OK)
        return;
    size_t pos = 0;
    uint32_t k = 0;
    if (rp->h.function == NCP_FN_READDIR) {
        p->ents = malloc(sizeof *p->ents * (rp->u.readdir.count + 1u));
        while (k <= rp->u.readdir.count && ncp_dirent_next(rp, &pos, &p->ents[k])) {
            FUZZ_CHECK(p->ents[k].name_len >= 1);
            k++;
        }
        FUZZ_CHECK(k == rp->u.readdir.count);
        FUZZ_CHECK(pos == rp->u.readdir.raw.len);
        rp->u.readdir.entries = p->ents;
    } else if (rp->h.function == NCP_FN_STATS) {
        p->ctrs = malloc(sizeof *p->ctrs * (rp->u.stats.count + 1u));
        p->names = malloc(sizeof *p->names * (rp->u.stats.count + 1u));
        uint64_t v;
        while (k <= rp->u.stats.count && ncp_counter_next(rp, &pos, p->names[k], &v)) {
            FUZZ_CHECK(strlen(p->names[k]) >= 1);
            p->ctrs[k].name = p->names[k];
            p->ctrs[k].value = v;
            k++;
        }
        FUZZ_CHECK(k == rp->u.stats.count);
        FUZZ_CHECK(pos == rp->u.stats.raw.len);
        rp->u.stats.counters = p->ctrs;
    } else if (rp->h.function == NCP_FN_NAMES) {
        struct ncp_name nm;
        while (k <= rp->u.names.count && ncp_names_next(rp->u.names.raw, &pos, &nm)) {
            FUZZ_CHECK(nm.kind <= NCP_NAME_GROUP && nm.len <= NCP_USER_MAX);
            k++;
        }
        FUZZ_CHECK(k == rp->u.names.count);
        FUZZ_CHECK(pos == rp->u.names.raw.len);
    }
}

static bool reply_eq(const struct ncp_reply *a, const struct ncp_reply *b)
{
    if (!hdr_eq(&a->h, &b->h))
        return false;
    if (a->h.type == NCP_TYPE_BUSY || a->h.completion != NCP_OK)
        return true;
    switch (a->h.function) {
    case NCP_FN_NEGOTIATE:
        return a->u.negotiate.version == b->u.negotiate.version &&
               a->u.negotiate.max_frame == b->u.negotiate.max_frame &&
               a->u.negotiate.conn == b->u.negotiate.conn &&
               a->u.negotiate.max_handles == b->u.negotiate.max_handles &&
               a->u.negotiate.max_inflight == b->u.negotiate.max_inflight;
    case NCP_FN_CHALLENGE:
        return a->u.challenge.salt_len == b->u.challenge.salt_len &&
               memcmp(a->u.challenge.salt, b->u.challenge.salt, a->u.challenge.salt_len) == 0 &&
               memcmp(a->u.challenge.nonce, b->u.challenge.nonce, NCP_NONCE_SIZE) == 0;
    case NCP_FN_LOGIN:
        return a->u.login.flags == b->u.login.flags;
    case NCP_FN_PING:
        return bytes_eq(a->u.ping.data, b->u.ping.data);
    case NCP_FN_OPEN:
    case NCP_FN_CREATE:
        return a->u.open.handle == b->u.open.handle && stat_eq(&a->u.open.st, &b->u.open.st);
    case NCP_FN_READ:
        return bytes_eq(a->u.read.data, b->u.read.data);
    case NCP_FN_WRITE:
        return a->u.write.written == b->u.write.written;
    case NCP_FN_STAT:
    case NCP_FN_FSTAT:
    case NCP_FN_SETATTR:
    case NCP_FN_LSTAT:
    case NCP_FN_SYMLINK:
    case NCP_FN_LINK:
        return stat_eq(&a->u.stat.st, &b->u.stat.st);
    case NCP_FN_READLINK:
        FUZZ_CHECK(a->u.readlink.target.len >= 1 && a->u.readlink.target.len <= NCP_SYMLINK_MAX);
        FUZZ_CHECK(memchr(a->u.readlink.target.ptr, '\0', a->u.readlink.target.len) == NULL);
        return str_eq(a->u.readlink.target, b->u.readlink.target);
    case NCP_FN_NAMES:
        return a->u.names.count == b->u.names.count && bytes_eq(a->u.names.raw, b->u.names.raw);
    case NCP_FN_READDIR:
        return a->u.readdir.next_cookie == b->u.readdir.next_cookie &&
               a->u.readdir.eof == b->u.readdir.eof && a->u.readdir.count == b->u.readdir.count &&
               bytes_eq(a->u.readdir.raw, b->u.readdir.raw);
    case NCP_FN_STATFS:
        return memcmp(&a->u.statfs, &b->u.statfs, sizeof a->u.statfs) == 0;
    case NCP_FN_STATS:
        return a->u.stats.total == b->u.stats.total && a->u.stats.count == b->u.stats.count &&
               bytes_eq(a->u.stats.raw, b->u.stats.raw);
    default:
        return true;
    }
}

static void fuzz_reply(const uint8_t *frame, size_t len)
{
    struct ncp_reply a, b;
    struct reply_parts pa, pb;
    int e = ncp_decode_reply(frame, len, &a);
    FUZZ_CHECK(e >= 0 && e < NCP_E_COUNT && a.why != NULL);
    if (e != NCP_OK) {
        FUZZ_CHECK(a.why[0] != '\0');
        return;
    }
    reply_collect(&a, &pa);
    /* The re-encoding is never longer than the input (a stat's pad byte is the only field
     * the decoder drops, and it is re-encoded as 0 in the same place). */
    size_t cap = len;
    uint8_t *enc = malloc(cap), *enc2 = malloc(cap);
    size_t n = ncp_encode_reply(enc, cap, &a);
    FUZZ_CHECK(n == len);
    FUZZ_CHECK(ncp_decode_reply(enc, n, &b) == NCP_OK);
    reply_collect(&b, &pb);
    FUZZ_CHECK(reply_eq(&a, &b));
    FUZZ_CHECK(ncp_encode_reply(enc2, cap, &b) == n);
    FUZZ_CHECK(memcmp(enc, enc2, n) == 0);
    FUZZ_CHECK(ncp_encode_reply(enc2, n - 1, &b) == 0);
    /* A READ reply sent as head + data (the gather send) is the same frame. */
    if (a.h.type == NCP_TYPE_REPLY && a.h.completion == NCP_OK && a.h.function == NCP_FN_READ) {
        uint8_t head[NCP_READ_REPLY_DATA_OFF];
        size_t hn = ncp_encode_read_reply_head(head, sizeof head, &a, a.u.read.data.len);
        FUZZ_CHECK(hn == NCP_READ_REPLY_DATA_OFF);
        FUZZ_CHECK(memcmp(head, enc, hn) == 0);
        FUZZ_CHECK(hn + a.u.read.data.len == n);
    }
    parts_free(&pa);
    parts_free(&pb);
    free(enc);
    free(enc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    /* An exact-size copy: a read one byte past the frame is an ASan report. */
    size_t len = size + ((flags & 2) ? NCP_LEN_SIZE : 0);
    uint8_t *frame = malloc(len ? len : 1);
    if (flags & 2) {
        ncp_put32(frame, (uint32_t)size);
        memcpy(frame + NCP_LEN_SIZE, data, size);
    } else {
        memcpy(frame, data, size);
    }
    if (flags & 1)
        fuzz_reply(frame, len);
    else
        fuzz_request(frame, len);
    free(frame);
    return 0;
}
