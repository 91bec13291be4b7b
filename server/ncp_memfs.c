/* ncp_memfs.c - in-memory file system for tests and ncpd --memfs.
 * One mutex around everything; directories are append-ordered lists whose
 * entry ids double as readdir cookies (stable across changes).  A file whose
 * last name goes while the engine has it open stays (nlink 0) until its last
 * release.  Times as POSIX says, atime as relatime (read_touch). */
#include "server/ncp_memfs.h"
#include "fs/fs_port.h"
#include "fs/fs_errno.h"

struct mdirent {
    struct mdirent *next;
    uint64_t id;
    uint32_t ino;
    uint8_t len;
    char name[NCP_NAME_MAX + 1];
};

struct mnode {
    uint8_t type;
    uint16_t mode;
    uint32_t uid, gid;
    uint32_t nlink;
    uint32_t opens;             /* handles the engine holds (vfs open/release) */
    uint32_t parent;            /* directories: for rename loop checks */
    uint64_t size;
    uint8_t *data;
    uint64_t cap;
    uint32_t atime, mtime, ctime;
    struct mdirent *entries;
    uint64_t next_id;
};

struct ncp_memfs {
    struct fs_mutex lock;
    struct mnode **nodes;       /* index = ino; 0 unused, 1 unused, 2 root */
    uint32_t max_inodes;
    uint64_t max_bytes, used_bytes;
    uint32_t nonblock_misses;
    uint32_t refs_out;          /* read_ref_nonblock references not yet released */
    uint32_t block_size;        /* what one reference covers at most (4096; tests change it) */
};

#define ROOT_INO 2

static struct mnode *node(struct ncp_memfs *m, uint32_t ino)
{
    return ino < m->max_inodes + 3 ? m->nodes[ino] : NULL;
}

static int new_node(struct ncp_memfs *m, uint8_t type, uint16_t mode, uint32_t *ino)
{
    for (uint32_t i = ROOT_INO; i < m->max_inodes + 3; i++) {
        if (m->nodes[i])
            continue;
        struct mnode *n = fs_alloc(sizeof *n);
        if (!n)
            return -FS_ENOMEM;
        memset(n, 0, sizeof *n);
        n->type = type;
        n->mode = mode & 07777;
        n->nlink = 1;
        n->next_id = 1;
        n->atime = n->mtime = n->ctime = fs_time_now();
        m->nodes[i] = n;
        *ino = i;
        return 0;
    }
    return -FS_ENOSPC;
}

static void free_node(struct ncp_memfs *m, uint32_t ino)
{
    struct mnode *n = m->nodes[ino];
    m->used_bytes -= n->cap;
    while (n->entries) {
        struct mdirent *d = n->entries;
        n->entries = d->next;
        fs_free(d);
    }
    fs_free(n->data);
    fs_free(n);
    m->nodes[ino] = NULL;
}

struct ncp_memfs *ncp_memfs_create(uint64_t max_bytes, uint32_t max_inodes)
{
    struct ncp_memfs *m = fs_alloc(sizeof *m);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->max_inodes = max_inodes;
    m->max_bytes = max_bytes;
    m->block_size = 4096;
    m->nodes = fs_alloc(sizeof *m->nodes * (max_inodes + 3));
    if (!m->nodes) {
        fs_free(m);
        return NULL;
    }
    memset(m->nodes, 0, sizeof *m->nodes * (max_inodes + 3));
    fs_mutex_init(&m->lock);
    uint32_t root;
    if (new_node(m, NCP_FT_DIR, 0755, &root) || root != ROOT_INO) {
        ncp_memfs_destroy(m);
        return NULL;
    }
    m->nodes[root]->nlink = 2;
    m->nodes[root]->parent = ROOT_INO;
    return m;
}

void ncp_memfs_destroy(struct ncp_memfs *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->max_inodes + 3; i++)
        if (m->nodes[i])
            free_node(m, i);
    fs_free(m->nodes);
    fs_free(m);
}

