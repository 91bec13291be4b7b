/* Minimal port types used only to compile-check fs/ freestanding
 * (the kernel supplies fs/kernel/fs_port_kernel.h instead). */
#ifndef FS_PORT_FREESTANDING_CHECK_H
#define FS_PORT_FREESTANDING_CHECK_H
struct fs_mutex { volatile int locked; void *waiters; };
struct fs_cond  { void *waiters; };
#endif
