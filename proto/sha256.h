/* sha256.h - portable SHA-256 (FIPS 180-4) for password hashing. */
#ifndef NCP_SHA256_H
#define NCP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE  64

struct sha256_ctx {
    uint32_t state[8];
    uint64_t total;                     /* bytes hashed so far */
    uint8_t  block[SHA256_BLOCK_SIZE];
    size_t   used;                      /* bytes waiting in block */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]);
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE]);

/* Lower-case hex of `len` bytes into out[2*len+1]. */
void sha256_hex(const uint8_t *bytes, size_t len, char *out);
/* Parses exactly 2*len hex digits; false on any other character. */
int  sha256_unhex(const char *hex, size_t hex_len, uint8_t *out, size_t len);

#endif /* NCP_SHA256_H */
