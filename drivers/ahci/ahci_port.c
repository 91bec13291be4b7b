/*
 * Port bring-up, stop/start and error recovery.  Everything here runs in thread context
 * (boot, a requester that timed out, or the recovery WTD the ISR queued) and may sleep.
 */
#include "ahci_internal.h"
#include "mm.h"
#include "io.h"
#include "time.h"
#include "string.h"
#include "printf.h"

/* Waits until (reg & mask) == 0; short busy checks first (QEMU answers at once), then
 * 1 ms sleeps so a slow device never holds the CPU.  False on timeout. */
bool ahci_wait_clear(struct ahci_port *p, uint32_t off, uint32_t mask, uint64_t ms)
{
    uint64_t deadline = now_ns() + ms * 1000000ULL;
    for (int spin = 0; spin < 100; spin++) {
        if (!(px_read(p, off) & mask))
            return true;
        cpu_relax();
    }
    while (now_ns() < deadline) {
        if (!(px_read(p, off) & mask))
            return true;
        if (irqs_enabled())
            thread_sleep_ms(1);
        else
            cpu_relax();
    }
    return !(px_read(p, off) & mask);
}

/* Stops the command list engine, then FIS receive.  Firmware (SeaBIOS) leaves port 0
 * running: CLB and FB may only be moved once CR and FR read 0. */
int ahci_port_stop(struct ahci_port *p)
{
    uint32_t cmd = px_read(p, PX_CMD);
    if (cmd & (PXCMD_ST | PXCMD_CR)) {
        px_write(p, PX_CMD, cmd & ~PXCMD_ST);
        if (!ahci_wait_clear(p, PX_CMD, PXCMD_CR, 500))
            return -AHCI_ETIMEDOUT;
    }
    cmd = px_read(p, PX_CMD);
    if (cmd & (PXCMD_FRE | PXCMD_FR)) {
        px_write(p, PX_CMD, cmd & ~PXCMD_FRE);
        if (!ahci_wait_clear(p, PX_CMD, PXCMD_FR, 500))
            return -AHCI_ETIMEDOUT;
    }
    return 0;
}

/* Starts the command list engine: FRE must be on and the device not busy; a device left
 * busy by an error is overridden with Command List Override. */
int ahci_port_start(struct ahci_port *p)
{
    if (!ahci_wait_clear(p, PX_TFD, TFD_BSY | TFD_DRQ, 200)) {
        px_write(p, PX_CMD, px_read(p, PX_CMD) | PXCMD_CLO);
        if (!ahci_wait_clear(p, PX_CMD, PXCMD_CLO, 500))
            return -AHCI_ETIMEDOUT;
    }
    px_write(p, PX_CMD, px_read(p, PX_CMD) | PXCMD_FRE | PXCMD_ST);
    return 0;
}

/* Memory for a port: the 1 KiB command list and the 256-byte received FIS area share a
 * page; each slot's command table gets a page of its own (248 PRDT entries). */
static bool port_alloc(struct ahci_port *p)
{
    uint64_t page = pmm_alloc_page();
    if (!page)
        return false;
    memset((void *)page, 0, PAGE_SIZE);
    p->cl = (struct ahci_cmd_header *)page;
    p->fis = (uint8_t *)page + 1024;
    for (uint32_t i = 0; i < p->nslots; i++) {
        uint64_t t = pmm_alloc_page();
        if (!t)
            return false;
        memset((void *)t, 0, PAGE_SIZE);
        struct ahci_slot *s = &p->slots[i];
        s->port = p;
        s->index = (int)i;
        s->table = (uint8_t *)t;
        s->state = SLOT_FREE;
        waitq_init(&s->wq, "ahci-cmd");
        p->cl[i].ctba = (uint32_t)t;
        p->cl[i].ctbau = (uint32_t)(t >> 32);
    }
    return true;
}

/* Returns 1 if the port holds a SATA disk ready for commands, 0 if it is empty or holds
 * something we ignore (ATAPI: the boot CD), negative on failure. */
