/* ncp_proto.h - THE definition of the WorkToDo file protocol wire format.
 *
 * Shared by the kernel server, the Linux ncpd and the host client ncpc.
 * Portable: only <stdint.h>, <stddef.h>, <stdbool.h>.  docs/protocol.md is
 * the prose version of this file; keep them in step.
 *
 * Every integer on the wire is BIG-ENDIAN (network byte order).
 *
 * Frame  = u32 length  (bytes that follow: header + payload)
 *          header      (NCP_HDR_SIZE bytes, see struct ncp_header)
 *          payload     (function specific, see the layout comments below)
 *
 * Strings and paths are u16 length + bytes, never NUL terminated on the wire.
 */
#ifndef NCP_PROTO_H
#define NCP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NCP_TCP_PORT          524       /* in the guest; host tests forward 5240 */
#define NCP_VERSION           1

#define NCP_LEN_SIZE          4         /* the u32 length prefix */
#define NCP_HDR_SIZE          16        /* header after the prefix */
#define NCP_MIN_FRAME         NCP_HDR_SIZE
/* Largest frame (header + payload, prefix excluded) before negotiate. */
#define NCP_DEFAULT_MAX_FRAME (64u * 1024u + 64u)
/* Largest frame anyone may negotiate: 1 MiB of data plus headers. */
#define NCP_MAX_FRAME_LIMIT   (1024u * 1024u + 64u)
/* Largest frame before login, whatever NEGOTIATE asked for (login frames take under 100
 * bytes; a PING before login carries at most 4056).  With its length prefix it fills one
 * 4 KiB page, so a connection that has not logged in holds at most a page of frame. */
#define NCP_PRELOGIN_MAX_FRAME 4076u
/* Frames below this are never negotiated (a readdir entry must fit). */
#define NCP_MIN_MAX_FRAME     1024u

/* Bytes of a READ reply / WRITE request that are not file data. */
#define NCP_READ_REPLY_OVERHEAD  (NCP_HDR_SIZE + 4)
#define NCP_WRITE_REQ_OVERHEAD   (NCP_HDR_SIZE + 4 + 8 + 4)
/* Offset of the file data inside an encoded READ reply frame (prefix included),
 * so a server can read straight into its reply buffer. */
#define NCP_READ_REPLY_DATA_OFF  (NCP_LEN_SIZE + NCP_HDR_SIZE + 4)

#define NCP_PATH_MAX          1024      /* bytes in a path */
#define NCP_NAME_MAX          255       /* bytes in one path component */
#define NCP_USER_MAX          32
#define NCP_SALT_MAX          32
#define NCP_NONCE_SIZE        16
#define NCP_HASH_SIZE         32        /* SHA-256 */
#define NCP_PING_MAX          4096
#define NCP_STAT_NAME_MAX     47        /* counter names */
#define NCP_SYMLINK_MAX       1023      /* bytes in a symlink target (one 1 KiB ext2 block
                                           with its NUL) */
#define NCP_SYMLOOP_MAX       40        /* symlinks followed in one path resolution */
#define NCP_HANDLE_NONE       0xFFFFFFFFu

/* ---- header ------------------------------------------------------------ */

/* Request types (NetWare numbering). */
#define NCP_TYPE_REQUEST      0x2222
#define NCP_TYPE_REPLY        0x3333
#define NCP_TYPE_BUSY         0x9999    /* "request being processed": the
                                           request had to wait; the real
                                           reply with the same tag follows */

/* Header layout (offsets after the length prefix):
 *  0 u16 type        NCP_TYPE_*
 *  2 u8  function    NCP_FN_*
 *  3 u8  completion  NCP_OK / NCP_E_* (0 in requests)
 *  4 u16 conn        connection number (0 before negotiate; server assigns)
 *  6 u8  conn_status NCP_CS_* flags (0 in requests)
 *  7 u8  flags       reserved, 0
 *  8 u32 seq         client's sequence number, echoed in the reply
 * 12 u32 tag         client's tag, echoed; replies may come out of order
 */
struct ncp_header {
    uint16_t type;
    uint8_t  function;
    uint8_t  completion;
    uint16_t conn;
    uint8_t  conn_status;
    uint8_t  flags;
    uint32_t seq;
    uint32_t tag;
};

/* Connection status flags carried in every reply. */
#define NCP_CS_LOGGED_IN      0x01
#define NCP_CS_ADMIN          0x02
#define NCP_CS_SERVER_DOWN    0x10      /* server is shutting down */
#define NCP_CS_CLOSING        0x20      /* server will close this connection */

/* ---- functions --------------------------------------------------------- */
/* Payload layouts: "req:" request payload, "rep:" reply payload on NCP_OK.
 * Replies with a non-zero completion code carry no payload. */
enum ncp_function {
    NCP_FN_NEGOTIATE  = 0x01, /* req: u16 version, u32 max_frame
                                 rep: u16 version, u32 max_frame, u16 conn,
                                      u32 max_handles, u32 max_inflight */
    NCP_FN_CHALLENGE  = 0x02, /* req: str user
                                 rep: u8 salt_len, salt[salt_len], nonce[16] */
    NCP_FN_LOGIN      = 0x03, /* req: str user, proof[32]
                                 proof = SHA256(nonce || SHA256(salt || password))
                                 rep: u32 flags (NCP_LOGIN_ADMIN) */
    NCP_FN_LOGOUT     = 0x04, /* req: -            rep: - */
    NCP_FN_PING       = 0x05, /* req: u32 len, data[len] (<= NCP_PING_MAX)
                                 rep: the same bytes */
    NCP_FN_OPEN       = 0x10, /* req: u32 flags (NCP_O_*), u16 mode, str path
                                 rep: u32 handle, stat */
    NCP_FN_CREATE     = 0x11, /* as OPEN; implies NCP_O_CREATE|NCP_O_WRITE */
    NCP_FN_READ       = 0x12, /* req: u32 handle, u64 offset, u32 count
                                 rep: u32 len, data[len] (len < count at EOF) */
    NCP_FN_WRITE      = 0x13, /* req: u32 handle, u64 offset, u32 len, data[len]
                                 rep: u32 written */
    NCP_FN_CLOSE      = 0x14, /* req: u32 handle   rep: - */
    NCP_FN_STAT       = 0x15, /* req: str path     rep: stat */
    NCP_FN_FSTAT      = 0x16, /* req: u32 handle   rep: stat */
    NCP_FN_READDIR    = 0x17, /* req: str path, u64 cookie, u16 max_entries
                                 rep: u64 next_cookie, u8 eof, u16 count,
                                      count x dirent */
    NCP_FN_UNLINK     = 0x18, /* req: str path     rep: - */
    NCP_FN_RENAME     = 0x19, /* req: str from, str to   rep: - */
    NCP_FN_MKDIR      = 0x1A, /* req: u16 mode, str path rep: - */
    NCP_FN_RMDIR      = 0x1B, /* req: str path     rep: - */
    NCP_FN_TRUNCATE   = 0x1C, /* req: u32 handle, u64 size  rep: - */
    NCP_FN_LOCK       = 0x1D, /* req: u32 handle, u64 offset, u64 length,
                                      u8 flags (NCP_LOCK_*)  rep: - */
    NCP_FN_UNLOCK     = 0x1E, /* req: u32 handle, u64 offset, u64 length
                                 rep: - */
    NCP_FN_FSYNC      = 0x1F, /* req: u32 handle (NCP_HANDLE_NONE = volume)
                                 rep: - */
    NCP_FN_STATFS     = 0x20, /* req: -            rep: statfs */
    NCP_FN_SETATTR    = 0x21, /* req: u32 mask (NCP_SA_*), u32 handle, str path,
                                      u16 mode, u32 uid, u32 gid, u64 size,
                                      u32 atime, u32 mtime
                                 (handle NCP_HANDLE_NONE: the file at path;
                                  else that handle, and path must be empty;
                                  fields outside mask are ignored, send 0)
                                 rep: stat (after the change) */
    NCP_FN_NAMES      = 0x22, /* req: u16 count (<= NCP_NAMES_MAX),
                                      count x name entry
                                 rep: the same, answered in order
                                 name entry: u8 kind (NCP_NAME_*), u32 id,
                                      u8 len, name[len] (len <= NCP_USER_MAX)
                                 asking: len 0 asks the name of id, len > 0
                                 the id of name; answering: id and name, or
                                 id NCP_ID_NONE and len 0 when unknown */
    NCP_FN_SYMLINK    = 0x23, /* req: str target (1..NCP_SYMLINK_MAX bytes, no NUL;
                                      not a path the codec checks: any bytes),
                                      str linkpath
                                 rep: stat (of the new link) */
    NCP_FN_READLINK   = 0x24, /* req: str path     rep: str target */
    NCP_FN_LINK       = 0x25, /* req: str existing, str newpath
                                 rep: stat (of the file, nlink counted) */
    NCP_FN_LSTAT      = 0x26, /* req: str path     rep: stat (as STAT, but a final
                                      symlink is not followed) */
    NCP_FN_STATS      = 0x30, /* req: u16 first
                                 rep: u16 total, u16 count,
                                      count x (u8 len, name[len], u64 value) */
    NCP_FN_SHUTDOWN   = 0x3F, /* req: -  (admin only; flush, then power off)
                                 rep: - (sent before the flush starts) */
};
#define NCP_FN_MAX 0x3F

