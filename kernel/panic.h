#pragma once
#include "types.h"
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);
void backtrace_from(uint64_t rbp, uint64_t rip);
const char *symbol_lookup(uint64_t addr, uint64_t *offset);
void symbols_init(void);
extern bool panicking;
/* Called by panic before halting: the test harness reports the failure and ends QEMU. */
extern void (*panic_hook)(void);

#define ASSERT(c) do { if (unlikely(!(c))) panic("assertion failed: %s at %s:%d", #c, __FILE__, __LINE__); } while (0)
