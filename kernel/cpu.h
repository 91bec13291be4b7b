/* GDT/TSS, IDT and the trap frame built by kernel/isr.asm. */
#pragma once
#include "types.h"

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

void gdt_init(void);
void idt_init(void);

/* Exception handlers a test can install; returns true if it handled the fault. */
typedef bool (*fault_handler_t)(struct trap_frame *f);
void trap_set_fault_handler(int vector, fault_handler_t fn);

/* Reads 8 bytes at addr; returns false (instead of faulting) if it is not mapped. */
bool safe_read64(const void *addr, uint64_t *out);
