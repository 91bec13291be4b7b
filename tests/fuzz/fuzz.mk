# fuzz.mk - libFuzzer harnesses (tests/fuzz/fuzz_*.c), built with Debian's clang 14.
#   make fuzz [FUZZ_S=300] [FUZZ_S_engine=1200 ...] [FUZZ_ONLY="codec reasm"]  runs each
#       harness FUZZ_S seconds (FUZZ_S_<name> for one of them) on a corpus kept in
#       build/fuzz/<name>/corpus (seeded from tests/fuzz/<name>/corpus); crashes land in
#       build/fuzz/<name>/crashes.  scripts/fuzz.sh does the running.
#       FUZZ_RUNS=N stops each after N executions (FUZZ_S then only caps the time);
#       FUZZ_JOBS=N runs N harnesses at once; FUZZ_SPLIT=N runs each as N processes
#       sharing its corpus and its FUZZ_RUNS (the summary sums them).
#   make fuzz-build                                    builds them all.
# `make test` replays the committed corpus and reproducers (scripts/fuzz-replay.sh).
#
# Only the code under test (proto/, server/, fs/) carries coverage feedback; the harness, the
# port and SHA-256 are built with the sanitizers but without it (their comparisons tell the
# fuzzer nothing and cost it a third of its speed), so cov/ft count edges of project code.

FUZZ_CC      := clang-14
FUZZ_NAMES   := codec reasm users engine ext2
FUZZ_BIN     := $(BUILD)/fuzz/bin
FUZZ_OBJ     := $(BUILD)/fuzz/obj
FUZZ_BASE    := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer -pthread -Iinclude -I. \
                -DFS_PORT_HEADER='"tests/host/fs_port_host.h"' -MMD -MP
FUZZ_CUT     := $(FUZZ_BASE) -fsanitize=fuzzer-no-link,address,undefined
FUZZ_PLAIN   := $(FUZZ_BASE) -fsanitize=address,undefined
FUZZ_LD      := -fsanitize=fuzzer,address,undefined -pthread

FUZZ_UNDER_codec  := proto/ncp_codec.c
FUZZ_UNDER_reasm  := proto/ncp_reasm.c
FUZZ_UNDER_users  := proto/ncp_auth.c
FUZZ_UNDER_engine := $(filter-out server/ncp_vfs_ext2.c proto/sha256.c,$(wildcard server/*.c proto/*.c))
FUZZ_UNDER_ext2   := $(wildcard fs/*.c)
FUZZ_HELP_users   := proto/sha256.c
FUZZ_HELP_engine  := proto/sha256.c tests/fuzz/fuzz_port.c tests/host/fs_port_threads.c
FUZZ_HELP_ext2    := tests/fuzz/fuzz_port.c tests/host/fs_port_threads.c

$(FUZZ_OBJ)/cut/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CUT) -c -o $@ $<

$(FUZZ_OBJ)/plain/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_PLAIN) -c -o $@ $<

# (a function, so the pattern rule's own '%' does not reach the patsubst)
fuzz_objs = $(patsubst %.c,$(FUZZ_OBJ)/cut/%.o,$(FUZZ_UNDER_$(1))) \
            $(patsubst %.c,$(FUZZ_OBJ)/plain/%.o,$(FUZZ_HELP_$(1)))
.SECONDEXPANSION:
$(FUZZ_BIN)/fuzz_%: $(FUZZ_OBJ)/plain/tests/fuzz/fuzz_%.o $$(call fuzz_objs,$$*)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_LD) -o $@ $^

-include $(shell find $(FUZZ_OBJ) -name '*.d' 2>/dev/null)

.PHONY: fuzz fuzz-build
fuzz-build: $(addprefix $(FUZZ_BIN)/fuzz_,$(FUZZ_NAMES))

fuzz: deps
	@FUZZ_S="$(or $(FUZZ_S),300)" scripts/fuzz.sh $(or $(FUZZ_ONLY),$(FUZZ_NAMES))
