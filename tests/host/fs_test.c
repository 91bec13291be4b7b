/* Shared harness and tool helpers for the fs host tests. */
#include "fs_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *ft_tool(const char *name)
{
    static char buf[8][256];
    static int next;
    const char *dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin" };
    char *b = buf[next++ % 8];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(b, 256, "%s/%s", dirs[i], name);
        if (access(b, X_OK) == 0)
            return b;
    }
    snprintf(b, 256, "%s", name);   /* hope it is on PATH */
    return b;
}

char *ft_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(512);
    snprintf(p, 512, "%s/wtd-fstest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(p)) {
        snprintf(p, 512, "/tmp/wtd-fstest.XXXXXX");
        if (!mkdtemp(p)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return p;
}

void ft_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            ft_rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int ft_sh(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 1024)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int ft_e2fsck_clean(const char *img, char **report)
{
    char *out = NULL;
    const char *script = "scripts/e2fsck-clean.sh";    /* the tests run from the top */
    if (access(script, X_OK) != 0) {
        if (report) {
            *report = malloc(128);
            snprintf(*report, 128, "%s not found (run from the top of the tree)", script);
        }
        return 0;
    }
    int st = ft_sh(&out, "%s '%s'", script, img);
    if (st != 0 && report) {
        *report = out;
        return 0;
    }
    free(out);
    return st == 0;
}

int ft_mkfs(const char *img, const char *dir, unsigned block_size, unsigned size_kb, const char *opts)
{
    char *out = NULL;
    char dopt[1100] = "";
    if (dir)
        snprintf(dopt, sizeof dopt, "-d '%s'", dir);
    unlink(img);
    /* FS_TEST_EXT3=1: every image gets a journal (the suites then run on ext3) */
    const char *j = getenv("FS_TEST_EXT3") && *getenv("FS_TEST_EXT3") == '1' ? "-j" : "";
    int st = ft_sh(&out, "%s -q -F -t ext2 -b %u %s %s %s '%s' %uk", ft_tool("mke2fs"),
                   block_size, j, opts ? opts : "", dopt, img, size_kb);
    if (st != 0)
        fprintf(stderr, "mke2fs failed: %s\n", out ? out : "");
    free(out);
    return st;
}

void ft_fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)ft_rand(&seed);
}

int ft_debugfs_cat_equals(const char *image, const char *path, const uint8_t *want, size_t n)
{
    char out[700];
    snprintf(out, sizeof out, "%s.cat.out", image);
    char *msg = NULL;
    ft_sh(&msg, "%s -R 'dump %s %s' '%s'", ft_tool("debugfs"), path, out, image);
    free(msg);
    int fd = open(out, O_RDONLY);
    if (fd < 0)
        return 0;
    uint8_t *got = malloc(n + 1);
    ssize_t r = read(fd, got, n + 1);
    close(fd);
    unlink(out);
    int ok = r == (ssize_t)n && memcmp(got, want, n) == 0;
    free(got);
    return ok;
}
