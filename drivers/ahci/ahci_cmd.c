/*
 * Commands: slots, scatter lists, issue, completion and the sleeping wait.
 *
 * A requester takes a free command slot, builds the FIS and PRDT in the slot's table,
 * sets its CI bit and sleeps on the slot's wait queue (interrupts off from the CI write
 * to the sleep, so the completion cannot slip in between).  The ISR (hooked: disk)
 * clears PxIS, reads PxCI and, for each slot that finished, records the result and
 * queues the slot's completion WTD; that WTD wakes the requester.  The ISR exit hook
 * then preempts into a worker.  Requesters inside a WTD sleep in their worker and the
 * engine carries on with other WTDs meanwhile.
 *
 * Command set: READ/WRITE DMA EXT, FLUSH CACHE EXT, IDENTIFY.  NCQ (FPDMA QUEUED) is
 * not used: QEMU 7.2's NCQ emulation has known bugs.  Several non-NCQ commands may be
 * in CI at once; the HBA runs them one after the other, which still overlaps our
 * command building and completion handling with the device's work.
 */
#include "ahci_internal.h"
#include "panic.h"
#include "mm.h"
#include "io.h"
#include "time.h"
#include "string.h"
#include "printf.h"
#include "kopt.h"

uint64_t ahci_timeout_ms = 10000;
volatile uint32_t ahci_test_drop_irqs;
KOPT_U64("ahci.timeout_ms", ahci_timeout_ms, 10, 600000, "AHCI command timeout before the port is recovered");

/* Largest transfer per command: 240 pages fit the 248-entry PRDT even when every page
 * is discontiguous and the buffer is not page aligned (241 entries). */
#define MAX_CMD_BYTES (240u * 4096u)

uint32_t ahci_slot_done_wtd(struct wtd *w)
{
    struct ahci_slot *s = w->context;
    waitq_wake_all(&s->wq);
    return 0;
}

/* irqs off.  Records the result; the WTD does the waking from a worker. */
void ahci_complete_slot(struct ahci_port *p, int i, int result)
{
    ASSERT_IRQS_OFF();
    struct ahci_slot *s = &p->slots[i];
    p->issued &= ~(1u << i);
    if (p->st.in_flight)
        p->st.in_flight--;
    s->result = result;
    s->state = SLOT_DONE;
    wtd_schedule(&s->done_wtd);     /* false if still queued from last time: it wakes anyway */
}

/* Called from the HBA interrupt handler for a port whose bit is set in HBA IS. */
void ahci_port_isr(struct ahci_port *p)
{
    uint32_t is = px_read(p, PX_IS);
    px_write(p, PX_IS, is);          /* port first, then the caller clears HBA IS */
    p->st.interrupts++;
    if (unlikely(ahci_test_drop_irqs)) {
        ahci_test_drop_irqs--;
        return;
    }
    if (p->recovering)
        return;                      /* the recovery's snapshot decides every slot */
    if (is & PXIS_ERR) {
        p->st.errors++;
        p->err_is = is;
        p->err_tfd = px_read(p, PX_TFD);
        p->recovering = true;
        wtd_schedule(&p->recover_wtd);
        return;
    }
    uint32_t done = p->issued & ~px_read(p, PX_CI);
    for (; done; done &= done - 1)
        ahci_complete_slot(p, __builtin_ctz(done), 0);
}

static int get_slot(struct ahci_port *p)
{
    uint64_t f = irq_save();
    uint32_t all = p->nslots == 32 ? 0xFFFFFFFFu : (1u << p->nslots) - 1;
    int i;
    for (;;) {
        uint32_t free = ~p->busy & all;
        if (free) {
            i = __builtin_ctz(free);
            break;
        }
        p->st.slot_waits++;
        waitq_wait(&p->slot_wq);
    }
    p->busy |= 1u << i;
    p->slots[i].state = SLOT_BUILDING;
    irq_restore(f);
    return i;
}

