/*
 * Host-side driver for the network end-to-end tests (tests/e2e/net_*.sh), built on the
 * fly with cc.  Every operation is bounded by an alarm() deadline.
 *
 *   net_tool echo HOST PORT BYTES            random bytes through the echo service, compared
 *   net_tool source HOST PORT BYTES          ask the source service for BYTES, check the count
 *   net_tool discard HOST PORT BYTES         push BYTES into the discard service
 *   net_tool nullrpc HOST PORT N             N null RPCs (include/null_rpc.h), 32 in flight:
 *                                            every reply byte checked; then a request split
 *                                            15 + 1 bytes is answered only when complete,
 *                                            and the end of stream closes the connection
 *   net_tool conns HOST PORT N OK            open N connections: expect OK accepted and the
 *                                            rest refused, then every accepted one still echoes
 *   net_tool ping HOST N                     N ICMP echo requests, each answered within 2 s
 *   net_tool raw IFACE DSTMAC DSTIP KIND N   send N bad frames (runt|oversize|badipsum|badver|
 *                                            badlen|badtcpsum|garbage) from a packet socket
 *   net_tool isn IFACE HOST PORT N           open and close N connections, read the server's
 *                                            ISN from each SYN-ACK on a packet socket, and
 *                                            fail if they form a predictable sequence
 * Prints one result line; exit status 0 on success.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "include/null_rpc.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "net_tool: deadline passed\n";
    (void)!write(2, m, sizeof m - 1);
    _exit(3);
}

static int tcp_connect(const char *host, int port, int *err)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        *err = EINVAL;
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static uint64_t rng = 0x243F6A8885A308D3ULL;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

/* Sends n random bytes and reads them back; both directions at once through poll(). */
static int do_echo(const char *host, int port, size_t n)
{
    int err;
    int fd = tcp_connect(host, port, &err);
    if (fd < 0) {
        printf("echo: connect: %s\n", strerror(err));
        return 1;
    }
    uint8_t *out = malloc(n), *in = malloc(n);
    rng ^= (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);
    for (size_t i = 0; i < n; i++)
        out[i] = rnd8();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0;
    double t0 = now();
    while (got < n) {
        struct pollfd p = { fd, POLLIN | (sent < n ? POLLOUT : 0), 0 };
        if (poll(&p, 1, 10000) <= 0) {
            printf("echo: stalled after %zu sent, %zu received\n", sent, got);
            return 1;
        }
        if ((p.revents & POLLOUT) && sent < n) {
            ssize_t w = write(fd, out + sent, n - sent > 65536 ? 65536 : n - sent);
            if (w > 0)
                sent += (size_t)w;
            else if (errno != EAGAIN) {
                printf("echo: write: %s\n", strerror(errno));
                return 1;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(fd, in + got, n - got);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                printf("echo: connection ended after %zu of %zu bytes\n", got, n);
                return 1;
            }
            if (r > 0)
                got += (size_t)r;
        }
    }
    double dt = now() - t0;
    for (size_t i = 0; i < n; i++)
        if (in[i] != out[i]) {
            printf("echo: byte %zu differs (sent %02x, got %02x)\n", i, out[i], in[i]);
            return 1;
        }
    close(fd);
    printf("echo: %zu bytes back intact in %.2f s (%.2f MB/s each way)\n", n, dt, n / dt / 1e6);
    return 0;
}

static int do_source(const char *host, int port, unsigned long long n)
{
    int err;
    int fd = tcp_connect(host, port, &err);
    if (fd < 0) {
        printf("source: connect: %s\n", strerror(err));
        return 1;
    }
    char req[32];
    int l = snprintf(req, sizeof req, "%llu\n", n);
    if (write(fd, req, l) != l) {
        printf("source: write: %s\n", strerror(errno));
        return 1;
    }
    static char buf[1 << 16];
    unsigned long long got = 0;
    double t0 = now();
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) {
            printf("source: read: %s after %llu bytes\n", strerror(errno), got);
            return 1;
        }
        if (r == 0)
            break;
        /* chargen: line k, column i holds ' ' + (k + i) % 95; lines are 74 bytes with CRLF */
        for (ssize_t i = 0; i < r; i++) {
            unsigned long long pos = got + (unsigned long long)i;
            unsigned long long line = pos / 74, col = pos % 74;
            char want = col == 72 ? '\r' : col == 73 ? '\n' : (char)(' ' + (line + col) % 95);
            if (buf[i] != want) {
                printf("source: byte %llu is %02x, want %02x\n", pos, (uint8_t)buf[i], (uint8_t)want);
                return 1;
            }
        }
        got += (unsigned long long)r;
    }
    double dt = now() - t0;
    close(fd);
    if (got != n) {
        printf("source: got %llu bytes, asked for %llu\n", got, n);
        return 1;
    }
    printf("source: %llu bytes in %.2f s (%.2f MB/s)\n", got, dt, got / dt / 1e6);
    return 0;
}

