# fuzz.mk - libFuzzer harnesses (tests/fuzz/fuzz_*.c), built with Debian's clang 14.
#   make fuzz [FUZZ_S=300] [FUZZ_ONLY="codec reasm"]  runs each harness FUZZ_S seconds on a
#       corpus kept in build/fuzz/<name>/corpus (seeded from tests/fuzz/<name>/corpus);
#       crashes land in build/fuzz/<name>/crashes.  scripts/fuzz.sh does the running.
#   make fuzz-build                                    builds them all.
# `make test` replays the committed corpus and reproducers (scripts/fuzz-replay.sh).

FUZZ_CC      := clang-14
FUZZ_NAMES   := codec reasm users engine ext2
FUZZ_BIN     := $(BUILD)/fuzz/bin
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer -pthread -Iinclude -I. \
                -DFS_PORT_HEADER='"tests/host/fs_port_host.h"'
FUZZ_PORT    := tests/fuzz/fuzz_port.c
FUZZ_HDR     := tests/fuzz/fuzz_check.h tests/fuzz/fuzz_port.h include/ncp_proto.h \
                $(wildcard proto/*.h server/*.h fs/*.h)

FUZZ_SRC_codec  := proto/ncp_codec.c
FUZZ_SRC_reasm  := proto/ncp_reasm.c
FUZZ_SRC_users  := proto/ncp_auth.c proto/sha256.c
FUZZ_SRC_engine := $(filter-out server/ncp_vfs_ext2.c,$(wildcard server/*.c)) $(wildcard proto/*.c) $(FUZZ_PORT)
FUZZ_SRC_ext2   := $(wildcard fs/*.c) $(FUZZ_PORT)

# SHA-256 is built without coverage feedback (sanitizers still on): its rounds are all
# comparisons the fuzzer can do nothing with, and they took a third of the engine's time.
$(FUZZ_BIN)/sha256.o: proto/sha256.c proto/sha256.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -fsanitize=fuzzer%,$(FUZZ_CFLAGS)) -fsanitize=address,undefined -c -o $@ $<

$(FUZZ_BIN)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDR) $(wildcard proto/*.c server/*.c fs/*.c) $(FUZZ_PORT) $(FUZZ_BIN)/sha256.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(filter-out proto/sha256.c,$(FUZZ_SRC_$*)) \
	    $(if $(filter proto/sha256.c,$(FUZZ_SRC_$*)),$(FUZZ_BIN)/sha256.o)

.PHONY: fuzz fuzz-build
fuzz-build: $(addprefix $(FUZZ_BIN)/fuzz_,$(FUZZ_NAMES))

fuzz: deps
	@FUZZ_S="$(or $(FUZZ_S),300)" scripts/fuzz.sh $(or $(FUZZ_ONLY),$(FUZZ_NAMES))
