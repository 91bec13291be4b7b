/* test_ncpc_sched.c - the open-loop schedule of `ncpc bench` (client/ncpc_sched.c) on a
 * fake clock, under ASan + UBSan: Poisson arrivals at the asked rate (count, exponential
 * gaps, Poisson dispersion), the client-side queue, dispatch over connections, and a
 * simulated server stall that shows in latencies counted from the intended send time but
 * not in latencies counted from the actual send (what a closed loop measures). */
#include "client/hdr_hist.h"
#include "client/ncpc_sched.h"
#include "tests/host/test_proto_check.h"

#include <math.h>

static struct hdr_hist hist;

static void test_poisson_rate_and_dispersion(void)
{
    struct sched_poisson p;
    sched_poisson_init(&p, 0.0, 1000.0, 12345);
    uint64_t n = 0;
    uint64_t per_sec[100] = { 0 };
    double prev = 0, sum = 0, sum2 = 0, t;
    /* step the fake clock by 1 ms, like a loop that wakes late */
    for (int ms = 1; ms <= 100000; ms++) {
        while (sched_poisson_due(&p, ms / 1000.0, &t)) {
            CHECK(t <= ms / 1000.0);
            CHECK(t >= prev);
            double gap = t - prev;
            sum += gap;
            sum2 += gap * gap;
            prev = t;
            per_sec[(int)t < 100 ? (int)t : 99]++;
            n++;
        }
    }
    /* 100000 expected; sd 316: +-2 % is over 6 sd */
    CHECK(n > 98000 && n < 102000);
    double mean = sum / (double)n;
    double sd = sqrt(sum2 / (double)n - mean * mean);
    CHECK(fabs(mean - 0.001) < 0.00003);
    CHECK(fabs(sd / mean - 1.0) < 0.05);      /* exponential gaps: sd == mean */
    double m = 0, v = 0;
    for (int i = 0; i < 100; i++)
        m += (double)per_sec[i];
    m /= 100;
    for (int i = 0; i < 100; i++)
        v += ((double)per_sec[i] - m) * ((double)per_sec[i] - m);
    v /= 99;
    CHECK(v / m > 0.6 && v / m < 1.5);        /* Poisson counts: variance == mean */
}

static void test_fifo_bounded(void)
{
    struct sched_fifo q;
    CHECK_EQ(sched_fifo_init(&q, 4), 0);
    for (int i = 0; i < 5; i++)
        sched_fifo_push(&q, i);
    CHECK_EQ(q.len, 4);
    CHECK_EQ(q.dropped, 1);
    CHECK_EQ(q.peak, 4);
    CHECK(sched_fifo_pop(&q) == 0);
    CHECK(sched_fifo_push(&q, 9));
    CHECK(sched_fifo_pop(&q) == 1);
    CHECK(sched_fifo_pop(&q) == 2);
    CHECK(sched_fifo_pop(&q) == 3);
    CHECK(sched_fifo_pop(&q) == 9);
    CHECK_EQ(q.len, 0);
    sched_fifo_free(&q);
}

static void test_heap_orders_users(void)
{
    struct sched_heap h;
    struct sched_rng r;
    struct sched_heap_entry e;
    sched_rng_seed(&r, 7);
    CHECK_EQ(sched_heap_init(&h, 1000), 0);
    for (uint32_t i = 0; i < 1000; i++)
        CHECK(sched_heap_push(&h, sched_exp(&r, 1.0), i));
    CHECK(!sched_heap_push(&h, 0.5, 1000));
    CHECK(!sched_heap_pop_due(&h, -1.0, &e));
    double last = -1;
    uint32_t n = 0;
    while (sched_heap_pop_due(&h, 1e9, &e)) {
        CHECK(e.t >= last);
        last = e.t;
        n++;
    }
    CHECK_EQ(n, 1000);
    CHECK(sched_heap_next(&h, 42.0) == 42.0);
    sched_heap_free(&h);
}

/* A fake server: NCONN connections of DEPTH slots; each request takes 1 ms; between
 * STALL_AT and STALL_END nothing completes (a SIGSTOPped server). */
enum { NCONN = 4, DEPTH = 2, MAXQ = 4096 };
#define STALL_AT  3.0
#define STALL_END 4.0
struct fake {
    double now;
    double done_at[NCONN][DEPTH], intended[NCONN][DEPTH], sent[NCONN][DEPTH];
    bool busy[NCONN][DEPTH];
    uint32_t per_conn[NCONN];
    uint64_t sent_n, slow_from_intended, slow_from_sent;
};
static struct fake fk;

