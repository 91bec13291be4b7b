/* test_proto_codec.c - round trips for every function and rejection of
 * malformed frames. */
#include "proto/ncp_auth.h"
#include "proto/ncp_codec.h"
#include "proto/ncp_reasm.h"
#include "test_proto_check.h"

static uint8_t buf[NCP_MAX_FRAME_LIMIT + 64];

/* Decodes from an exact-size heap copy so ASan sees any over-read. */
static int dec_rq(const uint8_t *f, size_t n, struct ncp_request *rq, uint8_t **copy)
{
    *copy = malloc(n ? n : 1);
    memcpy(*copy, f, n);
    return ncp_decode_request(*copy, n, rq);
}
static int dec_rp(const uint8_t *f, size_t n, struct ncp_reply *rp, uint8_t **copy)
{
    *copy = malloc(n ? n : 1);
    memcpy(*copy, f, n);
    return ncp_decode_reply(*copy, n, rp);
}

static struct ncp_str S(const char *s) { struct ncp_str r = { s, (uint16_t)strlen(s) }; return r; }
static int streq(struct ncp_str a, const char *b) { return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0; }

static struct ncp_request rq_of(uint8_t fn)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = fn;
    rq.h.conn = 7;
    rq.h.seq = 0x01020304;
    rq.h.tag = 0xdeadbeef;
    return rq;
}

/* Encodes, decodes and checks the common header; returns the decoded copy. */
static int round_rq(struct ncp_request *in, struct ncp_request *out, uint8_t **copy)
{
    size_t n = ncp_encode_request(buf, sizeof buf, in);
    if (n == 0)
        return -1;
    int e = dec_rq(buf, n, out, copy);
    if (e)
        return e;
    if (out->h.type != NCP_TYPE_REQUEST || out->h.function != in->h.function ||
        out->h.conn != in->h.conn || out->h.seq != in->h.seq || out->h.tag != in->h.tag)
        return -2;
    return 0;
}

static void test_request_roundtrip_all(void)
{
    struct ncp_request in, out;
    uint8_t *c;

    in = rq_of(NCP_FN_NEGOTIATE);
    in.u.negotiate.version = 1;
    in.u.negotiate.max_frame = 70000;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.negotiate.version, 1);
    CHECK_EQ(out.u.negotiate.max_frame, 70000);
    free(c);

    in = rq_of(NCP_FN_CHALLENGE);
    in.u.challenge.user = S("alice");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK(streq(out.u.challenge.user, "alice"));
    free(c);

    in = rq_of(NCP_FN_LOGIN);
    in.u.login.user = S("bob");
    for (int i = 0; i < 32; i++)
        in.u.login.proof[i] = (uint8_t)(i * 7);
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK(streq(out.u.login.user, "bob"));
    CHECK(memcmp(out.u.login.proof, in.u.login.proof, 32) == 0);
    free(c);

    in = rq_of(NCP_FN_LOGOUT);
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    free(c);
    in = rq_of(NCP_FN_STATFS);
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    free(c);
    in = rq_of(NCP_FN_SHUTDOWN);
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    free(c);

    in = rq_of(NCP_FN_PING);
    in.u.ping.data.ptr = (const uint8_t *)"hello";
    in.u.ping.data.len = 5;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.ping.data.len, 5);
    CHECK(memcmp(out.u.ping.data.ptr, "hello", 5) == 0);
    free(c);

    in = rq_of(NCP_FN_OPEN);
    in.u.open.flags = NCP_O_READ | NCP_O_WRITE | NCP_O_TRUNC;
    in.u.open.mode = 0644;
    in.u.open.path = S("/a/b.txt");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.open.flags, NCP_O_READ | NCP_O_WRITE | NCP_O_TRUNC);
    CHECK_EQ(out.u.open.mode, 0644);
    CHECK(streq(out.u.open.path, "/a/b.txt"));
    free(c);

    in = rq_of(NCP_FN_CREATE);
    in.u.open.flags = NCP_O_EXCL;
    in.u.open.mode = 0600;
    in.u.open.path = S("x");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.open.flags, NCP_O_EXCL | NCP_O_CREATE | NCP_O_WRITE);
    free(c);

    in = rq_of(NCP_FN_READ);
    in.u.read.handle = 3;
    in.u.read.offset = 1ull << 40;
    in.u.read.count = 65536;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.read.handle, 3);
    CHECK(out.u.read.offset == 1ull << 40);
    CHECK_EQ(out.u.read.count, 65536);
    free(c);

    in = rq_of(NCP_FN_WRITE);
    in.u.write.handle = 9;
    in.u.write.offset = 12345;
    in.u.write.data.ptr = (const uint8_t *)"datadata";
    in.u.write.data.len = 8;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.write.offset, 12345);
    CHECK_EQ(out.u.write.data.len, 8);
    CHECK(memcmp(out.u.write.data.ptr, "datadata", 8) == 0);
    free(c);

    uint8_t fns_h[] = { NCP_FN_CLOSE, NCP_FN_FSTAT, NCP_FN_FSYNC };
    for (int i = 0; i < 3; i++) {
        in = rq_of(fns_h[i]);
        in.u.handle.handle = 0xabcdef;
        CHECK_EQ(round_rq(&in, &out, &c), 0);
        CHECK_EQ(out.u.handle.handle, 0xabcdef);
        free(c);
    }
    uint8_t fns_p[] = { NCP_FN_STAT, NCP_FN_UNLINK, NCP_FN_RMDIR };
    for (int i = 0; i < 3; i++) {
        in = rq_of(fns_p[i]);
        in.u.path.path = S("dir/file");
        CHECK_EQ(round_rq(&in, &out, &c), 0);
        CHECK(streq(out.u.path.path, "dir/file"));
        free(c);
    }

    in = rq_of(NCP_FN_READDIR);
    in.u.readdir.path = S("/");
    in.u.readdir.cookie = 77;
    in.u.readdir.max_entries = 100;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.readdir.cookie, 77);
    CHECK_EQ(out.u.readdir.max_entries, 100);
    CHECK(streq(out.u.readdir.path, "/"));
    free(c);

    in = rq_of(NCP_FN_RENAME);
    in.u.rename.from = S("a");
    in.u.rename.to = S("b/c");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK(streq(out.u.rename.from, "a"));
    CHECK(streq(out.u.rename.to, "b/c"));
    free(c);

    in = rq_of(NCP_FN_MKDIR);
    in.u.mkdir.mode = 0755;
    in.u.mkdir.path = S("newdir");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.mkdir.mode, 0755);
    free(c);

    in = rq_of(NCP_FN_TRUNCATE);
    in.u.truncate.handle = 1;
    in.u.truncate.size = 999;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.truncate.size, 999);
    free(c);

    in = rq_of(NCP_FN_LOCK);
    in.u.lock.handle = 2;
    in.u.lock.offset = 10;
    in.u.lock.length = 20;
    in.u.lock.flags = NCP_LOCK_EXCLUSIVE | NCP_LOCK_WAIT;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.lock.offset, 10);
    CHECK_EQ(out.u.lock.length, 20);
    CHECK_EQ(out.u.lock.flags, NCP_LOCK_EXCLUSIVE | NCP_LOCK_WAIT);
    free(c);

    in = rq_of(NCP_FN_SETATTR); in.u.setattr.mask = NCP_SA_MODE | NCP_SA_UID | NCP_SA_GID | NCP_SA_SIZE |
        NCP_SA_ATIME | NCP_SA_MTIME_NOW;
    in.u.setattr.handle = NCP_HANDLE_NONE;
    in.u.setattr.path = S("/home/x");
    in.u.setattr.mode = 04750;
    in.u.setattr.uid = 1000;
    in.u.setattr.gid = 0xFFFFFFFEu;
    in.u.setattr.size = 1ull << 40;
    in.u.setattr.atime = 123;
    in.u.setattr.mtime = 456;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.setattr.mask, in.u.setattr.mask);
    CHECK_EQ(out.u.setattr.handle, NCP_HANDLE_NONE);
    CHECK(streq(out.u.setattr.path, "/home/x"));
    CHECK_EQ(out.u.setattr.mode, 04750);
    CHECK_EQ(out.u.setattr.uid, 1000);
    CHECK_EQ(out.u.setattr.gid, 0xFFFFFFFEu);
    CHECK(out.u.setattr.size == 1ull << 40);
    CHECK_EQ(out.u.setattr.atime, 123);
    CHECK_EQ(out.u.setattr.mtime, 456);
    free(c);
    in.u.setattr.handle = 5;
    in.u.setattr.path = S("");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.setattr.handle, 5);
    free(c);

    struct ncp_name ids[3] = { { NCP_NAME_USER, 0, 0, NULL }, { NCP_NAME_GROUP, 100, 0, NULL },
                               { NCP_NAME_USER, 0, 5, "alice" } };
    in = rq_of(NCP_FN_NAMES);
    in.u.names.count = 3;
    in.u.names.ids = ids;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.names.count, 3);
    { size_t np = 0; struct ncp_name e; int kk = 0;
      while (ncp_names_next(out.u.names.raw, &np, &e)) {
          CHECK_EQ(e.kind, ids[kk].kind);
          CHECK_EQ(e.id, ids[kk].id);
          CHECK_EQ(e.len, ids[kk].len);
          CHECK(memcmp(e.name, kk == 2 ? "alice" : "", e.len) == 0);
          kk++;
      }
      CHECK_EQ(kk, 3); }
    free(c);

    in = rq_of(NCP_FN_UNLOCK);
    in.u.lock.handle = 2;
    in.u.lock.offset = 10;
    in.u.lock.length = 0;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.lock.flags, 0);
    free(c);

    in = rq_of(NCP_FN_STATS);
    in.u.stats.first = 5;
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK_EQ(out.u.stats.first, 5);
    free(c);
}

