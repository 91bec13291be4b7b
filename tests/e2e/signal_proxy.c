/* signal_proxy.c - a one-connection TCP relay that signals a process at a chosen point of
 * the protocol, for tests that need a signal to land at an exact moment.
 *
 *   signal_proxy PORT_FILE HOST:PORT FUNCTION PID_FILE SIGNAL
 *
 * Listens on a free loopback port (written to PORT_FILE as "port N"), accepts one client,
 * connects to HOST:PORT and relays bytes both ways.  It follows the client's frames (a
 * 4-byte big-endian length, then the header: the function code is its third byte); once
 * it has passed on the first request with FUNCTION (a decimal number) it sends SIGNAL to
 * the process whose number PID_FILE holds (waiting up to 10 s for the file) before it
 * relays another byte from the server, so the signal always arrives before that
 * request's reply.  Exits when either side closes.  Test tool, not part of WorkToDo.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The number in path, waiting up to 10 s for it to be written; 0 if none. */
static pid_t read_pid(const char *path)
{
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f && fscanf(f, "%d", &pid) == 1 && pid > 0) {
            fclose(f);
            return (pid_t)pid;
        }
        if (f)
            fclose(f);
        usleep(10000);
    }
    return 0;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Where the client's stream is: bytes left of the current frame, and the header bytes
 * seen so far of a new frame's prefix and header. */
struct tracker {
    uint8_t head[7];
    size_t have;
    size_t left;
};

/* Returns 1 once a frame with function fn has begun in these bytes. */
static int track(struct tracker *t, const uint8_t *p, size_t n, int fn)
{
    int seen = 0;
    for (size_t i = 0; i < n;) {
        if (t->left) {
            size_t k = n - i < t->left ? n - i : t->left;
            t->left -= k;
            i += k;
            continue;
        }
        t->head[t->have++] = p[i++];
        if (t->have < sizeof t->head)
            continue;
        uint32_t len = (uint32_t)t->head[0] << 24 | (uint32_t)t->head[1] << 16 | (uint32_t)t->head[2] << 8 | t->head[3];
        if (t->head[6] == fn)
            seen = 1;
        t->left = len > 3 ? len - 3 : 0;
        t->have = 0;
    }
    return seen;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: signal_proxy PORT_FILE HOST:PORT FUNCTION PID_FILE SIGNAL\n");
        return 2;
    }
    char host[64];
    int tport;
    if (sscanf(argv[2], "%63[^:]:%d", host, &tport) != 2)
        return 2;
    int fn = atoi(argv[3]);
    int sig = atoi(argv[5]);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t sl = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
        perror("signal_proxy: listen");
        return 1;
    }
    FILE *pf = fopen(argv[1], "w");
    if (!pf)
        return 1;
    fprintf(pf, "port %d\n", ntohs(sa.sin_port));
    fclose(pf);
    int cfd = accept(lfd, NULL, NULL);
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in ta = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tport) };
    inet_pton(AF_INET, host, &ta.sin_addr);
    if (cfd < 0 || connect(sfd, (struct sockaddr *)&ta, sizeof ta)) {
        perror("signal_proxy: connect");
        return 1;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct tracker t = { { 0 }, 0, 0 };
    int signalled = 0;
    static uint8_t buf[256 * 1024];
    for (;;) {
        struct pollfd p[2] = { { cfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0)
            return 1;
        if (p[0].revents) {
            ssize_t n = recv(cfd, buf, sizeof buf, 0);
            if (n <= 0 || send_all(sfd, buf, (size_t)n))
                return 0;
            if (!signalled && track(&t, buf, (size_t)n, fn)) {
                pid_t pid = read_pid(argv[4]);
                if (pid > 0)
                    kill(pid, sig);             /* before any byte of the reply */
                signalled = 1;
                fprintf(stderr, "signal_proxy: function %d passed on: signal %d sent to %d\n", fn, sig, (int)pid);
            }
        }
        if (p[1].revents) {
            ssize_t n = recv(sfd, buf, sizeof buf, 0);
            if (n <= 0 || send_all(cfd, buf, (size_t)n))
                return 0;
        }
    }
}
