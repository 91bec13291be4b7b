# fs/ in the kernel: every fs/*.c, built against the kernel's port header.
EXTRA_KDIRS += fs
$(BUILD)/k/fs/%.o: KCFLAGS += -DFS_PORT_HEADER='"kernel/fs_port_kernel.h"'
