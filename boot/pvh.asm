; PVH entry: lets QEMU's -kernel boot the ELF directly (no GRUB, no ISO), the fast path of
; tests and benchmarks.  QEMU finds the 32-bit entry point in the XEN_ELFNOTE_PHYS32_ENTRY
; note and enters it in flat 32-bit protected mode with paging off, ebx pointing at an
; hvm_start_info (magic 0x336ec578): the same machine state as Multiboot2 hands over, so the
; one entry path serves both; kmain tells them apart by the magic in eax.
bits 32

section .note.Xen note alloc noexec nowrite align=4
    dd 4                          ; name size ("Xen\0")
    dd 4                          ; descriptor size
    dd 18                         ; XEN_ELFNOTE_PHYS32_ENTRY
    db "Xen", 0
    dd pvh_start

section .text
extern _start
global pvh_start
pvh_start:
    mov eax, 0x336ec578           ; hvm_start_info magic: "booted by PVH"
    jmp _start
