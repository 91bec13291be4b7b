/* ncp_server.h - the portable NCP protocol engine.
 *
 * Used by the kernel server and by the Linux ncpd.  The embedder owns the
 * sockets and threads; the engine owns connection state (login, handles,
 * in-flight accounting), byte-range locks and the dispatch of requests to a
 * struct ncp_vfs_ops.  OS services come from fs/fs_port.h (memory, mutex).
 *
 * Per connection the embedder:
 *   c = ncp_conn_create(srv, send, arg)   NULL: refuse (send ncp_server_refusal)
 *   reassemble frames (proto/ncp_reasm.h, limit ncp_conn_max_frame(c))
 *   for each frame:
 *     r = ncp_conn_handle(c, frame, len, may_block)
 *       NCP_HANDLED      done (the reply was sent, or will be: lock waits)
 *       NCP_WOULD_BLOCK  only when may_block was false: the request needs a
 *                        context that may sleep.  Copy the frame and call
 *                        ncp_conn_handle_blocking(c, copy, len) there.  The
 *                        request already counts as in flight.
 *       NCP_CLOSE_CONN   send nothing more; close the connection
 *       NCP_RETRY        only when may_block was false: a request past the
 *                        in-flight limit whose refusal could not be sent or
 *                        queued (see below).  Nothing was admitted or sent.
 *                        Either offer the same frame again once this
 *                        connection has sent something (the kernel: on_sent),
 *                        reading nothing more meanwhile, or call
 *                        ncp_conn_refuse(c, frame, len) where waiting for the
 *                        connection's send lock is allowed (ncpd's loop).
 *   ncp_conn_destroy(c) on disconnect (also drops its locks and handles).
 *
 * send(arg, frame, len) is called with whole reply frames, possibly from
 * another connection's thread (lock grants) but never concurrently for one
 * connection and never after ncp_conn_destroy returned.  It must copy or
 * finish with the bytes before returning.
 *
 * Requests of one connection may run concurrently on several threads and
 * complete in any order; clients wait for replies they depend on.
 *
 * In-flight limit: a request past cfg.max_inflight is never admitted, on either
 * path.  Its NCP_E_TOOMANYREQS refusal is sent at once, or, when the send lock is
 * busy on the non-blocking path, queued in the connection (NCP_REFUSALS_MAX of
 * them) and sent by whichever thread next finishes a send; ncp_conn_handle then
 * returns NCP_HANDLED.  If even that queue is full: NCP_RETRY, and the embedder
 * refuses the frame later (a fast client is slowed down, never closed for it).  So
 * NCP_WOULD_BLOCK always means an admitted request, and no refusal is ever lost.
 *
 * Locks held while calling send: the connection's send lock only (never the
 * server-wide lock).  The callback may take the embedder's own locks.
 *
 * Sleeping: ncp_conn_handle(..., may_block=false) never waits for a mutex
 * (it only try-locks; contention becomes NCP_WOULD_BLOCK) and does no I/O
 * beyond vfs read_nonblock; it does call fs_alloc for reply buffers.  The
 * fast path answers PING, NEGOTIATE, STATS (an admin's, which walks the intruder
 * table, goes to a worker) and cached READs.  Everything
 * else, including ncp_conn_create/destroy and ncp_conn_bad_stream, may
 * sleep briefly on engine mutexes (never held across I/O).
 */
#ifndef NCP_SERVER_H
#define NCP_SERVER_H

#include "fs/fs_port.h"
#include "proto/ncp_codec.h"
#include "server/ncp_vfs.h"

typedef void (*ncp_send_fn)(void *arg, const uint8_t *frame, size_t len);
/* Gather send (optional, see ncp_conn_set_sendv): the frame is iov[0..n) back to back. */
struct ncp_iov { const uint8_t *base; size_t len; };
typedef void (*ncp_sendv_fn)(void *arg, const struct ncp_iov *iov, unsigned n);

