/* test_hdr_hist.c - the latency histogram of `ncpc bench` (client/hdr_hist.c), under
 * ASan + UBSan: bucket arithmetic, quantiles within the promised 0.78 % of the exact
 * nearest-rank answer, exact max/min, clamping, merging. */
#include "client/hdr_hist.h"
#include "tests/host/test_proto_check.h"

#include <stdint.h>

static struct hdr_hist h, h2;
static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Buckets tile 0..HDR_MAX_VALUE without gaps or overlaps, each at most 1/128 wide. */
static void test_buckets_tile_the_range(void)
{
    CHECK_EQ(hdr_bucket_low(0), 0);
    for (uint32_t b = 0; b + 1 < HDR_BUCKETS; b++) {
        if (hdr_bucket_high(b) + 1 != hdr_bucket_low(b + 1)) {
            CHECK_EQ(hdr_bucket_high(b) + 1, hdr_bucket_low(b + 1));
            return;
        }
        uint64_t lo = hdr_bucket_low(b);
        uint64_t width = hdr_bucket_high(b) - lo + 1;
        if (lo >= HDR_LINEAR)
            CHECK(width * 128 <= lo);
        else
            CHECK_EQ(width, 1);
    }
    CHECK_EQ(hdr_bucket_high(HDR_BUCKETS - 1), HDR_MAX_VALUE);
}

static void test_value_lands_in_its_bucket(void)
{
    uint64_t edges[] = { 0, 1, 255, 256, 257, 511, 512, 1000, 1023, 1024, 999999, 1000000,
                         60000000000ull, HDR_MAX_VALUE };
    for (unsigned i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        uint32_t b = hdr_bucket_of(edges[i]);
        CHECK(b < HDR_BUCKETS);
        CHECK(hdr_bucket_low(b) <= edges[i] && edges[i] <= hdr_bucket_high(b));
    }
    for (int i = 0; i < 100000; i++) {
        uint64_t v = rnd() >> (28 + rnd() % 36);     /* spread over every octave */
        uint32_t b = hdr_bucket_of(v);
        CHECK(hdr_bucket_low(b) <= v && v <= hdr_bucket_high(b));
    }
    CHECK_EQ(hdr_bucket_of(HDR_MAX_VALUE + 1), HDR_BUCKETS - 1);
}

/* Quantiles of a log-uniform sample (1 us .. 60 s) against the exact nearest rank. */
static void test_quantiles_within_one_percent(void)
{
    enum { N = 200000 };
    static uint64_t v[N];
    hdr_init(&h);
    for (int i = 0; i < N; i++) {
        double x = 1000.0;
        int octaves = (int)(rnd() % 26);             /* 2^26 us ~ 67 s */
        x *= (double)(1ull << octaves) * (1.0 + (double)(rnd() % 1000000) / 1000000.0);
        v[i] = (uint64_t)x;
        if (v[i] > 60000000000ull)
            v[i] = 60000000000ull;
        hdr_record(&h, v[i]);
    }
    qsort(v, N, sizeof v[0], cmp_u64);
    double qs[] = { 0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0 };
    for (unsigned i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        size_t rank = (size_t)(qs[i] * N + 0.999999);
        if (rank == 0)
            rank = 1;
        uint64_t exact = v[rank - 1];
        uint64_t got = hdr_quantile(&h, qs[i]);
        CHECK(got >= exact);
        CHECK((double)(got - exact) <= (double)exact / 128.0);
    }
    CHECK_EQ(h.total, N);
    CHECK_EQ(h.max, v[N - 1]);
    CHECK_EQ(h.min, v[0]);
    CHECK_EQ(hdr_quantile(&h, 1.0), v[N - 1]);
}

/* The case the histogram exists for: a 1 ms tail behind 99.9 % of 100 us replies. */
static void test_p999_resolves_one_ms(void)
{
    hdr_init(&h);
    for (int i = 0; i < 9989; i++)
        hdr_record(&h, 100000);
    for (int i = 0; i < 11; i++)
        hdr_record(&h, 1000000);
    uint64_t p999 = hdr_quantile(&h, 0.999);
    CHECK(p999 >= 1000000 && p999 <= 1000000 + 1000000 / 128);
    uint64_t p99 = hdr_quantile(&h, 0.99);
    CHECK(p99 >= 100000 && p99 <= 100000 + 100000 / 128);
    CHECK(hdr_mean(&h) > 100000 && hdr_mean(&h) < 102000);
}

static void test_empty_clamp_and_merge(void)
{
    hdr_init(&h);
    CHECK_EQ(hdr_quantile(&h, 0.5), 0);
    CHECK(hdr_mean(&h) == 0);
    hdr_record(&h, 100ull * 1000000000ull);          /* 100 s: above the top */
    CHECK_EQ(h.clamped, 1);
    CHECK_EQ(h.max, 100ull * 1000000000ull);          /* the exact max is kept */
    CHECK_EQ(hdr_quantile(&h, 0.5), 100ull * 1000000000ull);
    hdr_init(&h2);
    hdr_record(&h2, 5000);
    hdr_record(&h2, 7);
    hdr_merge(&h, &h2);
    CHECK_EQ(h.total, 3);
    CHECK_EQ(h.min, 7);
    CHECK_EQ(hdr_quantile(&h, 0.0), 7);
    uint64_t mid = hdr_quantile(&h, 0.5);
    CHECK(mid >= 5000 && mid <= 5000 + 5000 / 128);
    CHECK_EQ(h.clamped, 1);
}

int main(void)
{
    RUN(test_buckets_tile_the_range);
    RUN(test_value_lands_in_its_bucket);
    RUN(test_quantiles_within_one_percent);
    RUN(test_p999_resolves_one_ms);
    RUN(test_empty_clamp_and_merge);
    DONE();
}
