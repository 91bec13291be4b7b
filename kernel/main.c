/* Boot order: output, CPU tables, memory, interrupts and time, threads, WTD engine, then
 * everything else in the levels of kernel/init.h (buses, drivers, storage, network,
 * services; the test kernel's runner last), then the console. */
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
#include "kopt.h"
#include "panic.h"
#include "power.h"
#include "init.h"

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
    kprintf("TSC %lu MHz\n", tsc_hz() / 1000000);
    __asm__ volatile("sti");
    wtd_engine_init();

    for (const struct initcall *c = __initcalls_start; c < __initcalls_end; c++) {
        int r = c->fn();
        if (r < 0)
            kprintf("init: %s failed (%d)\n", c->name, r);
    }

    console_start();
    thread_exit(0);
}
