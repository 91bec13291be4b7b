/* ext2_file.c - the read side of the API (lookup, stat, readdir, read,
 * non-blocking read) and file data changes (write, truncate).
 *
 * Reads run without fs->lock.  If one fails while a change was in progress
 * (fs->seq odd or moved), it may have seen a half-made change, so it is
 * repeated once under the lock. */
#include "ext2_internal.h"

static const uint8_t zero_block[BCACHE_BLOCK_SIZE];

static bool must_retry(struct ext2_fs *fs, uint32_t seq0, int64_t r)
{
    if (r == EXT2_E_RETRY_LOCKED)
        return true;                    /* an unlinked inode: open orphan or freed? */
    return r < 0 && r != -FS_EWOULDBLOCK && ((seq0 & 1) || ext2_seq_read(fs) != seq0);
}

/* ---- lookup / stat / readdir --------------------------------------------- */

static int lookup_once(struct ext2_fs *fs, const struct ext2_path *p, uint32_t *ino)
{
    return ext2_walk(fs, p->buf, p->len, ino);
}

int ext2_lookup(struct ext2_fs *fs, const char *path, uint32_t *ino)
{
    struct ext2_path p;
    int r = ext2_path_parse(path, &p);
    if (r)
        return r;
    uint32_t seq = ext2_seq_read(fs);
    r = lookup_once(fs, &p, ino);
    if (must_retry(fs, seq, r)) {
        fs_mutex_lock(&fs->lock);
        r = lookup_once(fs, &p, ino);
        fs_mutex_unlock(&fs->lock);
    }
    ext2_path_free(&p);
    return r;
}

static int lookup_at_once(struct ext2_fs *fs, uint32_t dir, const char *name, uint32_t len, uint32_t *ino)
{
    struct ext2_inode in;
    int r = ext2_iget(fs, dir, &in);
    if (r)
        return r;
    if (in.i_links_count == 0)
        return -FS_ENOENT;
    return ext2_dir_lookup(fs, &in, name, len, ino);
}

int ext2_lookup_at(struct ext2_fs *fs, uint32_t dir, const char *name, uint32_t len, uint32_t *ino)
{
    if (len == 0)
        return -FS_EINVAL;
    if (len > EXT2_NAME_MAX)
        return -FS_ENAMETOOLONG;
    uint32_t seq = ext2_seq_read(fs);
    int r = lookup_at_once(fs, dir, name, len, ino);
    if (must_retry(fs, seq, r)) {
        fs_mutex_lock(&fs->lock);
        r = lookup_at_once(fs, dir, name, len, ino);
        fs_mutex_unlock(&fs->lock);
    }
    return r;
}

int ext2_stat(struct ext2_fs *fs, uint32_t ino, struct ext2_stat *st)
{
    struct ext2_inode in;
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    int r = ext2_iget(fs, ino, &in);
    if (r == 0)
        r = ext2_inode_usable(fs, ino, &in, false);
    if (r == EXT2_E_RETRY_LOCKED) {
        fs_mutex_lock(&fs->lock);
        r = ext2_iget(fs, ino, &in);
        if (r == 0)
            r = ext2_inode_usable(fs, ino, &in, true);
        fs_mutex_unlock(&fs->lock);
    }
    if (r)
        return r;
    st->ino = ino;
    st->mode = in.i_mode;
    st->nlink = in.i_links_count;
    st->uid = in.i_uid | ((uint32_t)in.i_uid_high << 16);
    st->gid = in.i_gid | ((uint32_t)in.i_gid_high << 16);
    st->size = ext2_isize(&in);
    st->blocks = in.i_blocks;
    st->atime = in.i_atime;
    st->mtime = in.i_mtime;
    st->ctime = in.i_ctime;
    st->generation = in.i_generation;
    return 0;
}

