/* fuzz_reasm.c - libFuzzer harness for the frame reassembler (proto/ncp_reasm).
 *
 * Input: u16 max_frame seed, u8 k, k chunk sizes, then the byte stream.  The stream is fed in
 * chunks whose sizes cycle through the k sizes (0 means "the rest of the stream"), the way TCP
 * segments arrive.  A chunk size's top bit also asks for the limit to be changed to the next
 * table entry between two frames (ncp_reasm_set_max), as NEGOTIATE does.
 *
 * Checked against a reference walk of the same stream (a frame = u32 length prefix + that many
 * bytes; a length below NCP_MIN_FRAME or above the limit ends the stream as an error):
 *  - every frame handed out is the next frame of the stream, byte for byte, within limits;
 *  - bytes consumed = bytes of the frames handed out + the partial frame held, and never more
 *    than the stream; after an error nothing more is consumed and the error is sticky;
 *  - a frame is handed out as soon as its last byte arrived (no byte is held back);
 *  - feeding always makes progress unless a frame is waiting or the stream failed;
 *  - ncp_reasm_wanted is what finishes the frame being held.
 * The k byte's top bit picks the growing mode (the servers' one): the buffer comes from an
 * allocator with a budget (a u16 after the chunk table, in 4-byte units; 0 = none) and must
 * stay within about twice what arrived; past the budget the stream fails with NOMEM, sticky;
 * every other frame is handed over with ncp_reasm_take; nothing is left allocated. */
#include "proto/ncp_reasm.h"
#include "fuzz_check.h"

#include <string.h>

#define CHUNKS_MAX 64

/* The growing mode's allocator: counts what is live, refuses past a budget. */
struct budget { size_t live, limit; bool refused; };

static void *budget_alloc(void *arg, void *p, size_t old_size, size_t *new_size)
{
    struct budget *b = arg;
    if (*new_size == 0) {
        free(p);
        b->live -= old_size;
        return NULL;
    }
    if (b->limit && b->live - old_size + *new_size > b->limit) {
        b->refused = true;
        return NULL;
    }
    void *q = realloc(p, *new_size);
    FUZZ_CHECK(q != NULL);
    b->live = b->live - old_size + *new_size;
    return q;
}

/* Limit for the seed s: small ones mostly (so prefixes hit the limit), now and then up to
 * the default 64 KiB (larger ones change nothing in the logic and make every input slow). */
