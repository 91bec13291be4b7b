/* cli_common.c - server address and password for the command-line tools. */
#include "client/cli_common.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int cli_parse_server(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':');
    size_t n = colon && colon != s ? (size_t)(colon - s) : strlen(s);
    if (n == 0 || n >= cap) return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    if (colon && colon != s) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p <= 0 || p > 65535) return -1;
        *port = (int)p;
    }
    return *port > 0 && *port <= 65535 ? 0 : -1;
}

const char *cli_password(const char *prog, const char *user, const char *host)
{
    static char buf[256];
    const char *env = getenv("NCP_PASSWORD");
    if (env) return env;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: no password: set NCP_PASSWORD or run on a terminal\n", prog);
        return NULL;
    }
    struct termios old, quiet;
    bool have_term = tcgetattr(fd, &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    char prompt[384];
    int n = snprintf(prompt, sizeof prompt, "Password for %s@%s: ", user, host);
    if (write(fd, prompt, (size_t)n) < 0) { /* the read below still works */ }
    size_t len = 0;
    char ch;
    while (len + 1 < sizeof buf && read(fd, &ch, 1) == 1 && ch != '\n') buf[len++] = ch;
    buf[len] = '\0';
    if (have_term) tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) { /* cosmetic */ }
    close(fd);
    return buf;
}
