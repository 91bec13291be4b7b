/* ncpc_transfer.c - get, put and cat with many requests in flight.
 *
 * Up to `depth` READ or WRITE requests are outstanding; replies are taken
 * oldest first (later ones wait in the client's stash), so files are written
 * sequentially while the pipe stays full. */
#include "client/ncpc.h"
#include "client/progress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX (256u * 1024u)
#define DEPTH_MAX 16u

struct pending { uint32_t tag; uint64_t off; uint32_t len; };

static uint32_t depth_for(struct ncpc *c)
{
    uint32_t d = c->max_inflight < DEPTH_MAX ? c->max_inflight : DEPTH_MAX;
    return d ? d : 1;
}

static int remote_close(struct ncpc *c, uint32_t h)
{
    struct ncp_request rq = ncpc_req(NCP_FN_CLOSE);
    rq.u.handle.handle = h;
    return ncpc_simple(c, &rq);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies remote `path` into fd.  Returns 0 or prints and returns 1. */
static int fetch(struct ncpc *c, const char *path, int fd, const char *label, bool bar)
{
    uint32_t h;
    struct ncp_stat st;
    int e = ncpc_open(c, path, NCP_O_READ, 0644, &h, &st);
    if (e) return report(c, e, "get", path);
    uint32_t chunk = c->max_frame - NCP_READ_REPLY_OVERHEAD;
    if (chunk > CHUNK_MAX) chunk = CHUNK_MAX;
    uint32_t depth = depth_for(c), head = 0, n = 0;
    struct pending q[DEPTH_MAX];
    uint64_t size = st.size, next = 0, done = 0;
    bool eof = false;
    int rc = 0, code = 0;
    struct progress pr;
    progress_start(&pr, label, size, bar);

    while (n || (!eof && !code)) {
        if (!eof && !code && n < depth && next <= size) {
            struct ncp_request rq = ncpc_req(NCP_FN_READ);
            rq.u.read.handle = h;
            rq.u.read.offset = next;
            rq.u.read.count = chunk;
            uint32_t tag = ncpc_send(c, &rq);
            if (!tag) { progress_finish(&pr); return report(c, -1, "get", path); }
            q[(head + n) % DEPTH_MAX] = (struct pending){ tag, next, chunk };
            n++;
            next += chunk;
            continue;
        }
        struct pending p = q[head];
        head = (head + 1) % DEPTH_MAX;
        n--;
        struct ncpc_reply r;
        e = ncpc_wait(c, p.tag, &r);
        if (e < 0) { progress_finish(&pr); return report(c, -1, "get", path); }
        if (e) { if (!code) code = e; ncpc_reply_free(&r); continue; }
        uint32_t got = r.rp.u.read.data.len;
        if (!code && !eof && got && write_all(fd, r.rp.u.read.data.ptr, got)) {
            fprintf(stderr, "ncpc: get %s: writing %s: %s\n", path, label, strerror(errno));
            rc = 1;
            code = -2;
        }
        ncpc_reply_free(&r);
        if (eof) continue;                          /* replies past EOF are empty */
        done += got;
        progress_update(&pr, done);
        if (got < p.len) eof = true;
        else if (p.off + got >= size) size = p.off + got;   /* the file grew: probe on */
    }
    progress_finish(&pr);
    e = remote_close(c, h);
    if (code > 0) return report(c, code, "get", path);
    if (e && !rc) return report(c, e, "close", path);
    return rc;
}

/* Ctrl-C (or SIGTERM) during a put: stop sending, remove the temporary file. */
static volatile sig_atomic_t g_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* Copies local fd into the open remote handle h: 0, a completion code, -1
 * (transport: c->err), or -2 (local read error, already printed). */
static int send_data(struct ncpc *c, int fd, const char *local, uint32_t h, uint64_t total, bool bar)
{
    uint32_t chunk = c->max_frame - NCP_WRITE_REQ_OVERHEAD;
    if (chunk > CHUNK_MAX) chunk = CHUNK_MAX;
    uint32_t depth = depth_for(c), head = 0, n = 0;
    struct pending q[DEPTH_MAX];
    uint8_t *buf = malloc(chunk);
    uint64_t off = 0, done = 0;
    bool eof = false;
    int code = buf ? 0 : NCP_E_NOMEM;
    struct progress pr;
    progress_start(&pr, local, total, bar);

    while (n || (!eof && !code)) {
        if (g_interrupted && !code) {
            /* stop sending; the loop's condition then waits only for the writes in
             * flight (with none, waiting here would wait for a request never sent) */
            code = -3;
            continue;
        }
        if (!eof && !code && n < depth) {
            ssize_t got = read(fd, buf, chunk);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) { fprintf(stderr, "ncpc: put: reading %s: %s\n", local, strerror(errno)); code = -2; continue; }
            if (got == 0) { eof = true; continue; }
            struct ncp_request rq = ncpc_req(NCP_FN_WRITE);
            rq.u.write.handle = h;
            rq.u.write.offset = off;
            rq.u.write.data.ptr = buf;                /* encoded (copied) by send */
            rq.u.write.data.len = (uint32_t)got;
            uint32_t tag = ncpc_send(c, &rq);
            if (!tag) { code = -1; break; }
            q[(head + n) % DEPTH_MAX] = (struct pending){ tag, off, (uint32_t)got };
            n++;
            off += (uint64_t)got;
            continue;
        }
        struct pending p = q[head];
        head = (head + 1) % DEPTH_MAX;
        n--;
        struct ncpc_reply r;
        int e = ncpc_wait(c, p.tag, &r);
        if (e < 0) { code = -1; break; }
        if (e && !code) code = e;
        if (!e && r.rp.u.write.written != p.len && !code) code = NCP_E_NOSPC;   /* short write */
        ncpc_reply_free(&r);
        done += p.len;
        progress_update(&pr, done);
    }
    free(buf);
    progress_finish(&pr);
    return code;
}

