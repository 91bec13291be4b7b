/* The TSC clock (calibrated against the PIT at boot) and the periodic scheduler tick. */
#pragma once
#include "types.h"

#define TIMER_HZ 1000
void time_init(void);
uint64_t now_ns(void);
uint64_t tsc_hz(void);
static inline uint64_t ns_to_tsc(uint64_t ns) { extern uint64_t tsc_per_sec; return ns * (tsc_per_sec / 1000000) / 1000; }
extern volatile uint64_t jiffies;   /* timer ticks since boot */
/* Called from every timer interrupt (irqs off) when set: the test kernel's watchdog. */
extern void (*volatile timer_tick_hook)(void);