static struct ncp_reply rp_of(uint8_t fn)
{
    struct ncp_reply rp;
    memset(&rp, 0, sizeof rp);
    rp.h.function = fn;
    rp.h.conn = 3;
    rp.h.seq = 11;
    rp.h.tag = 42;
    rp.h.conn_status = NCP_CS_LOGGED_IN;
    return rp;
}

static int round_rp(struct ncp_reply *in, struct ncp_reply *out, uint8_t **copy)
{
    size_t n = ncp_encode_reply(buf, sizeof buf, in);
    if (n == 0)
        return -1;
    int e = dec_rp(buf, n, out, copy);
    if (e)
        return e;
    if (out->h.type != NCP_TYPE_REPLY || out->h.function != in->h.function ||
        out->h.tag != in->h.tag || out->h.seq != in->h.seq || out->h.conn_status != in->h.conn_status)
        return -2;
    return 0;
}

static struct ncp_stat sample_stat(void)
{
    struct ncp_stat s = { 12, NCP_FT_FILE, 0644, 1, 1000, 100, 1ull << 33, 1, 2, 3 };
    return s;
}

static int stat_eq(const struct ncp_stat *a, const struct ncp_stat *b)
{
    return a->ino == b->ino && a->type == b->type && a->mode == b->mode && a->nlink == b->nlink &&
           a->uid == b->uid && a->gid == b->gid && a->size == b->size && a->atime == b->atime &&
           a->mtime == b->mtime && a->ctime == b->ctime;
}

