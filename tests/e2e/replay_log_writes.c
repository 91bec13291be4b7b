/* replay_log_writes.c - rebuilds a disk as a power cut could have left it, from a write
 * log in dm-log-writes format (QEMU's blklogwrites driver: scripts/run.sh --disk-log).
 *
 *   replay_log_writes --log LOG --base BASE --image OUT [--points N] [--seed S]
 *                     [--exec CMD] [--list] [--drop-percent P] [--prefix K]
 *
 * The log (all fields little-endian): sector 0 holds the log superblock (u64 magic
 * 0x6a736677736872, u64 version 1, u64 nr_entries, u32 sectorsize); entries follow from
 * log sector 1, each one log sector holding (u64 sector, u64 nr_sectors, u64 flags,
 * u64 data_len) and then, for a write, nr_sectors device sectors of data rounded up to
 * log sectors.  flags: FLUSH 1, FUA 2, DISCARD 4, MARK 8 (a mark carries data_len bytes
 * of name).  QEMU writes each entry after the write or flush it logs completed and before
 * the guest is told, and (with log-super-update-interval=1) rewrites the superblock
 * after each entry, so nr_entries read while the guest runs counts every request the
 * guest has seen completed.
 *
 * BASE is the image as it was when the log started; OUT is written for every crash point.
 * A crash point is one of:
 *   flush   the disk right after a FLUSH entry: everything up to it;
 *   prefix  everything up to some entry j, in order (a disk that writes in order);
 *   subset  everything up to the last FLUSH before j, and of the entries after it up to
 *           j only a random part (each dropped with probability P%, default 50): what a
 *           volatile write cache may hold back at a power cut.  Half of them take j at
 *           the end of its window (the entry before the next FLUSH), so the whole
 *           window between two flushes is in play.
 * A write is applied whole or not at all (no torn sectors).  Points are drawn at random
 * (--seed) with about a quarter flush, a quarter prefix and half subset, plus the state
 * after the last entry; they are visited in order of their stable part, so the log is
 * read once.  For each point the tool writes OUT and runs CMD through /bin/sh with:
 *   CRASH_POINT  ordinal (1..N)       CRASH_KIND  flush|prefix|subset
 *   CRASH_UPTO   j (0-based index of the last entry considered)
 *   CRASH_STABLE entries known applied in order (every entry < it is on the disk; an
 *                FSYNC answered when the log held at most this many entries is durable)
 *   CRASH_MAX    the highest index applied (-1: none); nothing logged at or after a
 *                count > CRASH_MAX can have reached the image
 *   CRASH_IMAGE  OUT
 * CMD's output goes to stdout.  --list prints the entries instead; --prefix K makes one
 * image only, of the entries [0, K) in order (to look at one crash point again).  Exit status: 0 if
 * every CMD exited 0, 1 if some did not, 2 on a bad log or argument.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_MAGIC 0x6a736677736872ull
#define F_FLUSH   1u
#define F_FUA     2u
#define F_DISCARD 4u
#define F_MARK    8u
#define MAX_ENTRY_BYTES (64u << 20)    /* one guest request; larger means a corrupt log */

struct entry {
    uint64_t sector, nr_sectors, flags;
    uint64_t data_off;      /* byte offset of the data in the log */
};

struct point {
    char kind;              /* 'f', 'p', 's' */
    int64_t upto;           /* j */
    int64_t stable_end;     /* entries [0, stable_end) applied in order */
    uint64_t seed;          /* subset: which entries after the stable part */
};