static int remote_unlink(struct ncpc *c, const char *path)
{
    struct ncp_request rq = ncpc_req(NCP_FN_UNLINK);
    rq.u.path.path = ncpc_str(path);
    return ncpc_simple(c, &rq);
}

/* ".NAME.ncpc-XXXXXXXX" in the target's directory (NAME cut to fit a name). */
static char *temp_name_for(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *name = path + dir_len;
    size_t keep = strlen(name);
    if (keep > NCP_NAME_MAX - 16) keep = NCP_NAME_MAX - 16;
    unsigned rnd = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    char *t;
    if (asprintf(&t, "%.*s.%.*s.ncpc-%08x", (int)dir_len, path, (int)keep, name, rnd) < 0) abort();
    return t;
}

/* Replaces remote `path` with local fd atomically: the data goes to a
 * temporary file beside it, which is synced and renamed over `path` only once
 * complete, so a put that fails (no space, lost connection, Ctrl-C) leaves
 * the old file as it was, and removes the temporary one (after a lost
 * connection, once it can log in again).  The new file keeps an existing
 * file's permission bits; its owner is the user who put it. */
static int store(struct ncpc *c, int fd, const char *local, const char *path, bool bar)
{
    struct stat lst;
    if (fstat(fd, &lst) < 0) { fprintf(stderr, "ncpc: put %s: %s\n", local, strerror(errno)); return 1; }
    struct ncp_stat old;
    uint16_t mode = 0644;
    int e = remote_stat(c, path, &old);
    if (e == 0 && old.type == NCP_FT_DIR) return report(c, NCP_E_ISDIR, "put", path);
    if (e == 0) mode = old.mode & 07777;
    else if (e < 0) return report(c, e, "put", path);
    /* Ctrl-C from here on removes the temporary file (a signal before it was
     * created just ends ncpc). */
    struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    char *tmp = temp_name_for(path);
    uint32_t h = NCP_HANDLE_NONE;
    struct ncp_request rq = ncpc_req(NCP_FN_CREATE);
    struct ncpc_reply r;
    rq.u.open.flags = NCP_O_WRITE | NCP_O_CREATE | NCP_O_EXCL;
    rq.u.open.mode = mode;
    rq.u.open.path = ncpc_str(tmp);
    e = ncpc_call(c, &rq, &r);
    if (!e) h = r.rp.u.open.handle;
    ncpc_reply_free(&r);
    int code = e ? e : send_data(c, fd, local, h, (uint64_t)lst.st_size, bar);
    if (e && e != -1 && !g_interrupted) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        free(tmp);
        return report(c, e, "put", path);       /* nothing was created */
    }
    if (code == 0 && g_interrupted) code = -3;
    if (code == 0) {
        rq = ncpc_req(NCP_FN_FSYNC);                  /* the data is on disk before its name is */
        rq.u.handle.handle = h;
        code = ncpc_simple(c, &rq);
    }
    if (code != -1 && h != NCP_HANDLE_NONE) {
        rq = ncpc_req(NCP_FN_CLOSE);
        rq.u.handle.handle = h;
        e = ncpc_simple(c, &rq);
        if (!code) code = e;
    }
    if (code == 0) {
        rq = ncpc_req(NCP_FN_RENAME);
        rq.u.rename.from = ncpc_str(tmp);
        rq.u.rename.to = ncpc_str(path);
        code = ncpc_simple(c, &rq);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (code == 0) { free(tmp); return 0; }

    int rc;
    if (code == -3) { fprintf(stderr, "ncpc: put %s: interrupted; %s left as it was\n", path, path); rc = 130; }
    else if (code == -2) rc = 1;
    else rc = report(c, code, "put", path);
    if (code == -1) {                                 /* log in again just to clean up */
        ncpc_close(c);
        if (session_open(c, NCP_DEFAULT_MAX_FRAME)) {
            fprintf(stderr, "ncpc: put: could not remove the temporary file %s\n", tmp);
            free(tmp);
            return rc;
        }
    }
    e = remote_unlink(c, tmp);
    if (e && e != NCP_E_NOENT) report(c, e, "put: removing the temporary file", tmp);
    free(tmp);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    char *p;
    size_t n = strlen(dir);
    if (asprintf(&p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name) < 0) abort();
    return p;
}

