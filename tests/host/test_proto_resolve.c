/* test_proto_resolve.c - the engine's path resolution (server/ncp_resolve.c) over the memory
 * fs, called directly: symlinks followed inside the volume only, the physical path handed to
 * the file system, ".." clamped at the root, the loop limit, the length bounds, search
 * permission on every directory walked (the target's too), and ncp_walk_parent's rewrite. */
#include "server/ncp_server_internal.h"
#include "server/ncp_memfs.h"
#include "fs/fs_errno.h"
#include "test_proto_check.h"

static struct ncp_memfs *fs;
static const struct ncp_vfs_ops *V = &ncp_memfs_ops;
static struct ncp_ident user = { 1000, 1000, 0, { 0 }, false };
static struct ncp_ident admin = { 0, 0, 0, { 0 }, true };
static struct ncp_resolved res;

static int mk(const char *path, uint16_t mode, uint32_t uid)
{
    int e = V->mkdir(fs, path, mode, uid, uid);
    return e;
}

static int ln_s(const char *target, const char *path)
{
    return V->symlink(fs, path, target, (uint32_t)strlen(target), 1000, 1000, NULL);
}

static int resolve(const struct ncp_ident *id, const char *path, unsigned flags)
{
    return ncp_resolve(V, fs, id, path, flags, &res);
}

static void setup(void)
{
    fs = ncp_memfs_create(16 << 20, 4096);
    ncp_memfs_chattr(fs, "/", 0755, 0, 0);
    mk("/a", 0755, 1000);
    mk("/a/b", 0755, 1000);
    mk("/a/b/c", 0755, 1000);
    ncp_memfs_put(fs, "/a/b/c/f", "data", 4);
    ncp_memfs_chattr(fs, "/a/b/c/f", 0644, 1000, 1000);
    mk("/private", 0700, 0);
    ncp_memfs_put(fs, "/private/secret", "s", 1);
    ncp_memfs_chattr(fs, "/private/secret", 0644, 0, 0);
    ln_s("b", "/a/rel");                        /* /a/rel -> /a/b */
    ln_s("/a/b/c", "/abs");
    ln_s("../../../../../../..", "/a/b/up");    /* climbs past the root */
    ln_s("../private/secret", "/a/spy");
    ln_s("/private", "/spyd");
    ln_s("self", "/self");
    ln_s("nowhere", "/dangling");
    ln_s("nodir/x", "/dangling2");
    ln_s("c/f", "/a/b/tofile");
}

static void test_follow_and_physical_path(void)
{
    uint32_t f;
    CHECK_EQ(resolve(&user, "/a/b/c/f", NCP_RESOLVE_FOLLOW), NCP_OK);
    f = res.ino;
    CHECK(!strcmp(res.path, "/a/b/c/f"));
    CHECK_EQ(resolve(&user, "/a/rel/c/f", 0), NCP_OK);
    CHECK_EQ(res.ino, f);
    CHECK(!strcmp(res.path, "/a/b/c/f"));       /* no symlink in what the fs is given */
    CHECK_EQ(resolve(&user, "/abs/f", 0), NCP_OK);
    CHECK(!strcmp(res.path, "/a/b/c/f"));
    /* a final symlink: followed or not */
    CHECK_EQ(resolve(&user, "/a/rel", 0), NCP_OK);
    CHECK_EQ(res.st.type, NCP_FT_SYMLINK);
    CHECK(!strcmp(res.path, "/a/rel"));
    CHECK_EQ(resolve(&user, "/a/rel", NCP_RESOLVE_FOLLOW), NCP_OK);
    CHECK_EQ(res.st.type, NCP_FT_DIR);
    CHECK(!strcmp(res.path, "/a/b"));
    CHECK_EQ(resolve(&user, "/a/b/tofile", NCP_RESOLVE_FOLLOW), NCP_OK);
    CHECK_EQ(res.ino, f);
    CHECK_EQ(resolve(&user, "/a/b/tofile/x", 0), NCP_E_NOTDIR);
    CHECK_EQ(resolve(&user, "/a/b/c/f/x", 0), NCP_E_NOTDIR);
    CHECK_EQ(resolve(&user, "/", 0), NCP_OK);
    CHECK(!strcmp(res.path, "/"));
}