static int readdir_once(struct ext2_fs *fs, uint32_t dir, uint64_t *cookie, struct ext2_dirent *out)
{
    struct ext2_inode in;
    int r = ext2_iget(fs, dir, &in);
    if (r)
        return r;
    if (in.i_links_count == 0)
        return -FS_ENOENT;
    return ext2_dir_next(fs, &in, cookie, out);
}

int ext2_readdir(struct ext2_fs *fs, uint32_t dir, uint64_t *cookie, struct ext2_dirent *out)
{
    if (dir < 1 || dir > fs->inodes_count)
        return -FS_ENOENT;
    uint32_t seq = ext2_seq_read(fs);
    uint64_t c = *cookie;
    int r = readdir_once(fs, dir, &c, out);
    if (must_retry(fs, seq, r)) {
        c = *cookie;
        fs_mutex_lock(&fs->lock);
        r = readdir_once(fs, dir, &c, out);
        fs_mutex_unlock(&fs->lock);
    }
    if (r >= 0)
        *cookie = c;
    return r;
}

/* ---- reading data ---------------------------------------------------------- */

/* Relatime: a read updates atime only when it is not after mtime or ctime, or a day old
 * (and never to the value it has). */
static bool atime_due(struct ext2_fs *fs, const struct ext2_inode *in)
{
    uint32_t now = fs_time_now();
    if (fs->read_only || now == in->i_atime)
        return false;
    return in->i_atime <= in->i_mtime || in->i_atime <= in->i_ctime ||
           (int64_t)now - (int64_t)in->i_atime >= 24 * 60 * 60;
}

/* Writes a due atime (a change of its own, taken after the read). */
static void atime_update(struct ext2_fs *fs, uint32_t ino)
{
    struct ext2_inode in;
    ext2_change_begin(fs);
    if (ext2_iget(fs, ino, &in) == 0 && ext2_inode_usable(fs, ino, &in, true) == 0 && atime_due(fs, &in)) {
        in.i_atime = fs_time_now();
        (void)ext2_iput(fs, ino, &in);
    }
    ext2_change_end(fs);
}

/* Checks the inode is a readable file and clips [off, off+*len) to its size.  locked:
 * fs->lock is held.  *due: this read must update atime (nonblock: -EWOULDBLOCK instead). */
static int read_prepare(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in, uint64_t off,
            uint64_t *len, bool nonblock, bool locked, bool *due)
{
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    int r = nonblock ? ext2_iget_nb(fs, ino, in) : ext2_iget(fs, ino, in);
    if (r == 0)
        r = ext2_inode_usable(fs, ino, in, locked);
    if (r == EXT2_E_RETRY_LOCKED && nonblock)
        r = -FS_EWOULDBLOCK;
    if (r)
        return r;
    switch (in->i_mode & EXT2_S_IFMT) {
    case EXT2_S_IFREG:
        break;
    case EXT2_S_IFDIR:
        return -FS_EISDIR;
    default:
        return -FS_EINVAL;
    }
    *due = atime_due(fs, in);
    if (*due && nonblock)
        return -FS_EWOULDBLOCK;         /* the worker updates atime */
    uint64_t size = ext2_isize(in);
    if (off >= size)
        *len = 0;
    else if (*len > size - off)
        *len = size - off;
    return 0;
}

static int64_t read_once(struct ext2_fs *fs, uint32_t ino, uint64_t off, uint8_t *buf, uint64_t len,
                         bool nonblock, bool locked, bool *due)
{
    struct ext2_inode in;
    int r = read_prepare(fs, ino, &in, off, &len, nonblock, locked, due);
    if (r)
        return r;
    uint64_t done = 0;
    while (done < len) {
        uint64_t pos = off + done;
        uint32_t boff = (uint32_t)(pos % fs->block_size);
        uint64_t n = fs->block_size - boff;
        uint32_t pblk;
        if (n > len - done)
            n = len - done;
        r = ext2_bmap(fs, &in, pos / fs->block_size, &pblk, nonblock);
        if (r == 0 && !pblk) {
            memset(buf + done, 0, n);       /* hole */
        } else if (r == 0) {
            struct ext2_blk b;
            r = nonblock ? ext2_bread_nb(fs, pblk, &b) : ext2_bread(fs, pblk, &b);
            if (r == 0) {
                memcpy(buf + done, b.p + boff, n);
                ext2_brelse(&b);
            }
        }
        if (r)
            return (done && !nonblock) ? (int64_t)done : r;
        done += n;
    }
    return (int64_t)done;
}

