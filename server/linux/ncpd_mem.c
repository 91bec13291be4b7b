/* ncpd_mem.c - ncpd's one memory budget for connection state (see ncpd.h). */
#include "server/linux/ncpd.h"

#include <time.h>

uint64_t ncpd_mem_limit = 256ull << 20;

bool ncpd_mem_admit(size_t base)
{
    uint64_t used = __atomic_load_n(&ncpd_ctr.mem_bytes, __ATOMIC_RELAXED);
    return used + base + NCP_LEN_SIZE + NCP_PRELOGIN_MAX_FRAME <= ncpd_mem_limit;
}

bool ncpd_mem_charge(size_t n)
{
    uint64_t used = __atomic_add_fetch(&ncpd_ctr.mem_bytes, n, __ATOMIC_RELAXED);
    if (used <= ncpd_mem_limit)
        return true;
    __atomic_fetch_sub(&ncpd_ctr.mem_bytes, n, __ATOMIC_RELAXED);
    return false;
}

void ncpd_mem_uncharge(size_t n)
{
    __atomic_fetch_sub(&ncpd_ctr.mem_bytes, n, __ATOMIC_RELAXED);
}

void *ncpd_mem_realloc(void *arg, void *p, size_t old_size, size_t *new_sizep)
{
    return ncpd_mem_resize(p, old_size, *new_sizep);
}

void *ncpd_mem_resize(void *p, size_t old_size, size_t new_size)
{
    if (new_size == 0) {
        free(p);
        ncpd_mem_uncharge(old_size);
        return NULL;
    }
    if (new_size > old_size && !ncpd_mem_charge(new_size - old_size))
        return NULL;
    void *q = realloc(p, new_size);
    if (!q) {
        if (new_size > old_size)
            ncpd_mem_uncharge(new_size - old_size);
        return NULL;
    }
    if (new_size < old_size)
        ncpd_mem_uncharge(old_size - new_size);
    return q;
}

uint64_t ncpd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
