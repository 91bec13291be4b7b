/* Random operations on ext2 checked against an in-memory model of the tree.
 * Seeded and reproducible (FS_MODEL_SEED=n overrides the seed, FS_MODEL_STEPS
 * the step count).  Every few hundred steps the image is unmounted and
 * `e2fsck -fn` must find nothing; at the end debugfs must see the model. */
#include "fs/ext2.h"
#include "fs/ext2_format.h"
#include "fs/fs_errno.h"
#include "fs_port_host.h"
#include "fs_test.h"
#include "fs_testfs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wformat-truncation"  /* paths are bounded by the model */

#define MAXN 600
#define MAX_TOTAL (12u << 20)

struct mnode {
    bool used, dir;
    char path[1500];        /* "" is the root */
    uint8_t *data;
    size_t size;
};

static struct mnode nodes[MAXN];
static size_t total_bytes;
static uint64_t seed;
static char *tmpdir;
static char img[600];
static struct fsimg m;
static unsigned name_counter;

static void model_reset(void)
{
    for (int i = 0; i < MAXN; i++) {
        free(nodes[i].data);
        memset(&nodes[i], 0, sizeof nodes[i]);
    }
    nodes[0].used = nodes[0].dir = true;
    total_bytes = 0;
}

static struct mnode *model_find(const char *path)
{
    for (int i = 0; i < MAXN; i++)
        if (nodes[i].used && !strcmp(nodes[i].path, path))
            return &nodes[i];
    return NULL;
}

static struct mnode *model_new(const char *path, bool dir)
{
    for (int i = 1; i < MAXN; i++)
        if (!nodes[i].used) {
            memset(&nodes[i], 0, sizeof nodes[i]);
            nodes[i].used = true;
            nodes[i].dir = dir;
            snprintf(nodes[i].path, sizeof nodes[i].path, "%s", path);
            return &nodes[i];
        }
    return NULL;
}

static void model_del(struct mnode *n)
{
    total_bytes -= n->size;
    free(n->data);
    memset(n, 0, sizeof *n);
}

static int model_count(void)
{
    int c = 0;
    for (int i = 0; i < MAXN; i++)
        c += nodes[i].used;
    return c;
}

/* A random used node: dirs only, files only, or any (root excluded unless
 * want_dir). */
static struct mnode *model_pick(int kind /* 0 any, 1 dir, 2 file */, bool allow_root)
{
    int cand[MAXN], n = 0;
    for (int i = allow_root ? 0 : 1; i < MAXN; i++)
        if (nodes[i].used && (kind == 0 || (kind == 1) == nodes[i].dir))
            cand[n++] = i;
    return n ? &nodes[cand[ft_rand(&seed) % n]] : NULL;
}

static bool model_has_children(const struct mnode *d)
{
    size_t l = strlen(d->path);
    for (int i = 1; i < MAXN; i++)
        if (nodes[i].used && &nodes[i] != d && !strncmp(nodes[i].path, d->path, l) &&
            nodes[i].path[l] == '/')
            return true;
    return false;
}

static void new_name(char *buf, size_t cap)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_-.";
    unsigned len = ft_rand(&seed) % 10 == 0 ? 100 + ft_rand(&seed) % 150 : 1 + ft_rand(&seed) % 12;
    int n = snprintf(buf, cap, "%u", name_counter++);
    for (unsigned i = (unsigned)n; i < len && i + 1 < cap; i++)
        buf[n++] = chars[ft_rand(&seed) % (sizeof chars - 1)];
    buf[n] = 0;
}

static void fs_path(const struct mnode *n, char *out, size_t cap)
{
    snprintf(out, cap, "/%s", n->path);
}

/* ---- steps -------------------------------------------------------------------- */

