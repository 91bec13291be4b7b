; Multiboot2 header: asks GRUB for a plain ELF load (no a.out kludge) and
; page-aligned modules. GRUB hands us eax=magic, ebx=boot information.
section .multiboot2
align 8
mb2_header:
    dd 0xE85250D6                 ; magic
    dd 0                          ; architecture: i386 protected mode
    dd mb2_header_end - mb2_header
    dd -(0xE85250D6 + 0 + (mb2_header_end - mb2_header))
    ; module alignment tag
    align 8
    dw 6, 0
    dd 8
    ; end tag
    align 8
    dw 0, 0
    dd 8
mb2_header_end:
