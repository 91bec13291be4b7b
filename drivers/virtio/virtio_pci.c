/*
 * The virtio 1.0 PCI transport, modern interface only (virtio 1.0 section 4.1): the
 * vendor capabilities name the common, notify, ISR and device-specific configuration
 * structures inside a memory BAR.  A transitional device (on q35's pcie.0) also has a
 * legacy I/O BAR, which is ignored; a device behind a pcie-root-port is modern-only.
 * Both are driven the same way.
 *
 * Interrupts are hooked sources (the ISR exit hook preempts into a WTD worker, exactly
 * as for the e1000 and AHCI): MSI-X with one vector per queue and one for configuration
 * changes, or INTx through the IOAPIC (virtio.intx, or when MSI-X cannot be set up),
 * where reading the ISR byte acknowledges the line and says which kind it was.
 */
#include "virtio_internal.h"
#include "pci.h"
#include "irq.h"
#include "mm.h"
#include "io.h"
#include "kopt.h"
#include "printf.h"
#include "string.h"

static const char *opt_intx_value;
bool virtio_opt_intx;
KOPT_FLAG("virtio.intx", opt_intx_value, virtio_opt_intx, "virtio: use INTx through the IOAPIC instead of MSI-X");

#define MAX_VIRTIO 8
static struct virtio_dev *registry[MAX_VIRTIO];
static int nregistry;

void virtio_register(struct virtio_dev *d)
{
    if (nregistry < MAX_VIRTIO)
        registry[nregistry++] = d;
}
int virtio_count(void) { return nregistry; }
struct virtio_dev *virtio_get(int i) { return i >= 0 && i < nregistry ? registry[i] : NULL; }

/* A BAR region as a pointer: below 4 GiB it is in the identity map; above, mapped here. */
static volatile uint8_t *map_region(struct pci_dev *p, uint8_t bar, uint32_t off, uint32_t len)
{
    if (bar > 5 || p->bar_is_io[bar] || !p->bar[bar] || (uint64_t)off + len > p->bar_size[bar])
        return NULL;
    uint64_t pa = p->bar[bar] + off;
    if (pa + len > PHYS_LIMIT) {
        for (uint64_t a = ALIGN_DOWN(pa, PAGE_SIZE); a < pa + len; a += PAGE_SIZE)
            if (!vmm_translate(a) && !vmm_map_page(a, a, PTE_W | PTE_NX))
                return NULL;
    }
    return (volatile uint8_t *)(uintptr_t)pa;
}

int virtio_pci_init(struct virtio_dev *d, struct pci_dev *p, uint32_t type, const char *kind)
{
    d->pci = p;
    d->type = type;
    d->config_vector = -1;
    d->gsi = p->gsi;
    ksnprintf(d->name, sizeof d->name, "%s %02x:%02x.%x", kind, p->bus, p->slot, p->func);
    for (int b = 0; b < 6; b++)
        if (p->bar_is_io[b] && p->bar[b])
            d->transitional = true;
    pci_enable(p);
    if (!(pci_read16(p, 0x06) & 0x10)) {
        kprintf("%s: no capability list (a legacy-only device): skipped\n", d->name);
        return -19;
    }
    uint8_t c = pci_read32(p, 0x34) & 0xFC;
    for (int guard = 0; c && guard < 48; guard++) {
        uint32_t w0 = pci_read32(p, c);
        uint8_t id = w0 & 0xFF, next = (w0 >> 8) & 0xFC;
        if (id == 0x11) {
            d->msix_cap = c;
        } else if (id == 0x09) {                    /* vendor-specific: a virtio structure */
            uint8_t cfg_type = (w0 >> 24) & 0xFF;
            uint8_t bar = pci_read32(p, c + 4) & 0xFF;
            uint32_t off = pci_read32(p, c + 8), len = pci_read32(p, c + 12);
            volatile uint8_t *m = NULL;
            switch (cfg_type) {
            case VIRTIO_PCI_CAP_COMMON_CFG:
                if (!d->common && len >= sizeof(struct virtio_pci_common_cfg) &&
                    (m = map_region(p, bar, off, len)))
                    d->common = (volatile struct virtio_pci_common_cfg *)m;
                break;
            case VIRTIO_PCI_CAP_NOTIFY_CFG:
                if (!d->notify_base && (m = map_region(p, bar, off, len))) {
                    d->notify_base = (uintptr_t)m;
                    d->notify_mult = pci_read32(p, c + 16);
                }
                break;
            case VIRTIO_PCI_CAP_ISR_CFG:
                if (!d->isr && len >= 1 && (m = map_region(p, bar, off, len)))
                    d->isr = m;
                break;
            case VIRTIO_PCI_CAP_DEVICE_CFG:
                if (!d->devcfg && (m = map_region(p, bar, off, len)))
                    d->devcfg = m;
                break;
            }
        }
        c = next;
    }
    if (!d->common || !d->notify_base || !d->isr) {
        kprintf("%s: no usable virtio 1.0 capabilities (common %s, notify %s, isr %s): skipped\n", d->name,
                d->common ? "yes" : "no", d->notify_base ? "yes" : "no", d->isr ? "yes" : "no");
        return -19;
    }
    return 0;
}

