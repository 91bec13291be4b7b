/* Host implementation of fs/fs_port.h on pthreads and libc. */
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

void fs_mutex_init(struct fs_mutex *m) { pthread_mutex_init(&m->m, NULL); }
void fs_mutex_lock(struct fs_mutex *m) { pthread_mutex_lock(&m->m); }
bool fs_mutex_trylock(struct fs_mutex *m) { return pthread_mutex_trylock(&m->m) == 0; }
void fs_mutex_unlock(struct fs_mutex *m) { pthread_mutex_unlock(&m->m); }

void fs_cond_init(struct fs_cond *c) { pthread_cond_init(&c->c, NULL); }
void fs_cond_wait(struct fs_cond *c, struct fs_mutex *m) { pthread_cond_wait(&c->c, &m->m); }
void fs_cond_broadcast(struct fs_cond *c) { pthread_cond_broadcast(&c->c); }

int64_t fs_host_clock_offset;
uint32_t fs_time_now(void) { return (uint32_t)((int64_t)time(NULL) + __atomic_load_n(&fs_host_clock_offset, __ATOMIC_RELAXED)); }


void fs_log(const char *fmt, ...)
{
	va_list ap;
	if (getenv("FS_LOG") == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

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
