/* ncp_reasm.h - reassembles NCP frames from an arbitrary byte stream.
 *
 * TCP (and lwIP) deliver segments of any size; feed them in, take complete
 * frames out.  The reassembler holds at most one frame.  A length prefix below
 * NCP_MIN_FRAME or above max_frame is a sticky error: the caller should reply
 * BADFRAME (or just close) since the stream can no longer be trusted.
 *
 * Two ways to own the buffer:
 *  - fixed (ncp_reasm_init): the caller's buffer, big enough for NCP_LEN_SIZE +
 *    max_frame (clients, tests).
 *  - growing (ncp_reasm_init_growing): the buffer is allocated through the
 *    caller's alloc function only as bytes of a frame's body arrive and grows
 *    geometrically (at least doubling, at least to what has arrived) up to the
 *    announced length, never past NCP_LEN_SIZE + max_frame.  A 4-byte prefix
 *    announcing 1 MiB costs nothing until the bytes come; the length prefix is
 *    kept inline, so a connection between frames may hold no buffer at all
 *    (servers: ncp_reasm_take hands a whole frame's buffer over).  alloc may
 *    refuse (a memory budget): the frame then fails with NCP_REASM_NOMEM, sticky.
 */
#ifndef NCP_REASM_H
#define NCP_REASM_H

#include "ncp_proto.h"

/* realloc-like: p NULL allocates; *new_size 0 frees (returns NULL); NULL for a
 * non-zero size refuses, leaving p as it was.  The allocator may raise *new_size to
 * what its block really holds (the reassembler then uses all of it). */
typedef void *(*ncp_reasm_alloc_fn)(void *arg, void *p, size_t old_size, size_t *new_size);

/* Smallest buffer a growing reassembler allocates (a frame's first body bytes). */
#define NCP_REASM_MIN_BUF 512u

struct ncp_reasm {
    uint8_t *buf;         /* the current frame, prefix included (growing: NULL until body bytes) */
    size_t   cap;         /* bytes in buf */
    size_t   have;        /* bytes of the current frame received */
    uint32_t max_frame;   /* largest accepted frame (header + payload), judged at each prefix */
    int      error;       /* 0, NCP_REASM_ERROR (bad length) or NCP_REASM_NOMEM; sticky */
    uint8_t  prefix[NCP_LEN_SIZE];
    ncp_reasm_alloc_fn alloc;   /* NULL: fixed buffer */
    void    *alloc_arg;
};

enum { NCP_REASM_MORE = 0, NCP_REASM_FRAME = 1, NCP_REASM_ERROR = -1, NCP_REASM_NOMEM = -2 };

/* Fixed buffer; false if cap cannot hold a max_frame frame. */
bool   ncp_reasm_init(struct ncp_reasm *ra, uint8_t *buf, size_t cap, uint32_t max_frame);
/* Growing buffer from alloc(arg, ...); holds nothing yet.  false if max_frame is out of range. */
bool   ncp_reasm_init_growing(struct ncp_reasm *ra, uint32_t max_frame, ncp_reasm_alloc_fn alloc, void *arg);
/* Raise/lower the limit (after NEGOTIATE, at login); it judges the next length prefix
 * completed, a frame whose prefix was already accepted keeps going.  false (limit
 * unchanged) if out of range or a fixed buffer is too small. */
bool   ncp_reasm_set_max(struct ncp_reasm *ra, uint32_t max_frame);
/* Copies bytes from data, stopping at the end of the current frame.
 * Returns the number of bytes consumed (0 when a frame is waiting or failed). */
size_t ncp_reasm_feed(struct ncp_reasm *ra, const uint8_t *data, size_t len);
/* Bytes still needed to finish the current frame (its prefix first, then its body); 0
 * when a whole frame waits or the stream failed.  A server that must not hold more than
 * one frame of a client reads no more than this. */
size_t ncp_reasm_wanted(const struct ncp_reasm *ra);
/* NCP_REASM_FRAME with *frame and *len (prefix included) when a whole frame is
 * buffered, NCP_REASM_MORE when more bytes are needed, NCP_REASM_ERROR or
 * NCP_REASM_NOMEM when the stream failed. */
int    ncp_reasm_frame(const struct ncp_reasm *ra, const uint8_t **frame, size_t *len);
/* Drops the current frame once the caller is done with it (the buffer stays). */
void   ncp_reasm_consume(struct ncp_reasm *ra);
/* Growing only: hands the whole current frame's buffer to the caller (who frees it with
 * the same alloc function: its size is *cap) and starts over with no buffer.  NULL if no
 * whole frame is buffered. */
uint8_t *ncp_reasm_take(struct ncp_reasm *ra, size_t *len, size_t *cap);
/* Growing only: frees the buffer (any partial frame is lost; have goes to 0).  For a
 * connection's end, or to drop a big buffer between frames. */
void   ncp_reasm_release(struct ncp_reasm *ra);

#endif /* NCP_REASM_H */
