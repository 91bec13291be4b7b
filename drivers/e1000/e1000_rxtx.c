/*
 * Receive and transmit on the descriptor rings.  Called only by the one context the
 * caller serializes (see e1000.h), so ring indices need no lock; the device is told
 * about new work through RDT/TDT after the descriptors are written.
 */
#include "e1000.h"
#include "e1000_regs.h"
#include "io.h"

static inline void wr(struct e1000_dev *d, uint32_t reg, uint32_t v) { mmio_write32(d->mmio + reg, v); }

uint32_t e1000_rx_poll(struct e1000_dev *d, uint32_t budget, e1000_deliver_fn deliver, void *arg)
{
    uint32_t done = 0;
    while (done < budget) {
        uint32_t i = d->rx.head;
        volatile struct e1000_rx_desc *desc = &d->rxd[i];
        uint8_t status = desc->status;
        if (!(status & E1000_RXD_DD))
            break;
        barrier();      /* read the rest of the descriptor only after DD */
        uint32_t len = desc->length;
        enum e1000_rx_verdict v = e1000_rx_classify(status, desc->errors, len, &d->rx_in_fragment);
        if (v == RXV_OK && !deliver(arg, (const void *)(uintptr_t)d->rx_buf[i], len)) {
            d->st.rx_refused++;
            d->st.rx.dropped++;
        } else {
            e1000_rx_account(&d->st.rx, v, len);
        }
        /* give the slot back: the hardware owns [RDH, RDT) */
        desc->addr = d->rx_buf[i];
        desc->status = 0;
        d->rx.head = ring_next(i, d->rx.n);
        d->rx.tail = i;
        done++;
    }
    if (done) {
        barrier();
        wr(d, E1000_RDT, d->rx.tail);
    }
    return done;
}

uint32_t e1000_tx_free_slots(struct e1000_dev *d) { return ring_free(&d->tx); }

/* Writes a frame's data descriptors from slot `first`: legacy ones, or extended ones that
 * ask for checksum insertion (`csum`). */
static void put_frame(struct e1000_dev *d, uint32_t first, const struct e1000_seg *segs, uint32_t nseg,
                      void *cookie, bool csum)
{
    uint32_t i = first, bytes = 0;
    for (uint32_t s = 0; s < nseg; s++) {
        volatile struct e1000_tx_desc *t = &d->txd[i];
        t->addr = segs[s].addr;
        t->length = (uint16_t)segs[s].len;
        t->cso = csum ? (uint8_t)(E1000_TXD_DTYP_D >> 16) : 0;   /* DTYP shares the legacy CSO byte */
        t->css = csum ? E1000_TXD_POPTS_TXSM : 0;                 /* POPTS shares the legacy CSS byte */
        t->special = 0;
        t->status = 0;
        /* RS on every slot: the device reports each one done, so reclaim is in order */
        t->cmd = E1000_TXD_CMD_RS | E1000_TXD_CMD_IFCS | (csum ? E1000_TXD_CMD_DEXT : 0) |
                 (s + 1 == nseg ? E1000_TXD_CMD_EOP : 0);
        d->tx_cookie[i] = s + 1 == nseg ? cookie : NULL;
        bytes += segs[s].len;
        if (s + 1 < nseg)
            i = ring_next(i, d->tx.n);
    }
    d->st.tx_frames++;
    d->st.tx_bytes += bytes;
    d->tx_kick_pending = true;
}

bool e1000_tx_queue(struct e1000_dev *d, const struct e1000_seg *segs, uint32_t nseg, void *cookie)
{
    uint32_t first;
    if (!ring_claim(&d->tx, nseg, &first)) {
        d->st.tx_ring_full++;
        return false;
    }
    put_frame(d, first, segs, nseg, cookie, false);
    return true;
}

/* A context descriptor (one slot) goes ahead of the frame only when the offsets differ
 * from the ones the device already holds: it keeps them for every later frame. */
bool e1000_tx_queue_csum(struct e1000_dev *d, const struct e1000_seg *segs, uint32_t nseg, void *cookie,
                         struct e1000_csum csum)
{
    bool new_ctx = csum.start != d->tx_ctx.start || csum.offset != d->tx_ctx.offset;
    uint32_t first;
    if (!ring_claim(&d->tx, nseg + new_ctx, &first)) {
        d->st.tx_ring_full++;
        return false;
    }
    if (new_ctx) {
        volatile struct e1000_tx_ctx_desc *c = (volatile struct e1000_tx_ctx_desc *)&d->txd[first];
        c->ipcss = c->ipcso = 0;
        c->ipcse = 0;
        c->tucss = csum.start;
        c->tucso = csum.offset;
        c->tucse = 0;
        c->cmd_len = E1000_TXD_TUCMD(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_RS | E1000_TUCMD_IP | E1000_TUCMD_TCP);
        c->status = 0;
        c->hdr_len = 0;
        c->mss = 0;
        d->tx_cookie[first] = NULL;
        d->tx_ctx = csum;
        d->st.tx_contexts++;
        first = ring_next(first, d->tx.n);
    }
    put_frame(d, first, segs, nseg, cookie, true);
    return true;
}

void e1000_tx_kick(struct e1000_dev *d)
{
    if (d->tx_kick_pending) {
        d->tx_kick_pending = false;
        barrier();                  /* descriptors before the tail that publishes them */
        wr(d, E1000_TDT, d->tx.tail);
    }
}

bool e1000_tx(struct e1000_dev *d, const struct e1000_seg *segs, uint32_t nseg, void *cookie)
{
    if (!e1000_tx_queue(d, segs, nseg, cookie))
        return false;
    e1000_tx_kick(d);
    return true;
}

uint32_t e1000_tx_reclaim(struct e1000_dev *d, void (*done)(void *cookie, void *arg), void *arg)
{
    uint32_t frames = 0;
    while (ring_used(&d->tx)) {
        volatile struct e1000_tx_desc *t = &d->txd[d->tx.head];
        if (!(t->status & E1000_TXD_STA_DD))
            break;
        uint32_t i = ring_retire(&d->tx);
        t->status = 0;
        void *c = d->tx_cookie[i];
        if (c) {
            d->tx_cookie[i] = NULL;
            done(c, arg);
            frames++;
        }
    }
    return frames;
}
