/* test_proto_fuzz.c - seeded fuzz of the decoders and the reassembler.
 * Thousands of random and mutated frames; under ASan any out-of-bounds
 * access aborts the run.  NCP_FUZZ_SEED / NCP_FUZZ_ITERS override defaults. */
#include "proto/ncp_codec.h"
#include "proto/ncp_reasm.h"
#include "test_proto_check.h"

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static uint32_t rn(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }

static const uint8_t functions[] = {
    NCP_FN_NEGOTIATE, NCP_FN_CHALLENGE, NCP_FN_LOGIN, NCP_FN_LOGOUT, NCP_FN_PING, NCP_FN_OPEN,
    NCP_FN_CREATE, NCP_FN_READ, NCP_FN_WRITE, NCP_FN_CLOSE, NCP_FN_STAT, NCP_FN_FSTAT,
    NCP_FN_READDIR, NCP_FN_UNLINK, NCP_FN_RENAME, NCP_FN_MKDIR, NCP_FN_RMDIR, NCP_FN_TRUNCATE,
    NCP_FN_LOCK, NCP_FN_UNLOCK, NCP_FN_FSYNC, NCP_FN_STATFS, NCP_FN_STATS, NCP_FN_SHUTDOWN,
    NCP_FN_SETATTR, NCP_FN_NAMES,
};

static char strpool[8][300];
static uint8_t datapool[9000];

/* Random path or name over an alphabet rich in separators and dots. */
static struct ncp_str rstring(int slot)
{
    static const char alpha[] = "ab./.:/x.\0z";
    uint32_t len = rn(8) == 0 ? rn(300) : rn(24);
    for (uint32_t i = 0; i < len; i++)
        strpool[slot][i] = alpha[rn(sizeof alpha - 1)];
    struct ncp_str s = { strpool[slot], (uint16_t)len };
    return s;
}

/* A name a directory may hold: 1..24 letters. */
static struct ncp_str clean_name(int slot)
{
    uint32_t len = 1 + rn(24);
    for (uint32_t i = 0; i < len; i++)
        strpool[slot][i] = (char)('a' + rn(26));
    struct ncp_str s = { strpool[slot], (uint16_t)len };
    return s;
}

static uint64_t rval64(void)
{
    switch (rn(4)) {
    case 0: return 0;
    case 1: return ~0ull >> rn(64);
    case 2: return rn(100000);
    default: return rnd();
    }
}

static size_t random_request(uint8_t *buf, size_t cap)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = functions[rn(sizeof functions)];
    rq.h.conn = (uint16_t)rnd();
    rq.h.seq = (uint32_t)rnd();
    rq.h.tag = (uint32_t)rnd();
    switch (rq.h.function) {
    case NCP_FN_NEGOTIATE:
        rq.u.negotiate.version = (uint16_t)rn(3);
        rq.u.negotiate.max_frame = (uint32_t)rval64();
        break;
    case NCP_FN_CHALLENGE:
        rq.u.challenge.user = rstring(0);
        break;
    case NCP_FN_LOGIN:
        rq.u.login.user = rstring(0);
        rq.u.login.proof[0] = (uint8_t)rnd();
        break;
    case NCP_FN_PING:
        rq.u.ping.data.ptr = datapool;
        rq.u.ping.data.len = rn(NCP_PING_MAX + 10);
        break;
    case NCP_FN_OPEN: case NCP_FN_CREATE:
        rq.u.open.flags = rn(0x50);
        rq.u.open.mode = (uint16_t)rn(010000 + 10);
        rq.u.open.path = rstring(0);
        break;
    case NCP_FN_READ:
        rq.u.read.handle = rn(10);
        rq.u.read.offset = rval64();
        rq.u.read.count = (uint32_t)rval64();
        break;
    case NCP_FN_WRITE:
        rq.u.write.handle = rn(10);
        rq.u.write.offset = rval64();
        rq.u.write.data.ptr = datapool;
        rq.u.write.data.len = rn(sizeof datapool);
        break;
    case NCP_FN_CLOSE: case NCP_FN_FSTAT: case NCP_FN_FSYNC:
        rq.u.handle.handle = (uint32_t)rnd();
        break;
    case NCP_FN_STAT: case NCP_FN_UNLINK: case NCP_FN_RMDIR:
        rq.u.path.path = rstring(0);
        break;
    case NCP_FN_READDIR:
        rq.u.readdir.path = rstring(0);
        rq.u.readdir.cookie = rval64();
        rq.u.readdir.max_entries = (uint16_t)rnd();
        break;
    case NCP_FN_RENAME:
        rq.u.rename.from = rstring(0);
        rq.u.rename.to = rstring(1);
        break;
    case NCP_FN_MKDIR:
        rq.u.mkdir.mode = (uint16_t)rn(010000 + 10);
        rq.u.mkdir.path = rstring(0);
        break;
    case NCP_FN_TRUNCATE:
        rq.u.truncate.handle = rn(4);
        rq.u.truncate.size = rval64();
        break;
    case NCP_FN_LOCK: case NCP_FN_UNLOCK:
        rq.u.lock.handle = rn(4);
        rq.u.lock.offset = rval64();
        rq.u.lock.length = rval64();
        rq.u.lock.flags = rq.h.function == NCP_FN_LOCK ? (uint8_t)rn(6) : 0;
        break;
    case NCP_FN_STATS:
        rq.u.stats.first = (uint16_t)rn(100);
        break;
    case NCP_FN_SETATTR:
        rq.u.setattr.mask = rn(0x120);
        rq.u.setattr.handle = rn(3) ? NCP_HANDLE_NONE : rn(4);
        rq.u.setattr.path = rstring(0);
        rq.u.setattr.mode = (uint16_t)rn(010000 + 10);
        rq.u.setattr.uid = (uint32_t)rval64();
        rq.u.setattr.gid = (uint32_t)rval64();
        rq.u.setattr.size = rval64();
        rq.u.setattr.atime = (uint32_t)rnd();
        break;
    case NCP_FN_NAMES: {
        static struct ncp_name ids[NCP_NAMES_MAX + 2];
        rq.u.names.count = (uint16_t)rn(NCP_NAMES_MAX + 2);
        for (int i = 0; i < rq.u.names.count; i++) { ids[i].kind = (uint8_t)rn(3); ids[i].id = (uint32_t)rval64(); }
        rq.u.names.ids = ids;
        break;
    }
    default: break;
    }
    return ncp_encode_request(buf, cap, &rq);
}