static void test_reply_roundtrip_all(void)
{
    struct ncp_reply in, out;
    uint8_t *c;

    in = rp_of(NCP_FN_NEGOTIATE);
    in.u.negotiate.version = 1;
    in.u.negotiate.max_frame = 65600;
    in.u.negotiate.conn = 17;
    in.u.negotiate.max_handles = 64;
    in.u.negotiate.max_inflight = 32;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.negotiate.conn, 17);
    CHECK_EQ(out.u.negotiate.max_frame, 65600);
    CHECK_EQ(out.u.negotiate.max_inflight, 32);
    free(c);

    in = rp_of(NCP_FN_CHALLENGE);
    in.u.challenge.salt_len = 16;
    for (int i = 0; i < 16; i++) { in.u.challenge.salt[i] = (uint8_t)i; in.u.challenge.nonce[i] = (uint8_t)(0xf0 + i); }
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.challenge.salt_len, 16);
    CHECK(memcmp(out.u.challenge.salt, in.u.challenge.salt, 16) == 0);
    CHECK(memcmp(out.u.challenge.nonce, in.u.challenge.nonce, 16) == 0);
    free(c);

    in = rp_of(NCP_FN_LOGIN);
    in.u.login.flags = NCP_LOGIN_ADMIN;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.login.flags, NCP_LOGIN_ADMIN);
    free(c);

    in = rp_of(NCP_FN_PING);
    in.u.ping.data.ptr = (const uint8_t *)"xyz";
    in.u.ping.data.len = 3;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.ping.data.len, 3);
    free(c);

    in = rp_of(NCP_FN_OPEN);
    in.u.open.handle = 5;
    in.u.open.st = sample_stat();
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.open.handle, 5);
    CHECK(stat_eq(&out.u.open.st, &in.u.open.st));
    free(c);

    in = rp_of(NCP_FN_STAT);
    in.u.stat.st = sample_stat();
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK(stat_eq(&out.u.stat.st, &in.u.stat.st));
    free(c);

    /* READ with data already in place (the zero-copy server path). */
    in = rp_of(NCP_FN_READ);
    memset(buf + NCP_READ_REPLY_DATA_OFF, 0x5a, 1000);
    in.u.read.data.ptr = buf + NCP_READ_REPLY_DATA_OFF;
    in.u.read.data.len = 1000;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.read.data.len, 1000);
    CHECK(out.u.read.data.ptr[0] == 0x5a && out.u.read.data.ptr[999] == 0x5a);
    free(c);

    in = rp_of(NCP_FN_WRITE);
    in.u.write.written = 4096;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.write.written, 4096);
    free(c);

    struct ncp_dirent ents[3] = {
        { 2, NCP_FT_DIR, 0755, 0, 0, 4096, 100, 1, "." },
        { 11, NCP_FT_FILE, 0644, 1000, 100, 5, 200, 9, "hello.txt" },
        { 12, NCP_FT_SYMLINK, 0777, 0xFFFFFFFEu, 7, 3, 300, 4, "link" },
    };
    in = rp_of(NCP_FN_READDIR);
    in.u.readdir.next_cookie = 99;
    in.u.readdir.eof = 1;
    in.u.readdir.count = 3;
    in.u.readdir.entries = ents;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.readdir.count, 3);
    CHECK_EQ(out.u.readdir.eof, 1);
    CHECK_EQ(out.u.readdir.next_cookie, 99);
    size_t pos = 0;
    struct ncp_dirent d;
    int k = 0;
    while (ncp_dirent_next(&out, &pos, &d)) {
        CHECK_EQ(d.ino, ents[k].ino);
        CHECK_EQ(d.type, ents[k].type);
        CHECK_EQ(d.size, ents[k].size);
        CHECK_EQ(d.uid, ents[k].uid);
        CHECK_EQ(d.gid, ents[k].gid);
        CHECK_EQ(d.mode, ents[k].mode);
        CHECK_EQ(d.mtime, ents[k].mtime);
        CHECK_EQ(d.name_len, ents[k].name_len);
        CHECK(memcmp(d.name, ents[k].name, d.name_len) == 0);
        k++;
    }
    CHECK_EQ(k, 3);
    free(c);

    in = rp_of(NCP_FN_SETATTR);
    in.u.stat.st.ino = 9;
    in.u.stat.st.type = NCP_FT_FILE;
    in.u.stat.st.mode = 02755;
    in.u.stat.st.uid = 1000;
    in.u.stat.st.gid = 300;
    in.u.stat.st.ctime = 77;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.stat.st.mode, 02755);
    CHECK_EQ(out.u.stat.st.uid, 1000);
    CHECK_EQ(out.u.stat.st.gid, 300);
    CHECK_EQ(out.u.stat.st.ctime, 77);
    free(c);

    struct ncp_name nm[3] = { { NCP_NAME_USER, 0, 5, "admin" }, { NCP_NAME_GROUP, 100, 5, "staff" },
                              { NCP_NAME_USER, 4242, 0, "" } };
    in = rp_of(NCP_FN_NAMES);
    in.u.names.count = 3;
    in.u.names.names = nm;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.names.count, 3);
    { size_t np = 0; struct ncp_name e; int kk = 0;
      while (ncp_names_next(out.u.names.raw, &np, &e)) {
          CHECK_EQ(e.kind, nm[kk].kind);
          CHECK_EQ(e.id, nm[kk].id);
          CHECK_EQ(e.len, nm[kk].len);
          CHECK(memcmp(e.name, nm[kk].name, e.len) == 0);
          kk++;
      }
      CHECK_EQ(kk, 3); }
    free(c);

    in = rp_of(NCP_FN_STATFS);
    struct ncp_statfs sf = { 4096, 1000, 500, 256, 200, 255, NCP_FS_READONLY };
    in.u.statfs = sf;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.statfs.blocks_free, 500);
    CHECK_EQ(out.u.statfs.flags, NCP_FS_READONLY);
    CHECK_EQ(out.u.statfs.name_max, 255);
    free(c);

    struct ncp_counter ctr[2] = { { "wtd.events", 123456789012ull }, { "net.rx_bytes", 7 } };
    in = rp_of(NCP_FN_STATS);
    in.u.stats.total = 10;
    in.u.stats.count = 2;
    in.u.stats.counters = ctr;
    CHECK_EQ(round_rp(&in, &out, &c), 0);
    CHECK_EQ(out.u.stats.total, 10);
    char name[NCP_STAT_NAME_MAX + 1];
    uint64_t v;
    pos = 0;
    k = 0;
    while (ncp_counter_next(&out, &pos, name, &v)) {
        CHECK(strcmp(name, ctr[k].name) == 0);
        CHECK(v == ctr[k].value);
        k++;
    }
    CHECK_EQ(k, 2);
    free(c);

    uint8_t empty[] = { NCP_FN_LOGOUT, NCP_FN_CLOSE, NCP_FN_UNLINK, NCP_FN_RENAME, NCP_FN_MKDIR,
                        NCP_FN_RMDIR, NCP_FN_TRUNCATE, NCP_FN_LOCK, NCP_FN_UNLOCK, NCP_FN_FSYNC,
                        NCP_FN_SHUTDOWN };
    for (size_t i = 0; i < sizeof empty; i++) {
        in = rp_of(empty[i]);
        CHECK_EQ(round_rp(&in, &out, &c), 0);
        free(c);
    }
}

