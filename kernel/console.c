/*
 * The server console: a line-editing prompt on COM1, in its own thread.
 * Input arrives through the UART's receive interrupt (GSI 4), which wakes the
 * console thread.  Editing: backspace/DEL, Ctrl-U (erase line), Ctrl-C
 * (cancel), Up arrow (recall the previous line).  Commands register with
 * CONSOLE_COMMAND in the file that owns them.
 */
#include "console.h"
#include "sched.h"
#include "irq.h"
#include "io.h"
#include "printf.h"
#include "string.h"

extern const struct console_cmd __kcmds_start[], __kcmds_end[];
static struct waitq input_wq = WAITQ_INIT("console");
static char last_line[256];

static void uart_irq(void *arg)
{
    waitq_wake_all(&input_wq);
}

static int getc_blocking(void)
{
    for (;;) {
        int c = serial_getc_nonblock();
        if (c >= 0)
            return c;
        uint64_t f = irq_save();
        /* re-check with interrupts off so a byte arriving now is not slept through */
        c = serial_getc_nonblock();
        if (c < 0)
            waitq_wait_timeout(&input_wq, 200000000ULL);
        irq_restore(f);
        if (c >= 0)
            return c;
    }
}

static void erase(int n)
{
    while (n--)
        kprintf("\b \b");
}

static int read_line(char *buf, int size)
{
    int len = 0, esc = 0;
    for (;;) {
        int c = getc_blocking();
        if (esc == 1) { esc = c == '[' ? 2 : 0; continue; }
        if (esc == 2) {
            esc = 0;
            if (c == 'A' && last_line[0]) {            /* Up: recall */
                erase(len);
                len = (int)strlcpy(buf, last_line, size);
                if (len >= size) len = size - 1;
                kprintf("%s", buf);
            }
            continue;
        }
        if (c == 27) { esc = 1; continue; }
        if (c == '\r' || c == '\n') { kprintf("\n"); buf[len] = 0; return len; }
        if (c == 3) { kprintf("^C\n"); len = 0; buf[0] = 0; return 0; }
        if (c == 21) { erase(len); len = 0; continue; }
        if (c == 8 || c == 127) { if (len) { len--; erase(1); } continue; }
        if (c >= 32 && c < 127 && len < size - 1) {
            buf[len++] = (char)c;
            kprintf("%c", c);
        }
    }
}

int console_execute(char *line)
{
    char *argv[16];
    int argc = 0;
    for (char *p = line; *p && argc < 16;) {
        while (*p == ' ') *p++ = 0;
        if (!*p) break;
        argv[argc++] = p;
        while (*p && *p != ' ') p++;
    }
    if (argc == 0)
        return 0;
    for (const struct console_cmd *c = __kcmds_start; c < __kcmds_end; c++) {
        if (strcmp(c->name, argv[0]) == 0) {
            c->fn(argc, argv);
            return 0;
        }
    }
    kprintf("unknown command '%s' (try 'help')\n", argv[0]);
    return -1;
}

static void console_main(void *arg)
{
    char line[256];
    kprintf("\nWorkToDo console ready: type 'help'\n");
    for (;;) {
        kprintf("worktodo> ");
        int n = read_line(line, sizeof line);
        if (n > 0)
            strlcpy(last_line, line, sizeof last_line);
        console_execute(line);
    }
}

void console_start(void)
{
    outb(0x3F8 + 1, 0x01);                   /* UART: interrupt on received data */
    outb(0x3F8 + 4, 0x0B);                   /* OUT2 gates the IRQ line */
    irq_route_gsi(4, uart_irq, NULL, IRQ_PLAIN, "com1");
    thread_create("console", console_main, NULL);
}

/* Prints the commands in name order, whatever order the linker collected them in. */
static void cmd_help(int argc, char **argv)
{
    const char *last = "";
    for (;;) {
        const struct console_cmd *next = NULL;
        for (const struct console_cmd *c = __kcmds_start; c < __kcmds_end; c++)
            if (strcmp(c->name, last) > 0 && (!next || strcmp(c->name, next->name) < 0))
                next = c;
        if (!next)
            return;
        kprintf("  %-10s %s\n", next->name, next->help);
        last = next->name;
    }
}
CONSOLE_COMMAND("help", "list console commands", cmd_help);