/* Reads exactly n reply bytes starting at reply offset `pos` (mod NULL_RPC_REPLY), checked. */
static int nullrpc_read(int fd, unsigned long long n, unsigned long long *pos)
{
    static uint8_t buf[1 << 16];
    while (n) {
        ssize_t r = read(fd, buf, n < sizeof buf ? n : sizeof buf);
        if (r <= 0) {
            printf("nullrpc: read: %s with %llu bytes still due\n", r ? strerror(errno) : "end of stream", n);
            return 1;
        }
        for (ssize_t i = 0; i < r; i++, (*pos)++) {
            uint8_t want = null_rpc_byte((uint32_t)(*pos % NULL_RPC_REPLY));
            if (buf[i] != want) {
                printf("nullrpc: reply byte %llu is %02x, want %02x\n", *pos, buf[i], want);
                return 1;
            }
        }
        n -= (unsigned long long)r;
    }
    return 0;
}

static int do_nullrpc(const char *host, int port, unsigned long n)
{
    int err;
    int fd = tcp_connect(host, port, &err);
    if (fd < 0) {
        printf("nullrpc: connect: %s\n", strerror(err));
        return 1;
    }
    uint8_t req[32 * NULL_RPC_REQ];
    memset(req, 0xa5, sizeof req);
    unsigned long long pos = 0;
    double t0 = now();
    for (unsigned long done = 0; done < n;) {
        unsigned long k = n - done < 32 ? n - done : 32;
        if (write(fd, req, k * NULL_RPC_REQ) != (ssize_t)(k * NULL_RPC_REQ)) {
            printf("nullrpc: write: %s\n", strerror(errno));
            return 1;
        }
        if (nullrpc_read(fd, k * NULL_RPC_REPLY, &pos))
            return 1;
        done += k;
    }
    double dt = now() - t0;
    /* 15 bytes are no request yet: nothing comes back */
    if (write(fd, req, NULL_RPC_REQ - 1) != NULL_RPC_REQ - 1)
        return printf("nullrpc: write: %s\n", strerror(errno)), 1;
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    if (poll(&pf, 1, 500) != 0) {
        printf("nullrpc: an answer to a partial request (15 of 16 bytes)\n");
        return 1;
    }
    /* the 16th byte completes it: one reply */
    if (write(fd, req, 1) != 1 || nullrpc_read(fd, NULL_RPC_REPLY, &pos))
        return 1;
    /* end of our stream: the server closes, with nothing more */
    shutdown(fd, SHUT_WR);
    uint8_t extra;
    ssize_t r = read(fd, &extra, 1);
    if (r != 0) {
        printf("nullrpc: after our end of stream: %s\n", r > 0 ? "more bytes" : strerror(errno));
        return 1;
    }
    close(fd);
    printf("nullrpc: %lu requests answered intact in %.2f s (%.0f/s, 32 in flight)\n", n, dt, n / dt);
    return 0;
}

static int do_discard(const char *host, int port, size_t n)
{
    int err;
    int fd = tcp_connect(host, port, &err);
    if (fd < 0) {
        printf("discard: connect: %s\n", strerror(err));
        return 1;
    }
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    size_t sent = 0;
    double t0 = now();
    while (sent < n) {
        ssize_t w = write(fd, buf, n - sent > sizeof buf ? sizeof buf : n - sent);
        if (w <= 0) {
            printf("discard: write: %s\n", strerror(errno));
            return 1;
        }
        sent += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0)
        ;
    double dt = now() - t0;
    close(fd);
    printf("discard: %zu bytes in %.2f s (%.2f MB/s)\n", n, dt, n / dt / 1e6);
    return 0;
}

static int do_conns(const char *host, int port, int n, int want_ok)
{
    int *fds = calloc(n, sizeof *fds), ok = 0, refused = 0, other = 0;
    for (int i = 0; i < n; i++) {
        int err;
        fds[i] = tcp_connect(host, port, &err);
        if (fds[i] >= 0)
            ok++;
        else if (err == ECONNREFUSED || err == ECONNRESET)
            refused++;
        else
            other++;
    }
    int echoed = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char msg[32], back[32];
        int l = snprintf(msg, sizeof msg, "hello %d\n", i), got = 0;
        struct timeval tv = { 5, 0 };
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (write(fds[i], msg, l) != l)
            continue;
        while (got < l) {
            ssize_t r = read(fds[i], back + got, l - got);
            if (r <= 0)
                break;
            got += (int)r;
        }
        if (got == l && !memcmp(msg, back, l))
            echoed++;
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    printf("conns: %d opened, %d refused, %d other errors, %d of the opened still echo\n", ok, refused, other,
           echoed);
    return !(ok == want_ok && refused == n - want_ok && echoed == ok);
}