static void test_error_and_busy_replies(void)
{
    struct ncp_reply in = rp_of(NCP_FN_READ), out;
    uint8_t *c;
    in.h.completion = NCP_E_BADF;
    size_t n = ncp_encode_reply(buf, sizeof buf, &in);
    CHECK_EQ(n, NCP_LEN_SIZE + NCP_HDR_SIZE);
    CHECK_EQ(dec_rp(buf, n, &out, &c), 0);
    CHECK_EQ(out.h.completion, NCP_E_BADF);
    free(c);

    in = rp_of(NCP_FN_LOCK);
    in.h.type = NCP_TYPE_BUSY;
    n = ncp_encode_reply(buf, sizeof buf, &in);
    CHECK_EQ(dec_rp(buf, n, &out, &c), 0);
    CHECK_EQ(out.h.type, NCP_TYPE_BUSY);
    free(c);

    /* An error reply with a payload is malformed. */
    in = rp_of(NCP_FN_WRITE);
    in.u.write.written = 5;
    n = ncp_encode_reply(buf, sizeof buf, &in);
    buf[NCP_LEN_SIZE + 3] = NCP_E_IO;
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);

    /* Unknown completion codes are malformed. */
    in = rp_of(NCP_FN_CLOSE);
    in.h.completion = 200;
    n = ncp_encode_reply(buf, sizeof buf, &in);
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);

    CHECK(strcmp(ncp_errname(NCP_E_NOTEMPTY), "ENOTEMPTY") == 0);
    for (unsigned i = 0; i < NCP_E_COUNT + 3; i++)
        CHECK(ncp_strerror(i) != NULL && ncp_errname(i) != NULL);
}

/* A READ reply's head for a gather send decodes, with its data appended, like the whole
 * reply; the reply size of a READ request is known before it runs; not for other frames. */
static void test_read_reply_head_and_size(void)
{
    static uint8_t data[5000], whole[NCP_READ_REPLY_DATA_OFF + 5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    struct ncp_reply in = rp_of(NCP_FN_READ), out;
    uint8_t *c;
    size_t hn = ncp_encode_read_reply_head(whole, sizeof whole, &in, sizeof data);
    CHECK_EQ(hn, NCP_READ_REPLY_DATA_OFF);
    memcpy(whole + hn, data, sizeof data);
    CHECK_EQ(dec_rp(whole, sizeof whole, &out, &c), 0);
    CHECK_EQ(out.u.read.data.len, sizeof data);
    CHECK(out.u.read.data.ptr && memcmp(out.u.read.data.ptr, data, sizeof data) == 0);
    free(c);
    in.u.read.data.ptr = data;
    in.u.read.data.len = sizeof data;
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &in), sizeof whole);
    CHECK(memcmp(buf, whole, sizeof whole) == 0);                   /* byte for byte the same */
    in.h.completion = NCP_E_BADF;
    CHECK_EQ(ncp_encode_read_reply_head(whole, sizeof whole, &in, 10), 0);   /* errors have no data */
    in = rp_of(NCP_FN_WRITE);
    CHECK_EQ(ncp_encode_read_reply_head(whole, sizeof whole, &in, 10), 0);

    struct ncp_request rq = rq_of(NCP_FN_READ);
    rq.u.read.handle = 3;
    rq.u.read.offset = 1u << 20;
    rq.u.read.count = 123456;
    size_t n = ncp_encode_request(buf, sizeof buf, &rq);
    CHECK_EQ(ncp_read_reply_size(buf, n), NCP_READ_REPLY_DATA_OFF + 123456);
    CHECK_EQ(ncp_read_reply_size(buf, n - 1), 0);                    /* too short to tell */
    rq = rq_of(NCP_FN_PING);
    n = ncp_encode_request(buf, sizeof buf, &rq);
    CHECK_EQ(ncp_read_reply_size(buf, n), 0);
}

/* SYMLINK, READLINK, LINK, LSTAT: round trips of requests and replies, and the target rules
 * (a target is not a path: ".." and absolute targets travel; empty, NUL or too long do not). */
