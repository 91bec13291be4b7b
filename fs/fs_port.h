/* fs_port.h - everything fs/ needs from the system it is built into.
 *
 * fs/ is portable: it is compiled freestanding into the kernel and hosted
 * (with pthreads) for the unit tests.  It includes no OS or libc header but
 * this one.  The embedder defines FS_PORT_HEADER (e.g.
 * -DFS_PORT_HEADER='"fs/kernel/fs_port_kernel.h"') naming a header that gives
 * the COMPLETE types `struct fs_mutex` and `struct fs_cond`, and links
 * implementations of the functions declared below.  No function here needs a
 * destroy counterpart: fs/ may simply free memory holding a mutex or cond.
 */
#ifndef FS_PORT_H
#define FS_PORT_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdarg.h>

#ifdef FS_PORT_HEADER
#include FS_PORT_HEADER
#else
#error "fs/: define FS_PORT_HEADER to the header giving struct fs_mutex and struct fs_cond"
#endif

/* Memory.  fs_alloc returns memory aligned to at least 16 bytes (cache
 * buffers of 4096 bytes should be 4096-aligned if the device DMAs into them),
 * or NULL.  Contents are undefined; fs/ clears what it needs. May sleep. */
void *fs_alloc(size_t size);
void fs_free(void *p);                  /* p may be NULL */

/* Sleeping mutex.  fs_mutex_trylock must NEVER sleep or spin for long: the
 * non-blocking cache lookup calls it from the network receive path and
 * treats failure as a cache miss.  Returns true when the lock was taken. */
void fs_mutex_init(struct fs_mutex *m);
void fs_mutex_lock(struct fs_mutex *m);
bool fs_mutex_trylock(struct fs_mutex *m);
void fs_mutex_unlock(struct fs_mutex *m);

/* Condition variable used with an fs_mutex.  fs_cond_wait atomically
 * releases m, sleeps until a broadcast (spurious wakeups allowed: callers
 * loop), and re-acquires m before returning. */
void fs_cond_init(struct fs_cond *c);
void fs_cond_wait(struct fs_cond *c, struct fs_mutex *m);
void fs_cond_broadcast(struct fs_cond *c);

/* Wall-clock seconds since 1970-01-01 UTC (ext2 timestamps). */
uint32_t fs_time_now(void);

/* Diagnostic message, printf-style (%s %d %u %x %lu %llu are enough). */
void fs_log(const char *fmt, ...);

/* Run fn(arg) later on some thread that may sleep (used for read-ahead).
 * Must not sleep itself: the non-blocking path may call it.  Returns 0 if
 * queued, negative if not (fs/ then simply skips the background work). */
int fs_run_async(void (*fn)(void *arg), void *arg);

/* The standard string functions; both the kernel and libc provide them. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
