/* ncp_auth.h - users file parsing and the login challenge/response.
 *
 * Users file (/etc/ncp-users on the volume), one user per line:
 *     name:salthex:hashhex:uid:gid:groups:flags
 * hash = SHA256(salt || password), salt 1..32 bytes; uid and gid decimal
 * (0..4294967294); groups a comma-separated list of decimal gids (may be
 * empty, at most NCP_GROUPS_MAX); flags a comma-separated list of words
 * (`admin` gives the administrator's rights; unknown words are ignored).
 * Group names:  %groupname:gid
 * '#' starts a comment line; blank lines are ignored; a line that breaks any
 * rule (wrong field count, bad hex, bad number, too many groups) is skipped.
 * Names are 1..NCP_USER_MAX printable bytes without ':' or ','.
 * See docs/protocol.md, "Login" and "Users file".
 *
 * Login: CHALLENGE gives the client the user's salt and a fresh nonce; the
 * client answers LOGIN with proof = SHA256(nonce || SHA256(salt || password)).
 */
#ifndef NCP_AUTH_H
#define NCP_AUTH_H

#include "ncp_proto.h"

#define NCP_GROUPS_MAX 16           /* supplementary groups per user */

struct ncp_user {
    char     name[NCP_USER_MAX + 1];
    uint8_t  salt[NCP_SALT_MAX];
    uint8_t  salt_len;
    uint8_t  hash[NCP_HASH_SIZE];
    uint32_t uid, gid;              /* owner ids of what the user creates */
    uint8_t  ngroups;
    uint32_t groups[NCP_GROUPS_MAX];/* supplementary gids */
    bool     admin;
};

struct ncp_group {
    char     name[NCP_USER_MAX + 1];
    uint32_t gid;
};

enum { NCP_LINE_SKIP = 0, NCP_LINE_USER = 1, NCP_LINE_GROUP = 2 };

/* Next line of text from *pos (CRLF tolerated); false at the end. */
bool ncp_users_next_line(const char *text, size_t text_len, size_t *pos,
                         const char **line, size_t *line_len);
/* One line: NCP_LINE_USER (*u filled), NCP_LINE_GROUP (*g filled) or
 * NCP_LINE_SKIP (comment, blank or malformed). */
int ncp_users_parse_line(const char *line, size_t len, struct ncp_user *u, struct ncp_group *g);

/* Finds `user` (name_len bytes) in the users file text: the first valid line
 * of that name.  Returns true and fills *out when found. */
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
