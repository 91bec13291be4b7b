/*
 * PCI resource assignment, for firmware that leaves BARs unassigned (QEMU's qboot, the
 * fast boot path) or when pci.assign asks for it.
 *
 * Two passes over the tree that kernel/pci.c enumerated (buses already numbered):
 *   1. bottom up, each bridge's need: the sum of what its secondary bus holds, per kind
 *      (memory, I/O), rounded to the bridge's window granularity (1 MiB, 4 KiB);
 *   2. top down, each bus's items (BARs, and bridge windows sized by pass 1) placed in
 *      falling order of alignment, then each bridge's bus inside the window it got.
 * Every BAR size is a power of two and its own alignment, and a bridge window is a whole
 * number of its granules, so placing in falling alignment leaves no gaps: a bus takes
 * exactly the sum of its items, which is what pass 1 reserved for it.
 *
 * Prefetchable BARs (virtio's 64-bit BAR 4) go into the plain memory window below 4 GiB,
 * which any bridge forwards; the prefetchable windows stay closed.  Expansion ROMs stay off.
 * Runs once at INIT_BUS before any driver, single-threaded: no lock.
 */
#include "pci_internal.h"
#include "printf.h"

#define MAX_FUNCS 64
#define MEM_GRAN 0x100000ull              /* a bridge's memory window: 1 MiB units */
#define IO_GRAN  0x1000ull                /* its I/O window: 4 KiB units */
#define MAX_DEPTH 8

struct window { uint64_t next, end; };

static uint64_t need[2][MAX_FUNCS];        /* [io][device]: a bridge's window size */
static uint64_t base[2][MAX_FUNCS];        /* [io][device]: where it was placed */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static bool is_bridge(const struct pci_dev *d) { return d->secondary_bus != 0; }

/* Item j of device d of one kind: BAR j (0..5) or, for a bridge, its window (j == 6). */
static bool item(const struct pci_dev *d, int di, int j, int io, uint64_t *size, uint64_t *align)
{
    if (j == 6) {
        if (!is_bridge(d) || !need[io][di])
            return false;
        *size = need[io][di];
        *align = io ? IO_GRAN : MEM_GRAN;
        return true;
    }
    if (is_bridge(d) || !d->bar_size[j] || d->bar_is_io[j] != io)
        return false;
    *size = d->bar_size[j];
    *align = *size < 16 ? 16 : *size;
    if (*size < *align)
        *size = *align;
    return true;
}

static uint64_t bus_sum(struct pci_dev *devs, int n, uint8_t bus, int io)
{
    uint64_t sum = 0, size, align;
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= 6; j++)
            if (devs[i].bus == bus && item(&devs[i], i, j, io, &size, &align))
                sum += size;
    return sum;
}

static void size_bridges(struct pci_dev *devs, int n, uint8_t bus, int depth)
{
    for (int i = 0; i < n; i++) {
        if (devs[i].bus != bus || !is_bridge(&devs[i]) || depth >= MAX_DEPTH)
            continue;
        size_bridges(devs, n, devs[i].secondary_bus, depth + 1);
        need[0][i] = align_up(bus_sum(devs, n, devs[i].secondary_bus, 0), MEM_GRAN);
        need[1][i] = align_up(bus_sum(devs, n, devs[i].secondary_bus, 1), IO_GRAN);
    }
}

static void write_bar(struct pci_dev *d, int j, uint64_t addr)
{
    uint8_t off = 0x10 + j * 4;
    pci_write32(d, off, (uint32_t)addr);
    if (d->bar_is_64[j])
        pci_write32(d, off + 4, (uint32_t)(addr >> 32));
    d->bar[j] = addr;
}

/* A bridge's windows: [base, base + need) of each kind, closed (base above limit) if none. */
static void write_windows(struct pci_dev *d, int di)
{
    uint64_t m = base[0][di], ms = need[0][di], io = base[1][di], ios = need[1][di];
    if (ms)
        pci_write32(d, 0x20, (uint32_t)(((m + ms - 1) >> 16) & 0xFFF0) << 16 | (uint32_t)((m >> 16) & 0xFFF0));
    else
        pci_write32(d, 0x20, 0x0000FFF0);
    pci_write32(d, 0x24, 0x0000FFF0);                   /* prefetchable: closed */
    pci_write32(d, 0x28, 0);
    pci_write32(d, 0x2C, 0);
    if (ios)
        pci_write16(d, 0x1C, (uint16_t)((((io + ios - 1) >> 8) & 0xF0) << 8 | ((io >> 8) & 0xF0)));
    else
        pci_write16(d, 0x1C, 0x00F0);
    pci_write32(d, 0x30, 0);                             /* I/O upper 16 bits: none */
}

static int place_bus(struct pci_dev *devs, int n, uint8_t bus, struct window w[2], int depth)
{
    int placed = 0;
    bool short_of_space = false;
    for (int i = 0; i < n; i++)
        if (devs[i].bus == bus)
            pci_write16(&devs[i], 0x04, pci_read16(&devs[i], 0x04) & ~0x3);   /* decoding off */
    for (int io = 0; io < 2; io++)
        for (int k = 31; k >= 0; k--)
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= 6; j++) {
                    uint64_t size, align;
                    if (devs[i].bus != bus || !item(&devs[i], i, j, io, &size, &align) ||
                        align != 1ull << k)
                        continue;
                    uint64_t at = align_up(w[io].next, align);
                    if (at + size > w[io].end || at + size < at) {
                        short_of_space = true;
                        if (j == 6)
                            need[io][i] = 0;            /* the bus behind gets none of this kind */
                        else
                            devs[i].bar[j] = 0;
                        continue;
                    }
                    w[io].next = at + size;
                    if (j == 6)
                        base[io][i] = at;
                    else
                        write_bar(&devs[i], j, at);
                    placed++;
                }
    for (int i = 0; i < n; i++) {
        struct pci_dev *d = &devs[i];
        if (d->bus != bus)
            continue;
        uint16_t cmd = pci_read16(d, 0x04);
        if (is_bridge(d)) {
            write_windows(d, i);
            pci_write16(d, 0x04, cmd | 0x7);             /* forward both kinds and DMA up */
            if (depth + 1 < MAX_DEPTH) {
                struct window cw[2] = { { base[0][i], base[0][i] + need[0][i] },
                                        { base[1][i], base[1][i] + need[1][i] } };
                int r = place_bus(devs, n, d->secondary_bus, cw, depth + 1);
                if (r < 0)
                    short_of_space = true;
                else
                    placed += r;
            }
            continue;
        }
        /* decode a kind only if every BAR of it has an address: one left out keeps the
         * firmware's value, which may overlap something */
        uint16_t on = 0, missing = 0;
        for (int j = 0; j < 6; j++)
            if (d->bar_size[j])
                *(d->bar[j] ? &on : &missing) |= d->bar_is_io[j] ? 0x1 : 0x2;
        pci_write16(d, 0x04, cmd | (on & ~missing));
    }
    return short_of_space ? -1 : placed;
}

int pci_assign_resources(struct pci_dev *devs, int n)
{
    if (n > MAX_FUNCS)
        n = MAX_FUNCS;
    for (int i = 0; i < n; i++)
        need[0][i] = need[1][i] = base[0][i] = base[1][i] = 0;
    size_bridges(devs, n, 0, 0);
    struct window w[2] = { { PCI_MEM_WINDOW_BASE, PCI_MEM_WINDOW_END },
                           { PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_END } };
    return place_bus(devs, n, 0, w, 0);
}
