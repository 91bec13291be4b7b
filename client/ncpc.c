/* ncpc.c - command-line client for the WorkToDo file server.
 *
 *   ncpc [-s HOST:PORT] [-u USER] COMMAND ARGS
 *
 * Server: -s, else $NCP_SERVER, else 127.0.0.1:5240.  User: -u, else guest.
 * Password: $NCP_PASSWORD, else asked on the terminal (no echo).
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage.
 */
#include "client/ncpc.h"
#include "client/cli_common.h"
#include "client/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct ncpc_opts g_opts = { "127.0.0.1", 5240, "guest" };

static void usage(void)
{
    fprintf(stderr,
        "usage: ncpc [-s HOST:PORT] [-u USER] COMMAND ARGS\n"
        "  ls [PATH...]            list directories (long format)\n"
        "  stat PATH...            show file attributes\n"
        "  get [-r] REMOTE [LOCAL] download (a directory with -r)\n"
        "  put [-r] LOCAL [REMOTE] upload (a directory with -r)\n"
        "  cat REMOTE...           print files to stdout\n"
        "  rm [-r] PATH...         remove files (directories with -r)\n"
        "  mv FROM TO              rename\n"
        "  ln [-s] TARGET LINK     hard link LINK to the file TARGET (a symlink with -s:\n"
        "                          TARGET is stored as given, resolved inside the volume)\n"
        "  readlink PATH...        print symlink targets\n"
        "  mkdir PATH...  rmdir PATH...\n"
        "  chmod MODE PATH...      set permission bits (octal; owner or admin)\n"
        "  chown USER[:GROUP] PATH...  set owner (admin) and group\n"
        "  chgrp GROUP PATH...     set group (owner: one of their groups; admin: any)\n"
        "  touch [-t UNIXTIME] PATH...  create if missing; set times to now (or UNIXTIME)\n"
        "  lock [-s] [-w] [-t SEC] PATH OFFSET LENGTH\n"
        "                          lock a range (shared -s, wait -w), hold SEC seconds\n"
        "  df                      volume usage\n"
        "  stats                   server counters\n"
        "  ping [-c N]             round-trip times\n"
        "  shutdown                flush and power off the server (admin)\n"
        "  bench [--help]          load generator\n"
        "Server from -s, $NCP_SERVER or 127.0.0.1:5240; password from $NCP_PASSWORD or prompt.\n");
    exit(2);
}

int report(struct ncpc *c, int code, const char *what, const char *path)
{
    if (code < 0)
        fprintf(stderr, "ncpc: %s%s%s: %s\n", what, path ? " " : "", path ? path : "", c->err);
    else
        fprintf(stderr, "ncpc: %s%s%s: %s (%s, code %d)\n", what, path ? " " : "", path ? path : "",
                ncp_strerror((unsigned)code), ncp_errname((unsigned)code), code);
    return 1;
}

const char *get_password(void)
{
    return cli_password("ncpc", g_opts.user, g_opts.host);
}

int session_open(struct ncpc *c, uint32_t want_frame)
{
    if (ncpc_connect(c, g_opts.host, g_opts.port)) return report(c, -1, "connect", NULL);
    int e = ncpc_negotiate(c, want_frame);
    if (e) { report(c, e, "negotiate", NULL); ncpc_close(c); return 1; }
    const char *pw = get_password();
    if (!pw) { ncpc_close(c); return 1; }
    e = ncpc_login(c, g_opts.user, pw);
    if (e) { report(c, e, "login as", g_opts.user); ncpc_close(c); return 1; }
    return 0;
}

int remote_stat(struct ncpc *c, const char *path, struct ncp_stat *st)
{
    struct ncp_request rq = ncpc_req(NCP_FN_STAT);
    struct ncpc_reply r;
    rq.u.path.path = ncpc_str(path);
    int e = ncpc_call(c, &rq, &r);
    if (e == 0) *st = r.rp.u.stat.st;
    ncpc_reply_free(&r);
    return e;
}

static char type_char(uint8_t t)
{
    return t == NCP_FT_DIR ? 'd' : t == NCP_FT_SYMLINK ? 'l' : t == NCP_FT_FILE ? '-' : '?';
}

static void fmt_time(uint32_t t, char *out, size_t n)
{
    time_t tt = t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M", &tm);
}

/* Calls fn for each entry of a remote directory (all pages). */
typedef int (*dirent_fn)(struct ncpc *c, const char *dir, const struct ncp_dirent *d, void *arg);

static int for_each_entry(struct ncpc *c, const char *dir, dirent_fn fn, void *arg)
{
    uint64_t cookie = 0;
    for (;;) {
        struct ncp_request rq = ncpc_req(NCP_FN_READDIR);
        struct ncpc_reply r;
        rq.u.readdir.path = ncpc_str(dir);
        rq.u.readdir.cookie = cookie;
        int e = ncpc_call(c, &rq, &r);
        if (e) { ncpc_reply_free(&r); return e; }
        size_t pos = 0;
        struct ncp_dirent d;
        int rc = 0;
        while (!rc && ncp_dirent_next(&r.rp, &pos, &d)) rc = fn(c, dir, &d, arg);
        cookie = r.rp.u.readdir.next_cookie;
        bool eof = r.rp.u.readdir.eof;
        ncpc_reply_free(&r);
        if (rc) return rc;
        if (eof) return 0;
    }
}

/* READLINK of path into out (NUL-terminated; the wire limit is NCP_SYMLINK_MAX bytes). */
static int read_link(struct ncpc *c, const char *path, char out[NCP_SYMLINK_MAX + 1])
{
    struct ncp_request rq = ncpc_req(NCP_FN_READLINK);
    struct ncpc_reply r;
    rq.u.path.path = ncpc_str(path);
    int e = ncpc_call(c, &rq, &r);
    size_t n = e ? 0 : r.rp.u.readlink.target.len;
    if (n > NCP_SYMLINK_MAX)
        n = NCP_SYMLINK_MAX;
    memcpy(out, e ? "" : (const char *)r.rp.u.readlink.target.ptr, n);
    out[n] = '\0';
    ncpc_reply_free(&r);
    return e;
}

/* A long-format line; a symlink shows its target as ls -l does ("name -> target"). */
static int print_entry(struct ncpc *c, const char *dir, const struct ncp_dirent *d, void *arg)
{
    char when[32], ub[16], gb[16], target[NCP_SYMLINK_MAX + 1] = "";
    fmt_time(d->mtime, when, sizeof when);
    if (d->type == NCP_FT_SYMLINK) {
        char *path;
        size_t dl = strlen(dir);
        if (asprintf(&path, "%s%s%.*s", dir, dl && dir[dl - 1] == '/' ? "" : "/", d->name_len, d->name) < 0)
            return NCP_E_NOMEM;
        int e = read_link(c, path, target);
        free(path);
        if (e)
            snprintf(target, sizeof target, "? (%s)", e < 0 ? c->err : ncp_strerror((unsigned)e));
    }
    printf("%c %04o %-8s %-8s %12llu %s %.*s%s%s%s\n", type_char(d->type), d->mode,
           id_name(c, NCP_NAME_USER, d->uid, ub), id_name(c, NCP_NAME_GROUP, d->gid, gb),
           (unsigned long long)d->size, when, d->name_len, d->name, d->type == NCP_FT_DIR ? "/" : "",
           target[0] ? " -> " : "", target);
    return 0;
}

static int cmd_ls(struct ncpc *c, int argc, char **argv)
{
    int rc = 0;
    const char *def[] = { "/" };
    char **paths = argc ? argv : (char **)def;
    int n = argc ? argc : 1;
    for (int i = 0; i < n; i++) {
        struct ncp_stat st;
        int e = remote_stat(c, paths[i], &st);
        if (e) { rc = report(c, e, "ls", paths[i]); continue; }
        if (n > 1) printf("%s:\n", paths[i]);
        if (st.type != NCP_FT_DIR) {
            char when[32], ub[16], gb[16];
            fmt_time(st.mtime, when, sizeof when);
            printf("%c %04o %-8s %-8s %12llu %s %s\n", type_char(st.type), st.mode,
                   id_name(c, NCP_NAME_USER, st.uid, ub), id_name(c, NCP_NAME_GROUP, st.gid, gb),
                   (unsigned long long)st.size, when, paths[i]);
            continue;
        }
        e = for_each_entry(c, paths[i], print_entry, NULL);
        if (e) rc = report(c, e, "ls", paths[i]);
    }
    return rc;
}

static int cmd_stat(struct ncpc *c, int argc, char **argv)
{
    int rc = 0;
    if (!argc) usage();
    for (int i = 0; i < argc; i++) {
        struct ncp_stat st;
        int e = remote_stat(c, argv[i], &st);
        if (e) { rc = report(c, e, "stat", argv[i]); continue; }
        char a[32], m[32], ch[32], ub[16], gb[16];
        fmt_time(st.atime, a, sizeof a); fmt_time(st.mtime, m, sizeof m); fmt_time(st.ctime, ch, sizeof ch);
        printf("  File: %s\n  Type: %s  Size: %llu  Inode: %u  Links: %u\n"
               "  Mode: %04o  Uid: %u (%s)  Gid: %u (%s)\nAccess: %s  Modify: %s  Change: %s (UTC)\n",
               argv[i], st.type == NCP_FT_DIR ? "directory" : st.type == NCP_FT_FILE ? "regular file"
               : st.type == NCP_FT_SYMLINK ? "symlink" : "other",
               (unsigned long long)st.size, st.ino, st.nlink, st.mode, st.uid,
               id_name(c, NCP_NAME_USER, st.uid, ub), st.gid, id_name(c, NCP_NAME_GROUP, st.gid, gb), a, m, ch);
    }
    return rc;
}

static int path_op(struct ncpc *c, uint8_t fn, const char *path)
{
    struct ncp_request rq = ncpc_req(fn);
    if (fn == NCP_FN_MKDIR) { rq.u.mkdir.path = ncpc_str(path); rq.u.mkdir.mode = 0755; }
    else rq.u.path.path = ncpc_str(path);
    return ncpc_simple(c, &rq);
}

static int remove_tree(struct ncpc *c, const char *path);

static int remove_child(struct ncpc *c, const char *dir, const struct ncp_dirent *d, void *arg)
{
    char *child;
    if (asprintf(&child, "%s/%.*s", dir, d->name_len, d->name) < 0) return NCP_E_NOMEM;
    int e = d->type == NCP_FT_DIR ? remove_tree(c, child) : path_op(c, NCP_FN_UNLINK, child);
    if (e) report(c, e, "rm", child);
    free(child);
    return e;
}

static int remove_tree(struct ncpc *c, const char *path)
{
    /* Deleting while listing would move the cookie under us: list, delete,
     * and start over until the directory is empty. */
    for (;;) {
        struct ncp_request rq = ncpc_req(NCP_FN_READDIR);
        struct ncpc_reply r;
        rq.u.readdir.path = ncpc_str(path);
        int e = ncpc_call(c, &rq, &r);
        if (e) { ncpc_reply_free(&r); return e; }
        bool empty = r.rp.u.readdir.count == 0;
        ncpc_reply_free(&r);
        if (empty) break;
        e = for_each_entry(c, path, remove_child, NULL);
        if (e) return e;
    }
    return path_op(c, NCP_FN_RMDIR, path);
}