struct ncp_server_config {
    const struct ncp_vfs_ops *vfs;
    void     *vfs_ctx;
    uint32_t  max_conns;        /* 0 = 10000 */
    uint32_t  max_handles;      /* per connection; 0 = 256 */
    uint32_t  max_inflight;     /* per connection; 0 = 128 */
    uint32_t  max_frame;        /* largest negotiable; 0 = NCP_MAX_FRAME_LIMIT */
    const char *users_path;     /* NULL = "/etc/ncp-users" */
    /* Fills buf with unpredictable bytes (nonces, secret). Required. */
    void    (*random)(void *arg, uint8_t *buf, size_t n);
    /* SHUTDOWN by an admin: called after the reply went out and the volume
     * was synced.  May be NULL (then SHUTDOWN only syncs). */
    void    (*shutdown)(void *arg);
    /* Embedder counters (wtd.*, worker.*, cache.*, net.*) for STATS; names
     * must stay valid.  Returns how many were written (<= max).  May be NULL.
     * Called on the non-blocking path for every STATS of any logged-in user
     * (the kernel: in the receive WTD with lwIP's core lock held), so it MUST
     * be cheap: read counters kept up to date elsewhere, no scans of caches or
     * tables, no allocation, no mutex it could wait for. */
    unsigned (*extra_counters)(void *arg, struct ncp_counter *out, unsigned max);
    void     *arg;
    /* Byte-range locks (a waiting LOCK counts as one): per handle, per connection and
     * in the whole server.  Past any of them LOCK fails with NCP_E_TOOMANYLOCKS. */
    uint32_t  max_locks_per_handle;   /* 0 = 64 */
    uint32_t  max_locks_per_conn;     /* 0 = 256 */
    uint32_t  max_locks;              /* 0 = 65536 */
    /* Intruder detection (NetWare's): intruder_attempts failed LOGINs for one user
     * name within intruder_window_s lock that name for intruder_lock_s (LOGIN then
     * fails with NCP_E_LOCKEDOUT whatever the proof).  Names known or not are treated
     * alike; the table tracks at most intruder_names names. */
    uint32_t  intruder_attempts;      /* 0 = 5 */
    uint32_t  intruder_window_s;      /* 0 = 60 */
    uint32_t  intruder_lock_s;        /* 0 = 300 */
    uint32_t  intruder_names;         /* 0 = 256 */
    /* Monotonic milliseconds (any origin) for intruder detection.  NULL: seconds of
     * fs_time_now() (wall clock) are used instead.  Host tests inject a fake clock. */
    uint64_t (*now_ms)(void *arg);
};

struct ncp_server;
struct ncp_conn;

enum { NCP_HANDLED = 0, NCP_WOULD_BLOCK = 1, NCP_CLOSE_CONN = 2, NCP_RETRY = 3 };

struct ncp_server *ncp_server_create(const struct ncp_server_config *cfg);
void ncp_server_destroy(struct ncp_server *s);   /* all connections destroyed first */
/* True once an admin asked for SHUTDOWN (embedders stop accepting). */
bool ncp_server_stopping(const struct ncp_server *s);

struct ncp_conn *ncp_conn_create(struct ncp_server *s, ncp_send_fn send, void *arg);
void ncp_conn_destroy(struct ncp_conn *c);
/* Lets the engine send a frame in pieces, under the same rules as send (copy or finish with
 * the bytes before returning).  With it and a vfs with read_ref_nonblock, cached READ data
 * goes from the file system's buffers straight to the embedder: one copy fewer. */
void ncp_conn_set_sendv(struct ncp_conn *c, ncp_sendv_fn sendv);
/* The frame a refused connection gets before it is closed (ETOOMANYCONNS).
 * buf needs NCP_LEN_SIZE + NCP_HDR_SIZE bytes; returns the length. */
size_t ncp_server_refusal(uint8_t *buf);
/* Largest frame this connection accepts now: what NEGOTIATE settled after login,
 * at most NCP_PRELOGIN_MAX_FRAME before login (and again after LOGOUT).  Lock-free;
 * embedders call it before each frame they start assembling. */
uint32_t ncp_conn_max_frame(const struct ncp_conn *c);
uint16_t ncp_conn_number(const struct ncp_conn *c);
/* True once the connection logged in (embedders time out those that do not). */
bool ncp_conn_logged_in(const struct ncp_conn *c);
/* The engine's state for one connection, for an embedder's memory budget: before login
 * the connection alone; once logged in at most that and its handle table (allocated at
 * the first OPEN; the open files themselves are bounded by max_handles). */
size_t ncp_server_conn_bytes(const struct ncp_server *s, bool logged_in);
/* Requests admitted and not answered yet (lock waits included). */
uint32_t ncp_conn_inflight(const struct ncp_conn *c);

int ncp_conn_handle(struct ncp_conn *c, const uint8_t *frame, size_t len, bool may_block);
int ncp_conn_handle_blocking(struct ncp_conn *c, const uint8_t *frame, size_t len);
/* After NCP_RETRY: sends the NCP_E_TOOMANYREQS refusal for frame (never admits it),
 * waiting for the connection's send lock (held only while a reply is handed to send). */
void ncp_conn_refuse(struct ncp_conn *c, const uint8_t *frame, size_t len);
/* A malformed stream (reassembler error): sends a BADFRAME reply; the
 * embedder then closes. */
void ncp_conn_bad_stream(struct ncp_conn *c);

/* Maps a negative fs errno to a completion code. */
uint8_t ncp_completion_from_errno(int neg_errno);

#endif /* NCP_SERVER_H */
