#pragma once
#include "types.h"
/* Ends QEMU through isa-debug-exit (exit status 33 = pass, 35 = fail), or powers off. */
__attribute__((noreturn)) void power_exit_qemu(bool pass);
/* Clean ACPI power-off (q35 PM1a control at 0x604). */
__attribute__((noreturn)) void power_off(void);
/* Functions run before power-off, e.g. flushing the block cache. */
void power_register_shutdown_hook(void (*fn)(void));
void power_run_shutdown_hooks(void);
