/*
 * Descriptor ring arithmetic and receive-frame classification, kept free of hardware
 * access so the in-guest tests (tests/kernel/test_net_ring.c) can drive wrap-around,
 * ring-full and drop counting directly.
 *
 * A ring has n slots.  'head' is the oldest slot software has not finished with and
 * 'tail' the next slot software fills (TX) or the value last written to RDT (RX).
 * One slot always stays unused so that head == tail means "empty" on TX, and on RX
 * the hardware owns [RDH, RDT): giving slot i back is just RDT = i.
 */
#pragma once
#include "types.h"

struct e1000_ring {
    uint32_t n;          /* slots, a multiple of 8 (RDLEN/TDLEN are multiples of 128 bytes) */
    uint32_t head;
    uint32_t tail;
};

static inline uint32_t ring_next(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }
static inline uint32_t ring_used(const struct e1000_ring *r) { return (r->tail + r->n - r->head) % r->n; }
static inline uint32_t ring_free(const struct e1000_ring *r) { return r->n - 1 - ring_used(r); }

void ring_init(struct e1000_ring *r, uint32_t n);
/* TX: claims k consecutive slots (wrapping) starting at *first; false if fewer are free. */
bool ring_claim(struct e1000_ring *r, uint32_t k, uint32_t *first);
/* TX: the oldest claimed slot is finished; returns its index. */
uint32_t ring_retire(struct e1000_ring *r);

/* Receive frame verdicts, in the order they are checked. */
enum e1000_rx_verdict {
    RXV_OK = 0,
    RXV_FRAGMENT,     /* part of a frame spread over several buffers (no EOP), or its end */
    RXV_ERROR,        /* the device flagged CRC/symbol/sequence/carrier errors */
    RXV_RUNT,         /* shorter than an Ethernet header */
    RXV_OVERSIZE,     /* longer than 1518 bytes (the device drops most of these itself) */
    RXV_COUNT
};
/* in_fragment: the previous descriptor had no EOP; updated for the next call. */
enum e1000_rx_verdict e1000_rx_classify(uint8_t status, uint8_t errors, uint32_t len, bool *in_fragment);

struct e1000_rx_counts {
    uint64_t frames, bytes;               /* accepted */
    uint64_t drop[RXV_COUNT];             /* by verdict (drop[RXV_OK] unused) */
    uint64_t dropped;                     /* sum of drop[] */
};
void e1000_rx_account(struct e1000_rx_counts *c, enum e1000_rx_verdict v, uint32_t len);