static int step_create(bool dir)
{
    struct mnode *parent = model_pick(1, true);
    char name[300], path[1400], fp[1500];
    new_name(name, sizeof name);
    snprintf(path, sizeof path, "%s%s%s", parent->path, parent->path[0] ? "/" : "", name);
    if (strlen(path) > 900 || model_count() >= MAXN - 2)
        return 0;
    snprintf(fp, sizeof fp, "/%s", path);
    uint32_t ino;
    int r = dir ? ext2_mkdir(m.fs, fp, 0755) : ext2_create(m.fs, fp, 0644, &ino);
    REQUIRE(r == 0, "%s %s: %d", dir ? "mkdir" : "create", fp, r);
    model_new(path, dir);
    /* again: must exist now */
    r = dir ? ext2_mkdir(m.fs, fp, 0755) : ext2_create(m.fs, fp, 0644, &ino);
    REQUIRE(r == -FS_EEXIST, "second create %s: %d", fp, r);
    return 0;
}

static int step_write(void)
{
    struct mnode *f = model_pick(2, false);
    char fp[1600];
    if (!f)
        return 0;
    size_t off = ft_rand(&seed) % (f->size + 6000);
    if (ft_rand(&seed) % 20 == 0)
        off = f->size + ft_rand(&seed) % (600 * 1024);  /* leave a hole */
    size_t len = 1 + ft_rand(&seed) % 20000;
    size_t end = off + len;
    if (end > f->size && total_bytes + (end - f->size) > MAX_TOTAL)
        return 0;
    uint8_t *buf = malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)ft_rand(&seed);
    uint32_t ino;
    fs_path(f, fp, sizeof fp);
    REQUIRE(ext2_lookup(m.fs, fp, &ino) == 0, "lookup %s", fp);
    int64_t r = ext2_write(m.fs, ino, off, buf, len);
    REQUIRE(r == (int64_t)len, "write %s at %zu len %zu: %lld", fp, off, len, (long long)r);
    if (end > f->size) {
        f->data = realloc(f->data, end);
        memset(f->data + f->size, 0, end - f->size);
        total_bytes += end - f->size;
        f->size = end;
    }
    memcpy(f->data + off, buf, len);
    free(buf);
    return 0;
}

static int step_truncate(void)
{
    struct mnode *f = model_pick(2, false);
    char fp[1600];
    if (!f)
        return 0;
    size_t ns = ft_rand(&seed) % (f->size + f->size / 2 + 3000);
    if (ns > f->size && total_bytes + (ns - f->size) > MAX_TOTAL)
        return 0;
    uint32_t ino;
    fs_path(f, fp, sizeof fp);
    REQUIRE(ext2_lookup(m.fs, fp, &ino) == 0, "lookup %s", fp);
    int r = ext2_truncate(m.fs, ino, ns);
    REQUIRE(r == 0, "truncate %s to %zu: %d", fp, ns, r);
    if (ns > f->size) {
        f->data = realloc(f->data, ns);
        memset(f->data + f->size, 0, ns - f->size);
    }
    total_bytes = total_bytes - f->size + ns;
    f->size = ns;
    return 0;
}

static int step_remove(void)
{
    struct mnode *n = model_pick(0, false);
    char fp[1600];
    if (!n)
        return 0;
    fs_path(n, fp, sizeof fp);
    if (n->dir) {
        int want = model_has_children(n) ? -FS_ENOTEMPTY : 0;
        REQUIRE(ext2_unlink(m.fs, fp) == -FS_EISDIR, "unlink dir %s", fp);
        int r = ext2_rmdir(m.fs, fp);
        REQUIRE(r == want, "rmdir %s: %d want %d", fp, r, want);
        if (want == 0)
            model_del(n);
    } else {
        REQUIRE(ext2_rmdir(m.fs, fp) == -FS_ENOTDIR, "rmdir file %s", fp);
        int r = ext2_unlink(m.fs, fp);
        REQUIRE(r == 0, "unlink %s: %d", fp, r);
        model_del(n);
    }
    uint32_t ino;
    if (!model_find(fp + 1)) {
        int r = ext2_lookup(m.fs, fp, &ino);
        REQUIRE(r == -FS_ENOENT, "lookup removed %s: %d", fp, r);
    }
    return 0;
}

