/* ncpc_sched.c - open-loop arrivals, the client-side queue, users' think times (see
 * ncpc_sched.h).  No clock and no sockets here: the caller passes the time. */
#include "client/ncpc_sched.h"

#include <math.h>
#include <stdlib.h>

void sched_rng_seed(struct sched_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

/* xorshift64*: fast, and plenty for inter-arrival times */
uint64_t sched_rng_next(struct sched_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

double sched_exp(struct sched_rng *r, double mean)
{
    /* u in (0, 1]: 53 random bits, never 0, so log(u) is finite */
    double u = ((double)(sched_rng_next(r) >> 11) + 1.0) / 9007199254740992.0;
    return -mean * log(u);
}

void sched_poisson_init(struct sched_poisson *p, double start, double rate, uint64_t seed)
{
    sched_rng_seed(&p->rng, seed);
    p->mean_gap = 1.0 / rate;
    p->next = start + sched_exp(&p->rng, p->mean_gap);
}

bool sched_poisson_due(struct sched_poisson *p, double now, double *intended)
{
    if (p->next > now)
        return false;
    *intended = p->next;
    p->next += sched_exp(&p->rng, p->mean_gap);
    return true;
}

int sched_fifo_init(struct sched_fifo *q, uint32_t cap)
{
    q->t = malloc((size_t)cap * sizeof *q->t);
    q->cap = cap;
    q->head = 0;
    q->len = 0;
    q->peak = 0;
    q->dropped = 0;
    return q->t ? 0 : -1;
}

void sched_fifo_free(struct sched_fifo *q)
{
    free(q->t);
    q->t = NULL;
}

bool sched_fifo_push(struct sched_fifo *q, double t)
{
    if (q->len == q->cap) {
        q->dropped++;
        return false;
    }
    q->t[(q->head + q->len) % q->cap] = t;
    q->len++;
    if (q->len > q->peak)
        q->peak = q->len;
    return true;
}

double sched_fifo_pop(struct sched_fifo *q)
{
    double t = q->t[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return t;
}

int sched_ring_init(struct sched_ring *r, uint32_t n)
{
    r->v = malloc((size_t)(n ? n : 1) * sizeof *r->v);
    r->in = calloc(n ? n : 1, 1);
    r->cap = n;
    r->head = 0;
    r->len = 0;
    return r->v && r->in ? 0 : -1;
}

void sched_ring_free(struct sched_ring *r)
{
    free(r->v);
    free(r->in);
    r->v = NULL;
    r->in = NULL;
}

void sched_ring_push(struct sched_ring *r, uint32_t conn)
{
    if (conn >= r->cap || r->in[conn])
        return;
    r->in[conn] = 1;
    r->v[(r->head + r->len) % r->cap] = conn;   /* never overflows: each conn at most once */
    r->len++;
}

bool sched_ring_pop(struct sched_ring *r, uint32_t *conn)
{
    if (!r->len)
        return false;
    *conn = r->v[r->head];
    r->head = (r->head + 1) % r->cap;
    r->len--;
    r->in[*conn] = 0;
    return true;
}

uint32_t sched_dispatch(struct sched_fifo *q, struct sched_ring *ready, sched_send_fn send, void *ctx)
{
    uint32_t sent = 0;
    uint32_t conn;
    while (q->len && sched_ring_pop(ready, &conn)) {
        int r = send(ctx, conn, q->t[q->head]);
        if (r < 0)
            continue;           /* a lost connection: the request stays first in line */
        sched_fifo_pop(q);
        sent++;
        if (r > 0)
            sched_ring_push(ready, conn);
    }
    return sent;
}

int sched_heap_init(struct sched_heap *h, uint32_t cap)
{
    h->e = malloc((size_t)(cap ? cap : 1) * sizeof *h->e);
    h->len = 0;
    h->cap = cap;
    return h->e ? 0 : -1;
}

void sched_heap_free(struct sched_heap *h)
{
    free(h->e);
    h->e = NULL;
}

bool sched_heap_push(struct sched_heap *h, double t, uint32_t id)
{
    if (h->len == h->cap)
        return false;
    uint32_t i = h->len++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->e[parent].t <= t)
            break;
        h->e[i] = h->e[parent];
        i = parent;
    }
    h->e[i].t = t;
    h->e[i].id = id;
    return true;
}

bool sched_heap_pop_due(struct sched_heap *h, double now, struct sched_heap_entry *out)
{
    if (!h->len || h->e[0].t > now)
        return false;
    *out = h->e[0];
    struct sched_heap_entry last = h->e[--h->len];
    uint32_t i = 0;
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->e[child + 1].t < h->e[child].t)
            child++;
        if (last.t <= h->e[child].t)
            break;
        h->e[i] = h->e[child];
        i = child;
    }
    if (h->len)
        h->e[i] = last;
    return true;
}

double sched_heap_next(const struct sched_heap *h, double none)
{
    return h->len ? h->e[0].t : none;
}
