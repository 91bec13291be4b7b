/* Shared by the storage tests. */
#pragma once
#include "types.h"
struct sha256_ctx;
void ktest_sha256_init(struct sha256_ctx *c);
void ktest_sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void ktest_sha256_final(struct sha256_ctx *c, uint8_t out[32]);
void ktest_sha256_hex(const uint8_t *bytes, size_t len, char *out);
