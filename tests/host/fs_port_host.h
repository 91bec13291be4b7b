/* Host (pthread) port of fs/: the types behind fs_port.h for the unit tests. */
#ifndef FS_PORT_HOST_H
#define FS_PORT_HOST_H

#include <pthread.h>

struct fs_mutex { pthread_mutex_t m; };
struct fs_cond  { pthread_cond_t c; };

/* How fs_run_async behaves in tests: on a new detached thread (default),
 * inline in the caller (the job has finished when fs_run_async returns, so
 * counts do not depend on thread timing; fs/ calls it with no lock held),
 * or refused. */
enum fs_host_async_mode { FS_ASYNC_THREAD, FS_ASYNC_INLINE, FS_ASYNC_REFUSE };
extern enum fs_host_async_mode fs_host_async_mode;
/* Waits (at most 60 s) until every background call fs_run_async started has returned:
 * 0, or -1 if some are still running. */
int fs_host_async_drain(void);
/* Background calls started and not yet returned. */
unsigned fs_host_async_running(void);
/* Seconds added to the wall clock fs_time_now reads (tests of times set the past with it). */
extern int64_t fs_host_clock_offset;

#endif
