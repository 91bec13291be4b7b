/* Host implementation of fs/fs_port.h on pthreads and libc: allocation, time and
 * background work here; mutexes, condition variables and fs_log in fs_port_threads.c. */
#include "fs/fs_port.h"

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

static void *async_thread(void *p)
{
	struct async_call call = *(struct async_call *)p;
	free(p);
	call.fn(call.arg);
	return NULL;
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
	int r = pthread_create(&t, &attr, async_thread, call);
	pthread_attr_destroy(&attr);
	if (r) {
		free(call);
		return -1;
	}
	return 0;
}
