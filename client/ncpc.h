/* ncpc.h - shared pieces of the ncpc commands. */
#ifndef NCPC_H
#define NCPC_H

#include "client/ncp_client.h"

struct ncpc_opts {
    const char *host;
    int port;
    const char *user;
};
extern struct ncpc_opts g_opts;

/* Prints "ncpc: WHAT PATH: message (ENAME)" for a completion code or a
 * transport error (code < 0); returns 1 (the exit status). */
int report(struct ncpc *c, int code, const char *what, const char *path);
/* Connects, negotiates and logs in with g_opts; prints and returns non-zero on failure. */
int session_open(struct ncpc *c, uint32_t want_frame);
/* Reads the password from NCP_PASSWORD or the terminal without echo. */
const char *get_password(void);

/* ncpc_transfer.c */
int cmd_get(struct ncpc *c, int argc, char **argv);
int cmd_put(struct ncpc *c, int argc, char **argv);
int cmd_cat(struct ncpc *c, int argc, char **argv);
/* Stats a remote path; returns the completion code (or -1). */
int remote_stat(struct ncpc *c, const char *path, struct ncp_stat *st);

/* ncpc_attr.c: owners and modes */
/* The name of user or group id (NAMES, cached), else the number in buf. */
const char *id_name(struct ncpc *c, uint8_t kind, uint32_t id, char buf[16]);
int cmd_chmod(struct ncpc *c, int argc, char **argv);
int cmd_chown(struct ncpc *c, int argc, char **argv, bool group_only);
int cmd_touch(struct ncpc *c, int argc, char **argv);

/* ncpc_bench.c: connects by itself (many connections). */
int cmd_bench(int argc, char **argv);

#endif