static const char *kind_name(char k)
{
    return k == 'f' ? "flush" : k == 'p' ? "prefix" : "subset";
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t rng_next(uint64_t *s)       /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void die(const char *what)
{
    fprintf(stderr, "replay_log_writes: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(2);
}

static int read_full(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, off + (off_t)got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, off + (off_t)done);
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

static struct entry *load_log(int fd, uint32_t *ss_out, uint64_t *n_out)
{
    uint8_t sup[512];
    struct stat st;
    if (fstat(fd, &st) || read_full(fd, sup, sizeof sup, 0))
        die("cannot read the log superblock");
    if (le64(sup) != LOG_MAGIC || le64(sup + 8) != 1) {
        errno = 0;
        die("not a dm-log-writes log (magic or version)");
    }
    uint64_t n = le64(sup + 16);
    uint32_t ss = (uint32_t)le64(sup + 24);
    if (ss < 512 || ss > (1u << 23) || (ss & (ss - 1))) {
        errno = 0;
        die("bad log sector size");
    }
    struct entry *v = calloc(n ? n : 1, sizeof *v);
    uint8_t *hdr = malloc(ss);
    if (!v || !hdr)
        die("out of memory");
    uint64_t cur = 1;
    for (uint64_t i = 0; i < n; i++) {
        if ((off_t)((cur + 1) * ss) > st.st_size || read_full(fd, hdr, ss, (off_t)(cur * ss))) {
            errno = 0;
            fprintf(stderr, "replay_log_writes: log ends inside entry %" PRIu64 " of %" PRIu64 "\n", i, n);
            exit(2);
        }
        v[i].sector = le64(hdr);
        v[i].nr_sectors = le64(hdr + 8);
        v[i].flags = le64(hdr + 16);
        uint64_t data_len = le64(hdr + 24);
        uint64_t bytes = v[i].nr_sectors * ss;          /* a write's data */
        if (v[i].flags & F_MARK)
            bytes = data_len;                       /* the mark's name */
        else if (v[i].flags & (F_DISCARD | F_FLUSH))
            bytes = 0;
        if (bytes > MAX_ENTRY_BYTES) {
            errno = 0;
            die("an entry larger than any request (corrupt log)");
        }
        v[i].data_off = (cur + 1) * ss;
        cur += 1 + (bytes + ss - 1) / ss;
        if ((off_t)(v[i].data_off + bytes) > st.st_size) {
            errno = 0;
            die("log shorter than its entries");
        }
    }
    free(hdr);
    *ss_out = ss;
    *n_out = n;
    return v;
}

/* Applies entry e (its data read from the log) to img (in memory) or to fd (img NULL). */
static void apply(int logfd, const struct entry *e, uint32_t ss, uint8_t *img, uint64_t img_size, int outfd,
          uint8_t *buf)
{
    if (e->flags & (F_FLUSH | F_MARK))
        return;
    if (e->nr_sectors == 0)
        return;
    uint64_t off = e->sector * ss, len = e->nr_sectors * ss;
    if (off >= img_size)
        return;
    if (len > img_size - off)
        len = img_size - off;
    if (e->flags & F_DISCARD)
        memset(buf, 0, len);        /* QEMU's file driver punches a hole: zeros */
    else if (read_full(logfd, buf, len, (off_t)e->data_off))
        die("cannot read entry data");
    if (img)
        memcpy(img + off, buf, len);
    else if (write_full(outfd, buf, len, (off_t)off))
        die("cannot write the image");
}

static int cmp_point(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    if (x->stable_end != y->stable_end)
        return x->stable_end < y->stable_end ? -1 : 1;
    return x->upto < y->upto ? -1 : x->upto > y->upto;
}

static void usage(void)
{
    fprintf(stderr, "usage: replay_log_writes --log LOG --base BASE --image OUT [--points N] [--seed S]\n"
            "                         [--exec CMD] [--drop-percent P] [--prefix K] | --log LOG --list\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *logp = NULL, *basep = NULL, *outp = NULL, *cmd = NULL;
    long npoints = 50;
    uint64_t seed = 1;
    int drop = 50;
    bool list = false;
    long long prefix = -1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--list")) {
            list = true;
            continue;
        }
        if (!v)
            usage();
        if (!strcmp(a, "--log"))
            logp = v;
        else if (!strcmp(a, "--base"))
            basep = v;
        else if (!strcmp(a, "--image"))
            outp = v;
        else if (!strcmp(a, "--exec"))
            cmd = v;
        else if (!strcmp(a, "--points"))
            npoints = strtol(v, NULL, 10);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--drop-percent"))
            drop = atoi(v);
        else if (!strcmp(a, "--prefix"))
            prefix = strtoll(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (!logp || (!list && (!basep || !outp)) || npoints < 1 || npoints > 10000000 || drop < 0 || drop > 100)
        usage();
    int logfd = open(logp, O_RDONLY);
    if (logfd < 0)
        die("cannot open the log");
    uint32_t ss;
    uint64_t n;
    struct entry *ent = load_log(logfd, &ss, &n);
    uint64_t nflush = 0;
    for (uint64_t i = 0; i < n; i++)
        nflush += (ent[i].flags & F_FLUSH) != 0;
    if (list) {
        for (uint64_t i = 0; i < n; i++)
            printf("%" PRIu64 " sector %" PRIu64 " count %" PRIu64 "%s%s%s%s\n", i, ent[i].sector,
                   ent[i].nr_sectors, ent[i].flags & F_FLUSH ? " FLUSH" : "", ent[i].flags & F_FUA ? " FUA" : "",
                   ent[i].flags & F_DISCARD ? " DISCARD" : "", ent[i].flags & F_MARK ? " MARK" : "");
        printf("# %" PRIu64 " entries, %" PRIu64 " flushes, log sector %u\n", n, nflush, ss);
        return 0;
    }

    /* the base image, kept in memory and brought forward entry by entry */
    int basefd = open(basep, O_RDONLY);
    struct stat st;
    if (basefd < 0 || fstat(basefd, &st))
        die("cannot open the base image");
    uint64_t img_size = (uint64_t)st.st_size;
    uint8_t *img = malloc(img_size ? img_size : 1), *buf = malloc(MAX_ENTRY_BYTES);
    if (!img || !buf)
        die("out of memory");
    if (read_full(basefd, img, img_size, 0))
        die("cannot read the base image");
    close(basefd);

    /* the flushes, and for each entry the count of entries up to its last flush */
    int64_t *last_flush_end = malloc(sizeof(int64_t) * (n ? n : 1));
    int64_t *flushes = malloc(sizeof(int64_t) * (nflush ? nflush : 1));
    if (!last_flush_end || !flushes)
        die("out of memory");
    int64_t lf = 0;
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (ent[i].flags & F_FLUSH) {
            lf = (int64_t)i + 1;
            flushes[k++] = (int64_t)i;
        }
        last_flush_end[i] = lf;
    }

    /* for each entry, the last entry before the next FLUSH (or the last entry) */
    int64_t *window_end = malloc(sizeof(int64_t) * (n ? n : 1));
    if (!window_end)
        die("out of memory");
    for (int64_t i = (int64_t)n - 1, end = (int64_t)n - 1; i >= 0; i--) {
        if (ent[i].flags & F_FLUSH)
            end = i - 1 >= 0 ? i - 1 : 0;
        window_end[i] = (ent[i].flags & F_FLUSH) ? i : end;
    }

    struct point *pts = calloc((size_t)npoints, sizeof *pts);
    if (!pts)
        die("out of memory");
    if (prefix >= 0) {                      /* one image: entries [0, prefix) in order */
        if ((uint64_t)prefix > n)
            prefix = (long long)n;
        npoints = 1;
    }
    uint64_t rs = seed;
    for (long i = 0; i < npoints; i++) {
        struct point *p = &pts[i];
        uint64_t r = rng_next(&rs) % 4;
        if (n == 0) {
            p->kind = 'p';
            p->upto = -1;
            p->stable_end = 0;
            continue;
        }
        if (i == 0) {                           /* the last state of all */
            p->kind = 'p';
            p->upto = (int64_t)n - 1;
        } else if (r == 0 && nflush) {
            p->kind = 'f';
            p->upto = flushes[rng_next(&rs) % nflush];
        } else if (r == 1) {
            p->kind = 'p';
            p->upto = (int64_t)(rng_next(&rs) % n);
        } else {
            p->kind = 's';
            p->upto = (int64_t)(rng_next(&rs) % n);
            if (rng_next(&rs) % 2)
                p->upto = window_end[p->upto];  /* the whole window up to the next flush */
        }
        if (prefix >= 0) {
            p->kind = 'p';
            p->upto = prefix - 1;
        }
        p->stable_end = p->kind == 's' ? last_flush_end[p->upto] : p->upto + 1;
        if (p->kind == 's' && p->stable_end == p->upto + 1)
            p->kind = 'f';                  /* j is a flush: nothing after it to drop */
        p->seed = rng_next(&rs);
    }
    qsort(pts, (size_t)npoints, sizeof *pts, cmp_point);

    int outfd = open(outp, O_RDWR | O_CREAT, 0644);
    if (outfd < 0)
        die("cannot open the output image");
    int64_t applied = 0;                    /* entries [0, applied) are in img */
    int failures = 0;
    for (long i = 0; i < npoints; i++) {
        struct point *p = &pts[i];
        while (applied < p->stable_end)
            apply(logfd, &ent[applied++], ss, img, img_size, -1, buf);
        if (ftruncate(outfd, (off_t)img_size) || write_full(outfd, img, img_size, 0))
            die("cannot write the image");
        int64_t maxa = p->stable_end - 1;
        uint64_t extras = 0, kept = 0, ps = p->seed;
        for (int64_t j = p->stable_end; j <= p->upto; j++) {
            if (ent[j].flags & (F_FLUSH | F_MARK))
                continue;
            extras++;
            if (p->kind == 's' && (int)(rng_next(&ps) % 100) < drop)
                continue;
            apply(logfd, &ent[j], ss, NULL, img_size, outfd, buf);   /* to OUT only */
            kept++;
            maxa = j;
        }
        if (!cmd)
            continue;
        char e[6][64];
        snprintf(e[0], sizeof e[0], "%ld", i + 1);
        snprintf(e[1], sizeof e[1], "%s", kind_name(p->kind));
        snprintf(e[2], sizeof e[2], "%" PRId64, p->upto);
        snprintf(e[3], sizeof e[3], "%" PRId64, p->stable_end);
        snprintf(e[4], sizeof e[4], "%" PRId64, maxa);
        snprintf(e[5], sizeof e[5], "%" PRIu64 "/%" PRIu64, kept, extras);
        setenv("CRASH_POINT", e[0], 1);
        setenv("CRASH_KIND", e[1], 1);
        setenv("CRASH_UPTO", e[2], 1);
        setenv("CRASH_STABLE", e[3], 1);
        setenv("CRASH_MAX", e[4], 1);
        setenv("CRASH_KEPT", e[5], 1);
        setenv("CRASH_IMAGE", outp, 1);
        fflush(stdout);
        int rc = system(cmd);
        if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
            failures++;
    }
    close(outfd);
    free(pts);
    free(img);
    free(buf);
    free(ent);
    free(last_flush_end);
    free(window_end);
    free(flushes);
    return failures ? 1 : 0;
}