/* ---- bad frames from a packet socket ---- */
static uint16_t csum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

static int do_raw(const char *ifname, const char *dstmac, const char *dstip, const char *kind, int count)
{
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        printf("raw: socket: %s\n", strerror(errno));
        return 1;
    }
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
        printf("raw: %s: %s\n", ifname, strerror(errno));
        return 1;
    }
    int ifindex = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        printf("raw: hwaddr: %s\n", strerror(errno));
        return 1;
    }
    uint8_t src[6], dst[6];
    memcpy(src, ifr.ifr_hwaddr.sa_data, 6);
    if (sscanf(dstmac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst[0], &dst[1], &dst[2], &dst[3], &dst[4], &dst[5]) != 6) {
        printf("raw: bad mac %s\n", dstmac);
        return 1;
    }
    struct in_addr dip;
    inet_pton(AF_INET, dstip, &dip);
    static uint8_t f[9000];
    size_t len;
    memset(f, 0, sizeof f);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08, f[13] = 0x00;             /* IPv4 */
    uint8_t *ip = f + 14, *tcp = ip + 20;
    /* a plausible IPv4 + TCP SYN to port 7 that each kind then breaks */
    ip[0] = 0x45, ip[8] = 64, ip[9] = 6;
    ip[2] = 0, ip[3] = 40;
    ip[12] = 10, ip[13] = 77, ip[14] = 0, ip[15] = 1;
    memcpy(ip + 16, &dip, 4);
    tcp[0] = 0x9c, tcp[1] = 0x40, tcp[2] = 0, tcp[3] = 7;
    tcp[12] = 0x50, tcp[13] = 0x02, tcp[14] = 0xff, tcp[15] = 0xff;
    len = 14 + 40;
    if (!strcmp(kind, "runt")) {
        /* 20 bytes: an Ethernet header and a third of an IPv4 header.  (Linux will not
         * send less than a header; QEMU pads runts to 60 bytes with zeros, so the guest
         * sees an IPv4 header with a zero checksum.) */
        len = 20;
    } else if (!strcmp(kind, "oversize")) {
        len = 2000;                         /* more than 1518 bytes */
        ip[2] = (uint8_t)((len - 14) >> 8), ip[3] = (uint8_t)(len - 14);
    } else if (!strcmp(kind, "badipsum")) {
        ip[10] = 0x12, ip[11] = 0x34;
    } else if (!strcmp(kind, "badver")) {
        ip[0] = 0x75;
    } else if (!strcmp(kind, "badlen")) {
        ip[2] = 0x05, ip[3] = 0xdc;         /* claims 1500 bytes, has 40 */
    } else if (!strcmp(kind, "badtcpsum")) {
        tcp[16] = 0xde, tcp[17] = 0xad;
    } else if (!strcmp(kind, "garbage")) {
        for (size_t i = 12; i < 60; i++)
            f[i] = (uint8_t)(i * 37 + 11);
        f[12] = 0x88, f[13] = 0xb5;         /* local experimental ethertype nobody speaks */
        len = 60;
    } else {
        printf("raw: unknown kind %s\n", kind);
        return 1;
    }
    if (strcmp(kind, "badipsum") && strcmp(kind, "runt") && strcmp(kind, "garbage")) {
        ip[10] = ip[11] = 0;
        uint16_t c = csum(ip, 20);
        ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
    }
    struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
    memcpy(sa.sll_addr, dst, 6);
    int sent = 0;
    for (int i = 0; i < count; i++) {
        if (sendto(fd, f, len, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)len)
            sent++;
        else
            printf("raw: sendto %s (%zu bytes): %s\n", kind, len, strerror(errno));
        usleep(2000);
    }
    close(fd);
    printf("raw: sent %d of %d %s frames (%zu bytes)\n", sent, count, kind, len);
    return sent != count;
}

static int do_ping(const char *host, int count)
{
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    struct sockaddr_in a = { .sin_family = AF_INET };
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        printf("ping: socket: %s\n", strerror(errno));
        return 1;
    }
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int answered = 0;
    double rtt_sum = 0;
    for (int seq = 1; seq <= count; seq++) {
        uint8_t req[64] = { 8, 0, 0, 0, 0x12, 0x34, 0, (uint8_t)seq };
        for (int i = 8; i < 64; i++)
            req[i] = (uint8_t)i;
        uint16_t c = csum(req, sizeof req);
        req[2] = (uint8_t)(c >> 8), req[3] = (uint8_t)c;
        double t0 = now();
        if (sendto(fd, req, sizeof req, 0, (struct sockaddr *)&a, sizeof a) != sizeof req)
            continue;
        for (;;) {
            uint8_t buf[1500];
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0)
                break;              /* timeout */
            size_t hl = (size_t)(buf[0] & 15) * 4;
            if ((size_t)r >= hl + 8 && buf[hl] == 0 && buf[hl + 4] == 0x12 && buf[hl + 5] == 0x34 &&
                buf[hl + 7] == (uint8_t)seq && !memcmp(buf + 12, &a.sin_addr, 4)) {
                answered++;
                rtt_sum += now() - t0;
                if (getenv("NET_TOOL_VERBOSE"))
                    printf("  seq %d: %.2f ms\n", seq, (now() - t0) * 1e3);
                break;
            }
        }
    }
    close(fd);
    printf("ping: %d of %d answered, average %.2f ms\n", answered, count,
           answered ? rtt_sum / answered * 1e3 : 0.0);
    return answered != count;
}

