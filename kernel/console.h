/* Serial port and VGA text output, and the server console's command table. */
#pragma once
#include "types.h"

void serial_init(void);
void serial_putc(char c);
int serial_getc_nonblock(void);   /* -1 when nothing is waiting */
void vga_init(void);
void vga_putc(char c);

/* Console commands register themselves with CONSOLE_COMMAND(name, help, fn). */
struct console_cmd {
    const char *name;
    const char *help;
    void (*fn)(int argc, char **argv);
} __attribute__((aligned(16)));
#define CONSOLE_COMMAND(n, h, f) \
    static const struct console_cmd __cmd_##f __attribute__((used, section(".kcmds"), aligned(16))) = { n, h, f }

void console_start(void);                     /* starts the console thread */
int console_execute(char *line);              /* runs one command line; -1 if unknown */
