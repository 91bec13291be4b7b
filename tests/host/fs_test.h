/* Tiny test harness shared by the fs host tests.  Output follows
 * docs/conventions.md: `ok name` / `FAIL name: file:line ...` and a final
 * `N passed, M failed`. */
#ifndef FS_TEST_H
#define FS_TEST_H

#include <stdint.h>
#include <stdio.h>

void ft_run(const char *name, void (*fn)(void));
void ft_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ft_failed_now(void);        /* has the running test failed? */
int ft_summary(void);           /* prints the last line; returns exit status */

/* On failure these record the first message and return from the caller. */
#define CHECK(c) do { if (!(c)) { ft_fail(__FILE__, __LINE__, "%s", #c); return; } } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) { ft_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { ft_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); return; } } while (0)
/* Same, for helpers returning int (returns -1). */
#define REQUIRE(c, ...) do { if (!(c)) { ft_fail(__FILE__, __LINE__, __VA_ARGS__); return -1; } } while (0)

/* Host tools and scratch space. */
const char *ft_tool(const char *name);          /* full path of mke2fs etc. */
char *ft_mkdtemp(void);                         /* malloc'ed path under /tmp */
void ft_rm_rf(const char *path);
/* Runs a shell command, captures stdout+stderr into *out (malloc'ed, may be
 * NULL).  Returns the exit status, or -1. */
int ft_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs `e2fsck -fn img`.  Returns 1 if it exit 0 AND printed nothing beyond
 * the pass headers and the summary line; else 0 with the output in *report. */
int ft_e2fsck_clean(const char *img, char **report);
/* Makes an ext2 image of size_kb KiB from dir (NULL = empty) with extra
 * mke2fs options. Returns 0 on success. */
int ft_mkfs(const char *img, const char *dir, unsigned block_size, unsigned size_kb, const char *opts);

/* Deterministic PRNG (xorshift64*) for reproducible tests. */
static inline uint64_t ft_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
	x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif
