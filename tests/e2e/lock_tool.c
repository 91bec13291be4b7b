/* lock_tool.c - fcntl byte-range locks for tests/e2e/ncpfs_mount.sh.
 *
 *   lock_tool FILE OP...
 *
 * OP: w:START:LEN, r:START:LEN (F_SETLK write/read), W:..., R:... (F_SETLKW),
 * u:START:LEN (unlock), t:START:LEN (F_GETLK for a write lock), hold:SECONDS.
 * Prints one line per OP: "OP ok", "OP busy" (EAGAIN/EACCES), "OP free" or
 * "OP locked" (t), or "OP error MESSAGE"; exits 1 after an error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: lock_tool FILE OP...\n");
        return 2;
    }
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        printf("open error %s\n", strerror(errno));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 2; i < argc; i++) {
        const char *op = argv[i];
        if (!strncmp(op, "hold:", 5)) {
            usleep((useconds_t)(atof(op + 5) * 1e6));
            printf("%s ok\n", op);
            continue;
        }
        long long start, len;
        char kind;
        if (sscanf(op, "%c:%lld:%lld", &kind, &start, &len) != 3) {
            printf("%s error bad op\n", op);
            return 1;
        }
        struct flock fl = { .l_whence = SEEK_SET, .l_start = start, .l_len = len };
        int cmd = F_SETLK;
        switch (kind) {
        case 'W': cmd = F_SETLKW; /* fall through */
        case 'w':
            fl.l_type = F_WRLCK;
            break;
        case 'R': cmd = F_SETLKW; /* fall through */
        case 'r':
            fl.l_type = F_RDLCK;
            break;
        case 'u':
            fl.l_type = F_UNLCK;
            break;
        case 't':
            fl.l_type = F_WRLCK;
            cmd = F_GETLK;
            break;
        default:
            printf("%s error bad op\n", op);
            return 1;
        }
        if (fcntl(fd, cmd, &fl) < 0) {
            if (errno == EAGAIN || errno == EACCES) {
                printf("%s busy\n", op);
                continue;
            }
            printf("%s error %s\n", op, strerror(errno));
            return 1;
        }
        if (cmd == F_GETLK)
            printf("%s %s\n", op, fl.l_type == F_UNLCK ? "free" : "locked");
        else
            printf("%s ok\n", op);
    }
    return 0;
}
