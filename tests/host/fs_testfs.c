#include "fs_testfs.h"
#include "fs/fs_errno.h"

int fsimg_open(struct fsimg *m, const char *img, unsigned nbuffers, unsigned flags)
{
    if (testdev_open(&m->td, img, 512))
        return -FS_EIO;
    m->bc = bcache_init(&m->td.dev, nbuffers);
    if (!m->bc) {
        testdev_close(&m->td);
        return -FS_ENOMEM;
    }
    int r = ext2_mount(m->bc, flags, &m->fs);
    if (r) {
        bcache_destroy(m->bc);
        testdev_close(&m->td);
    }
    return r;
}

int fsimg_close(struct fsimg *m)
{
    int r = ext2_unmount(m->fs);
    bcache_destroy(m->bc);
    testdev_close(&m->td);
    return r;
}