int ahci_port_setup(struct ahci_port *p)
{
    int r = ahci_port_stop(p);
    if (r) {
        kprintf("ahci: port %d does not stop (cmd %08x)\n", p->num, px_read(p, PX_CMD));
        return r;
    }
    if (SSTS_DET(px_read(p, PX_SSTS)) != SSTS_DET_PRESENT)
        return 0;
    if (!port_alloc(p))
        return -AHCI_ENOMEM;
    uint64_t cl = (uint64_t)(uintptr_t)p->cl, fb = (uint64_t)(uintptr_t)p->fis;
    px_write(p, PX_CLB, (uint32_t)cl);
    px_write(p, PX_CLBU, (uint32_t)(cl >> 32));
    px_write(p, PX_FB, (uint32_t)fb);
    px_write(p, PX_FBU, (uint32_t)(fb >> 32));
    px_write(p, PX_SERR, 0xFFFFFFFF);
    px_write(p, PX_IS, 0xFFFFFFFF);
    /* FIS receive on: the device's first D2H FIS lands and PxSIG becomes valid. */
    px_write(p, PX_CMD, px_read(p, PX_CMD) | PXCMD_FRE | PXCMD_SUD | PXCMD_POD);
    ahci_wait_clear(p, PX_TFD, TFD_BSY, 1000);
    uint32_t sig = px_read(p, PX_SIG);
    if (sig == SIG_ATAPI) {
        kprintf("ahci: port %d: ATAPI device (signature %08x), ignored\n", p->num, sig);
        ahci_port_stop(p);
        return 0;
    }
    if (sig != SIG_SATA) {
        kprintf("ahci: port %d: unknown signature %08x, ignored\n", p->num, sig);
        ahci_port_stop(p);
        return 0;
    }
    px_write(p, PX_IS, 0xFFFFFFFF);
    px_write(p, PX_IE, PXIS_DONE | PXIS_ERR);
    r = ahci_port_start(p);
    if (r)
        kprintf("ahci: port %d: device stays busy (tfd %02x)\n", p->num, px_read(p, PX_TFD));
    return r ? r : 1;
}

/*
 * Recovery after a task-file/host-bus error (the ISR queued recover_wtd) or a command
 * timeout (the requester calls this itself).  The ISR ignores the port while
 * `recovering` is set; this function decides the fate of every issued slot from one
 * snapshot taken with interrupts off, just before the engine is stopped:
 *   - no error: slots whose CI bit cleared finished; the others are re-issued.
 *   - after an error we cannot always tell which command failed (QEMU 7.2 clears the
 *     failing command's CI bit, real HBAs and newer QEMU keep it; CCS is not reliable),
 *     so only a data command that finished with its full byte count (PRDBC) counts as
 *     done, and every other slot is re-issued.  Re-issuing is safe - reads, writes and
 *     flushes are idempotent - and a command that keeps failing is given up after
 *     AHCI_MAX_RETRIES attempts with -EIO.
 *   - the timed-out slot (if any) fails with -ETIMEDOUT.
 */
#define AHCI_MAX_RETRIES 5

/* Lets the device finish what it is doing before the engine is stopped: QEMU 7.2 keeps
 * running the other commands in CI after an error, and clearing ST while one of them is
 * in the middle of its DMA unmaps the command list under it (QEMU crashes).  Real HBAs
 * halt on an error, so CI is stable at once there.  Waits until the device is not busy and
 * CI has not changed for 2 ms, at most 1 s (a hung device: stop it anyway). */
static void quiesce(struct ahci_port *p)
{
    uint64_t deadline = now_ns() + 1000000000ULL;
    uint32_t prev = px_read(p, PX_CI);
    int stable = 0;
    while (stable < 2 && now_ns() < deadline) {
        thread_sleep_ms(1);
        uint32_t ci = px_read(p, PX_CI);
        bool busy = px_read(p, PX_TFD) & (TFD_BSY | TFD_DRQ);
        stable = (ci == prev && !busy) ? stable + 1 : 0;
        prev = ci;
    }
}

