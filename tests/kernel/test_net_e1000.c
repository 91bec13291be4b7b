/* In-guest tests of the e1000 receive/transmit code itself (e1000_rxtx.c) against a fake
 * device: descriptor rings and a "register window" in ordinary memory, with the test
 * playing the hardware (filling receive slots, setting DD on sent ones).  Covers ring
 * wrap-around, the RX budget, ring-full on TX, in-order completion, and drop counting. */
#include "ktest.h"
#include "drivers/e1000/e1000.h"
#include "drivers/e1000/e1000_regs.h"
#include "mm.h"
#include "string.h"

struct fake {
    struct e1000_dev d;
    uint32_t hw_rx;                 /* next slot the "hardware" fills (RDH) */
    uint32_t hw_tx;                 /* next slot the "hardware" sends (TDH) */
};

static uint32_t reg(struct fake *f, uint32_t r) { return *(volatile uint32_t *)(f->d.mmio + r); }

static struct fake *fake_new(uint32_t nrx, uint32_t ntx)
{
    struct fake *f = kzalloc(sizeof *f);
    if (!f)
        return NULL;
    struct e1000_dev *d = &f->d;
    d->mmio = (uintptr_t)kzalloc(0x4000);                 /* covers RDT (0x2818) and TDT (0x3818) */
    d->rxd = kzalloc(nrx * sizeof(struct e1000_rx_desc));
    d->rx_buf = kzalloc(nrx * sizeof(uint64_t));
    d->txd = kzalloc(ntx * sizeof(struct e1000_tx_desc));
    d->tx_cookie = kzalloc(ntx * sizeof(void *));
    if (!d->mmio || !d->rxd || !d->rx_buf || !d->txd || !d->tx_cookie)
        return NULL;
    for (uint32_t i = 0; i < nrx; i++) {
        d->rx_buf[i] = (uint64_t)(uintptr_t)kzalloc(E1000_RX_BUF_SIZE);
        if (!d->rx_buf[i])
            return NULL;
        d->rxd[i].addr = d->rx_buf[i];
    }
    ring_init(&d->rx, nrx);
    d->rx.tail = nrx - 1;                                  /* as program() leaves it */
    *(volatile uint32_t *)(d->mmio + E1000_RDT) = nrx - 1;
    ring_init(&d->tx, ntx);
    return f;
}

static void fake_free(struct fake *f)
{
    struct e1000_dev *d = &f->d;
    for (uint32_t i = 0; i < d->rx.n; i++)
        kfree((void *)(uintptr_t)d->rx_buf[i]);
    kfree(d->rx_buf);
    kfree(d->rxd);
    kfree(d->txd);
    kfree(d->tx_cookie);
    kfree((void *)d->mmio);
    kfree(f);
}

/* The hardware receives one frame if it owns a slot ([RDH, RDT)); false if the ring is full. */
static bool hw_receive(struct fake *f, uint32_t len, uint8_t status, uint8_t errors, uint8_t fill)
{
    if (f->hw_rx == reg(f, E1000_RDT))
        return false;
    struct e1000_rx_desc *r = &f->d.rxd[f->hw_rx];
    memset((void *)(uintptr_t)r->addr, fill, MIN(len, E1000_RX_BUF_SIZE));
    r->length = (uint16_t)len;
    r->errors = errors;
    r->status = status | E1000_RXD_DD;
    f->hw_rx = ring_next(f->hw_rx, f->d.rx.n);
    return true;
}

static uint32_t got_frames, got_bytes, got_bad_fill;
static uint8_t expect_fill;
static bool refuse_next;
static bool deliver(void *arg, const void *data, uint32_t len)
{
    if (refuse_next) {
        refuse_next = false;
        return false;
    }
    const uint8_t *p = data;
    if (p[0] != expect_fill || p[len - 1] != expect_fill)
        got_bad_fill++;
    expect_fill++;
    got_frames++;
    got_bytes += len;
    return true;
}

