/* File-backed struct fs_blockdev for host tests, with I/O counters, an
 * optional read delay and failure injection. */
#ifndef FS_TESTDEV_H
#define FS_TESTDEV_H

#include "fs/blockdev.h"
#include <pthread.h>

/* One device call in the log: a write of count sectors at lba, or a flush. */
struct testdev_op {
    uint64_t lba;
    uint32_t count;
    int flush;
    void *data;             /* with log_data: a malloc'ed copy of what was written */
};

struct testdev {
    struct fs_blockdev dev;
    int fd;
    pthread_mutex_t lock;
    uint64_t reads, writes, flushes;        /* calls */
    uint64_t sectors_read, sectors_written;
    unsigned read_delay_us;
    int fail_writes;                        /* writes return -EIO when set */
    int fail_reads;
    uint64_t count_lba;                     /* reads covering this lba ... */
    uint64_t count_lba_hits;                /* ... are counted here */
    unsigned write_delay_us;                /* per 4 KiB written */
    struct testdev_op *log;                 /* when set, writes and flushes are logged */
    uint32_t log_cap, log_n;                /* (past log_cap only counted in log_n) */
    int log_data;                           /* log a copy of each write's data too */
    /* A gate for ordering tests without sleeps: while closed, device reads wait at it
     * (gate_waiting counts them) until it is opened -- or 10 s pass, which opens it and
     * sets gate_timed_out (a test that deadlocks fails instead of hanging). */
    int gate_closed, gate_timed_out;
    unsigned gate_waiting;
    pthread_cond_t gate_cv;
};

int testdev_open(struct testdev *td, const char *path, uint32_t sector_size);
void testdev_close(struct testdev *td);
void testdev_gate_close(struct testdev *td);
void testdev_gate_open(struct testdev *td);
/* Waits (at most 10 s) until n reads wait at the gate; 0 if they do, else -1. */
int testdev_gate_wait_for(struct testdev *td, unsigned n);

#endif
