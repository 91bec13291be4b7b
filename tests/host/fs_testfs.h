/* Opening an ext2 image file as device + cache + mounted fs, for tests. */
#ifndef FS_TESTFS_H
#define FS_TESTFS_H

#include "fs/ext2.h"
#include "fs_testdev.h"

struct fsimg {
    struct testdev td;
    struct bcache *bc;
    struct ext2_fs *fs;
};

/* Returns 0 or the (negative) mount error; on error nothing stays open. */
int fsimg_open(struct fsimg *m, const char *img, unsigned nbuffers, unsigned flags);
/* Unmounts (syncing) and closes; returns the unmount result. */
int fsimg_close(struct fsimg *m);

#endif
