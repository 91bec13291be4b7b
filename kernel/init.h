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
 *                 (drivers/ahci/ahci_hba.c), e1000 (drivers/e1000/e1000.c), virtio-blk
 *                 and virtio-net (drivers/virtio/virtio_blk.c, virtio_net.c)
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
 * The table is the linker section .initcalls.N, sorted by name (linker.ld); N is the
 * level's number below.  A level must be named: INITCALL(4, fn) does not compile.
 */
#pragma once
#define INITCALL_LEVEL_INIT_CORE    0
#define INITCALL_LEVEL_INIT_BUS     1
#define INITCALL_LEVEL_INIT_DRIVER  2
#define INITCALL_LEVEL_INIT_FS      3
#define INITCALL_LEVEL_INIT_NET     4
#define INITCALL_LEVEL_INIT_SERVICE 5
#define INITCALL_LEVEL_INIT_LATE    6

struct initcall { const char *name; int (*fn)(void); } __attribute__((aligned(16)));
#define INITCALL(level, fn) \
    _Static_assert(INITCALL_LEVEL_##level >= 0, "INITCALL: the level is one of INIT_CORE ... INIT_LATE"); \
    INITCALL_AT_(INITCALL_LEVEL_##level, fn)
#define INITCALL_AT_(n, fn) INITCALL_SECTION_(n, fn)       /* expands n to its number */
#define INITCALL_SECTION_(n, fn) \
    static const struct initcall __initcall_##fn __attribute__((used, section(".initcalls." #n), aligned(16))) = { #fn, fn }
