/*
 * A sampling profiler: while running, every sample records the instruction it interrupted.
 * `prof start`, `prof stop`, `prof show [N]` at the console print the functions that took
 * the most samples.
 *   prof start       samples on the 1 kHz timer tick.  Code that runs with interrupts
 *                    disabled is charged to where it re-enabled them (the tick is taken
 *                    then), so read the top of the list as "where the CPU goes".
 *   prof start nmi   samples on an NMI from the PIT (IOAPIC delivery mode NMI, PIT_NMI_HZ),
 *                    which arrives with interrupts off too: every instruction can be
 *                    sampled.  Under -icount the PIT counts guest instructions, so the
 *                    samples fall every ~1e9/PIT_NMI_HZ instructions while the guest runs;
 *                    those taken in the idle loop's hlt are counted apart (under
 *                    sleep=on they measure host time, not work).
 */
#include "types.h"
#include "console.h"
#include "printf.h"
#include "panic.h"
#include "string.h"
#include "io.h"
#include "kopt.h"
#include "init.h"
#include "apic.h"
#include "irq.h"
#include "sched.h"

#define PROF_MAX 65536
#define PIT_HZ 1193182u
#define PIT_NMI_HZ 20000u
#define PIT_GSI 2                           /* IRQ 0 on q35's IOAPIC (the MADT's override) */
static uint64_t samples[PROF_MAX];
static uint64_t callers[PROF_MAX];          /* return address of the sampled function's frame */
static volatile uint32_t nsamples, idle_samples;
static volatile bool running, nmi_mode;
static uint64_t opt_prof;
KOPT_U64("prof", opt_prof, 0, 1, "start the sampling profiler at boot (see the console command prof)");

#include "cpu.h"
static void record(uint64_t rip, uint64_t ret)
{
    if (running && nsamples < PROF_MAX) {
        callers[nsamples] = ret;
        samples[nsamples++] = rip;
    }
}

void prof_tick(uint64_t rip, uint64_t rbp)
{
    if (!running || nmi_mode)
        return;
    uint64_t ret = 0;
    if (!rbp || !safe_read64((const void *)(rbp + 8), &ret))
        ret = 0;
    record(rip, ret);
}

/* The NMI: no lock, no fault (a fault's iret would let the next NMI in on this stack), so
 * the caller is read only from a frame inside the current thread's stack. */
static bool prof_nmi(struct trap_frame *f)
{
    if (!running || !nmi_mode)
        return true;                        /* a late one after stop */
    uint64_t ret = 0;
    struct thread *t = current;
    if (t && t->stack.pages && f->rbp >= t->stack.base && f->rbp + 16 <= t->stack.top)
        ret = ((const uint64_t *)f->rbp)[1];
    if (t == idle_thread)
        idle_samples++;
    else
        record(f->rip, ret);
    return true;
}

static void nmi_sampling(bool on)
{
    if (on) {
        uint32_t div = PIT_HZ / PIT_NMI_HZ;
        trap_set_fault_handler(2, prof_nmi);
        outb(0x43, 0x34);                   /* channel 0, low then high byte, rate generator */
        outb(0x40, (uint8_t)div);
        outb(0x40, (uint8_t)(div >> 8));
        ioapic_route_nmi(PIT_GSI);
    } else {
        ioapic_mask(PIT_GSI);
    }
}

static int prof_boot(void)
{
    running = opt_prof != 0;
    return 0;
}
INITCALL(INIT_CORE, prof_boot);

struct prof_entry { const char *name; uint32_t count; };

