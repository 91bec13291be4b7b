/* Host tests of fs/bcache.c against a file-backed device. */
#include "fs/bcache.h"
#include "fs/fs_errno.h"
#include "fs_test.h"
#include "fs_testdev.h"
#include "fs_port_host.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *tmpdir;
static char img[600];

/* Creates img with nblocks 4 KiB blocks (+extra bytes); block i is filled
 * with the byte (i * 7 + 1). */
static void make_image(unsigned nblocks, unsigned extra)
{
    int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t blk[4096];
    for (unsigned i = 0; i < nblocks; i++) {
        memset(blk, (uint8_t)(i * 7 + 1), sizeof blk);
        if (write(fd, blk, sizeof blk) != sizeof blk)
            abort();
    }
    memset(blk, 0xAB, sizeof blk);
    if (extra && write(fd, blk, extra) != (ssize_t)extra)
        abort();
    close(fd);
}

static int block_is(struct bcache_buf *b, uint8_t v)
{
    for (int i = 0; i < 4096; i++)
        if (b->data[i] != v)
            return 0;
    return 1;
}

static void test_basic_read(void)
{
    struct testdev td;
    make_image(64, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 16);
    CHECK(c);
    CHECK_EQ(bcache_nblocks(c), 64);
    for (int round = 0; round < 2; round++)
        for (unsigned i = 0; i < 10; i++) {
            struct bcache_buf *b;
            CHECK_EQ(bcache_read(c, i, &b), 0);
            CHECK_MSG(block_is(b, (uint8_t)(i * 7 + 1)), "block %u wrong", i);
            bcache_release(b);
        }
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.misses, 10);
    CHECK_EQ(st.hits, 10);
    CHECK_EQ(td.reads, 10);
    struct bcache_buf *b;
    CHECK_EQ(bcache_read(c, 64, &b), -FS_EINVAL);
    bcache_destroy(c);
    testdev_close(&td);
}

static void test_nonblocking_lookup(void)
{
    struct testdev td;
    make_image(32, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 8);
    struct bcache_buf *b = NULL;
    CHECK_EQ(bcache_lookup_nb(c, 3, &b), -FS_EWOULDBLOCK);
    CHECK_EQ(td.reads, 0);          /* a miss must not start I/O */
    CHECK_EQ(bcache_read(c, 3, &b), 0);
    bcache_release(b);
    b = NULL;
    CHECK_EQ(bcache_lookup_nb(c, 3, &b), 0);
    CHECK(b && block_is(b, 3 * 7 + 1));
    bcache_release(b);
    CHECK_EQ(td.reads, 1);
    bcache_destroy(c);
    testdev_close(&td);
}

struct reader_arg { struct bcache *c; uint64_t blk; int result; uint8_t first; };

static void *reader_thread(void *p)
{
    struct reader_arg *a = p;
    struct bcache_buf *b;
    a->result = bcache_read(a->c, a->blk, &b);
    if (a->result == 0) {
        a->first = block_is(b, (uint8_t)(a->blk * 7 + 1));
        bcache_release(b);
    }
    return NULL;
}

static void test_one_io_many_readers(void)
{
    struct testdev td;
    enum { N = 16 };
    pthread_t t[N];
    struct reader_arg a[N];
    make_image(32, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    td.read_delay_us = 200000;      /* all readers pile up on the one read */
    td.count_lba = 5 * 8;
    struct bcache *c = bcache_init(&td.dev, 8);
    for (int i = 0; i < N; i++) {
        a[i] = (struct reader_arg){ .c = c, .blk = 5 };
        pthread_create(&t[i], NULL, reader_thread, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(a[i].result, 0);
        CHECK(a[i].first);
    }
    CHECK_EQ(td.count_lba_hits, 1);
    CHECK_EQ(td.reads, 1);
    bcache_destroy(c);
    testdev_close(&td);
}

static void fill_block(struct bcache *c, uint64_t blk, uint8_t v, int *err)
{
    struct bcache_buf *b;
    *err = bcache_get_noread(c, blk, &b);
    if (*err)
        return;
    memset(b->data, v, 4096);
    bcache_mark_dirty(b);
    bcache_release(b);
}

static void test_eviction_keeps_dirty(void)
{
    struct testdev td;
    int err;
    make_image(128, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 8);
    for (unsigned i = 0; i < 128; i++) {
        fill_block(c, i, (uint8_t)(0x80 ^ i), &err);
        CHECK_EQ(err, 0);
    }
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK(st.dirty <= 8);
    CHECK(td.writes > 0);
    /* read everything back through the small cache: dirty data must have
     * been written before its buffer was reused */
    for (unsigned i = 0; i < 128; i++) {
        struct bcache_buf *b;
        CHECK_EQ(bcache_read(c, i, &b), 0);
        CHECK_MSG(block_is(b, (uint8_t)(0x80 ^ i)), "block %u lost its data", i);
        bcache_release(b);
    }
    bcache_get_stats(c, &st);
    CHECK(st.evictions > 0);
    CHECK_EQ(bcache_sync(c), 0);
    bcache_destroy(c);
    testdev_close(&td);
    /* and the file has it */
    int fd = open(img, O_RDONLY);
    uint8_t blk[4096];
    for (unsigned i = 0; i < 128; i++) {
        CHECK(pread(fd, blk, 4096, (off_t)i * 4096) == 4096);
        CHECK_MSG(blk[0] == (uint8_t)(0x80 ^ i) && blk[4095] == (uint8_t)(0x80 ^ i), "file block %u", i);
    }
    close(fd);
}

static void test_sync_persists_and_flushes(void)
{
    struct testdev td;
    int err;
    make_image(64, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 32);
    for (unsigned i = 10; i < 20; i++) {
        fill_block(c, i, 0x5A, &err);
        CHECK_EQ(err, 0);
    }
    CHECK_EQ(td.writes, 0);         /* write-back, not write-through */
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.dirty, 10);
    CHECK_EQ(bcache_sync(c), 0);
    CHECK_EQ(td.flushes, 1);
    CHECK_EQ(td.writes, 1);         /* 10 contiguous blocks, one call */
    bcache_get_stats(c, &st);
    CHECK_EQ(st.dirty, 0);
    bcache_destroy(c);
    testdev_close(&td);

    CHECK(testdev_open(&td, img, 512) == 0);
    c = bcache_init(&td.dev, 32);
    for (unsigned i = 0; i < 64; i++) {
        struct bcache_buf *b;
        CHECK_EQ(bcache_read(c, i, &b), 0);
        uint8_t want = (i >= 10 && i < 20) ? 0x5A : (uint8_t)(i * 7 + 1);
        CHECK_MSG(block_is(b, want), "block %u after reopen", i);
        bcache_release(b);
    }
    bcache_destroy(c);
    testdev_close(&td);
}

static void test_flush_some(void)
{
    struct testdev td;
    int err;
    make_image(64, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 32);
    for (unsigned i = 0; i < 10; i++) {
        fill_block(c, i * 3, 0x11, &err);
        CHECK_EQ(err, 0);
    }
    CHECK_EQ(bcache_flush_some(c, 4), 4);
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.dirty, 6);
    CHECK_EQ(td.writes, 4);
    CHECK_EQ(bcache_flush_some(c, 100), 6);
    CHECK_EQ(bcache_flush_some(c, 100), 0);
    bcache_destroy(c);
    testdev_close(&td);
}

static void test_all_referenced_is_error(void)
{
    struct testdev td;
    struct bcache_buf *held[4], *b;
    make_image(16, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bcache_read(c, (uint64_t)i, &held[i]), 0);
    CHECK_EQ(bcache_read(c, 9, &b), -FS_ENOBUFS);
    bcache_release(held[2]);
    CHECK_EQ(bcache_read(c, 9, &b), 0);
    CHECK(block_is(b, 9 * 7 + 1));
    /* the referenced buffers kept their identity and data */
    CHECK(block_is(held[0], 1) && block_is(held[1], 8) && block_is(held[3], 22));
    bcache_release(b);
    bcache_release(held[0]);
    bcache_release(held[1]);
    bcache_release(held[3]);
    bcache_destroy(c);
    testdev_close(&td);
}

/* A cache made with memory for a few buffers holds only those (all referenced: ENOBUFS)
 * until bcache_grow gives the rest theirs, up to the capacity and no further; then it
 * holds all of them at once, and destroy frees every one (ASan checks). */
