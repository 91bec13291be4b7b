#pragma once
#include "types.h"
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
size_t strlcpy(char *dst, const char *src, size_t size);
bool parse_u64(const char *s, uint64_t *out);

/* -ffreestanding turns GCC's builtins off, so even a copy of 4 constant bytes (an address,
 * a header field) would be a call.  Through the builtins GCC inlines small constant sizes
 * and calls the functions above for the rest.  (kernel/string.c defines them as
 * (memcpy) etc., out of the macros' reach.) */
#define memcpy(d, s, n) __builtin_memcpy(d, s, n)
#define memset(d, c, n) __builtin_memset(d, c, n)
#define memcmp(a, b, n) __builtin_memcmp(a, b, n)
