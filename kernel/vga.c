/* VGA text mode mirror of the console (80x25, scrolls). */
#include "console.h"
#include "string.h"

static volatile uint16_t *const vga = (volatile uint16_t *)0xB8000;
static int row, col;

void vga_init(void)
{
    for (int i = 0; i < 80 * 25; i++)
        vga[i] = 0x0700 | ' ';
    row = col = 0;
}

void vga_putc(char c)
{
    if (c == '\n') {
        col = 0;
        row++;
    } else if (c == '\r') {
        col = 0;
    } else if (c == '\b') {
        if (col) col--;
    } else {
        vga[row * 80 + col] = 0x0700 | (uint8_t)c;
        if (++col == 80) { col = 0; row++; }
    }
    if (row == 25) {
        for (int i = 0; i < 80 * 24; i++)
            vga[i] = vga[i + 80];
        for (int i = 80 * 24; i < 80 * 25; i++)
            vga[i] = 0x0700 | ' ';
        row = 24;
    }
}
