/* hdr_hist.h - a latency histogram in the style of HdrHistogram: log-linear buckets.
 *
 * Values are nanoseconds.  Below 256 ns every value has a bucket of its own; above, each
 * power of two [2^k, 2^(k+1)) is split into 128 equal buckets, so a bucket is at most
 * 1/128 (0.78 %) of its values wide: any quantile is reported within 0.78 % above the
 * true sample.  The top octave ends at 2^36 ns (68.7 s); larger values count in the top
 * bucket (and in `clamped`).  The exact minimum, maximum and sum are kept beside it.
 * Fixed size (30 KiB), no allocation: plain C11, no platform calls.
 */
#ifndef HDR_HIST_H
#define HDR_HIST_H

#include <stdint.h>

#define HDR_SUB_BITS   7                        /* 128 buckets per octave */
#define HDR_LINEAR     (2u << HDR_SUB_BITS)     /* 0..255 ns: one bucket each */
#define HDR_TOP_BITS   36                       /* values below 2^36 ns are exact to a bucket */
#define HDR_BUCKETS    (HDR_LINEAR + (HDR_TOP_BITS - HDR_SUB_BITS - 1) * (1u << HDR_SUB_BITS))
#define HDR_MAX_VALUE  ((1ull << HDR_TOP_BITS) - 1)

struct hdr_hist {
    uint64_t counts[HDR_BUCKETS];
    uint64_t total;             /* values recorded */
    uint64_t clamped;           /* values above HDR_MAX_VALUE (in the top bucket) */
    uint64_t min, max;          /* exact; min is UINT64_MAX while empty */
    double sum;                 /* exact sum (for the mean) */
};

void     hdr_init(struct hdr_hist *h);
void     hdr_record(struct hdr_hist *h, uint64_t ns);
/* Adds every value of src to dst. */
void     hdr_merge(struct hdr_hist *dst, const struct hdr_hist *src);
/* The smallest v such that at least q (0..1) of the values are <= v, given as the
 * highest value of its bucket and never above the exact max; 0 if empty. */
uint64_t hdr_quantile(const struct hdr_hist *h, double q);
double   hdr_mean(const struct hdr_hist *h);
/* Bucket arithmetic (for tests): the bucket of a value, and the range a bucket holds. */
uint32_t hdr_bucket_of(uint64_t ns);
uint64_t hdr_bucket_low(uint32_t b);
uint64_t hdr_bucket_high(uint32_t b);

#endif /* HDR_HIST_H */