static const char *base_of(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/') s--;
    static char buf[NCP_NAME_MAX + 1];
    size_t k = (size_t)(path + n - s);
    if (k > NCP_NAME_MAX) k = NCP_NAME_MAX;
    memcpy(buf, s, k);
    buf[k] = '\0';
    return buf[0] ? buf : "root";
}

static int get_one(struct ncpc *c, const char *remote, const char *local, bool rec);

struct walk { const char *local; bool rec; int rc; };

static int get_entry(struct ncpc *c, const char *dir, const struct ncp_dirent *d, void *arg)
{
    struct walk *w = arg;
    char name[NCP_NAME_MAX + 1];
    memcpy(name, d->name, d->name_len);
    name[d->name_len] = '\0';
    char *r = join(dir, name), *l = join(w->local, name);
    if (d->type == NCP_FT_DIR || d->type == NCP_FT_FILE) w->rc |= get_one(c, r, l, true);
    free(r);
    free(l);
    return 0;
}

/* The remote directory is listed fully before recursing: each recursion
 * level keeps its own cookie, so nested listings do not interfere. */
static int get_dir(struct ncpc *c, const char *remote, const char *local)
{
    if (mkdir(local, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "ncpc: get: mkdir %s: %s\n", local, strerror(errno));
        return 1;
    }
    struct walk w = { local, true, 0 };
    uint64_t cookie = 0;
    for (;;) {
        struct ncp_request rq = ncpc_req(NCP_FN_READDIR);
        struct ncpc_reply r;
        rq.u.readdir.path = ncpc_str(remote);
        rq.u.readdir.cookie = cookie;
        int e = ncpc_call(c, &rq, &r);
        if (e) { ncpc_reply_free(&r); return report(c, e, "get", remote); }
        size_t pos = 0;
        struct ncp_dirent d;
        while (ncp_dirent_next(&r.rp, &pos, &d)) get_entry(c, remote, &d, &w);
        cookie = r.rp.u.readdir.next_cookie;
        bool eof = r.rp.u.readdir.eof;
        ncpc_reply_free(&r);
        if (eof) break;
    }
    return w.rc;
}

