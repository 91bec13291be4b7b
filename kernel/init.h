/*
 * Boot-time initialisation by registration: a subsystem above the core declares
 *     INITCALL(INIT_DRIVER, e1000_probe);
 * and kmain (kernel/main.c) calls every registered function once, after the CPU tables,
 * memory, interrupts, the clock, threads and the WTD engine are up, level by level in
 * the order below (within one level in link order, which nothing may rely on).  A
 * function returns 0, or a negative error that is reported and the boot carries on.
 *
 *   INIT_CORE     kernel services the levels above use: the CSPRNG (kernel/random.c),
 *                 the profiler (kernel/prof.c), the wall clock fs/ reads
 *                 (fs/kernel/fs_port_kernel.c)
 *   INIT_BUS      bus enumeration: PCI (kernel/pci.c)
 *   INIT_DRIVER   device drivers, which find their devices on the bus: AHCI
 *                 (drivers/ahci/ahci_hba.c), e1000 (drivers/e1000/e1000.c)
 *   INIT_FS       the volume over a disk driver: block cache, ext2 mount, flusher
 *                 (fs/kernel/storage.c)
 *   INIT_NET      the network stack over a NIC driver: lwIP, the interface, DHCP, the
 *                 small services (net/net_core.c)
 *   INIT_SERVICE  services over the volume and the network: the file server
 *                 (server/kernel/kserver.c)
 *   INIT_LATE     the test kernel only: the in-guest test runner (tests/kernel/ktest.c,
 *                 with the `test` option it runs the tests and powers off) and the
 *                 benchmarks (bench/)
 *
 * The table is the linker section .initcalls.LEVEL, sorted by name (linker.ld).
 */
#pragma once
#define INIT_CORE    0
#define INIT_BUS     1
#define INIT_DRIVER  2
#define INIT_FS      3
#define INIT_NET     4
#define INIT_SERVICE 5
#define INIT_LATE    6

struct initcall { const char *name; int (*fn)(void); } __attribute__((aligned(16)));
#define INITCALL(level, fn) INITCALL_AT_(level, fn)
#define INITCALL_AT_(level, fn) \
    static const struct initcall __initcall_##fn __attribute__((used, section(".initcalls." #level), aligned(16))) = { #fn, fn }
