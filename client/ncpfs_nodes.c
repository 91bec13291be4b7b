/* ncpfs_nodes.c - inode number -> (parent, name) pairs (see ncpfs_nodes.h). */
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

static struct node_name *find_name(struct nodes *t, uint64_t parent, const char *name)
{
    struct node_name *m = t->by_name[name_bucket(parent, name)];
    while (m && (m->parent != parent || strcmp(m->name, name))) m = m->bucket_next;
    return m;
}

static void maybe_free(struct nodes *t, struct node *n);

/* Takes name m off its node (the node keeps its number while the kernel knows it). */
static void drop_name(struct nodes *t, struct node_name *m)
{
    struct node_name **pp = &t->by_name[name_bucket(m->parent, m->name)];
    while (*pp != m) pp = &(*pp)->bucket_next;
    *pp = m->bucket_next;
    struct node *n = m->node;
    for (pp = &n->names; *pp != m; pp = &(*pp)->alias_next) {}
    *pp = m->alias_next;
    n->nnames--;
    struct node *p = find_ino(t, m->parent);
    free(m->name);
    free(m);
    if (p) {
        p->children--;
        maybe_free(t, p);
    }
}

/* Takes every name off n. */
static void detach(struct nodes *t, struct node *n)
{
    while (n->names) drop_name(t, n->names);
}

/* Drops name m, and its node too if nothing holds it any more. */
static void drop_name_and_maybe_node(struct nodes *t, struct node_name *m)
{
    struct node *n = m->node;
    n->nlookup++;                               /* hold it across the drop */
    drop_name(t, m);
    n->nlookup--;
    maybe_free(t, n);
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

/* Gives n the name `name` in `parent`, first among its names; false if out of memory. */
static bool attach(struct nodes *t, struct node *n, uint64_t parent, const char *name)
{
    struct node *p = find_ino(t, parent);
    if (!p) return false;
    struct node_name *m = calloc(1, sizeof *m);
    if (!m) return false;
    m->name = strdup(name);
    if (!m->name) {
        free(m);
        return false;
    }
    m->parent = parent;
    m->node = n;
    size_t b = name_bucket(parent, name);
    m->bucket_next = t->by_name[b];
    t->by_name[b] = m;
    m->alias_next = n->names;
    n->names = m;
    n->nnames++;
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
        struct node_name *m = t->by_name[b];
        while (m) {
            struct node_name *next = m->bucket_next;
            free(m->name);
            free(m);
            m = next;
        }
        struct node *n = t->by_ino[b];
        while (n) {
            struct node *next = n->ino_next;
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
        const struct node_name *m = n->names;   /* the latest name */
        if (!m) return -ESTALE;
        size_t len = strlen(m->name);
        if (len + 1 > pos) return -ENAMETOOLONG;
        pos -= len;
        memcpy(buf + pos, m->name, len);
        buf[--pos] = '/';
        n = find_ino(t, m->parent);
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

uint64_t nodes_remember(struct nodes *t, uint64_t parent, const char *name, uint32_t sino, bool linked)
{
    uint64_t ino = nodes_fuse_ino(t, sino);
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (!n) n = new_node(t, ino);
    if (!n) {
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    n->nlookup++;                               /* first: keeps n alive through the drops */
    struct node_name *m = ino == ROOT_INO ? NULL : find_name(t, parent, name);
    if (ino != ROOT_INO && (!m || m->node != n)) {
        if (m) drop_name_and_maybe_node(t, m);  /* that name now holds another file */
        if (!linked) detach(t, n);              /* one link: its old name is gone */
        while (n->nnames >= NODE_NAMES_MAX) {   /* keep the latest names */
            struct node_name *last = n->names;
            while (last->alias_next) last = last->alias_next;
            drop_name(t, last);
        }
        attach(t, n, parent, name);             /* out of memory: the old names stay */
    } else if (m && m != n->names) {            /* found again: it becomes the latest */
        struct node_name **pp = &n->names;
        while (*pp != m) pp = &(*pp)->alias_next;
        *pp = m->alias_next;
        m->alias_next = n->names;
        n->names = m;
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
    struct node_name *m = find_name(t, parent, name);
    if (m) drop_name_and_maybe_node(t, m);
    pthread_mutex_unlock(&t->lock);
}

void nodes_rename(struct nodes *t, uint64_t op, const char *oname, uint64_t np, const char *nname)
{
    pthread_mutex_lock(&t->lock);
    struct node_name *m = find_name(t, op, oname);
    struct node_name *old = find_name(t, np, nname);
    if (m && old && old->node == m->node) {     /* two names of one file: nothing changes */
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (old) drop_name_and_maybe_node(t, old);
    if (m) {
        struct node *n = m->node;
        n->nlookup++;                           /* hold it across the drop */
        drop_name(t, m);
        attach(t, n, np, nname);
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
