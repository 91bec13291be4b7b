#include "apic.h"
#include "io.h"
#include "irq.h"

#define LAPIC_BASE    0xFEE00000UL
#define IOAPIC_BASE   0xFEC00000UL
#define LAPIC_EOI     0x0B0
#define LAPIC_SVR     0x0F0
#define LAPIC_ICR_LO  0x300
#define LAPIC_ICR_HI  0x310
#define LAPIC_LVT_TMR 0x320
#define LAPIC_TMR_INIT 0x380
#define LAPIC_TMR_CUR 0x390
#define LAPIC_TMR_DIV 0x3E0

static inline void lapic_w(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
static inline uint32_t lapic_r(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }

static void ioapic_w(uint32_t reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE, reg);
    mmio_write32(IOAPIC_BASE + 0x10, v);
}
static uint32_t ioapic_r(uint32_t reg)
{
    mmio_write32(IOAPIC_BASE, reg);
    return mmio_read32(IOAPIC_BASE + 0x10);
}

void apic_init(void)
{
    /* Remap and mask the legacy PICs so their spurious vectors stay out of the exception range. */
    outb(0x20, 0x11); outb(0xA0, 0x11);
    outb(0x21, 0x20); outb(0xA1, 0x28);
    outb(0x21, 4);    outb(0xA1, 2);
    outb(0x21, 1);    outb(0xA1, 1);
    outb(0x21, 0xFF); outb(0xA1, 0xFF);

    wrmsr(0x1B, (rdmsr(0x1B) & ~0xFFFULL) | LAPIC_BASE | (1 << 11));   /* APIC global enable */
    lapic_w(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_w(LAPIC_LVT_TMR, 1 << 16);                                     /* masked for now */

    uint32_t max = (ioapic_r(1) >> 16) & 0xFF;
    for (uint32_t i = 0; i <= max; i++) {
        ioapic_w(0x10 + 2 * i, 1 << 16);
        ioapic_w(0x11 + 2 * i, 0);
    }
}

void lapic_eoi(void) { lapic_w(LAPIC_EOI, 0); }

/* Counts LAPIC timer ticks (divide by 16) while PIT channel 2 counts down pit_ticks. */
uint64_t lapic_calibrate(uint64_t pit_ticks)
{
    lapic_w(LAPIC_TMR_DIV, 3);
    lapic_w(LAPIC_TMR_INIT, 0xFFFFFFFF);
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    outb(0x43, 0xB0);
    outb(0x42, pit_ticks & 0xFF);
    outb(0x42, (pit_ticks >> 8) & 0xFF);
    uint32_t start = lapic_r(LAPIC_TMR_CUR);
    while (!(inb(0x61) & 0x20))
        ;
    uint32_t end = lapic_r(LAPIC_TMR_CUR);
    return start - end;
}

void lapic_timer_start(uint32_t hz, uint64_t lapic_ticks_per_sec)
{
    lapic_w(LAPIC_TMR_DIV, 3);
    lapic_w(LAPIC_LVT_TMR, VEC_TIMER | (1 << 17));   /* periodic */
    lapic_w(LAPIC_TMR_INIT, (uint32_t)(lapic_ticks_per_sec / hz));
}

void lapic_self_ipi(int vector)
{
    lapic_w(LAPIC_ICR_HI, 0);
    lapic_w(LAPIC_ICR_LO, (uint32_t)vector | (1 << 18) | (1 << 14));   /* shorthand: self, assert */
}

/* Delivery mode NMI (100b), edge: the interrupt arrives however long interrupts stay off. */
void ioapic_route_nmi(int gsi)
{
    ioapic_w(0x11 + 2 * gsi, 0);
    ioapic_w(0x10 + 2 * gsi, 2 | (4u << 8));
}

void ioapic_mask(int gsi) { ioapic_w(0x10 + 2 * gsi, 1 << 16); }

void ioapic_route(int gsi, int vector, bool level, bool active_low)
{
    uint32_t lo = (uint32_t)vector | (level ? 1 << 15 : 0) | (active_low ? 1 << 13 : 0);
    ioapic_w(0x11 + 2 * gsi, 0);            /* destination: APIC 0 */
    ioapic_w(0x10 + 2 * gsi, lo);
}