static size_t random_reply(uint8_t *buf, size_t cap)
{
    struct ncp_reply rp;
    struct ncp_dirent ents[40];
    struct ncp_counter ctrs[20];
    static const char *const cnames[] = { "wtd.events", "net.rx", "cache.hits", "conn.open", "" };
    memset(&rp, 0, sizeof rp);
    rp.h.function = functions[rn(sizeof functions)];
    rp.h.seq = (uint32_t)rnd();
    rp.h.tag = (uint32_t)rnd();
    rp.h.completion = rn(4) == 0 ? (uint8_t)rn(NCP_E_COUNT + 2) : 0;
    rp.h.type = rn(10) == 0 ? NCP_TYPE_BUSY : NCP_TYPE_REPLY;
    switch (rp.h.function) {
    case NCP_FN_NEGOTIATE:
        rp.u.negotiate.max_frame = (uint32_t)rval64();
        break;
    case NCP_FN_CHALLENGE:
        rp.u.challenge.salt_len = (uint8_t)rn(40);
        break;
    case NCP_FN_PING:
        rp.u.ping.data.ptr = datapool;
        rp.u.ping.data.len = rn(NCP_PING_MAX + 10);
        break;
    case NCP_FN_OPEN: case NCP_FN_STAT: case NCP_FN_FSTAT: case NCP_FN_CREATE: case NCP_FN_SETATTR:
        rp.u.stat.st.type = (uint8_t)rn(6);
        rp.u.stat.st.size = rval64();
        break;
    case NCP_FN_READ:
        rp.u.read.data.ptr = datapool;
        rp.u.read.data.len = rn(sizeof datapool);
        break;
    case NCP_FN_READDIR: {
        rp.u.readdir.count = (uint16_t)rn(40);
        /* hostile names (with '/', NUL, ".") in one page of eight: a page with any of
         * those is refused whole, so with them everywhere no valid page was ever walked */
        bool hostile = rn(8) == 0;
        for (int i = 0; i < rp.u.readdir.count; i++) {
            struct ncp_str s = hostile ? rstring(2 + i % 6) : clean_name(2 + i % 6);
            ents[i].ino = (uint32_t)rnd();
            ents[i].type = (uint8_t)rn(6);
            ents[i].size = rval64();
            ents[i].uid = (uint32_t)rnd();
            ents[i].gid = (uint32_t)rnd();
            ents[i].name = s.ptr;
            ents[i].name_len = (uint8_t)(s.len > 255 ? 255 : s.len);
        }
        rp.u.readdir.entries = ents;
        rp.u.readdir.eof = (uint8_t)rn(2);
        break;
    }
    case NCP_FN_STATS:
        rp.u.stats.count = (uint16_t)rn(20);
        rp.u.stats.total = (uint16_t)(rp.u.stats.count + rn(3));
        for (int i = 0; i < rp.u.stats.count; i++) { ctrs[i].name = cnames[rn(5)]; ctrs[i].value = rnd(); }
        rp.u.stats.counters = ctrs;
        break;
    default: break;
    }
    return ncp_encode_reply(buf, cap, &rp);
}

