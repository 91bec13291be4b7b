/* fuzz_check.h - the one assertion the libFuzzer harnesses use.
 * A broken invariant prints where and why, then aborts: libFuzzer records the
 * input as a crash (build/fuzz/<harness>/crashes/) and the replay suite fails. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(c) do { if (!(c)) { \
    fprintf(stderr, "FUZZ_CHECK failed: %s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

/* The input as a little reader: bytes run out as zeros, so every input is a valid script. */
struct fuzz_in { const uint8_t *p; size_t len, pos; };

static inline uint8_t fin_u8(struct fuzz_in *in)
{
    return in->pos < in->len ? in->p[in->pos++] : 0;
}
static inline uint16_t fin_u16(struct fuzz_in *in)
{
    uint16_t hi = fin_u8(in);
    return (uint16_t)(hi << 8 | fin_u8(in));
}
static inline uint32_t fin_u32(struct fuzz_in *in)
{
    uint32_t hi = fin_u16(in);
    return hi << 16 | fin_u16(in);
}
static inline bool fin_more(const struct fuzz_in *in) { return in->pos < in->len; }
/* Up to n bytes in place (fewer at the end of the input). */
static inline const uint8_t *fin_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
    size_t left = in->len - in->pos;
    *got = n < left ? n : left;
    const uint8_t *p = in->p + in->pos;
    in->pos += *got;
    return p;
}

#endif