/* Functions allowed before login. */
static inline bool ncp_fn_needs_login(uint8_t fn)
{
    return !(fn == NCP_FN_NEGOTIATE || fn == NCP_FN_CHALLENGE ||
             fn == NCP_FN_LOGIN || fn == NCP_FN_PING);
}

/* OPEN / CREATE flags. */
#define NCP_O_READ            0x01
#define NCP_O_WRITE           0x02
#define NCP_O_CREATE          0x04
#define NCP_O_EXCL            0x08      /* with CREATE: fail with EEXIST */
#define NCP_O_TRUNC           0x10
#define NCP_O_APPEND          0x20      /* writes go to the end of file */
#define NCP_O_ALL             0x3F

/* LOCK flags.  A lock without NCP_LOCK_WAIT fails at once with NCP_E_LOCKED;
 * with it the reply comes when the lock is granted (a BUSY frame may come
 * first).  length 0 means "to the end of file and beyond". */
#define NCP_LOCK_EXCLUSIVE    0x01      /* else shared */
#define NCP_LOCK_WAIT         0x02
#define NCP_LOCK_ALL          0x03

/* SETATTR mask bits.  ATIME and ATIME_NOW (MTIME and MTIME_NOW) exclude
 * each other; "NOW" means the server's clock. */
#define NCP_SA_MODE           0x01
#define NCP_SA_UID            0x02
#define NCP_SA_GID            0x04
#define NCP_SA_SIZE           0x08
#define NCP_SA_ATIME          0x10
#define NCP_SA_MTIME          0x20
#define NCP_SA_ATIME_NOW      0x40
#define NCP_SA_MTIME_NOW      0x80
#define NCP_SA_NOFOLLOW       0x100     /* path: a final symlink is not followed (the
                                           link's own owner and times; MODE and SIZE of a
                                           symlink are INVAL) */
#define NCP_SA_ALL            0x1FF

/* NAMES kinds and limits. */
#define NCP_NAME_USER         0
#define NCP_NAME_GROUP        1
#define NCP_NAMES_MAX         24    /* a reply fits the smallest frame */
#define NCP_ID_NONE           0xFFFFFFFFu   /* never a valid uid or gid */

