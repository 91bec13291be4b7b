/* fuzz_port.c - fs/fs_port.h for the fuzz harnesses: tests/host/fs_port_host.c's pthread
 * port, plus a count of live allocations (a harness checks it is back to its baseline at the
 * end of each input: every connection, handle, lock, waiter and buffer freed) and background
 * work (read-ahead) run inline or refused, never on a thread, so a run is deterministic. */
#include "fs/fs_port.h"
#include "fuzz_port.h"

#include <stdio.h>
#include <stdlib.h>

enum fs_host_async_mode fs_host_async_mode = FS_ASYNC_REFUSE;
long fuzz_allocs_live;

void *fs_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1))
        return NULL;
    __atomic_add_fetch(&fuzz_allocs_live, 1, __ATOMIC_RELAXED);
    return p;
}

void fs_free(void *p)
{
    if (!p)
        return;
    __atomic_sub_fetch(&fuzz_allocs_live, 1, __ATOMIC_RELAXED);
    free(p);
}

void fs_mutex_init(struct fs_mutex *m) { pthread_mutex_init(&m->m, NULL); }
void fs_mutex_lock(struct fs_mutex *m) { pthread_mutex_lock(&m->m); }
bool fs_mutex_trylock(struct fs_mutex *m) { return pthread_mutex_trylock(&m->m) == 0; }
void fs_mutex_unlock(struct fs_mutex *m) { pthread_mutex_unlock(&m->m); }

void fs_cond_init(struct fs_cond *c) { pthread_cond_init(&c->c, NULL); }
void fs_cond_wait(struct fs_cond *c, struct fs_mutex *m) { pthread_cond_wait(&c->c, &m->m); }
void fs_cond_broadcast(struct fs_cond *c) { pthread_cond_broadcast(&c->c); }

/* A fixed clock: the same input behaves the same on every run. */
uint32_t fs_time_now(void) { return 1700000000u; }

void fs_log(const char *fmt, ...)
{
    va_list ap;
    if (getenv("FS_LOG") == NULL)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

int fs_run_async(void (*fn)(void *arg), void *arg)
{
    if (fs_host_async_mode != FS_ASYNC_INLINE)
        return -1;
    fn(arg);
    return 0;
}