static void sort_u64(uint64_t *v, uint32_t n)       /* heap sort: no recursion, no memory */
{
    for (uint32_t start = n / 2; start-- > 0;) {
        for (uint32_t root = start;;) {
            uint32_t child = 2 * root + 1;
            if (child >= n) break;
            if (child + 1 < n && v[child] < v[child + 1]) child++;
            if (v[root] >= v[child]) break;
            uint64_t t = v[root]; v[root] = v[child]; v[child] = t;
            root = child;
        }
    }
    for (uint32_t end = n; end-- > 1;) {
        uint64_t t = v[0]; v[0] = v[end]; v[end] = t;
        for (uint32_t root = 0;;) {
            uint32_t child = 2 * root + 1;
            if (child >= end) break;
            if (child + 1 < end && v[child] < v[child + 1]) child++;
            if (v[root] >= v[child]) break;
            t = v[root]; v[root] = v[child]; v[child] = t;
            root = child;
        }
    }
}

static uint32_t aggregate(uint64_t *v, uint32_t n, struct prof_entry *e, uint32_t max)
{
    uint32_t ne = 0;
    sort_u64(v, n);
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j < n && v[j] == v[i]) j++;
        const char *name = symbol_lookup(v[i], NULL);
        if (!name) name = "??";
        uint32_t k = 0;
        while (k < ne && e[k].name != name) k++;
        if (k == ne && ne < max) e[ne++] = (struct prof_entry){ name, 0 };
        if (k < ne) e[k].count += j - i;
        i = j;
    }
    return ne;
}

static void print_top(struct prof_entry *e, uint32_t ne, uint32_t n, uint32_t top)
{
    for (uint32_t i = 0; i < top && i < ne; i++) {          /* selection of the largest */
        uint32_t best = i;
        for (uint32_t k = i + 1; k < ne; k++)
            if (e[k].count > e[best].count) best = k;
        struct prof_entry t = e[i]; e[i] = e[best]; e[best] = t;
        kprintf("  %6u %5lu.%lu%%  %s\n", e[i].count, (uint64_t)e[i].count * 100 / (n ? n : 1),
                (uint64_t)e[i].count * 1000 / (n ? n : 1) % 10, e[i].name);
    }
}

/* The callers of the library routines (memcpy, memset, checksums): who copies. */
static void show_callers(uint32_t n)
{
    static struct prof_entry e[256];
    static uint64_t c[PROF_MAX];
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *name = symbol_lookup(samples[i], NULL);
        if (name && (strcmp(name, "memcpy") == 0 || strcmp(name, "memset") == 0) && callers[i])
            c[m++] = callers[i];
    }
    if (!m)
        return;
    kprintf("  callers of memcpy/memset:\n");
    uint32_t ne = aggregate(c, m, e, ARRAY_SIZE(e));
    print_top(e, ne, n, 10);
}

static void show(uint32_t top)
{
    static struct prof_entry e[512];
    uint32_t n = nsamples;
    show_callers(n);
    kprintf("  functions:\n");
    uint32_t ne = aggregate(samples, n, e, ARRAY_SIZE(e));
    print_top(e, ne, n, top);
    kprintf("  %u samples (%s)", n, nmi_mode ? "NMI" : "timer");
    if (nmi_mode)
        kprintf(", %u more in the idle loop", idle_samples);
    kprintf("\n");
}

static void cmd_prof(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "start") == 0) {
        running = false;
        nmi_sampling(false);
        nsamples = 0;
        idle_samples = 0;
        nmi_mode = argc >= 3 && strcmp(argv[2], "nmi") == 0;
        running = true;
        if (nmi_mode)
            nmi_sampling(true);
    } else if (argc >= 2 && strcmp(argv[1], "stop") == 0) {
        running = false;
        nmi_sampling(false);
    } else if (argc >= 2 && strcmp(argv[1], "show") == 0) {
        bool was = running;
        running = false;
        uint64_t top = 25;
        if (argc >= 3) parse_u64(argv[2], &top);
        show((uint32_t)top);
        running = was;
    } else {
        kprintf("usage: prof start [nmi] | stop | show [N]   (%u samples, %s)\n", nsamples,
                running ? "running" : "stopped");
    }
}
CONSOLE_COMMAND("prof", "sampling profiler: prof start [nmi]|stop|show [N]", cmd_prof);