/* LOGIN reply flags. */
#define NCP_LOGIN_ADMIN       0x01

/* File types in stat and dirent. */
#define NCP_FT_UNKNOWN        0
#define NCP_FT_FILE           1
#define NCP_FT_DIR            2
#define NCP_FT_SYMLINK        3
#define NCP_FT_OTHER          4

/* stat on the wire (40 bytes): u32 ino, u8 type, u8 pad, u16 mode (low 12
 * permission bits), u32 nlink, u32 uid, u32 gid, u64 size, u32 atime,
 * u32 mtime, u32 ctime.  Times are seconds since 1970 UTC. */
#define NCP_STAT_SIZE         40
struct ncp_stat {
    uint32_t ino;
    uint8_t  type;
    uint16_t mode;
    uint32_t nlink, uid, gid;
    uint64_t size;
    uint32_t atime, mtime, ctime;
};

/* dirent on the wire: u32 ino, u8 type, u16 mode, u32 uid, u32 gid, u64 size,
 * u32 mtime, u8 name_len, name[name_len] (1..NCP_NAME_MAX bytes, no '/' or NUL).
 * NCP_DIRENT_FIXED counts everything but the name. */
#define NCP_DIRENT_FIXED      28
struct ncp_dirent {
    uint32_t    ino;
    uint8_t     type;
    uint16_t    mode;
    uint32_t    uid, gid;
    uint64_t    size;
    uint32_t    mtime;
    uint8_t     name_len;
    const char *name;           /* not NUL terminated */
};

/* statfs on the wire (44 bytes): u32 block_size, u64 blocks, u64 blocks_free,
 * u64 files, u64 files_free, u32 name_max, u32 flags (NCP_FS_*). */
#define NCP_STATFS_SIZE       44
#define NCP_FS_READONLY       0x01
struct ncp_statfs {
    uint32_t block_size;
    uint64_t blocks, blocks_free, files, files_free;
    uint32_t name_max;
    uint32_t flags;
};

/* One NAMES answer (reply side). */
struct ncp_name {
    uint8_t     kind;           /* NCP_NAME_* */
    uint32_t    id;
    uint8_t     len;            /* 0: unknown id */
    const char *name;           /* not NUL terminated */
};

/* One named server counter (STATS reply). */
struct ncp_counter {
    const char *name;           /* NUL terminated on the sending side */
    uint64_t    value;
};

/* ---- completion codes -------------------------------------------------- */
enum ncp_completion {
    NCP_OK              = 0,
    NCP_E_NOENT         = 1,   /* no such file or directory */
    NCP_E_EXIST         = 2,   /* already exists */
    NCP_E_NOTEMPTY      = 3,   /* directory not empty */
    NCP_E_NOTDIR        = 4,   /* a path component is not a directory */
    NCP_E_ISDIR         = 5,   /* is a directory */
    NCP_E_ACCES         = 6,   /* permission denied (e.g. not admin) */
    NCP_E_BADF          = 7,   /* bad handle (or not open for that access) */
    NCP_E_INVAL         = 8,   /* invalid argument (bad path, flags, range) */
    NCP_E_NOSPC         = 9,   /* no space left on volume */
    NCP_E_ROFS          = 10,  /* read-only volume */
    NCP_E_NAMETOOLONG   = 11,  /* name or path too long */
    NCP_E_LOCKED        = 12,  /* range locked by another (EAGAIN) */
    NCP_E_TOOMANYCONNS  = 13,  /* too many connections */
    NCP_E_TOOMANYFILES  = 14,  /* too many open handles on this connection */
    NCP_E_TOOMANYREQS   = 15,  /* too many requests in flight */
    NCP_E_NOTLOGGEDIN   = 16,  /* function needs login */
    NCP_E_BADFRAME      = 17,  /* malformed frame */
    NCP_E_BADFUNC       = 18,  /* unknown function (ENOSYS) */
    NCP_E_IO            = 19,  /* I/O error / corrupt volume */
    NCP_E_BADLOGIN      = 20,  /* wrong user or password */
    NCP_E_FBIG          = 21,  /* file too large */
    NCP_E_BADVERSION    = 22,  /* protocol version not supported */
    NCP_E_SHUTDOWN      = 23,  /* server is shutting down */
    NCP_E_DEADLK        = 24,  /* waiting would deadlock */
    NCP_E_BUSY          = 25,  /* resource busy (e.g. rmdir of cwd-like use) */
    NCP_E_NOMEM         = 26,  /* server out of memory */
    NCP_E_TOOMANYLOCKS  = 27,  /* lock limit of the handle, connection or server */
    NCP_E_LOCKEDOUT     = 28,  /* intruder lockout: too many failed logins for
                                  this user name; try again later */
    NCP_E_LOOP          = 29,  /* too many symlinks in a path resolution (ELOOP) */
    NCP_E_MLINK         = 30,  /* too many links to the file (EMLINK) */
    NCP_E_PERM          = 31,  /* operation not permitted (EPERM: a hard link to a
                                  directory, or to a file the caller may not link) */
    NCP_E_COUNT
};

