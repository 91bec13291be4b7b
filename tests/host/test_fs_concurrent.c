/* ext2 under concurrency: reads proceed while another request waits for
 * the disk, and readers of stable files always see the right data while a
 * writer thread changes other files. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *tmpdir;
static char img[600];

#define NSTABLE 4
#define STABLE_SIZE 200000

static void pattern(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)ft_rand(&seed);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make_image(void)
{
    char src[700], p[800];
    snprintf(src, sizeof src, "%s/src", tmpdir);
    mkdir(src, 0755);
    uint8_t *buf = malloc(STABLE_SIZE);
    for (int i = 0; i < NSTABLE; i++) {
        pattern(buf, STABLE_SIZE, (uint64_t)i + 1);
        snprintf(p, sizeof p, "%s/stable%d", src, i);
        int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        REQUIRE(write(fd, buf, STABLE_SIZE) == STABLE_SIZE, "write");
        close(fd);
    }
    free(buf);
    snprintf(img, sizeof img, "%s/conc.img", tmpdir);
    REQUIRE(ft_mkfs(img, src, 1024, 32 * 1024, NULL) == 0, "mkfs");
    return 0;
}

/* ---- a slow read does not hold up a cached one ---------------------------- */

struct slow_arg { struct ext2_fs *fs; uint32_t ino; double done_at; int64_t r; };

static void *slow_reader(void *p)
{
    struct slow_arg *a = p;
    static uint8_t buf[STABLE_SIZE];
    a->r = ext2_read(a->fs, a->ino, 0, buf, STABLE_SIZE);
    a->done_at = now_s();
    return NULL;
}

