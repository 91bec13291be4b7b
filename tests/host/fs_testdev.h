/* File-backed struct fs_blockdev for host tests, with I/O counters, an
 * optional read delay and failure injection. */
#ifndef FS_TESTDEV_H
#define FS_TESTDEV_H

#include "fs/blockdev.h"
#include <pthread.h>

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
};

int testdev_open(struct testdev *td, const char *path, uint32_t sector_size);
void testdev_close(struct testdev *td);

#endif
