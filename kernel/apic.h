/* Local APIC (timer, EOI, self-IPI) and IOAPIC routing; the 8259s are masked. */
#pragma once
#include "types.h"
void apic_init(void);
void lapic_eoi(void);
void lapic_timer_start(uint32_t hz, uint64_t lapic_ticks_per_sec);
uint64_t lapic_calibrate(uint64_t pit_ticks);   /* LAPIC ticks elapsed over a PIT interval */
void lapic_self_ipi(int vector);
void ioapic_route(int gsi, int vector, bool level, bool active_low);
void ioapic_route_nmi(int gsi);                 /* GSI gsi delivers an NMI to APIC 0 */
void ioapic_mask(int gsi);
