/*
 * ChaCha20 random number generator with fast key erasure (see random.h).
 *
 * Output: a refill computes RNG_BLOCKS keystream blocks under the current key (nonce 0,
 * counters 0..7); the first 32 bytes become the next key and are erased, the other 480
 * bytes are handed out and erased as they go.
 *
 * Input: rng_absorb() chains the key through the block function with the material as
 * nonce, 12 bytes at a time (key' = first half of ChaCha20(key, 0x80000000|len, chunk));
 * the counter's top bit keeps absorbing apart from output blocks.  Seeding collects into
 * a private instance without the lock held, then absorbs that instance's key into the
 * kernel's under the lock, so interrupts are off only for a few block computations.
 */
#include "random.h"
#include "spinlock.h"
#include "time.h"
#include "io.h"
#include "printf.h"
#include "console.h"
#include "init.h"

#define RDRAND_RETRIES   10     /* Intel DRNG guide: 10 failures in a row mean a broken unit */
#define RDSEED_RETRIES   100    /* RDSEED may run dry for a while: retry longer, with pause */
#define RDSEED_WORDS     16     /* full-entropy 64-bit words (1024 bits for a 256-bit key) */
#define RDRAND_SEED_WORDS 1024  /* Intel's way to seed from RDRAND: 512 x 128 bits, i.e. at
                                   least one reseed of the DRBG inside what is mixed */
#define HW_LIGHT_WORDS   16     /* hardware words in a periodic (light) reseed */
#define HW_GIVE_UP       8      /* failed words after which a source is left for this seeding */
#define HW_MIN_WORDS     4      /* a source delivered if it gave at least 256 bits */

static spinlock_t rng_lock = SPINLOCK_INIT("random");
static struct rng krng;                  /* guarded by rng_lock */
static struct random_stats kstats;       /* guarded by rng_lock */
static bool seeded;                      /* guarded by rng_lock; set once, read racily first */

/* ---- the hardware sources ---- */

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

/* ---- one generator ---- */

void rng_init_key(struct rng *r, const uint8_t key[CHACHA20_KEY_SIZE])
{
    wipe(r, sizeof *r);
    memcpy(r->key, key, CHACHA20_KEY_SIZE);
    r->pos = sizeof r->buf;              /* nothing buffered */
}

void rng_absorb(struct rng *r, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint8_t chunk[CHACHA20_NONCE_SIZE], out[CHACHA20_BLOCK_SIZE];
    while (n) {
        size_t take = MIN(n, sizeof chunk);
        memset(chunk, 0, sizeof chunk);
        memcpy(chunk, p, take);
        chacha20_block(r->key, 0x80000000u | (uint32_t)take, chunk, out);
        memcpy(r->key, out, CHACHA20_KEY_SIZE);
        p += take;
        n -= take;
    }
    wipe(chunk, sizeof chunk);
    wipe(out, sizeof out);
    /* output buffered before the new material must not be handed out after it */
    wipe(r->buf, sizeof r->buf);
    r->pos = sizeof r->buf;
}

static void rng_refill(struct rng *r)
{
    static const uint8_t zero_nonce[CHACHA20_NONCE_SIZE];
    for (uint32_t i = 0; i < RNG_BLOCKS; i++)
        chacha20_block(r->key, i, zero_nonce, r->buf + i * CHACHA20_BLOCK_SIZE);
    memcpy(r->key, r->buf, CHACHA20_KEY_SIZE);          /* fast key erasure */
    wipe(r->buf, CHACHA20_KEY_SIZE);
    r->pos = CHACHA20_KEY_SIZE;
    r->refills++;
}

void rng_read(struct rng *r, void *buf, size_t n)
{
    uint8_t *out = buf;
    r->bytes_out += n;
    while (n) {
        if (r->pos == sizeof r->buf)
            rng_refill(r);
        size_t take = MIN(n, sizeof r->buf - r->pos);
        memcpy(out, r->buf + r->pos, take);
        wipe(r->buf + r->pos, take);
        r->pos += take;
        out += take;
        n -= take;
    }
}

/* Takes up to `want` words from one hardware source into r; returns the words taken. */
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
static void rng_seed_n(struct rng *r, unsigned sources, uint32_t jitter, bool full,
                       struct rng_seed_report *rep)
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

void rng_seed(struct rng *r, unsigned sources, uint32_t jitter, struct rng_seed_report *rep)
{
    rng_seed_n(r, sources, jitter, true, rep);
}

/* ---- the kernel's generator ---- */

static void count_seed(const struct rng_seed_report *rep)   /* rng_lock held */
{
    kstats.last = *rep;
    if (!(rep->used & (RNG_SRC_RDSEED | RNG_SRC_RDRAND)))
        kstats.seeds_without_hw++;
    if ((rep->asked & RNG_SRC_JITTER) && !(rep->used & RNG_SRC_JITTER))
        kstats.weak_jitter++;
}

