/* What lwIP needs from a C library: heap hooks (MEM_LIBC_MALLOC), atoi, and LWIP_RAND. */
#include "mm.h"
#include "io.h"
#include "string.h"

void *net_mem_malloc(unsigned long size) { return kmalloc(size); }
void *net_mem_calloc(unsigned long n, unsigned long size)
{
    if (size && n > (~0UL) / size)
        return NULL;
    return kzalloc(n * size);
}
void net_mem_free(void *p) { if (p) kfree(p); }

int atoi(const char *s)
{
    int sign = 1, v = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '-' || *s == '+')
        sign = *s++ == '-' ? -1 : 1;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return sign * v;
}

/* xorshift64* stirred with the TSC: lwIP wants unpredictable ports and ISNs, not crypto. */
uint32_t net_rand(void)
{
    static uint64_t s = 0x9E3779B97F4A7C15ULL;
    s ^= rdtsc();
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (uint32_t)((s * 0x2545F4914F6CDD1DULL) >> 32);
}