static void test_link_functions(void)
{
    struct ncp_request in, out;
    struct ncp_reply pin, pout;
    uint8_t *c;
    char big[NCP_SYMLINK_MAX + 2];

    in = rq_of(NCP_FN_SYMLINK); in.u.symlink.target = S("../../etc/passwd"); in.u.symlink.path = S("d/l");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK(streq(out.u.symlink.target, "../../etc/passwd")); CHECK(streq(out.u.symlink.path, "d/l")); free(c);
    in.u.symlink.target = S("/abs/olute");
    CHECK_EQ(round_rq(&in, &out, &c), 0); CHECK(streq(out.u.symlink.target, "/abs/olute")); free(c);
    memset(big, 'x', sizeof big);
    in.u.symlink.target.ptr = big; in.u.symlink.target.len = NCP_SYMLINK_MAX;
    CHECK_EQ(round_rq(&in, &out, &c), 0); CHECK_EQ(out.u.symlink.target.len, NCP_SYMLINK_MAX); free(c);
    in.u.symlink.target.len = NCP_SYMLINK_MAX + 1;
    size_t n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK(n > 0);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_NAMETOOLONG); free(c);
    in.u.symlink.target = S("");
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL); free(c);
    in.u.symlink.target.ptr = "a\0b"; in.u.symlink.target.len = 3;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL); free(c);
    in.u.symlink.target = S("ok"); in.u.symlink.path = S("a/../b");
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL); free(c);

    in = rq_of(NCP_FN_LINK); in.u.link.existing = S("a/f"); in.u.link.newpath = S("b/g");
    CHECK_EQ(round_rq(&in, &out, &c), 0);
    CHECK(streq(out.u.link.existing, "a/f")); CHECK(streq(out.u.link.newpath, "b/g")); free(c);
    in.u.link.newpath = S("../x");
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL); free(c);

    const uint8_t fns[] = { NCP_FN_READLINK, NCP_FN_LSTAT };
    for (unsigned i = 0; i < sizeof fns; i++) {
        in = rq_of(fns[i]); in.u.path.path = S("x/y");
        CHECK_EQ(round_rq(&in, &out, &c), 0); CHECK(streq(out.u.path.path, "x/y")); free(c);
        in.u.path.path = S("x/../..");
        n = ncp_encode_request(buf, sizeof buf, &in);
        CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL); free(c);
    }

    const uint8_t stat_fns[] = { NCP_FN_SYMLINK, NCP_FN_LINK, NCP_FN_LSTAT };
    for (unsigned i = 0; i < sizeof stat_fns; i++) {
        pin = rp_of(stat_fns[i]); pin.u.stat.st = sample_stat(); pin.u.stat.st.type = NCP_FT_SYMLINK;
        CHECK_EQ(round_rp(&pin, &pout, &c), 0); CHECK(stat_eq(&pin.u.stat.st, &pout.u.stat.st)); free(c);
    }
    pin = rp_of(NCP_FN_READLINK); pin.u.readlink.target = S("../t");
    CHECK_EQ(round_rp(&pin, &pout, &c), 0); CHECK(streq(pout.u.readlink.target, "../t")); free(c);
    pin.u.readlink.target.ptr = big; pin.u.readlink.target.len = NCP_SYMLINK_MAX;
    CHECK_EQ(round_rp(&pin, &pout, &c), 0); CHECK_EQ(pout.u.readlink.target.len, NCP_SYMLINK_MAX); free(c);
    pin.u.readlink.target.len = NCP_SYMLINK_MAX + 1;              /* the encoder refuses it */
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &pin), 0);
    pin.u.readlink.target = S("");
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &pin), 0);
    /* A reply that lies: a target with a NUL in it. */
    pin.u.readlink.target = S("abc");
    n = ncp_encode_reply(buf, sizeof buf, &pin);
    CHECK(n > 0);
    buf[n - 2] = 0;
    CHECK_EQ(dec_rp(buf, n, &pout, &c), NCP_E_BADFRAME); free(c);
    /* SETATTR's NOFOLLOW bit travels */
    in = rq_of(NCP_FN_SETATTR); in.u.setattr.mask = NCP_SA_NOFOLLOW | NCP_SA_MTIME; in.u.setattr.handle = NCP_HANDLE_NONE;
    in.u.setattr.path = S("l"); in.u.setattr.mtime = 5;
    CHECK_EQ(round_rq(&in, &out, &c), 0); CHECK_EQ(out.u.setattr.mask, NCP_SA_NOFOLLOW | NCP_SA_MTIME); free(c);
    CHECK(strcmp(ncp_errname(NCP_E_LOOP), "ELOOP") == 0);
    CHECK(strcmp(ncp_errname(NCP_E_MLINK), "EMLINK") == 0);
    CHECK(strcmp(ncp_errname(NCP_E_PERM), "EPERM") == 0);
    CHECK(strcmp(ncp_strerror(NCP_E_PERM), "operation not permitted") == 0);
}

static void test_reject_truncated(void)
{
    struct ncp_request in = rq_of(NCP_FN_WRITE), out;
    uint8_t *c;
    in.u.write.data.ptr = (const uint8_t *)"abcdef";
    in.u.write.data.len = 6;
    size_t n = ncp_encode_request(buf, sizeof buf, &in);
    /* Every proper prefix must be rejected, with the prefix fixed up or not. */
    for (size_t k = 0; k < n; k++) {
        CHECK(dec_rq(buf, k, &out, &c) != 0);
        free(c);
        if (k >= NCP_LEN_SIZE) {
            uint8_t *t = malloc(k);
            memcpy(t, buf, k);
            ncp_put32(t, (uint32_t)(k - NCP_LEN_SIZE));
            CHECK(ncp_decode_request(t, k, &out) == NCP_E_BADFRAME);
            free(t);
        }
    }
    /* Data length claiming more than the frame holds. */
    ncp_put32(buf + NCP_LEN_SIZE + NCP_HDR_SIZE + 12, 1000);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
    /* Huge length prefix. */
    ncp_put32(buf, 0xffffffffu);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
}

