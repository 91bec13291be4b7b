/* Error numbers used by fs/: functions return 0 or a NEGATIVE value from
 * this list.  The numbers are Linux's, so they can travel on the wire and be
 * understood by host tools without translation. */
#ifndef FS_ERRNO_H
#define FS_ERRNO_H

#define FS_EPERM          1
#define FS_ENOENT         2
#define FS_EIO            5
#define FS_EBADF          9
#define FS_EAGAIN        11
#define FS_EWOULDBLOCK   FS_EAGAIN
#define FS_ENOMEM        12
#define FS_EACCES        13
#define FS_EBUSY         16
#define FS_EEXIST        17
#define FS_EXDEV         18
#define FS_ENOTDIR       20
#define FS_EISDIR        21
#define FS_EINVAL        22
#define FS_EFBIG         27
#define FS_ENOSPC        28
#define FS_EROFS         30
#define FS_EMLINK        31
#define FS_ERANGE        34
#define FS_ENAMETOOLONG  36
#define FS_ENOTEMPTY     39
#define FS_ELOOP         40
#define FS_EOVERFLOW     75
#define FS_ENOBUFS      105
#define FS_EUCLEAN      117   /* on-disk structure is corrupt */
#define FS_ENOTSUP       95

#endif
