/* The kernel CSPRNG (kernel/random.c): ChaCha20 against RFC 8439's vectors, the fast key
 * erasure construction, seeding from the hardware source and from jitter alone, reseeding,
 * and the output of the kernel's generator. */
#include "ktest.h"
#include "random.h"
#include "chacha20.h"
#include "string.h"
#include "printf.h"
#include "io.h"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (s[0] && s[1] && n < max) {
        int v = 0;
        for (int i = 0; i < 2; i++) {
            char c = s[i];
            v = v * 16 + (c >= 'a' ? c - 'a' + 10 : c - '0');
        }
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void seq_key(uint8_t key[32])            /* 00 01 02 ... 1f, the RFC's test key */
{
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
}

/* RFC 8439 2.3.2: block function, counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00. */
KTEST(chacha20_rfc8439_block)
{
    uint8_t key[32], nonce[12], out[64], want[64];
    seq_key(key);
    unhex("000000090000004a00000000", nonce, sizeof nonce);
    unhex("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
          "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e", want, sizeof want);
    chacha20_block(key, 1, nonce, out);
    KT_EQ(memcmp(out, want, 64), 0);
}

/* RFC 8439 2.4.2: the "sunscreen" plaintext encrypted from counter 1; and back. */
KTEST(chacha20_rfc8439_encrypt)
{
    static const char plain[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one "
                                "tip for the future, sunscreen would be it.";
    uint8_t key[32], nonce[12], want[114], buf[114];
    KT_EQ(sizeof plain - 1, 114);
    seq_key(key);
    unhex("000000000000004a00000000", nonce, sizeof nonce);
    KT_EQ(unhex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
                "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
                "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
                "5af90bbf74a35be6b40b8eedf2785e42874d", want, sizeof want), 114);
    chacha20_xor(key, 1, nonce, (const uint8_t *)plain, buf, 114);
    KT_EQ(memcmp(buf, want, 114), 0);
    chacha20_xor(key, 1, nonce, buf, buf, 114);       /* in place, back to the plaintext */
    KT_EQ(memcmp(buf, plain, 114), 0);
}

/* RFC 8439 A.1 test vectors #1 and #2: all-zero key and nonce, counters 0 and 1. */
KTEST(chacha20_rfc8439_zero_key)
{
    uint8_t key[32] = { 0 }, nonce[12] = { 0 }, out[64], want[64];
    unhex("76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
          "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586", want, sizeof want);
    chacha20_block(key, 0, nonce, out);
    KT_EQ(memcmp(out, want, 64), 0);
    unhex("9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
          "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f", want, sizeof want);
    chacha20_block(key, 1, nonce, out);
    KT_EQ(memcmp(out, want, 64), 0);
}

/* The construction: output = blocks 0..7 under the key minus the first 32 bytes, which
 * become the next key; handed-out bytes are erased from the buffer. */
KTEST(rng_fast_key_erasure)
{
    static struct rng r;
    static uint8_t want[8 * 64], got[480 + 16];
    uint8_t key[32], zero_nonce[12] = { 0 };
    seq_key(key);
    for (uint32_t i = 0; i < 8; i++)
        chacha20_block(key, i, zero_nonce, want + 64 * i);
    rng_init_key(&r, key);
    rng_read(&r, got, 480);
    KT_EQ(memcmp(got, want + 32, 480), 0);
    KT_EQ(memcmp(r.key, want, 32), 0);              /* the next key: block 0's first half */
    for (size_t i = 0; i < sizeof r.buf; i++)
        KT_EQ(r.buf[i], 0);                         /* nothing handed out stays in memory */
    uint8_t next[64];
    chacha20_block(want, 0, zero_nonce, next);     /* the second refill, under the new key */
    rng_read(&r, got, 16);
    KT_EQ(memcmp(got, next + 32, 16), 0);
    KT_EQ(r.refills, 2);
    KT_EQ(r.bytes_out, 496);
    /* absorbing changes the key and drops what was buffered under the old one */
    uint8_t before[32];
    memcpy(before, r.key, 32);
    rng_absorb(&r, "x", 1);
    KT_NE(memcmp(before, r.key, 32), 0);
    KT_EQ(r.pos, sizeof r.buf);
}

static unsigned popcount64(uint64_t v) { return (unsigned)__builtin_popcountll(v); }

/* Consecutive outputs of the kernel's generator are all different and look balanced. */
KTEST(random_outputs_differ)
{
    static uint64_t v[256];
    for (int i = 0; i < 256; i++)
        v[i] = random_u64();
    for (int i = 0; i < 256; i++)
        for (int j = i + 1; j < 256; j++)
            KT_NE(v[i], v[j]);
    unsigned ones = 0;
    for (int i = 0; i < 256; i++)
        ones += popcount64(v[i]);
    /* 16384 bits: mean 8192, sigma 64; 6 sigma either side */
    KT_GE(ones, 8192 - 384);
    KT_LE(ones, 8192 + 384);
    /* random_bytes of odd sizes and across refills: no two 16-byte pieces equal */
    static uint8_t big[1000];
    random_bytes(big, 3);
    random_bytes(big + 3, sizeof big - 3);
    for (int i = 0; i + 16 <= 1000; i += 16)
        for (int j = i + 16; j + 16 <= 1000; j += 16)
            KT_NE(memcmp(big + i, big + j, 16), 0);
    struct random_stats s;
    random_get_stats(&s);
    KT_GE(s.bytes_out, 256 * 8 + 1000);
}

