#include "pci_internal.h"
#include "kopt.h"
#include "io.h"
#include "printf.h"
#include "console.h"
#include "init.h"

#define MAX_PCI 64
static struct pci_dev devs[MAX_PCI];
static int ndevs;

static uint32_t cfg_addr(uint8_t bus, uint8_t slot, uint8_t func, uint8_t off)
{
    return 0x80000000u | (bus << 16) | (slot << 11) | (func << 8) | (off & 0xFC);
}
static uint32_t cfg_read(uint8_t b, uint8_t s, uint8_t f, uint8_t off)
{
    outl(0xCF8, cfg_addr(b, s, f, off));
    return inl(0xCFC);
}
static void cfg_write(uint8_t b, uint8_t s, uint8_t f, uint8_t off, uint32_t v)
{
    outl(0xCF8, cfg_addr(b, s, f, off));
    outl(0xCFC, v);
}

uint32_t pci_read32(struct pci_dev *d, uint8_t off) { return cfg_read(d->bus, d->slot, d->func, off); }
void pci_write32(struct pci_dev *d, uint8_t off, uint32_t v) { cfg_write(d->bus, d->slot, d->func, off, v); }
uint16_t pci_read16(struct pci_dev *d, uint8_t off) { return pci_read32(d, off & ~3) >> ((off & 2) * 8); }
void pci_write16(struct pci_dev *d, uint8_t off, uint16_t v)
{
    uint32_t old = pci_read32(d, off & ~3);
    int sh = (off & 2) * 8;
    pci_write32(d, off & ~3, (old & ~(0xFFFFu << sh)) | ((uint32_t)v << sh));
}

/* q35 (ICH9) INTx: devices on slots 25-31 use the chipset's PIRQA-D in pin order;
 * other slots swizzle onto PIRQE-H; PIRQ A-H are IOAPIC inputs 16-23. */
static int q35_gsi(uint8_t slot, uint8_t pin)
{
    if (pin == 0)
        return -1;
    if (slot >= 25)
        return 16 + ((pin - 1) & 3);
    return 16 + 4 + ((slot + pin - 1) & 3);
}

/* INTx behind PCI(e) bridges: a device's pin is swizzled by its slot at each bridge on
 * the way up (PCI-to-PCI bridge spec 9.1; QEMU's pcie-root-port does the same), and the
 * bridge's own slot on bus 0 picks the chipset line.  -1 if no bridge leads to the bus. */
static int bridge_gsi(uint8_t bus, uint8_t slot, uint8_t pin, int depth)
{
    if (pin == 0 || depth > 8)
        return -1;
    if (bus == 0)
        return q35_gsi(slot, pin);
    for (int i = 0; i < ndevs; i++) {
        struct pci_dev *b = &devs[i];
        if (b->secondary_bus == bus && b->secondary_bus != 0)
            return bridge_gsi(b->bus, b->slot, (uint8_t)(((pin - 1 + slot) & 3) + 1), depth + 1);
    }
    return -1;
}

void pci_probe_bars(struct pci_dev *d)
{
    /* sizing writes all ones: with decoding on, the BAR would briefly claim the top of the
     * address space (the APICs) */
    uint16_t cmd = pci_read16(d, 0x04);
    pci_write16(d, 0x04, cmd & ~0x3);
    for (int i = 0; i < 6; i++) {
        uint8_t off = 0x10 + i * 4;
        uint32_t orig = pci_read32(d, off);
        pci_write32(d, off, 0xFFFFFFFF);
        uint32_t mask = pci_read32(d, off);
        pci_write32(d, off, orig);
        d->bar[i] = d->bar_size[i] = 0;
        d->bar_is_io[i] = d->bar_is_64[i] = false;
        if (mask == 0 || mask == 0xFFFFFFFF)
            continue;
        if (orig & 1) {
            d->bar_is_io[i] = true;
            d->bar[i] = orig & ~3u;
            d->bar_size[i] = (~(mask & ~3u) + 1) & 0xFFFF;
        } else if (((orig >> 1) & 3) == 2 && i < 5) {     /* 64-bit BAR */
            uint32_t hi = pci_read32(d, off + 4);
            d->bar_is_64[i] = true;
            d->bar[i] = (orig & ~0xFull) | (uint64_t)hi << 32;
            d->bar_size[i] = (~(uint64_t)(mask & ~0xFu) + 1) & 0xFFFFFFFF;
            i++;
        } else {
            d->bar[i] = orig & ~0xFu;
            d->bar_size[i] = (~(uint64_t)(mask & ~0xFu) + 1) & 0xFFFFFFFF;
        }
    }
    pci_write16(d, 0x04, cmd);
}

static void find_msi(struct pci_dev *d)
{
    if (!(pci_read16(d, 0x06) & 0x10))
        return;
    uint8_t p = pci_read32(d, 0x34) & 0xFC;
    for (int guard = 0; p && guard < 48; guard++) {
        uint32_t cap = pci_read32(d, p);
        if ((cap & 0xFF) == 0x05) {
            d->msi_cap = p;
            return;
        }
        p = (cap >> 8) & 0xFC;
    }
}

static bool opt_assign;
static const char *opt_assign_value;
KOPT_FLAG("pci.assign", opt_assign_value, opt_assign, "pci: place every BAR and bridge window afresh, as for a firmware that assigns none");
static int assigned;
static uint8_t next_bus = 1;

/* Bus numbers: a bridge the firmware left unnumbered (secondary 0) gets the next free bus
 * and the tree below it is numbered depth first, as PCI firmware does. */
static void scan_bus(uint8_t bus, int depth)
{
    for (int slot = 0; slot < 32; slot++)
        for (int func = 0; func < 8; func++) {
            uint32_t id = cfg_read(bus, slot, func, 0);
            if ((id & 0xFFFF) == 0xFFFF) {
                if (func == 0)
                    break;
                continue;
            }
            if (ndevs == MAX_PCI) {         /* said once: the callers up the tree stop here too */
                static bool said;
                if (!said)
                    kprintf("pci: more than %d functions, %02x:%02x.%x and later ignored\n", MAX_PCI, bus, slot, func);
                said = true;
                return;
            }
            struct pci_dev *d = &devs[ndevs++];
            d->bus = bus; d->slot = slot; d->func = func;
            d->vendor = id & 0xFFFF;
            d->device = id >> 16;
            uint32_t cls = cfg_read(bus, slot, func, 8);
            d->class_code = cls >> 24; d->subclass = cls >> 16; d->prog_if = cls >> 8;
            d->irq_pin = (cfg_read(bus, slot, func, 0x3C) >> 8) & 0xFF;
            d->gsi = bus == 0 ? q35_gsi(slot, d->irq_pin) : -1;
            if (((cfg_read(bus, slot, func, 0x0C) >> 16) & 0x7F) == 1) {     /* a bridge */
                uint32_t busreg = cfg_read(bus, slot, func, 0x18);
                uint8_t sec = (busreg >> 8) & 0xFF;
                if (sec != 0 && sec >= next_bus) {
                    d->secondary_bus = sec;
                    d->subordinate_bus = (busreg >> 16) & 0xFF;
                    next_bus = d->subordinate_bus >= sec ? d->subordinate_bus + 1 : sec + 1;
                    if (depth < 8)
                        scan_bus(sec, depth + 1);
                } else if (next_bus != 0 && depth < 8) {     /* unnumbered (or numbered below us) */
                    sec = next_bus++;
                    cfg_write(bus, slot, func, 0x18, (busreg & 0xFF000000) | 0xFF0000u | (uint32_t)sec << 8 | bus);
                    scan_bus(sec, depth + 1);
                    d->secondary_bus = sec;
                    d->subordinate_bus = (uint8_t)(next_bus - 1);
                    cfg_write(bus, slot, func, 0x18, (busreg & 0xFF000000) |
                              (uint32_t)d->subordinate_bus << 16 | (uint32_t)sec << 8 | bus);
                }
            } else {
                pci_probe_bars(d);
            }
            find_msi(d);
            if (func == 0 && !(cfg_read(bus, slot, 0, 0x0C) & 0x800000))
                break;                  /* not multi-function */
        }
}

