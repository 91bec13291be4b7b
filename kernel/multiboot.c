/* Walks the Multiboot2 tag list once at boot and keeps what later layers need. */
#include "multiboot.h"
#include "panic.h"

struct boot_info boot_info;

struct mb_tag { uint32_t type, size; };

void multiboot_parse(uint32_t magic, uint64_t info)
{
    if (magic == PVH_MAGIC) {
        pvh_parse(info);
        return;
    }
    if (magic != MULTIBOOT2_MAGIC)
        panic("not booted by a Multiboot2 or PVH loader (magic %x)", magic);
    uint32_t total = *(uint32_t *)info;
    boot_info.info_start = info;
    boot_info.info_end = info + total;
    boot_info.cmdline = "";
    for (uint64_t p = info + 8; p < info + total;) {
        struct mb_tag *t = (struct mb_tag *)p;
        if (t->type == 0)
            break;
        switch (t->type) {
        case 1:  /* command line */
            boot_info.cmdline = (const char *)(p + 8);
            break;
        case 3:  /* module */
            if (boot_info.mod_count < 8) {
                boot_info.mod_start[boot_info.mod_count] = *(uint32_t *)(p + 8);
                boot_info.mod_end[boot_info.mod_count] = *(uint32_t *)(p + 12);
                boot_info.mod_count++;
            }
            break;
        case 6: { /* memory map */
            uint32_t esize = *(uint32_t *)(p + 8);
            for (uint64_t e = p + 16; e + esize <= p + t->size && boot_info.mmap_count < MB_MAX_MMAP; e += esize) {
                struct mb_region *r = &boot_info.mmap[boot_info.mmap_count++];
                r->base = *(uint64_t *)e;
                r->len = *(uint64_t *)(e + 8);
                r->type = *(uint32_t *)(e + 16);
            }
            break;
        }
        case 9:  /* ELF sections */
            boot_info.elf_shnum = *(uint32_t *)(p + 8);
            boot_info.elf_shentsize = *(uint32_t *)(p + 12);
            boot_info.elf_shndx = *(uint32_t *)(p + 16);
            boot_info.elf_shdrs = (const void *)(p + 20);
            break;
        case 14: case 15:
            boot_info.rsdp = p + 8;
            break;
        }
        p += (t->size + 7) & ~7u;
    }
}