static void test_partial_then_grow(void)
{
    struct testdev td;
    struct bcache_buf *held[40], *b;
    make_image(64, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    CHECK(bcache_init_partial(&td.dev, 40, 3) == NULL);     /* fewer than 4 */
    CHECK(bcache_init_partial(&td.dev, 40, 41) == NULL);    /* more than the capacity */
    struct bcache *c = bcache_init_partial(&td.dev, 40, 4);
    CHECK(c);
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.nbuffers, 4);
    CHECK_EQ(st.capacity, 40);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bcache_read(c, (uint64_t)i, &held[i]), 0);
    CHECK_EQ(bcache_read(c, 9, &b), -FS_ENOBUFS);
    CHECK_EQ(bcache_grow(c, 10), 10);
    CHECK_EQ(bcache_grow(c, 100), 26);                      /* up to the capacity */
    CHECK_EQ(bcache_grow(c, 100), 0);
    bcache_get_stats(c, &st);
    CHECK_EQ(st.nbuffers, 40);
    for (int i = 4; i < 40; i++)
        CHECK_EQ(bcache_read(c, (uint64_t)i, &held[i]), 0);
    for (int i = 0; i < 40; i++) {
        CHECK_MSG(block_is(held[i], (uint8_t)(i * 7 + 1)), "block %d wrong", i);
        bcache_release(held[i]);
    }
    bcache_get_stats(c, &st);
    uint64_t misses = st.misses;
    for (int i = 0; i < 40; i++) {                          /* all 40 stayed cached */
        CHECK_EQ(bcache_read(c, (uint64_t)i, &b), 0);
        bcache_release(b);
    }
    bcache_get_stats(c, &st);
    CHECK_EQ(st.misses, misses);
    bcache_destroy(c);
    testdev_close(&td);
}

static void test_read_error_then_retry(void)
{
    struct testdev td;
    struct bcache_buf *b;
    make_image(16, 0);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 4);
    td.fail_reads = 1;
    CHECK_EQ(bcache_read(c, 2, &b), -FS_EIO);
    CHECK_EQ(bcache_lookup_nb(c, 2, &b), -FS_EWOULDBLOCK);
    td.fail_reads = 0;
    CHECK_EQ(bcache_read(c, 2, &b), 0);
    CHECK(block_is(b, 15));
    bcache_release(b);
    /* a failed write leaves the data dirty, and sync reports it */
    int err;
    fill_block(c, 3, 0x33, &err);
    td.fail_writes = 1;
    CHECK(bcache_sync(c) < 0);
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.dirty, 1);
    td.fail_writes = 0;
    CHECK_EQ(bcache_sync(c), 0);
    bcache_destroy(c);
    testdev_close(&td);
}

static void test_partial_last_block(void)
{
    struct testdev td;
    struct bcache_buf *b;
    make_image(3, 1024);
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 4);
    CHECK_EQ(bcache_nblocks(c), 4);
    CHECK_EQ(bcache_read(c, 3, &b), 0);
    CHECK(b->data[0] == 0xAB && b->data[1023] == 0xAB && b->data[1024] == 0 && b->data[4095] == 0);
    b->data[5] = 0x77;
    bcache_mark_dirty(b);
    bcache_release(b);
    CHECK_EQ(bcache_sync(c), 0);
    bcache_destroy(c);
    testdev_close(&td);
    int fd = open(img, O_RDONLY);
    CHECK(lseek(fd, 0, SEEK_END) == 3 * 4096 + 1024);
    uint8_t v;
    CHECK(pread(fd, &v, 1, 3 * 4096 + 5) == 1 && v == 0x77);
    close(fd);
}

/* A cache of nbuf buffers over a fresh image of nblocks blocks, its background work run
 * as mode says; NULL if the device does not open. */
static struct bcache *open_cache(struct testdev *td, unsigned nblocks, uint32_t nbuf,
                                 enum fs_host_async_mode mode)
{
    make_image(nblocks, 0);
    fs_host_async_mode = mode;
    if (testdev_open(td, img, 512))
        return NULL;
    return bcache_init(&td->dev, nbuf);
}

/* A sequential reader is served by read-ahead.  The jobs run inline (each
 * has finished when the read that queued it returns), so the counts do not
 * depend on how fast threads get the CPU: the first two reads find the
 * stream, every later block was brought in by read-ahead, and each window
 * (16 blocks here, the next one queued half a window before the end) is one
 * device call. */
static void test_sequential_readahead(void)
{
    struct testdev td;
    struct bcache *c = open_cache(&td, 256, 128, FS_ASYNC_INLINE);
    CHECK(c);
    for (unsigned i = 0; i < 200; i++) {
        struct bcache_buf *b;
        CHECK_EQ(bcache_read(c, i, &b), 0);
        CHECK_MSG(block_is(b, (uint8_t)(i * 7 + 1)), "block %u", i);
        bcache_release(b);
    }
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    bcache_destroy(c);
    testdev_close(&td);
    CHECK_MSG(st.misses == 2, "misses %llu", (unsigned long long)st.misses);
    CHECK_MSG(st.ra_hits == 198, "ra_hits %llu", (unsigned long long)st.ra_hits);
    CHECK_MSG(td.reads <= 2 + 200 / 8 + 1, "device reads %llu", (unsigned long long)td.reads);
}

