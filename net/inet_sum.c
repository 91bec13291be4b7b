/* inet_sum.c - the Internet checksum sum (RFC 1071) eight bytes a step.
 *
 * lwIP's own (algorithm 2) adds one 16-bit word per step; under TCG every guest
 * instruction costs alike, so summing the 64-bit words of a frame with the end-around
 * carry takes about a quarter of the instructions (the kernel's NMI profile had lwIP's
 * sum at 5% of a cached read).  The one's complement sum does not depend on byte order
 * (RFC 1071 2.B): words are summed as they sit in memory and the total is folded to 16
 * bits.  A buffer at an odd address is summed as if a zero byte came first, and the
 * result swapped back (as lwIP does).  Loads go through __builtin_memcpy: the kernel is
 * built -ffreestanding, where a plain memcpy would be a call per word. */
#include "net/inet_sum.h"

#include <stddef.h>

static uint64_t add_carry(uint64_t sum, uint64_t w)
{
    sum += w;
    return sum + (sum < w);
}

uint16_t net_inet_sum(const void *data, int len)
{
    const uint8_t *p = data;
    uint64_t sum = 0;
    int odd = (int)((uintptr_t)p & 1);
    if (odd && len > 0) {
        uint16_t first = 0;
        __builtin_memcpy((uint8_t *)&first + 1, p, 1);   /* its place in its aligned word */
        sum = first;
        p++;
        len--;
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        sum = add_carry(sum, w);
    }
    if (len > 0) {
        uint64_t w = 0;
        __builtin_memcpy(&w, p, (size_t)len);   /* the last 1..7 bytes, zeros after them */
        sum = add_carry(sum, w);
    }
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    uint16_t r = (uint16_t)sum;
    return odd ? (uint16_t)(r << 8 | r >> 8) : r;
}
