/*
 * The kernel's one random number generator: a ChaCha20 keystream with fast key erasure
 * (each refill replaces the key by the first half of its own first block, so a key read
 * out of memory later cannot recompute what was handed out before).  Seeded at boot from
 * RDSEED or RDRAND when the CPU has them and always from timing jitter; reseeded from
 * fresh jitter (and the hardware source) every RANDOM_RESEED_S seconds of use and on
 * demand (random_reseed(), console command `random reseed`).
 *
 * Callable from any context, interrupts included: the state is guarded by a spinlock
 * that disables interrupts (kernel/spinlock.h); no call sleeps.  The first call seeds
 * the generator if the boot initcall has not run yet.
 *
 * Users: TCP ISN secret and LWIP_RAND (net/), login nonces and the fake-salt secret of
 * the file engine (server/kernel/kserver.c).
 */
#pragma once
#include "types.h"
#include "chacha20.h"

void random_bytes(void *buf, size_t n);
uint32_t random_u32(void);
uint64_t random_u64(void);
/* The engine's cfg.random signature (struct ncp_server_config). */
void random_fill(void *arg, uint8_t *buf, size_t n);

/* Thread context: fresh hardware words and jitter samples mixed into the key. */
void random_reseed(void);

#define RANDOM_RESEED_S        60     /* a light reseed when this long since the last */
#define RANDOM_JITTER_BOOT     4096   /* jitter samples at boot and on random_reseed() */
#define RANDOM_JITTER_LIGHT    128    /* in the periodic reseed */
#define RANDOM_JITTER_MIN_VARIED 256  /* fewer varied samples than this: jitter called weak */

/* Where seed material may come from (a mask). */
#define RNG_SRC_RDSEED  1u
#define RNG_SRC_RDRAND  2u
#define RNG_SRC_JITTER  4u
#define RNG_SRC_ALL     (RNG_SRC_RDSEED | RNG_SRC_RDRAND | RNG_SRC_JITTER)

/* What one seeding found (also kept for the boot seed and the last reseed). */
struct rng_seed_report {
    unsigned asked;            /* RNG_SRC_* mask asked for */
    unsigned used;             /* RNG_SRC_* mask that actually delivered material */
    uint32_t rdseed_words, rdseed_failures;   /* 64-bit words taken / given up after retries */
    uint32_t rdrand_words, rdrand_failures;
    uint32_t jitter_samples;
    uint32_t jitter_varied;    /* samples whose delta and delta-of-delta both changed */
    uint64_t ns;               /* how long the seeding took */
};

/* One generator instance.  The kernel's is behind random_bytes() (guarded by rng_lock in
 * random.c); tests make their own, guarded by whoever owns them. */
#define RNG_BLOCKS 8
struct rng {
    uint8_t key[CHACHA20_KEY_SIZE];
    uint8_t buf[RNG_BLOCKS * CHACHA20_BLOCK_SIZE];   /* keystream not yet handed out */
    size_t pos;                                      /* next unread byte of buf */
    uint64_t bytes_out, refills, reseeds;
    uint64_t last_reseed_ns;
};

void rng_init_key(struct rng *r, const uint8_t key[CHACHA20_KEY_SIZE]);
void rng_absorb(struct rng *r, const void *data, size_t n);
void rng_read(struct rng *r, void *buf, size_t n);
/* kernel/random_seed.c: mixes in material from the sources in `sources` (those this CPU
 * has) and `jitter` samples; `full` (boot, random_reseed) takes Intel's 1024 RDRAND words
 * when RDSEED gives too little, a periodic reseed 16 hardware words. */
void rng_seed(struct rng *r, unsigned sources, uint32_t jitter, bool full, struct rng_seed_report *rep);

bool random_cpu_has_rdrand(void);
bool random_cpu_has_rdseed(void);
bool random_rdrand64(uint64_t *v);   /* false after Intel's 10 retries */
bool random_rdseed64(uint64_t *v);   /* false after 100 retries with pause */

struct random_stats {
    bool has_rdrand, has_rdseed;
    struct rng_seed_report boot, last;
    uint64_t bytes_out, refills, reseeds;
    uint64_t seeds_without_hw;       /* seedings that got nothing from RDSEED/RDRAND */
    uint64_t weak_jitter;            /* seedings whose jitter had too few varied samples */
};
void random_get_stats(struct random_stats *out);