/* Reads blocks 0..10 in order; the read of block 10 queues the window from 18 on (a job
 * that sleeps td->read_delay_us in the device), then a check fails. */
static void fail_while_reading_ahead(struct bcache *c)
{
    struct bcache_buf *b;
    for (unsigned i = 0; i <= 10; i++) {
        CHECK_EQ(bcache_read(c, i, &b), 0);
        bcache_release(b);
    }
    CHECK(!"failed on purpose, a read-ahead job running");
}

/* A check that fails while read-ahead runs waits for it before it returns (th_quiesce):
 * the job reads through the test's device, which lives on the test's stack. */
static void test_failed_check_waits_for_readahead(void)
{
    struct testdev td;
    struct bcache *c = open_cache(&td, 64, 128, FS_ASYNC_THREAD);
    CHECK(c);
    struct bcache_buf *b;
    CHECK_EQ(bcache_read(c, 0, &b), 0);
    bcache_release(b);
    CHECK_EQ(bcache_read(c, 1, &b), 0);    /* queues blocks 2..17 */
    bcache_release(b);
    CHECK_EQ(fs_host_async_drain(), 0);
    td.read_delay_us = 300000;
    struct th_state saved = *th_state();
    fail_while_reading_ahead(c);
    unsigned left = fs_host_async_running();
    *th_state() = saved;                    /* that failure was the point, not this test's */
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    bcache_destroy(c);
    testdev_close(&td);
    CHECK_MSG(left == 0, "%u read-ahead jobs still running after the check returned", left);
    CHECK_MSG(st.ra_blocks > 16, "the second window was not read ahead (%llu blocks)",
              (unsigned long long)st.ra_blocks);
}

/* A sync that sees another thread's write of old data running, then writes a batch of its
 * own (dropping the lock), while that other write ends, must not sleep for a wake-up that
 * went to nobody: it looks again.  The device orders the three steps: the flusher's write
 * (block 10) waits inside the device until the sync's own write (block 20) starts; that
 * write waits until the flusher has returned.  The sync runs in a thread and is given 10 s;
 * a sync that sleeps forever is woken by one more write, so the test fails, not hangs. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int writes, flusher_may_go, flusher_done;
    int (*write)(struct fs_blockdev *, uint64_t, uint32_t, const void *);
    struct bcache *c;
    int sync_result, sync_done;
} wr = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Waits (wr.lock held) until *flag is set, at most 10 s; 0 if it was. */
static int wr_wait(int *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (!*flag)
        if (pthread_cond_timedwait(&wr.cv, &wr.lock, &until))
            return *flag ? 0 : -1;
    return 0;
}

static int ordered_write(struct fs_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
    pthread_mutex_lock(&wr.lock);
    int nth = ++wr.writes;
    if (nth == 1) {
        pthread_cond_broadcast(&wr.cv);
        (void)wr_wait(&wr.flusher_may_go);
    } else if (nth == 2) {
        wr.flusher_may_go = 1;
        pthread_cond_broadcast(&wr.cv);
        (void)wr_wait(&wr.flusher_done);
    }
    pthread_mutex_unlock(&wr.lock);
    return wr.write(dev, lba, count, buf);
}

static void *flusher_thread(void *p)
{
    bcache_flush_some(wr.c, 1);
    pthread_mutex_lock(&wr.lock);
    wr.flusher_done = 1;
    pthread_cond_broadcast(&wr.cv);
    pthread_mutex_unlock(&wr.lock);
    return NULL;
}

static void *sync_thread(void *p)
{
    int r = bcache_sync(wr.c);
    pthread_mutex_lock(&wr.lock);
    wr.sync_result = r;
    wr.sync_done = 1;
    pthread_cond_broadcast(&wr.cv);
    pthread_mutex_unlock(&wr.lock);
    return NULL;
}

static void test_sync_sees_write_end_during_own_batch(void)
{
    struct testdev td;
    int err;
    struct bcache *c = open_cache(&td, 64, 16, FS_ASYNC_REFUSE);
    CHECK(c != NULL);
    if (!c)
        return;
    fill_block(c, 10, 0x31, &err);
    CHECK_EQ(err, 0);
    fill_block(c, 20, 0x32, &err);
    CHECK_EQ(err, 0);
    wr.c = c;
    wr.write = td.dev.write;
    td.dev.write = ordered_write;
    pthread_t fl, sy;
    pthread_create(&fl, NULL, flusher_thread, NULL);
    pthread_mutex_lock(&wr.lock);
    while (wr.writes < 1)               /* the flusher is inside the device with block 10 */
        pthread_cond_wait(&wr.cv, &wr.lock);
    pthread_mutex_unlock(&wr.lock);
    pthread_create(&sy, NULL, sync_thread, NULL);
    pthread_mutex_lock(&wr.lock);
    int ended = wr_wait(&wr.sync_done) == 0;
    pthread_mutex_unlock(&wr.lock);
    CHECK_MSG(ended, "the sync still sleeps 10 s after every write ended");
    if (!ended) {
        fill_block(c, 30, 0x33, &err);  /* a write that wakes it, so the test can end */
        bcache_flush_some(c, 1);
    }
    pthread_join(fl, NULL);
    pthread_join(sy, NULL);
    CHECK_EQ(wr.sync_result, 0);
    CHECK_EQ(wr.writes, ended ? 2 : 3);
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.dirty, 0);
    td.dev.write = wr.write;
    bcache_destroy(c);
    testdev_close(&td);
}

