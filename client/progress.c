/* progress.c - transfer progress bar: "name [=====>    ] 45% 12.3 MB 80.1 MB/s ETA 0:03". */
#include "client/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_start(struct progress *p, const char *label, uint64_t total, bool want)
{
    memset(p, 0, sizeof *p);
    p->enabled = want && isatty(STDERR_FILENO);
    p->label = label;
    p->total = total;
    p->start = now_seconds();
}

static void draw(struct progress *p, bool final)
{
    double t = now_seconds(), el = t - p->start;
    double rate = el > 0 ? (double)p->done / el : 0;
    int pct = p->total ? (int)(100.0 * (double)p->done / (double)p->total) : 100;
    if (pct > 100) pct = 100;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[30] = '\0';
    char eta[32] = "";
    if (!final && rate > 0 && p->total > p->done) {
        unsigned s = (unsigned)((double)(p->total - p->done) / rate);
        snprintf(eta, sizeof eta, " ETA %u:%02u", s / 60, s % 60);
    } else if (final) {
        snprintf(eta, sizeof eta, " in %.1fs", el);
    }
    const char *name = p->label;
    size_t n = strlen(name);
    if (n > 24) name += n - 24;
    fprintf(stderr, "\r%-24s [%s] %3d%% %8.1f MB %7.1f MB/s%s\033[K", name, bar, pct,
            (double)p->done / 1e6, rate / 1e6, eta);
    if (final) fputc('\n', stderr);
    fflush(stderr);
    p->last_draw = t;
}

void progress_update(struct progress *p, uint64_t done)
{
    p->done = done;
    if (p->enabled && now_seconds() - p->last_draw >= 0.1) draw(p, false);
}

void progress_finish(struct progress *p)
{
    if (p->enabled) draw(p, true);
}
