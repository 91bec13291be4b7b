/*
 * Kernel command-line options.  Each option registers itself where it is used:
 *   KOPT_U64("wtd.burst", var, min, max, "help")   a number in [min, max]
 *   KOPT_STR("ip", var, "help")                     a string value
 *   KOPT_FLAG("test", var, "help")                  present or not; "test=PATTERN" sets the pattern
 * Unknown or malformed options stop the boot with a message naming them.
 */
#pragma once
#include "types.h"

enum kopt_type { KOPT_T_U64, KOPT_T_STR, KOPT_T_FLAG };
struct kopt {
    const char *name;
    enum kopt_type type;
    void *var;
    uint64_t min, max;
    const char *help;
    bool *present;
} __attribute__((aligned(16)));
#define KOPT_U64(n, v, lo, hi, h) \
    static const struct kopt __kopt_##v __attribute__((used, section(".kopts"), aligned(16))) = \
        { n, KOPT_T_U64, &v, lo, hi, h, NULL }
#define KOPT_STR(n, v, h) \
    static const struct kopt __kopt_##v __attribute__((used, section(".kopts"), aligned(16))) = \
        { n, KOPT_T_STR, &v, 0, 0, h, NULL }
/* flag with an optional string value: v is a const char * (NULL unless given), p the presence bool */
#define KOPT_FLAG(n, v, p, h) \
    static const struct kopt __kopt_##v __attribute__((used, section(".kopts"), aligned(16))) = \
        { n, KOPT_T_FLAG, &v, 0, 0, h, &p }

/* Parses the command line; on error writes a message into err and returns false. */
bool kopt_parse(const char *cmdline, char *err, size_t errlen);
void kopt_print(void);