static struct mdirent *find_entry(struct mnode *dir, const char *name, size_t len)
{
    for (struct mdirent *d = dir->entries; d; d = d->next)
        if (d->len == len && memcmp(d->name, name, len) == 0)
            return d;
    return NULL;
}

/* Walks "/a/b" (canonical) to an inode. */
static int walk(struct ncp_memfs *m, const char *path, size_t len, uint32_t *ino)
{
    uint32_t cur = ROOT_INO;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t s = i;
        while (i < len && path[i] != '/')
            i++;
        if (i == s)
            break;
        struct mnode *dir = node(m, cur);
        if (dir->type != NCP_FT_DIR)
            return -FS_ENOTDIR;
        if (i - s > NCP_NAME_MAX)
            return -FS_ENAMETOOLONG;
        struct mdirent *d = find_entry(dir, path + s, i - s);
        if (!d)
            return -FS_ENOENT;
        cur = d->ino;
    }
    *ino = cur;
    return 0;
}

/* Splits into parent inode (must be a directory) and last name. */
static int parent_of(struct ncp_memfs *m, const char *path, uint32_t *dir, const char **name, size_t *nlen)
{
    size_t len = strlen(path), end = len;
    while (end > 0 && path[end - 1] == '/')
        end--;
    size_t s = end;
    while (s > 0 && path[s - 1] != '/')
        s--;
    if (s == end)
        return -FS_EINVAL; /* the root has no parent */
    if (end - s > NCP_NAME_MAX)
        return -FS_ENAMETOOLONG;
    int e = walk(m, path, s, dir);
    if (e)
        return e;
    if (node(m, *dir)->type != NCP_FT_DIR)
        return -FS_ENOTDIR;
    *name = path + s;
    *nlen = end - s;
    return 0;
}

static int add_entry(struct mnode *dir, const char *name, size_t len, uint32_t ino)
{
    struct mdirent *d = fs_alloc(sizeof *d), **pp = &dir->entries;
    if (!d)
        return -FS_ENOMEM;
    d->next = NULL;
    d->id = dir->next_id++;
    d->ino = ino;
    d->len = (uint8_t)len;
    memcpy(d->name, name, len);
    d->name[len] = '\0';
    while (*pp)
        pp = &(*pp)->next;
    *pp = d;
    dir->mtime = dir->ctime = fs_time_now();
    return 0;
}

static void remove_entry(struct mnode *dir, struct mdirent *victim)
{
    for (struct mdirent **pp = &dir->entries; *pp; pp = &(*pp)->next)
        if (*pp == victim) {
            *pp = victim->next;
            fs_free(victim);
            break;
        }
    dir->mtime = dir->ctime = fs_time_now();
}

/* One link of file ino went (its name is already gone): ctime, and at no links the node is
 * freed, unless it is open (then at its last release). */
static void drop_link(struct ncp_memfs *m, uint32_t ino)
{
    struct mnode *n = node(m, ino);
    n->ctime = fs_time_now();
    if (n->nlink > 0)
        n->nlink--;
    if (n->nlink == 0 && n->opens == 0)
        free_node(m, ino);
}

/* Relatime: a read sets atime when it is not after mtime or ctime, or a day old. */
static void read_touch(struct mnode *n)
{
    uint32_t now = fs_time_now();
    if (now != n->atime && (n->atime <= n->mtime || n->atime <= n->ctime ||
                            (int64_t)now - (int64_t)n->atime >= 24 * 60 * 60))
        n->atime = now;
}

/* ---- vfs ops ---- */

static int m_lookup(void *fs, const char *path, uint32_t *ino)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    int e = walk(m, path, strlen(path), ino);
    fs_mutex_unlock(&m->lock);
    return e;
}

