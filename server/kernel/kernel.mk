# The file server in the kernel: the portable codec (proto/) and engine (server/) plus the
# glue to lwIP and the storage volume (server/kernel/).  Needs the network (lwIP present).
ifneq ($(NET_KCFLAGS),)
EXTRA_KDIRS      += proto server server/kernel
KERNEL_EXCLUDE_C += server/ncp_memfs.c
$(BUILD)/k/proto/%.o $(BUILD)/k/server/%.o: KCFLAGS += $(FS_KERNEL_PORT)
$(BUILD)/k/server/kernel/%.o: KCFLAGS += $(NET_KCFLAGS)
endif
