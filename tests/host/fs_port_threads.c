/* The pthread half of fs/fs_port.h on the host (mutexes, condition variables) and fs_log:
 * shared by the host port (tests/host/fs_port_host.c: the tests and ncpd) and the fuzz
 * port (tests/fuzz/fuzz_port.c), which differ only in allocation, time and async work. */
#include "fs/fs_port.h"

#include <stdio.h>
#include <stdlib.h>

void fs_mutex_init(struct fs_mutex *m) { pthread_mutex_init(&m->m, NULL); }
void fs_mutex_lock(struct fs_mutex *m) { pthread_mutex_lock(&m->m); }
bool fs_mutex_trylock(struct fs_mutex *m) { return pthread_mutex_trylock(&m->m) == 0; }
void fs_mutex_unlock(struct fs_mutex *m) { pthread_mutex_unlock(&m->m); }

void fs_cond_init(struct fs_cond *c) { pthread_cond_init(&c->c, NULL); }
void fs_cond_wait(struct fs_cond *c, struct fs_mutex *m) { pthread_cond_wait(&c->c, &m->m); }
void fs_cond_broadcast(struct fs_cond *c) { pthread_cond_broadcast(&c->c); }

void fs_log(const char *fmt, ...)
{
    va_list ap;
    if (getenv("FS_LOG") == NULL)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