void virtio_reset(struct virtio_dev *d)
{
    d->common->device_status = 0;
    /* the reset is done when the status reads back 0 (bounded: a broken device is skipped) */
    for (int i = 0; i < 1000000 && d->common->device_status; i++)
        cpu_relax();
}

uint64_t virtio_features_pick(uint64_t offered, uint64_t wanted, uint64_t required, int *missing)
{
    required |= 1ULL << VIRTIO_F_VERSION_1;
    uint64_t absent = required & ~offered;
    *missing = absent ? __builtin_ctzll(absent) : -1;
    return offered & (wanted | required);
}

static const char *feature_name(uint32_t type, int bit)
{
    switch (bit) {
    case VIRTIO_F_VERSION_1: return "VERSION_1";
    case VIRTIO_RING_F_INDIRECT_DESC: return "INDIRECT_DESC";
    case VIRTIO_RING_F_EVENT_IDX: return "EVENT_IDX";
    }
    if (type == VIRTIO_ID_BLK_TYPE && bit == 9)
        return "BLK_F_FLUSH";
    if (type == VIRTIO_ID_NET_TYPE && bit == 5)
        return "NET_F_MAC";
    return "?";
}

/* Writes the driver's features and FEATURES_OK; false if the device does not keep it. */
static bool write_features(volatile struct virtio_pci_common_cfg *cc, uint64_t f)
{
    cc->guest_feature_select = 0;
    cc->guest_feature = (uint32_t)f;
    cc->guest_feature_select = 1;
    cc->guest_feature = (uint32_t)(f >> 32);
    cc->device_status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    return cc->device_status & VIRTIO_CONFIG_S_FEATURES_OK;
}

int virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
    volatile struct virtio_pci_common_cfg *cc = d->common;
    virtio_reset(d);
    if (cc->device_status) {
        kprintf("%s: reset does not finish: skipped\n", d->name);
        return -5;
    }
    cc->device_status = VIRTIO_CONFIG_S_ACKNOWLEDGE;
    cc->device_status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    cc->device_feature_select = 0;
    uint64_t off = cc->device_feature;
    cc->device_feature_select = 1;
    off |= (uint64_t)cc->device_feature << 32;
    d->offered = off;
    int missing;
    uint64_t f = virtio_features_pick(off, wanted, required, &missing);
    if (missing >= 0) {
        kprintf("%s: the device does not offer feature %d (%s), which the driver needs: skipped\n", d->name,
                missing, feature_name(d->type, missing));
        cc->device_status = VIRTIO_CONFIG_S_FAILED;
        return -95;
    }
    if (!write_features(cc, f)) {
        kprintf("%s: the device refused features %lx (FEATURES_OK not kept): skipped\n", d->name, f);
        cc->device_status = VIRTIO_CONFIG_S_FAILED;
        return -95;
    }
    d->features = f;
    d->num_queues = cc->num_queues;
    return 0;
}

/* The selected queue's size and ring addresses. */
static void program_queue(volatile struct virtio_pci_common_cfg *cc, struct virtq *q)
{
    uint64_t da = (uintptr_t)q->desc, aa = (uintptr_t)q->avail, ua = (uintptr_t)q->used;
    cc->queue_size = q->num;
    cc->queue_desc_lo = (uint32_t)da;
    cc->queue_desc_hi = (uint32_t)(da >> 32);
    cc->queue_avail_lo = (uint32_t)aa;
    cc->queue_avail_hi = (uint32_t)(aa >> 32);
    cc->queue_used_lo = (uint32_t)ua;
    cc->queue_used_hi = (uint32_t)(ua >> 32);
}

