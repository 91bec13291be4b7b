/* lwIP's platform header for the WorkToDo kernel: freestanding, x86-64, no libc. */
#pragma once
#include "types.h"

#define BYTE_ORDER LITTLE_ENDIAN
#define LWIP_NO_INTTYPES_H 1      /* no <inttypes.h>: lwIP's printf formats below */
#define X8_F  "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "lu"
#define LWIP_NO_CTYPE_H 1         /* lwIP's own isdigit & co. */

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void panic(const char *fmt, ...);
#define LWIP_PLATFORM_DIAG(x) do { kprintf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) panic("lwIP assertion \"%s\" failed at %s:%d", x, __FILE__, __LINE__)

/* lwIP's byte-order helpers map onto the compiler's */
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* Local ports and any other lwIP randomness from the kernel's CSPRNG (kernel/random.h);
 * TCP ISNs come from LWIP_HOOK_TCP_ISN (net/net_isn.c). */
uint32_t random_u32(void);
#define LWIP_RAND() ((u32_t)random_u32())
