/* ncpc_sched.h - the open-loop schedule of `ncpc bench`, apart from sockets and clocks so a
 * host test can drive it with a fake clock (tests/host/test_ncpc_sched.c).
 *
 * --rate: arrivals of a Poisson process (exponential gaps, mean 1/rate) go into a bounded
 * FIFO of their intended send times; sched_dispatch hands the oldest to the next connection
 * with a free slot (connections with free slots wait in a ring, so arrivals rotate over
 * them).  A request's latency counts from its intended time, so a server that stalls shows
 * the stall in the tail (no coordinated omission).
 * --users: each user's next request is due at the end of an exponentially distributed
 * think time; a min-heap orders the users by that time.
 */
#ifndef NCPC_SCHED_H
#define NCPC_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct sched_rng { uint64_t s; };

void     sched_rng_seed(struct sched_rng *r, uint64_t seed);
uint64_t sched_rng_next(struct sched_rng *r);
/* An exponentially distributed value with this mean. */
double   sched_exp(struct sched_rng *r, double mean);

/* Poisson arrivals. */
struct sched_poisson {
    double next;                /* intended time of the next arrival */
    double mean_gap;            /* 1 / rate */
    struct sched_rng rng;
};
void sched_poisson_init(struct sched_poisson *p, double start, double rate, uint64_t seed);
/* If an arrival is due at `now`, stores its intended time, moves on, and returns true. */
bool sched_poisson_due(struct sched_poisson *p, double now, double *intended);

/* The client-side queue: intended times of arrivals not sent yet. */
struct sched_fifo {
    double *t;
    uint32_t cap, head, len;
    uint32_t peak;              /* the longest it was */
    uint64_t dropped;           /* arrivals refused because it was full */
};
int    sched_fifo_init(struct sched_fifo *q, uint32_t cap);     /* 0, or -1 out of memory */
void   sched_fifo_free(struct sched_fifo *q);
bool   sched_fifo_push(struct sched_fifo *q, double t);         /* false (and dropped++) if full */
double sched_fifo_pop(struct sched_fifo *q);                    /* q->len > 0 */

/* Connections that have a free slot, in the order they got one; each at most once. */
struct sched_ring {
    uint32_t *v;
    uint8_t *in;                /* by connection: queued now */
    uint32_t cap, head, len;
};
int  sched_ring_init(struct sched_ring *r, uint32_t n);         /* connections 0..n-1 */
void sched_ring_free(struct sched_ring *r);
void sched_ring_push(struct sched_ring *r, uint32_t conn);      /* no-op if already in */
bool sched_ring_pop(struct sched_ring *r, uint32_t *conn);

/* Sends queued requests while both a request and a connection wait.  send() sends the
 * oldest request (its intended time) on conn and returns 1 if conn still has a free slot,
 * 0 if it is full now; or -1 without sending if conn cannot take requests any more (lost):
 * conn leaves the ring and the request waits for the next one.  Returns how many were sent. */
typedef int (*sched_send_fn)(void *ctx, uint32_t conn, double intended);
uint32_t sched_dispatch(struct sched_fifo *q, struct sched_ring *ready, sched_send_fn send, void *ctx);

/* Users ordered by the time their next request is due. */
struct sched_heap_entry { double t; uint32_t id; };
struct sched_heap {
    struct sched_heap_entry *e;
    uint32_t len, cap;
};
int  sched_heap_init(struct sched_heap *h, uint32_t cap);
void sched_heap_free(struct sched_heap *h);
bool sched_heap_push(struct sched_heap *h, double t, uint32_t id);   /* false if full */
/* The earliest entry if it is due at `now` (removed), else false. */
bool sched_heap_pop_due(struct sched_heap *h, double now, struct sched_heap_entry *out);
/* The earliest time, or `none` if empty. */
double sched_heap_next(const struct sched_heap *h, double none);

#endif /* NCPC_SCHED_H */
