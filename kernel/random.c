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
 * The sources themselves are in random_seed.c.
 */
#include "random.h"
#include "spinlock.h"
#include "time.h"
#include "io.h"
#include "printf.h"
#include "console.h"
#include "init.h"

static spinlock_t rng_lock = SPINLOCK_INIT("random");
static struct rng krng;                  /* guarded by rng_lock */
static struct random_stats kstats;       /* guarded by rng_lock */
static bool seeded;                      /* guarded by rng_lock; set once, read racily first */

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
    rng_seed(&tmp, RNG_SRC_ALL, jitter, full, &rep);
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
INITCALL(INIT_CORE, random_init);

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
