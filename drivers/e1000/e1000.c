/*
 * 82540EM bring-up: find the device, reset it, program every register we rely on
 * (QEMU's CTRL.RST does not clear registers, so nothing may be assumed from reset),
 * set up the rings, and route its INTx line (q35 has no MSI for this device).
 * Receive and transmit are in e1000_rxtx.c.
 */
#include "e1000.h"
#include "e1000_regs.h"
#include "pci.h"
#include "irq.h"
#include "mm.h"
#include "io.h"
#include "kopt.h"
#include "init.h"
#include "printf.h"
#include "string.h"
#include "time.h"

static uint64_t opt_rx = 512, opt_tx = 512, opt_itr = 8000;
KOPT_U64("e1000.rx", opt_rx, 8, 4096, "e1000 receive descriptors (rounded up to a multiple of 8)");
KOPT_U64("e1000.tx", opt_tx, 8, 4096, "e1000 transmit descriptors (rounded up to a multiple of 8)");
KOPT_U64("e1000.itr", opt_itr, 0, 100000, "e1000 interrupt throttle: most interrupts per second (0 = off)");

static struct e1000_dev the_dev;
static struct e1000_dev *probed;

struct e1000_dev *e1000_get(void) { return probed; }

static inline uint32_t rd(struct e1000_dev *d, uint32_t reg) { return mmio_read32(d->mmio + reg); }
static inline void wr(struct e1000_dev *d, uint32_t reg, uint32_t v) { mmio_write32(d->mmio + reg, v); }

/* EEPROM word through EERD; false if the device never says done (bounded wait). */
static bool eeprom_read(struct e1000_dev *d, uint8_t addr, uint16_t *out)
{
    wr(d, E1000_EERD, E1000_EERD_START | ((uint32_t)addr << 8));
    for (int i = 0; i < 100000; i++) {
        uint32_t v = rd(d, E1000_EERD);
        if (v & E1000_EERD_DONE) {
            *out = (uint16_t)(v >> 16);
            return true;
        }
        cpu_relax();
    }
    return false;
}

static void read_mac(struct e1000_dev *d)
{
    uint16_t w[3];
    if (eeprom_read(d, 0, &w[0]) && eeprom_read(d, 1, &w[1]) && eeprom_read(d, 2, &w[2])) {
        for (int i = 0; i < 3; i++) {
            d->mac[2 * i] = w[i] & 0xFF;
            d->mac[2 * i + 1] = w[i] >> 8;
        }
    } else {
        uint32_t lo = rd(d, E1000_RAL0), hi = rd(d, E1000_RAH0);
        for (int i = 0; i < 4; i++)
            d->mac[i] = lo >> (8 * i);
        d->mac[4] = hi;
        d->mac[5] = hi >> 8;
    }
}

static void *alloc_dma(size_t bytes)
{
    size_t pages = ALIGN_UP(bytes, PAGE_SIZE) / PAGE_SIZE;
    uint64_t pa = pmm_alloc_pages(pages);
    if (pa)
        memset((void *)pa, 0, pages * PAGE_SIZE);
    return (void *)pa;
}

static bool rings_alloc(struct e1000_dev *d, uint32_t nrx, uint32_t ntx)
{
    d->rxd = alloc_dma(nrx * sizeof(struct e1000_rx_desc));
    d->txd = alloc_dma(ntx * sizeof(struct e1000_tx_desc));
    d->rx_buf = kzalloc(nrx * sizeof(uint64_t));
    d->tx_cookie = kzalloc(ntx * sizeof(void *));
    if (!d->rxd || !d->txd || !d->rx_buf || !d->tx_cookie)
        return false;
    /* two 2 KiB buffers per page; pages need not be contiguous with each other */
    for (uint32_t i = 0; i < nrx; i += 2) {
        uint64_t pa = pmm_alloc_page();
        if (!pa)
            return false;
        d->rx_buf[i] = pa;
        if (i + 1 < nrx)
            d->rx_buf[i + 1] = pa + E1000_RX_BUF_SIZE;
    }
    for (uint32_t i = 0; i < nrx; i++) {
        d->rxd[i].addr = d->rx_buf[i];
        d->rxd[i].status = 0;
    }
    ring_init(&d->rx, nrx);
    ring_init(&d->tx, ntx);
    return true;
}