void ahci_port_recover(struct ahci_port *p, int timed_out_slot)
{
    mutex_lock(&p->recover_lock);
    uint64_t f = irq_save();
    p->recovering = true;               /* no new commands; the ISR leaves the slots to us */
    irq_restore(f);
    quiesce(p);
    f = irq_save();
    uint32_t ci = px_read(p, PX_CI), is = px_read(p, PX_IS) | p->err_is;
    uint32_t tfd = px_read(p, PX_TFD) | p->err_tfd, cmd = px_read(p, PX_CMD);
    uint32_t issued = p->issued;
    p->err_is = p->err_tfd = 0;
    px_write(p, PX_CMD, cmd & ~PXCMD_ST);           /* stop now; the snapshot is final */
    irq_restore(f);

    bool dev_err = (is & PXIS_ERR) || (tfd & TFD_ERR);
    uint32_t done = issued & ~ci, ok = done;
    if (dev_err) {
        ok = 0;
        for (uint32_t m = done; m; m &= m - 1) {
            int i = __builtin_ctz(m);
            if (p->slots[i].expect_bytes && p->cl[i].prdbc == p->slots[i].expect_bytes)
                ok |= 1u << i;
        }
    }
    uint32_t timed_out = 0;
    if (timed_out_slot >= 0 && (issued & (1u << timed_out_slot)) && !(ok & (1u << timed_out_slot)))
        timed_out = 1u << timed_out_slot;
    uint32_t reissue = 0, failed = 0;
    for (uint32_t m = issued & ~ok & ~timed_out; m; m &= m - 1) {
        int i = __builtin_ctz(m);
        if (++p->slots[i].retries > AHCI_MAX_RETRIES)
            failed |= 1u << i;
        else
            reissue |= 1u << i;
    }

    if (!ahci_wait_clear(p, PX_CMD, PXCMD_CR, 500)) {
        /* The engine will not stop: COMRESET the link (SCTL.DET = 1, then 0). */
        kprintf("ahci: port %d: engine stuck, COMRESET\n", p->num);
        px_write(p, PX_SCTL, (px_read(p, PX_SCTL) & ~0xFu) | 1);
        thread_sleep_ms(2);
        px_write(p, PX_SCTL, px_read(p, PX_SCTL) & ~0xFu);
        thread_sleep_ms(10);
    }
    px_write(p, PX_SERR, 0xFFFFFFFF);
    px_write(p, PX_IS, 0xFFFFFFFF);
    int r = ahci_port_start(p);

    f = irq_save();
    p->st.recoveries++;
    if (r) {
        /* The port is dead: fail everything rather than hang. */
        failed |= reissue;
        reissue = 0;
    }
    for (uint32_t m = issued & ~reissue; m; m &= m - 1) {
        int i = __builtin_ctz(m);
        int res = (timed_out & (1u << i)) ? -AHCI_ETIMEDOUT : (failed & (1u << i)) ? -AHCI_EIO : 0;
        ahci_complete_slot(p, i, res);
    }
    for (uint32_t m = reissue; m; m &= m - 1)
        p->cl[__builtin_ctz(m)].prdbc = 0;
    p->issued = reissue;
    p->st.reissued += (uint64_t)__builtin_popcount(reissue);
    p->recovering = false;
    if (reissue) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        px_write(p, PX_CI, reissue);
    }
    uint64_t nrec = p->st.recoveries;
    irq_restore(f);
    waitq_wake_all(&p->slot_wq);
    /* The first few recoveries are worth a line each; the counters (`ahci`) keep the rest. */
    if ((dev_err || timed_out) && (nrec <= 10 || nrec % 1000 == 0))
        kprintf("ahci: port %d recovered (#%lu: IS %08x TFD %04x; failed %08x, timed out %08x, re-issued %08x)\n",
                p->num, nrec, is, tfd & 0xFFFF, failed, timed_out, reissue);
    mutex_unlock(&p->recover_lock);
}

uint32_t ahci_recover_wtd(struct wtd *w)
{
    ahci_port_recover(w->context, -1);
    return 0;
}
