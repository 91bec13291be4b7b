/* Pure ring index logic and frame classification (see e1000_ring.h). */
#include "e1000_ring.h"
#include "e1000_regs.h"

void ring_init(struct e1000_ring *r, uint32_t n)
{
    r->n = n;
    r->head = 0;
    r->tail = 0;
}

bool ring_claim(struct e1000_ring *r, uint32_t k, uint32_t *first)
{
    if (k == 0 || ring_free(r) < k)
        return false;
    *first = r->tail;
    r->tail = (r->tail + k) % r->n;
    return true;
}

uint32_t ring_retire(struct e1000_ring *r)
{
    uint32_t i = r->head;
    r->head = ring_next(i, r->n);
    return i;
}

enum e1000_rx_verdict e1000_rx_classify(uint8_t status, uint8_t errors, uint32_t len, bool *in_fragment)
{
    bool was_fragment = *in_fragment;
    *in_fragment = !(status & E1000_RXD_EOP);
    /* Every piece of a multi-buffer frame is dropped, including the one carrying EOP:
     * with 2048-byte buffers and LPE off only a misbehaving device sends them. */
    if (was_fragment || *in_fragment)
        return RXV_FRAGMENT;
    if (errors)
        return RXV_ERROR;
    if (len < E1000_ETH_MIN)
        return RXV_RUNT;
    if (len > E1000_ETH_MAX)
        return RXV_OVERSIZE;
    return RXV_OK;
}

void e1000_rx_account(struct e1000_rx_counts *c, enum e1000_rx_verdict v, uint32_t len)
{
    if (v == RXV_OK) {
        c->frames++;
        c->bytes += len;
    } else if (v < RXV_COUNT) {
        c->drop[v]++;
        c->dropped++;
    }
}