static int m_lookup_at(void *fs, uint32_t dir, const char *name, uint32_t len, uint32_t *ino)
{
    struct ncp_memfs *m = fs;
    int e = 0;
    if (len == 0)
        return -FS_EINVAL;
    if (len > NCP_NAME_MAX)
        return -FS_ENAMETOOLONG;
    fs_mutex_lock(&m->lock);
    struct mnode *d = node(m, dir);
    struct mdirent *ent = NULL;
    if (!d)
        e = -FS_ENOENT;
    else if (d->type != NCP_FT_DIR)
        e = -FS_ENOTDIR;
    else if (!(ent = find_entry(d, name, len)))
        e = -FS_ENOENT;
    else
        *ino = ent->ino;
    fs_mutex_unlock(&m->lock);
    return e;
}

static int m_setattr(void *fs, uint32_t ino, const struct ncp_vfs_attr *a)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    if (n) {
        if (a->mask & NCP_SA_MODE)
            n->mode = a->mode & 07777;
        if (a->mask & NCP_SA_UID)
            n->uid = a->uid;
        if (a->mask & NCP_SA_GID)
            n->gid = a->gid;
        if (a->mask & NCP_SA_ATIME)
            n->atime = a->atime;
        if (a->mask & NCP_SA_MTIME)
            n->mtime = a->mtime;
        n->ctime = fs_time_now();
    }
    fs_mutex_unlock(&m->lock);
    return n ? 0 : -FS_ENOENT;
}

static int m_stat(void *fs, uint32_t ino, struct ncp_stat *st)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    if (n) {
        memset(st, 0, sizeof *st);
        st->ino = ino;
        st->type = n->type;
        st->mode = n->mode;
        st->nlink = n->nlink;
        st->uid = n->uid;
        st->gid = n->gid;
        st->size = n->type == NCP_FT_DIR ? 4096 : n->size;
        st->atime = n->atime;
        st->mtime = n->mtime;
        st->ctime = n->ctime;
    }
    fs_mutex_unlock(&m->lock);
    return n ? 0 : -FS_ENOENT;
}

static int m_readdir(void *fs, uint32_t dir, uint64_t *cookie, struct ncp_vfs_dirent *out)
{
    struct ncp_memfs *m = fs;
    int r = 0;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, dir);
    if (!n)
        r = -FS_ENOENT;
    else if (n->type != NCP_FT_DIR)
        r = -FS_ENOTDIR;
    else {
        for (struct mdirent *d = n->entries; d; d = d->next) {
            if (d->id <= *cookie)
                continue;
            struct mnode *t = node(m, d->ino);
            out->ino = d->ino;
            out->type = t ? t->type : NCP_FT_UNKNOWN;
            out->name_len = d->len;
            memcpy(out->name, d->name, d->len + 1);
            *cookie = d->id;
            r = 1;
            break;
        }
    }
    fs_mutex_unlock(&m->lock);
    return r;
}

/* 0 if n is a regular file, else why not: what read, write, truncate and open refuse. */
static int file_error(const struct mnode *n)
{
    if (!n)
        return -FS_ENOENT;
    if (n->type == NCP_FT_DIR)
        return -FS_EISDIR;
    if (n->type != NCP_FT_FILE)
        return -FS_EINVAL;
    return 0;
}

static int64_t m_read(void *fs, uint32_t ino, uint64_t off, void *buf, uint32_t len)
{
    struct ncp_memfs *m = fs;
    int64_t r;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    r = file_error(n);
    if (r == 0 && off < n->size) {
        uint64_t k = n->size - off < len ? n->size - off : len;
        memcpy(buf, n->data + off, (size_t)k);
        r = (int64_t)k;
    }
    if (r >= 0)
        read_touch(n);
    fs_mutex_unlock(&m->lock);
    return r;
}

static int64_t m_read_nonblock(void *fs, uint32_t ino, uint64_t off, void *buf, uint32_t len)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    bool miss = m->nonblock_misses > 0;
    if (miss)
        m->nonblock_misses--;
    fs_mutex_unlock(&m->lock);
    return miss ? -FS_EAGAIN : m_read(fs, ino, off, buf, len);
}

