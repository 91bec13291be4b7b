/* The GDT with one 64-bit code and data segment and a TSS carrying the IST stacks:
 * 1 = double fault, 2 = page fault (so a stack overflow can still be reported), 3 = NMI. */
#include "cpu.h"
#include "string.h"

struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));

static uint64_t gdt[7];
static struct tss tss;
static uint8_t ist_stacks[3][8192] __attribute__((aligned(16)));

struct gdt_ptr { uint16_t limit; uint64_t base; } __attribute__((packed));

void gdt_init(void)
{
    gdt[0] = 0;
    gdt[1] = 0x00AF9A000000FFFFULL;     /* kernel code, 64-bit */
    gdt[2] = 0x00CF92000000FFFFULL;     /* kernel data */
    memset(&tss, 0, sizeof tss);
    for (int i = 0; i < 3; i++)
        tss.ist[i] = (uint64_t)&ist_stacks[i][sizeof ist_stacks[i]];
    tss.iomap_base = sizeof tss;
    uint64_t base = (uint64_t)&tss, limit = sizeof tss - 1;
    gdt[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) |
             (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    gdt[4] = base >> 32;
    struct gdt_ptr p = { sizeof gdt - 1, (uint64_t)gdt };
    __asm__ volatile(
        "lgdt %0\n"
        "pushq $0x08\n"
        "leaq 1f(%%rip), %%rax\n"
        "pushq %%rax\n"
        "lretq\n"
        "1: movw $0x10, %%ax\n"
        "movw %%ax, %%ds\n movw %%ax, %%es\n movw %%ax, %%ss\n"
        "movw $0x18, %%ax\n ltr %%ax\n"
        :: "m"(p) : "rax", "memory");
}
