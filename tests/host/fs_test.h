/* Tools shared by the fs host tests (the harness itself -- CHECK, ft_run, SKIP,
 * ft_summary -- is tests/host/test_harness.h, included here). */
#ifndef FS_TEST_H
#define FS_TEST_H

#include <stdint.h>
#include <stdio.h>

#include "test_harness.h"

/* Host tools and scratch space. */
const char *ft_tool(const char *name);          /* full path of mke2fs etc. */
char *ft_mkdtemp(void);                         /* malloc'ed path under /tmp */
void ft_rm_rf(const char *path);
/* Runs a shell command, captures stdout+stderr into *out (malloc'ed, may be
 * NULL).  Returns the exit status, or -1. */
int ft_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs scripts/e2fsck-clean.sh img (`e2fsck -fn`, the one definition of "clean":
 * exit 0 AND nothing printed beyond the pass headers and the summary line).  Returns 1
 * if clean; else 0 with e2fsck's output in *report (malloc'ed). */
int ft_e2fsck_clean(const char *img, char **report);
/* Fails the test (and returns from it) unless e2fsck -fn finds the image clean. */
#define CHECK_FSCK(path) do { char *rep_ = NULL; \
    if (!ft_e2fsck_clean(path, &rep_)) { ft_fail(__FILE__, __LINE__, "e2fsck: %.700s", rep_ ? rep_ : "?"); free(rep_); th_quiesce_now(); return; } } while (0)
/* Pseudo-random bytes from seed (ft_rand). */
void ft_fill(uint8_t *p, size_t n, uint64_t seed);
/* 1 if debugfs's view of the file at path in image is exactly want[0..n). */
int ft_debugfs_cat_equals(const char *image, const char *path, const uint8_t *want, size_t n);
/* Makes an ext2 image of size_kb KiB from dir (NULL = empty) with extra
 * mke2fs options. Returns 0 on success. */
int ft_mkfs(const char *img, const char *dir, unsigned block_size, unsigned size_kb, const char *opts);

/* Deterministic PRNG (xorshift64*) for reproducible tests. */
static inline uint64_t ft_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif
