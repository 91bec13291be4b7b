/* fuzz_users.c - libFuzzer harness for the users-file parser (proto/ncp_auth).
 *
 * Input: u8 L, then (L <= NCP_USER_MAX) L bytes of a user name to look up, then the users
 * file text.  Besides the name from the input, every name the text itself starts a line with
 * is looked up too, so the fuzzer need not guess names to reach the field parsing.
 *
 * Invariants, for every lookup of a name the protocol accepts (1..NCP_USER_MAX printable
 * bytes, no ':', as the codec checks before the engine asks):
 *  - a user found has exactly the name asked for and a salt of 1..NCP_SALT_MAX bytes;
 *  - formatting the user found as a users-file line and looking the name up in that line
 *    alone gives the same user back (the parser reads what the format says);
 *  - comment and blank lines around the text change nothing; neither does a CRLF ending.
 *
 * The parser entry point and the line format live in users_find() and format_user() below:
 * the two places to change when the users file format changes. */
#include "proto/ncp_auth.h"
#include "fuzz_check.h"

#include <stdio.h>
#include <string.h>

#define NAMES_MAX 8

/* The parser under test. */
static bool users_find(const char *text, size_t len, const char *name, size_t name_len,
                       struct ncp_user *u)
{
    memset(u, 0xA5, sizeof *u);          /* fields it forgets to set show up as garbage */
    return ncp_users_find(text, len, name, name_len, u);
}

/* One users-file line (no newline) for u, in the current format. */
static size_t format_user(const struct ncp_user *u, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, nl = strlen(u->name);
    FUZZ_CHECK(nl + 2 * (NCP_SALT_MAX + NCP_HASH_SIZE) + 16 < cap);
    memcpy(out, u->name, nl);
    n = nl;
    out[n++] = ':';
    for (unsigned i = 0; i < u->salt_len; i++) {
        out[n++] = hex[u->salt[i] >> 4];
        out[n++] = hex[u->salt[i] & 15];
    }
    out[n++] = ':';
    for (unsigned i = 0; i < NCP_HASH_SIZE; i++) {
        out[n++] = hex[u->hash[i] >> 4];
        out[n++] = hex[u->hash[i] & 15];
    }
    n += (size_t)snprintf(out + n, cap - n, ":%u:%u:", (unsigned)u->uid, (unsigned)u->gid);
    for (unsigned i = 0; i < u->ngroups; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%u", i ? "," : "", (unsigned)u->groups[i]);
    n += (size_t)snprintf(out + n, cap - n, ":%s", u->admin ? "admin" : "");
    FUZZ_CHECK(n < cap);
    return n;
}

/* One group line (no newline) for g, in the current format. */
static size_t format_group(const struct ncp_group *g, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%%%s:%u", g->name, (unsigned)g->gid);
    FUZZ_CHECK(n < cap);
    return n;
}

static bool user_eq(const struct ncp_user *a, const struct ncp_user *b)
{
    return strcmp(a->name, b->name) == 0 && a->salt_len == b->salt_len &&
           memcmp(a->salt, b->salt, a->salt_len) == 0 &&
           memcmp(a->hash, b->hash, NCP_HASH_SIZE) == 0 && a->admin == b->admin &&
           a->uid == b->uid && a->gid == b->gid && a->ngroups == b->ngroups &&
           memcmp(a->groups, b->groups, sizeof a->groups[0] * a->ngroups) == 0;
}

/* Every line the file's splitter hands out parses to a user, a group or nothing; a user or
 * group re-formatted parses back to the same, and a user line is found by its name. */
static void check_lines(const char *text, size_t len)
{
    size_t pos = 0, n;
    const char *line;
    unsigned lines = 0;
    while (ncp_users_next_line(text, len, &pos, &line, &n) && lines++ < 64) {
        struct ncp_user u, v;
        struct ncp_group g, h;
        char out[512];
        memset(&u, 0xA5, sizeof u);
        memset(&g, 0xA5, sizeof g);
        int k = ncp_users_parse_line(line, n, &u, &g);
        FUZZ_CHECK(k == NCP_LINE_USER || k == NCP_LINE_GROUP || k == NCP_LINE_SKIP);
        if (k == NCP_LINE_USER) {
            FUZZ_CHECK(u.salt_len >= 1 && u.salt_len <= NCP_SALT_MAX && u.ngroups <= NCP_GROUPS_MAX);
            size_t m = format_user(&u, out, sizeof out);
            FUZZ_CHECK(ncp_users_parse_line(out, m, &v, &h) == NCP_LINE_USER && user_eq(&u, &v));
        } else if (k == NCP_LINE_GROUP) {
            FUZZ_CHECK(strlen(g.name) >= 1 && strlen(g.name) <= NCP_USER_MAX);
            size_t m = format_group(&g, out, sizeof out);
            FUZZ_CHECK(ncp_users_parse_line(out, m, &v, &h) == NCP_LINE_GROUP);
            FUZZ_CHECK(strcmp(g.name, h.name) == 0 && g.gid == h.gid);
        }
    }
}

/* The protocol's rule for a user name (proto/ncp_codec.c user_ok). */
static bool name_ok(const char *n, size_t len)
{
    if (len == 0 || len > NCP_USER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (c <= ' ' || c == ':' || c >= 0x7f)
            return false;
    }
    return true;
}

/* The same text between comment and blank lines, with CRLF line ends (malloc'ed). */
static char *wrap_text(const char *text, size_t len, size_t *wlen)
{
    char *w = malloc(2 * len + 32);
    size_t n = 0;
    memcpy(w, "# users\r\n\r\n", 11);
    n = 11;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            w[n++] = '\r';
        w[n++] = text[i];
    }
    memcpy(w + n, "\r\n#x:00:00\n\n", 12);
    *wlen = n + 12;
    return w;
}

