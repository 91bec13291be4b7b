/* Boot order: output, CPU tables, memory, interrupts and time, threads, WTD engine, then
 * drivers and services (each registers itself in kernel/init.h's tables), then the
 * console or the test runner. */
#include "types.h"
#include "console.h"
#include "printf.h"
#include "multiboot.h"
#include "cpu.h"
#include "mm.h"
#include "apic.h"
#include "time.h"
#include "sched.h"
#include "wtd.h"
#include "pci.h"
#include "kopt.h"
#include "ktest.h"
#include "panic.h"
#include "power.h"
#include "init.h"

static const char *test_pattern;
static bool test_mode;
KOPT_FLAG("test", test_pattern, test_mode, "run the in-guest tests (test=PATTERN selects by name) and exit");

extern const struct initcall __initcalls_start[], __initcalls_end[];

void kmain(uint32_t magic, uint64_t info)
{
    serial_init();
    vga_init();
    multiboot_parse(magic, info);
    gdt_init();
    idt_init();
    symbols_init();
    pmm_init();
    heap_init();

    kprintf("WorkToDo %s: NetWare-style Work To Do file server kernel\n", WTD_VERSION);
    kprintf("memory: %lu MiB usable, command line: '%s'\n", pmm_total_count() * 4096 / (1024 * 1024),
            boot_info.cmdline);
    char err[160];
    if (!kopt_parse(boot_info.cmdline, err, sizeof err)) {
        kprintf("cmdline: %s\nboot stopped: fix the kernel command line\n", err);
        power_exit_qemu(false);
    }

    apic_init();
    time_init();
    sched_init();
    pci_init();
    kprintf("TSC %lu MHz, %d PCI devices\n", tsc_hz() / 1000000, pci_count());
    __asm__ volatile("sti");
    wtd_engine_init();

    for (const struct initcall *c = __initcalls_start; c < __initcalls_end; c++) {
        int r = c->fn();
        if (r < 0)
            kprintf("init: %s failed (%d)\n", c->name, r);
    }

    if (test_mode) {
        ktest_run_all(test_pattern);
    } else {
        console_start();
        thread_exit(0);
    }
}