static uint32_t limit_for(uint16_t s)
{
    if (s & 0x8000)
        return NCP_MIN_FRAME + (uint32_t)(s & 0x7fff) * 2u;
    return NCP_MIN_FRAME + (s & 0x7fff) % 2048u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size, 0 };
    uint32_t max_frame = limit_for(fin_u16(&in));
    uint8_t kb = fin_u8(&in);
    bool growing = kb & 0x80;
    uint8_t k = (kb & 0x7f) % (CHUNKS_MAX + 1);
    uint16_t chunk[CHUNKS_MAX];
    for (uint8_t i = 0; i < k; i++)
        chunk[i] = fin_u16(&in);
    struct budget bud = { 0, growing ? (size_t)fin_u16(&in) * 4u : 0, false };
    size_t biggest_total = 0;   /* growing: a consumed frame's buffer is kept for the next */
    unsigned frames = 0;
    size_t slen;
    const uint8_t *stream = fin_bytes(&in, size, &slen);

    /* The buffer is sized for the largest limit the input can ask for, then exactly. */
    uint32_t biggest = max_frame;
    for (uint8_t i = 0; i < k; i++)
        if ((chunk[i] & 0x8000) && limit_for(chunk[i]) > biggest)
            biggest = limit_for(chunk[i]);
    size_t cap = NCP_LEN_SIZE + (size_t)biggest;
    uint8_t *buf = growing ? NULL : malloc(cap);
    struct ncp_reasm ra;
    if (growing) {
        FUZZ_CHECK(ncp_reasm_init_growing(&ra, max_frame, budget_alloc, &bud));
        cap = NCP_LEN_SIZE + (size_t)NCP_MAX_FRAME_LIMIT;      /* no buffer limit but the frame's */
    } else {
        FUZZ_CHECK(ncp_reasm_init(&ra, buf, cap, max_frame));
        FUZZ_CHECK(!ncp_reasm_set_max(&ra, biggest + 1) || cap >= NCP_LEN_SIZE + (size_t)biggest + 1);
        FUZZ_CHECK(ncp_reasm_set_max(&ra, max_frame));
    }
    bool nomem = false;

    size_t fed = 0;             /* stream bytes the reassembler consumed */
    size_t ref = 0;             /* reference: start of the next frame in the stream */
    bool ref_failed = false;
    unsigned ci = 0;
    while (fed < slen) {
        size_t want = slen - fed;
        uint16_t c = k ? chunk[ci++ % k] : 0;
        size_t n = c & 0x7fff;
        if (n && n < want)
            want = n;
        size_t got = 0;
        while (got < want) {
            size_t used = ncp_reasm_feed(&ra, stream + fed + got, want - got);
            FUZZ_CHECK(used <= want - got);
            got += used;
            const uint8_t *frame;
            size_t flen;
            int r = ncp_reasm_frame(&ra, &frame, &flen);
            if (r == NCP_REASM_ERROR) {
                /* The reference agrees: the prefix at `ref` is out of range, and complete. */
                FUZZ_CHECK(slen - ref >= NCP_LEN_SIZE);
                uint32_t plen = ncp_get32(stream + ref);
                FUZZ_CHECK(plen < NCP_MIN_FRAME || plen > ra.max_frame);
                FUZZ_CHECK(fed + got == ref + NCP_LEN_SIZE);
                FUZZ_CHECK(ncp_reasm_feed(&ra, stream, slen) == 0);
                ref_failed = true;
                break;
            }
            if (r == NCP_REASM_NOMEM) {
                /* Only past the budget; sticky; nothing more consumed. */
                FUZZ_CHECK(growing && bud.refused);
                FUZZ_CHECK(ncp_reasm_feed(&ra, stream, slen) == 0);
                FUZZ_CHECK(ncp_reasm_frame(&ra, &frame, &flen) == NCP_REASM_NOMEM);
                nomem = true;
                break;
            }
            if (r == NCP_REASM_FRAME) {
                FUZZ_CHECK(flen >= NCP_LEN_SIZE + NCP_MIN_FRAME);
                FUZZ_CHECK(flen <= NCP_LEN_SIZE + (size_t)ra.max_frame && flen <= cap);
                FUZZ_CHECK(ncp_get32(frame) == flen - NCP_LEN_SIZE);
                FUZZ_CHECK(ref + flen == fed + got);            /* handed out at its last byte */
                FUZZ_CHECK(memcmp(frame, stream + ref, flen) == 0);
                FUZZ_CHECK(ncp_reasm_feed(&ra, stream, 1) == 0);  /* holds one frame only */
                FUZZ_CHECK(ncp_reasm_wanted(&ra) == 0);
                ref += flen;
                if (growing && (frames++ & 1)) {
                    size_t tl, tc;
                    uint8_t *t = ncp_reasm_take(&ra, &tl, &tc);
                    FUZZ_CHECK(t && tl == flen && tc >= tl);
                    FUZZ_CHECK(memcmp(t, stream + ref - flen, flen) == 0);
                    budget_alloc(&bud, t, tc, &(size_t){ 0 });
                    FUZZ_CHECK(ra.buf == NULL && ra.cap == 0);
                } else {
                    if (flen > biggest_total)
                        biggest_total = flen;
                    ncp_reasm_consume(&ra);
                }
                if (c & 0x8000) {
                    uint32_t lim = limit_for(c);
                    FUZZ_CHECK(ncp_reasm_set_max(&ra, lim) == (growing || NCP_LEN_SIZE + (size_t)lim <= cap));
                }
                continue;
            }
            FUZZ_CHECK(r == NCP_REASM_MORE);
            FUZZ_CHECK(used > 0 || got == want);                 /* progress */
            /* What it holds is the start of the next frame, short of its end. */
            size_t held = fed + got - ref;
            FUZZ_CHECK(held < NCP_LEN_SIZE || held < NCP_LEN_SIZE + (size_t)ncp_get32(stream + ref));
            size_t need = held < NCP_LEN_SIZE ? NCP_LEN_SIZE - held
                                              : NCP_LEN_SIZE + (size_t)ncp_get32(stream + ref) - held;
            FUZZ_CHECK(ncp_reasm_wanted(&ra) == need);
            /* growing: the buffer is about what arrived, never what was only announced */
            if (growing && ra.buf) {
                size_t bound = 2 * held > NCP_REASM_MIN_BUF ? 2 * held : NCP_REASM_MIN_BUF;
                FUZZ_CHECK(ra.cap <= bound || ra.cap <= biggest_total);
            }
        }
        fed += got;
        if (ref_failed || nomem)
            break;
    }
    FUZZ_CHECK(fed <= slen);
    if (!ref_failed && !nomem) {
        FUZZ_CHECK(fed == slen);
        /* The bytes after the last frame are a partial frame, not yet judged complete. */
        const uint8_t *frame;
        size_t flen;
        int r = ncp_reasm_frame(&ra, &frame, &flen);
        if (slen - ref < NCP_LEN_SIZE) {
            FUZZ_CHECK(r == NCP_REASM_MORE);
        } else {
            uint32_t plen = ncp_get32(stream + ref);
            FUZZ_CHECK(plen >= NCP_MIN_FRAME && plen <= ra.max_frame);
            FUZZ_CHECK(r == NCP_REASM_MORE && slen - ref < NCP_LEN_SIZE + (size_t)plen);
        }
    }
    if (growing) {
        ncp_reasm_release(&ra);
        FUZZ_CHECK(bud.live == 0);
    }
    free(buf);
    return 0;
}
