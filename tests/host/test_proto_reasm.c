/* test_proto_reasm.c - the frame reassembler's growing buffer: it grows with the bytes
 * that arrived (never with what a prefix announces), stays within the limit in force
 * when the prefix ended, honours an allocator that refuses (a memory budget), and
 * reassembles split and glued frames; ncp_reasm_take leaves no buffer behind. */
#include "proto/ncp_codec.h"
#include "proto/ncp_reasm.h"
#include "tests/host/test_harness.h"

/* An allocator that counts what is live and refuses past a budget. */
struct budget {
    size_t live, peak, limit;
    unsigned calls, refusals;
};

static void *budget_alloc(void *arg, void *p, size_t old_size, size_t *new_sizep)
{
    size_t new_size = *new_sizep;
    struct budget *b = arg;
    b->calls++;
    if (new_size == 0) {
        free(p);
        b->live -= old_size;
        return NULL;
    }
    if (b->limit && b->live - old_size + new_size > b->limit) {
        b->refusals++;
        return NULL;
    }
    void *q = realloc(p, new_size);
    if (!q)
        return NULL;
    b->live = b->live - old_size + new_size;
    if (b->live > b->peak)
        b->peak = b->live;
    return q;
}

static void budget_free(struct budget *b, void *p, size_t size)
{
    size_t zero = 0;
    budget_alloc(b, p, size, &zero);
}

/* A PING request frame of `total` bytes (prefix included) with a recognisable payload. */
static size_t make_frame(uint8_t *out, size_t total, uint32_t tag)
{
    ncp_put32(out, (uint32_t)(total - NCP_LEN_SIZE));
    memset(out + NCP_LEN_SIZE, 0, NCP_HDR_SIZE);
    ncp_put16(out + NCP_LEN_SIZE, NCP_TYPE_REQUEST);
    ncp_put32(out + NCP_LEN_SIZE + 8, tag);
    for (size_t i = NCP_LEN_SIZE + NCP_HDR_SIZE; i < total; i++)
        out[i] = (uint8_t)(i * 7 + tag);
    return total;
}

static void test_prefix_alone_allocates_nothing(void)
{
    struct budget b = { 0 };
    struct ncp_reasm ra;
    CHECK(ncp_reasm_init_growing(&ra, NCP_MAX_FRAME_LIMIT, budget_alloc, &b));
    uint8_t hdr[NCP_LEN_SIZE];
    ncp_put32(hdr, NCP_MAX_FRAME_LIMIT);             /* announces 1 MiB */
    CHECK_EQ(ncp_reasm_feed(&ra, hdr, sizeof hdr), 4);
    const uint8_t *f;
    size_t fl;
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_MORE);
    CHECK_EQ(b.calls, 0);
    CHECK_EQ(b.live, 0);
    uint8_t body[100] = { 1 };
    CHECK_EQ(ncp_reasm_feed(&ra, body, sizeof body), sizeof body);
    CHECK_EQ(b.live, NCP_REASM_MIN_BUF);             /* 104 bytes arrived: one small buffer */
    ncp_reasm_release(&ra);
    CHECK_EQ(b.live, 0);
}

static void test_buffer_grows_with_bytes_arrived(void)
{
    static uint8_t frame[NCP_LEN_SIZE + 300000];
    size_t total = make_frame(frame, sizeof frame, 9);
    struct budget b = { 0 };
    struct ncp_reasm ra;
    CHECK(ncp_reasm_init_growing(&ra, NCP_MAX_FRAME_LIMIT, budget_alloc, &b));
    size_t fed = 0;
    while (fed < total) {
        size_t n = total - fed < 1460 ? total - fed : 1460;   /* TCP-segment sized pieces */
        CHECK_EQ(ncp_reasm_feed(&ra, frame + fed, n), n);
        fed += n;
        /* never more than twice what arrived (or the smallest buffer), never past the frame */
        CHECK(ra.cap <= (fed * 2 > NCP_REASM_MIN_BUF ? fed * 2 : NCP_REASM_MIN_BUF));
        CHECK(ra.cap <= total);
        CHECK(ra.cap >= fed);
    }
    CHECK(b.calls < 20);                              /* geometric: a handful of reallocs */
    const uint8_t *f;
    size_t fl;
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_FRAME);
    CHECK_EQ(fl, total);
    CHECK(memcmp(f, frame, total) == 0);
    size_t len, cap;
    uint8_t *mine = ncp_reasm_take(&ra, &len, &cap);
    CHECK(mine != NULL);
    CHECK_EQ(len, total);
    CHECK_EQ(cap, total);
    CHECK(ra.buf == NULL && ra.cap == 0 && ra.have == 0);   /* idle again: no buffer */
    CHECK(mine && memcmp(mine, frame, total) == 0);
    budget_free(&b, mine, cap);
    CHECK_EQ(b.live, 0);
    CHECK(ncp_reasm_take(&ra, &len, &cap) == NULL);   /* nothing whole any more */
}

