/* ncp_auth.h - users file parsing and the login challenge/response.
 *
 * Users file (/etc/ncp-users on the volume), one user per line:
 *     name:salthex:hashhex[:admin]
 * hash = SHA256(salt || password), salt 1..32 bytes.  '#' starts a comment
 * line; blank lines are ignored.  See docs/protocol.md, "Login".
 *
 * Login: CHALLENGE gives the client the user's salt and a fresh nonce; the
 * client answers LOGIN with proof = SHA256(nonce || SHA256(salt || password)).
 */
#ifndef NCP_AUTH_H
#define NCP_AUTH_H

#include "ncp_proto.h"

struct ncp_user {
    char    name[NCP_USER_MAX + 1];
    uint8_t salt[NCP_SALT_MAX];
    uint8_t salt_len;
    uint8_t hash[NCP_HASH_SIZE];
    bool    admin;
};

/* Finds `user` (name_len bytes) in the users file text.  Malformed lines are
 * skipped.  Returns true and fills *out when found. */
bool ncp_users_find(const char *text, size_t text_len, const char *user,
                    size_t user_len, struct ncp_user *out);

/* SHA256(salt || password): what the users file stores. */
void ncp_auth_stored_hash(const uint8_t *salt, size_t salt_len, const char *password,
                          size_t password_len, uint8_t out[NCP_HASH_SIZE]);
/* SHA256(nonce || stored_hash): what LOGIN carries. */
void ncp_auth_proof(const uint8_t nonce[NCP_NONCE_SIZE], const uint8_t stored[NCP_HASH_SIZE],
                    uint8_t out[NCP_HASH_SIZE]);
/* A stable fake salt for an unknown user so CHALLENGE does not reveal which
 * users exist: SHA256(secret || user), first 16 bytes. */
void ncp_auth_fake_salt(const uint8_t secret[NCP_HASH_SIZE], const char *user, size_t user_len,
                        uint8_t out[16]);
/* Compares without an early exit (no timing hint about the matching prefix). */
bool ncp_auth_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif /* NCP_AUTH_H */
