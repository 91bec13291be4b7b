# fs/ in the kernel: the portable fs/*.c, built against the kernel's port header, and
# fs/kernel/ -- the kernel's side of fs/fs_port.h and the boot-time volume (AHCI disk ->
# block cache -> ext2) with its console commands.
EXTRA_KDIRS += fs fs/kernel
FS_KERNEL_PORT := -DFS_PORT_HEADER='"fs/kernel/fs_port_kernel.h"'
$(BUILD)/k/fs/%.o: KCFLAGS += $(FS_KERNEL_PORT)
# The in-guest storage tests (test kernel) use fs/ through the same port.
$(BUILD)/k/tests/kernel/%.o: KCFLAGS += $(FS_KERNEL_PORT)
