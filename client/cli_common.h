/* cli_common.h - command-line pieces shared by ncpc and ncpfs. */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stddef.h>

/* "HOST:PORT" or "HOST" (port unchanged) into host[cap] and *port; -1 if the
 * port is not 1..65535 or the host does not fit. */
int cli_parse_server(const char *s, char *host, size_t cap, int *port);
/* The password: $NCP_PASSWORD, else asked on /dev/tty without echo ("PROG:
 * Password for USER@HOST: "); NULL (with a message) if neither is there.
 * The result lives in a static buffer. */
const char *cli_password(const char *prog, const char *user, const char *host);

#endif
