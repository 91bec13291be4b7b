/* ncp_auth.c - users file and challenge/response helpers. */
#include "ncp_auth.h"
#include "ncp_mem.h"
#include "sha256.h"

#define FIELDS_MAX 7

/* Splits line[0..len) at ':' into at most FIELDS_MAX fields; returns the
 * count (FIELDS_MAX + 1 when there are more). */
static int split_fields(const char *line, size_t len, const char *f[FIELDS_MAX], size_t flen[FIELDS_MAX])
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ':')
            continue;
        if (n == FIELDS_MAX)
            return FIELDS_MAX + 1;
        f[n] = line + start;
        flen[n] = i - start;
        n++;
        start = i + 1;
    }
    return n;
}

/* 1..NCP_USER_MAX printable bytes, none of ':' ',' or space. */
static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NCP_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == ':' || c == ',')
            return false;
    }
    return true;
}

/* A decimal id 0..0xFFFFFFFE (0xFFFFFFFF means "none" in the engine). */
static bool parse_id(const char *s, size_t n, uint32_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v >= 0xFFFFFFFFu)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* "g1,g2,..." (may be empty) into u->groups. */
static bool parse_groups(const char *s, size_t n, struct ncp_user *u)
{
    u->ngroups = 0;
    size_t start = 0;
    if (n == 0)
        return true;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        if (u->ngroups == NCP_GROUPS_MAX)
            return false;
        if (!parse_id(s + start, i - start, &u->groups[u->ngroups]))
            return false;
        u->ngroups++;
        start = i + 1;
    }
    return true;
}

/* "w1,w2,..." (may be empty): only `admin` means something. */
static bool parse_flags(const char *s, size_t n, struct ncp_user *u)
{
    size_t start = 0;
    u->admin = false;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        size_t w = i - start;
        for (size_t k = start; k < i; k++)
            if ((unsigned char)s[k] <= ' ' || (unsigned char)s[k] >= 0x7f)
                return false;
        if (w == 5 && memcmp(s + start, "admin", 5) == 0)
            u->admin = true;
        start = i + 1;
    }
    return true;
}

static bool parse_user(const char *f[FIELDS_MAX], const size_t fl[FIELDS_MAX], struct ncp_user *u)
{
    if (!name_ok(f[0], fl[0]) || f[0][0] == '%' || f[0][0] == '#')
        return false;
    if (fl[1] == 0 || fl[1] % 2 || fl[1] / 2 > NCP_SALT_MAX)
        return false;
    if (!sha256_unhex(f[1], fl[1], u->salt, fl[1] / 2))
        return false;
    if (fl[2] != 2 * NCP_HASH_SIZE || !sha256_unhex(f[2], fl[2], u->hash, NCP_HASH_SIZE))
        return false;
    if (!parse_id(f[3], fl[3], &u->uid) || !parse_id(f[4], fl[4], &u->gid))
        return false;
    if (!parse_groups(f[5], fl[5], u) || !parse_flags(f[6], fl[6], u))
        return false;
    u->salt_len = (uint8_t)(fl[1] / 2);
    memcpy(u->name, f[0], fl[0]);
    u->name[fl[0]] = '\0';
    return true;
}

int ncp_users_parse_line(const char *line, size_t len, struct ncp_user *u, struct ncp_group *g)
{
    const char *f[FIELDS_MAX];
    size_t fl[FIELDS_MAX];
    if (len == 0 || line[0] == '#')
        return NCP_LINE_SKIP;
    int n = split_fields(line, len, f, fl);
    if (line[0] == '%') {
        if (n != 2 || !name_ok(f[0] + 1, fl[0] - 1) || !parse_id(f[1], fl[1], &g->gid))
            return NCP_LINE_SKIP;
        memcpy(g->name, f[0] + 1, fl[0] - 1);
        g->name[fl[0] - 1] = '\0';
        return NCP_LINE_GROUP;
    }
    if (n != FIELDS_MAX || !parse_user(f, fl, u))
        return NCP_LINE_SKIP;
    return NCP_LINE_USER;
}

bool ncp_users_next_line(const char *text, size_t text_len, size_t *pos,
                         const char **line, size_t *line_len)
{
    if (*pos >= text_len)
        return false;
    /* memchr, not a loop: the kernel's is as plain, but libc's (ncpd) is vectorised and,
     * in the fuzzers, uninstrumented: a 64 KiB users file is scanned at every reload. */
    const char *nl = memchr(text + *pos, '\n', text_len - *pos);
    size_t end = nl ? (size_t)(nl - text) : text_len;
    size_t len = end - *pos;
    if (len && text[*pos + len - 1] == '\r')
        len--;                                  /* tolerate CRLF */
    *line = text + *pos;
    *line_len = len;
    *pos = end + 1;
    return true;
}

bool ncp_users_find(const char *text, size_t text_len, const char *user,
                    size_t user_len, struct ncp_user *out)
{
    size_t pos = 0, len;
    const char *line;
    struct ncp_group g;
    while (ncp_users_next_line(text, text_len, &pos, &line, &len)) {
        if (len <= user_len || line[user_len] != ':' || memcmp(line, user, user_len) != 0)
            continue;
        if (ncp_users_parse_line(line, len, out, &g) == NCP_LINE_USER)
            return true;
    }
    return false;
}

void ncp_auth_stored_hash(const uint8_t *salt, size_t salt_len, const char *password,
                          size_t password_len, uint8_t out[NCP_HASH_SIZE])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, salt, salt_len);
    sha256_update(&c, password, password_len);
    sha256_final(&c, out);
}

void ncp_auth_proof(const uint8_t nonce[NCP_NONCE_SIZE], const uint8_t stored[NCP_HASH_SIZE],
                    uint8_t out[NCP_HASH_SIZE])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, nonce, NCP_NONCE_SIZE);
    sha256_update(&c, stored, NCP_HASH_SIZE);
    sha256_final(&c, out);
}

void ncp_auth_fake_salt(const uint8_t secret[NCP_HASH_SIZE], const char *user, size_t user_len,
                        uint8_t out[16])
{
    uint8_t d[NCP_HASH_SIZE];
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, secret, NCP_HASH_SIZE);
    sha256_update(&c, user, user_len);
    sha256_final(&c, d);
    memcpy(out, d, 16);
}

bool ncp_auth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}
