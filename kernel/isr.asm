; The one interrupt entry and exit path.  Each vector's stub pushes an error
; code (a zero where the CPU pushes none) and its number, then the common code
; saves the registers into a struct trap_frame and calls trap_dispatch(frame).
; trap_dispatch may switch threads (the ISR exit hook); whichever thread comes
; back here later pops its own frame and returns with iretq.
bits 64
section .text
extern trap_dispatch

%macro STUB_NOERR 1
isr_stub_%1:
    push 0
    push %1
    jmp isr_common
%endmacro
%macro STUB_ERR 1
isr_stub_%1:
    push %1
    jmp isr_common
%endmacro

%assign v 0
%rep 256
%if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
    STUB_ERR v
%else
    STUB_NOERR v
%endif
%assign v v+1
%endrep

isr_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld
    mov rdi, rsp
    call trap_dispatch
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

section .rodata
global isr_stub_table
isr_stub_table:
%assign v 0
%rep 256
    dq isr_stub_ %+ v
%assign v v+1
%endrep

; bool safe_read64(const void *addr, uint64_t *out): the page-fault handler
; sends a fault at safe_read64_load to safe_read64_fixup (returns false).
section .text
global safe_read64, safe_read64_load, safe_read64_fixup
safe_read64:
safe_read64_load:
    mov rax, [rdi]
    mov [rsi], rax
    mov eax, 1
    ret
safe_read64_fixup:
    xor eax, eax
    ret