static void put_slot(struct ahci_port *p, int i)
{
    uint64_t f = irq_save();
    p->busy &= ~(1u << i);
    p->slots[i].state = SLOT_FREE;
    irq_restore(f);
    waitq_wake_one(&p->slot_wq);
}

/* Scatter list from the physical pages behind buf (stacks live outside the identity
 * map, so every page is translated); physically adjacent pages share an entry. */
static int build_prdt(struct ahci_prd *prd, const void *buf, uint32_t bytes)
{
    uintptr_t va = (uintptr_t)buf;
    int n = 0;
    uint64_t next_pa = 0;
    if ((va & 1) || (bytes & 1))
        return -AHCI_EINVAL;
    while (bytes) {
        uint32_t chunk = (uint32_t)MIN((uint64_t)bytes, PAGE_SIZE - (va & (PAGE_SIZE - 1)));
        uint64_t pa = vmm_translate(va);
        if (!pa)
            return -AHCI_EINVAL;
        uint32_t cur = n ? (prd[n - 1].dbc & 0x3FFFFF) + 1 : 0;
        if (n && pa == next_pa && cur + chunk <= (4u << 20)) {
            prd[n - 1].dbc = cur + chunk - 1;
        } else {
            if (n == CT_MAX_PRDS)
                return -AHCI_EINVAL;
            prd[n].dba = (uint32_t)pa;
            prd[n].dbau = (uint32_t)(pa >> 32);
            prd[n].rsvd = 0;
            prd[n].dbc = chunk - 1;
            n++;
        }
        next_pa = pa + chunk;
        va += chunk;
        bytes -= chunk;
    }
    return n;
}

static void fill_fis(struct fis_h2d *fis, uint8_t command, uint64_t lba, uint32_t count)
{
    memset(fis, 0, sizeof *fis);
    fis->type = FIS_TYPE_H2D;
    fis->pmp_c = FIS_H2D_CMD;
    fis->command = command;
    fis->device = command == ATA_IDENTIFY ? 0 : 0x40;      /* LBA mode */
    fis->lba0 = (uint8_t)lba;
    fis->lba1 = (uint8_t)(lba >> 8);
    fis->lba2 = (uint8_t)(lba >> 16);
    fis->lba3 = (uint8_t)(lba >> 24);
    fis->lba4 = (uint8_t)(lba >> 32);
    fis->lba5 = (uint8_t)(lba >> 40);
    fis->count_lo = (uint8_t)count;
    fis->count_hi = (uint8_t)(count >> 8);
}

/* Runs one command and sleeps until it completes, fails or times out. */
static int exec(struct ahci_port *p, uint8_t command, uint64_t lba, uint32_t count,
                void *buf, uint32_t bytes, bool write)
{
    int i = get_slot(p);
    struct ahci_slot *s = &p->slots[i];
    fill_fis((struct fis_h2d *)s->table, command, lba, count);
    int n = bytes ? build_prdt((struct ahci_prd *)(s->table + CT_PRDT_OFF), buf, bytes) : 0;
    if (n < 0) {
        put_slot(p, i);
        return n;
    }
    struct ahci_cmd_header *h = &p->cl[i];
    h->flags = CH_CFL_H2D | (write ? CH_WRITE : 0);
    h->prdtl = (uint16_t)n;
    h->prdbc = 0;
    s->expect_bytes = bytes;
    s->result = 0;
    s->retries = 0;

    uint64_t f = irq_save();
    while (p->recovering)               /* a restart must not see half-issued commands */
        waitq_wait(&p->slot_wq);
    s->state = SLOT_ISSUED;
    p->issued |= 1u << i;
    if (++p->st.in_flight > p->st.peak_in_flight)
        p->st.peak_in_flight = p->st.in_flight;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);        /* table and header before CI */
    px_write(p, PX_CI, 1u << i);
    uint64_t deadline = now_ns() + ahci_timeout_ms * 1000000ULL;
    while (s->state != SLOT_DONE) {
        uint64_t now = now_ns();
        if (now < deadline && waitq_wait_timeout(&s->wq, deadline - now))
            continue;
        if (s->state == SLOT_DONE)
            break;
        p->st.timeouts++;
        irq_restore(f);
        ahci_port_recover(p, i);        /* completes slot i with -ETIMEDOUT (or its result) */
        f = irq_save();
        deadline = now_ns() + ahci_timeout_ms * 1000000ULL;
    }
    int r = s->result;
    if (r == 0) {
        switch (command) {
        case ATA_READ_DMA_EXT: p->st.reads++; p->st.sectors_read += count ? count : 65536; break;
        case ATA_WRITE_DMA_EXT: p->st.writes++; p->st.sectors_written += count ? count : 65536; break;
        case ATA_FLUSH_EXT: p->st.flushes++; break;
        default: p->st.other++; break;
        }
    }
    irq_restore(f);
    put_slot(p, i);
    return r;
}

