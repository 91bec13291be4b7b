/* panic(), stack traces and symbol names from the ELF symbol table GRUB loaded for us. */
#include "panic.h"
#include "printf.h"
#include "multiboot.h"
#include "io.h"
#include "string.h"
#include "power.h"
#include "spinlock.h"

bool panicking;
void (*panic_hook)(void);

struct elf_shdr {
    uint32_t name, type;
    uint64_t flags, addr, offset, size;
    uint32_t link, info;
    uint64_t addralign, entsize;
};
struct elf_sym { uint32_t name; uint8_t info, other; uint16_t shndx; uint64_t value, size; };

static const struct elf_sym *symtab;
static uint64_t nsyms;
static const char *strtab;

void symbols_init(void)
{
    const uint8_t *sh = boot_info.elf_shdrs;
    if (!sh)
        return;
    for (uint32_t i = 0; i < boot_info.elf_shnum; i++) {
        const struct elf_shdr *s = (const void *)(sh + i * boot_info.elf_shentsize);
        if (s->type == 2 /* SHT_SYMTAB */ && s->addr && s->link < boot_info.elf_shnum) {
            const struct elf_shdr *str = (const void *)(sh + s->link * boot_info.elf_shentsize);
            if (!str->addr)
                continue;
            symtab = (const void *)s->addr;
            nsyms = s->size / sizeof(struct elf_sym);
            strtab = (const char *)str->addr;
        }
    }
}

/* Nearest function symbol at or below addr. */
const char *symbol_lookup(uint64_t addr, uint64_t *offset)
{
    const struct elf_sym *best = NULL;
    /* a function that contains addr; else the nearest label (assembly has no sizes) */
    for (uint64_t i = 0; i < nsyms; i++) {
        const struct elf_sym *s = &symtab[i];
        if ((s->info & 0xf) == 2 && s->value <= addr && addr < s->value + s->size)
            best = s;
    }
    if (!best) {
        for (uint64_t i = 0; i < nsyms; i++) {
            const struct elf_sym *s = &symtab[i];
            if ((s->info & 0xf) != 0 || !s->value || s->value > addr)
                continue;
            if (!best || s->value > best->value)
                best = s;
        }
    }
    if (!best)
        return NULL;
    if (offset)
        *offset = addr - best->value;
    return strtab + best->name;
}

static void print_frame(int n, uint64_t rip)
{
    uint64_t off = 0;
    const char *name = symbol_lookup(rip, &off);
    kprintf("  #%d %p %s+0x%lx\n", n, (void *)rip, name ? name : "??", off);
}

/* Walks saved frame pointers; stops at a null or implausible frame. */
void backtrace_from(uint64_t rbp, uint64_t rip)
{
    kprintf("stack trace:\n");
    print_frame(0, rip);
    for (int n = 1; n < 24 && rbp >= 0x1000 && !(rbp & 7); n++) {
        uint64_t *fp = (uint64_t *)rbp;
        uint64_t ret = fp[1];
        if (ret < 0x100000)
            break;
        print_frame(n, ret);
        if (fp[0] <= rbp)
            break;
        rbp = fp[0];
    }
}

void panic(const char *fmt, ...)
{
    irq_disable();
    if (panicking) {
        kprintf("\nnested panic\n");
        power_exit_qemu(false);
    }
    panicking = true;
    va_list ap;
    va_start(ap, fmt);
    kprintf("\n*** PANIC: ");
    kvprintf(fmt, ap);
    kprintf("\n");
    va_end(ap);
    backtrace_from((uint64_t)__builtin_frame_address(0), (uint64_t)&panic);
    if (panic_hook)
        panic_hook();
    kprintf("system halted\n");
    power_exit_qemu(false);
}

void spin_panic(spinlock_t *l, const char *why)
{
    panic("spinlock %s: %s", l->name ? l->name : "?", why);
}
