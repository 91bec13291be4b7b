/* fuzz_port.c - fs/fs_port.h for the fuzz harnesses: tests/host/fs_port_threads.c's
 * mutexes, condition variables and fs_log (linked in), plus a count of live allocations (a
 * harness checks it is back to its baseline at the end of each input: every connection, handle, lock, waiter and buffer freed) and background
 * work (read-ahead) run inline or refused, never on a thread, so a run is deterministic. */
#include "fs/fs_port.h"
#include "fuzz_port.h"

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

/* The input's clock: it moves only when a harness moves it, so the same input behaves the
 * same on every run. */
uint32_t fuzz_time_s = FUZZ_TIME_START;
uint32_t fs_time_now(void) { return fuzz_time_s; }

int fs_run_async(void (*fn)(void *arg), void *arg)
{
    if (fs_host_async_mode != FS_ASYNC_INLINE)
        return -1;
    fn(arg);
    return 0;
}