static void test_reject_bad_fields(void)
{
    struct ncp_request in, out;
    uint8_t *c;
    size_t n;

    in = rq_of(NCP_FN_OPEN);
    in.u.open.flags = NCP_O_READ;
    in.u.open.path = S("a/../../etc/passwd");
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    in.u.open.path = S("..");
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    in.u.open.path.ptr = "a\0b";
    in.u.open.path.len = 3;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    static char longname[300];
    memset(longname, 'x', 256);
    longname[256] = 0;
    in.u.open.path = S(longname);
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_NAMETOOLONG);
    free(c);

    in.u.open.path = S("ok");
    in.u.open.flags = 0x80 | NCP_O_READ;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);
    in.u.open.flags = NCP_O_EXCL | NCP_O_READ;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);
    in.u.open.flags = 0;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    in = rq_of(NCP_FN_READ);
    in.u.read.count = NCP_MAX_FRAME_LIMIT;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);
    in.u.read.count = 10;
    in.u.read.offset = ~0ull;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    in = rq_of(NCP_FN_LOCK);
    in.u.lock.offset = 1ull << 62;
    in.u.lock.length = 1ull << 62;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);
    in.u.lock.offset = 0;
    in.u.lock.length = 1;
    in.u.lock.flags = 0x10;
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    in = rq_of(NCP_FN_LOGIN);
    in.u.login.user = S("bad:user");
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);

    /* SETATTR: unknown mask bits, a time both given and "now", a mode past 07777, the
     * "none" id, a size past 2^63, a handle together with a path, a bad path. */
    static const struct { uint32_t mask; uint32_t handle; const char *path; uint16_t mode;
                          uint32_t id; uint64_t size; int want; } sa[] = {
        { 0x200, NCP_HANDLE_NONE, "f", 0, 0, 0, NCP_E_INVAL },
        { NCP_SA_ATIME | NCP_SA_ATIME_NOW, NCP_HANDLE_NONE, "f", 0, 0, 0, NCP_E_INVAL },
        { NCP_SA_MTIME | NCP_SA_MTIME_NOW, NCP_HANDLE_NONE, "f", 0, 0, 0, NCP_E_INVAL },
        { NCP_SA_MODE, NCP_HANDLE_NONE, "f", 010000, 0, 0, NCP_E_INVAL },
        { NCP_SA_UID, NCP_HANDLE_NONE, "f", 0, NCP_ID_NONE, 0, NCP_E_INVAL },
        { NCP_SA_GID, NCP_HANDLE_NONE, "f", 0, NCP_ID_NONE, 0, NCP_E_INVAL },
        { NCP_SA_SIZE, NCP_HANDLE_NONE, "f", 0, 0, 1ull << 63, NCP_E_FBIG },
        { NCP_SA_MODE, 3, "f", 0644, 0, 0, NCP_E_INVAL },
        { NCP_SA_MODE, NCP_HANDLE_NONE, "a/../b", 0644, 0, 0, NCP_E_INVAL },
        { NCP_SA_MODE, NCP_HANDLE_NONE, "f", 07777, 0, 0, NCP_OK },
    };
    for (size_t i = 0; i < sizeof sa / sizeof sa[0]; i++) {
        in = rq_of(NCP_FN_SETATTR);
        in.u.setattr.mask = sa[i].mask;
        in.u.setattr.handle = sa[i].handle;
        in.u.setattr.path = S(sa[i].path);
        in.u.setattr.mode = sa[i].mode;
        in.u.setattr.uid = sa[i].id;
        in.u.setattr.gid = sa[i].id;
        in.u.setattr.size = sa[i].size;
        n = ncp_encode_request(buf, sizeof buf, &in);
        CHECK_EQ(dec_rq(buf, n, &out, &c), sa[i].want);
        free(c);
    }
    /* NAMES: too many, an unknown kind, a count larger than the entries. */
    static struct ncp_name many[NCP_NAMES_MAX + 1];
    in = rq_of(NCP_FN_NAMES);
    in.u.names.count = NCP_NAMES_MAX + 1;
    in.u.names.ids = many;
    CHECK_EQ(ncp_encode_request(buf, sizeof buf, &in), 0);
    in.u.names.count = 2;
    many[1].kind = NCP_NAME_GROUP;
    n = ncp_encode_request(buf, sizeof buf, &in);
    buf[n - 6] = 2;                                     /* an unknown kind */
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);
    many[1].kind = NCP_NAME_USER;
    many[1].len = 3;
    many[1].name = "a:b";
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c); /* ':' in a name */
    many[1].len = 0;
    n = ncp_encode_request(buf, sizeof buf, &in);
    ncp_put16(buf + NCP_LEN_SIZE + NCP_HDR_SIZE, 3);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
    ncp_put16(buf + NCP_LEN_SIZE + NCP_HDR_SIZE, NCP_NAMES_MAX + 1);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_INVAL);
    free(c);
    /* replies: a name with ':' or a space, a kind past GROUP, a name longer than a user's */
    struct ncp_name ans = { NCP_NAME_USER, 5, 3, "a b" };
    struct ncp_reply rin = rp_of(NCP_FN_NAMES), rout;
    rin.u.names.count = 1;
    rin.u.names.names = &ans;
    n = ncp_encode_reply(buf, sizeof buf, &rin);
    CHECK(n > 0);
    CHECK_EQ(dec_rp(buf, n, &rout, &c), NCP_E_BADFRAME);
    free(c);
    ans.name = "abc";
    n = ncp_encode_reply(buf, sizeof buf, &rin);
    CHECK_EQ(dec_rp(buf, n, &rout, &c), NCP_OK);
    free(c);
    buf[NCP_LEN_SIZE + NCP_HDR_SIZE + 2] = 7;
    CHECK_EQ(dec_rp(buf, n, &rout, &c), NCP_E_BADFRAME);
    free(c);
    ans.kind = 2;
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &rin), 0);
    ans.kind = NCP_NAME_GROUP;
    ans.len = NCP_USER_MAX + 1;
    ans.name = "0123456789012345678901234567890123";
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &rin), 0);

    in = rq_of(0x77);
    n = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(n, 0);
    in = rq_of(NCP_FN_PING);
    n = ncp_encode_request(buf, sizeof buf, &in);
    buf[NCP_LEN_SIZE + 2] = 0x77;
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_BADFUNC);
    free(c);

    /* A reply frame is not a request; trailing bytes are rejected. */
    buf[NCP_LEN_SIZE + 2] = NCP_FN_PING;
    ncp_put16(buf + NCP_LEN_SIZE, NCP_TYPE_REPLY);
    CHECK_EQ(dec_rq(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
    in = rq_of(NCP_FN_LOGOUT);
    n = ncp_encode_request(buf, sizeof buf, &in);
    buf[n] = 0;
    ncp_put32(buf, (uint32_t)(n + 1 - NCP_LEN_SIZE));
    CHECK_EQ(dec_rq(buf, n + 1, &out, &c), NCP_E_BADFRAME);
    free(c);
}

static void test_reject_bad_counts(void)
{
    struct ncp_dirent ents[2] = {
        { 11, NCP_FT_FILE, 0644, 1, 1, 5, 200, 1, "a" }, { 12, NCP_FT_FILE, 0644, 1, 1, 5, 200, 1, "b" },
    };
    struct ncp_reply in = rp_of(NCP_FN_READDIR), out;
    uint8_t *c;
    in.u.readdir.count = 2;
    in.u.readdir.entries = ents;
    size_t n = ncp_encode_reply(buf, sizeof buf, &in);
    size_t count_at = NCP_LEN_SIZE + NCP_HDR_SIZE + 9;
    ncp_put16(buf + count_at, 3);                       /* claims one more than present */
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
    ncp_put16(buf + count_at, 1);                       /* leaves trailing bytes */
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
    ncp_put16(buf + count_at, 2);
    buf[count_at + 2 + NCP_DIRENT_FIXED - 1] = 200;     /* name length past the end */
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);
    buf[count_at + 2 + NCP_DIRENT_FIXED - 1] = 1;
    buf[count_at + 2 + NCP_DIRENT_FIXED] = '/';         /* '/' inside a name */
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);

    /* Encoder refuses entries it could not decode. */
    struct ncp_dirent badent = { 1, NCP_FT_FILE, 0, 0, 0, 0, 0, 0, "" };
    in.u.readdir.count = 1;
    in.u.readdir.entries = &badent;
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &in), 0);

    struct ncp_counter ctr = { "x", 1 };
    in = rp_of(NCP_FN_STATS);
    in.u.stats.total = 1;
    in.u.stats.count = 1;
    in.u.stats.counters = &ctr;
    n = ncp_encode_reply(buf, sizeof buf, &in);
    ncp_put16(buf + NCP_LEN_SIZE + NCP_HDR_SIZE, 0);    /* count above total */
    CHECK_EQ(dec_rp(buf, n, &out, &c), NCP_E_BADFRAME);
    free(c);

    in = rp_of(NCP_FN_CHALLENGE);
    in.u.challenge.salt_len = 33;
    CHECK_EQ(ncp_encode_reply(buf, sizeof buf, &in), 0);
}