static int get_one(struct ncpc *c, const char *remote, const char *local, bool rec)
{
    struct ncp_stat st;
    int e = remote_stat(c, remote, &st);
    if (e) return report(c, e, "get", remote);
    if (st.type == NCP_FT_DIR) {
        if (!rec) { fprintf(stderr, "ncpc: get %s: is a directory (use -r)\n", remote); return 1; }
        return get_dir(c, remote, local);
    }
    int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { fprintf(stderr, "ncpc: get: %s: %s\n", local, strerror(errno)); return 1; }
    int rc = fetch(c, remote, fd, local, true);
    if (close(fd) < 0 && !rc) { fprintf(stderr, "ncpc: get: %s: %s\n", local, strerror(errno)); rc = 1; }
    return rc;
}

int cmd_get(struct ncpc *c, int argc, char **argv)
{
    bool rec = false;
    if (argc && !strcmp(argv[0], "-r")) { rec = true; argc--; argv++; }
    if (argc < 1 || argc > 2) { fprintf(stderr, "usage: ncpc get [-r] REMOTE [LOCAL]\n"); return 2; }
    char *local;
    struct stat st;
    if (argc == 1) local = strdup(base_of(argv[0]));
    else if (stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode)) local = join(argv[1], base_of(argv[0]));
    else local = strdup(argv[1]);
    int rc = get_one(c, argv[0], local, rec);
    free(local);
    return rc;
}

int cmd_cat(struct ncpc *c, int argc, char **argv)
{
    int rc = 0;
    if (!argc) { fprintf(stderr, "usage: ncpc cat REMOTE...\n"); return 2; }
    for (int i = 0; i < argc; i++) rc |= fetch(c, argv[i], STDOUT_FILENO, "stdout", false);
    return rc;
}

static int put_one(struct ncpc *c, const char *local, const char *remote, bool rec);

static int put_dir(struct ncpc *c, const char *local, const char *remote)
{
    struct ncp_request rq = ncpc_req(NCP_FN_MKDIR);
    rq.u.mkdir.path = ncpc_str(remote);
    rq.u.mkdir.mode = 0755;
    int e = ncpc_simple(c, &rq);
    if (e && e != NCP_E_EXIST) return report(c, e, "put: mkdir", remote);
    DIR *d = opendir(local);
    if (!d) { fprintf(stderr, "ncpc: put: %s: %s\n", local, strerror(errno)); return 1; }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) && !g_interrupted) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *l = join(local, de->d_name), *r = join(remote, de->d_name);
        rc |= put_one(c, l, r, true);
        free(l);
        free(r);
    }
    closedir(d);
    return rc;
}

static int put_one(struct ncpc *c, const char *local, const char *remote, bool rec)
{
    struct stat st;
    if (stat(local, &st) < 0) { fprintf(stderr, "ncpc: put: %s: %s\n", local, strerror(errno)); return 1; }
    if (S_ISDIR(st.st_mode)) {
        if (!rec) { fprintf(stderr, "ncpc: put %s: is a directory (use -r)\n", local); return 1; }
        return put_dir(c, local, remote);
    }
    if (!S_ISREG(st.st_mode)) { fprintf(stderr, "ncpc: put: %s: not a regular file, skipped\n", local); return 1; }
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "ncpc: put: %s: %s\n", local, strerror(errno)); return 1; }
    int rc = store(c, fd, local, remote, true);
    close(fd);
    return rc;
}

int cmd_put(struct ncpc *c, int argc, char **argv)
{
    bool rec = false;
    if (argc && !strcmp(argv[0], "-r")) { rec = true; argc--; argv++; }
    if (argc < 1 || argc > 2) { fprintf(stderr, "usage: ncpc put [-r] LOCAL [REMOTE]\n"); return 2; }
    char *remote;
    struct ncp_stat st;
    if (argc == 1) remote = join("/", base_of(argv[0]));
    else if (remote_stat(c, argv[1], &st) == 0 && st.type == NCP_FT_DIR) remote = join(argv[1], base_of(argv[0]));
    else remote = strdup(argv[1]);
    int rc = put_one(c, argv[0], remote, rec);
    free(remote);
    return rc;
}
