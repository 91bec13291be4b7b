/*
 * The kernel implementation of fs/fs_port.h: memory from the kernel heap (cache buffers
 * from whole pages so the disk can DMA into them), mutexes and conditions on the
 * scheduler's, wall-clock time from the CMOS RTC read once at boot plus the TSC uptime,
 * and background work as WTDs.
 */
#include "fs/fs_port.h"
#include "mm.h"
#include "io.h"
#include "wtd.h"
#include "time.h"
#include "printf.h"
#include "init.h"
#include "sched.h"
#include "panic.h"

/* ---- memory ---- */

/* A 4096-byte request (one cache buffer) gets a whole page: page aligned, so one DMA
 * segment, and no 16-byte heap header pushing it onto a second page.  kmalloc never
 * returns a page-aligned pointer (its header sits in front), so fs_free can tell. */
void *fs_alloc(size_t size)
{
    if (size == PAGE_SIZE)
        return (void *)(uintptr_t)pmm_alloc_page();
    return kmalloc(size);
}

void fs_free(void *p)
{
    if (!p)
        return;
    if (((uintptr_t)p & (PAGE_SIZE - 1)) == 0)
        pmm_free_page((uint64_t)(uintptr_t)p);
    else
        kfree(p);
}

/* ---- mutex and condition ---- */

void fs_mutex_init(struct fs_mutex *m) { mutex_init(&m->m, "fs"); }
/* fs mutexes (the engine's, ext2's, the block cache's) come before lwIP's core lock in
 * the one lock order (server/kernel/kserver.c): waiting for one with it held could
 * deadlock against a thread that holds this one and wants the core lock. */
void fs_mutex_lock(struct fs_mutex *m)
{
    if (unlikely(current && current->innermost_locks))
        panic("lock order: fs mutex %p waited for with the net core lock held", (void *)m);
    mutex_lock(&m->m);
}
bool fs_mutex_trylock(struct fs_mutex *m) { return mutex_trylock(&m->m); }
void fs_mutex_unlock(struct fs_mutex *m) { mutex_unlock(&m->m); }

void fs_cond_init(struct fs_cond *c) { waitq_init(&c->wq, "fs_cond"); }

void fs_cond_wait(struct fs_cond *c, struct fs_mutex *m)
{
    uint64_t f = irq_save();
    mutex_unlock(&m->m);        /* may make a waiter runnable; nothing runs until we block */
    waitq_wait(&c->wq);
    irq_restore(f);
    mutex_lock(&m->m);
}

void fs_cond_broadcast(struct fs_cond *c) { waitq_wake_all(&c->wq); }

/* ---- time: the CMOS RTC at boot, then the TSC ---- */

static uint64_t boot_epoch, boot_ns;

static uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static uint8_t from_bcd(uint8_t v, bool binary) { return binary ? v : (uint8_t)((v >> 4) * 10 + (v & 15)); }

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads the RTC twice until two reads agree, so an update in between cannot tear it. */
static uint64_t rtc_read_epoch(void)
{
    uint8_t a[7], b[7];
    int tries = 0;
    do {
        for (int spin = 0; (cmos_read(0x0A) & 0x80) && spin < 1000000; spin++)
            cpu_relax();
        uint8_t regs[7] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };
        for (int i = 0; i < 7; i++) a[i] = cmos_read(regs[i]);
        for (int i = 0; i < 7; i++) b[i] = cmos_read(regs[i]);
    } while (__builtin_memcmp(a, b, 7) != 0 && ++tries < 10);
    uint8_t sb = cmos_read(0x0B);
    bool binary = sb & 0x04, h24 = sb & 0x02;
    unsigned sec = from_bcd(a[0], binary), min = from_bcd(a[1], binary);
    bool pm = !h24 && (a[2] & 0x80);
    unsigned hour = from_bcd(a[2] & 0x7F, binary);
    if (!h24) hour = (hour % 12) + (pm ? 12 : 0);
    unsigned day = from_bcd(a[3], binary), mon = from_bcd(a[4], binary);
    unsigned year = from_bcd(a[5], binary), cent = from_bcd(a[6], binary);
    year += (cent >= 19 && cent <= 30) ? cent * 100 : 2000;
    if (mon < 1 || mon > 12 || day < 1 || day > 31)
        return 0;
    return (uint64_t)(days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec);
}

static int fs_time_init(void)
{
    boot_epoch = rtc_read_epoch();
    boot_ns = now_ns();
    return 0;
}
INITCALL(INIT_CORE, fs_time_init);

uint32_t fs_time_now(void)
{
    return (uint32_t)(boot_epoch + (now_ns() - boot_ns) / 1000000000ULL);
}

/* ---- log ---- */

void fs_log(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kprintf("fs: %s", buf);
}

/* ---- background work: one WTD per call ---- */

struct fs_async {
    struct wtd wtd;
    void (*fn)(void *);
    void *arg;
};

static uint32_t fs_async_run(struct wtd *w)
{
    struct fs_async *a = w->context;
    void (*fn)(void *) = a->fn;
    void *arg = a->arg;
    kfree(a);                   /* before fn: it may sleep for a long time */
    fn(arg);
    return 0;
}

/* kmalloc takes only an interrupt-safe spinlock, so this never sleeps. */
int fs_run_async(void (*fn)(void *arg), void *arg)
{
    struct fs_async *a = kmalloc(sizeof *a);
    if (!a)
        return -1;
    a->fn = fn;
    a->arg = arg;
    wtd_init(&a->wtd, fs_async_run, a);
    wtd_schedule(&a->wtd);
    return 0;
}