static void mutate(uint8_t *f, size_t *len, size_t cap)
{
    int rounds = 1 + (int)rn(4);
    for (int k = 0; k < rounds; k++) {
        size_t n = *len;
        switch (rn(7)) {
        case 0:
            if (n)
                f[rn((uint32_t)n)] ^= (uint8_t)(1u << rn(8));
            break;
        case 1:
            if (n)
                f[rn((uint32_t)n)] = (uint8_t)rnd();
            break;
        case 2:
            *len = rn((uint32_t)n + 1);
            break; /* truncate */
        case 3: { size_t add = rn(64);                                  /* garbage tail */
                  if (n + add > cap)
                      add = cap - n;
                  for (size_t i = 0; i < add; i++)
                      f[n + i] = (uint8_t)rnd();
                  *len = n + add; break; }
        case 4:
            if (n >= 4)
                ncp_put32(f, (uint32_t)rval64());
            break; /* lie in the prefix */
        case 5:
            if (n >= 4)
                ncp_put32(f, (uint32_t)(n - 4));
            break; /* make the prefix agree */
        default: if (n > 22) { size_t at = 20 + rn((uint32_t)(n - 21));    /* boundary u16 */
                     ncp_put16(f + at, rn(2) ? 0xffff : (uint16_t)rn(300)); } break;
        }
    }
}

static uint8_t work[NCP_LEN_SIZE + 20000];
static long decoded_ok, reencoded_same;
/* what the replies reached: decoded whole, directory pages and counter lists walked
 * (non-empty), and which functions' replies decoded */
static long replies_ok, readdirs_walked, stats_walked;
static uint8_t reply_fn_seen[256];

/* Decodes a heap copy of exactly len bytes both ways and checks invariants. */
static int try_decode(const uint8_t *f, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, f, len);
    int bad = 0;
    struct ncp_request rq;
    if (ncp_decode_request(copy, len, &rq) == NCP_OK) {
        decoded_ok++;
        if (rq.h.function != NCP_FN_CREATE) {
            /* Decoding is exact: re-encoding gives back the same bytes. */
            static uint8_t again[sizeof work + 64];
            size_t n = ncp_encode_request(again, sizeof again, &rq);
            if (n != len || memcmp(again, copy, len) != 0)
                bad = 1;
            else
                reencoded_same++;
        }
    } else if (rq.why == NULL || rq.why[0] == '\0') {
        bad = 2;                                     /* every rejection says why */
    }
    struct ncp_reply rp;
    if (ncp_decode_reply(copy, len, &rp) == NCP_OK && rp.h.completion == 0 && rp.h.type == NCP_TYPE_REPLY) {
        size_t pos = 0;
        struct ncp_dirent d;
        char name[NCP_STAT_NAME_MAX + 1];
        uint64_t v;
        replies_ok++;
        reply_fn_seen[rp.h.function] = 1;
        if (rp.h.function == NCP_FN_READDIR) {
            uint16_t k = 0;
            while (ncp_dirent_next(&rp, &pos, &d))
                k++;
            if (k != rp.u.readdir.count)
                bad = 3;
            else if (k > 0)
                readdirs_walked++;
        }
        if (rp.h.function == NCP_FN_STATS) {
            uint16_t k = 0;
            while (ncp_counter_next(&rp, &pos, name, &v))
                k++;
            if (k != rp.u.stats.count)
                bad = 4;
            else if (k > 0)
                stats_walked++;
        }
    }
    free(copy);
    return bad;
}

static int iters(void)
{
    const char *s = getenv("NCP_FUZZ_ITERS");
    return s ? atoi(s) : 100000;
}

static void test_fuzz_requests(void)
{
    for (int i = 0; i < iters(); i++) {
        size_t len = random_request(work, sizeof work - 64);
        if (!len)
            continue;
        if (rn(8))
            mutate(work, &len, sizeof work);
        int bad = try_decode(work, len);
        CHECK_EQ(bad, 0);
        if (bad)
            break;
    }
    CHECK(decoded_ok > 1000);
    CHECK(reencoded_same > 1000);
}

/* Coverage floor: besides never misdecoding, the random replies must have reached the
 * decoder's success paths -- a generator or codec that rejected everything would otherwise
 * pass.  (One reply in eight is unmutated; a quarter of those carry an error code.) */
static void test_fuzz_replies(void)
{
    replies_ok = readdirs_walked = stats_walked = 0;
    memset(reply_fn_seen, 0, sizeof reply_fn_seen);
    for (int i = 0; i < iters(); i++) {
        size_t len = random_reply(work, sizeof work - 64);
        if (!len)
            continue;
        if (rn(8))
            mutate(work, &len, sizeof work);
        int bad = try_decode(work, len);
        CHECK_EQ(bad, 0);
        if (bad)
            break;
    }
    int fns = 0, unseen = -1;
    for (size_t i = 0; i < sizeof functions; i++) {
        if (reply_fn_seen[functions[i]])
            fns++;
        else
            unseen = functions[i];
    }
    long n = iters();
    printf("# replies: %ld decoded, %ld directory pages and %ld counter lists walked, %d of %zu functions\n",
           replies_ok, readdirs_walked, stats_walked, fns, sizeof functions);
    CHECK_MSG(replies_ok >= n / 50, "only %ld of %ld replies decoded", replies_ok, n);
    CHECK_MSG(readdirs_walked >= n / 4000, "only %ld directory pages walked", readdirs_walked);
    CHECK_MSG(stats_walked >= n / 2000, "only %ld counter lists walked", stats_walked);
    CHECK_MSG(n < 10000 || unseen < 0, "no reply to function 0x%02x decoded", unseen);
}

static void test_fuzz_random_bytes(void)
{
    for (int i = 0; i < iters(); i++) {
        size_t len = rn(200);
        for (size_t k = 0; k < len; k++)
            work[k] = (uint8_t)rnd();
        if (len >= 4 && rn(2))
            ncp_put32(work, (uint32_t)(len - 4));
        if (len >= 6 && rn(2))
            ncp_put16(work + 4, rn(2) ? NCP_TYPE_REQUEST : NCP_TYPE_REPLY);
        CHECK_EQ(try_decode(work, len), 0);
    }
}

static void test_fuzz_reassembler(void)
{
    static uint8_t stream[1 << 20];
    static uint8_t rb[NCP_LEN_SIZE + NCP_DEFAULT_MAX_FRAME];
    long frames = 0, errors = 0;
    for (int round = 0; round < iters() / 100 + 1; round++) {
        size_t slen = 0;
        while (slen < sizeof stream - sizeof work) {
            size_t len = rn(2) ? random_request(stream + slen, sizeof work - 64)
                               : random_reply(stream + slen, sizeof work - 64);
            if (rn(20) == 0)
                mutate(stream + slen, &len, sizeof work);
            slen += len;
            if (rn(30) == 0)
                break;
        }
        struct ncp_reasm ra;
        uint32_t max = rn(2) ? NCP_DEFAULT_MAX_FRAME : 1024 + rn(60000);
        CHECK(ncp_reasm_init(&ra, rb, sizeof rb, max));
        size_t off = 0;
        while (off < slen) {
            size_t chunk = 1 + rn(rn(2) ? 16 : 20000);
            if (chunk > slen - off)
                chunk = slen - off;
            size_t used = 0;
            for (;;) {
                const uint8_t *f;
                size_t fl;
                int r = ncp_reasm_frame(&ra, &f, &fl);
                if (r == NCP_REASM_FRAME) {
                    CHECK(fl >= NCP_LEN_SIZE + NCP_MIN_FRAME && fl <= NCP_LEN_SIZE + max);
                    CHECK_EQ(try_decode(f, fl), 0);
                    frames++;
                    ncp_reasm_consume(&ra);
                    continue;
                }
                if (r == NCP_REASM_ERROR) {                 /* resync by starting over */
                    errors++;
                    ncp_reasm_init(&ra, rb, sizeof rb, max);
                    used = chunk;
                    break;
                }
                if (used == chunk)
                    break;
                used += ncp_reasm_feed(&ra, stream + off + used, chunk - used);
            }
            off += chunk;
        }
    }
    CHECK(frames > 100);
    (void)errors;
}

int main(void)
{
    const char *s = getenv("NCP_FUZZ_SEED");
    rng_state = s ? strtoull(s, NULL, 0) : 0x5eed1234abcdull;
    if (!rng_state)
        rng_state = 1;
    RUN(test_fuzz_requests);
    RUN(test_fuzz_replies);
    RUN(test_fuzz_random_bytes);
    RUN(test_fuzz_reassembler);
    DONE();
}