static int step_rename(void)
{
    struct mnode *src = model_pick(0, false);
    if (!src)
        return 0;
    char to[1400], fsrc[1100], fto[1500];
    struct mnode *target = NULL;
    /* half the time onto an existing node of the same kind */
    if (ft_rand(&seed) % 2)
        target = model_pick(src->dir ? 1 : 2, false);
    if (target) {
        snprintf(to, sizeof to, "%s", target->path);
    } else {
        struct mnode *parent = model_pick(1, true);
        char name[300];
        new_name(name, sizeof name);
        snprintf(to, sizeof to, "%s%s%s", parent->path, parent->path[0] ? "/" : "", name);
    }
    if (strlen(to) > 900)
        return 0;
    size_t sl = strlen(src->path);
    int want = 0;
    if (target == src)
        want = 0;
    else if (src->dir && !strncmp(to, src->path, sl) && to[sl] == '/')
        want = -FS_EINVAL;                      /* into itself */
    else if (target && target->dir && model_has_children(target))
        want = -FS_ENOTEMPTY;
    /* a new path under a directory that is itself inside src is covered by
     * the EINVAL rule above */
    fs_path(src, fsrc, sizeof fsrc);
    snprintf(fto, sizeof fto, "/%s", to);
    /* keep paths short enough for the model after the move */
    if (want == 0 && src->dir) {
        for (int i = 1; i < MAXN; i++)
            if (nodes[i].used && !strncmp(nodes[i].path, src->path, sl) && nodes[i].path[sl] == '/' &&
                strlen(to) + strlen(nodes[i].path) - sl > 1000)
                return 0;
    }
    int r = ext2_rename(m.fs, fsrc, fto);
    REQUIRE(r == want, "rename %s -> %s: %d want %d", fsrc, fto, r, want);
    if (r || target == src)
        return 0;
    if (target)
        model_del(target);
    if (src->dir) {
        for (int i = 1; i < MAXN; i++)
            if (nodes[i].used && &nodes[i] != src && !strncmp(nodes[i].path, src->path, sl) &&
                nodes[i].path[sl] == '/') {
                char np[1600];
                snprintf(np, sizeof np, "%s%s", to, nodes[i].path + sl);
                snprintf(nodes[i].path, sizeof nodes[i].path, "%s", np);
            }
    }
    snprintf(src->path, sizeof src->path, "%s", to);
    return 0;
}

/* ---- checks -------------------------------------------------------------------- */

static int check_file(const struct mnode *f)
{
    char fp[1600];
    uint32_t ino;
    struct ext2_stat st;
    fs_path(f, fp, sizeof fp);
    REQUIRE(ext2_lookup(m.fs, fp, &ino) == 0, "lookup %s", fp);
    REQUIRE(ext2_stat(m.fs, ino, &st) == 0, "stat %s", fp);
    REQUIRE(st.size == f->size, "%s size %llu model %zu", fp, (unsigned long long)st.size, f->size);
    uint8_t *buf = malloc(f->size + 1);
    int64_t r = ext2_read(m.fs, ino, 0, buf, f->size + 1);
    REQUIRE(r == (int64_t)f->size, "read %s: %lld", fp, (long long)r);
    int same = f->size == 0 || memcmp(buf, f->data, f->size) == 0;
    free(buf);
    REQUIRE(same, "%s content differs", fp);
    return 0;
}

/* The fs tree equals the model: every model node exists with the right
 * type and data, and every directory lists exactly the model's children. */
