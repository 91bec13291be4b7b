/*
 * The AHCI controller: find it on PCI, reset it into AHCI mode, wire its interrupt
 * (MSI, or INTx through the IOAPIC), bring up every port and IDENTIFY the disks.
 * The handler is a hooked disk source: it clears each port's status, then the HBA's,
 * and leaves the rest to completion WTDs (ahci_cmd.c).
 */
#include "ahci_internal.h"
#include "pci.h"
#include "irq.h"
#include "mm.h"
#include "io.h"
#include "time.h"
#include "string.h"
#include "printf.h"
#include "init.h"
#include "kopt.h"

static struct ahci_hba hba;
static const char *opt_intx_value;
static bool opt_intx;
KOPT_FLAG("ahci.intx", opt_intx_value, opt_intx, "AHCI: use the INTx line through the IOAPIC instead of MSI");
static struct ahci_disk *disks[AHCI_MAX_PORTS];
static int ndisks;

int ahci_disk_count(void) { return ndisks; }
struct ahci_disk *ahci_get_disk(int i) { return i >= 0 && i < ndisks ? disks[i] : NULL; }
void ahci_get_info(struct ahci_disk *d, struct ahci_disk_info *out) { *out = d->port.info; }

void ahci_get_stats(struct ahci_disk *d, struct ahci_stats *out)
{
    uint64_t f = irq_save();
    *out = d->port.st;
    irq_restore(f);
}

static void ahci_isr(void *arg)
{
    struct ahci_hba *h = arg;
    uint32_t is = hba_read(h, HBA_IS);
    for (uint32_t m = is; m; m &= m - 1) {
        int n = __builtin_ctz(m);
        if (h->ports[n])
            ahci_port_isr(h->ports[n]);
        else
            *(volatile uint32_t *)(h->abar + PORT_BASE(n) + PX_IS) = 0xFFFFFFFF;
    }
    hba_write(h, HBA_IS, is);
}

static bool hba_reset(struct ahci_hba *h)
{
    hba_write(h, HBA_GHC, hba_read(h, HBA_GHC) | GHC_AE);
    hba_write(h, HBA_GHC, hba_read(h, HBA_GHC) | GHC_HR);
    uint64_t deadline = now_ns() + 1000000000ULL;
    while (hba_read(h, HBA_GHC) & GHC_HR) {
        if (now_ns() > deadline)
            return false;
        thread_sleep_ms(1);
    }
    hba_write(h, HBA_GHC, hba_read(h, HBA_GHC) | GHC_AE);   /* reset cleared it */
    return true;
}

static struct pci_dev *find_controller(void)
{
    struct pci_dev *d = pci_find(0x8086, 0x2922);
    for (int i = 0; !d && i < pci_count(); i++) {
        struct pci_dev *c = pci_get(i);
        if (c->class_code == 0x01 && c->subclass == 0x06 && c->prog_if == 0x01)
            d = c;                          /* any AHCI 1.0 controller */
    }
    return d;
}

static int ahci_init(void)
{
    struct pci_dev *dev = find_controller();
    if (!dev) {
        kprintf("ahci: no AHCI controller\n");
        return 0;
    }
    pci_enable(dev);
    if (!dev->bar[5] || dev->bar_is_io[5]) {
        kprintf("ahci: controller without a memory BAR5\n");
        return -AHCI_ENODEV;
    }
    hba.abar = (uintptr_t)dev->bar[5];
    if (!hba_reset(&hba)) {
        kprintf("ahci: HBA reset does not finish\n");
        return -AHCI_ETIMEDOUT;
    }
    hba.cap = hba_read(&hba, HBA_CAP);
    hba.pi = hba_read(&hba, HBA_PI);

    hba.vector = opt_intx ? -1 : irq_alloc_vector();
    if (hba.vector >= 0 && irq_register(hba.vector, ahci_isr, &hba, IRQ_HOOKED_DISK, "ahci") >= 0 &&
        pci_enable_msi(dev, hba.vector)) {
        hba.msi = true;
    } else if (irq_route_gsi(dev->gsi, ahci_isr, &hba, IRQ_HOOKED_DISK, "ahci") < 0) {
        kprintf("ahci: no interrupt (gsi %d)\n", dev->gsi);
        return -AHCI_ENODEV;
    }

    uint32_t nslots = CAP_NCS(hba.cap);
    for (int n = 0; n < AHCI_MAX_PORTS; n++) {
        if (!(hba.pi & (1u << n)))
            continue;
        struct ahci_disk *d = kzalloc(sizeof *d);
        if (!d)
            return -AHCI_ENOMEM;
        struct ahci_port *p = &d->port;
        p->hba = &hba;
        p->num = n;
        p->regs = hba.abar + PORT_BASE(n);
        p->nslots = nslots;
        p->info.port = n;
        p->info.slots = nslots;
        waitq_init(&p->slot_wq, "ahci-slot");
        mutex_init(&p->recover_lock, "ahci-recover");
        wtd_init(&p->recover_wtd, ahci_recover_wtd, p);
        for (uint32_t i = 0; i < AHCI_MAX_SLOTS; i++)
            wtd_init(&p->slots[i].done_wtd, ahci_slot_done_wtd, &p->slots[i]);
        int r = ahci_port_setup(p);
        if (r <= 0) {
            kfree(d);
            continue;
        }
        hba.ports[n] = p;
        disks[ndisks++] = d;
    }
    hba_write(&hba, HBA_IS, 0xFFFFFFFF);
    hba_write(&hba, HBA_GHC, hba_read(&hba, HBA_GHC) | GHC_IE);

    kprintf("ahci: %02x:%02x.%x AHCI %x.%x, %u slots, ports %08x, %s vector %d\n", dev->bus, dev->slot,
            dev->func, hba_read(&hba, HBA_VS) >> 16, (hba_read(&hba, HBA_VS) >> 8) & 0xFF, nslots, hba.pi,
            hba.msi ? "MSI" : "INTx", hba.msi ? hba.vector : VEC_GSI_BASE + dev->gsi);
    for (int i = 0; i < ndisks; i++) {
        struct ahci_port *p = &disks[i]->port;
        int r = ahci_identify(p);
        if (r) {
            kprintf("ahci: port %d: IDENTIFY failed (%d)\n", p->num, r);
            continue;
        }
        kprintf("ahci: port %d: '%s' %lu sectors of %u bytes (%lu MiB)%s, DMA EXT, %u commands in flight\n",
                p->num, p->info.model, p->info.sectors, p->info.sector_size,
                p->info.sectors * p->info.sector_size >> 20, p->info.lba48 ? ", LBA48" : "", p->nslots);
    }
    /* disks whose IDENTIFY failed are not offered */
    int k = 0;
    for (int i = 0; i < ndisks; i++)
        if (disks[i]->port.info.sectors)
            disks[k++] = disks[i];
    ndisks = k;
    return 0;
}
INITCALL(INIT_DRIVER, ahci_init);