static int cmd_rm(struct ncpc *c, int argc, char **argv)
{
    bool rec = false;
    int rc = 0;
    if (argc && !strcmp(argv[0], "-r")) { rec = true; argc--; argv++; }
    if (!argc) usage();
    for (int i = 0; i < argc; i++) {
        int e = path_op(c, NCP_FN_UNLINK, argv[i]);
        if (e == NCP_E_ISDIR && rec) e = remove_tree(c, argv[i]);
        if (e) rc = report(c, e, "rm", argv[i]);
    }
    return rc;
}

static int cmd_each(struct ncpc *c, int argc, char **argv, uint8_t fn, const char *what)
{
    int rc = 0;
    if (!argc) usage();
    for (int i = 0; i < argc; i++) {
        int e = path_op(c, fn, argv[i]);
        if (e) rc = report(c, e, what, argv[i]);
    }
    return rc;
}

static int cmd_mv(struct ncpc *c, int argc, char **argv)
{
    if (argc != 2) usage();
    struct ncp_request rq = ncpc_req(NCP_FN_RENAME);
    rq.u.rename.from = ncpc_str(argv[0]);
    rq.u.rename.to = ncpc_str(argv[1]);
    int e = ncpc_simple(c, &rq);
    return e ? report(c, e, "mv", argv[0]) : 0;
}

static int cmd_ln(struct ncpc *c, int argc, char **argv)
{
    bool sym = argc && !strcmp(argv[0], "-s");
    if (sym) { argc--; argv++; }
    if (argc != 2) usage();
    struct ncp_request rq = ncpc_req(sym ? NCP_FN_SYMLINK : NCP_FN_LINK);
    if (sym) {
        if (strlen(argv[0]) > NCP_SYMLINK_MAX) {
            fprintf(stderr, "ncpc: ln: target longer than %u bytes\n", NCP_SYMLINK_MAX);
            return 1;
        }
        rq.u.symlink.target = ncpc_str(argv[0]);
        rq.u.symlink.path = ncpc_str(argv[1]);
    } else {
        rq.u.link.existing = ncpc_str(argv[0]);
        rq.u.link.newpath = ncpc_str(argv[1]);
    }
    int e = ncpc_simple(c, &rq);
    return e ? report(c, e, "ln", argv[1]) : 0;
}

static int cmd_readlink(struct ncpc *c, int argc, char **argv)
{
    int rc = 0;
    if (!argc) usage();
    for (int i = 0; i < argc; i++) {
        char target[NCP_SYMLINK_MAX + 1];
        int e = read_link(c, argv[i], target);
        if (e) rc = report(c, e, "readlink", argv[i]);
        else printf("%s\n", target);
    }
    return rc;
}

static int cmd_lock(struct ncpc *c, int argc, char **argv)
{
    uint8_t flags = NCP_LOCK_EXCLUSIVE;
    double hold = 0;
    while (argc && argv[0][0] == '-') {
        if (!strcmp(argv[0], "-s")) flags &= (uint8_t)~NCP_LOCK_EXCLUSIVE;
        else if (!strcmp(argv[0], "-w")) flags |= NCP_LOCK_WAIT;
        else if (!strcmp(argv[0], "-t") && argc > 1) { hold = atof(argv[1]); argc--; argv++; }
        else usage();
        argc--; argv++;
    }
    if (argc != 3) usage();
    struct ncp_request rq = ncpc_req(NCP_FN_OPEN);
    struct ncpc_reply r;
    rq.u.open.flags = NCP_O_READ;
    rq.u.open.path = ncpc_str(argv[0]);
    int e = ncpc_call(c, &rq, &r);
    uint32_t h = r.rp.u.open.handle;
    ncpc_reply_free(&r);
    if (e) return report(c, e, "lock: open", argv[0]);
    rq = ncpc_req(NCP_FN_LOCK);
    rq.u.lock.handle = h;
    rq.u.lock.offset = strtoull(argv[1], NULL, 0);
    rq.u.lock.length = strtoull(argv[2], NULL, 0);
    rq.u.lock.flags = flags;
    double t0 = now_seconds();
    e = ncpc_simple(c, &rq);
    if (e) return report(c, e, "lock", argv[0]);
    printf("locked %s [%s, +%s) %s after %.3fs%s\n", argv[0], argv[1], argv[2],
           flags & NCP_LOCK_EXCLUSIVE ? "exclusive" : "shared", now_seconds() - t0,
           c->busy_seen ? " (server said: waiting)" : "");
    fflush(stdout);
    if (hold > 0) usleep((useconds_t)(hold * 1e6));
    rq.h.function = NCP_FN_UNLOCK;
    e = ncpc_simple(c, &rq);
    if (e) return report(c, e, "unlock", argv[0]);
    rq = ncpc_req(NCP_FN_CLOSE);
    rq.u.handle.handle = h;
    return (e = ncpc_simple(c, &rq)) ? report(c, e, "close", argv[0]) : 0;
}