static void test_dotdot_stops_at_root(void)
{
    uint32_t root;
    CHECK_EQ(resolve(&user, "/", 0), NCP_OK);
    root = res.ino;
    CHECK_EQ(resolve(&user, "/a/b/up", NCP_RESOLVE_FOLLOW), NCP_OK);
    CHECK_EQ(res.ino, root);
    CHECK(!strcmp(res.path, "/"));
    CHECK_EQ(resolve(&user, "/a/b/up/a/b/c/f", 0), NCP_OK);
    CHECK(!strcmp(res.path, "/a/b/c/f"));
    CHECK_EQ(ln_s("/../../a/./b//c/../c/f", "/odd"), 0);
    CHECK_EQ(resolve(&user, "/odd", NCP_RESOLVE_FOLLOW), NCP_OK);
    CHECK(!strcmp(res.path, "/a/b/c/f"));
}

static void test_search_permission_on_targets(void)
{
    CHECK_EQ(resolve(&user, "/a/spy", NCP_RESOLVE_FOLLOW), NCP_E_ACCES);
    CHECK_EQ(resolve(&user, "/a/spy", 0), NCP_OK);        /* the link itself is reachable */
    CHECK_EQ(resolve(&user, "/spyd/secret", 0), NCP_E_ACCES);
    CHECK_EQ(resolve(&user, "/spyd/nothing", 0), NCP_E_ACCES);   /* not even "it is not there" */
    CHECK_EQ(resolve(&admin, "/a/spy", NCP_RESOLVE_FOLLOW), NCP_OK);
    CHECK(!strcmp(res.path, "/private/secret"));
    char p[NCP_PATH_MAX + 2] = "/spyd/new";
    uint32_t dir, nlen;
    struct ncp_stat dst;
    const char *name;
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &name, &nlen), NCP_E_ACCES);
    CHECK_EQ(ncp_walk_parent(V, fs, &admin, p, &dir, &dst, &name, &nlen), NCP_OK);
    CHECK(!strcmp(p, "/private/new"));
}

static void test_loops_and_the_limit(void)
{
    char path[32], target[32];
    CHECK_EQ(resolve(&user, "/self", NCP_RESOLVE_FOLLOW), NCP_E_LOOP);
    CHECK_EQ(resolve(&user, "/self/x", 0), NCP_E_LOOP);
    CHECK_EQ(resolve(&user, "/self", 0), NCP_OK);
    /* l0 -> l1 -> ... -> l40 -> /a/b/c/f */
    for (int i = 0; i <= NCP_SYMLOOP_MAX; i++) {
        snprintf(path, sizeof path, "/l%d", i);
        if (i < NCP_SYMLOOP_MAX) snprintf(target, sizeof target, "l%d", i + 1);
        else strcpy(target, "a/b/c/f");
        CHECK_EQ(ln_s(target, path), 0);
    }
    CHECK_EQ(resolve(&user, "/l1", NCP_RESOLVE_FOLLOW), NCP_OK);     /* 40 links */
    CHECK(!strcmp(res.path, "/a/b/c/f"));
    CHECK_EQ(resolve(&user, "/l0", NCP_RESOLVE_FOLLOW), NCP_E_LOOP); /* 41 */
    CHECK_EQ(resolve(&user, "/l0", 0), NCP_OK);
}

static void test_missing_last_component(void)
{
    CHECK_EQ(resolve(&user, "/dangling", NCP_RESOLVE_FOLLOW), NCP_E_NOENT);
    CHECK(res.missing);
    CHECK(!strcmp(res.path, "/nowhere"));
    CHECK_EQ(res.name_len, 7);
    CHECK(!memcmp(res.name, "nowhere", 7));
    CHECK_EQ(resolve(&user, "/dangling2", NCP_RESOLVE_FOLLOW), NCP_E_NOENT);
    CHECK(!res.missing);                        /* a directory on the way is missing */
    CHECK_EQ(resolve(&user, "/a/rel/new", 0), NCP_E_NOENT);
    CHECK(res.missing);
    CHECK(!strcmp(res.path, "/a/b/new"));
}