static int check_all(void)
{
    for (int i = 0; i < MAXN; i++) {
        if (!nodes[i].used)
            continue;
        if (!nodes[i].dir) {
            if (check_file(&nodes[i]))
                return -1;
            continue;
        }
        char fp[1600];
        uint32_t dino;
        fs_path(&nodes[i], fp, sizeof fp);
        REQUIRE(ext2_lookup(m.fs, fp, &dino) == 0, "lookup dir %s", fp);
        struct ext2_dirent de;
        uint64_t cookie = 0;
        int n = 0, r;
        while ((r = ext2_readdir(m.fs, dino, &cookie, &de)) == 1) {
            if (!strcmp(de.name, ".") || !strcmp(de.name, "..") ||
                (i == 0 && !strcmp(de.name, "lost+found")))
                continue;
            char child[1800];
            snprintf(child, sizeof child, "%s%s%s", nodes[i].path, nodes[i].path[0] ? "/" : "", de.name);
            struct mnode *c = model_find(child);
            REQUIRE(c, "fs has %s, model does not", child);
            REQUIRE(c->dir == (de.type == EXT2_FT_DIR), "%s type", child);
            n++;
        }
        REQUIRE(r == 0, "readdir %s: %d", fp, r);
        int want = 0;
        size_t l = strlen(nodes[i].path);
        for (int j = 1; j < MAXN; j++) {
            if (!nodes[j].used || j == i)
                continue;
            const char *p = nodes[j].path;
            if (l == 0 ? !strchr(p, '/') : (!strncmp(p, nodes[i].path, l) && p[l] == '/' && !strchr(p + l + 1, '/')))
                want++;
        }
        REQUIRE(n == want, "%s lists %d entries, model %d", fp, n, want);
    }
    return 0;
}

static int remount_and_fsck(void)
{
    REQUIRE(fsimg_close(&m) == 0, "unmount");
    char *rep = NULL;
    if (!ft_e2fsck_clean(img, &rep)) {
        ft_fail(__FILE__, __LINE__, "e2fsck: %.700s", rep ? rep : "?");
        free(rep);
        return -1;
    }
    REQUIRE(fsimg_open(&m, img, 48 + ft_rand(&seed) % 200, 0) == 0, "remount");
    return 0;
}

/* debugfs (a different implementation) must read the same tree. */
static int check_with_debugfs(void)
{
    char cmds[700], outdir[700];
    snprintf(cmds, sizeof cmds, "%s/cmds", tmpdir);
    snprintf(outdir, sizeof outdir, "%s/dump", tmpdir);
    mkdir(outdir, 0755);
    FILE *f = fopen(cmds, "w");
    for (int i = 0; i < MAXN; i++)
        if (nodes[i].used && !nodes[i].dir)
            fprintf(f, "dump \"/%s\" %s/%d\n", nodes[i].path, outdir, i);
    fclose(f);
    char *out = NULL;
    ft_sh(&out, "%s -f '%s' '%s'", ft_tool("debugfs"), cmds, img);
    free(out);
    for (int i = 0; i < MAXN; i++) {
        if (!nodes[i].used || nodes[i].dir)
            continue;
        char p[800];
        snprintf(p, sizeof p, "%s/%d", outdir, i);
        int fd = open(p, O_RDONLY);
        REQUIRE(fd >= 0, "debugfs could not dump /%s", nodes[i].path);
        uint8_t *buf = malloc(nodes[i].size + 1);
        ssize_t n = read(fd, buf, nodes[i].size + 1);
        close(fd);
        int same = n == (ssize_t)nodes[i].size &&
                   (nodes[i].size == 0 || memcmp(buf, nodes[i].data, nodes[i].size) == 0);
        free(buf);
        REQUIRE(same, "debugfs sees other data in /%s (%zd bytes, model %zu)", nodes[i].path, n, nodes[i].size);
    }
    /* directory listings */
    for (int i = 0; i < MAXN; i++) {
        if (!nodes[i].used || !nodes[i].dir)
            continue;
        ft_sh(&out, "%s -R 'ls -p \"/%s\"' '%s'", ft_tool("debugfs"), nodes[i].path, img);
        int n = 0;
        for (char *l = out; l && *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = 0;
            /* /ino/mode/uid/gid/name/size/ */
            char *fields[8];
            int nf = 0;
            for (char *t = l; nf < 8 && (t = strchr(t, '/')); t++)
                fields[nf++] = t + 1;
            if (l[0] == '/' && nf >= 6) {
                char name[300];
                size_t len = (size_t)(fields[5] - fields[4] - 1);
                snprintf(name, sizeof name, "%.*s", (int)len, fields[4]);
                if (strcmp(name, ".") && strcmp(name, "..") && atoi(fields[0]) != 0 &&
                    !(i == 0 && !strcmp(name, "lost+found"))) {
                    char child[1800];
                    snprintf(child, sizeof child, "%s%s%s", nodes[i].path, nodes[i].path[0] ? "/" : "", name);
                    if (!model_find(child)) {
                        ft_fail(__FILE__, __LINE__, "debugfs lists %s, model does not", child);
                        free(out);
                        return -1;
                    }
                    n++;
                }
            }
            if (!nl)
                break;
            l = nl + 1;
        }
        free(out);
        int want = 0;
        size_t l = strlen(nodes[i].path);
        for (int j = 1; j < MAXN; j++) {
            if (!nodes[j].used || j == i)
                continue;
            const char *p = nodes[j].path;
            if (l == 0 ? !strchr(p, '/') : (!strncmp(p, nodes[i].path, l) && p[l] == '/' && !strchr(p + l + 1, '/')))
                want++;
        }
        REQUIRE(n == want, "debugfs lists %d in /%s, model %d", n, nodes[i].path, want);
    }
    ft_rm_rf(outdir);
    return 0;
}

