/* ext2_path.c - path names: lexical normalization and the walk from the
 * root.  ".." is resolved on the text, so it can never climb above "/" and
 * a corrupt ".." entry on disk cannot send the walk in circles; the walk
 * is bounded by the number of components. */
#include "ext2_internal.h"

#define PATH_MAX_LEN 4096

int ext2_path_parse(const char *path, struct ext2_path *p)
{
    size_t n = strlen(path);
    p->buf = NULL;
    p->len = 0;
    if (n == 0 || path[0] != '/')
        return -FS_EINVAL;
    if (n >= PATH_MAX_LEN)
        return -FS_ENAMETOOLONG;
    char *out = fs_alloc(n + 1);
    if (!out)
        return -FS_ENOMEM;
    uint32_t len = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && path[i] == '/')
            i++;
        size_t s = i;
        while (i < n && path[i] != '/')
            i++;
        size_t c = i - s;
        if (c == 0 || (c == 1 && path[s] == '.'))
            continue;
        if (c == 2 && path[s] == '.' && path[s + 1] == '.') {
            if (len == 0) {
                fs_free(out);
                return -FS_EINVAL;      /* would leave the root */
            }
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;                  /* the '/' before it */
            continue;
        }
        if (c > EXT2_NAME_MAX) {
            fs_free(out);
            return -FS_ENAMETOOLONG;
        }
        if (len)
            out[len++] = '/';
        memcpy(out + len, path + s, c);
        len += (uint32_t)c;
    }
    out[len] = 0;
    p->buf = out;
    p->len = len;
    return 0;
}

void ext2_path_free(struct ext2_path *p)
{
    fs_free(p->buf);
    p->buf = NULL;
}

/* Walks the normalized path s[0..len) from the root. */
int ext2_walk(struct ext2_fs *fs, const char *s, uint32_t len, uint32_t *ino)
{
    uint32_t cur = EXT2_ROOT_INO;
    struct ext2_inode in;
    for (uint32_t i = 0; i < len;) {
        uint32_t e = i;
        while (e < len && s[e] != '/')
            e++;
        int r = ext2_iget(fs, cur, &in);
        if (r)
            return r;
        if (in.i_links_count == 0 || in.i_mode == 0)
            return -FS_EUCLEAN;     /* entry names a free inode */
        r = ext2_dir_lookup(fs, &in, s + i, e - i, &cur);
        if (r)
            return r;
        i = e + 1;
    }
    if (cur != EXT2_ROOT_INO) {
        int r = ext2_iget(fs, cur, &in);
        if (r)
            return r;
        if (in.i_links_count == 0 || in.i_mode == 0)
            return -FS_EUCLEAN;
    }
    *ino = cur;
    return 0;
}

int ext2_walk_parent(struct ext2_fs *fs, const struct ext2_path *p, uint32_t *parent,
                     const char **name, uint32_t *name_len)
{
    if (p->len == 0)
        return -FS_EINVAL;      /* the root has no parent entry */
    uint32_t slash = p->len;
    while (slash > 0 && p->buf[slash - 1] != '/')
        slash--;
    *name = p->buf + slash;
    *name_len = p->len - slash;
    int r = ext2_walk(fs, p->buf, slash ? slash - 1 : 0, parent);
    if (r)
        return r;
    struct ext2_inode in;
    r = ext2_iget(fs, *parent, &in);
    if (r)
        return r;
    return (in.i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR ? 0 : -FS_ENOTDIR;
}
