/* Host tests of net/inet_sum.c against RFC 1071 summed the plain way. */
#include "net/inet_sum.h"
#include "test_harness.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* RFC 1071 as written: 16-bit big-endian words, an odd last byte padded with zero. */
static uint16_t reference(const uint8_t *p, int len)
{
    uint32_t sum = 0;
    for (int i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)sum);    /* lwIP's convention: network order in memory */
}

static uint8_t buf[70000];

static void fill(uint32_t seed, int pattern)
{
    for (size_t i = 0; i < sizeof buf; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = pattern ? (uint8_t)pattern : (uint8_t)(seed >> 16);
    }
}

/* every length to 600 at every alignment to 8, on random bytes */
static void test_every_length_and_alignment(void)
{
    fill(7, 0);
    for (int off = 0; off < 8; off++)
        for (int len = 0; len <= 600; len++)
            CHECK_MSG(net_inet_sum(buf + off, len) == reference(buf + off, len),
                      "offset %d length %d: %04x, want %04x", off, len,
                      net_inet_sum(buf + off, len), reference(buf + off, len));
}

/* 0xff and 0xfe bytes carry on every step; up to 65535 bytes (the largest IP datagram) */
static void test_carries_and_long_buffers(void)
{
    static const int patterns[] = { 0xff, 0xfe, 0x01, 0 };
    static const int lens[] = { 1499, 1500, 9000, 65534, 65535 };
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++) {
        fill(11 + (uint32_t)k, patterns[k]);
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            for (int off = 0; off < 2; off++)
                CHECK_MSG(net_inet_sum(buf + off, lens[i]) == reference(buf + off, lens[i]),
                          "pattern %02x length %d offset %d", patterns[k], lens[i], off);
    }
}

/* a header whose checksum field holds the right sum adds up to 0xffff */
static void test_verifies_a_header(void)
{
    uint8_t ip[20] = { 0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1 };
    uint16_t s = (uint16_t)~net_inet_sum(ip, 20);
    memcpy(ip + 10, &s, 2);
    CHECK_EQ(net_inet_sum(ip, 20), 0xffff);
    CHECK_EQ(ip[10], 0x13);         /* ~(0x4500 + 0x0054 + ... + 0x0001), by hand: 0x13d4 */
    CHECK_EQ(ip[11], 0xd4);
}

int main(void)
{
    RUN(test_every_length_and_alignment);
    RUN(test_carries_and_long_buffers);
    RUN(test_verifies_a_header);
    DONE();
}