/* Threads read and rewrite their own blocks through a small cache, racing
 * with each other's evictions, read-ahead and a flusher. */
struct stress_arg { struct bcache *c; unsigned id; int err; };
enum { STRESS_THREADS = 6, STRESS_BLOCKS_EACH = 20, STRESS_ROUNDS = 300 };

static void *stress_thread(void *p)
{
    struct stress_arg *a = p;
    uint64_t seed = a->id + 1;
    uint8_t ver[STRESS_BLOCKS_EACH] = { 0 };
    for (int r = 0; r < STRESS_ROUNDS && !a->err; r++) {
        unsigned k = (unsigned)(ft_rand(&seed) % STRESS_BLOCKS_EACH);
        uint64_t blk = (uint64_t)a->id * STRESS_BLOCKS_EACH + k;
        struct bcache_buf *b;
        int e = bcache_read(a->c, blk, &b);
        if (e == -FS_ENOBUFS)
            continue;
        if (e) {
            a->err = 1000 + r;
            break;
        }
        uint8_t want = ver[k] ? ver[k] : (uint8_t)(blk * 7 + 1);
        if (b->data[0] != want || b->data[4095] != want)
            a->err = 2000 + r;
        ver[k] = (uint8_t)(ft_rand(&seed) | 1);
        memset(b->data, ver[k], 4096);
        bcache_mark_dirty(b);
        bcache_release(b);
        if (r % 50 == 0)
            bcache_flush_some(a->c, 4);
    }
    return NULL;
}

static void test_concurrent_stress(void)
{
    struct testdev td;
    pthread_t t[STRESS_THREADS];
    struct stress_arg a[STRESS_THREADS];
    make_image(STRESS_THREADS * STRESS_BLOCKS_EACH, 0);
    fs_host_async_mode = FS_ASYNC_THREAD;
    CHECK(testdev_open(&td, img, 512) == 0);
    struct bcache *c = bcache_init(&td.dev, 24);
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        a[i] = (struct stress_arg){ .c = c, .id = i };
        pthread_create(&t[i], NULL, stress_thread, &a[i]);
    }
    for (unsigned i = 0; i < STRESS_THREADS; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < STRESS_THREADS; i++)
        CHECK_MSG(a[i].err == 0, "thread %u err %d", i, a[i].err);
    CHECK_EQ(bcache_sync(c), 0);
    struct bcache_stats st;
    bcache_get_stats(c, &st);
    CHECK_EQ(st.dirty, 0);
    CHECK_EQ(st.referenced, 0);
    bcache_destroy(c);
    testdev_close(&td);
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    snprintf(img, sizeof img, "%s/dev.img", tmpdir);
    ft_run("bcache_basic_read", test_basic_read);
    ft_run("bcache_nonblocking_lookup", test_nonblocking_lookup);
    ft_run("bcache_one_io_many_readers", test_one_io_many_readers);
    ft_run("bcache_eviction_keeps_dirty", test_eviction_keeps_dirty);
    ft_run("bcache_sync_persists_and_flushes", test_sync_persists_and_flushes);
    ft_run("bcache_flush_some", test_flush_some);
    ft_run("bcache_all_referenced_is_error", test_all_referenced_is_error);
    ft_run("bcache_partial_then_grow", test_partial_then_grow);
    ft_run("bcache_read_error_then_retry", test_read_error_then_retry);
    ft_run("bcache_partial_last_block", test_partial_last_block);
    ft_run("bcache_sequential_readahead", test_sequential_readahead);
    ft_run("bcache_failed_check_waits_for_readahead", test_failed_check_waits_for_readahead);
    ft_run("bcache_sync_sees_write_end_during_own_batch", test_sync_sees_write_end_during_own_batch);
    ft_run("bcache_concurrent_stress", test_concurrent_stress);
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
