#pragma once
#include "types.h"
#include "io.h"
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);
void backtrace_from(uint64_t rbp, uint64_t rip);
const char *symbol_lookup(uint64_t addr, uint64_t *offset);
void symbols_init(void);
extern bool panicking;
/* Called by panic before halting: the test harness reports the failure and ends QEMU. */
extern void (*panic_hook)(void);

#define ASSERT(c) do { if (unlikely(!(c))) panic("assertion failed: %s at %s:%d", #c, __FILE__, __LINE__); } while (0)
/* First line of every function documented "irqs off" (scheduler, WTD dispatch, interrupt-side
 * driver code): on one CPU that is what protects their state.  One pushf; cheap. */
#define ASSERT_IRQS_OFF() do { if (unlikely(irqs_enabled())) panic("%s: interrupts enabled", __func__); } while (0)
