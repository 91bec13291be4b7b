/* What lwIP needs from a C library: heap hooks (MEM_LIBC_MALLOC) and atoi.  LWIP_RAND is the
 * kernel CSPRNG (net/arch/cc.h). */
#include "mm.h"
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