KTEST(net_e1000_rx_wraparound_and_budget)
{
    struct fake *f = fake_new(8, 8);
    KT_ASSERT(f != NULL);
    got_frames = got_bytes = got_bad_fill = 0;
    expect_fill = 0;
    uint8_t fill = 0;
    /* 5 rounds of "hardware fills every slot it owns, driver drains with budget 3" */
    for (int round = 0; round < 5; round++) {
        uint32_t filled = 0;
        while (hw_receive(f, 60 + fill, E1000_RXD_EOP, 0, fill)) {
            fill++;
            filled++;
        }
        KT_EQ(filled, 7);                                  /* one slot always stays with software */
        uint32_t n, total = 0;
        while ((n = e1000_rx_poll(&f->d, 3, deliver, NULL)) > 0) {
            KT_LE(n, 3);
            total += n;
            KT_EQ(reg(f, E1000_RDT), (f->d.rx.head + 7) % 8);    /* slot just given back */
        }
        KT_EQ(total, filled);
    }
    KT_EQ(got_frames, 35);
    KT_EQ(got_bad_fill, 0);
    KT_EQ(f->d.st.rx.frames, 35);
    KT_EQ(f->d.st.rx.dropped, 0);
    fake_free(f);
}

KTEST(net_e1000_rx_drop_counting)
{
    struct fake *f = fake_new(16, 8);
    KT_ASSERT(f != NULL);
    got_frames = got_bytes = got_bad_fill = 0;
    expect_fill = 0;
    KT_ASSERT(hw_receive(f, 60, E1000_RXD_EOP, 0, 0));              /* good (fill 0) */
    KT_ASSERT(hw_receive(f, 10, E1000_RXD_EOP, 0, 0xAA));           /* runt */
    KT_ASSERT(hw_receive(f, 1600, E1000_RXD_EOP, 0, 0xAA));         /* oversize */
    KT_ASSERT(hw_receive(f, 100, E1000_RXD_EOP, 0x01, 0xAA));       /* CRC error */
    KT_ASSERT(hw_receive(f, 2048, 0, 0, 0xAA));                     /* fragment ... */
    KT_ASSERT(hw_receive(f, 500, E1000_RXD_EOP, 0, 0xAA));          /* ... and its end */
    KT_ASSERT(hw_receive(f, 1514, E1000_RXD_EOP, 0, 1));            /* good (fill 1) */
    KT_ASSERT(hw_receive(f, 64, E1000_RXD_EOP, 0, 2));              /* good but refused by the stack */
    refuse_next = false;
    KT_EQ(e1000_rx_poll(&f->d, 7, deliver, NULL), 7);
    refuse_next = true;
    KT_EQ(e1000_rx_poll(&f->d, 64, deliver, NULL), 1);
    KT_EQ(e1000_rx_poll(&f->d, 64, deliver, NULL), 0);               /* nothing left */
    KT_EQ(got_frames, 2);
    KT_EQ(got_bad_fill, 0);
    struct e1000_stats *s = &f->d.st;
    KT_EQ(s->rx.frames, 2);
    KT_EQ(s->rx.bytes, 60 + 1514);
    KT_EQ(s->rx.drop[RXV_RUNT], 1);
    KT_EQ(s->rx.drop[RXV_OVERSIZE], 1);
    KT_EQ(s->rx.drop[RXV_ERROR], 1);
    KT_EQ(s->rx.drop[RXV_FRAGMENT], 2);
    KT_EQ(s->rx_refused, 1);
    KT_EQ(s->rx.dropped, 6);
    /* every slot went back to the hardware, which now owns all but one again */
    KT_EQ(reg(f, E1000_RDT), 7);
    KT_EQ(f->d.rx.head, 8);
    fake_free(f);
}

/* The hardware sends everything between its head and TDT, setting DD on each slot. */
static uint32_t hw_send(struct fake *f, uint32_t max)
{
    uint32_t n = 0;
    while (n < max && f->hw_tx != reg(f, E1000_TDT)) {
        f->d.txd[f->hw_tx].status |= E1000_TXD_STA_DD;
        f->hw_tx = ring_next(f->hw_tx, f->d.tx.n);
        n++;
    }
    return n;
}