int64_t ext2_read(struct ext2_fs *fs, uint32_t ino, uint64_t off, void *buf, uint64_t len)
{
    uint32_t seq = ext2_seq_read(fs);
    bool due = false;
    int64_t r = read_once(fs, ino, off, buf, len, false, false, &due);
    if (must_retry(fs, seq, r)) {
        fs_mutex_lock(&fs->lock);
        r = read_once(fs, ino, off, buf, len, false, true, &due);
        fs_mutex_unlock(&fs->lock);
    }
    if (r >= 0 && due)
        atime_update(fs, ino);
    return r;
}

int64_t ext2_read_nonblock(struct ext2_fs *fs, uint32_t ino, uint64_t off, void *buf, uint64_t len)
{
    uint32_t seq = ext2_seq_read(fs);
    bool due;
    if (seq & 1)
        return -FS_EWOULDBLOCK;         /* a change is in progress */
    int64_t r = read_once(fs, ino, off, buf, len, true, false, &due);
    if (r < 0 && r != -FS_EWOULDBLOCK && ext2_seq_read(fs) != seq)
        return -FS_EWOULDBLOCK;         /* let the slow path decide */
    return r;
}

void ext2_refs_release(struct ext2_ref *refs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        bcache_release(refs[i].buf);
        refs[i].buf = NULL;
    }
}

int64_t ext2_read_nonblock_ref(struct ext2_fs *fs, uint32_t ino, uint64_t off, uint64_t len,
                               struct ext2_ref *refs, unsigned max_refs, unsigned *nrefs)
{
    struct ext2_inode in;
    uint32_t seq = ext2_seq_read(fs);
    unsigned n = 0;
    bool due;
    *nrefs = 0;
    if (seq & 1)
        return -FS_EWOULDBLOCK;
    int r = read_prepare(fs, ino, &in, off, &len, true, false, &due);
    if (r)
        return r == -FS_EWOULDBLOCK || ext2_seq_read(fs) == seq ? r : -FS_EWOULDBLOCK;
    uint64_t done = 0;
    while (done < len) {
        uint64_t pos = off + done;
        uint32_t boff = (uint32_t)(pos % fs->block_size);
        uint32_t chunk = fs->block_size - boff;
        uint32_t pblk;
        struct ext2_blk b = { 0 };
        if (chunk > len - done)
            chunk = (uint32_t)(len - done);
        r = ext2_bmap(fs, &in, pos / fs->block_size, &pblk, true);
        if (r == 0 && pblk)
            r = ext2_bread_nb(fs, pblk, &b);
        if (r) {
            ext2_refs_release(refs, n);
            return r == -FS_EWOULDBLOCK || ext2_seq_read(fs) == seq ? r : -FS_EWOULDBLOCK;
        }
        const uint8_t *data = b.buf ? b.p + boff : zero_block;
        /* extend the previous piece when it continues in the same buffer */
        if (n > 0 && b.buf && refs[n - 1].buf == b.buf && refs[n - 1].data + refs[n - 1].len == data) {
            refs[n - 1].len += chunk;
            ext2_brelse(&b);
        } else if (n < max_refs) {
            refs[n].buf = b.buf;
            refs[n].data = data;
            refs[n].len = chunk;
            n++;
        } else {
            ext2_brelse(&b);
            break;
        }
        done += chunk;
    }
    *nrefs = n;
    return (int64_t)done;
}

/* ---- changing data ------------------------------------------------------------ */