/* References into the file's storage, one per block-aligned piece (as a block cache would
 * hand out).  They stay valid until the file is written or removed: tests only. */
static int64_t m_read_ref_nonblock(void *fs, uint32_t ino, uint64_t off, uint32_t len,
                                   struct ncp_vfs_ref *refs, unsigned max, unsigned *nref)
{
    struct ncp_memfs *m = fs;
    int64_t r = 0;
    *nref = 0;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    if (m->nonblock_misses > 0) {
        m->nonblock_misses--;
        r = -FS_EAGAIN;
    }
    else if ((r = file_error(n)) == 0) {
        uint64_t end = off >= n->size ? off : (n->size - off < len ? n->size : off + len);
        uint64_t pos = off;
        while (pos < end && *nref < max) {
            uint64_t piece = m->block_size - pos % m->block_size;
            if (piece > end - pos)
                piece = end - pos;
            refs[(*nref)++] = (struct ncp_vfs_ref){ n->data + pos, (uint32_t)piece, m };
            pos += piece;
        }
        m->refs_out += *nref;
        r = (int64_t)(pos - off);
        read_touch(n);
    }
    fs_mutex_unlock(&m->lock);
    return r;
}

static void m_ref_release(void *fs, struct ncp_vfs_ref *refs, unsigned n)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    for (unsigned i = 0; i < n; i++)
        if (refs[i].token == m && m->refs_out)
            m->refs_out--;
    fs_mutex_unlock(&m->lock);
}

uint32_t ncp_memfs_refs_out(struct ncp_memfs *m)
{
    fs_mutex_lock(&m->lock);
    uint32_t n = m->refs_out;
    fs_mutex_unlock(&m->lock);
    return n;
}

/* Grows file storage to hold `size` bytes (contents past n->size undefined). */
static int reserve(struct ncp_memfs *m, struct mnode *n, uint64_t size)
{
    if (size <= n->cap)
        return 0;
    uint64_t cap = n->cap ? n->cap : 4096;
    while (cap < size)
        cap *= 2;
    if (m->used_bytes - n->cap + cap > m->max_bytes) {
        cap = size;                                /* try exact before giving up */
        if (m->used_bytes - n->cap + cap > m->max_bytes)
            return -FS_ENOSPC;
    }
    uint8_t *d = fs_alloc((size_t)cap);
    if (!d)
        return -FS_ENOSPC;
    if (n->size)
        memcpy(d, n->data, (size_t)n->size); /* bytes past size are zeroed on use */
    fs_free(n->data);
    m->used_bytes += cap - n->cap;
    n->data = d;
    n->cap = cap;
    return 0;
}

static int64_t m_write(void *fs, uint32_t ino, uint64_t off, const void *buf, uint32_t len)
{
    struct ncp_memfs *m = fs;
    int64_t r;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    if (n && off == NCP_VFS_APPEND)
        off = n->size; /* O_APPEND: the end, under the lock */
    r = file_error(n);
    if (r == 0 && off + len > (1ull << 40))
        r = -FS_EFBIG;
    else if (r == 0 && len > 0 && (r = reserve(m, n, off + len)) == 0) {   /* len 0: data may be NULL */
        if (off > n->size)
            memset(n->data + n->size, 0, (size_t)(off - n->size));
        memcpy(n->data + off, buf, len);
        if (off + len > n->size)
            n->size = off + len;
        n->mtime = n->ctime = fs_time_now();
        r = len;
    }
    fs_mutex_unlock(&m->lock);
    return r;
}

static int m_truncate(void *fs, uint32_t ino, uint64_t size)
{
    struct ncp_memfs *m = fs;
    int r = 0;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    r = file_error(n);
    if (r == 0 && size > (1ull << 40))
        r = -FS_EFBIG;
    else if (r == 0 && size > n->size)
        r = reserve(m, n, size);
    if (!r && n) {
        if (size > n->size)
            memset(n->data + n->size, 0, (size_t)(size - n->size));
        n->size = size;
        n->mtime = n->ctime = fs_time_now();
    }
    fs_mutex_unlock(&m->lock);
    return r;
}

