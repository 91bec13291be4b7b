/* The NCP file service in the kernel: lwIP connections on port 524 fed to the portable
 * engine (server/ncp_server.c) over the storage volume.  See kserver.c for the model. */
#pragma once
#include "types.h"

struct kserver_stats {
    uint64_t accepted, refused, closed, live;
    uint64_t requests, fast_path, slow_path;    /* answered in the receive WTD / in a worker */
    uint64_t bad_frames, bytes_in, bytes_out, send_queued_max;
    uint64_t waited_for_room;                   /* frames held back until replies had room */
    uint64_t mem_bytes;                         /* connection state charged now (atomic) */
    uint64_t refused_mem, closed_mem;           /* connections refused / closed by the budget */
    uint64_t login_timeouts, frame_timeouts;    /* connections closed by the timeouts */
};
void kserver_get_stats(struct kserver_stats *out);
