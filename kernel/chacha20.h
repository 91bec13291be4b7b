/* The ChaCha20 block function (RFC 8439 section 2.3): the kernel's one cipher primitive,
 * used by the random number generator (kernel/random.c) and the TCP ISN function. */
#pragma once
#include "types.h"
#include "string.h"

#define CHACHA20_KEY_SIZE   32
#define CHACHA20_NONCE_SIZE 12
#define CHACHA20_BLOCK_SIZE 64

/* One 64-byte keystream block for (key, 32-bit block counter, 96-bit nonce). */
void chacha20_block(const uint8_t key[CHACHA20_KEY_SIZE], uint32_t counter,
                    const uint8_t nonce[CHACHA20_NONCE_SIZE], uint8_t out[CHACHA20_BLOCK_SIZE]);

/* out = in XOR keystream starting at block `counter` (RFC 8439 section 2.4); in may equal out. */
void chacha20_xor(const uint8_t key[CHACHA20_KEY_SIZE], uint32_t counter,
                  const uint8_t nonce[CHACHA20_NONCE_SIZE], const uint8_t *in, uint8_t *out, size_t n);

/* memset that the compiler cannot drop as a dead store: for keys and key material. */
static inline void wipe(void *p, size_t n)
{
    memset(p, 0, n);
    __asm__ volatile("" :: "r"(p) : "memory");
}
