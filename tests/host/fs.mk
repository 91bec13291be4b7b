# Host tests of fs/ (block cache and ext2).  Included by the top Makefile.
# Every fs/*.c is built for the host with the pthread port, and also
# compile-checked freestanding with the kernel's flags (no libc, no FP).

FS_HOST_DIR    := $(BUILD)/host/fs
FS_SRC         := $(wildcard fs/*.c)
FS_HOST_OBJ    := $(patsubst fs/%.c,$(FS_HOST_DIR)/%.o,$(FS_SRC))
FS_HOST_HELPERS := $(patsubst tests/host/%.c,$(FS_HOST_DIR)/%.o,$(filter-out tests/host/fs_genrand.c,$(wildcard tests/host/fs_*.c)))
FS_HOST_CFLAGS := $(HOST_CFLAGS) -pthread -DFS_PORT_HEADER='"tests/host/fs_port_host.h"' -Itests/host
FS_FREESTANDING_CFLAGS := -std=c11 -ffreestanding -nostdlib -mno-red-zone -mgeneral-regs-only \
                   -fno-pic -mcmodel=kernel -fno-stack-protector -O2 -Wall -Wextra -Werror \
                   -I. -DFS_PORT_HEADER='"tests/host/fs_port_freestanding_check.h"'
FS_TESTS       := $(BUILD)/host/test_bcache $(BUILD)/host/test_fs_read $(BUILD)/host/test_fs_write \
                  $(BUILD)/host/test_fs_model $(BUILD)/host/test_fs_concurrent $(BUILD)/host/test_fs_fuzz \
                   $(BUILD)/host/test_fs_corrupt $(BUILD)/host/test_fs_durable $(BUILD)/host/test_fs_links \
                   $(BUILD)/host/test_fs_posix $(BUILD)/host/test_fs_journal
FS_TESTS       := $(foreach t,$(FS_TESTS),$(if $(wildcard tests/host/$(notdir $(t)).c),$(t)))
HOST_TESTS     += $(FS_TESTS)

$(FS_HOST_DIR)/%.o: fs/%.c fs/*.h tests/host/fs_port_host.h
	@mkdir -p $(dir $@)
	$(CC) $(FS_HOST_CFLAGS) -c $< -o $@

$(FS_HOST_DIR)/%.o: tests/host/%.c tests/host/fs_*.h fs/*.h tests/host/test_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(FS_HOST_CFLAGS) -c $< -o $@

# Freestanding compile check of every fs/*.c (a stamp; the tests depend on it
# so a libc or floating-point slip in fs/ breaks the build at once).
$(FS_HOST_DIR)/freestanding.stamp: $(FS_SRC) fs/*.h tests/host/fs_port_freestanding_check.h
	@mkdir -p $(FS_HOST_DIR)/ff
	@for f in $(FS_SRC); do \
	  $(CC) $(FS_FREESTANDING_CFLAGS) -c $$f -o $(FS_HOST_DIR)/ff/$$(basename $$f .c).o || exit 1; \
	done
	@touch $@

$(FS_TESTS): $(BUILD)/host/%: $(FS_HOST_DIR)/%.o $(FS_HOST_OBJ) $(FS_HOST_HELPERS) $(FS_HOST_DIR)/freestanding.stamp
	$(CC) $(FS_HOST_CFLAGS) -o $@ $(filter %.o,$^)

.PHONY: fs-host-tests fs-freestanding-check
fs-freestanding-check: $(FS_HOST_DIR)/freestanding.stamp

# Build and run only the fs suites.
fs-host-tests: $(FS_TESTS)
	@st=0; for t in $(FS_TESTS); do $$t || st=1; done; exit $$st

# Demo image for `make run` (scripts/mkdemo.sh skips it when up to date).
.PHONY: demo-image
demo-image:
	@scripts/mkdemo.sh $(BUILD)/demo.img
