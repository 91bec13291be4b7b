/* ncp_codec.h - portable encode/decode of NCP frames (see include/ncp_proto.h).
 *
 * Decoding never copies: strings and data in a decoded message point into the
 * frame buffer, which must outlive the message.  Every length, count, offset
 * and path is checked; a decoder returns NCP_OK or a completion code the
 * server can send back as is, and leaves a short reason in ->why.
 *
 * Encoders write a whole frame (length prefix included) and return its size,
 * or 0 if it does not fit in `cap` or a field is out of range.
 */
#ifndef NCP_CODEC_H
#define NCP_CODEC_H

#include "ncp_proto.h"

struct ncp_str   { const char *ptr; uint16_t len; };
struct ncp_bytes { const uint8_t *ptr; uint32_t len; };

/* A decoded or to-be-encoded request. */
struct ncp_request {
    struct ncp_header h;
    union {
        struct { uint16_t version; uint32_t max_frame; } negotiate;
        struct { struct ncp_str user; } challenge;
        struct { struct ncp_str user; uint8_t proof[NCP_HASH_SIZE]; } login;
        struct { struct ncp_bytes data; } ping;
        struct { uint32_t flags; uint16_t mode; struct ncp_str path; } open;   /* OPEN, CREATE */
        struct { uint32_t handle; uint64_t offset; uint32_t count; } read;
        struct { uint32_t handle; uint64_t offset; struct ncp_bytes data; } write;
        struct { uint32_t handle; } handle;         /* CLOSE, FSTAT, FSYNC */
        struct { struct ncp_str path; } path;       /* STAT, LSTAT, READLINK, UNLINK, RMDIR */
        struct { struct ncp_str path; uint64_t cookie; uint16_t max_entries; } readdir;
        struct { struct ncp_str from, to; } rename;
        struct { struct ncp_str target, path; } symlink;
        struct { struct ncp_str existing, newpath; } link;
        struct { uint16_t mode; struct ncp_str path; } mkdir;
        struct { uint32_t handle; uint64_t size; } truncate;
        struct { uint32_t handle; uint64_t offset, length; uint8_t flags; } lock; /* LOCK, UNLOCK */
        struct { uint16_t first; } stats;
        struct {
            uint32_t mask, handle;
            struct ncp_str path;
            uint16_t mode;
            uint32_t uid, gid;
            uint64_t size;
            uint32_t atime, mtime;
        } setattr;
        struct {
            uint16_t count;
            const struct ncp_name *ids;         /* encode: count entries (NULL: raw instead) */
            struct ncp_bytes raw;               /* decode: validated (see ncp_names_next) */
        } names;
    } u;
    const char *why;            /* decode failure reason (static string) */
};

/* A decoded or to-be-encoded reply.  Only meaningful when h.completion == 0. */
struct ncp_reply {
    struct ncp_header h;
    union {
        struct {
            uint16_t version;
            uint32_t max_frame;
            uint16_t conn;
            uint32_t max_handles, max_inflight;
        } negotiate;
        struct {
            uint8_t salt_len;
            uint8_t salt[NCP_SALT_MAX];
            uint8_t nonce[NCP_NONCE_SIZE];
        } challenge;
        struct { uint32_t flags; } login;
        struct { struct ncp_bytes data; } ping;
        struct { uint32_t handle; struct ncp_stat st; } open;   /* OPEN, CREATE */
        struct { struct ncp_bytes data; } read;
        struct { uint32_t written; } write;
        struct { struct ncp_stat st; } stat;   /* STAT, LSTAT, FSTAT, SETATTR, SYMLINK, LINK */
        struct { struct ncp_str target; } readlink;
        struct {
            uint64_t next_cookie;
            uint8_t eof;
            uint16_t count;
            const struct ncp_dirent *entries;   /* encode: count entries */
            struct ncp_bytes raw;               /* decode: validated entries */
        } readdir;
        struct ncp_statfs statfs;
        struct {
            uint16_t total, count;
            const struct ncp_counter *counters; /* encode */
            struct ncp_bytes raw;               /* decode */
        } stats;
        struct {
            uint16_t count;
            const struct ncp_name *names;       /* encode: count entries (NULL: raw instead) */
            struct ncp_bytes raw;               /* decode (see ncp_names_next) */
        } names;
    } u;
    const char *why;
};