static int rw(struct ahci_disk *d, uint64_t lba, uint32_t count, void *buf, bool write)
{
    struct ahci_port *p = &d->port;
    uint32_t ss = p->info.sector_size;
    if (count == 0)
        return 0;
    if (!buf || lba + count < lba || lba + count > (1ULL << 48))
        return -AHCI_EINVAL;
    uint8_t *b = buf;
    uint32_t per_cmd = MAX_CMD_BYTES / ss;
    while (count) {
        uint32_t n = MIN(count, per_cmd);
        int r = exec(p, write ? ATA_WRITE_DMA_EXT : ATA_READ_DMA_EXT, lba, n, b, n * ss, write);
        if (r)
            return r;
        lba += n;
        count -= n;
        b += (uint64_t)n * ss;
    }
    return 0;
}

int ahci_read(struct ahci_disk *d, uint64_t lba, uint32_t count, void *buf)
{
    return rw(d, lba, count, buf, false);
}

int ahci_write(struct ahci_disk *d, uint64_t lba, uint32_t count, const void *buf)
{
    return rw(d, lba, count, (void *)buf, true);
}

int ahci_flush(struct ahci_disk *d)
{
    return exec(&d->port, ATA_FLUSH_EXT, 0, 0, NULL, 0, false);
}

/* ATA strings are big-endian 16-bit words, space padded. */
static void ata_string(char *out, const uint16_t *w, int words)
{
    int n = 0;
    for (int i = 0; i < words; i++) {
        out[n++] = (char)(w[i] >> 8);
        out[n++] = (char)w[i];
    }
    out[n] = 0;
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = 0;
    int lead = 0;
    while (out[lead] == ' ')
        lead++;
    if (lead)
        memmove(out, out + lead, (size_t)(n - lead + 1));
}

int ahci_identify(struct ahci_port *p)
{
    uint16_t *id = kmalloc(512);
    if (!id)
        return -AHCI_ENOMEM;
    int r = exec(p, ATA_IDENTIFY, 0, 0, id, 512, false);
    if (r == 0) {
        ata_string(p->info.model, id + 27, 20);
        ata_string(p->info.serial, id + 10, 10);
        p->info.lba48 = id[83] & (1u << 10);
        uint64_t s48 = (uint64_t)id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
                       (uint64_t)id[103] << 48;
        uint64_t s28 = (uint64_t)id[60] | (uint64_t)id[61] << 16;
        p->info.sectors = p->info.lba48 && s48 ? s48 : s28;
        p->info.sector_size = 512;
        /* word 106: valid (bit 14 set, 15 clear) with bit 12 = logical sector > 512 bytes */
        if ((id[106] & 0xC000) == 0x4000 && (id[106] & (1u << 12))) {
            uint32_t words = (uint32_t)id[117] | (uint32_t)id[118] << 16;
            if (words >= 256 && words <= 2048)
                p->info.sector_size = words * 2;
        }
    }
    kfree(id);
    return r;
}