int virtio_setup_queue(struct virtio_dev *d, struct virtq *q, const char *name, uint16_t index,
                       uint16_t max_num, uint16_t ind_max)
{
    volatile struct virtio_pci_common_cfg *cc = d->common;
    if (index >= d->num_queues || index >= VIRTIO_MAX_QUEUES) {
        kprintf("%s: no queue %u (the device has %u): skipped\n", d->name, index, d->num_queues);
        return -19;
    }
    cc->queue_select = index;
    uint16_t dev_num = cc->queue_size;
    uint16_t num = MIN(dev_num, max_num);
    while (num & (num - 1))             /* a power of two (split rings) */
        num &= (uint16_t)(num - 1);
    if (num < VQ_MIN_SIZE) {
        kprintf("%s: queue %u has %u entries, fewer than the %u the driver needs: skipped\n", d->name, index,
                dev_num, VQ_MIN_SIZE);
        return -28;
    }
    bool have_ind = virtio_has(d, VIRTIO_RING_F_INDIRECT_DESC);
    int r = vq_alloc(q, name, index, num, have_ind ? ind_max : 0);
    if (r < 0) {
        kprintf("%s: no memory for queue %u (%u entries)\n", d->name, index, num);
        return r;
    }
    q->event_idx = virtio_has(d, VIRTIO_RING_F_EVENT_IDX);
    q->indirect = have_ind && ind_max > 1;
    q->msix_vector = -1;
    program_queue(cc, q);
    q->notify = (volatile uint16_t *)(d->notify_base + (uintptr_t)cc->queue_notify_off * d->notify_mult);
    d->queues[index] = q;
    return 0;
}

/* Enables the queues set up (after vectors are assigned), in index order. */
static void enable_queues(struct virtio_dev *d)
{
    for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        if (!d->queues[i])
            continue;
        d->common->queue_select = i;
        d->common->queue_enable = 1;
    }
}

uint8_t virtio_cfg8(struct virtio_dev *d, uint32_t off) { return d->devcfg[off]; }
uint16_t virtio_cfg16(struct virtio_dev *d, uint32_t off) { return *(volatile uint16_t *)(d->devcfg + off); }
uint32_t virtio_cfg32(struct virtio_dev *d, uint32_t off) { return *(volatile uint32_t *)(d->devcfg + off); }
uint64_t virtio_cfg64(struct virtio_dev *d, uint32_t off)
{
    /* two 32-bit reads, repeated while the device changes the configuration under us */
    uint8_t gen;
    uint64_t v;
    do {
        gen = d->common->config_generation;
        v = virtio_cfg32(d, off) | (uint64_t)virtio_cfg32(d, off + 4) << 32;
    } while (gen != d->common->config_generation);
    return v;
}

/* ---- interrupts ---- */

struct vec_arg { struct virtio_dev *d; int queue; };     /* queue -1: configuration */
static struct vec_arg vec_args[MAX_VIRTIO][VIRTIO_MAX_QUEUES + 1];

static void msix_irq(void *arg)
{
    struct vec_arg *a = arg;
    a->d->irqs++;
    if (a->queue < 0) {
        a->d->config_irqs++;
        if (a->d->on_config_irq)
            a->d->on_config_irq(a->d);
        return;
    }
    if (a->d->queues[a->queue])
        a->d->queues[a->queue]->st.irqs++;
    a->d->on_queue_irq(a->d, a->queue);
}

static void intx_irq(void *arg)
{
    struct virtio_dev *d = arg;
    uint8_t isr = *d->isr;              /* reading acknowledges and lowers the line */
    d->irqs++;
    if (!isr) {
        d->irqs_spurious++;
        return;
    }
    if (isr & 1) {
        for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
            if (!d->queues[i])
                continue;
            d->queues[i]->st.irqs++;
            d->on_queue_irq(d, i);
        }
    }
    if (isr & VIRTIO_PCI_ISR_CONFIG) {
        d->config_irqs++;
        if (d->on_config_irq)
            d->on_config_irq(d);
    }
}

static void msix_entry(struct virtio_dev *d, int entry, int vector)
{
    volatile uint32_t *e = d->msix_table + 4 * entry;
    e[0] = 0xFEE00000;                  /* to APIC 0 */
    e[1] = 0;
    e[2] = (uint32_t)vector;
    e[3] = 0;                           /* unmasked */
}

