/* File-backed test block device. */
#include "fs_testdev.h"
#include "fs/fs_errno.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int td_read(struct fs_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
    struct testdev *td = dev->priv;
    pthread_mutex_lock(&td->lock);
    td->reads++;
    td->sectors_read += count;
    if (td->count_lba >= lba && td->count_lba < lba + count)
        td->count_lba_hits++;
    int fail = td->fail_reads;
    unsigned delay = td->read_delay_us;
    if (td->gate_closed) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        td->gate_waiting++;
        pthread_cond_broadcast(&td->gate_cv);
        while (td->gate_closed)
            if (pthread_cond_timedwait(&td->gate_cv, &td->lock, &until) == ETIMEDOUT) {
                td->gate_timed_out = 1;
                td->gate_closed = 0;
            }
        td->gate_waiting--;
    }
    pthread_mutex_unlock(&td->lock);
    if (delay)
        usleep(delay);
    if (fail || lba + count > dev->sectors)
        return -FS_EIO;
    size_t len = (size_t)count * dev->sector_size;
    ssize_t n = pread(td->fd, buf, len, (off_t)(lba * dev->sector_size));
    return n == (ssize_t)len ? 0 : -FS_EIO;
}

static int td_write(struct fs_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
    struct testdev *td = dev->priv;
    pthread_mutex_lock(&td->lock);
    td->writes++;
    td->sectors_written += count;
    if (td->log && td->log_n < td->log_cap) {
        td->log[td->log_n] = (struct testdev_op){ lba, count, 0, NULL };
        size_t len = (size_t)count * dev->sector_size;
        if (td->log_data && (td->log[td->log_n].data = malloc(len)) != NULL)
            memcpy(td->log[td->log_n].data, buf, len);
    }
    if (td->log)
        td->log_n++;
    int fail = td->fail_writes;
    unsigned delay = td->write_delay_us;
    pthread_mutex_unlock(&td->lock);
    if (delay)
        usleep((useconds_t)delay * (count * dev->sector_size / 4096 + 1));
    if (fail || lba + count > dev->sectors)
        return -FS_EIO;
    size_t len = (size_t)count * dev->sector_size;
    ssize_t n = pwrite(td->fd, buf, len, (off_t)(lba * dev->sector_size));
    return n == (ssize_t)len ? 0 : -FS_EIO;
}

static int td_flush(struct fs_blockdev *dev)
{
    struct testdev *td = dev->priv;
    pthread_mutex_lock(&td->lock);
    td->flushes++;
    if (td->log && td->log_n < td->log_cap)
        td->log[td->log_n] = (struct testdev_op){ 0, 0, 1, NULL };
    if (td->log)
        td->log_n++;
    pthread_mutex_unlock(&td->lock);
    return fsync(td->fd) ? -FS_EIO : 0;
}

int testdev_open(struct testdev *td, const char *path, uint32_t sector_size)
{
    struct stat st;
    memset(td, 0, sizeof *td);
    td->fd = open(path, O_RDWR);
    if (td->fd < 0 || fstat(td->fd, &st))
        return -1;
    pthread_mutex_init(&td->lock, NULL);
    pthread_cond_init(&td->gate_cv, NULL);
    td->count_lba = UINT64_MAX;
    td->dev.sector_size = sector_size;
    td->dev.sectors = (uint64_t)st.st_size / sector_size;
    td->dev.read = td_read;
    td->dev.write = td_write;
    td->dev.flush = td_flush;
    td->dev.priv = td;
    return 0;
}

void testdev_close(struct testdev *td)
{
    if (td->fd >= 0)
        close(td->fd);
    td->fd = -1;
    pthread_mutex_destroy(&td->lock);
    pthread_cond_destroy(&td->gate_cv);
}

void testdev_gate_close(struct testdev *td)
{
    pthread_mutex_lock(&td->lock);
    td->gate_closed = 1;
    td->gate_timed_out = 0;
    pthread_mutex_unlock(&td->lock);
}

void testdev_gate_open(struct testdev *td)
{
    pthread_mutex_lock(&td->lock);
    td->gate_closed = 0;
    pthread_cond_broadcast(&td->gate_cv);
    pthread_mutex_unlock(&td->lock);
}

int testdev_gate_wait_for(struct testdev *td, unsigned n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    int r = 0;
    pthread_mutex_lock(&td->lock);
    while (td->gate_waiting < n && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&td->gate_cv, &td->lock, &until);
    int ok = td->gate_waiting >= n ? 0 : -1;
    pthread_mutex_unlock(&td->lock);
    return ok;
}