static void program(struct e1000_dev *d)
{
    /* quiet the device, then reset it; wait (bounded) for RST to self-clear */
    wr(d, E1000_IMC, 0xFFFFFFFF);
    wr(d, E1000_RCTL, 0);
    wr(d, E1000_TCTL, 0);
    wr(d, E1000_CTRL, rd(d, E1000_CTRL) | E1000_CTRL_RST);
    for (int i = 0; i < 100000 && (rd(d, E1000_CTRL) & E1000_CTRL_RST); i++)
        cpu_relax();
    wr(d, E1000_IMC, 0xFFFFFFFF);
    (void)rd(d, E1000_ICR);

    read_mac(d);

    uint32_t ctrl = rd(d, E1000_CTRL);
    ctrl &= ~(E1000_CTRL_LRST | E1000_CTRL_PHY_RST | E1000_CTRL_ILOS | E1000_CTRL_VME);
    ctrl |= E1000_CTRL_SLU | E1000_CTRL_ASDE;
    wr(d, E1000_CTRL, ctrl);

    /* receive address 0 with Address Valid; no other filters */
    wr(d, E1000_RAL0, d->mac[0] | (d->mac[1] << 8) | (d->mac[2] << 16) | ((uint32_t)d->mac[3] << 24));
    wr(d, E1000_RAH0, d->mac[4] | (d->mac[5] << 8) | E1000_RAH_AV);
    for (int i = 0; i < 128; i++)
        wr(d, E1000_MTA + 4 * i, 0);

    /* receive ring: hardware owns slots [RDH, RDT) = all but one */
    uint64_t rxpa = (uint64_t)(uintptr_t)d->rxd;
    wr(d, E1000_RDBAL, (uint32_t)rxpa);
    wr(d, E1000_RDBAH, (uint32_t)(rxpa >> 32));
    wr(d, E1000_RDLEN, d->rx.n * sizeof(struct e1000_rx_desc));
    wr(d, E1000_RDH, 0);
    d->rx.head = 0;
    d->rx.tail = d->rx.n - 1;
    wr(d, E1000_RDT, d->rx.tail);
    wr(d, E1000_RDTR, 0);
    wr(d, E1000_RADV, 0);

    /* transmit ring: empty */
    uint64_t txpa = (uint64_t)(uintptr_t)d->txd;
    wr(d, E1000_TDBAL, (uint32_t)txpa);
    wr(d, E1000_TDBAH, (uint32_t)(txpa >> 32));
    wr(d, E1000_TDLEN, d->tx.n * sizeof(struct e1000_tx_desc));
    wr(d, E1000_TDH, 0);
    wr(d, E1000_TDT, 0);
    d->tx_ctx = (struct e1000_csum){ 0, 0 };     /* the device holds no checksum context yet */
    wr(d, E1000_TIDV, 0);
    wr(d, E1000_TADV, 0);
    wr(d, E1000_TIPG, E1000_TIPG_DEFAULT);

    /* throttle: ITR counts 256 ns units between interrupts */
    wr(d, E1000_ITR, d->itr_per_sec ? (uint32_t)(1000000000ULL / 256 / d->itr_per_sec) : 0);

    /* 2048-byte buffers, broadcast accepted, CRC stripped, no long packets, no loopback.
     * (QEMU holds back received frames for 1 s after any RCTL write: the first frame
     * after boot arrives late; see docs/network.md.) */
    wr(d, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC | E1000_RCTL_RDMTS_HALF);
    wr(d, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT(0x0F) | E1000_TCTL_COLD(0x40) |
                      E1000_TCTL_RTLC);

    /* drop statistics accumulated before us */
    e1000_hw_stats_update(d);
    memset(&d->st, 0, sizeof d->st);
    d->link_up = rd(d, E1000_STATUS) & E1000_STATUS_LU;
}