/* ---- header ---- */
void ncp_header_put(uint8_t *p, const struct ncp_header *h);  /* NCP_HDR_SIZE bytes */
void ncp_header_get(const uint8_t *p, struct ncp_header *h);

/* Frame length (header+payload) announced by a 4-byte prefix. */
static inline uint32_t ncp_frame_len(const uint8_t *prefix) { return ncp_get32(prefix); }

/* ---- requests ---- */
size_t ncp_encode_request(uint8_t *buf, size_t cap, const struct ncp_request *rq);
/* `frame` = prefix + header + payload, `len` its total size. */
int    ncp_decode_request(const uint8_t *frame, size_t len, struct ncp_request *rq);

/* ---- replies ---- */
/* An error reply (completion != 0) has no payload regardless of function. */
size_t ncp_encode_reply(uint8_t *buf, size_t cap, const struct ncp_reply *rp);
/* The first NCP_READ_REPLY_DATA_OFF bytes of a successful READ reply whose data_len bytes
 * of data the caller sends right after them (gather send); 0 if rp is not one. */
size_t ncp_encode_read_reply_head(uint8_t *buf, size_t cap, const struct ncp_reply *rp, uint32_t data_len);
/* For a request frame (prefix included) that is a READ: the size of its reply frame if
 * all the data asked for comes back; 0 for anything else (replies a few hundred bytes
 * long, or a frame too short to tell).  Lets a server wait for room before reading. */
size_t ncp_read_reply_size(const uint8_t *frame, size_t len);
int    ncp_decode_reply(const uint8_t *frame, size_t len, struct ncp_reply *rp);
/* A header-only frame: error replies and NCP_TYPE_BUSY. Needs 20 bytes. */
size_t ncp_encode_bare(uint8_t *buf, size_t cap, const struct ncp_header *h);

/* Wire size of one dirent / counter, to fill a reply up to the frame limit. */
static inline size_t ncp_dirent_size(size_t name_len) { return NCP_DIRENT_FIXED + name_len; }
size_t ncp_counter_size(const char *name);
/* Reply payload bytes before the entries. */
#define NCP_READDIR_REPLY_FIXED  (8 + 1 + 2)
#define NCP_STATS_REPLY_FIXED    (2 + 2)
/* Wire size of one NAMES entry (request or reply). */
static inline size_t ncp_name_size(size_t len) { return 1 + 4 + 1 + len; }

/* Iterate the entries of a decoded READDIR / STATS reply (already validated).
 * `*pos` starts at 0; returns false after the last entry.  Counter names are
 * copied NUL terminated into name[NCP_STAT_NAME_MAX + 1]. */
bool ncp_dirent_next(const struct ncp_reply *rp, size_t *pos, struct ncp_dirent *out);
bool ncp_counter_next(const struct ncp_reply *rp, size_t *pos,
                      char name[NCP_STAT_NAME_MAX + 1], uint64_t *value);
/* The same for the entries of a decoded NAMES request or reply (pass its
 * u.names.raw; out->name points into the frame). */
bool ncp_names_next(struct ncp_bytes raw, size_t *pos, struct ncp_name *out);

/* ---- paths ---- */
/* NCP_OK if `p` is an acceptable path: at most NCP_PATH_MAX bytes, no NUL,
 * no ".." component, every component at most NCP_NAME_MAX bytes.  A leading
 * '/', repeated '/' and "." components are allowed and ignored.  The empty
 * path and "/" name the root.  Else NCP_E_INVAL or NCP_E_NAMETOOLONG. */
int ncp_path_check(const char *p, size_t len);

/* NCP_OK if t is an acceptable symlink target: 1..NCP_SYMLINK_MAX bytes, no NUL
 * (anything else goes: "..", absolute, dangling; the server resolves it inside
 * the volume).  Else NCP_E_INVAL or NCP_E_NAMETOOLONG. */
int ncp_symlink_target_check(const char *t, size_t len);

/* Component iterator: yields the non-empty, non-"." components in order. */
struct ncp_path_iter { const char *p; size_t len, pos; };
void ncp_path_iter_init(struct ncp_path_iter *it, const char *p, size_t len);
bool ncp_path_iter_next(struct ncp_path_iter *it, const char **name, size_t *name_len);
/* Split into parent (may be empty = root) and last component; false if the
 * path names the root (no last component). */
bool ncp_path_split(const char *p, size_t len, size_t *parent_len,
                    const char **last, size_t *last_len);

#endif /* NCP_CODEC_H */