static int writable_file(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    int r = ext2_iget(fs, ino, in);
    if (r == 0)
        r = ext2_inode_usable(fs, ino, in, true);
    if (r)
        return r;
    if ((in->i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR)
        return -FS_EISDIR;
    if ((in->i_mode & EXT2_S_IFMT) != EXT2_S_IFREG)
        return -FS_EINVAL;
    return 0;
}

static int64_t write_locked(struct ext2_fs *fs, uint32_t ino, uint64_t off, const uint8_t *buf, uint64_t len)
{
    struct ext2_inode in;
    int r = writable_file(fs, ino, &in);
    if (r)
        return r;
    if (off == EXT2_WRITE_APPEND)
        off = ext2_isize(&in);          /* O_APPEND: the end, under the lock */
    if (len == 0)
        return 0;
    if (off >= fs->max_file_size)
        return -FS_EFBIG;
    if (len > fs->max_file_size - off)
        len = fs->max_file_size - off;

    uint64_t done = 0;
    while (done < len) {
        uint64_t pos = off + done;
        uint32_t boff = (uint32_t)(pos % fs->block_size);
        uint64_t n = fs->block_size - boff;
        uint32_t pblk;
        struct ext2_blk b;
        if (n > len - done)
            n = len - done;
        r = ext2_bmap_alloc(fs, ino, &in, pos / fs->block_size, &pblk);
        if (r == 0)
            r = n == fs->block_size ? ext2_bget_overwrite(fs, pblk, &b) : ext2_bread(fs, pblk, &b);
        if (r)
            break;
        memcpy(b.p + boff, buf + done, n);
        ext2_bdirty_data(&b);
        ext2_brelse(&b);
        done += n;
    }
    if (off + done > ext2_isize(&in))
        ext2_set_isize(fs, &in, off + done);
    if (done)
        in.i_mtime = in.i_ctime = fs_time_now();
    int w = ext2_iput(fs, ino, &in);    /* also records blocks of a failed step */
    if (done)
        return w ? w : (int64_t)done;
    return r ? r : w;
}

int64_t ext2_write(struct ext2_fs *fs, uint32_t ino, uint64_t off, const void *buf, uint64_t len)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int64_t r = write_locked(fs, ino, off, buf, len);
    ext2_change_end(fs);
    return r;
}

static int truncate_locked(struct ext2_fs *fs, uint32_t ino, uint64_t size)
{
    struct ext2_inode in;
    int r = writable_file(fs, ino, &in);
    if (r)
        return r;
    if (size > fs->max_file_size)
        return -FS_EFBIG;
    uint64_t old = ext2_isize(&in);
    if (size < old) {
        uint64_t keep = (size + fs->block_size - 1) / fs->block_size;
        r = ext2_free_blocks_from(fs, &in, keep);
        /* zero the tail of the last kept block so a later grow reads zeros */
        uint32_t tail = (uint32_t)(size % fs->block_size);
        uint32_t pblk = 0;
        if (r == 0 && tail)
            r = ext2_bmap(fs, &in, size / fs->block_size, &pblk, false);
        if (r == 0 && pblk) {
            struct ext2_blk b;
            r = ext2_bread(fs, pblk, &b);
            if (r == 0) {
                memset(b.p + tail, 0, fs->block_size - tail);
                ext2_bdirty_data(&b);
                ext2_brelse(&b);
            }
        }
    }
    if (r == 0)
        r = ext2_set_isize(fs, &in, size);
    in.i_mtime = in.i_ctime = fs_time_now();
    int w = ext2_iput(fs, ino, &in);
    return r ? r : w;
}

int ext2_truncate(struct ext2_fs *fs, uint32_t ino, uint64_t size)
{
    if (fs->read_only)
        return -FS_EROFS;
    ext2_change_begin(fs);
    int r = truncate_locked(fs, ino, size);
    ext2_change_end(fs);
    return r;
}
