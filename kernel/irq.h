/* Interrupt sources: registration, routing, and the bookkeeping the ISR exit hook uses. */
#pragma once
#include "types.h"
#include "cpu.h"

typedef void (*irq_handler_t)(void *arg);

/* A hooked source is a device whose interrupts do "preemptive I/O" (NetWare
 * remembered which interrupts were network and which were disk). */
enum irq_kind { IRQ_PLAIN = 0, IRQ_HOOKED_NET = 1, IRQ_HOOKED_DISK = 2, IRQ_HOOKED_TEST = 3 };
#define IRQ_KINDS 4

#define VEC_TIMER      32
#define VEC_GSI_BASE   48       /* GSI n -> vector 48 + n */
#define VEC_DYN_BASE   96       /* MSI and test vectors */
#define VEC_SPURIOUS   0xFF

int irq_register(int vector, irq_handler_t fn, void *arg, enum irq_kind kind, const char *name);
int irq_alloc_vector(void);                       /* a free vector for MSI or tests, or -1 */
int irq_route_gsi(int gsi, irq_handler_t fn, void *arg, enum irq_kind kind, const char *name);
void irq_print(void);
/* Interrupts taken so far from the sources of one kind (the benchmarks' cost per request). */
uint64_t irq_taken(enum irq_kind kind);

/* Interrupt nesting depth (0 in thread context). */
extern volatile int irq_depth;
extern struct trap_frame *irq_frame;
static inline bool in_interrupt(void) { return irq_depth > 0; }