static int cmd_df(struct ncpc *c)
{
    struct ncp_request rq = ncpc_req(NCP_FN_STATFS);
    struct ncpc_reply r;
    int e = ncpc_call(c, &rq, &r);
    if (e) { ncpc_reply_free(&r); return report(c, e, "df", NULL); }
    struct ncp_statfs *s = &r.rp.u.statfs;
    uint64_t total = s->blocks * s->block_size, avail = s->blocks_free * s->block_size;
    printf("%-12s %14s %14s %14s %5s %10s %10s\n", "volume", "size", "used", "avail", "use%", "inodes", "ifree");
    printf("%-12s %14llu %14llu %14llu %4.0f%% %10llu %10llu%s\n", "sys", (unsigned long long)total,
           (unsigned long long)(total - avail), (unsigned long long)avail,
           total ? 100.0 * (double)(total - avail) / (double)total : 0.0,
           (unsigned long long)s->files, (unsigned long long)s->files_free,
           s->flags & NCP_FS_READONLY ? "  (read-only)" : "");
    ncpc_reply_free(&r);
    return 0;
}

static int cmd_stats(struct ncpc *c)
{
    uint16_t first = 0;
    for (;;) {
        struct ncp_request rq = ncpc_req(NCP_FN_STATS);
        struct ncpc_reply r;
        rq.u.stats.first = first;
        int e = ncpc_call(c, &rq, &r);
        if (e) { ncpc_reply_free(&r); return report(c, e, "stats", NULL); }
        size_t pos = 0;
        char name[NCP_STAT_NAME_MAX + 1];
        uint64_t v;
        while (ncp_counter_next(&r.rp, &pos, name, &v)) printf("%-32s %20llu\n", name, (unsigned long long)v);
        uint16_t count = r.rp.u.stats.count, total = r.rp.u.stats.total;
        ncpc_reply_free(&r);
        first = (uint16_t)(first + count);
        if (count == 0 || first >= total) return 0;
    }
}

static int cmd_ping(struct ncpc *c, int argc, char **argv)
{
    int count = 4;
    if (argc == 2 && !strcmp(argv[0], "-c")) count = atoi(argv[1]);
    else if (argc) usage();
    double sum = 0, best = 1e9, worst = 0;
    for (int i = 0; i < count; i++) {
        struct ncp_request rq = ncpc_req(NCP_FN_PING);
        uint8_t data[64];
        memset(data, 'p', sizeof data);
        rq.u.ping.data.ptr = data;
        rq.u.ping.data.len = sizeof data;
        double t0 = now_seconds();
        int e = ncpc_simple(c, &rq);
        double dt = (now_seconds() - t0) * 1e3;
        if (e) return report(c, e, "ping", NULL);
        printf("reply from %s:%d conn %u seq %d time %.3f ms\n", g_opts.host, g_opts.port, c->conn, i + 1, dt);
        sum += dt; if (dt < best) best = dt; if (dt > worst) worst = dt;
    }
    if (count > 0) printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", best, sum / count, worst);
    return 0;
}

