/* The kernel's side of fs/fs_port.h: the complete mutex and condition types fs/ embeds.
 * The functions are in fs/kernel/fs_port_kernel.c. */
#pragma once
#include "sched.h"

/* A sleeping kernel mutex; its trylock never sleeps, as bcache_lookup_nb requires. */
struct fs_mutex { struct mutex m; };

/* A wait queue.  On one CPU "release the mutex and sleep" is atomic when done with
 * interrupts off: no broadcast can run between the unlock and the enqueue. */
struct fs_cond { struct waitq wq; };
