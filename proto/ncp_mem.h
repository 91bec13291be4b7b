/* ncp_mem.h - the only C library pieces proto/ and server/ use.
 * Declared by prototype so the code builds freestanding (the kernel supplies
 * them) and on the host (libc supplies them) without including libc headers. */
#ifndef NCP_MEM_H
#define NCP_MEM_H

#include <stddef.h>

void  *memcpy(void *dst, const void *src, size_t n);
void  *memmove(void *dst, const void *src, size_t n);
void  *memset(void *dst, int c, size_t n);
int    memcmp(const void *a, const void *b, size_t n);
void  *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);

#endif /* NCP_MEM_H */
