/* ncpfs_nodes.c - inode number -> (parent, name) table (see ncpfs_nodes.h). */
#include "client/ncpfs_nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROOT_INO 1u             /* FUSE_ROOT_ID */

static size_t ino_bucket(uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 50) % NODES_BUCKETS;
}

static size_t name_bucket(uint64_t parent, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ parent;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % NODES_BUCKETS);
}

static struct node *find_ino(struct nodes *t, uint64_t ino)
{
    struct node *n = t->by_ino[ino_bucket(ino)];
    while (n && n->ino != ino) n = n->ino_next;
    return n;
}

static struct node *find_name(struct nodes *t, uint64_t parent, const char *name)
{
    struct node *n = t->by_name[name_bucket(parent, name)];
    while (n && (n->parent != parent || strcmp(n->name, name))) n = n->name_next;
    return n;
}

static void maybe_free(struct nodes *t, struct node *n);

/* Takes n off its name (it keeps its number while the kernel knows it). */
static void detach(struct nodes *t, struct node *n)
{
    if (!n->name) return;
    struct node **pp = &t->by_name[name_bucket(n->parent, n->name)];
    while (*pp != n) pp = &(*pp)->name_next;
    *pp = n->name_next;
    free(n->name);
    n->name = NULL;
    struct node *p = find_ino(t, n->parent);
    n->parent = 0;
    if (p) {
        p->children--;
        maybe_free(t, p);
    }
}

static void maybe_free(struct nodes *t, struct node *n)
{
    if (n->ino == ROOT_INO || n->nlookup || n->children) return;
    detach(t, n);
    struct node **pp = &t->by_ino[ino_bucket(n->ino)];
    while (*pp != n) pp = &(*pp)->ino_next;
    *pp = n->ino_next;
    t->count--;
    free(n);
}

/* Names n as `name` in `parent` (n detached); false if out of memory. */
static bool attach(struct nodes *t, struct node *n, uint64_t parent, const char *name)
{
    struct node *p = find_ino(t, parent);
    if (!p) return false;
    n->name = strdup(name);
    if (!n->name) return false;
    n->parent = parent;
    size_t b = name_bucket(parent, name);
    n->name_next = t->by_name[b];
    t->by_name[b] = n;
    p->children++;
    return true;
}

static struct node *new_node(struct nodes *t, uint64_t ino)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->ino = ino;
    size_t b = ino_bucket(ino);
    n->ino_next = t->by_ino[b];
    t->by_ino[b] = n;
    t->count++;
    return n;
}

void nodes_init(struct nodes *t, uint32_t root_sino)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->root_sino = root_sino;
    struct node *root = new_node(t, ROOT_INO);
    if (root) root->nlookup = 1;
}

void nodes_destroy(struct nodes *t)
{
    for (size_t b = 0; b < NODES_BUCKETS; b++) {
        struct node *n = t->by_ino[b];
        while (n) {
            struct node *next = n->ino_next;
            free(n->name);
            free(n);
            n = next;
        }
        t->by_ino[b] = NULL;
        t->by_name[b] = NULL;
    }
    t->count = 0;
}

uint64_t nodes_fuse_ino(const struct nodes *t, uint32_t sino)
{
    if (sino == t->root_sino) return ROOT_INO;
    if (sino == ROOT_INO) return t->root_sino;
    return sino;
}

uint32_t nodes_server_ino(const struct nodes *t, uint64_t ino)
{
    if (ino == ROOT_INO) return t->root_sino;
    if (ino == t->root_sino) return ROOT_INO;
    return (uint32_t)ino;
}

static int path_locked(struct nodes *t, uint64_t ino, char *buf, size_t cap)
{
    /* Built backwards from the end of buf, then moved to the front. */
    size_t pos = cap - 1;
    buf[pos] = '\0';
    struct node *n = find_ino(t, ino);
    if (!n) return -ESTALE;
    while (n->ino != ROOT_INO) {
        if (!n->name) return -ESTALE;
        size_t len = strlen(n->name);
        if (len + 1 > pos) return -ENAMETOOLONG;
        pos -= len;
        memcpy(buf + pos, n->name, len);
        buf[--pos] = '/';
        n = find_ino(t, n->parent);
        if (!n) return -ESTALE;
    }
    if (pos == cap - 1) buf[--pos] = '/';
    memmove(buf, buf + pos, cap - pos);
    return 0;
}

int nodes_path(struct nodes *t, uint64_t ino, char *buf, size_t cap)
{
    pthread_mutex_lock(&t->lock);
    int r = path_locked(t, ino, buf, cap);
    pthread_mutex_unlock(&t->lock);
    return r;
}

int nodes_child_path(struct nodes *t, uint64_t parent, const char *name, char *buf, size_t cap)
{
    int r = nodes_path(t, parent, buf, cap);
    if (r) return r;
    size_t len = strlen(buf), nlen = strlen(name);
    if (len == 1) len = 0;                      /* the root: "/" + name */
    if (len + 1 + nlen + 1 > cap) return -ENAMETOOLONG;
    buf[len] = '/';
    memcpy(buf + len + 1, name, nlen + 1);
    return 0;
}

uint64_t nodes_remember(struct nodes *t, uint64_t parent, const char *name, uint32_t sino)
{
    uint64_t ino = nodes_fuse_ino(t, sino);
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (!n) n = new_node(t, ino);
    if (!n) {
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    n->nlookup++;                               /* first: keeps n alive through detaches */
    if (ino != ROOT_INO && (!n->name || n->parent != parent || strcmp(n->name, name))) {
        struct node *old = find_name(t, parent, name);
        if (old && old != n) detach(t, old);    /* that name now holds another file */
        detach(t, n);                           /* no hard links: one name per inode */
        attach(t, n, parent, name);             /* out of memory: stays detached */
    }
    pthread_mutex_unlock(&t->lock);
    return ino;
}

void nodes_forget(struct nodes *t, uint64_t ino, uint64_t count)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (n) {
        n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
        maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

void nodes_unlink(struct nodes *t, uint64_t parent, const char *name)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_name(t, parent, name);
    if (n) {
        n->nlookup++;                           /* hold it across detach */
        detach(t, n);
        n->nlookup--;
        maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

void nodes_rename(struct nodes *t, uint64_t op, const char *oname, uint64_t np, const char *nname)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_name(t, op, oname);
    struct node *old = find_name(t, np, nname);
    if (n) n->nlookup++;                        /* hold it across the detaches */
    if (old && old != n) {
        old->nlookup++;
        detach(t, old);
        old->nlookup--;
        maybe_free(t, old);
    }
    if (n && old != n) {
        detach(t, n);
        attach(t, n, np, nname);
    }
    if (n) {
        n->nlookup--;
        maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

bool nodes_keep_cache(struct nodes *t, uint64_t ino, uint64_t size, uint32_t mtime, uint32_t ctime)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    bool keep = false;
    if (n) {
        keep = n->cache_known && n->size == size && n->mtime == mtime && n->ctime == ctime;
        n->cache_known = true;
        n->size = size;
        n->mtime = mtime;
        n->ctime = ctime;
    }
    pthread_mutex_unlock(&t->lock);
    return keep;
}