static int pci_init(void)
{
    scan_bus(0, 0);
    bool unassigned = opt_assign;
    for (int i = 0; i < ndevs && !unassigned; i++)
        for (int b = 0; b < 6; b++)
            if (devs[i].bar_size[b] && !devs[i].bar[b])
                unassigned = true;
    if (unassigned) {
        assigned = pci_assign_resources(devs, ndevs);
        if (assigned < 0)
            kprintf("pci: the address windows are too small for every BAR: devices without one are skipped\n");
    }
    for (int i = 0; i < ndevs; i++)
        if (devs[i].bus != 0)
            devs[i].gsi = bridge_gsi(devs[i].bus, devs[i].slot, devs[i].irq_pin, 0);
    if (assigned > 0)
        kprintf("pci: %d devices, %d BARs and windows placed (%s)\n", ndevs, assigned,
                opt_assign ? "pci.assign" : "the firmware left them unassigned");
    else
        kprintf("pci: %d devices\n", ndevs);
    return 0;
}
INITCALL(INIT_BUS, pci_init);

int pci_assigned_count(void) { return assigned > 0 ? assigned : 0; }
int pci_count(void) { return ndevs; }
struct pci_dev *pci_get(int i) { return i >= 0 && i < ndevs ? &devs[i] : NULL; }

struct pci_dev *pci_find(uint16_t vendor, uint16_t device)
{
    for (int i = 0; i < ndevs; i++)
        if (devs[i].vendor == vendor && devs[i].device == device)
            return &devs[i];
    return NULL;
}

/* The device and every bridge above it (as Linux's pci_enable_bridge): a bridge forwards
 * the device's DMA and MSI writes upstream only with its own bus mastering on, which
 * SeaBIOS leaves off (QEMU 7.2 forwards regardless; hardware does not). */
void pci_enable(struct pci_dev *d)
{
    for (int depth = 0; d && depth < 9; depth++) {
        pci_write16(d, 0x04, pci_read16(d, 0x04) | 0x7);    /* I/O, memory, bus master */
        struct pci_dev *up = NULL;
        for (int i = 0; d->bus != 0 && i < ndevs; i++)
            if (devs[i].secondary_bus == d->bus)
                up = &devs[i];
        d = up;
    }
}

bool pci_enable_msi(struct pci_dev *d, int vector)
{
    if (!d->msi_cap)
        return false;
    uint8_t c = d->msi_cap;
    uint16_t ctl = pci_read16(d, c + 2);
    pci_write32(d, c + 4, 0xFEE00000);                   /* to APIC 0 */
    if (ctl & 0x80) {                                    /* 64-bit address */
        pci_write32(d, c + 8, 0);
        pci_write16(d, c + 12, (uint16_t)vector);
    } else {
        pci_write16(d, c + 8, (uint16_t)vector);
    }
    ctl = (ctl & ~0x70) | 1;                             /* one vector, enable */
    pci_write16(d, c + 2, ctl);
    pci_write16(d, 0x04, pci_read16(d, 0x04) | 0x400);  /* INTx off */
    return true;
}

static void cmd_pci(int argc, char **argv)
{
    for (int i = 0; i < ndevs; i++) {
        struct pci_dev *d = &devs[i];
        kprintf("  %02x:%02x.%x %04x:%04x class %02x.%02x pin %u gsi %d msi %s", d->bus, d->slot,
                d->func, d->vendor, d->device, d->class_code, d->subclass, d->irq_pin, d->gsi,
                d->msi_cap ? "yes" : "no");
        for (int b = 0; b < 6; b++)
            if (d->bar[b])
                kprintf(" bar%d %s %lx+%lx", b, d->bar_is_io[b] ? "io" : "mem", d->bar[b], d->bar_size[b]);
        kprintf("\n");
    }
}
CONSOLE_COMMAND("pci", "list PCI devices", cmd_pci);
