/*
 * WTD engine micro-benchmarks, run with `bench=wtd` under QEMU -icount shift=0,sleep=off,
 * where the TSC advances one tick per guest instruction, so every figure is an
 * instruction count and identical from run to run.  Each figure is the median of
 * many samples (timer interrupts land in a few of them).
 *   thread_switch  yield from one thread until the other runs (ping-pong)
 *   wtd_dispatch   wtd_schedule() from a thread, then a context switch, to the WTD's first line
 *   irq_to_wtd     self-IPI on a hooked vector to the WTD's first line (interrupt entry,
 *                  handler, EOI, ISR exit hook, switch to a worker, dispatch)
 */
#include "types.h"
#include "kopt.h"
#include "init.h"
#include "sched.h"
#include "wtd.h"
#include "irq.h"
#include "apic.h"
#include "io.h"
#include "printf.h"
#include "power.h"
#include "string.h"
#include "mm.h"

static const char *bench_name;
KOPT_STR("bench", bench_name, "run a benchmark (wtd) instead of the console, then power off");

#define SAMPLES 2001
static uint64_t samples[SAMPLES];
static volatile uint64_t stamp;
static volatile int pong_turn;

static uint64_t median(uint64_t *v, int n)
{
    for (int i = 1; i < n; i++) {                  /* insertion sort: n is small */
        uint64_t x = v[i];
        int j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[n / 2];
}

static void report(const char *name, uint64_t value)
{
    kprintf("BENCH worktodo %s instructions %lu\n", name, value);
}

/* ping-pong partner: records when it gets the CPU, then yields straight back */
static void pong(void *arg)
{
    for (int i = 0; i < SAMPLES; i++) {
        stamp = rdtsc();
        thread_yield();
    }
}

static void bench_thread_switch(void)
{
    struct thread *t = thread_create("pong", pong, NULL);
    thread_yield();                                /* let pong start and come back */
    for (int i = 0; i < SAMPLES - 1; i++) {
        uint64_t t0 = rdtsc();
        thread_yield();
        samples[i] = stamp - t0;
    }
    thread_join(t);
    report("thread_switch", median(samples, SAMPLES - 1));
}

static uint32_t stamp_wtd(struct wtd *w)
{
    stamp = rdtsc();
    return 0;
}

static void bench_wtd_dispatch(void)
{
    static struct wtd w;
    wtd_init(&w, stamp_wtd, NULL);
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t t0 = rdtsc();
        wtd_schedule(&w);
        thread_yield();
        samples[i] = stamp - t0;
    }
    report("wtd_dispatch", median(samples, SAMPLES));
}

static struct wtd irq_w;
static void bench_irq(void *arg) { wtd_schedule(&irq_w); }

static void bench_irq_to_wtd(void)
{
    int v = irq_alloc_vector();
    if (v < 0 || irq_register(v, bench_irq, NULL, IRQ_HOOKED_TEST, "bench") < 0) {
        kprintf("bench: no vector\n");
        return;
    }
    wtd_init(&irq_w, stamp_wtd, NULL);
    for (int i = 0; i < SAMPLES; i++) {
        stamp = 0;
        uint64_t t0 = rdtsc();
        lapic_self_ipi(v);
        while (!stamp)
            cpu_relax();
        samples[i] = stamp - t0;
    }
    report("irq_to_wtd", median(samples, SAMPLES));
}

/* Under -icount shift=0 a run of 1000 nops must take about 1000 TSC ticks. */
static void bench_tsc_check(void)
{
    for (int i = 0; i < 101; i++) {
        uint64_t t0 = rdtsc();
        __asm__ volatile(".rept 1000\n nop\n .endr" ::: "memory");
        samples[i] = rdtsc() - t0;
    }
    report("tsc_check_1000_nops", median(samples, 101));
}

static void bench_main(void *arg)
{
    thread_sleep_ms(10);                          /* let boot-time threads settle */
    if (strcmp(bench_name, "wtd") == 0) {
        bench_tsc_check();
        bench_thread_switch();
        bench_wtd_dispatch();
        bench_irq_to_wtd();
        power_exit_qemu(true);
    }
    kprintf("bench: unknown benchmark '%s' (known: wtd)\n", bench_name);
    power_exit_qemu(false);
}

static int bench_init(void)
{
    if (bench_name)
        thread_create("bench", bench_main, NULL);
    return 0;
}
INITCALL(INIT_LATE, bench_init);