static int cmd_shutdown(struct ncpc *c)
{
    struct ncp_request rq = ncpc_req(NCP_FN_SHUTDOWN);
    int e = ncpc_simple(c, &rq);
    if (e) return report(c, e, "shutdown", NULL);
    printf("server is flushing and powering off\n");
    return 0;
}

static void parse_server(const char *s)
{
    static char host[256];
    if (cli_parse_server(s, host, sizeof host, &g_opts.port)) {
        fprintf(stderr, "ncpc: bad server address '%s' (want HOST:PORT)\n", s);
        exit(2);
    }
    g_opts.host = host;
}

int main(int argc, char **argv)
{
    const char *env = getenv("NCP_SERVER");
    if (env && *env) parse_server(env);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc) parse_server(argv[++i]);
        else if (!strcmp(argv[i], "-u") && i + 1 < argc) g_opts.user = argv[++i];
        else usage();
    }
    if (i >= argc) usage();
    const char *cmd = argv[i++];
    int n = argc - i;
    char **args = argv + i;

    if (!strcmp(cmd, "bench")) return cmd_bench(n, args);
    bool bulk = !strcmp(cmd, "get") || !strcmp(cmd, "put") || !strcmp(cmd, "cat");
    static const char *const known[] = { "ls", "stat", "get", "put", "cat", "rm", "mv", "mkdir",
        "rmdir", "lock", "df", "stats", "ping", "shutdown", "chmod", "chown", "chgrp", "touch", "ln", "readlink" };
    bool ok = false;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= !strcmp(cmd, known[k]);
    if (!ok) { fprintf(stderr, "ncpc: unknown command '%s'\n", cmd); usage(); }

    struct ncpc c;
    if (session_open(&c, bulk ? NCP_MAX_FRAME_LIMIT : NCP_DEFAULT_MAX_FRAME)) return 1;
    int rc;
    if (!strcmp(cmd, "ls")) rc = cmd_ls(&c, n, args);
    else if (!strcmp(cmd, "stat")) rc = cmd_stat(&c, n, args);
    else if (!strcmp(cmd, "get")) rc = cmd_get(&c, n, args);
    else if (!strcmp(cmd, "put")) rc = cmd_put(&c, n, args);
    else if (!strcmp(cmd, "cat")) rc = cmd_cat(&c, n, args);
    else if (!strcmp(cmd, "rm")) rc = cmd_rm(&c, n, args);
    else if (!strcmp(cmd, "mv")) rc = cmd_mv(&c, n, args);
    else if (!strcmp(cmd, "ln")) rc = cmd_ln(&c, n, args);
    else if (!strcmp(cmd, "readlink")) rc = cmd_readlink(&c, n, args);
    else if (!strcmp(cmd, "mkdir")) rc = cmd_each(&c, n, args, NCP_FN_MKDIR, "mkdir");
    else if (!strcmp(cmd, "rmdir")) rc = cmd_each(&c, n, args, NCP_FN_RMDIR, "rmdir");
    else if (!strcmp(cmd, "lock")) rc = cmd_lock(&c, n, args);
    else if (!strcmp(cmd, "chmod")) rc = cmd_chmod(&c, n, args);
    else if (!strcmp(cmd, "chown")) rc = cmd_chown(&c, n, args, false);
    else if (!strcmp(cmd, "chgrp")) rc = cmd_chown(&c, n, args, true);
    else if (!strcmp(cmd, "touch")) rc = cmd_touch(&c, n, args);
    else if (!strcmp(cmd, "df")) rc = cmd_df(&c);
    else if (!strcmp(cmd, "stats")) rc = cmd_stats(&c);
    else if (!strcmp(cmd, "ping")) rc = cmd_ping(&c, n, args);
    else rc = cmd_shutdown(&c);
    if (strcmp(cmd, "shutdown") != 0) {
        struct ncp_request rq = ncpc_req(NCP_FN_LOGOUT);
        (void)ncpc_simple(&c, &rq);
    }
    ncpc_close(&c);
    if (rc == 2) usage();                          /* a command's arguments were wrong */
    return rc;
}
