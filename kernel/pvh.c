/* Fills boot_info from the hvm_start_info a PVH loader (QEMU's -kernel) hands over
 * (boot/pvh.asm).  Layout: Xen's public start_info.h, version 1 (with the memory map). */
#include "multiboot.h"
#include "panic.h"

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
    uint64_t memmap_paddr;                  /* version >= 1 */
    uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry { uint64_t paddr, size, cmdline_paddr, reserved; };
struct hvm_memmap_entry { uint64_t addr, size; uint32_t type, reserved; };

/* The loader places only the loadable segments; the symbol table that stack traces use
 * comes from the kernel's own ELF file, which scripts/run.sh hands over as the first module
 * (-initrd).  Its section headers are copied with the symbol and string tables' addresses
 * pointed into the module, as GRUB's ELF-sections tag would give them. */
#define PVH_MAX_SHDRS 64
struct elf64_ehdr {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_shdr { uint32_t name, type; uint64_t flags, addr, offset, size; uint32_t link, info; uint64_t align, entsize; };
static struct elf64_shdr shdrs[PVH_MAX_SHDRS];

static void sections_from_module(uint64_t base, uint64_t size)
{
    const struct elf64_ehdr *eh = (const void *)base;
    if (size < sizeof *eh || eh->ident[0] != 0x7f || eh->ident[1] != 'E' || eh->ident[2] != 'L' ||
        eh->ident[3] != 'F' || eh->shentsize != sizeof(struct elf64_shdr) || eh->shnum > PVH_MAX_SHDRS ||
        eh->shoff > size || eh->shnum * sizeof(struct elf64_shdr) > size - eh->shoff)
        return;
    const struct elf64_shdr *src = (const void *)(base + eh->shoff);
    for (uint16_t i = 0; i < eh->shnum; i++) {
        shdrs[i] = src[i];
        bool in_file = shdrs[i].offset <= size && shdrs[i].size <= size - shdrs[i].offset;
        bool table = shdrs[i].type == 2 || shdrs[i].type == 3;        /* SYMTAB, STRTAB */
        if (!shdrs[i].addr && table && in_file)
            shdrs[i].addr = base + shdrs[i].offset;
        else if (!(shdrs[i].flags & 2))                               /* not SHF_ALLOC */
            shdrs[i].addr = 0;
    }
    boot_info.elf_shdrs = shdrs;
    boot_info.elf_shnum = eh->shnum;
    boot_info.elf_shentsize = sizeof(struct elf64_shdr);
    boot_info.elf_shndx = eh->shstrndx;
}

void pvh_parse(uint64_t info)
{
    const struct hvm_start_info *si = (const void *)info;
    if (si->magic != PVH_MAGIC)
        panic("PVH start info has a bad magic %x", si->magic);
    if (si->version < 1 || !si->memmap_paddr)
        panic("PVH start info version %u has no memory map", si->version);
    boot_info.info_start = info;
    boot_info.info_end = info + sizeof *si;
    boot_info.cmdline = si->cmdline_paddr ? (const char *)si->cmdline_paddr : "";
    boot_info.rsdp = si->rsdp_paddr;
    const struct hvm_memmap_entry *m = (const void *)si->memmap_paddr;
    for (uint32_t i = 0; i < si->memmap_entries && boot_info.mmap_count < MB_MAX_MMAP; i++) {
        struct mb_region *r = &boot_info.mmap[boot_info.mmap_count++];
        r->base = m[i].addr;
        r->len = m[i].size;
        r->type = m[i].type;                /* E820 types: 1 is RAM, as in Multiboot2 */
    }
    const struct hvm_modlist_entry *mod = (const void *)si->modlist_paddr;
    for (uint32_t i = 0; mod && i < si->nr_modules && boot_info.mod_count < 8; i++) {
        boot_info.mod_start[boot_info.mod_count] = mod[i].paddr;
        boot_info.mod_end[boot_info.mod_count] = mod[i].paddr + mod[i].size;
        boot_info.mod_count++;
    }
    if (boot_info.mod_count)
        sections_from_module(boot_info.mod_start[0], boot_info.mod_end[0] - boot_info.mod_start[0]);
}