static void e1000_irq(void *arg)
{
    struct e1000_dev *d = arg;
    uint32_t icr = rd(d, E1000_ICR);        /* reading acknowledges and lowers INTx */
    d->st.irqs++;
    if (!icr) {
        d->st.irqs_spurious++;
        return;
    }
    if (icr & (E1000_ICR_RXT0 | E1000_ICR_RXDMT0 | E1000_ICR_RXO)) d->st.irq_rx++;
    if (icr & E1000_ICR_RXO) d->st.irq_overrun++;
    if (icr & (E1000_ICR_TXDW | E1000_ICR_TXQE)) d->st.irq_tx++;
    if (icr & E1000_ICR_LSC) d->st.irq_lsc++;
    __atomic_or_fetch(&d->icr_pending, icr, __ATOMIC_RELAXED);
    wtd_schedule(&d->wtd);
}

static uint32_t e1000_wtd(struct wtd *w)
{
    struct e1000_dev *d = w->context;
    if (d->work)
        d->work(d, d->work_arg);
    return 0;
}

_Static_assert(E1000_CAUSE_LINK == E1000_ICR_LSC, "e1000.h's link cause is the ICR.LSC bit");

uint32_t e1000_take_icr(struct e1000_dev *dev)
{
    return __atomic_exchange_n(&dev->icr_pending, 0, __ATOMIC_RELAXED);
}

int e1000_start(struct e1000_dev *d, void (*work)(struct e1000_dev *, void *), void *arg)
{
    d->work = work;
    d->work_arg = arg;
    if (d->pci->gsi < 0 || irq_route_gsi(d->pci->gsi, e1000_irq, d, IRQ_HOOKED_NET, "e1000") < 0) {
        kprintf("e1000: cannot route gsi %d\n", d->pci->gsi);
        return -1;
    }
    (void)rd(d, E1000_ICR);
    wr(d, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_RXDMT0 | E1000_ICR_RXO | E1000_ICR_TXDW | E1000_ICR_LSC |
                     E1000_ICR_RXSEQ);
    /* anything that arrived before interrupts were on */
    wtd_schedule(&d->wtd);
    return 0;
}

bool e1000_link_check(struct e1000_dev *d)
{
    bool up = rd(d, E1000_STATUS) & E1000_STATUS_LU;
    if (up == d->link_up)
        return false;
    d->link_up = up;
    d->st.link_changes++;
    return true;
}

void e1000_hw_stats_update(struct e1000_dev *d)
{
    d->st.hw_missed += rd(d, E1000_MPC);
    d->st.hw_no_buf += rd(d, E1000_RNBC);
    d->st.hw_undersize += rd(d, E1000_RUC);
    d->st.hw_oversize += rd(d, E1000_ROC);
    d->st.hw_crc += rd(d, E1000_CRCERRS);
    d->st.hw_rx_err += rd(d, E1000_RXERRC);
}

static uint32_t round8(uint64_t v) { return (uint32_t)ALIGN_UP(v, 8); }

static int e1000_probe(void)
{
    struct pci_dev *p = pci_find(E1000_VENDOR, E1000_DEVICE);
    if (!p)
        return 0;
    if (p->bar_is_io[0] || !p->bar[0]) {
        kprintf("e1000: BAR0 is not memory\n");
        return -1;
    }
    struct e1000_dev *d = &the_dev;
    d->pci = p;
    d->mmio = (uintptr_t)p->bar[0];
    /* the ITR interval is a 16-bit count of 256 ns: 60 interrupts/s is the slowest */
    d->itr_per_sec = opt_itr && opt_itr < 60 ? 60 : (uint32_t)opt_itr;
    wtd_init(&d->wtd, e1000_wtd, d);
    pci_enable(p);
    if (!rings_alloc(d, round8(opt_rx), round8(opt_tx))) {
        kprintf("e1000: out of memory for rings\n");
        return -1;
    }
    program(d);
    probed = d;
    kprintf("e1000: %02x:%02x.%x mac %02x:%02x:%02x:%02x:%02x:%02x, %u rx / %u tx descriptors, "
            "itr %u/s, gsi %d, link %s\n", p->bus, p->slot, p->func, d->mac[0], d->mac[1], d->mac[2],
            d->mac[3], d->mac[4], d->mac[5], d->rx.n, d->tx.n, d->itr_per_sec, p->gsi,
            d->link_up ? "up" : "down");
    return 0;
}
INITCALL(INIT_DRIVER, e1000_probe);