static int setup_msix(struct virtio_dev *d, int slot, int kind)
{
    struct pci_dev *p = d->pci;
    uint8_t c = d->msix_cap;
    uint16_t ctl = pci_read16(p, c + 2);
    uint32_t nent = (ctl & 0x7FF) + 1u;
    uint32_t tbl = pci_read32(p, c + 4);
    int queues = 0;
    for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
        queues += d->queues[i] != NULL;
    if (nent < (uint32_t)queues + 1)
        return -1;
    volatile uint8_t *t = map_region(p, tbl & 7, tbl & ~7u, nent * 16);
    if (!t)
        return -1;
    d->msix_table = (volatile uint32_t *)t;
    /* entry 0: configuration changes; entry 1 + i: queue i */
    int entry = 0;
    for (int q = -1; q < VIRTIO_MAX_QUEUES; q++) {
        if (q >= 0 && !d->queues[q])
            continue;
        int v = irq_alloc_vector();
        vec_args[slot][q + 1] = (struct vec_arg){ d, q };
        if (v < 0 || irq_register(v, msix_irq, &vec_args[slot][q + 1], (enum irq_kind)kind, d->name) < 0)
            return -1;
        msix_entry(d, entry, v);
        if (q < 0) {
            d->common->msix_config = (uint16_t)entry;
            if (d->common->msix_config != entry)
                return -1;
            d->config_vector = v;
        } else {
            d->common->queue_select = (uint16_t)q;
            d->common->queue_msix_vector = (uint16_t)entry;
            if (d->common->queue_msix_vector != entry)
                return -1;           /* the device could not take the vector */
            d->queues[q]->msix_vector = v;
        }
        entry++;
    }
    pci_write16(p, c + 2, (uint16_t)((ctl & ~0x4000) | 0x8000));   /* enable, unmask the function */
    pci_write16(p, 0x04, pci_read16(p, 0x04) | 0x400);              /* INTx off */
    d->msix = true;
    return 0;
}

int virtio_setup_irqs(struct virtio_dev *d, int kind)
{
    if (nregistry >= MAX_VIRTIO) {
        kprintf("%s: more than %d virtio devices: skipped\n", d->name, MAX_VIRTIO);
        return -28;
    }
    int slot = nregistry;
    d->irqs_routed = true;          /* from here on handlers may point at d */
    if (!virtio_opt_intx && d->msix_cap && setup_msix(d, slot, kind) == 0) {
        enable_queues(d);
        virtio_register(d);
        return 0;
    }
    /* INTx: no vectors in the device (NO_VECTOR), the ISR byte says what happened */
    d->msix = false;
    d->common->msix_config = VIRTIO_MSI_NO_VECTOR;
    for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        if (!d->queues[i])
            continue;
        d->common->queue_select = i;
        d->common->queue_msix_vector = VIRTIO_MSI_NO_VECTOR;
        d->queues[i]->msix_vector = -1;
    }
    if (d->gsi < 0 || irq_route_gsi(d->gsi, intx_irq, d, (enum irq_kind)kind, d->name) < 0) {
        kprintf("%s: no interrupt (no MSI-X, INTx gsi %d not routable): skipped\n", d->name, d->gsi);
        return -19;
    }
    enable_queues(d);
    virtio_register(d);
    return 0;
}

bool virtio_abandon(struct virtio_dev *d)
{
    if (d->common) {
        virtio_reset(d);
        d->common->device_status = VIRTIO_CONFIG_S_FAILED;
    }
    if (d->irqs_routed)
        return false;               /* queues stay too: a late interrupt may look at them */
    for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        if (d->queues[i])
            vq_free(d->queues[i]);
        d->queues[i] = NULL;
    }
    return true;
}

void virtio_driver_ok(struct virtio_dev *d)
{
    d->common->device_status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                               VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
}

int virtio_reinit(struct virtio_dev *d)
{
    volatile struct virtio_pci_common_cfg *cc = d->common;
    virtio_reset(d);
    cc->device_status = VIRTIO_CONFIG_S_ACKNOWLEDGE;
    cc->device_status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    if (!write_features(cc, d->features))
        return -5;
    int entry = 1;
    if (d->msix)
        cc->msix_config = 0;
    for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        struct virtq *q = d->queues[i];
        if (!q)
            continue;
        vq_reset(q);
        cc->queue_select = i;
        program_queue(cc, q);
        cc->queue_msix_vector = d->msix ? (uint16_t)entry++ : VIRTIO_MSI_NO_VECTOR;
        cc->queue_enable = 1;
    }
    virtio_driver_ok(d);
    return 0;
}