static int make(struct ncp_memfs *m, const char *path, uint8_t type, uint16_t mode, uint32_t uid, uint32_t gid,
                uint32_t *ino)
{
    uint32_t dir, new_ino;
    const char *name;
    size_t len;
    int e = parent_of(m, path, &dir, &name, &len);
    if (e)
        return e;
    struct mnode *p = node(m, dir);
    if (find_entry(p, name, len))
        return -FS_EEXIST;
    if ((e = new_node(m, type, mode, &new_ino)))
        return e;
    if ((e = add_entry(p, name, len, new_ino))) {
        free_node(m, new_ino);
        return e;
    }
    m->nodes[new_ino]->uid = uid;
    m->nodes[new_ino]->gid = gid;
    if (type == NCP_FT_DIR) {
        m->nodes[new_ino]->nlink = 2;
        m->nodes[new_ino]->parent = dir;
        p->nlink++;
    }
    if (ino)
        *ino = new_ino;
    return 0;
}

static int m_create(void *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid, uint32_t *ino)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    int e = make(m, path, NCP_FT_FILE, mode, uid, gid, ino);
    fs_mutex_unlock(&m->lock);
    return e;
}

static int m_mkdir(void *fs, const char *path, uint16_t mode, uint32_t uid, uint32_t gid)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    int e = make(m, path, NCP_FT_DIR, mode, uid, gid, NULL);
    fs_mutex_unlock(&m->lock);
    return e;
}

/* Removes an entry of the wanted kind (dir true: rmdir). */
static int remove_path(struct ncp_memfs *m, const char *path, bool dir)
{
    uint32_t pino;
    const char *name;
    size_t len;
    int e = parent_of(m, path, &pino, &name, &len);
    if (e)
        return e;
    struct mnode *p = node(m, pino);
    struct mdirent *d = find_entry(p, name, len);
    if (!d)
        return -FS_ENOENT;
    uint32_t ino = d->ino;
    struct mnode *n = node(m, ino);
    if (dir && n->type != NCP_FT_DIR)
        return -FS_ENOTDIR;
    if (!dir && n->type == NCP_FT_DIR)
        return -FS_EISDIR;
    if (dir && n->entries)
        return -FS_ENOTEMPTY;
    remove_entry(p, d);
    if (dir) {
        p->nlink--;
        free_node(m, ino);
    } else {
        drop_link(m, ino);
    }
    return 0;
}

static int m_unlink(void *fs, const char *path)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    int e = remove_path(m, path, false);
    fs_mutex_unlock(&m->lock);
    return e;
}

static int m_rmdir(void *fs, const char *path)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    int e = remove_path(m, path, true);
    fs_mutex_unlock(&m->lock);
    return e;
}

static int do_rename(struct ncp_memfs *m, const char *from, const char *to)
{
    uint32_t fdir, tdir;
    const char *fname, *tname;
    size_t flen, tlen;
    int e = parent_of(m, from, &fdir, &fname, &flen);
    if (!e)
        e = parent_of(m, to, &tdir, &tname, &tlen);
    if (e)
        return e;
    struct mnode *fp = node(m, fdir), *tp = node(m, tdir);
    struct mdirent *src = find_entry(fp, fname, flen);
    if (!src)
        return -FS_ENOENT;
    uint32_t ino = src->ino;
    struct mnode *n = node(m, ino);
    if (n->type == NCP_FT_DIR)                     /* no moving a dir under itself */
        for (uint32_t up = tdir;; up = node(m, up)->parent) {
            if (up == ino)
                return -FS_EINVAL;
            if (up == ROOT_INO)
                break;
        }
    struct mdirent *dst = find_entry(tp, tname, tlen);
    if (dst && dst->ino == ino)
        return 0; /* the same name, or another link of it */
    uint32_t now = fs_time_now();
    if (dst) {
        /* over an existing entry: it is pointed at the moved inode in place, so the
         * name never disappears, and nothing can fail half way */
        uint32_t old = dst->ino;
        struct mnode *t = node(m, old);
        if (n->type == NCP_FT_DIR && t->type != NCP_FT_DIR)
            return -FS_ENOTDIR;
        if (n->type != NCP_FT_DIR && t->type == NCP_FT_DIR)
            return -FS_EISDIR;
        if (t->type == NCP_FT_DIR && t->entries)
            return -FS_ENOTEMPTY;
        dst->ino = ino;
        tp->mtime = tp->ctime = now;
        if (t->type == NCP_FT_DIR) {
            tp->nlink--;
            free_node(m, old);
        } else {
            drop_link(m, old);
        }
    } else if ((e = add_entry(tp, tname, tlen, ino))) {
        return e;
    }
    remove_entry(fp, find_entry(fp, fname, flen));
    if (n->type == NCP_FT_DIR) {
        fp->nlink--;
        tp->nlink++;
        n->parent = tdir;
    }
    n->ctime = now;
    return 0;
}

