/* hdr_hist.c - log-linear latency histogram (see hdr_hist.h). */
#include "client/hdr_hist.h"

#include <string.h>

/* The position of the highest set bit of v (v > 0). */
static uint32_t top_bit(uint64_t v)
{
    uint32_t b = 0;
    while (v >>= 1)
        b++;
    return b;
}

uint32_t hdr_bucket_of(uint64_t ns)
{
    if (ns > HDR_MAX_VALUE)
        ns = HDR_MAX_VALUE;
    if (ns < HDR_LINEAR)
        return (uint32_t)ns;
    uint32_t k = top_bit(ns);                   /* 8 .. HDR_TOP_BITS - 1 */
    uint32_t shift = k - HDR_SUB_BITS;          /* bucket width 2^shift */
    uint32_t sub = (uint32_t)(ns >> shift) - (1u << HDR_SUB_BITS);   /* 0..127 */
    return HDR_LINEAR + (k - HDR_SUB_BITS - 1) * (1u << HDR_SUB_BITS) + sub;
}

uint64_t hdr_bucket_low(uint32_t b)
{
    if (b < HDR_LINEAR)
        return b;
    uint32_t octave = (b - HDR_LINEAR) >> HDR_SUB_BITS;          /* 0 for [256, 512) */
    uint32_t sub = (b - HDR_LINEAR) & ((1u << HDR_SUB_BITS) - 1);
    uint32_t shift = octave + 1;
    return ((uint64_t)(1u << HDR_SUB_BITS) + sub) << shift;
}

uint64_t hdr_bucket_high(uint32_t b)
{
    if (b < HDR_LINEAR)
        return b;
    uint32_t shift = ((b - HDR_LINEAR) >> HDR_SUB_BITS) + 1;
    return hdr_bucket_low(b) + (1ull << shift) - 1;
}

void hdr_init(struct hdr_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hdr_record(struct hdr_hist *h, uint64_t ns)
{
    if (ns > HDR_MAX_VALUE)
        h->clamped++;
    h->counts[hdr_bucket_of(ns)]++;
    h->total++;
    h->sum += (double)ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

void hdr_merge(struct hdr_hist *dst, const struct hdr_hist *src)
{
    for (uint32_t b = 0; b < HDR_BUCKETS; b++)
        dst->counts[b] += src->counts[b];
    dst->total += src->total;
    dst->clamped += src->clamped;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hdr_quantile(const struct hdr_hist *h, double q)
{
    if (!h->total)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    /* rank: how many values must be at or below the answer (at least 1) */
    double want = q * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < HDR_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t v = hdr_bucket_high(b);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double hdr_mean(const struct hdr_hist *h)
{
    return h->total ? h->sum / (double)h->total : 0;
}
