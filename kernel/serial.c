/* COM1 at 115200 8N1; polled output, interrupt-free input polled by the console thread. */
#include "console.h"
#include "io.h"

#define COM1 0x3F8

void serial_init(void)
{
    outb(COM1 + 1, 0x00);    /* no interrupts */
    outb(COM1 + 3, 0x80);    /* DLAB */
    outb(COM1 + 0, 0x01);    /* divisor 1 = 115200 */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);    /* 8N1 */
    outb(COM1 + 2, 0xC7);    /* FIFO on, cleared */
    outb(COM1 + 4, 0x03);    /* DTR, RTS */
}

void serial_putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

int serial_getc_nonblock(void)
{
    if (inb(COM1 + 5) & 1)
        return inb(COM1);
    return -1;
}
