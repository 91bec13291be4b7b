/* Splits the kernel command line into key=value words and applies them to the registered options. */
#include "kopt.h"
#include "string.h"
#include "printf.h"

extern const struct kopt __kopts_start[], __kopts_end[];
static char cmdline_copy[1024];

static const struct kopt *find(const char *name)
{
    for (const struct kopt *o = __kopts_start; o < __kopts_end; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

bool kopt_parse(const char *cmdline, char *err, size_t errlen)
{
    if (strlen(cmdline) >= sizeof cmdline_copy) {
        ksnprintf(err, errlen, "command line longer than %zu bytes", sizeof cmdline_copy - 1);
        return false;
    }
    strlcpy(cmdline_copy, cmdline, sizeof cmdline_copy);
    char *p = cmdline_copy;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return true;
        char *word = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = 0;
        char *eq = strchr(word, '=');
        char *value = NULL;
        if (eq) {
            *eq = 0;
            value = eq + 1;
        }
        if (!*word) {
            ksnprintf(err, errlen, "malformed option '=%s': no name", value ? value : "");
            return false;
        }
        const struct kopt *o = find(word);
        if (!o) {
            ksnprintf(err, errlen, "unknown option '%s' (the console command 'options' lists them)", word);
            return false;
        }
        switch (o->type) {
        case KOPT_T_U64: {
            uint64_t v;
            if (!value || !parse_u64(value, &v) || v < o->min || v > o->max) {
                ksnprintf(err, errlen, "option '%s' needs a number from %lu to %lu, got '%s'",
                          word, o->min, o->max, value ? value : "(nothing)");
                return false;
            }
            *(uint64_t *)o->var = v;
            break;
        }
        case KOPT_T_STR:
            if (!value || !*value) {
                ksnprintf(err, errlen, "option '%s' needs a value: %s=...", word, word);
                return false;
            }
            *(const char **)o->var = value;
            break;
        case KOPT_T_FLAG:
            if (value && !*value) {
                ksnprintf(err, errlen, "option '%s=' has an empty value", word);
                return false;
            }
            *o->present = true;
            *(const char **)o->var = value;
            break;
        }
    }
}

void kopt_print(void)
{
    for (const struct kopt *o = __kopts_start; o < __kopts_end; o++) {
        if (o->type == KOPT_T_U64)
            kprintf("  %-18s = %-10lu %s\n", o->name, *(uint64_t *)o->var, o->help);
        else if (o->type == KOPT_T_STR)
            kprintf("  %-18s = %-10s %s\n", o->name, *(const char **)o->var ? *(const char **)o->var : "-", o->help);
        else
            kprintf("  %-18s   %-10s %s\n", o->name, *o->present ? "(set)" : "", o->help);
    }
}