static void test_limit_and_refusing_allocator(void)
{
    struct budget b = { .limit = 8192 };
    struct ncp_reasm ra;
    uint8_t hdr[NCP_LEN_SIZE];
    const uint8_t *f;
    size_t fl;
    CHECK(!ncp_reasm_init_growing(&ra, NCP_MAX_FRAME_LIMIT + 1, budget_alloc, &b));
    CHECK(!ncp_reasm_init_growing(&ra, NCP_PRELOGIN_MAX_FRAME, NULL, &b));
    CHECK(ncp_reasm_init_growing(&ra, NCP_PRELOGIN_MAX_FRAME, budget_alloc, &b));
    ncp_put32(hdr, NCP_PRELOGIN_MAX_FRAME + 1);      /* past the limit: sticky error, no memory */
    CHECK_EQ(ncp_reasm_feed(&ra, hdr, 4), 4);
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_ERROR);
    CHECK_EQ(ncp_reasm_feed(&ra, hdr, 4), 0);
    CHECK_EQ(b.calls, 0);
    CHECK(ncp_reasm_init_growing(&ra, NCP_PRELOGIN_MAX_FRAME, budget_alloc, &b));
    ncp_put32(hdr, NCP_MIN_FRAME - 1);               /* below the header */
    ncp_reasm_feed(&ra, hdr, 4);
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_ERROR);

    /* a 64 KiB frame against an 8 KiB budget: refused once it outgrows it, sticky */
    static uint8_t frame[NCP_LEN_SIZE + 65536];
    size_t total = make_frame(frame, sizeof frame, 1);
    CHECK(ncp_reasm_init_growing(&ra, NCP_DEFAULT_MAX_FRAME, budget_alloc, &b));
    size_t used = ncp_reasm_feed(&ra, frame, total);
    CHECK(used < total);
    CHECK(used <= 8192);
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_NOMEM);
    CHECK_EQ(ncp_reasm_feed(&ra, frame + used, total - used), 0);
    CHECK(b.refusals >= 1);
    CHECK(b.live <= 8192);
    ncp_reasm_release(&ra);
    CHECK_EQ(b.live, 0);
}

/* Three frames of different sizes glued in one stream, fed in every chunk size from 1 up:
 * each comes out whole and in order, whether the caller consumes or takes the buffer. */
static void test_split_and_glued_frames_growing(void)
{
    static uint8_t stream[3 * 2100];
    size_t sizes[3] = { 20, 2000, 37 }, slen = 0;
    for (int i = 0; i < 3; i++)
        slen += make_frame(stream + slen, sizes[i], (uint32_t)i);
    for (size_t chunk = 1; chunk <= slen; chunk += chunk < 64 ? 1 : 97) {
        for (int take = 0; take < 2; take++) {
            struct budget b = { 0 };
            struct ncp_reasm ra;
            CHECK(ncp_reasm_init_growing(&ra, NCP_PRELOGIN_MAX_FRAME, budget_alloc, &b));
            int got = 0;
            size_t at = 0;
            for (size_t off = 0; off < slen; off += chunk) {
                size_t len = slen - off < chunk ? slen - off : chunk, used = 0;
                for (;;) {
                    const uint8_t *f;
                    size_t fl;
                    int r = ncp_reasm_frame(&ra, &f, &fl);
                    if (r == NCP_REASM_FRAME) {
                        CHECK(got < 3);
                        if (got >= 3)
                            break;
                        CHECK_EQ(fl, sizes[got]);
                        CHECK(memcmp(f, stream + at, fl) == 0);
                        at += fl;
                        got++;
                        if (take) {
                            size_t l, cap;
                            uint8_t *mine = ncp_reasm_take(&ra, &l, &cap);
                            CHECK(mine == f);
                            budget_free(&b, mine, cap);
                        } else {
                            ncp_reasm_consume(&ra);
                        }
                        continue;
                    }
                    CHECK_EQ(r, NCP_REASM_MORE);
                    if (r != NCP_REASM_MORE || used == len)
                        break;
                    used += ncp_reasm_feed(&ra, stream + off + used, len - used);
                }
            }
            CHECK_EQ(got, 3);
            if (take)
                CHECK_EQ(b.live, 0);                  /* between frames: nothing held */
            ncp_reasm_release(&ra);
            CHECK_EQ(b.live, 0);
        }
    }
}

/* The limit judges each prefix when it ends: raised between frames it admits a bigger
 * one, lowered it refuses the next big one, and a frame already accepted finishes. */
static void test_max_frame_changes_between_frames(void)
{
    static uint8_t big[NCP_LEN_SIZE + 10000], small[64];
    size_t bl = make_frame(big, sizeof big, 5), sl = make_frame(small, sizeof small, 6);
    struct budget b = { 0 };
    struct ncp_reasm ra;
    const uint8_t *f;
    size_t fl;
    CHECK(ncp_reasm_init_growing(&ra, NCP_PRELOGIN_MAX_FRAME, budget_alloc, &b));
    CHECK_EQ(ncp_reasm_feed(&ra, small, sl), sl);
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_FRAME);
    ncp_reasm_consume(&ra);
    CHECK(ncp_reasm_set_max(&ra, NCP_DEFAULT_MAX_FRAME));    /* logged in */
    CHECK_EQ(ncp_reasm_feed(&ra, big, 100), 100);            /* prefix accepted at 64 KiB */
    CHECK(ncp_reasm_set_max(&ra, NCP_PRELOGIN_MAX_FRAME));   /* lowered mid-frame */
    CHECK_EQ(ncp_reasm_feed(&ra, big + 100, bl - 100), bl - 100);
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_FRAME);
    CHECK_EQ(fl, bl);
    ncp_reasm_consume(&ra);
    CHECK_EQ(ncp_reasm_feed(&ra, big, 2), 2);                /* half a prefix... */
    CHECK(ncp_reasm_set_max(&ra, NCP_PRELOGIN_MAX_FRAME));
    CHECK_EQ(ncp_reasm_feed(&ra, big + 2, 10), 2);           /* ...judged by the new limit */
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_ERROR);
    CHECK(!ncp_reasm_set_max(&ra, NCP_MIN_FRAME - 1));
    CHECK(!ncp_reasm_set_max(&ra, NCP_MAX_FRAME_LIMIT + 1));
    ncp_reasm_release(&ra);
    CHECK_EQ(b.live, 0);
    /* a fixed buffer refuses a limit it cannot hold */
    static uint8_t fixed[NCP_LEN_SIZE + 4096];
    CHECK(ncp_reasm_init(&ra, fixed, sizeof fixed, 4096));
    CHECK(!ncp_reasm_set_max(&ra, 4097));
    CHECK_EQ(ra.max_frame, 4096);
}

/* ncp_reasm_wanted says how much finishes the current frame: a server reading no more
 * than that holds at most one frame of a client's stream. */
static void test_wanted_ends_at_the_frame(void)
{
    struct budget b = { 0 };
    struct ncp_reasm ra;
    CHECK(ncp_reasm_init_growing(&ra, NCP_PRELOGIN_MAX_FRAME, budget_alloc, &b));
    uint8_t two[2 * 200];
    make_frame(two, 200, 1);
    make_frame(two + 200, 200, 2);
    CHECK_EQ(ncp_reasm_wanted(&ra), NCP_LEN_SIZE);
    CHECK_EQ(ncp_reasm_feed(&ra, two, 2), 2);
    CHECK_EQ(ncp_reasm_wanted(&ra), NCP_LEN_SIZE - 2);
    CHECK_EQ(ncp_reasm_feed(&ra, two + 2, 2), 2);
    CHECK_EQ(ncp_reasm_wanted(&ra), 200 - NCP_LEN_SIZE);
    CHECK_EQ(ncp_reasm_feed(&ra, two + 4, 96), 96);
    CHECK_EQ(ncp_reasm_wanted(&ra), 100);
    size_t w = ncp_reasm_wanted(&ra);
    CHECK_EQ(ncp_reasm_feed(&ra, two + 100, w), w);
    CHECK_EQ(ncp_reasm_wanted(&ra), 0);              /* a whole frame waits */
    const uint8_t *f;
    size_t fl;
    CHECK_EQ(ncp_reasm_frame(&ra, &f, &fl), NCP_REASM_FRAME);
    CHECK_EQ(fl, 200);
    CHECK(memcmp(f, two, 200) == 0);
    ncp_reasm_consume(&ra);
    CHECK_EQ(ncp_reasm_wanted(&ra), NCP_LEN_SIZE);   /* the next frame starts with its prefix */
    uint8_t bad[NCP_LEN_SIZE];
    ncp_put32(bad, NCP_PRELOGIN_MAX_FRAME + 1);
    CHECK_EQ(ncp_reasm_feed(&ra, bad, sizeof bad), sizeof bad);
    CHECK_EQ(ncp_reasm_wanted(&ra), 0);              /* failed: nothing more is wanted */
    ncp_reasm_release(&ra);
    CHECK_EQ(b.live, 0);
}

int main(void)
{
    RUN(test_prefix_alone_allocates_nothing);
    RUN(test_buffer_grows_with_bytes_arrived);
    RUN(test_limit_and_refusing_allocator);
    RUN(test_split_and_glued_frames_growing);
    RUN(test_max_frame_changes_between_frames);
    RUN(test_wanted_ends_at_the_frame);
    DONE();
}
