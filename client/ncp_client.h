/* ncp_client.h - blocking NCP connection for the host tools.
 *
 * Requests are sent with a fresh tag each; replies are read in any order
 * and stashed until asked for, so callers can keep many requests in flight
 * and still consume replies in the order they like (e.g. oldest first).
 *
 * Results: a completion code (>= 0) from the server, or -1 for a transport
 * or protocol failure with the reason in c->err.
 */
#ifndef NCP_CLIENT_H
#define NCP_CLIENT_H

#include "proto/ncp_codec.h"
#include "proto/ncp_reasm.h"

struct ncpc_stashed { uint32_t tag; uint8_t *frame; size_t len; };

struct ncpc {
    int fd;
    struct ncp_reasm ra;
    uint8_t *rbuf;
    uint8_t *sbuf;
    size_t scap;
    uint32_t max_frame, max_inflight, max_handles;
    uint16_t conn;
    uint32_t next_tag, seq;
    bool admin;
    uint64_t busy_seen;             /* 0x9999 frames received */
    struct ncpc_stashed *stash;
    size_t nstash, stash_cap;
    char err[256];
};

/* A received reply; `frame` backs the pointers inside `rp`. */
struct ncpc_reply {
    struct ncp_reply rp;
    uint8_t *frame;
};

int  ncpc_connect(struct ncpc *c, const char *host, int port);
/* The same, but connecting, and then every send and receive on the socket,
 * fail after timeout_ms without progress (0: no limit). */
int  ncpc_connect_timeout(struct ncpc *c, const char *host, int port, int timeout_ms);
void ncpc_close(struct ncpc *c);
/* NEGOTIATE asking for want_frame; then c->max_frame etc. are set. */
int  ncpc_negotiate(struct ncpc *c, uint32_t want_frame);
/* Resizes buffers for a negotiated frame size (only with nothing buffered). */
int  ncpc_set_max_frame(struct ncpc *c, uint32_t max_frame);
/* CHALLENGE + LOGIN. */
int  ncpc_login(struct ncpc *c, const char *user, const char *password);

/* Sends rq (tag and seq assigned); returns the tag, 0 on failure. */
uint32_t ncpc_send(struct ncpc *c, struct ncp_request *rq);
/* Sends rq with the tag the caller put in rq->h.tag (seq and conn filled in);
 * 0 or -1.  For callers that track their own tags (client/ncp_mux.c). */
int  ncpc_send_tagged(struct ncpc *c, struct ncp_request *rq);
/* One blocking recv(): every reply frame that completes is handed to fn
 * (BUSY frames are only counted).  0, or -1 on a transport or framing error. */
int  ncpc_pump(struct ncpc *c, void (*fn)(void *arg, const uint8_t *frame, size_t len), void *arg);
/* Waits for the reply to `tag`; returns its completion code or -1.
 * Free out->frame with ncpc_reply_free. */
int  ncpc_wait(struct ncpc *c, uint32_t tag, struct ncpc_reply *out);
void ncpc_reply_free(struct ncpc_reply *r);
/* send + wait */
int  ncpc_call(struct ncpc *c, struct ncp_request *rq, struct ncpc_reply *out);
/* send + wait for requests with no interesting reply payload */
int  ncpc_simple(struct ncpc *c, struct ncp_request *rq);

/* Convenience */
struct ncp_str ncpc_str(const char *s);
struct ncp_request ncpc_req(uint8_t function);
/* OPEN path with flags (mode: for a file it creates); the handle in *h and, if st, the
 * file's attributes in *st.  Returns 0 or the error. */
int ncpc_open(struct ncpc *c, const char *path, uint32_t flags, uint16_t mode, uint32_t *h,
              struct ncp_stat *st);

#endif /* NCP_CLIENT_H */
