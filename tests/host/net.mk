# net.mk - host tests of the portable parts of net/ (ASan + UBSan).
$(BUILD)/host/test_inet_sum: tests/host/test_inet_sum.c net/inet_sum.c net/inet_sum.h tests/host/test_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -o $@ $< net/inet_sum.c
HOST_TESTS += $(BUILD)/host/test_inet_sum
