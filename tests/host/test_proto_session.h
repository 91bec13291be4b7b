/* Request building and the CHALLENGE/LOGIN exchange, shared by the tests that talk to an
 * engine (tests/host/test_proto_server.c) and to a server over TCP (tests/e2e/test_ncpd.c).
 * Each supplies its own transport as a call(peer, request, reply) function; the helpers
 * return the completion code. */
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

static inline struct ncp_str S(const char *s)
{
    struct ncp_str x = { s, (uint16_t)strlen(s) };
    return x;
}

typedef int (*tp_call_fn)(void *peer, struct ncp_request *rq, struct ncp_reply *rp);

static inline int tp_login(tp_call_fn call, void *peer, const char *user, const char *pw)
{
    struct ncp_request rq = R(NCP_FN_CHALLENGE);
    struct ncp_reply rp;
    rq.u.challenge.user = S(user);
    int e = call(peer, &rq, &rp);
    if (e)
        return e;
    uint8_t stored[32];
    ncp_auth_stored_hash(rp.u.challenge.salt, rp.u.challenge.salt_len, pw, strlen(pw), stored);
    rq = R(NCP_FN_LOGIN);
    rq.u.login.user = S(user);
    ncp_auth_proof(rp.u.challenge.nonce, stored, rq.u.login.proof);
    return call(peer, &rq, &rp);
}

/* RENAME from to: the completion code. */
static inline int tp_rename(tp_call_fn call, void *peer, const char *from, const char *to)
{
    struct ncp_request rq = R(NCP_FN_RENAME);
    struct ncp_reply rp;
    rq.u.rename.from = S(from);
    rq.u.rename.to = S(to);
    return call(peer, &rq, &rp);
}

/* Creates path with mode holding data (truncating it if it exists): open, write (if data
 * is not empty), close.  The first failing completion code, or NCP_OK. */
static inline int tp_put_text(tp_call_fn call, void *peer, const char *path, uint16_t mode, const char *data)
{
    struct ncp_request rq = R(NCP_FN_OPEN);
    struct ncp_reply rp;
    rq.u.open.flags = NCP_O_WRITE | NCP_O_CREATE | NCP_O_TRUNC;
    rq.u.open.mode = mode;
    rq.u.open.path = S(path);
    int e = call(peer, &rq, &rp);
    if (e)
        return e;
    uint32_t h = rp.u.open.handle;
    if (*data) {
        rq = R(NCP_FN_WRITE);
        rq.u.write.handle = h;
        rq.u.write.data.ptr = (const uint8_t *)data;
        rq.u.write.data.len = (uint32_t)strlen(data);
        e = call(peer, &rq, &rp);
    }
    rq = R(NCP_FN_CLOSE);
    rq.u.handle.handle = h;
    int c = call(peer, &rq, &rp);
    return e ? e : c;
}

/* A counter's value from STATS, walking every page; -1 if there is no such counter (or
 * the caller may not see it). */
static inline int64_t tp_stat_value(tp_call_fn call, void *peer, const char *want)
{
    struct ncp_request rq = R(NCP_FN_STATS);
    struct ncp_reply rp;
    int64_t found = -1;
    for (uint16_t first = 0; found < 0;) {
        rq.u.stats.first = first;
        if (call(peer, &rq, &rp) != NCP_OK || rp.u.stats.count == 0)
            break;
        size_t pos = 0;
        char name[NCP_STAT_NAME_MAX + 1];
        uint64_t v;
        while (ncp_counter_next(&rp, &pos, name, &v))
            if (!strcmp(name, want))
                found = (int64_t)v;
        first = (uint16_t)(first + rp.u.stats.count);
        if (first >= rp.u.stats.total)
            break;
    }
    return found;
}

#endif