static int fake_send(void *ctx, uint32_t conn, double intended)
{
    struct fake *f = ctx;
    int free_slots = 0;
    bool placed = false;
    for (int s = 0; s < DEPTH; s++) {
        if (!f->busy[conn][s] && !placed) {
            f->busy[conn][s] = true;
            f->intended[conn][s] = intended;
            f->sent[conn][s] = f->now;
            f->done_at[conn][s] = f->now + 0.001;
            placed = true;
        } else if (!f->busy[conn][s]) {
            free_slots++;
        }
    }
    REQUIRE(placed, "placed");          /* dispatch only offers connections with room */
    f->per_conn[conn]++;
    f->sent_n++;
    return free_slots > 0;
}

static void test_stall_shows_in_tail(void)
{
    struct sched_poisson p;
    struct sched_fifo q;
    struct sched_ring ready;
    hdr_init(&hist);
    sched_poisson_init(&p, 0.0, 2000.0, 99);
    CHECK_EQ(sched_fifo_init(&q, MAXQ), 0);
    CHECK_EQ(sched_ring_init(&ready, NCONN), 0);
    for (uint32_t c = 0; c < NCONN; c++)
        sched_ring_push(&ready, c);
    uint64_t arrivals = 0;
    double t;
    for (int step = 1; step <= 100000; step++) {         /* 10 s in 0.1 ms steps */
        fk.now = step / 10000.0;
        bool stalled = fk.now >= STALL_AT && fk.now < STALL_END;
        for (uint32_t c = 0; c < NCONN && !stalled; c++) {
            for (int s = 0; s < DEPTH; s++) {
                if (!fk.busy[c][s] || fk.done_at[c][s] > fk.now)
                    continue;
                fk.busy[c][s] = false;
                double from_intended = fk.now - fk.intended[c][s];
                hdr_record(&hist, (uint64_t)(from_intended * 1e9));
                fk.slow_from_intended += from_intended >= 0.5;
                fk.slow_from_sent += fk.now - fk.sent[c][s] >= 0.5;
                sched_ring_push(&ready, c);
            }
        }
        while (sched_poisson_due(&p, fk.now, &t)) {
            sched_fifo_push(&q, t);
            arrivals++;
        }
        sched_dispatch(&q, &ready, fake_send, &fk);
    }
    /* every arrival was sent once the stall ended: the queue drained */
    CHECK_EQ(q.dropped, 0);
    CHECK(q.len < 8);
    CHECK(fk.sent_n + q.len == arrivals);
    CHECK(q.peak >= 1500);                /* ~2000 arrivals waited out the stall */
    for (uint32_t c = 0; c < NCONN; c++)
        CHECK(fk.per_conn[c] > arrivals / NCONN / 2);   /* spread over the connections */
    /* counted from the intended time, the stall is in the tail ... */
    CHECK(hist.max >= (uint64_t)(0.99 * 1e9));
    CHECK(hdr_quantile(&hist, 0.999) >= (uint64_t)(0.9 * 1e9));
    CHECK(hdr_quantile(&hist, 0.5) < (uint64_t)(0.01 * 1e9));
    CHECK(fk.slow_from_intended >= 500);
    /* ... while counted from the send, only the requests in flight at the stall saw it */
    CHECK(fk.slow_from_sent <= NCONN * DEPTH);
    sched_fifo_free(&q);
    sched_ring_free(&ready);
}

/* A connection lost while it waits in the ring takes no request: the next one does. */
static uint32_t got_conn[8], ngot;
static int lossy_send(void *ctx, uint32_t conn, double intended)
{
    if (conn == 1)
        return -1;
    got_conn[ngot++] = conn;
    return 0;
}
static void test_lost_conn_skipped(void)
{
    struct sched_fifo q;
    struct sched_ring ready;
    CHECK_EQ(sched_fifo_init(&q, 8), 0);
    CHECK_EQ(sched_ring_init(&ready, 3), 0);
    sched_ring_push(&ready, 1);
    sched_ring_push(&ready, 2);
    sched_ring_push(&ready, 2);           /* at most once in the ring */
    sched_fifo_push(&q, 1.0);
    sched_fifo_push(&q, 2.0);
    CHECK_EQ(sched_dispatch(&q, &ready, lossy_send, NULL), 1);
    CHECK_EQ(ngot, 1);
    CHECK_EQ(got_conn[0], 2);
    CHECK_EQ(q.len, 1);                   /* the second waits: no connection is free */
    CHECK(q.t[q.head] == 2.0);
    CHECK_EQ(ready.len, 0);               /* 1 was dropped, 2 is full */
    sched_ring_push(&ready, 0);
    CHECK_EQ(sched_dispatch(&q, &ready, lossy_send, NULL), 1);
    CHECK_EQ(got_conn[1], 0);
    CHECK_EQ(q.len, 0);
    sched_fifo_free(&q);
    sched_ring_free(&ready);
}

int main(void)
{
    RUN(test_poisson_rate_and_dispersion);
    RUN(test_fifo_bounded);
    RUN(test_heap_orders_users);
    RUN(test_stall_shows_in_tail);
    RUN(test_lost_conn_skipped);
    DONE();
}