static uintptr_t done_cookies[64];
static uint32_t n_done;
static void tx_done(void *cookie, void *arg) { done_cookies[n_done++ % 64] = (uintptr_t)cookie; }

KTEST(net_e1000_tx_ring_full_and_completion_order)
{
    struct fake *f = fake_new(8, 8);
    KT_ASSERT(f != NULL);
    struct e1000_seg segs[3] = { { 0x100000, 54 }, { 0x200000, 1000 }, { 0x300000, 460 } };
    /* 7 usable slots: two 3-segment frames fit, the third does not */
    KT_ASSERT(e1000_tx(&f->d, segs, 3, (void *)1));
    KT_ASSERT(e1000_tx(&f->d, segs, 3, (void *)2));
    KT_EQ(reg(f, E1000_TDT), 6);
    KT_ASSERT(!e1000_tx(&f->d, segs, 3, (void *)3));
    KT_EQ(f->d.st.tx_ring_full, 1);
    KT_EQ(reg(f, E1000_TDT), 6);                            /* nothing half-queued */
    KT_EQ(e1000_tx_free_slots(&f->d), 1);
    /* descriptor contents: RS everywhere, EOP only on a frame's last slot */
    for (int i = 0; i < 6; i++) {
        KT_EQ(f->d.txd[i].addr, segs[i % 3].addr);
        KT_EQ(f->d.txd[i].length, segs[i % 3].len);
        KT_ASSERT(f->d.txd[i].cmd & E1000_TXD_CMD_RS);
        KT_EQ(!!(f->d.txd[i].cmd & E1000_TXD_CMD_EOP), i % 3 == 2);
    }
    /* the device has sent 4 slots: only frame 1 is complete */
    n_done = 0;
    KT_EQ(hw_send(f, 4), 4);
    KT_EQ(e1000_tx_reclaim(&f->d, tx_done, NULL), 1);
    KT_EQ(done_cookies[0], 1);
    KT_EQ(e1000_tx_free_slots(&f->d), 5);                   /* 4 slots retired */
    KT_ASSERT(e1000_tx(&f->d, segs, 3, (void *)3));         /* now it fits, wrapping */
    KT_EQ(reg(f, E1000_TDT), 1);
    KT_EQ(hw_send(f, 100), 5);
    KT_EQ(e1000_tx_reclaim(&f->d, tx_done, NULL), 2);
    KT_EQ(done_cookies[1], 2);
    KT_EQ(done_cookies[2], 3);
    KT_EQ(e1000_tx_free_slots(&f->d), 7);
    KT_EQ(f->d.st.tx_frames, 3);
    KT_EQ(f->d.st.tx_bytes, 3 * (54 + 1000 + 460));
    fake_free(f);
}

KTEST(net_e1000_tx_many_wraps)
{
    struct fake *f = fake_new(8, 16);
    KT_ASSERT(f != NULL);
    n_done = 0;
    uintptr_t next_cookie = 1, sent = 0, full = 0;
    struct e1000_seg segs[4];
    for (int i = 0; i < 4; i++)
        segs[i] = (struct e1000_seg){ 0x100000 + i * 0x1000, 100 };
    /* frames of 1..4 segments; the hardware lags behind by a varying amount */
    for (int step = 0; step < 500; step++) {
        uint32_t k = 1 + step % 4;
        if (e1000_tx(&f->d, segs, k, (void *)next_cookie))
            next_cookie++, sent++;
        else
            full++;
        hw_send(f, step % 3);
        e1000_tx_reclaim(&f->d, tx_done, NULL);
        KT_LE(ring_used(&f->d.tx), 15);
    }
    hw_send(f, 1000);
    e1000_tx_reclaim(&f->d, tx_done, NULL);
    KT_EQ(n_done, sent);
    KT_EQ(f->d.st.tx_ring_full, full);
    KT_GE(full, 1);                                       /* the ring did fill up */
    KT_EQ(ring_used(&f->d.tx), 0);
    KT_EQ(done_cookies[(n_done - 1) % 64], next_cookie - 1);   /* completions in order */
    fake_free(f);
}