static void test_slow_read_does_not_block(void)
{
    struct fsimg m;
    uint32_t cached, cold;
    static uint8_t buf[STABLE_SIZE];
    fs_host_async_mode = FS_ASYNC_REFUSE;
    CHECK_EQ(fsimg_open(&m, img, 512, EXT2_MOUNT_RDONLY), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/stable0", &cached), 0);
    CHECK_EQ(ext2_lookup(m.fs, "/stable1", &cold), 0);
    CHECK_EQ(ext2_read(m.fs, cached, 0, buf, STABLE_SIZE), STABLE_SIZE);
    /* The cold read is held inside the device (at the test device's gate) while the
     * cached file is read: those reads must complete with the gate still closed.  (An
     * event, not a delay: a cached read that waited for the device would be stuck until
     * the gate's 10 s limit opened it, and gate_timed_out says so.) */
    testdev_gate_close(&m.td);
    struct slow_arg a = { .fs = m.fs, .ino = cold };
    pthread_t t;
    pthread_create(&t, NULL, slow_reader, &a);
    int blocked = testdev_gate_wait_for(&m.td, 1);
    int64_t r1 = ext2_read(m.fs, cached, 0, buf, STABLE_SIZE);
    int64_t r2 = ext2_read_nonblock(m.fs, cached, 1000, buf, 5000);
    pthread_mutex_lock(&m.td.lock);
    int timed_out = m.td.gate_timed_out, still_closed = m.td.gate_closed;
    pthread_mutex_unlock(&m.td.lock);
    testdev_gate_open(&m.td);
    pthread_join(t, NULL);
    CHECK_MSG(blocked == 0, "the cold read never reached the device");
    CHECK_MSG(still_closed && !timed_out, "the cached reads waited for the device read (gate timed out)");
    CHECK_EQ(r1, STABLE_SIZE);
    CHECK_EQ(r2, 5000);
    CHECK_EQ(a.r, STABLE_SIZE);
    fsimg_close(&m);
    fs_host_async_mode = FS_ASYNC_THREAD;
}

/* ---- readers and a writer ------------------------------------------------------ */

struct rw_shared {
    struct ext2_fs *fs;
    atomic_int stop;
    atomic_int writer_done;
    atomic_int errors;
    char msg[256];
};

static void *reader_thread(void *p)
{
    struct rw_shared *s = p;
    uint8_t *want = malloc(STABLE_SIZE), *got = malloc(STABLE_SIZE);
    uint64_t seed = (uint64_t)(uintptr_t)p ^ (uint64_t)pthread_self();
    while (!atomic_load(&s->stop)) {
        int k = (int)(ft_rand(&seed) % NSTABLE);
        char path[32];
        uint32_t ino;
        snprintf(path, sizeof path, "/stable%d", k);
        pattern(want, STABLE_SIZE, (uint64_t)k + 1);
        if (ext2_lookup(s->fs, path, &ino)) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        uint64_t off = ft_rand(&seed) % STABLE_SIZE, len = 1 + ft_rand(&seed) % 50000;
        if (len > STABLE_SIZE - off)
            len = STABLE_SIZE - off;
        int64_t r = ft_rand(&seed) % 2 ? ext2_read(s->fs, ino, off, got, len)
                                      : ext2_read_nonblock(s->fs, ino, off, got, len);
        if (r == -FS_EWOULDBLOCK)
            continue;
        if (r != (int64_t)len || memcmp(got, want + off, len)) {
            snprintf(s->msg, sizeof s->msg, "%s off %llu len %llu: r=%lld", path,
                     (unsigned long long)off, (unsigned long long)len, (long long)r);
            atomic_fetch_add(&s->errors, 1);
        }
        /* directory listing while names come and go */
        struct ext2_dirent de;
        uint64_t cookie = 0;
        int n = 0;
        while ((r = ext2_readdir(s->fs, EXT2_ROOT_INO, &cookie, &de)) == 1)
            n++;
        if (r < 0) {
            snprintf(s->msg, sizeof s->msg, "readdir: %lld", (long long)r);
            atomic_fetch_add(&s->errors, 1);
        }
    }
    free(want);
    free(got);
    return NULL;
}

static void *writer_thread(void *p)
{
    struct rw_shared *s = p;
    uint64_t seed = 77;
    uint8_t buf[30000];
    pattern(buf, sizeof buf, 5);
    for (int i = 0; i < 600; i++) {
        char a[32], b[32];
        uint32_t ino;
        snprintf(a, sizeof a, "/tmp%d", i % 17);
        snprintf(b, sizeof b, "/dir%d", i % 5);
        int r;
        switch (ft_rand(&seed) % 6) {
        case 0:
            r = ext2_create(s->fs, a, 0644, &ino);
            if (r == 0)
                r = ext2_write(s->fs, ino, ft_rand(&seed) % 100000, buf, sizeof buf) > 0 ? 0 : -1;
            break;
        case 1: r = ext2_unlink(s->fs, a); break;
        case 2: r = ext2_mkdir(s->fs, b, 0755); break;
        case 3: r = ext2_rmdir(s->fs, b); break;
        case 4: {
            char c[32];
            snprintf(c, sizeof c, "/tmp%d", (int)(ft_rand(&seed) % 17));
            r = ext2_rename(s->fs, a, c);
            break;
        }
        default:
            r = ext2_lookup(s->fs, a, &ino);
            if (r == 0)
                r = ext2_truncate(s->fs, ino, ft_rand(&seed) % 50000);
            break;
        }
        if (r < 0 && r != -FS_ENOENT && r != -FS_EEXIST && r != -1) {
            snprintf(s->msg, sizeof s->msg, "writer step %d: %d", i, r);
            atomic_fetch_add(&s->errors, 1);
        }
    }
    atomic_store(&s->writer_done, 1);
    return NULL;
}

static void test_readers_and_writer(void)
{
    struct fsimg m;
    struct rw_shared s = { 0 };
    pthread_t rd[4], wr;
    fs_host_async_mode = FS_ASYNC_THREAD;
    CHECK_EQ(fsimg_open(&m, img, 64, 0), 0);       /* small cache: evictions */
    s.fs = m.fs;
    for (int i = 0; i < 4; i++)
        pthread_create(&rd[i], NULL, reader_thread, &s);
    pthread_create(&wr, NULL, writer_thread, &s);
    /* a flusher, as the kernel runs one, for as long as the writer writes
     * (however long that takes here); the pause only paces it */
    while (!atomic_load(&s.writer_done)) {
        bcache_flush_some(m.bc, 8);
        usleep(2000);
    }
    pthread_join(wr, NULL);
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(rd[i], NULL);
    CHECK_EQ(fsimg_close(&m), 0);
    CHECK_MSG(atomic_load(&s.errors) == 0, "%d errors, last: %s", atomic_load(&s.errors), s.msg);
    char *rep = NULL;
    CHECK_MSG(ft_e2fsck_clean(img, &rep), "e2fsck: %.600s", rep ? rep : "");
}

int main(void)
{
    tmpdir = ft_mkdtemp();
    if (make_image() == 0) {
        ft_run("ext2_slow_read_does_not_block_cached", test_slow_read_does_not_block);
        ft_run("ext2_readers_and_writer", test_readers_and_writer);
    }
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