static void test_walk_parent_rewrites(void)
{
    char p[NCP_PATH_MAX + 2];
    uint32_t dir, nlen;
    struct ncp_stat dst;
    const char *name;
    strcpy(p, "/a/rel/c/g");
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &name, &nlen), NCP_OK);
    CHECK(!strcmp(p, "/a/b/c/g"));
    CHECK_EQ(nlen, 1);
    CHECK(name == p + 7);
    strcpy(p, "/a/b/up/x");                     /* the parent is the root */
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &name, &nlen), NCP_OK);
    CHECK(!strcmp(p, "/x"));
    strcpy(p, "/a/rel");                        /* the last component is never followed */
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &name, &nlen), NCP_OK);
    CHECK(!strcmp(p, "/a/rel"));
    strcpy(p, "/");
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &name, &nlen), NCP_E_INVAL);
    strcpy(p, "/a/b/tofile/x");
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &name, &nlen), NCP_E_NOTDIR);
}

/* A physical path longer than NCP_PATH_MAX (reached through a link) is NAMETOOLONG, never
 * an overrun; a long target spliced in front of a long rest still resolves. */
static void test_length_bounds(void)
{
    char name[251], deep[NCP_PATH_MAX * 2], target[NCP_SYMLINK_MAX + 1];
    memset(name, 'n', 250);
    name[250] = 0;
    deep[0] = 0;
    for (int i = 0; i < 4; i++) {               /* /nnn.../nnn... 4 x 251 = 1004 bytes */
        strcat(deep, "/");
        strcat(deep, name);
        CHECK_EQ(mk(deep, 0755, 1000), 0);
    }
    CHECK_EQ(ln_s(deep, "/deep"), 0);
    CHECK_EQ(resolve(&user, "/deep", NCP_RESOLVE_FOLLOW), NCP_OK);
    CHECK_EQ(strlen(res.path), 1004);
    strcat(deep, "/");
    strcat(deep, name);                          /* 1255 bytes: made below the engine */
    CHECK_EQ(mk(deep, 0755, 1000), 0);
    snprintf(target, sizeof target, "/deep/%s", name);
    CHECK_EQ(resolve(&user, target, 0), NCP_E_NAMETOOLONG);
    char p[NCP_PATH_MAX + 2];
    uint32_t dir, nlen;
    struct ncp_stat dst;
    const char *last;
    snprintf(p, sizeof p, "/deep/x%.*s", 30, name);
    CHECK_EQ(ncp_walk_parent(V, fs, &user, p, &dir, &dst, &last, &nlen), NCP_E_NAMETOOLONG);
    CHECK(!strncmp(p, "/deep/x", 7));          /* left as it was */
    /* a 1023-byte target of "./" steps, followed in the middle of a path */
    size_t n = 0;
    while (n + 2 < NCP_SYMLINK_MAX - 6) { target[n++] = '.'; target[n++] = '/'; }
    memcpy(target + n, "a/b/c", 5);
    n += 5;
    while (n < NCP_SYMLINK_MAX) target[n++] = '/';
    target[n] = 0;
    CHECK_EQ(strlen(target), NCP_SYMLINK_MAX);
    CHECK_EQ(ln_s(target, "/longlink"), 0);
    CHECK_EQ(resolve(&user, "/longlink/f", 0), NCP_OK);
    CHECK(!strcmp(res.path, "/a/b/c/f"));
}

int main(void)
{
    setup();
    RUN(test_follow_and_physical_path);
    RUN(test_dotdot_stops_at_root);
    RUN(test_search_permission_on_targets);
    RUN(test_loops_and_the_limit);
    RUN(test_missing_last_component);
    RUN(test_walk_parent_rewrites);
    RUN(test_length_bounds);
    ncp_memfs_destroy(fs);
    DONE();
}
