# net/ in the kernel: the lwIP port and services, plus lwIP 2.1.3 itself from
# third_party/lwip (Debian's source package, fetched by scripts/deps.sh; never committed).
LWIP_DIR := third_party/lwip/src
ifneq ($(wildcard $(LWIP_DIR)/core/tcp.c),)
EXTRA_KDIRS += net
# tcp_in.c is built from a copy whose active-connection walk starts at our hash index's
# hint (net/net_pcb_index.c); if lwIP's line ever changes, the build says so and stops.
LWIP_TCP_IN_GEN := $(BUILD)/gen/lwip/tcp_in.c
KERNEL_EXTRA_C += $(sort $(filter-out $(LWIP_DIR)/core/tcp_in.c,$(wildcard $(LWIP_DIR)/core/*.c)) \
                  $(wildcard $(LWIP_DIR)/core/ipv4/*.c)) $(LWIP_DIR)/netif/ethernet.c $(LWIP_TCP_IN_GEN)
LWIP_WALK := for (pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
$(LWIP_TCP_IN_GEN): $(LWIP_DIR)/core/tcp_in.c net/kernel.mk
	@mkdir -p $(dir $@)
	@test "$$(grep -cF '$(LWIP_WALK)' $<)" = 1 || { echo "net/kernel.mk: lwIP's tcp_input walk not found in $<" >&2; exit 1; }
	sed 's/for (pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {/for (pcb = net_tcp_lookup_hint(tcphdr->src, tcphdr->dest); pcb != NULL; pcb = pcb->next) {/' $< > $@
# Objects that include lwIP headers (net/, lwIP, in-guest net tests, and any layer above
# that uses the raw API -- e.g. `$(BUILD)/k/server/%.o: KCFLAGS += $(NET_KCFLAGS)`).
NET_KCFLAGS := -DWTD_NET=1 -Inet -Inet/compat -I$(LWIP_DIR)/include
$(BUILD)/k/net/%.o $(BUILD)/k/tests/kernel/test_net%.o: KCFLAGS += $(NET_KCFLAGS)
# lwIP is third-party code: its own warnings are not ours to fix.
$(BUILD)/k/$(LWIP_DIR)/%.o $(BUILD)/k/$(BUILD)/gen/lwip/%.o: KCFLAGS += $(NET_KCFLAGS) -Wno-sign-compare -Wno-type-limits \
                                       -Wno-address -Wno-unused-but-set-variable
else
$(warning lwIP is not in $(LWIP_DIR): run `make deps`; building without networking)
endif
