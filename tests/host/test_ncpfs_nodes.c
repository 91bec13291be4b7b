/* test_ncpfs_nodes.c - the mount's inode table (client/ncpfs_nodes.c) under ASan + UBSan:
 * paths by walking up, renames carrying subtrees, hard-linked files reached by their other
 * names when one goes, a directory found under a new name losing the old one, the per-node
 * name limit, and every node freed once the kernel forgets it. */
#include "client/ncpfs_nodes.h"
#include "tests/host/test_harness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct nodes t;
static char buf[256];

static const char *path(uint64_t ino)
{
    int e = nodes_path(&t, ino, buf, sizeof buf);
    if (e)
        snprintf(buf, sizeof buf, "error %d", e);
    return buf;
}

static void fresh(void)
{
    nodes_destroy(&t);
    nodes_init(&t, 2);                          /* ext2's root is inode 2 */
}

static void test_paths_and_subtree_rename(void)
{
    fresh();
    uint64_t d = nodes_remember(&t, 1, "d", 20, false);
    uint64_t f = nodes_remember(&t, d, "f", 21, false);
    CHECK_EQ(strcmp(path(f), "/d/f"), 0);
    uint64_t e = nodes_remember(&t, 1, "e", 22, false);
    nodes_rename(&t, 1, "d", e, "moved");
    CHECK_EQ(strcmp(path(f), "/e/moved/f"), 0);
    CHECK_EQ(strcmp(path(1), "/"), 0);
}

/* The bug this table had: one name per inode, so removing the name last looked up left a
 * file with another link unreachable (ESTALE) though it still exists. */
static void test_hard_link_reached_by_other_name(void)
{
    fresh();
    uint64_t a = nodes_remember(&t, 1, "a", 30, false);
    uint64_t b = nodes_remember(&t, 1, "b", 30, true);   /* ln a b: nlink 2 */
    CHECK_EQ(a, b);
    CHECK_EQ(strcmp(path(a), "/b"), 0);                   /* the latest name */
    nodes_unlink(&t, 1, "b");
    CHECK_EQ(strcmp(path(a), "/a"), 0);
    nodes_unlink(&t, 1, "a");
    CHECK_EQ(nodes_path(&t, a, buf, sizeof buf), -ESTALE);
    nodes_forget(&t, a, 2);
    CHECK_EQ(t.count, 1);                                 /* only the root is left */
}

static void test_rename_between_links_changes_nothing(void)
{
    fresh();
    uint64_t a = nodes_remember(&t, 1, "a", 30, true);
    nodes_remember(&t, 1, "b", 30, true);
    nodes_rename(&t, 1, "a", 1, "b");                     /* POSIX: a no-op */
    nodes_unlink(&t, 1, "b");
    CHECK_EQ(strcmp(path(a), "/a"), 0);
}

static void test_rename_over_other_file(void)
{
    fresh();
    uint64_t x = nodes_remember(&t, 1, "x", 40, false);
    uint64_t y = nodes_remember(&t, 1, "y", 41, false);
    nodes_rename(&t, 1, "x", 1, "y");
    CHECK_EQ(strcmp(path(x), "/y"), 0);
    CHECK_EQ(nodes_path(&t, y, buf, sizeof buf), -ESTALE);  /* detached, still known */
    nodes_forget(&t, y, 1);
    nodes_forget(&t, x, 1);
    CHECK_EQ(t.count, 1);
}

/* A directory renamed by another client is found under its new name: the old one goes. */
static void test_directory_keeps_one_name(void)
{
    fresh();
    uint64_t d = nodes_remember(&t, 1, "old", 50, false);
    CHECK_EQ(nodes_remember(&t, 1, "new", 50, false), d);
    CHECK_EQ(strcmp(path(d), "/new"), 0);
    uint64_t other = nodes_remember(&t, 1, "old", 51, false);   /* a new file under the old name */
    CHECK(other != d);
    CHECK_EQ(strcmp(path(d), "/new"), 0);
    CHECK_EQ(strcmp(path(other), "/old"), 0);
}

static struct node *node_of(uint64_t ino)
{
    for (size_t b = 0; b < NODES_BUCKETS; b++)
        for (struct node *n = t.by_ino[b]; n; n = n->ino_next)
            if (n->ino == ino)
                return n;
    return NULL;
}

/* A file with many links keeps its NODE_NAMES_MAX latest names (a memory limit per node). */
static void test_names_per_node_limited(void)
{
    fresh();
    enum { LINKS = 3 * NODE_NAMES_MAX };
    uint64_t ino = 0;
    char name[16];
    for (int i = 0; i < LINKS; i++) {
        snprintf(name, sizeof name, "l%d", i);
        ino = nodes_remember(&t, 1, name, 60, true);
    }
    struct node *n = node_of(ino);
    CHECK(n != NULL);
    CHECK_EQ(n->nnames, NODE_NAMES_MAX);
    CHECK_EQ(strcmp(path(ino), "/l23"), 0);
    for (int i = LINKS - NODE_NAMES_MAX; i < LINKS - 1; i++) {   /* drop all kept but the oldest */
        snprintf(name, sizeof name, "l%d", i + 1);
        nodes_unlink(&t, 1, name);
    }
    snprintf(name, sizeof name, "/l%d", LINKS - NODE_NAMES_MAX);
    CHECK_EQ(strcmp(path(ino), name), 0);
    nodes_unlink(&t, 1, name + 1);
    CHECK_EQ(nodes_path(&t, ino, buf, sizeof buf), -ESTALE);  /* the older names were not kept */
    nodes_forget(&t, ino, LINKS);
    CHECK_EQ(t.count, 1);
}

int main(void)
{
    nodes_init(&t, 2);
    RUN(test_paths_and_subtree_rename);
    RUN(test_hard_link_reached_by_other_name);
    RUN(test_rename_between_links_changes_nothing);
    RUN(test_rename_over_other_file);
    RUN(test_directory_keeps_one_name);
    RUN(test_names_per_node_limited);
    nodes_destroy(&t);
    DONE();
}
