/* ncp_auth.c - users file and challenge/response helpers. */
#include "ncp_auth.h"
#include "ncp_mem.h"
#include "sha256.h"

/* Splits line[0..len) at ':' into at most 5 fields; returns the count. */
static int split_fields(const char *line, size_t len, const char *f[5], size_t flen[5])
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ':') continue;
        if (n == 5) return 6;
        f[n] = line + start;
        flen[n] = i - start;
        n++;
        start = i + 1;
    }
    return n;
}

static bool parse_line(const char *line, size_t len, struct ncp_user *u)
{
    const char *f[5];
    size_t fl[5];
    int n = split_fields(line, len, f, fl);
    if (n < 3 || n > 4) return false;
    if (fl[0] == 0 || fl[0] > NCP_USER_MAX) return false;
    if (fl[1] == 0 || fl[1] % 2 || fl[1] / 2 > NCP_SALT_MAX) return false;
    if (!sha256_unhex(f[1], fl[1], u->salt, fl[1] / 2)) return false;
    if (!sha256_unhex(f[2], fl[2], u->hash, NCP_HASH_SIZE)) return false;
    u->salt_len = (uint8_t)(fl[1] / 2);
    u->admin = n == 4 && fl[3] == 5 && memcmp(f[3], "admin", 5) == 0;
    memcpy(u->name, f[0], fl[0]);
    u->name[fl[0]] = '\0';
    return true;
}

bool ncp_users_find(const char *text, size_t text_len, const char *user,
                    size_t user_len, struct ncp_user *out)
{
    size_t pos = 0;
    while (pos < text_len) {
        size_t end = pos;
        while (end < text_len && text[end] != '\n') end++;
        size_t len = end - pos;
        if (len && text[pos + len - 1] == '\r') len--;          /* tolerate CRLF */
        const char *line = text + pos;
        pos = end + 1;
        if (len == 0 || line[0] == '#') continue;
        if (len <= user_len || line[user_len] != ':' || memcmp(line, user, user_len) != 0)
            continue;
        if (parse_line(line, len, out)) return true;
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
    for (size_t i = 0; i < n; i++) diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}
