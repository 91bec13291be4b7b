/* What the kernel keeps from its loader: GRUB's Multiboot2 information, or a PVH
 * loader's start info (QEMU -kernel, kernel/pvh.c). */
#pragma once
#include "types.h"

#define MB_MAX_MMAP 64
struct mb_region { uint64_t base, len; uint32_t type; };

struct boot_info {
    const char *cmdline;
    uint64_t info_start, info_end;            /* the info structure itself */
    struct mb_region mmap[MB_MAX_MMAP];
    int mmap_count;
    uint64_t mod_start[8], mod_end[8];
    int mod_count;
    const void *elf_shdrs;                   /* section headers (symbols for stack traces) */
    uint32_t elf_shnum, elf_shentsize, elf_shndx;
    uint64_t rsdp;                           /* copy of the ACPI RSDP tag, or 0 */
};

extern struct boot_info boot_info;
#define MULTIBOOT2_MAGIC 0x36D76289
#define PVH_MAGIC        0x336ec578

/* Fills boot_info from whichever loader the magic names; panics on any other. */
void multiboot_parse(uint32_t magic, uint64_t info);
void pvh_parse(uint64_t info);
