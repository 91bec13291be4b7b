/* memcpy, memset and memmove against byte-at-a-time references: every length 0..70 at every
 * source and destination alignment 0..7, with guard bytes on both sides that must not move. */
#include "ktest.h"
#include "string.h"

#define SPAN 96
static uint8_t src[SPAN + 16], dst[SPAN + 16], want[SPAN + 16];

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

KTEST(memcpy_every_length_and_alignment)
{
    fill_pattern(src, sizeof src, 1);
    for (size_t so = 0; so < 8; so++)
        for (size_t d_off = 0; d_off < 8; d_off++)
            for (size_t n = 0; n <= 70; n++) {
                fill_pattern(dst, sizeof dst, 200);
                fill_pattern(want, sizeof want, 200);
                for (size_t i = 0; i < n; i++)
                    want[d_off + i] = src[so + i];
                void *r = memcpy(dst + d_off, src + so, n);
                KT_EQ((uint64_t)(uintptr_t)r, (uint64_t)(uintptr_t)(dst + d_off));
                KT_EQ(memcmp(dst, want, sizeof dst), 0);
            }
}

KTEST(memset_every_length_and_alignment)
{
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 70; n++) {
            fill_pattern(dst, sizeof dst, 3);
            fill_pattern(want, sizeof want, 3);
            for (size_t i = 0; i < n; i++)
                want[off + i] = 0xC5;
            void *r = memset(dst + off, 0x1C5, n);   /* only the low byte counts */
            KT_EQ((uint64_t)(uintptr_t)r, (uint64_t)(uintptr_t)(dst + off));
            KT_EQ(memcmp(dst, want, sizeof dst), 0);
        }
}

KTEST(memmove_overlapping_both_ways)
{
    for (int shift = -9; shift <= 9; shift++)
        for (size_t n = 0; n <= 40; n++) {
            size_t from = 20, to = (size_t)(20 + shift);
            fill_pattern(dst, sizeof dst, 9);
            fill_pattern(want, sizeof want, 9);
            uint8_t tmp[64];
            for (size_t i = 0; i < n; i++)
                tmp[i] = want[from + i];
            for (size_t i = 0; i < n; i++)
                want[to + i] = tmp[i];
            memmove(dst + to, dst + from, n);
            KT_EQ(memcmp(dst, want, sizeof dst), 0);
        }
}

/* memchr finds the first match inside the span and nothing past it (the users file scanner
 * relies on both). */
KTEST(memchr_first_match_within_span)
{
    static const char text[] = "ab\ncd\n";
    KT_EQ((const char *)memchr(text, '\n', 6) - text, 2);
    KT_EQ((const char *)memchr(text + 3, '\n', 3) - text, 5);
    KT_EQ(memchr(text, '\n', 2) == NULL, 1);
    KT_EQ(memchr(text, 'x', sizeof text) == NULL, 1);
    KT_EQ((const char *)memchr(text, 0x100 + 'c', 6) - text, 3);
}