/* Seeds a private instance (no lock held: this takes milliseconds), then mixes its key in. */
static void reseed_from(bool full, uint32_t jitter, bool boot)
{
    static const uint8_t zero[CHACHA20_KEY_SIZE];
    struct rng tmp;
    struct rng_seed_report rep;
    rng_init_key(&tmp, zero);
    rng_seed_n(&tmp, RNG_SRC_ALL, jitter, full, &rep);
    uint64_t f = spin_lock_irqsave(&rng_lock);
    rng_absorb(&krng, tmp.key, sizeof tmp.key);
    krng.reseeds++;
    krng.last_reseed_ns = now_ns();
    if (boot && !seeded) {
        kstats.boot = rep;
        seeded = true;
    }
    count_seed(&rep);
    spin_unlock_irqrestore(&rng_lock, f);
    wipe(&tmp, sizeof tmp);
}

static void seed_if_needed(void)
{
    if (likely(READ_ONCE(seeded)))
        return;
    reseed_from(true, RANDOM_JITTER_BOOT, true);
}

/* A light reseed when RANDOM_RESEED_S have passed; the first caller to see it due claims it. */
static void reseed_if_due(void)
{
    uint64_t now = now_ns();
    if (likely(now - READ_ONCE(krng.last_reseed_ns) < RANDOM_RESEED_S * 1000000000ULL))
        return;
    uint64_t f = spin_lock_irqsave(&rng_lock);
    bool due = now - krng.last_reseed_ns >= RANDOM_RESEED_S * 1000000000ULL;
    if (due)
        krng.last_reseed_ns = now;
    spin_unlock_irqrestore(&rng_lock, f);
    if (due)
        reseed_from(false, RANDOM_JITTER_LIGHT, false);
}

void random_bytes(void *buf, size_t n)
{
    seed_if_needed();
    reseed_if_due();
    uint64_t f = spin_lock_irqsave(&rng_lock);
    rng_read(&krng, buf, n);
    spin_unlock_irqrestore(&rng_lock, f);
}

uint32_t random_u32(void)
{
    uint32_t v;
    random_bytes(&v, sizeof v);
    return v;
}

uint64_t random_u64(void)
{
    uint64_t v;
    random_bytes(&v, sizeof v);
    return v;
}

void random_fill(void *arg, uint8_t *buf, size_t n)
{
    random_bytes(buf, n);
}

void random_reseed(void)
{
    seed_if_needed();
    reseed_from(true, RANDOM_JITTER_BOOT, false);
}

void random_get_stats(struct random_stats *out)
{
    uint64_t f = spin_lock_irqsave(&rng_lock);
    *out = kstats;
    out->bytes_out = krng.bytes_out;
    out->refills = krng.refills;
    out->reseeds = krng.reseeds;
    spin_unlock_irqrestore(&rng_lock, f);
    out->has_rdrand = random_cpu_has_rdrand();
    out->has_rdseed = random_cpu_has_rdseed();
}

/* ---- boot and console ---- */

static void print_report(const char *what, const struct rng_seed_report *r)
{
    kprintf("  %s: RDSEED %u words (%u failed), RDRAND %u words (%u failed), jitter %u samples (%u varied), %lu us%s\n",
            what, r->rdseed_words, r->rdseed_failures, r->rdrand_words, r->rdrand_failures,
            r->jitter_samples, r->jitter_varied, r->ns / 1000,
            (r->asked & RNG_SRC_JITTER) && !(r->used & RNG_SRC_JITTER) ? ", jitter WEAK" : "");
}

static int random_init(void)
{
    seed_if_needed();
    struct random_stats s;
    random_get_stats(&s);
    const struct rng_seed_report *b = &s.boot;
    const char *hw = b->used & RNG_SRC_RDSEED ? "RDSEED" : b->used & RNG_SRC_RDRAND ? "RDRAND" : NULL;
    if (hw)
        kprintf("random: ChaCha20 seeded from %s (%u words) and timing jitter (%u samples, %u varied)\n",
                hw, b->used & RNG_SRC_RDSEED ? b->rdseed_words : b->rdrand_words,
                b->jitter_samples, b->jitter_varied);
    else
        kprintf("random: no working RDRAND or RDSEED on this CPU: seeded from timing jitter only "
                "(%u samples, %u varied)\n", b->jitter_samples, b->jitter_varied);
    if (!(b->used & RNG_SRC_JITTER))
        kprintf("random: WARNING: timing jitter looks deterministic%s\n",
                hw ? "" : ": the seed is predictable");
    return 0;
}
INITCALL(0, random_init);

static void cmd_random(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "reseed") == 0) {
        random_reseed();
        kprintf("  reseeded\n");
    } else if (argc > 1) {
        kprintf("usage: random [reseed]\n");
        return;
    }
    struct random_stats s;
    random_get_stats(&s);
    kprintf("  ChaCha20 with fast key erasure; CPU: RDRAND %s, RDSEED %s\n",
            s.has_rdrand ? "yes" : "no", s.has_rdseed ? "yes" : "no");
    print_report("boot seed", &s.boot);
    print_report("last seed", &s.last);
    kprintf("  %lu bytes out, %lu refills, %lu reseeds (every %ds of use), %lu without hardware, %lu weak jitter\n",
            s.bytes_out, s.refills, s.reseeds, RANDOM_RESEED_S, s.seeds_without_hw, s.weak_jitter);
}
CONSOLE_COMMAND("random", "random number generator: sources and counters (`random reseed`)", cmd_random);
