# powercut.mk - the power-cut test (issue 15 items 4-5): the write-log replay tool and the
# load, both host programs; `make crashtest` runs the long version (CRASH_POINTS= crash
# points, default 2000; CRASH_OPS= operations of the load, default 600).  The short
# version is the e2e suite tests/e2e/powercut.sh that `make test` runs.
$(BUILD)/e2e/replay_log_writes: tests/e2e/replay_log_writes.c
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $<

$(BUILD)/e2e/powercut_load: tests/e2e/powercut_load.c $(CLIENT_SHARED) $(PROTO_SRC) $(PROTO_HDR) $(wildcard client/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(CLIENT_SHARED) $(PROTO_SRC) -lm

.PHONY: powercut-tools crashtest
powercut-tools: $(BUILD)/e2e/replay_log_writes $(BUILD)/e2e/powercut_load

CRASH_POINTS ?= 2000
CRASH_OPS ?= 600
crashtest: deps
	@$(MAKE) --no-print-directory all powercut-tools $(BUILD)/ncpc
	@CRASH_POINTS=$(CRASH_POINTS) CRASH_OPS=$(CRASH_OPS) tests/e2e/powercut.sh $(BUILD)
