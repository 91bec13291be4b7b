/* Powering off and leaving QEMU. */
#include "power.h"
#include "io.h"
#include "printf.h"

#define DEBUG_EXIT_PORT 0xF4
static void (*shutdown_hooks[8])(void);
static int nhooks;

void power_register_shutdown_hook(void (*fn)(void))
{
    if (nhooks < 8)
        shutdown_hooks[nhooks++] = fn;
}

void power_run_shutdown_hooks(void)
{
    for (int i = 0; i < nhooks; i++)
        shutdown_hooks[i]();
}

void power_exit_qemu(bool pass)
{
    irq_disable();
    outb(DEBUG_EXIT_PORT, pass ? 0x10 : 0x11);   /* QEMU exits with (v << 1) | 1 */
    power_off();
}

void power_off(void)
{
    irq_disable();
    outw(0x604, 0x2000);     /* q35: SLP_TYP=S5 (0), SLP_EN */
    outw(0xB004, 0x2000);    /* i440fx PIIX4 PM, for completeness */
    for (;;)
        __asm__ volatile("hlt");
}