static int m_rename(void *fs, const char *from, const char *to)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    int e = do_rename(m, from, to);
    fs_mutex_unlock(&m->lock);
    return e;
}

static int m_sync(void *fs)
{
    (void)fs;
    return 0;
}

static int m_open(void *fs, uint32_t ino)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    int e = file_error(n);
    if (!e)
        n->opens++;
    fs_mutex_unlock(&m->lock);
    return e;
}

static void m_release(void *fs, uint32_t ino)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    if (n && n->opens > 0 && --n->opens == 0 && n->nlink == 0)
        free_node(m, ino);                         /* unlinked while open: now it goes */
    fs_mutex_unlock(&m->lock);
}

static int m_statfs(void *fs, struct ncp_statfs *st)
{
    struct ncp_memfs *m = fs;
    fs_mutex_lock(&m->lock);
    uint32_t used = 0;
    for (uint32_t i = 0; i < m->max_inodes + 3; i++)
        used += m->nodes[i] != NULL;
    st->block_size = 4096;
    st->blocks = m->max_bytes / 4096;
    st->blocks_free = (m->max_bytes - m->used_bytes) / 4096;
    st->files = m->max_inodes;
    st->files_free = m->max_inodes + 1 - used;
    st->name_max = NCP_NAME_MAX;
    st->flags = 0;
    fs_mutex_unlock(&m->lock);
    return 0;
}

static uint32_t m_ref_span(void *fs)
{
    struct ncp_memfs *m = fs;
    return __atomic_load_n(&m->block_size, __ATOMIC_RELAXED);   /* ref_span never sleeps */
}

/* ---- symbolic and hard links: a symlink's data is its target ---- */

#define MEMFS_LINK_MAX 65000                        /* as ext2 */

static int m_symlink(void *fs, const char *path, const char *target, uint32_t len, uint32_t uid, uint32_t gid,
                     uint32_t *ino)
{
    struct ncp_memfs *m = fs;
    uint32_t new_ino;
    if (len == 0)
        return -FS_ENOENT;
    if (len > NCP_SYMLINK_MAX)
        return -FS_ENAMETOOLONG;
    fs_mutex_lock(&m->lock);
    int e = make(m, path, NCP_FT_SYMLINK, 0777, uid, gid, &new_ino);
    struct mnode *n = e ? NULL : node(m, new_ino);
    if (n && (e = reserve(m, n, len)) == 0) {
        memcpy(n->data, target, len);
        n->size = len;
    } else if (n) {
        remove_path(m, path, false);                /* no room for the target: no link */
    }
    if (!e && ino)
        *ino = new_ino;
    fs_mutex_unlock(&m->lock);
    return e;
}

