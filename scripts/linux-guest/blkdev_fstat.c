/* blkdev_fstat.c - linked into the guest's static ncpd with -Wl,--wrap=fstat.
 *
 * ncpd sizes its volume from fstat().st_size, which is 0 for a block device; in the Linux
 * guest it serves /dev/sda, so for block devices this fills st_size from BLKGETSIZE64.
 * (A shim rather than a change to server/linux/, which another helper owns.)
 */
#include <stddef.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <stdint.h>

int __real_fstat(int fd, struct stat *st);

int __wrap_fstat(int fd, struct stat *st)
{
    int r = __real_fstat(fd, st);
    uint64_t bytes;
    if (r == 0 && S_ISBLK(st->st_mode) && st->st_size == 0 && ioctl(fd, BLKGETSIZE64, &bytes) == 0)
        st->st_size = (off_t)bytes;
    return r;
}
