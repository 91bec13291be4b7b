/* ChaCha20 (RFC 8439): 20 rounds over a 4x4 matrix of 32-bit words, little-endian. */
#include "chacha20.h"

static inline uint32_t rotl32(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static inline uint32_t load32_le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32_le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define QR(a, b, c, d) do {                       \
        a += b; d ^= a; d = rotl32(d, 16);        \
        c += d; b ^= c; b = rotl32(b, 12);        \
        a += b; d ^= a; d = rotl32(d, 8);         \
        c += d; b ^= c; b = rotl32(b, 7);         \
    } while (0)

void chacha20_block(const uint8_t key[CHACHA20_KEY_SIZE], uint32_t counter,
                    const uint8_t nonce[CHACHA20_NONCE_SIZE], uint8_t out[CHACHA20_BLOCK_SIZE])
{
    uint32_t in[16], x[16];
    in[0] = 0x61707865;                   /* "expand 32-byte k" */
    in[1] = 0x3320646e;
    in[2] = 0x79622d32;
    in[3] = 0x6b206574;
    for (int i = 0; i < 8; i++)
        in[4 + i] = load32_le(key + 4 * i);
    in[12] = counter;
    for (int i = 0; i < 3; i++)
        in[13 + i] = load32_le(nonce + 4 * i);
    memcpy(x, in, sizeof x);
    for (int i = 0; i < 10; i++) {        /* 10 double rounds: columns, then diagonals */
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        store32_le(out + 4 * i, x[i] + in[i]);
    /* the key sits in in[] and x[]: leave no copy of it on the stack */
    wipe(in, sizeof in);
    wipe(x, sizeof x);
}

void chacha20_xor(const uint8_t key[CHACHA20_KEY_SIZE], uint32_t counter,
                  const uint8_t nonce[CHACHA20_NONCE_SIZE], const uint8_t *in, uint8_t *out, size_t n)
{
    uint8_t ks[CHACHA20_BLOCK_SIZE];
    while (n) {
        chacha20_block(key, counter++, nonce, ks);
        size_t take = MIN(n, (size_t)CHACHA20_BLOCK_SIZE);
        for (size_t i = 0; i < take; i++)
            out[i] = in[i] ^ ks[i];
        in += take;
        out += take;
        n -= take;
    }
    wipe(ks, sizeof ks);
}
