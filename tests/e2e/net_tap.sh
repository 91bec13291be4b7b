#!/usr/bin/env bash
# End to end in the tap namespace 'worktodo' (made and always removed by scripts/run.sh;
# nothing is configured in the root namespace): ping, echo, a 16 MiB stream from the
# source service, unpredictable TCP ISNs in the guest's SYN-ACKs, connections past
# net.maxconn refused while the first ones still echo, and runt/oversized/corrupt frames
# from a packet socket dropped, counted, and survived.
set -uo pipefail
source "$(dirname "$0")/net_lib.sh"

ns=worktodo
guest=10.77.0.2
maxconn=16
# The checks below, by name: without root, /dev/net/tun or iproute2 each is a skip.
tap_tests="tap_static_address tap_nic_${WTD_NIC:-e1000} tap_ping tap_echo_1mib tap_source_16mib
    tap_discard_16mib tap_tcp_isn_unpredictable tap_maxconn_refused tap_time_wait_not_counted
    tap_bad_frames_counted tap_oversize_counted_by_device tap_tx_checksums_by_device
    tap_serving_after_bad_frames tap_shutdown tap_namespace_removed"
[ "${WTD_NIC:-e1000}" = virtio ] && tap_tests="$tap_tests tap_virtio_rx_checksums_checked tap_virtio_queues_shown"
why=""
[ "$(id -u)" = 0 ] || why="not root"
[ -c /dev/net/tun ] || why="${why:+$why, }no /dev/net/tun"
command -v ip >/dev/null || why="${why:+$why, }no iproute2"
if [ -n "$why" ]; then
    for t in $tap_tests; do skip "$t" "the tap tests need root, /dev/net/tun and iproute2 ($why)"; done
    finish
fi
# One tap test at a time on this machine (parallel `make test` runs share the namespace name).
exec 8> "${TMPDIR:-/tmp}/worktodo-net-tap.lock"
if ! flock -w 600 8; then
    bad tap_lock "another tap test held the lock for 600 s"
    finish
fi
# someone else's tap guest (e.g. a benchmark, or make run NET=tap) may hold the namespace
for _ in $(seq 300); do ip netns list | grep -qw "$ns" || break; sleep 1; done
if ip netns list | grep -qw "$ns"; then
    bad tap_namespace "namespace '$ns' still exists after 300 s (is 'make run NET=tap' running?); not touching it"
    finish
fi
build_tool || { bad net_tool_build "cc failed"; finish; }
inns() { ip netns exec "$ns" "$@"; }

guest_start --net tap -- ip=$guest/24 gw=10.77.0.1 net.maxconn=$maxconn
if guest_wait "net: up $guest " 180 && ip netns list | grep -qw "$ns"; then
    ok tap_static_address
else
    bad tap_static_address "guest did not come up as $guest (log: $(tail -3 "$guest_log" | tr -d '\r' | tr '\n' '|'))"
    finish
fi
# the NIC the run asked for (WTD_NIC, run.sh's default); a tap backend offers virtio-net's
# checksum offloads, so they must be in use
nic=${WTD_NIC:-e1000}
want="net: driver $nic,"
[ "$nic" = virtio ] && want="net: driver virtio-net, .* checksum offload tx yes rx yes"
if tr -d '\r' < "$guest_log" | grep -qE "^$want"; then
    ok "tap_nic_$nic"
else
    bad "tap_nic_$nic" "the boot log has no '$want': $(tr -d '\r' < "$guest_log" | grep -E '^net: driver' | head -1)"
fi

if out=$(inns "$tool" ping $guest 5); then ok "tap_ping ($out)"; else bad tap_ping "$out"; fi
if out=$(inns "$tool" echo $guest 7 1048576); then ok "tap_echo_1mib ($out)"; else bad tap_echo_1mib "$out"; fi
if out=$(inns "$tool" source $guest 19 16777216); then ok "tap_source_16mib ($out)"; else bad tap_source_16mib "$out"; fi
if out=$(inns "$tool" discard $guest 9 16777216); then ok "tap_discard_16mib ($out)"; else bad tap_discard_16mib "$out"; fi

# TCP ISNs on the wire (net/net_isn.c): successive connections' SYN-ACKs must not be
# predictable from each other (lwIP's own were 6510 + tcp_ticks).
if out=$(inns "$tool" isn tap0 $guest 7 32); then ok "tap_tcp_isn_unpredictable ($out)"; else bad tap_tcp_isn_unpredictable "$out"; fi

sleep 1     # let the closes above finish (LAST-ACK counts as live until acknowledged)
n=$((maxconn + 6))
if out=$(inns "$tool" conns $guest 7 $n $maxconn); then ok "tap_maxconn_refused ($out)"; else bad tap_maxconn_refused "$out"; fi
sleep 1
# The source service closes first, so each of these leaves a TIME-WAIT PCB in the guest:
# those are not live connections and must not count against net.maxconn.
tw_ok=0
for _ in $(seq $((maxconn + 4))); do inns "$tool" source $guest 19 1000 >/dev/null && tw_ok=$((tw_ok + 1)); done
if out=$(inns "$tool" conns $guest 7 $maxconn $maxconn) && [ "$tw_ok" = $((maxconn + 4)) ]; then
    ok "tap_time_wait_not_counted ($tw_ok closed by the guest, then $out)"
else
    bad tap_time_wait_not_counted "$tw_ok source runs; $out"
fi

# bad frames: the tap side needs a large MTU to send the oversized one
mac=52:54:00:12:34:56
inns ip link set tap0 mtu 9000
before=$(guest_drops)
sent=0 kinds=(runt oversize badipsum badver badlen badtcpsum garbage)
for k in "${kinds[@]}"; do
    if out=$(inns "$tool" raw tap0 $mac $guest "$k" 5); then
        sent=$((sent + 5))
    else
        bad "tap_send_$k" "$out"
    fi
done
sleep 2     # the device's statistics registers are folded in at least once a second
after=$(guest_drops)
delta=$((after - before))
if [ "$before" -ge 0 ] && [ "$delta" -ge "$sent" ]; then
    ok "tap_bad_frames_counted ($sent sent, drops $before -> $after)"
else
    bad tap_bad_frames_counted "$sent sent but drops went $before -> $after"
    tr -d '\r' < "$guest_log" | grep -E '^  (rx|device|lwip)' | tail -6
fi
dev_oversize=$(tr -d '\r' < "$guest_log" | grep -E '^  device: ' | tail -1 | sed -E 's/.* oversize ([0-9]+).*/\1/')
if [ "${dev_oversize:-0}" -ge 5 ] 2>/dev/null; then
    ok "tap_oversize_counted_by_device ($dev_oversize)"
else
    bad tap_oversize_counted_by_device "device oversize count is '${dev_oversize}'"
fi
offloaded=$(tr -d '\r' < "$guest_log" | grep -E '^  tx queue: ' | tail -1 | sed -E 's/.*checksummed by the device ([0-9]+).*/\1/')
if [ "${offloaded:-0}" -ge 100 ] 2>/dev/null; then
    ok "tap_tx_checksums_by_device ($offloaded frames)"
else
    bad tap_tx_checksums_by_device "frames checksummed by the device: '${offloaded}'"
fi
if [ "$nic" = virtio ]; then
    # GUEST_CSUM: lwIP does not check TCP sums on this interface, so the driver's side must
    # have caught the 5 frames with a bad TCP checksum (the packet socket's frames carry no
    # "checksum valid" mark)
    rx_bad=$(tr -d '\r' < "$guest_log" | grep -E '^  tx queue: ' | tail -1 | sed -E 's/.*rx checksums failed here ([0-9]+).*/\1/')
    if [ "${rx_bad:-0}" -ge 5 ] 2>/dev/null; then ok "tap_virtio_rx_checksums_checked ($rx_bad)"
    else bad tap_virtio_rx_checksums_checked "bad checksums caught: '${rx_bad}'"; fi
    # the console's view of the virtqueues: EVENT_IDX kept the device from being told of
    # every frame, and each queue has its own MSI-X vector
    marker="mark$RANDOM$RANDOM"
    guest_cmd virtio
    guest_cmd "$marker"
    guest_wait "$marker" 20
    vq=$(tr -d '\r' < "$guest_log" | sed -n '/^  virtio-net /,$p')
    sup=$(grep -A1 -E '^    queue 1 tx ' <<<"$vq" | tail -1 | sed -nE 's/.*notifications ([0-9]+) \(suppressed ([0-9]+)\).*/\2/p')
    if grep -qE '^    queue 0 rx .*event-idx, msi-x vector [0-9]+' <<<"$vq" &&
       grep -qE '^    queue 1 tx .*indirect, event-idx, msi-x vector [0-9]+' <<<"$vq" && [ "${sup:-0}" -ge 1 ] 2>/dev/null; then
        ok "tap_virtio_queues_shown (tx notifications suppressed: $sup)"
    else
        bad tap_virtio_queues_shown "$(head -6 <<<"$vq" | tr '\n' '|')"
    fi
fi
if out=$(inns "$tool" ping $guest 3) && out2=$(inns "$tool" echo $guest 7 262144); then
    ok "tap_serving_after_bad_frames ($out2)"
else
    bad tap_serving_after_bad_frames "${out2:-$out}"
fi

guest_shutdown_test tap_shutdown
if ip netns list | grep -qw "$ns"; then bad tap_namespace_removed "'$ns' still exists"; else ok tap_namespace_removed; fi
finish
