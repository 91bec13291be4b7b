/* Host implementation of fs/fs_port.h on pthreads and libc: allocation, time and
 * background work here; mutexes, condition variables and fs_log in fs_port_threads.c. */
#include "fs/fs_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum fs_host_async_mode fs_host_async_mode = FS_ASYNC_THREAD;

void *fs_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1))
        return NULL;
    return p;
}

void fs_free(void *p) { free(p); }

int64_t fs_host_clock_offset;
uint32_t fs_time_now(void) { return (uint32_t)((int64_t)time(NULL) + __atomic_load_n(&fs_host_clock_offset, __ATOMIC_RELAXED)); }

struct async_call { void (*fn)(void *); void *arg; };

/* Background calls started and not yet returned, so that a test can wait for them
 * (fs_host_async_drain) before its memory goes away. */
static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_done = PTHREAD_COND_INITIALIZER;
static unsigned async_running;          /* async_lock */

static void *async_thread(void *p)
{
    struct async_call call = *(struct async_call *)p;
    free(p);
    call.fn(call.arg);
    pthread_mutex_lock(&async_lock);
    async_running--;
    pthread_cond_broadcast(&async_done);
    pthread_mutex_unlock(&async_lock);
    return NULL;
}

unsigned fs_host_async_running(void)
{
    pthread_mutex_lock(&async_lock);
    unsigned n = async_running;
    pthread_mutex_unlock(&async_lock);
    return n;
}

int fs_host_async_drain(void)
{
    struct timespec until;
    int r = 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&async_lock);
    while (async_running && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&async_done, &async_lock, &until);
    r = async_running ? -1 : 0;
    pthread_mutex_unlock(&async_lock);
    return r;
}

/* The harness (test_harness.h) calls this when a check ends a test early and after every
 * test: no read-ahead job may go on using a test's device or buffers once it returns. */
void th_quiesce(void)
{
    if (fs_host_async_drain())
        fprintf(stderr, "fs_port_host: background work still running after 60 s\n");
}

int fs_run_async(void (*fn)(void *arg), void *arg)
{
    if (fs_host_async_mode == FS_ASYNC_REFUSE)
        return -1;
    if (fs_host_async_mode == FS_ASYNC_INLINE) {
        fn(arg);
        return 0;
    }
    struct async_call *call = malloc(sizeof *call);
    pthread_t t;
    pthread_attr_t attr;
    if (!call)
        return -1;
    call->fn = fn;
    call->arg = arg;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&async_lock);
    async_running++;
    pthread_mutex_unlock(&async_lock);
    int r = pthread_create(&t, &attr, async_thread, call);
    pthread_attr_destroy(&attr);
    if (r) {
        pthread_mutex_lock(&async_lock);
        async_running--;
        pthread_mutex_unlock(&async_lock);
        free(call);
        return -1;
    }
    return 0;
}
