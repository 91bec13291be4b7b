/* ncp_reasm.h - reassembles NCP frames from an arbitrary byte stream.
 *
 * TCP (and lwIP) deliver segments of any size; feed them in, take complete
 * frames out.  The reassembler holds at most one frame, so its buffer needs
 * NCP_LEN_SIZE + max_frame bytes.  A length prefix below NCP_MIN_FRAME or
 * above max_frame is a sticky error: the caller should reply BADFRAME (or
 * just close) since the stream can no longer be trusted.
 */
#ifndef NCP_REASM_H
#define NCP_REASM_H

#include "ncp_proto.h"

struct ncp_reasm {
    uint8_t *buf;
    size_t   cap;         /* bytes in buf */
    size_t   have;        /* bytes of the current frame received */
    uint32_t max_frame;   /* largest accepted frame (header + payload) */
    bool     failed;
};

enum { NCP_REASM_MORE = 0, NCP_REASM_FRAME = 1, NCP_REASM_ERROR = -1 };

/* false if cap cannot hold a max_frame frame. */
bool   ncp_reasm_init(struct ncp_reasm *ra, uint8_t *buf, size_t cap, uint32_t max_frame);
/* Raise/lower the limit after negotiate; false if buf is too small. */
bool   ncp_reasm_set_max(struct ncp_reasm *ra, uint32_t max_frame);
/* Copies bytes from data, stopping at the end of the current frame.
 * Returns the number of bytes consumed (0 when a frame is waiting or failed). */
size_t ncp_reasm_feed(struct ncp_reasm *ra, const uint8_t *data, size_t len);
/* NCP_REASM_FRAME with *frame and *len (prefix included) when a whole frame is
 * buffered, NCP_REASM_MORE when more bytes are needed, NCP_REASM_ERROR. */
int    ncp_reasm_frame(const struct ncp_reasm *ra, const uint8_t **frame, size_t *len);
/* Drops the current frame once the caller is done with it. */
void   ncp_reasm_consume(struct ncp_reasm *ra);

#endif /* NCP_REASM_H */