/* Short message for a completion code (never NULL). */
static inline const char *ncp_strerror(unsigned code)
{
    static const char *const msg[NCP_E_COUNT] = {
        "success", "no such file or directory", "file exists",
        "directory not empty", "not a directory", "is a directory",
        "permission denied", "bad file handle", "invalid argument",
        "no space left on volume", "read-only volume", "name too long",
        "range is locked", "too many connections", "too many open handles",
        "too many requests in flight", "not logged in", "malformed frame",
        "unknown function", "I/O error", "login failed: wrong user or password",
        "file too large", "protocol version not supported",
        "server is shutting down", "lock would deadlock", "resource busy",
        "server out of memory", "too many locks",
        "account locked: too many failed logins (intruder detection)",
        "too many levels of symbolic links", "too many links",
        "operation not permitted",
    };
    return code < NCP_E_COUNT ? msg[code] : "unknown completion code";
}

/* Errno-style symbolic name for a completion code (for logs and tests). */
static inline const char *ncp_errname(unsigned code)
{
    static const char *const name[NCP_E_COUNT] = {
        "OK", "ENOENT", "EEXIST", "ENOTEMPTY", "ENOTDIR", "EISDIR", "EACCES",
        "EBADF", "EINVAL", "ENOSPC", "EROFS", "ENAMETOOLONG", "ELOCKED",
        "ETOOMANYCONNS", "ETOOMANYFILES", "ETOOMANYREQS", "ENOTLOGGEDIN",
        "EBADFRAME", "ENOSYS", "EIO", "EBADLOGIN", "EFBIG", "EBADVERSION",
        "ESHUTDOWN", "EDEADLK", "EBUSY", "ENOMEM",
        "ETOOMANYLOCKS", "ELOCKEDOUT", "ELOOP", "EMLINK", "EPERM",
    };
    return code < NCP_E_COUNT ? name[code] : "E?";
}

/* ---- big-endian helpers (used by codec, server and client alike) ------- */
static inline void ncp_put16(uint8_t *p, uint16_t v)
{ p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void ncp_put32(uint8_t *p, uint32_t v)
{ p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v; }
static inline void ncp_put64(uint8_t *p, uint64_t v)
{ ncp_put32(p, (uint32_t)(v >> 32)); ncp_put32(p + 4, (uint32_t)v); }
static inline uint16_t ncp_get16(const uint8_t *p)
{ return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t ncp_get32(const uint8_t *p)
{ return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3]; }
static inline uint64_t ncp_get64(const uint8_t *p)
{ return ((uint64_t)ncp_get32(p) << 32) | ncp_get32(p + 4); }

#endif /* NCP_PROTO_H */