static void run_model(unsigned bs, uint64_t s0)
{
    const char *env = getenv("FS_MODEL_SEED");
    const char *steps_env = getenv("FS_MODEL_STEPS");
    int steps = steps_env ? atoi(steps_env) : 3000;
    seed = env ? strtoull(env, NULL, 0) : s0;
    name_counter = 0;
    model_reset();
    snprintf(img, sizeof img, "%s/model%u.img", tmpdir, bs);
    CHECK(ft_mkfs(img, NULL, bs, 32 * 1024, NULL) == 0);
    CHECK_EQ(fsimg_open(&m, img, 96, 0), 0);
    for (int step = 0; step < steps; step++) {
        unsigned op = ft_rand(&seed) % 100;
        int r;
        if (op < 14)
            r = step_create(false);
        else if (op < 20)
            r = step_create(true);
        else if (op < 50)
            r = step_write();
        else if (op < 60)
            r = step_truncate();
        else if (op < 75)
            r = step_remove();
        else if (op < 90)
            r = step_rename();
        else {
            struct mnode *f = model_pick(2, false);
            r = f ? check_file(f) : 0;
        }
        CHECK_MSG(r == 0, "seed %llu bs %u step %d op %u", (unsigned long long)s0, bs, step, op);
        if (ft_failed_now())
            return;
        if (step % 500 == 499) {
            CHECK_MSG(check_all() == 0, "step %d", step);
            CHECK_MSG(remount_and_fsck() == 0, "step %d", step);
        }
    }
    CHECK(check_all() == 0);
    CHECK_EQ(fsimg_close(&m), 0);
    char *rep = NULL;
    CHECK_MSG(ft_e2fsck_clean(img, &rep), "e2fsck at end: %.700s", rep ? rep : "?");
    CHECK(check_with_debugfs() == 0);
    model_reset();
}

static void test_model_1k(void) { run_model(1024, 1); }
static void test_model_2k(void) { run_model(2048, 2); }
static void test_model_4k(void) { run_model(4096, 3); }

int main(void)
{
    tmpdir = ft_mkdtemp();
    ft_run("ext2_model_random_ops_1k", test_model_1k);
    ft_run("ext2_model_random_ops_2k", test_model_2k);
    ft_run("ext2_model_random_ops_4k", test_model_4k);
    model_reset();
    ft_rm_rf(tmpdir);
    free(tmpdir);
    return ft_summary();
}
