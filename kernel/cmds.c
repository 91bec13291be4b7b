/* Console commands about the kernel itself. */
#include "console.h"
#include "mm.h"
#include "string.h"
#include "sched.h"
#include "time.h"
#include "irq.h"
#include "kopt.h"
#include "power.h"
#include "printf.h"

static void cmd_mem(int argc, char **argv)
{
    struct heap_stats h;
    heap_get_stats(&h);
    uint64_t total = pmm_total_count(), free = pmm_free_count();
    kprintf("  physical: %lu KiB total, %lu KiB free, %lu KiB used\n", total * 4, free * 4, (total - free) * 4);
    kprintf("  heap: %lu bytes in use, %lu allocations, %lu frees, %lu large pages\n",
            h.bytes_in_use, h.allocs, h.frees, h.large_pages);
}
CONSOLE_COMMAND("mem", "physical memory and heap usage", cmd_mem);

static void cmd_threads(int argc, char **argv)
{
    threads_print(argc > 1 && strcmp(argv[1], "-s") == 0);
}
CONSOLE_COMMAND("threads", "list threads (-s: with what each waits on, and its stack)", cmd_threads);

static void cmd_uptime(int argc, char **argv)
{
    uint64_t ns = now_ns();
    uint64_t s = ns / 1000000000ULL;
    kprintf("  up %lu:%02lu:%02lu.%03lu, %lu context switches, TSC %lu Hz\n", s / 3600, (s / 60) % 60,
            s % 60, (ns / 1000000) % 1000, sched_switch_count(), tsc_hz());
}
CONSOLE_COMMAND("uptime", "time since boot", cmd_uptime);

static void cmd_irqs(int argc, char **argv) { irq_print(); }
CONSOLE_COMMAND("irqs", "interrupt sources and counts", cmd_irqs);

static void cmd_options(int argc, char **argv) { kopt_print(); }
CONSOLE_COMMAND("options", "kernel command-line options and their values", cmd_options);

static void cmd_shutdown(int argc, char **argv)
{
    kprintf("shutting down: flushing\n");
    power_run_shutdown_hooks();
    kprintf("power off\n");
    power_off();
}
CONSOLE_COMMAND("shutdown", "flush and power off", cmd_shutdown);
