/* fs_genrand SEED NBYTES - writes NBYTES deterministic pseudo-random bytes
 * to stdout.  Generator (so other tools can recompute any byte): xorshift64*
 *   x = SEED (0 is replaced by 0x9E3779B97F4A7C15)
 *   for each 8-byte word: x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
 *                         word = x * 0x2545F4914F6CDD1D, emitted little-endian.
 * Used by scripts/mkdemo.sh for data/random64.bin (SEED 20240501). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SEED NBYTES\n", argv[0]);
        return 2;
    }
    uint64_t x = strtoull(argv[1], NULL, 0);
    uint64_t n = strtoull(argv[2], NULL, 0);
    static uint8_t buf[1 << 16];
    if (!x)
        x = 0x9E3779B97F4A7C15ull;
    while (n) {
        size_t chunk = n < sizeof buf ? (size_t)n : sizeof buf;
        for (size_t i = 0; i < chunk; i += 8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            uint64_t w = x * 0x2545F4914F6CDD1Dull;
            for (size_t b = 0; b < 8 && i + b < chunk; b++)
                buf[i + b] = (uint8_t)(w >> (8 * b));
        }
        if (fwrite(buf, 1, chunk, stdout) != chunk)
            return 1;
        n -= chunk;
    }
    return 0;
}
