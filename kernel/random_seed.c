/*
 * Seed material for the generator (kernel/random.h): RDSEED and RDRAND where CPUID says
 * the CPU has them, used as Intel's DRNG guide recommends and never trusted blindly, and
 * timing jitter, always.  rng_seed() mixes what it got into an instance with rng_absorb()
 * and reports what each source delivered.
 */
#include "random.h"
#include "time.h"
#include "io.h"

#define RDRAND_RETRIES   10     /* Intel DRNG guide: 10 failures in a row mean a broken unit */
#define RDSEED_RETRIES   100    /* RDSEED may run dry for a while: retry longer, with pause */
#define RDSEED_WORDS     16     /* full-entropy 64-bit words (1024 bits for a 256-bit key) */
#define RDRAND_SEED_WORDS 1024  /* Intel's way to seed from RDRAND: 512 x 128 bits, i.e. at
                                   least one reseed of the DRBG inside what is mixed */
#define HW_LIGHT_WORDS   16     /* hardware words in a periodic (light) reseed */
#define HW_GIVE_UP       8      /* failed words after which a source is left for this seeding */
#define HW_MIN_WORDS     4      /* a source delivered if it gave at least 256 bits */

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

bool random_cpu_has_rdrand(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    return r[2] & (1u << 30);            /* CPUID.01H:ECX.RDRAND[bit 30] */
}

bool random_cpu_has_rdseed(void)
{
    uint32_t r[4];
    cpuid(0, 0, r);
    if (r[0] < 7)
        return false;
    cpuid(7, 0, r);
    return r[1] & (1u << 18);            /* CPUID.(EAX=07H,ECX=0):EBX.RDSEED[bit 18] */
}

/* A word with CF set that is all zeros or all ones is taken as a failure: some AMD parts
 * return ~0 with CF=1 after a suspend, and either value is 2^-64 likely from a working unit. */
bool random_rdrand64(uint64_t *v)
{
    for (int i = 0; i < RDRAND_RETRIES; i++) {
        uint64_t x;
        uint8_t ok;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(x), "=qm"(ok) :: "cc");
        if (ok && x != 0 && x != ~0ULL) {
            *v = x;
            return true;
        }
    }
    return false;
}

bool random_rdseed64(uint64_t *v)
{
    for (int i = 0; i < RDSEED_RETRIES; i++) {
        uint64_t x;
        uint8_t ok;
        __asm__ volatile("rdseed %0; setc %1" : "=r"(x), "=qm"(ok) :: "cc");
        if (ok && x != 0 && x != ~0ULL) {
            *v = x;
            return true;
        }
        cpu_relax();
    }
    return false;
}

/* ---- seeding ---- */

static uint32_t absorb_hw(struct rng *r, bool (*get)(uint64_t *), uint32_t want, uint32_t *failures)
{
    uint64_t words[12], prev = 0;
    uint32_t got = 0, n = 0;
    *failures = 0;
    while (got < want && *failures < HW_GIVE_UP) {
        uint64_t v;
        if (!get(&v) || v == prev) {     /* a repeated word: a stuck source, not randomness */
            (*failures)++;
            continue;
        }
        prev = v;
        words[n++] = v;
        got++;
        if (n == ARRAY_SIZE(words)) {
            rng_absorb(r, words, sizeof words);
            n = 0;
        }
    }
    if (n)
        rng_absorb(r, words, n * sizeof words[0]);
    wipe(words, sizeof words);
    return got;
}

/* A fixed amount of work (a data-dependent walk over a small buffer, always the same number
 * of steps): on a deterministic machine each sample takes the same time, so whatever varies
 * between samples comes from the machine (caches, interrupts, the host under TCG), not from
 * us, and the varied count below measures exactly that. */
#define JITTER_STEPS 32
static uint64_t jitter_work(uint8_t *mem, size_t size, uint64_t acc)
{
    for (unsigned i = 0; i < JITTER_STEPS; i++) {
        size_t at = ((acc >> 7) ^ (i * 131u)) & (size - 1);
        mem[at] += (uint8_t)acc;
        acc = acc * 6364136223846793005ULL + mem[at] + 1442695040888963407ULL;
    }
    return acc;
}

/* TSC deltas around jitter_work, mixed in 12 bytes (three 32-bit deltas) at a time.  A
 * sample counts as varied when its delta and its delta-of-delta both differ from the
 * previous ones (under -icount, or on a clock that ticks in steps, they do not). */
static void absorb_jitter(struct rng *r, uint32_t samples, struct rng_seed_report *rep)
{
    uint8_t mem[1024];
    uint32_t chunk[3];
    unsigned ci = 0;
    uint64_t acc = rdtsc(), prev_t = rdtsc(), prev_d = 0, prev_dd = 0;
    memset(mem, 0, sizeof mem);
    for (uint32_t i = 0; i < samples; i++) {
        acc = jitter_work(mem, sizeof mem, acc ^ prev_d);
        uint64_t t = rdtsc();
        uint64_t d = t - prev_t;
        uint64_t dd = d - prev_d;
        if (d != prev_d && dd != prev_dd)
            rep->jitter_varied++;
        prev_t = t;
        prev_d = d;
        prev_dd = dd;
        chunk[ci++] = (uint32_t)d ^ (uint32_t)(d >> 32);
        if (ci == ARRAY_SIZE(chunk)) {
            rng_absorb(r, chunk, sizeof chunk);
            ci = 0;
        }
    }
    if (ci)
        rng_absorb(r, chunk, ci * sizeof chunk[0]);
    uint64_t tail[2] = { rdtsc(), now_ns() };
    rng_absorb(r, tail, sizeof tail);
    rep->jitter_samples += samples;
    wipe(chunk, sizeof chunk);
}

/* `full`: the boot or an explicit reseed (Intel's 1024 RDRAND words unless RDSEED gave at
 * least HW_MIN_WORDS); otherwise a periodic light one.  Whatever a source gave is mixed in;
 * it counts as used only from HW_MIN_WORDS words (or RANDOM_JITTER_MIN_VARIED samples). */
void rng_seed(struct rng *r, unsigned sources, uint32_t jitter, bool full, struct rng_seed_report *rep)
{
    uint64_t t0 = now_ns();
    memset(rep, 0, sizeof *rep);
    rep->asked = sources;
    if ((sources & RNG_SRC_RDSEED) && random_cpu_has_rdseed()) {
        rep->rdseed_words = absorb_hw(r, random_rdseed64, full ? RDSEED_WORDS : HW_LIGHT_WORDS / 4,
                                      &rep->rdseed_failures);
        if (rep->rdseed_words >= HW_MIN_WORDS)
            rep->used |= RNG_SRC_RDSEED;
    }
    if ((sources & RNG_SRC_RDRAND) && random_cpu_has_rdrand()) {
        uint32_t want = full && !(rep->used & RNG_SRC_RDSEED) ? RDRAND_SEED_WORDS : HW_LIGHT_WORDS;
        rep->rdrand_words = absorb_hw(r, random_rdrand64, want, &rep->rdrand_failures);
        if (rep->rdrand_words >= HW_MIN_WORDS)
            rep->used |= RNG_SRC_RDRAND;
    }
    if ((sources & RNG_SRC_JITTER) && jitter) {
        absorb_jitter(r, jitter, rep);
        if (rep->jitter_varied >= MIN((uint32_t)RANDOM_JITTER_MIN_VARIED, jitter / 4))
            rep->used |= RNG_SRC_JITTER;
    }
    r->reseeds++;
    r->last_reseed_ns = now_ns();
    rep->ns = r->last_reseed_ns - t0;
}
