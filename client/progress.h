/* progress.h - a one-line transfer progress bar with rate and ETA.
 * Drawn on stderr only when stderr is a terminal. */
#ifndef NCPC_PROGRESS_H
#define NCPC_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    bool enabled;
    const char *label;
    uint64_t total, done;
    double start, last_draw;
};

double now_seconds(void);
void progress_start(struct progress *p, const char *label, uint64_t total, bool want);
void progress_update(struct progress *p, uint64_t done);
void progress_finish(struct progress *p);

#endif