/* The boot seed came from the hardware source when the CPU has one. */
KTEST(random_boot_seed_used_hardware)
{
    struct random_stats s;
    random_get_stats(&s);
    KT_EQ(s.has_rdrand, random_cpu_has_rdrand());
    KT_EQ(s.boot.asked, RNG_SRC_ALL);
    KT_EQ(s.boot.jitter_samples, RANDOM_JITTER_BOOT);
    if (s.has_rdseed) {
        KT_ASSERT(s.boot.used & RNG_SRC_RDSEED);
        KT_GE(s.boot.rdseed_words, 4);
    } else if (s.has_rdrand) {
        KT_ASSERT(s.boot.used & RNG_SRC_RDRAND);
        KT_EQ(s.boot.rdrand_words, 1024);          /* Intel's seeding recipe, nothing short */
    } else {
        kprintf("  (no RDRAND or RDSEED on this CPU: checked that the boot seed says so)\n");
        KT_EQ(s.boot.used & (RNG_SRC_RDSEED | RNG_SRC_RDRAND), 0);
        KT_EQ(s.boot.rdrand_words + s.boot.rdseed_words, 0);
        KT_GE(s.seeds_without_hw, 1);
    }
    if (s.has_rdrand) {                            /* the instruction itself gives varied words */
        uint64_t w[16];
        for (int i = 0; i < 16; i++)
            KT_ASSERT(random_rdrand64(&w[i]));
        for (int i = 0; i < 16; i++)
            for (int j = i + 1; j < 16; j++)
                KT_NE(w[i], w[j]);
    }
}

/* Seeding from jitter alone (the path of a CPU without RDRAND): two seedings from the same
 * starting key end with different keys, and the report says only jitter was used. */
KTEST(random_jitter_only_seed)
{
    static struct rng a, b, plain;
    uint8_t zero[32] = { 0 }, oa[32], ob[32], op[32];
    struct rng_seed_report ra, rb;
    rng_init_key(&a, zero);
    rng_init_key(&b, zero);
    rng_init_key(&plain, zero);
    rng_seed(&a, RNG_SRC_JITTER, RANDOM_JITTER_BOOT, true, &ra);
    rng_seed(&b, RNG_SRC_JITTER, RANDOM_JITTER_BOOT, true, &rb);
    KT_EQ(ra.asked, RNG_SRC_JITTER);
    KT_EQ(ra.rdrand_words + ra.rdseed_words + rb.rdrand_words + rb.rdseed_words, 0);
    KT_EQ(ra.jitter_samples, RANDOM_JITTER_BOOT);
    kprintf("  jitter: %u and %u of %u samples varied\n", ra.jitter_varied, rb.jitter_varied,
            RANDOM_JITTER_BOOT);
    KT_EQ(ra.used, RNG_SRC_JITTER);               /* TCG's TSC follows the host clock: it varies */
    KT_EQ(rb.used, RNG_SRC_JITTER);
    rng_read(&a, oa, 32);
    rng_read(&b, ob, 32);
    rng_read(&plain, op, 32);
    KT_NE(memcmp(oa, ob, 32), 0);
    KT_NE(memcmp(oa, op, 32), 0);
    KT_NE(memcmp(ob, op, 32), 0);
}

/* Seeding from the hardware source alone (no TSC anywhere): two instances from the same key
 * end apart only if RDRAND really delivered; without RDRAND nothing is mixed in and the
 * report says so. */
KTEST(random_rdrand_only_seed)
{
    static struct rng a, b;
    uint8_t zero[32] = { 0 }, oa[32], ob[32];
    struct rng_seed_report ra, rb;
    rng_init_key(&a, zero);
    rng_init_key(&b, zero);
    rng_seed(&a, RNG_SRC_RDRAND, 0, true, &ra);
    rng_seed(&b, RNG_SRC_RDRAND, 0, true, &rb);
    KT_EQ(ra.jitter_samples + rb.jitter_samples, 0);
    rng_read(&a, oa, 32);
    rng_read(&b, ob, 32);
    if (random_cpu_has_rdrand()) {
        KT_EQ(ra.used, RNG_SRC_RDRAND);
        KT_EQ(ra.rdrand_words, 1024);
        KT_NE(memcmp(oa, ob, 32), 0);
    } else {
        kprintf("  (no RDRAND on this CPU: checked that nothing was mixed in)\n");
        KT_EQ(ra.used, 0);
        KT_EQ(ra.rdrand_words, 0);
        KT_EQ(memcmp(oa, ob, 32), 0);
    }
}

/* random_reseed mixes new material in: the count goes up and the stream changes. */
KTEST(random_reseed)
{
    struct random_stats s0, s1;
    random_get_stats(&s0);
    random_reseed();
    random_get_stats(&s1);
    KT_EQ(s1.reseeds, s0.reseeds + 1);
    KT_EQ(s1.last.jitter_samples, RANDOM_JITTER_BOOT);
    KT_EQ(s1.boot.jitter_samples, s0.boot.jitter_samples);   /* the boot report stays */
    KT_ASSERT(s1.last.used & RNG_SRC_JITTER);
}

/* Callable with interrupts off (the lock is an irq-saving spinlock): no sleep, no deadlock. */
KTEST(random_with_interrupts_off)
{
    uint64_t f = irq_save();
    uint32_t a = random_u32(), b = random_u32();
    bool was_on = f & 0x200;
    irq_restore(f);
    KT_ASSERT(was_on);
    KT_NE((uint64_t)a << 32 | b, 0);
    KT_EQ(irqs_enabled(), true);
}

/* For tests/e2e/random_boot.sh: the first output a test sees after boot. */
KTEST_EXPLICIT(random_boot_output, 20000)
{
    uint64_t v = random_u64();
    kprintf("random first output: %016lx (TSC %lu)\n", v, rdtsc());
    KT_NE(v, 0);
}
