/* ncp_reasm.c - stream to frame reassembly with length limits. */
#include "ncp_reasm.h"
#include "ncp_mem.h"

bool ncp_reasm_init(struct ncp_reasm *ra, uint8_t *buf, size_t cap, uint32_t max_frame)
{
    ra->buf = buf;
    ra->cap = cap;
    ra->have = 0;
    ra->failed = false;
    ra->max_frame = 0;
    return ncp_reasm_set_max(ra, max_frame);
}

bool ncp_reasm_set_max(struct ncp_reasm *ra, uint32_t max_frame)
{
    if (max_frame < NCP_MIN_FRAME || max_frame > NCP_MAX_FRAME_LIMIT ||
        ra->cap < (size_t)NCP_LEN_SIZE + max_frame)
        return false;
    ra->max_frame = max_frame;
    return true;
}

/* Bytes the current frame still needs; sets failed on a bad prefix. */
static size_t wanted(struct ncp_reasm *ra)
{
    if (ra->have < NCP_LEN_SIZE) return NCP_LEN_SIZE - ra->have;
    uint32_t flen = ncp_get32(ra->buf);
    if (flen < NCP_MIN_FRAME || flen > ra->max_frame) {
        ra->failed = true;
        return 0;
    }
    return NCP_LEN_SIZE + (size_t)flen - ra->have;
}

size_t ncp_reasm_feed(struct ncp_reasm *ra, const uint8_t *data, size_t len)
{
    size_t used = 0;
    while (used < len && !ra->failed) {
        size_t want = wanted(ra);
        if (want == 0) break;                 /* frame complete or failed */
        size_t n = len - used < want ? len - used : want;
        memcpy(ra->buf + ra->have, data + used, n);
        ra->have += n;
        used += n;
    }
    if (!ra->failed) (void)wanted(ra);        /* validate a just-completed prefix */
    return used;
}

int ncp_reasm_frame(const struct ncp_reasm *ra, const uint8_t **frame, size_t *len)
{
    if (ra->failed) return NCP_REASM_ERROR;
    if (ra->have < NCP_LEN_SIZE) return NCP_REASM_MORE;
    size_t total = NCP_LEN_SIZE + (size_t)ncp_get32(ra->buf);
    if (ra->have < total) return NCP_REASM_MORE;
    *frame = ra->buf;
    *len = total;
    return NCP_REASM_FRAME;
}

void ncp_reasm_consume(struct ncp_reasm *ra)
{
    if (!ra->failed) ra->have = 0;
}
