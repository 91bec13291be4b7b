#!/usr/bin/env bash
# End to end over QEMU user networking (loopback port forwards only): DHCP, 1 MiB of
# random bytes through the echo service byte for byte, discard and source, null RPC
# (include/null_rpc.h: every reply byte, a split request, end of stream; then ncpc bench
# --null-rpc), the `net` console command, and a clean shutdown.
set -uo pipefail
source "$(dirname "$0")/net_lib.sh"

build_tool || { bad net_tool_build "cc failed"; finish; }
p7=$(free_port 5207) p9=$(free_port 5209) p19=$(free_port 5219) p41=$(free_port 5241)
fwd="user,id=n0,hostfwd=tcp:127.0.0.1:$p7-:7,hostfwd=tcp:127.0.0.1:$p9-:9,hostfwd=tcp:127.0.0.1:$p19-:19,hostfwd=tcp:127.0.0.1:$p41-:5241"
guest_start --net none --qemu -netdev --qemu "$fwd" --qemu -device --qemu e1000,netdev=n0,mac=52:54:00:12:34:56 --

if guest_wait 'net: up 10\.0\.2\.15 ' 180; then
    ok user_dhcp_address
else
    bad user_dhcp_address "no DHCP address within 180 s (log: $(tail -3 "$guest_log" | tr -d '\r' | tr '\n' '|'))"
    finish
fi

if out=$("$tool" echo 127.0.0.1 "$p7" 1048576); then ok "user_echo_1mib ($out)"; else bad user_echo_1mib "$out"; fi
if out=$("$tool" discard 127.0.0.1 "$p9" 8388608); then ok "user_discard_8mib ($out)"; else bad user_discard_8mib "$out"; fi
if out=$("$tool" source 127.0.0.1 "$p19" 4194304); then ok "user_source_4mib ($out)"; else bad user_source_4mib "$out"; fi
if out=$("$tool" nullrpc 127.0.0.1 "$p41" 2000); then ok "user_nullrpc ($out)"; else bad user_nullrpc "$out"; fi
# ncpc bench drives it too: every reply byte checked, no errors, the count asked for.
if make --no-print-directory -C "$here" build/ncpc >/dev/null 2>&1; then
    j=$(mktemp)
    if out=$(timeout 60 "$here/build/ncpc" -s "127.0.0.1:$p41" bench --null-rpc --conns 4 --depth 4 \
                 --count 400 --duration 30 --json "$j" 2>&1) &&
       grep -q '"completed":400,"errors":0,"transport_errors":0' "$j" && grep -q '"null":{"sent":400' "$j"; then
        ok "user_nullrpc_ncpc_bench ($(grep -o 'throughput.*' <<<"$out"))"
    else
        bad user_nullrpc_ncpc_bench "$(tail -3 <<<"$out" | tr '\n' '|') $(head -c 300 "$j")"
    fi
    rm -f "$j"
else
    bad user_nullrpc_ncpc_bench "make build/ncpc failed"
fi

# The `net` command's counters must have seen the traffic above: the guest received at
# least the 1 MiB echoed and the 8 MiB discarded, and sent at least the 1 MiB echoed back
# and the 4 MiB from the source service (frame headers make the counts a little larger).
d=$(guest_drops)
rxb=$(tr -d '\r' < "$guest_log" | sed -nE 's/^  rx: [0-9]+ frames, ([0-9]+) bytes.*/\1/p' | tail -1)
txb=$(tr -d '\r' < "$guest_log" | sed -nE 's/^  tx: [0-9]+ frames, ([0-9]+) bytes.*/\1/p' | tail -1)
if [ "$d" -ge 0 ] 2>/dev/null && [ "${rxb:-0}" -ge $((9 * 1048576)) ] && [ "${txb:-0}" -ge $((5 * 1048576)) ]; then
    ok "user_console_net (rx $rxb bytes, tx $txb bytes, drops total $d)"
else
    bad user_console_net "after 9 MiB in and 5 MiB out the net command says rx '${rxb}' tx '${txb}' bytes, drops '$d'"
fi

guest_shutdown_test user_shutdown
finish