static void test_encode_respects_cap(void)
{
    struct ncp_request in = rq_of(NCP_FN_WRITE);
    static uint8_t data[5000];
    in.u.write.data.ptr = data;
    in.u.write.data.len = sizeof data;
    size_t need = ncp_encode_request(buf, sizeof buf, &in);
    CHECK_EQ(need, NCP_LEN_SIZE + NCP_WRITE_REQ_OVERHEAD + sizeof data);
    uint8_t *small = malloc(need - 1);
    CHECK_EQ(ncp_encode_request(small, need - 1, &in), 0);
    free(small);
    CHECK_EQ(ncp_encode_bare(buf, 10, &in.h), 0);
}

static void test_path_helpers(void)
{
    CHECK_EQ(ncp_path_check("", 0), 0);
    CHECK_EQ(ncp_path_check("/", 1), 0);
    CHECK_EQ(ncp_path_check("//a/./b/", 8), 0);
    CHECK_EQ(ncp_path_check("a/..b/c..", 9), 0);
    CHECK_EQ(ncp_path_check("a/../b", 6), NCP_E_INVAL);
    CHECK_EQ(ncp_path_check("a/..", 4), NCP_E_INVAL);
    static char big[NCP_PATH_MAX + 2];
    memset(big, 'a', sizeof big);
    for (int i = 100; i < NCP_PATH_MAX; i += 100)
        big[i] = '/';
    CHECK_EQ(ncp_path_check(big, NCP_PATH_MAX), 0);
    CHECK_EQ(ncp_path_check(big, NCP_PATH_MAX + 1), NCP_E_NAMETOOLONG);

    struct ncp_path_iter it;
    const char *nm;
    size_t nl;
    int k = 0;
    const char *want[] = { "usr", "lib", "x" };
    ncp_path_iter_init(&it, "//usr/./lib//x/", 15);
    while (ncp_path_iter_next(&it, &nm, &nl)) {
        CHECK(k < 3 && nl == strlen(want[k]) && memcmp(nm, want[k], nl) == 0);
        k++;
    }
    CHECK_EQ(k, 3);

    size_t pl;
    const char *last;
    size_t ll;
    CHECK(ncp_path_split("/a/b/c.txt", 10, &pl, &last, &ll));
    CHECK_EQ(pl, 5);
    CHECK_EQ(ll, 5);
    CHECK(memcmp(last, "c.txt", 5) == 0);
    CHECK(ncp_path_split("file", 4, &pl, &last, &ll));
    CHECK_EQ(pl, 0);
    CHECK(!ncp_path_split("/./", 3, &pl, &last, &ll));
}

static void test_reasm_chunks(void)
{
    /* Three frames split at every possible chunk size come out whole. */
    uint8_t stream[4096];
    size_t slen = 0;
    for (int i = 0; i < 3; i++) {
        struct ncp_request in = rq_of(NCP_FN_PING);
        in.h.tag = (uint32_t)i;
        in.u.ping.data.ptr = (const uint8_t *)"0123456789";
        in.u.ping.data.len = (uint32_t)(i * 4);
        slen += ncp_encode_request(stream + slen, sizeof stream - slen, &in);
    }
    static uint8_t rb[NCP_LEN_SIZE + NCP_DEFAULT_MAX_FRAME];
    for (size_t chunk = 1; chunk <= slen; chunk++) {
        struct ncp_reasm ra;
        CHECK(ncp_reasm_init(&ra, rb, sizeof rb, NCP_DEFAULT_MAX_FRAME));
        int got = 0;
        for (size_t off = 0; off < slen; off += chunk) {
            size_t len = slen - off < chunk ? slen - off : chunk, used = 0;
            for (;;) {
                const uint8_t *f;
                size_t fl;
                struct ncp_request rq;
                int r = ncp_reasm_frame(&ra, &f, &fl);
                if (r == NCP_REASM_FRAME) {
                    CHECK_EQ(ncp_decode_request(f, fl, &rq), 0);
                    CHECK_EQ(rq.h.tag, got);
                    got++;
                    ncp_reasm_consume(&ra);
                    continue;
                }
                CHECK(r == NCP_REASM_MORE);
                if (r != NCP_REASM_MORE || used == len)
                    break;
                used += ncp_reasm_feed(&ra, stream + off + used, len - used);
            }
        }
        CHECK_EQ(got, 3);
    }
}