/* Checksum insertion: a context descriptor (no cookie, RS) ahead of the first frame and of
 * any frame whose offsets differ, none ahead of a frame that reuses the device's context;
 * extended data descriptors ask for TXSM; a plain frame after them stays legacy; reclaim
 * steps over context slots and hands back each frame's cookie once, in order. */
KTEST(net_e1000_tx_checksum_context)
{
    struct fake *f = fake_new(8, 16);
    KT_ASSERT(f != NULL);
    struct e1000_seg segs[2] = { { 0x100000, 66 }, { 0x200000, 1448 } };
    struct e1000_csum tcp4 = { 34, 50 }, other = { 38, 54 };
    KT_ASSERT(e1000_tx_queue_csum(&f->d, segs, 2, (void *)1, tcp4));
    KT_ASSERT(e1000_tx_queue_csum(&f->d, segs, 2, (void *)2, tcp4));
    KT_ASSERT(e1000_tx_queue(&f->d, segs, 1, (void *)3));
    KT_ASSERT(e1000_tx_queue_csum(&f->d, segs, 1, (void *)4, other));
    e1000_tx_kick(&f->d);
    KT_EQ(reg(f, E1000_TDT), 1 + 2 + 2 + 1 + 1 + 1);
    KT_EQ(f->d.st.tx_contexts, 2);
    volatile struct e1000_tx_ctx_desc *c0 = (volatile struct e1000_tx_ctx_desc *)&f->d.txd[0];
    KT_EQ(c0->tucss, 34);
    KT_EQ(c0->tucso, 50);
    KT_EQ(c0->tucse, 0);
    KT_EQ(c0->cmd_len & 0x00f00000u, 0);                       /* DTYP 0: a context */
    KT_ASSERT(c0->cmd_len & E1000_TXD_TUCMD(E1000_TXD_CMD_DEXT | E1000_TXD_CMD_RS | E1000_TUCMD_TCP));
    KT_EQ(f->d.tx_cookie[0], 0);
    for (int i = 1; i <= 4; i++) {                               /* frames 1 and 2: extended data */
        KT_EQ(f->d.txd[i].addr, segs[(i - 1) % 2].addr);
        KT_EQ(f->d.txd[i].length, segs[(i - 1) % 2].len);
        KT_EQ(f->d.txd[i].cso, E1000_TXD_DTYP_D >> 16);
        KT_EQ(f->d.txd[i].css, E1000_TXD_POPTS_TXSM);
        KT_ASSERT(f->d.txd[i].cmd & E1000_TXD_CMD_DEXT);
        KT_EQ(!!(f->d.txd[i].cmd & E1000_TXD_CMD_EOP), i % 2 == 0);
    }
    KT_EQ(f->d.txd[5].cmd & E1000_TXD_CMD_DEXT, 0);             /* frame 3: legacy, no checksum */
    KT_EQ(f->d.txd[5].css, 0);
    volatile struct e1000_tx_ctx_desc *c1 = (volatile struct e1000_tx_ctx_desc *)&f->d.txd[6];
    KT_EQ(c1->tucss, 38);
    KT_EQ(c1->tucso, 54);
    KT_EQ(f->d.txd[7].css, E1000_TXD_POPTS_TXSM);
    n_done = 0;
    KT_EQ(hw_send(f, 100), 8);
    KT_EQ(e1000_tx_reclaim(&f->d, tx_done, NULL), 4);
    for (uint32_t i = 0; i < 4; i++)
        KT_EQ(done_cookies[i], i + 1);
    KT_EQ(ring_used(&f->d.tx), 0);
    fake_free(f);
}