/* ---- the server's initial sequence numbers, from its SYN-ACKs ---- */
static int do_isn(const char *ifname, const char *host, int port, int n)
{
    int ps = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));     /* IP packets, no link header */
    if (ps < 0) {
        printf("isn: packet socket: %s\n", strerror(errno));
        return 1;
    }
    struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
                              .sll_ifindex = (int)if_nametoindex(ifname) };
    if (!ll.sll_ifindex || bind(ps, (struct sockaddr *)&ll, sizeof ll) < 0) {
        printf("isn: %s: %s\n", ifname, strerror(errno));
        return 1;
    }
    struct in_addr server;
    inet_pton(AF_INET, host, &server);
    uint32_t *isn = calloc(n, sizeof *isn);
    int got = 0;
    for (int i = 0; i < n; i++) {
        int err;
        int fd = tcp_connect(host, port, &err);
        if (fd < 0) {
            printf("isn: connection %d: %s\n", i, strerror(err));
            return 1;
        }
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &ml);
        close(fd);
        double end = now() + 2;
        bool found = false;
        while (!found && now() < end) {            /* the SYN-ACK is queued by now */
            uint8_t pkt[2048];
            struct pollfd pf = { ps, POLLIN, 0 };
            if (poll(&pf, 1, 200) <= 0)
                continue;
            ssize_t len = recv(ps, pkt, sizeof pkt, 0);
            if (len < 40 || (pkt[0] >> 4) != 4 || pkt[9] != IPPROTO_TCP)
                continue;
            size_t ihl = (size_t)(pkt[0] & 15) * 4;
            if ((size_t)len < ihl + 20 || memcmp(pkt + 12, &server, 4))
                continue;
            const uint8_t *t = pkt + ihl;
            uint16_t sport = (uint16_t)(t[0] << 8 | t[1]), dport = (uint16_t)(t[2] << 8 | t[3]);
            if (sport != port || dport != ntohs(me.sin_port) || (t[13] & 0x12) != 0x12)
                continue;
            isn[got++] = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
            found = true;
        }
        if (!found) {
            printf("isn: no SYN-ACK seen for connection %d\n", i);
            return 1;
        }
    }
    int same_step = 0, small_step = 0, top_distinct = 0;
    uint8_t seen[256] = { 0 };
    for (int i = 0; i < got; i++) {
        if (!seen[isn[i] >> 24]++)
            top_distinct++;
        if (i >= 1 && isn[i] - isn[i - 1] < 0x01000000u)
            small_step++;
        if (i >= 2 && isn[i] - isn[i - 1] == isn[i - 1] - isn[i - 2])
            same_step++;
    }
    printf("isn: %d SYN-ACKs, first %08x %08x %08x; %d distinct top bytes, %d small steps, %d equal steps\n",
           got, isn[0], isn[1], isn[2], top_distinct, small_step, same_step);
    /* random 32-bit values: a step below 2^24 has probability 1/256 and equal steps 2^-32 */
    return !(same_step <= 1 && small_step <= got / 8 && top_distinct >= got * 5 / 8);
}

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm(240);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && !strcmp(argv[1], "echo"))
        return do_echo(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0));
    if (argc >= 5 && !strcmp(argv[1], "source"))
        return do_source(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0));
    if (argc >= 5 && !strcmp(argv[1], "nullrpc"))
        return do_nullrpc(argv[2], atoi(argv[3]), strtoul(argv[4], NULL, 0));
    if (argc >= 5 && !strcmp(argv[1], "discard"))
        return do_discard(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0));
    if (argc >= 6 && !strcmp(argv[1], "conns"))
        return do_conns(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 4 && !strcmp(argv[1], "ping"))
        return do_ping(argv[2], atoi(argv[3]));
    if (argc >= 7 && !strcmp(argv[1], "raw"))
        return do_raw(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]));
    if (argc >= 6 && !strcmp(argv[1], "isn"))
        return do_isn(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: see the comment at the top of net_tool.c\n");
    return 2;
}
