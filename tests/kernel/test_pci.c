/* In-guest tests of PCI enumeration and resource assignment (kernel/pci.c, pci_assign.c):
 * they hold for whatever firmware booted us (SeaBIOS assigns the BARs itself; qboot, the
 * fast path, leaves them to kernel/pci_assign.c). */
#include "ktest.h"
#include "pci.h"

static uint64_t bar_reg(struct pci_dev *d, int j)
{
    uint64_t v = pci_read32(d, 0x10 + j * 4);
    v &= d->bar_is_io[j] ? ~3ull : ~0xFull;
    if (d->bar_is_64[j])
        v |= (uint64_t)pci_read32(d, 0x14 + j * 4) << 32;
    return v & (d->bar_is_io[j] ? 0xFFFFull : ~0ull);
}

static struct pci_dev *bridge_to(uint8_t bus)
{
    for (int i = 0; i < pci_count(); i++)
        if (pci_get(i)->secondary_bus == bus)
            return pci_get(i);
    return NULL;
}

KTEST(pci_bars_aligned_disjoint_and_as_the_device_says)
{
    int n = pci_count(), bars = 0;
    for (int i = 0; i < n; i++) {
        struct pci_dev *d = pci_get(i);
        for (int j = 0; j < 6; j++) {
            if (!d->bar_size[j])
                continue;
            KT_NE(d->bar[j], 0);                        /* every BAR has an address */
            KT_EQ(bar_reg(d, j), d->bar[j]);            /* and the device decodes there */
            KT_EQ(d->bar[j] & (d->bar_size[j] - 1), 0); /* naturally aligned */
            KT_NE(pci_read16(d, 0x04) & (d->bar_is_io[j] ? 1 : 2), 0);   /* decoding on */
            bars++;
            for (int k = 0; k < n; k++)
                for (int m = 0; m < 6; m++) {
                    struct pci_dev *o = pci_get(k);
                    if ((k == i && m == j) || !o->bar_size[m] || o->bar_is_io[m] != d->bar_is_io[j])
                        continue;
                    bool apart = o->bar[m] + o->bar_size[m] <= d->bar[j] ||
                                 d->bar[j] + d->bar_size[j] <= o->bar[m];
                    KT_ASSERT(apart);
                }
        }
    }
    KT_GE(bars, 3);                                     /* a disk, a NIC: at least */
}

KTEST(pci_devices_behind_bridges_inside_their_windows)
{
    int behind = 0;
    for (int i = 0; i < pci_count(); i++) {
        struct pci_dev *d = pci_get(i);
        if (d->bus == 0)
            continue;
        struct pci_dev *b = bridge_to(d->bus);
        KT_ASSERT(b != NULL);
        KT_GE(d->bus, b->secondary_bus);
        KT_LE(d->bus, b->subordinate_bus);
        KT_NE(pci_read16(b, 0x04) & 0x4, 0);            /* its driver's pci_enable: the bridge forwards DMA up */
        uint32_t w = pci_read32(b, 0x20);
        uint64_t lo = (uint64_t)(w & 0xFFF0) << 16, hi = ((uint64_t)(w >> 16 & 0xFFF0) << 16) | 0xFFFFF;
        uint32_t pw = pci_read32(b, 0x24);
        uint64_t plo = ((uint64_t)(pw & 0xFFF0) << 16) | (uint64_t)pci_read32(b, 0x28) << 32;
        uint64_t phi = (((uint64_t)(pw >> 16 & 0xFFF0) << 16) | 0xFFFFF) | (uint64_t)pci_read32(b, 0x2C) << 32;
        for (int j = 0; j < 6; j++) {
            if (!d->bar_size[j] || d->bar_is_io[j])
                continue;
            uint64_t a = d->bar[j], e = a + d->bar_size[j] - 1;
            bool in_mem = a >= lo && e <= hi, in_pref = plo <= phi && a >= plo && e <= phi;
            KT_ASSERT(in_mem || in_pref);
            behind++;
        }
    }
    if (!behind)
        KTEST_SKIP("no device with a memory BAR behind a bridge (run.sh --nic virtio puts one there)");
}

KTEST(pci_kernel_assignment_stays_in_its_windows)
{
    if (!pci_assigned_count())
        KTEST_SKIP("the firmware assigned the BARs (SeaBIOS): kernel/pci_assign.c did not run");
    for (int i = 0; i < pci_count(); i++) {
        struct pci_dev *d = pci_get(i);
        for (int j = 0; j < 6; j++) {
            if (!d->bar_size[j])
                continue;
            uint64_t lo = d->bar_is_io[j] ? PCI_IO_WINDOW_BASE : PCI_MEM_WINDOW_BASE;
            uint64_t hi = d->bar_is_io[j] ? PCI_IO_WINDOW_END : PCI_MEM_WINDOW_END;
            KT_GE(d->bar[j], lo);
            KT_LE(d->bar[j] + d->bar_size[j], hi);
        }
    }
}
