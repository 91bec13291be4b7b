/* ncp_reasm.c - stream to frame reassembly with length limits and a buffer that
 * grows with the bytes that arrived. */
#include "ncp_reasm.h"
#include "ncp_mem.h"

bool ncp_reasm_init(struct ncp_reasm *ra, uint8_t *buf, size_t cap, uint32_t max_frame)
{
    memset(ra, 0, sizeof *ra);
    ra->buf = buf;
    ra->cap = cap;
    return ncp_reasm_set_max(ra, max_frame);
}

bool ncp_reasm_init_growing(struct ncp_reasm *ra, uint32_t max_frame, ncp_reasm_alloc_fn alloc, void *arg)
{
    memset(ra, 0, sizeof *ra);
    ra->alloc = alloc;
    ra->alloc_arg = arg;
    return alloc != NULL && ncp_reasm_set_max(ra, max_frame);
}

bool ncp_reasm_set_max(struct ncp_reasm *ra, uint32_t max_frame)
{
    if (max_frame < NCP_MIN_FRAME || max_frame > NCP_MAX_FRAME_LIMIT)
        return false;
    if (!ra->alloc && ra->cap < (size_t)NCP_LEN_SIZE + max_frame)
        return false;
    ra->max_frame = max_frame;
    return true;
}

/* The whole current frame's size; only once the prefix is in. */
static size_t frame_total(const struct ncp_reasm *ra)
{
    return NCP_LEN_SIZE + (size_t)ncp_get32(ra->prefix);
}

/* Makes room for `need` bytes of a frame of `total`; false if alloc refused. */
static bool grow(struct ncp_reasm *ra, size_t need, size_t total)
{
    if (need <= ra->cap)
        return true;
    if (!ra->alloc)
        return false;                          /* a fixed buffer always holds max_frame */
    size_t want = ra->cap * 2;
    if (want < need)
        want = need;
    if (want < NCP_REASM_MIN_BUF)
        want = NCP_REASM_MIN_BUF;
    if (want > total)
        want = total;
    uint8_t *b = ra->alloc(ra->alloc_arg, ra->buf, ra->cap, &want);
    if (!b)
        return false;
    if (want < need)                           /* an allocator may only round up */
        return false;
    if (!ra->buf)
        memcpy(b, ra->prefix, NCP_LEN_SIZE);   /* a kept buffer got it when the prefix ended */
    ra->buf = b;
    ra->cap = want;
    return true;
}

/* The prefix just ended: judge it against the limit in force now. */
static void prefix_done(struct ncp_reasm *ra)
{
    uint32_t flen = ncp_get32(ra->prefix);
    if (flen < NCP_MIN_FRAME || flen > ra->max_frame) {
        ra->error = NCP_REASM_ERROR;
        return;
    }
    if (ra->buf)
        memcpy(ra->buf, ra->prefix, NCP_LEN_SIZE);
}

size_t ncp_reasm_wanted(const struct ncp_reasm *ra)
{
    if (ra->error)
        return 0;
    if (ra->have < NCP_LEN_SIZE)
        return NCP_LEN_SIZE - ra->have;
    return frame_total(ra) - ra->have;
}

size_t ncp_reasm_feed(struct ncp_reasm *ra, const uint8_t *data, size_t len)
{
    size_t used = 0;
    while (used < len && !ra->error) {
        if (ra->have < NCP_LEN_SIZE) {
            size_t n = NCP_LEN_SIZE - ra->have;
            if (n > len - used)
                n = len - used;
            memcpy(ra->prefix + ra->have, data + used, n);
            ra->have += n;
            used += n;
            if (ra->have == NCP_LEN_SIZE)
                prefix_done(ra);
            continue;
        }
        size_t total = frame_total(ra);
        if (ra->have == total)
            break;                             /* a whole frame waits for the caller */
        size_t n = total - ra->have;
        if (n > len - used)
            n = len - used;
        if (!grow(ra, ra->have + n, total)) {
            ra->error = NCP_REASM_NOMEM;
            break;
        }
        memcpy(ra->buf + ra->have, data + used, n);
        ra->have += n;
        used += n;
    }
    return used;
}

int ncp_reasm_frame(const struct ncp_reasm *ra, const uint8_t **frame, size_t *len)
{
    if (ra->error)
        return ra->error;
    if (ra->have < NCP_LEN_SIZE)
        return NCP_REASM_MORE;
    size_t total = frame_total(ra);
    if (ra->have < total || !ra->buf)
        return NCP_REASM_MORE;
    *frame = ra->buf;
    *len = total;
    return NCP_REASM_FRAME;
}

void ncp_reasm_consume(struct ncp_reasm *ra)
{
    if (!ra->error)
        ra->have = 0;
}

uint8_t *ncp_reasm_take(struct ncp_reasm *ra, size_t *len, size_t *cap)
{
    const uint8_t *f;
    if (!ra->alloc || ncp_reasm_frame(ra, &f, len) != NCP_REASM_FRAME)
        return NULL;
    uint8_t *b = ra->buf;
    *cap = ra->cap;
    ra->buf = NULL;
    ra->cap = 0;
    ra->have = 0;
    return b;
}

void ncp_reasm_release(struct ncp_reasm *ra)
{
    if (!ra->alloc)
        return;
    size_t zero = 0;
    if (ra->buf)
        ra->alloc(ra->alloc_arg, ra->buf, ra->cap, &zero);
    ra->buf = NULL;
    ra->cap = 0;
    ra->have = 0;
}
