/* In-guest tests of the e1000 ring arithmetic, frame classification and drop counting,
 * and of the transmit backlog FIFO.  Pure logic: no device is touched. */
#include "ktest.h"
#include "drivers/e1000/e1000_ring.h"
#include "drivers/e1000/e1000_regs.h"
#include "net/net_fifo.h"

KTEST(net_ring_empty_and_full)
{
    struct e1000_ring r;
    ring_init(&r, 8);
    KT_EQ(ring_used(&r), 0);
    KT_EQ(ring_free(&r), 7);            /* one slot always stays empty */
    uint32_t first;
    KT_ASSERT(ring_claim(&r, 7, &first));
    KT_EQ(first, 0);
    KT_EQ(ring_free(&r), 0);
    KT_ASSERT(!ring_claim(&r, 1, &first));    /* full: refused, nothing changes */
    KT_EQ(r.tail, 7);
    KT_ASSERT(!ring_claim(&r, 0, &first));
}

KTEST(net_ring_wraparound)
{
    struct e1000_ring r;
    ring_init(&r, 8);
    uint32_t first;
    /* walk the ring several times with frames of 3 slots, retiring as we go */
    for (int round = 0; round < 20; round++) {
        KT_ASSERT(ring_claim(&r, 3, &first));
        KT_EQ(first, (uint32_t)(round * 3) % 8);
        KT_EQ(ring_used(&r), 3);
        for (int k = 0; k < 3; k++)
            KT_EQ(ring_retire(&r), (first + k) % 8);
        KT_EQ(ring_used(&r), 0);
    }
    /* a claim that straddles the end */
    ring_init(&r, 8);
    r.head = r.tail = 6;
    KT_ASSERT(ring_claim(&r, 5, &first));
    KT_EQ(first, 6);
    KT_EQ(r.tail, 3);
    KT_EQ(ring_used(&r), 5);
    KT_EQ(ring_free(&r), 2);
    KT_ASSERT(!ring_claim(&r, 3, &first));
    KT_ASSERT(ring_claim(&r, 2, &first));
    KT_EQ(first, 3);
    KT_EQ(ring_free(&r), 0);
    KT_EQ(ring_next(7, 8), 0);
    KT_EQ(ring_next(3, 8), 4);
}

KTEST(net_rx_classify)
{
    bool frag = false;
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0, 60, &frag), RXV_OK);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0, 1518, &frag), RXV_OK);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0, 13, &frag), RXV_RUNT);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0, 1519, &frag), RXV_OVERSIZE);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0x01, 100, &frag), RXV_ERROR);
    /* a frame in three buffers: every piece is dropped, and the next frame is fine */
    KT_EQ(e1000_rx_classify(E1000_RXD_DD, 0, 2048, &frag), RXV_FRAGMENT);
    KT_ASSERT(frag);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD, 0, 2048, &frag), RXV_FRAGMENT);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0, 100, &frag), RXV_FRAGMENT);
    KT_ASSERT(!frag);
    KT_EQ(e1000_rx_classify(E1000_RXD_DD | E1000_RXD_EOP, 0, 100, &frag), RXV_OK);
}

KTEST(net_rx_drop_counting)
{
    struct e1000_rx_counts c = { 0 };
    bool frag = false;
    static const struct { uint8_t st, err; uint32_t len; } in[] = {
        { 3, 0, 60 }, { 3, 0, 5 }, { 3, 0, 4000 }, { 3, 0x80, 64 }, { 1, 0, 2048 }, { 3, 0, 70 },
        { 3, 0, 1514 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(in); i++)
        e1000_rx_account(&c, e1000_rx_classify(in[i].st, in[i].err, in[i].len, &frag), in[i].len);
    KT_EQ(c.frames, 2);
    KT_EQ(c.bytes, 60 + 1514);
    KT_EQ(c.drop[RXV_RUNT], 1);
    KT_EQ(c.drop[RXV_OVERSIZE], 1);
    KT_EQ(c.drop[RXV_ERROR], 1);
    KT_EQ(c.drop[RXV_FRAGMENT], 2);
    KT_EQ(c.dropped, 5);
}

KTEST(net_tx_backlog_fifo)
{
    void *slots[4];
    struct ptr_fifo f;
    fifo_init(&f, slots, 4);
    KT_ASSERT(fifo_empty(&f));
    KT_ASSERT(fifo_pop(&f) == NULL);
    uintptr_t next_in = 1, next_out = 1;
    /* many passes over the 4 slots, keeping 0..4 entries queued */
    for (int round = 0; round < 50; round++) {
        int k = round % 5;
        for (int i = 0; i < k; i++)
            KT_ASSERT(fifo_push(&f, (void *)next_in++));
        if (k == 4)
            KT_ASSERT(!fifo_push(&f, (void *)999));    /* bounded */
        KT_EQ((uintptr_t)fifo_peek(&f), k ? next_out : 0);
        for (int i = 0; i < k; i++)
            KT_EQ((uintptr_t)fifo_pop(&f), next_out++);
        KT_ASSERT(fifo_empty(&f));
    }
    struct ptr_fifo z;
    fifo_init(&z, NULL, 0);                         /* net.txq=0: no backlog at all */
    KT_ASSERT(!fifo_push(&z, (void *)1));
}