static void test_reasm_rejects_huge(void)
{
    static uint8_t rb[NCP_LEN_SIZE + 2048];
    struct ncp_reasm ra;
    CHECK(!ncp_reasm_init(&ra, rb, sizeof rb, NCP_DEFAULT_MAX_FRAME));  /* buffer too small */
    CHECK(ncp_reasm_init(&ra, rb, sizeof rb, 2048));
    uint8_t hdr[4];
    ncp_put32(hdr, 2049);
    CHECK_EQ(ncp_reasm_feed(&ra, hdr, 4), 4);
    const uint8_t *f;
    size_t fl;
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_ERROR);
    CHECK_EQ(ncp_reasm_feed(&ra, hdr, 4), 0);           /* sticky */
    CHECK(ncp_reasm_init(&ra, rb, sizeof rb, 2048));
    ncp_put32(hdr, 3);                                  /* below the header size */
    ncp_reasm_feed(&ra, hdr, 4);
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_ERROR);
    CHECK(!ncp_reasm_set_max(&ra, NCP_MAX_FRAME_LIMIT));
}

static void test_users_file_and_proof(void)
{
    const char *file =
        "# users\n"
        "\n"
        "guest:0011:0000000000000000000000000000000000000000000000000000000000000000:1000:100::\n"
        "broken:zz:00:1:1::\n"
        "old:0011:0000000000000000000000000000000000000000000000000000000000000000:admin\n"
        "admin:a1b2c3d4:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff:0:0:100,300:admin\r\n"
        "toobig:0011:0000000000000000000000000000000000000000000000000000000000000000:4294967295:1::\n"
        "neg:0011:0000000000000000000000000000000000000000000000000000000000000000:-1:1::\n"
        "hexid:0011:0000000000000000000000000000000000000000000000000000000000000000:0x10:1::\n"
        "manyg:0011:0000000000000000000000000000000000000000000000000000000000000000:5:5:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17:\n"
        "badg:0011:0000000000000000000000000000000000000000000000000000000000000000:5:5:1,,2:\n"
        "extra:0011:0000000000000000000000000000000000000000000000000000000000000000:5:5:::\n"
        "flags:0011:0000000000000000000000000000000000000000000000000000000000000000:7:8:9:foo,admin,bar\n"
        "notadmin:0011:0000000000000000000000000000000000000000000000000000000000000000:7:8::administrator\n"
        "shorthash:0011:00:7:8::\n"
        "%staff:100\n"
        "%bad:x\n"
        "%:5\n"
        "%two:1:2\n";
    struct ncp_user u;
    CHECK(ncp_users_find(file, strlen(file), "guest", 5, &u));
    CHECK_EQ(u.salt_len, 2);
    CHECK_EQ(u.salt[1], 0x11);
    CHECK(!u.admin);
    CHECK_EQ(u.uid, 1000);
    CHECK_EQ(u.gid, 100);
    CHECK_EQ(u.ngroups, 0);
    CHECK(ncp_users_find(file, strlen(file), "admin", 5, &u));
    CHECK(u.admin);
    CHECK_EQ(u.salt_len, 4);
    CHECK_EQ(u.hash[31], 0xff);
    CHECK_EQ(u.uid, 0);
    CHECK_EQ(u.ngroups, 2);
    CHECK_EQ(u.groups[0], 100);
    CHECK_EQ(u.groups[1], 300);
    CHECK(ncp_users_find(file, strlen(file), "flags", 5, &u));
    CHECK(u.admin);
    CHECK_EQ(u.uid, 7);
    CHECK_EQ(u.gid, 8);
    CHECK_EQ(u.ngroups, 1);
    CHECK_EQ(u.groups[0], 9);
    CHECK(ncp_users_find(file, strlen(file), "notadmin", 8, &u));
    CHECK(!u.admin);
    /* Malformed lines are skipped, never half-read. */
    static const char *const skipped[] = { "broken", "old", "toobig", "neg", "hexid", "manyg", "badg",
                                           "extra", "shorthash" };
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        CHECK(!ncp_users_find(file, strlen(file), skipped[i], strlen(skipped[i]), &u));
    CHECK(!ncp_users_find(file, strlen(file), "gues", 4, &u));
    CHECK(!ncp_users_find(file, strlen(file), "nobody", 6, &u));
    CHECK(!ncp_users_find(file, strlen(file), "%staff", 6, &u));
    /* Group lines. */
    struct ncp_group g;
    const char *line;
    size_t pos = 0, n;
    int groups = 0, users = 0;
    while (ncp_users_next_line(file, strlen(file), &pos, &line, &n)) {
        int k = ncp_users_parse_line(line, n, &u, &g);
        if (k == NCP_LINE_GROUP) { groups++; CHECK(strcmp(g.name, "staff") == 0); CHECK_EQ(g.gid, 100); }
        if (k == NCP_LINE_USER)
            users++;
    }
    CHECK_EQ(groups, 1);
    CHECK_EQ(users, 4);

    /* Client and server derive the same proof; a wrong password does not. */
    uint8_t salt[4] = { 1, 2, 3, 4 }, nonce[16] = { 9 }, stored[32], p1[32], p2[32], wrong[32];
    ncp_auth_stored_hash(salt, 4, "secret", 6, stored);
    ncp_auth_proof(nonce, stored, p1);
    uint8_t again[32];
    ncp_auth_stored_hash(salt, 4, "secret", 6, again);
    ncp_auth_proof(nonce, again, p2);
    CHECK(ncp_auth_equal(p1, p2, 32));
    ncp_auth_stored_hash(salt, 4, "secreT", 6, again);
    ncp_auth_proof(nonce, again, wrong);
    CHECK(!ncp_auth_equal(p1, wrong, 32));
    uint8_t s1[16], s2[16], sec[32] = { 1 };
    ncp_auth_fake_salt(sec, "x", 1, s1);
    ncp_auth_fake_salt(sec, "x", 1, s2);
    CHECK(memcmp(s1, s2, 16) == 0);
}

int main(void)
{
    RUN(test_request_roundtrip_all);
    RUN(test_reply_roundtrip_all);
    RUN(test_error_and_busy_replies);
    RUN(test_read_reply_head_and_size);
    RUN(test_link_functions);
    RUN(test_reject_truncated);
    RUN(test_reject_bad_fields);
    RUN(test_reject_bad_counts);
    RUN(test_encode_respects_cap);
    RUN(test_path_helpers);
    RUN(test_reasm_chunks);
    RUN(test_reasm_rejects_huge);
    RUN(test_users_file_and_proof);
    DONE();
}
