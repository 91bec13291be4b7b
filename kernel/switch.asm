; void switch_to(uint64_t *save_rsp, uint64_t new_rsp)
; Saves the callee-saved registers of the running thread on its stack, stores
; its stack pointer, and resumes the other thread the same way.  Interrupts are
; off on both sides; each side restores its own interrupt flag afterwards.
bits 64
section .text
global switch_to, thread_trampoline
extern thread_start

switch_to:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

; First return of a new thread: ends the frame-pointer chain and enters C.
thread_trampoline:
    xor ebp, ebp
    call thread_start
    ud2
