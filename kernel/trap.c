/*
 * Exceptions and interrupts after isr.asm has built the trap frame.
 * Exceptions: a test's handler or a fix-up first, otherwise a readable panic.
 * Interrupts: the registered handler, end-of-interrupt, then the ISR exit hook
 * (sched_irq_exit), which may switch to a WTD worker or preempt on the timer.
 */
#include "cpu.h"
#include "irq.h"
#include "apic.h"
#include "panic.h"
#include "printf.h"
#include "io.h"
#include "sched.h"
#include "string.h"

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_entry idt[256];
extern uint64_t isr_stub_table[256];
extern char safe_read64_load[], safe_read64_fixup[];
static fault_handler_t fault_handlers[32];

struct irq_source {
    irq_handler_t fn;
    void *arg;
    enum irq_kind kind;
    const char *name;
    uint64_t count;
};
static struct irq_source sources[256];
static uint64_t taken_by_kind[IRQ_KINDS];   /* irqs off (one CPU) */
volatile int irq_depth;
struct trap_frame *irq_frame;            /* the frame of the interrupt being handled */

static const char *exception_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
    "device not available", "double fault", "coprocessor overrun", "invalid TSS",
    "segment not present", "stack fault", "general protection", "page fault", "reserved",
    "x87 error", "alignment check", "machine check", "SIMD error", "virtualization",
    "control protection",
};

void idt_init(void)
{
    for (int v = 0; v < 256; v++) {
        uint64_t a = isr_stub_table[v];
        idt[v] = (struct idt_entry){
            .off_lo = a & 0xFFFF, .sel = KERNEL_CS, .ist = 0, .type = 0x8E,
            .off_mid = (a >> 16) & 0xFFFF, .off_hi = a >> 32, .zero = 0,
        };
    }
    idt[8].ist = 1;     /* double fault */
    idt[14].ist = 2;    /* page fault: survives a blown stack */
    idt[2].ist = 3;     /* NMI */
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) p = { sizeof idt - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" :: "m"(p));
}

void trap_set_fault_handler(int vector, fault_handler_t fn)
{
    if (vector >= 0 && vector < 32)
        fault_handlers[vector] = fn;
}

static void dump_frame(struct trap_frame *f)
{
    kprintf("vector %lu (%s) error %lx\n", f->vector,
            f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector] : "?", f->error);
    uint64_t off = 0;
    const char *sym = symbol_lookup(f->rip, &off);
    kprintf("RIP %016lx %s+0x%lx  CR2 %016lx  RFLAGS %lx\n", f->rip, sym ? sym : "??", off,
            read_cr2(), f->rflags);
    kprintf("RAX %016lx RBX %016lx RCX %016lx RDX %016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    kprintf("RSI %016lx RDI %016lx RBP %016lx RSP %016lx\n", f->rsi, f->rdi, f->rbp, f->rsp);
    kprintf("R8  %016lx R9  %016lx R10 %016lx R11 %016lx\n", f->r8, f->r9, f->r10, f->r11);
    kprintf("R12 %016lx R13 %016lx R14 %016lx R15 %016lx\n", f->r12, f->r13, f->r14, f->r15);
    kprintf("thread: %s\n", current ? current->name : "(boot)");
    backtrace_from(f->rbp, f->rip);
}

static void exception(struct trap_frame *f)
{
    if (fault_handlers[f->vector] && fault_handlers[f->vector](f))
        return;
    if (f->vector == 14 && f->rip == (uint64_t)safe_read64_load) {
        f->rip = (uint64_t)safe_read64_fixup;
        return;
    }
    if (f->vector == 14 && current && thread_stack_guard_hit(current, read_cr2())) {
        panicking = false;
        kprintf("\n*** stack overflow in thread '%s': guard page %p hit\n", current->name, (void *)read_cr2());
    }
    irq_disable();
    kprintf("\n*** CPU exception\n");
    dump_frame(f);
    panic("unhandled exception %lu (%s)", f->vector,
          f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector] : "?");
}

void trap_dispatch(struct trap_frame *f)
{
    if (f->vector < 32) {
        exception(f);
        return;
    }
    idle_wake();
    if (f->vector == VEC_SPURIOUS)
        return;
    struct irq_source *s = &sources[f->vector];
    irq_depth++;
    s->count++;
    taken_by_kind[s->kind]++;
    irq_frame = f;
    if (s->fn)
        s->fn(s->arg);
    lapic_eoi();
    irq_depth--;
    if (irq_depth == 0)
        sched_irq_exit(s->kind != IRQ_PLAIN);
}

int irq_register(int vector, irq_handler_t fn, void *arg, enum irq_kind kind, const char *name)
{
    if (vector < 32 || vector > 254 || sources[vector].fn)
        return -1;
    uint64_t fl = irq_save();
    sources[vector] = (struct irq_source){ fn, arg, kind, name, 0 };
    irq_restore(fl);
    return vector;
}

uint64_t irq_taken(enum irq_kind kind)
{
    return (unsigned)kind < IRQ_KINDS ? taken_by_kind[kind] : 0;
}

int irq_alloc_vector(void)
{
    for (int v = VEC_DYN_BASE; v < 0xF0; v++)
        if (!sources[v].fn)
            return v;
    return -1;
}

int irq_route_gsi(int gsi, irq_handler_t fn, void *arg, enum irq_kind kind, const char *name)
{
    int vector = VEC_GSI_BASE + gsi;
    if (gsi < 0 || gsi >= 24 || irq_register(vector, fn, arg, kind, name) < 0)
        return -1;
    /* PCI INTx lines (GSI 16-23 on q35) are level-triggered, active low. */
    ioapic_route(gsi, vector, gsi >= 16, gsi >= 16);
    return vector;
}

void irq_print(void)
{
    for (int v = 32; v < 256; v++)
        if (sources[v].fn)
            kprintf("  vector %3d %-12s %s %lu\n", v, sources[v].name,
                    sources[v].kind == IRQ_HOOKED_NET ? "hooked:net " :
                    sources[v].kind == IRQ_HOOKED_DISK ? "hooked:disk" :
                    sources[v].kind == IRQ_HOOKED_TEST ? "hooked:test" : "plain      ",
                    sources[v].count);
}
