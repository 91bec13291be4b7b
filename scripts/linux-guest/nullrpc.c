/* nullrpc.c - the null-RPC service of the Linux baseline guest (include/null_rpc.h): each
 * 16-byte request is answered, in order, with 4 KiB from a static buffer.  One epoll
 * loop, non-blocking sockets, writev of up to 16 replies at a time.  A connection owing
 * more than MAX_OWED replies is not read until it has taken some (its requests then wait
 * in the kernel's socket buffers, and TCP flow control slows the client): a client that
 * sends and never reads costs one small struct.
 *
 *   nullrpc [PORT]     (default 5241; 0 picks one and prints "port N")
 * Built static by mkinitramfs.sh; the e2e tests build it for the host too.
 */
#define _GNU_SOURCE
#include "include/null_rpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_OWED 256            /* replies owed before a connection stops being read */
#define MAX_CONNS 65536

struct conn {
    int fd;
    uint32_t partial;           /* bytes of a request not yet complete */
    uint32_t owed;              /* replies not yet (fully) written */
    uint32_t off;               /* bytes of the first owed reply already written */
    uint32_t events;            /* what epoll watches now */
};

static uint8_t reply[NULL_RPC_REPLY];
static int epfd;

static void watch(struct conn *c, uint32_t events)
{
    if (events == c->events) return;
    c->events = events;
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void drop(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Writes what is owed; false if the connection is gone. */
static bool pump_out(struct conn *c)
{
    while (c->owed) {
        struct iovec iov[16];
        int n = 0;
        for (uint32_t i = 0; i < c->owed && n < 16; i++, n++) {
            uint32_t skip = i == 0 ? c->off : 0;
            iov[n].iov_base = reply + skip;
            iov[n].iov_len = NULL_RPC_REPLY - skip;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w <= 0) return false;
        uint64_t done = (uint64_t)w + c->off;
        c->owed -= (uint32_t)(done / NULL_RPC_REPLY);
        c->off = (uint32_t)(done % NULL_RPC_REPLY);
    }
    return true;
}

/* Reads requests while it owes little; false if the connection is gone. */
static bool pump_in(struct conn *c)
{
    uint8_t buf[16 * 1024];
    while (c->owed < MAX_OWED) {
        size_t room = (size_t)(MAX_OWED - c->owed) * NULL_RPC_REQ - c->partial;
        if (room > sizeof buf) room = sizeof buf;
        ssize_t r = read(c->fd, buf, room);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) return false;               /* end of stream or error: close (what is owed is lost) */
        uint32_t total = c->partial + (uint32_t)r;
        c->owed += total / NULL_RPC_REQ;
        c->partial = total % NULL_RPC_REQ;
        if (!pump_out(c)) return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : NULL_RPC_PORT;
    for (uint32_t i = 0; i < NULL_RPC_REPLY; i++) reply[i] = null_rpc_byte(i);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) {
        perror("nullrpc: listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    if (port == 0) { printf("port %d\n", ntohs(a.sin_port)); fflush(stdout); }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &ev);
    uint32_t nconns = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    c = nconns < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
                    if (!c) { close(fd); continue; }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c->fd = fd;
                    c->events = EPOLLIN;
                    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
                    nconns++;
                }
                continue;
            }
            bool ok = true;
            if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) ok = false;
            if (ok && (evs[i].events & EPOLLOUT)) ok = pump_out(c);
            if (ok && (evs[i].events & EPOLLIN)) ok = pump_in(c);
            if (!ok) { drop(c); nconns--; continue; }
            watch(c, (c->owed < MAX_OWED ? EPOLLIN : 0) | (c->owed ? EPOLLOUT : 0));
        }
    }
}
