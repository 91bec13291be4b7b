# proto.mk - wire codec and protocol engine: host tests, ncpc and ncpd.
# (a) build/ncpc from client/ (ncpc*.c and the shared files) + proto/*.c, plain -O2
#     (no sanitizers); build/ncpfs (the FUSE mount) from client/ncpfs*.c, the shared
#     files and libfuse3;
#     build/ncpd from server/linux/ (Linux main) + server/ + proto/ + fs/.
# (b) codec / sha256 / fuzz / engine tests with $(HOST_CFLAGS) (ASan + UBSan).

PROTO_SRC   := $(wildcard proto/*.c)
PROTO_HDR   := include/ncp_proto.h $(wildcard proto/*.h)
# client/: ncpc*.c are ncpc's, ncpfs*.c the mount's, the rest shared by both.
CLIENT_SHARED := $(filter-out client/ncpc%.c client/ncpfs%.c,$(wildcard client/*.c))
CLIENT_SRC  := $(wildcard client/ncpc*.c) $(CLIENT_SHARED)
NCPFS_SRC   := $(wildcard client/ncpfs*.c) $(CLIENT_SHARED)
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null || echo -I/usr/include/fuse3)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3 -lpthread)
# The engine without the ext2 adapter (tests run it over the memory fs).
ENGINE_SRC  := $(filter-out server/ncp_vfs_ext2.c,$(wildcard server/*.c))
ENGINE_HDR  := $(wildcard server/*.h) fs/fs_port.h fs/fs_errno.h
TOOL_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter -Iinclude -I.
PORT_CFLAGS := -pthread -DFS_PORT_HEADER='"tests/host/fs_port_host.h"'

$(BUILD)/ncpc: $(CLIENT_SRC) $(PROTO_SRC) $(PROTO_HDR) $(wildcard client/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(CLIENT_SRC) $(PROTO_SRC) -lm

$(BUILD)/ncpfs: $(NCPFS_SRC) $(PROTO_SRC) $(PROTO_HDR) $(wildcard client/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -pthread $(FUSE_CFLAGS) -o $@ $(NCPFS_SRC) $(PROTO_SRC) $(FUSE_LIBS)

.PHONY: client
client: $(BUILD)/ncpc $(BUILD)/ncpfs

PROTO_UNIT_TESTS := $(BUILD)/host/test_proto_codec $(BUILD)/host/test_proto_sha256 \
                    $(BUILD)/host/test_proto_fuzz $(BUILD)/host/test_proto_reasm

$(PROTO_UNIT_TESTS): $(BUILD)/host/test_proto_%: tests/host/test_proto_%.c $(PROTO_SRC) $(PROTO_HDR) tests/host/test_proto_check.h tests/host/test_harness.h tests/host/test_proto_session.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< $(PROTO_SRC)

# The engine's tests: the engine over memfs on the host port.
ENGINE_TESTS := $(BUILD)/host/test_proto_server $(BUILD)/host/test_proto_resolve
$(ENGINE_TESTS): $(BUILD)/host/test_proto_%: tests/host/test_proto_%.c $(ENGINE_SRC) $(ENGINE_HDR) $(PROTO_SRC) $(PROTO_HDR) tests/host/fs_port_host.c tests/host/fs_port_threads.c tests/host/test_proto_check.h tests/host/test_harness.h tests/host/test_proto_session.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(PORT_CFLAGS) -o $@ $< $(ENGINE_SRC) $(PROTO_SRC) tests/host/fs_port_host.c tests/host/fs_port_threads.c

HOST_TESTS += $(PROTO_UNIT_TESTS) $(ENGINE_TESTS)

# ncpc bench's latency histogram and open-loop schedule (client/hdr_hist.c, ncpc_sched.c).
$(BUILD)/host/test_hdr_hist: tests/host/test_hdr_hist.c client/hdr_hist.c client/hdr_hist.h tests/host/test_proto_check.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< client/hdr_hist.c
$(BUILD)/host/test_ncpc_sched: tests/host/test_ncpc_sched.c client/ncpc_sched.c client/ncpc_sched.h client/hdr_hist.c client/hdr_hist.h tests/host/test_proto_check.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< client/ncpc_sched.c client/hdr_hist.c -lm
HOST_TESTS += $(BUILD)/host/test_hdr_hist $(BUILD)/host/test_ncpc_sched

# ncpd: the engine + ext2 (fs/) + a Linux main; -O2, no sanitizers.
NCPD_SRC := $(wildcard server/*.c server/linux/*.c) $(wildcard fs/*.c) tests/host/fs_port_host.c tests/host/fs_port_threads.c
$(BUILD)/ncpd: $(NCPD_SRC) $(ENGINE_HDR) $(wildcard server/linux/*.h) $(PROTO_SRC) $(PROTO_HDR) $(wildcard fs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) $(PORT_CFLAGS) -o $@ $(NCPD_SRC) $(PROTO_SRC)

.PHONY: ncpd
ncpd: $(BUILD)/ncpd

# End-to-end: raw-protocol tests against build/ncpd, then the ncpc CLI script.
$(BUILD)/e2e/test_ncpd: tests/e2e/test_ncpd.c $(wildcard tests/e2e/test_ncpd_*.c) $(PROTO_SRC) $(PROTO_HDR) tests/host/test_proto_check.h tests/host/test_harness.h tests/host/test_proto_session.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< $(PROTO_SRC)

# (scripts/test.sh runs the same two scripts; each builds what it needs.)
.PHONY: e2e-tests
e2e-tests: $(BUILD)/ncpd $(BUILD)/ncpc $(BUILD)/e2e/test_ncpd
	@st=0; tests/e2e/ncpd_protocol.sh $(BUILD) || st=1; \
	 tests/e2e/ncpc_cli.sh $(BUILD) || st=1; exit $$st

# Freestanding compile check of proto/ and the portable server/ with the
# kernel's flags (no libc, no FP); the unit tests depend on it, so a libc
# slip breaks the build at once.
PROTO_FREESTANDING_CFLAGS := -std=c11 -ffreestanding -nostdlib -mno-red-zone -mgeneral-regs-only \
        -fno-pic -mcmodel=kernel -fno-stack-protector -O2 -Wall -Wextra -Werror -Iinclude -I. \
        -DFS_PORT_HEADER='"tests/host/fs_port_freestanding_check.h"'
$(BUILD)/host/proto/freestanding.stamp: $(PROTO_SRC) $(wildcard server/*.c) $(PROTO_HDR) $(ENGINE_HDR) $(wildcard fs/*.h)
	@mkdir -p $(BUILD)/host/proto/ff
	@for f in $(PROTO_SRC) $(wildcard server/*.c); do \
	  $(CC) $(PROTO_FREESTANDING_CFLAGS) -c $$f -o $(BUILD)/host/proto/ff/$$(basename $$f .c).o || exit 1; \
	done
	@touch $@

.PHONY: proto-freestanding-check
proto-freestanding-check: $(BUILD)/host/proto/freestanding.stamp
$(PROTO_UNIT_TESTS) $(BUILD)/host/test_proto_server $(BUILD)/host/test_proto_resolve: $(BUILD)/host/proto/freestanding.stamp

# ncpfs's inode table (client/ncpfs_nodes.c).
$(BUILD)/host/test_ncpfs_nodes: tests/host/test_ncpfs_nodes.c client/ncpfs_nodes.c client/ncpfs_nodes.h tests/host/test_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< client/ncpfs_nodes.c -pthread
HOST_TESTS += $(BUILD)/host/test_ncpfs_nodes
