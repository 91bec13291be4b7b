/* Request building and the CHALLENGE/LOGIN exchange, shared by the tests that talk to an
 * engine (tests/host/test_proto_server.c) and to a server over TCP (tests/e2e/test_ncpd.c).
 * Each supplies its own transport as a call(peer, request, reply) function. */
#ifndef TEST_PROTO_SESSION_H
#define TEST_PROTO_SESSION_H

#include <string.h>
#include "proto/ncp_auth.h"
#include "proto/ncp_codec.h"

static inline struct ncp_request R(uint8_t fn)
{
    struct ncp_request rq;
    memset(&rq, 0, sizeof rq);
    rq.h.function = fn;
    return rq;
}

static inline struct ncp_str S(const char *s) { struct ncp_str x = { s, (uint16_t)strlen(s) }; return x; }

typedef int (*tp_call_fn)(void *peer, struct ncp_request *rq, struct ncp_reply *rp);

static inline int tp_login(tp_call_fn call, void *peer, const char *user, const char *pw)
{
    struct ncp_request rq = R(NCP_FN_CHALLENGE);
    struct ncp_reply rp;
    rq.u.challenge.user = S(user);
    int e = call(peer, &rq, &rp);
    if (e) return e;
    uint8_t stored[32];
    ncp_auth_stored_hash(rp.u.challenge.salt, rp.u.challenge.salt_len, pw, strlen(pw), stored);
    rq = R(NCP_FN_LOGIN);
    rq.u.login.user = S(user);
    ncp_auth_proof(rp.u.challenge.nonce, stored, rq.u.login.proof);
    return call(peer, &rq, &rp);
}

#endif
