/* Subsystems above the core (drivers, fs, network, server) register an init function
 * that kmain calls in order of level, after threads and the WTD engine are up. */
#pragma once
struct initcall { const char *name; int (*fn)(void); } __attribute__((aligned(16)));
#define INITCALL(level, fn) \
    static const struct initcall __initcall_##fn __attribute__((used, section(".initcalls." #level), aligned(16))) = { #fn, fn }