static void check_lookup(const char *text, size_t len, const char *wrapped, size_t wlen,
                         bool has_cr, const char *name, size_t name_len)
{
    struct ncp_user u, v;
    if (!name_ok(name, name_len))
        return;
    bool found = users_find(text, len, name, name_len, &u);
    if (found) {
        FUZZ_CHECK(strlen(u.name) == name_len && memcmp(u.name, name, name_len) == 0);
        FUZZ_CHECK(u.salt_len >= 1 && u.salt_len <= NCP_SALT_MAX);
        char line[256];
        size_t n = format_user(&u, line, sizeof line);
        FUZZ_CHECK(users_find(line, n, name, name_len, &v));
        FUZZ_CHECK(user_eq(&u, &v));
    }
    /* (a text with its own '\r' may end a line in "\r\r\n" once wrapped: not compared) */
    if (has_cr)
        return;
    bool found2 = users_find(wrapped, wlen, name, name_len, &v);
    FUZZ_CHECK(found2 == found);
    if (found)
        FUZZ_CHECK(user_eq(&u, &v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size, 0 };
    size_t name_len, text_len;
    uint8_t l = fin_u8(&in);
    const char *name = (const char *)fin_bytes(&in, l <= NCP_USER_MAX ? l : 0, &name_len);
    const char *src = (const char *)fin_bytes(&in, size, &text_len);
    char *text = malloc(text_len ? text_len : 1);      /* exact size: overreads are reports */
    memcpy(text, src, text_len);

    size_t wlen;
    char *wrapped = wrap_text(text, text_len, &wlen);
    bool has_cr = memchr(text, '\r', text_len) != NULL;
    check_lookup(text, text_len, wrapped, wlen, has_cr, name, name_len);
    check_lines(text, text_len);
    /* Every name a line starts with. */
    size_t pos = 0;
    unsigned names = 0;
    while (pos < text_len && names < NAMES_MAX) {
        size_t end = pos;
        while (end < text_len && text[end] != '\n')
            end++;
        const char *colon = memchr(text + pos, ':', end - pos);
        if (colon) {
            check_lookup(text, text_len, wrapped, wlen, has_cr, text + pos,
                         (size_t)(colon - (text + pos)));
            names++;
        }
        pos = end + 1;
    }
    free(wrapped);
    free(text);
    return 0;
}