static int64_t m_readlink(void *fs, uint32_t ino, char *buf, uint32_t cap)
{
    struct ncp_memfs *m = fs;
    int64_t r;
    fs_mutex_lock(&m->lock);
    struct mnode *n = node(m, ino);
    if (!n)
        r = -FS_ENOENT;
    else if (n->type != NCP_FT_SYMLINK)
        r = -FS_EINVAL;
    else if (n->size > cap)
        r = -FS_ENAMETOOLONG;
    else {
        memcpy(buf, n->data, (size_t)n->size);
        r = (int64_t)n->size;
    }
    fs_mutex_unlock(&m->lock);
    return r;
}

static int m_link(void *fs, const char *existing, const char *newpath)
{
    struct ncp_memfs *m = fs;
    uint32_t ino, dir;
    const char *name;
    size_t len;
    fs_mutex_lock(&m->lock);
    int e = walk(m, existing, strlen(existing), &ino);
    struct mnode *n = e ? NULL : node(m, ino);
    if (n && n->type == NCP_FT_DIR)
        e = -FS_EPERM;
    else if (n && n->nlink >= MEMFS_LINK_MAX)
        e = -FS_EMLINK;
    if (!e)
        e = parent_of(m, newpath, &dir, &name, &len);
    if (!e && find_entry(node(m, dir), name, len))
        e = -FS_EEXIST;
    if (!e)
        e = add_entry(node(m, dir), name, len, ino);
    if (!e) {
        n->nlink++;
        n->ctime = fs_time_now();
    }
    fs_mutex_unlock(&m->lock);
    return e;
}

const struct ncp_vfs_ops ncp_memfs_ops = {
    .lookup = m_lookup, .lookup_at = m_lookup_at, .setattr = m_setattr, .stat = m_stat, .readdir = m_readdir, .read = m_read,
    .read_nonblock = m_read_nonblock, .read_ref_nonblock = m_read_ref_nonblock, .ref_release = m_ref_release, .write = m_write, .truncate = m_truncate,
    .create = m_create, .mkdir = m_mkdir, .unlink = m_unlink, .rmdir = m_rmdir,
    .rename = m_rename, .sync = m_sync, .statfs = m_statfs,
    .ref_span = m_ref_span,
    .symlink = m_symlink, .readlink = m_readlink, .link = m_link,
    .open = m_open, .release = m_release,
};

int ncp_memfs_put(struct ncp_memfs *m, const char *path, const void *data, size_t len)
{
    char buf[NCP_PATH_MAX + 2];
    size_t n = strlen(path);
    if (n > NCP_PATH_MAX)
        return -FS_ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {               /* mkdir -p of the parents */
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        int e = m_mkdir(m, buf, 0755, 0, 0);
        buf[i] = '/';
        if (e && e != -FS_EEXIST)
            return e;
    }
    uint32_t ino;
    int e = m_lookup(m, path, &ino);
    if (e == -FS_ENOENT)
        e = m_create(m, path, 0644, 0, 0, &ino);
    if (!e)
        e = m_truncate(m, ino, 0);
    if (!e && len) {
        int64_t w = m_write(m, ino, 0, data, (uint32_t)len);
        if (w < 0)
            e = (int)w;
    }
    return e;
}

void ncp_memfs_set_block_size(struct ncp_memfs *m, uint32_t block_size)
{
    fs_mutex_lock(&m->lock);
    __atomic_store_n(&m->block_size, block_size, __ATOMIC_RELAXED);
    fs_mutex_unlock(&m->lock);
}

void ncp_memfs_set_nonblock_misses(struct ncp_memfs *m, uint32_t n)
{
    fs_mutex_lock(&m->lock);
    m->nonblock_misses = n;
    fs_mutex_unlock(&m->lock);
}

int ncp_memfs_chattr(struct ncp_memfs *m, const char *path, uint16_t mode, uint32_t uid, uint32_t gid)
{
    uint32_t ino;
    int e = m_lookup(m, path, &ino);
    struct ncp_vfs_attr a = { NCP_SA_MODE | NCP_SA_UID | NCP_SA_GID, mode, uid, gid, 0, 0 };
    return e ? e : m_setattr(m, ino, &a);
}
