/* fuzz_port.h - what tests/fuzz/fuzz_port.c adds to the host port. */
#ifndef FUZZ_PORT_H
#define FUZZ_PORT_H

#include "tests/host/fs_port_host.h"

/* fs_alloc'ed blocks not yet fs_freed. */
extern long fuzz_allocs_live;

/* What fs_time_now returns (seconds): FUZZ_TIME_START unless a harness moves it. */
#define FUZZ_TIME_START 1700000000u
extern uint32_t fuzz_time_s;

#endif
