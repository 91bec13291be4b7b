# net/ in the kernel: the lwIP port and services, plus lwIP 2.1.3 itself from
# third_party/lwip (Debian's source package, fetched by scripts/deps.sh; never committed).
LWIP_DIR := third_party/lwip/src
ifneq ($(wildcard $(LWIP_DIR)/core/tcp.c),)
EXTRA_KDIRS += net
KERNEL_EXTRA_C += $(sort $(wildcard $(LWIP_DIR)/core/*.c) $(wildcard $(LWIP_DIR)/core/ipv4/*.c)) \
                  $(LWIP_DIR)/netif/ethernet.c
# Objects that include lwIP headers (net/, lwIP, in-guest net tests, and any layer above
# that uses the raw API -- e.g. `$(BUILD)/k/server/%.o: KCFLAGS += $(NET_KCFLAGS)`).
NET_KCFLAGS := -DWTD_NET=1 -Inet -Inet/compat -I$(LWIP_DIR)/include
$(BUILD)/k/net/%.o $(BUILD)/k/tests/kernel/test_net%.o: KCFLAGS += $(NET_KCFLAGS)
# lwIP is third-party code: its own warnings are not ours to fix.
$(BUILD)/k/$(LWIP_DIR)/%.o: KCFLAGS += $(NET_KCFLAGS) -Wno-sign-compare -Wno-type-limits \
                                       -Wno-address -Wno-unused-but-set-variable
else
$(warning lwIP is not in $(LWIP_DIR): run `make deps`; building without networking)
endif
