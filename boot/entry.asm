; 32-bit entry from GRUB: build identity page tables for the first 4 GiB with
; 2 MiB pages (the top GiB, where PCI MMIO and the APICs live, uncached),
; enter long mode and call kmain(magic, info).
bits 32
section .text
global _start
extern kmain
extern __bss_start, __bss_end

_start:
    cli
    mov edi, eax                  ; multiboot2 magic
    mov esi, ebx                  ; boot information pointer

    ; clear .bss (page tables and the boot stack live there)
    push edi
    mov edi, __bss_start
    mov ecx, __bss_end
    sub ecx, edi
    xor eax, eax
    cld
    rep stosb
    pop edi

    mov esp, boot_stack_top

    ; PML4[0] -> PDPT ; PDPT[0..3] -> four page directories
    mov eax, boot_pdpt
    or eax, 3
    mov [boot_pml4], eax
    xor ecx, ecx
.pdpt_loop:
    mov eax, ecx
    shl eax, 12
    add eax, boot_pd
    or eax, 3
    mov [boot_pdpt + ecx*8], eax
    inc ecx
    cmp ecx, 4
    jb .pdpt_loop

    ; 2048 PD entries of 2 MiB: addr | PS | RW | P, plus PCD|PWT above 3 GiB
    xor ecx, ecx
.pd_loop:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    cmp ecx, 1536
    jb .cached
    or eax, 0x18
.cached:
    mov [boot_pd + ecx*8], eax
    mov dword [boot_pd + ecx*8 + 4], 0
    inc ecx
    cmp ecx, 2048
    jb .pd_loop

    mov eax, boot_pml4
    mov cr3, eax
    mov eax, cr4
    or eax, (1 << 5)              ; PAE
    mov cr4, eax
    mov ecx, 0xC0000080           ; EFER
    rdmsr
    or eax, (1 << 8) | (1 << 11)  ; LME, NXE
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16) ; PG, WP
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    jmp 0x08:long_mode

bits 64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov rsp, boot_stack_top
    xor rbp, rbp                  ; terminates stack traces
    ; edi = magic, esi = info (zero-extended by the 32-bit moves above)
    mov edi, edi
    mov esi, esi
    call kmain
.hang:
    cli
    hlt
    jmp .hang

section .rodata
align 16
boot_gdt:
    dq 0
    dq 0x00AF9A000000FFFF         ; 0x08: 64-bit code
    dq 0x00CF92000000FFFF         ; 0x10: data
boot_gdt_ptr:
    dw $ - boot_gdt - 1
    dq boot_gdt

section .bss
align 4096
global boot_pml4
boot_pml4:  resb 4096
boot_pdpt:  resb 4096
boot_pd:    resb 4096 * 4
align 16
global boot_stack_top
boot_stack: resb 16384
boot_stack_top:
