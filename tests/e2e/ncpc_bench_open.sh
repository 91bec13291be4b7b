#!/bin/bash
# ncpc_bench_open.sh [BUILD_DIR] - `ncpc bench` open-loop load against build/ncpd on
# loopback: --rate sends at the asked rate (counted on the Poisson schedule, with bounds no
# honest run can miss), a server stopped (SIGSTOP) for 1.5 s shows in the tail of an
# open-loop run but not in a closed loop's p99 (coordinated omission), --users/--think runs
# and reports, --mix issues every kind (and the server really wrote), --count stops an open
# loop, --null-rpc against the Linux guest's null-RPC program built for the host, and the
# option errors.  Output per docs/conventions.md.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:-build}
. tests/e2e/cli_lib.sh
build_or_fail build_ncpc_ncpd "$B/ncpc" "$B/ncpd"
T=$(mktemp -d /tmp/ncpc-open.XXXXXX)
pid="" nrpid=""
cleanup() {
    [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null && kill "$pid" 2>/dev/null
    [ -n "$nrpid" ] && kill "$nrpid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

VOLUME_DIRS=data volume_root guest guest
for i in 0 1 2 3; do head -c 262144 /dev/urandom >"$T/root/data/f$i.bin"; done
scripts/volume-layout.sh "$T/root"
if ! scripts/mkimage.sh "$T/root" "$T/vol.img" 64M >/dev/null 2>&1; then
    echo "FAIL mkimage: $0: scripts/mkimage.sh failed"
    echo "0 passed, 1 failed"
    exit 1
fi
export NCP_PASSWORD=guest
serve() {   # a fresh ncpd (the stall test stops one)
    [ -n "$pid" ] && { kill -CONT "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
    start_ncpd "$T/vol.img"
    export NCP_SERVER=127.0.0.1:$(awk '{print $2}' "$T/port")
}
serve
# jf FILE FIELD: the first number after "FIELD": in a JSON file.
jf() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }
# kf FILE KIND FIELD: a field of one kind under "kinds".
kf() { grep -o "\"$2\":{\"sent\":[^}]*" "$1" | grep -o "\"$3\":[0-9.]*" | head -1 | cut -d: -f2; }
stat_of() { "$NCPC" stats 2>/dev/null | awk -v n="$1" '$1 == n {print $2}'; }
# ge A B / le A B: numeric comparisons of decimals
ge() { awk -v a="${1:-0}" -v b="$2" 'BEGIN {exit !(a + 0 >= b + 0)}'; }
le() { awk -v a="${1:-0}" -v b="$2" 'BEGIN {exit !(a + 0 <= b + 0)}'; }

# --rate: 200/s for 3 s.  The arrivals follow the schedule, not the machine's speed: a
# Poisson count of mean 600 (sd 24) lands in 450..750 unless the schedule is wrong.
check rate_runs timeout 60 "$NCPC" bench --conns 4 --rate 200 --duration 3 --files /data --json "$T/r.json"
a=$(jf "$T/r.json" arrivals) c=$(jf "$T/r.json" completed) e=$(jf "$T/r.json" errors)
if ge "$a" 450 && le "$a" 750; then ok "rate_count_on_schedule ($a arrivals)"; else bad rate_count_on_schedule "arrivals ${a:-none}, want 450..750"; fi
if [ "${c:-0}" = "$a" ] && [ "${e:-1}" = 0 ]; then ok rate_all_answered; else bad rate_all_answered "completed ${c:-none} of ${a:-none}, errors ${e:-none}"; fi
if grep -q '"mode":"rate"' "$T/r.json" && grep -q '"rate":200.0' "$T/r.json" && [ -n "$(jf "$T/r.json" p90)" ] &&
   grep -q '"p999":' "$T/r.json" && grep -q '"req_per_s":' "$T/r.json"; then ok rate_json_fields
else bad rate_json_fields "$(head -c 300 "$T/r.json")"; fi

# --count stops an open loop at that many arrivals, long before --duration.
check rate_count_bounds timeout 30 "$NCPC" bench --conns 2 --rate 1000 --count 50 --duration 20 --files /data --json "$T/n.json"
if [ "$(jf "$T/n.json" arrivals)" = 50 ] && [ "$(jf "$T/n.json" completed)" = 50 ] && le "$(jf "$T/n.json" duration_s)" 15; then
    ok rate_count_stops
else bad rate_count_stops "$(head -c 300 "$T/n.json")"; fi

# --users: 20 users thinking 50 ms on average, 2 s; and 30 users spread over 3 connections.
check users_runs timeout 60 "$NCPC" bench --users 20 --think 50 --duration 2 --files /data --json "$T/u.json"
c=$(jf "$T/u.json" completed)
# each user has one request at a time: at most ~2 s / 50 ms each (3x for the exponential tail)
if grep -q '"mode":"users"' "$T/u.json" && [ "$(jf "$T/u.json" users)" = 20 ] && [ "$(jf "$T/u.json" conns)" = 20 ] &&
   ge "$c" 20 && le "$c" 2400 && [ "$(jf "$T/u.json" errors)" = 0 ]; then
    ok "users_report ($c requests)"
else bad users_report "$(head -c 400 "$T/u.json")"; fi
check users_spread timeout 60 "$NCPC" bench --users 30 --conns 3 --think 20 --duration 1 --files /data --json "$T/u3.json"
if [ "$(jf "$T/u3.json" conns)" = 3 ] && [ "$(jf "$T/u3.json" depth)" = 10 ] && ge "$(jf "$T/u3.json" completed)" 30; then
    ok users_spread_over_conns
else bad users_spread_over_conns "$(head -c 300 "$T/u3.json")"; fi

# --mix: every kind is sent and answered; the server's own counters saw the writes.
w0=$(stat_of ncp.bytes_written)
check mix_runs timeout 60 "$NCPC" bench --conns 4 --rate 400 --duration 3 --files /data \
    --mix read=70,stat=15,readdir=10,write=5 --json "$T/m.json"
w1=$(stat_of ncp.bytes_written)
allk=1
for k in read stat readdir write; do
    s=$(kf "$T/m.json" $k sent) d=$(kf "$T/m.json" $k completed) er=$(kf "$T/m.json" $k errors)
    if [ "${s:-0}" -gt 0 ] && [ "$s" = "$d" ] && [ "$er" = 0 ]; then :; else allk=0; bad "mix_kind_$k" "sent ${s:-none} completed ${d:-none} errors ${er:-none}"; fi
done
[ "$allk" = 1 ] && ok mix_every_kind_answered
ws=$(kf "$T/m.json" write completed)
if [ -n "$w0" ] && [ -n "$w1" ] && [ $((w1 - w0)) -ge $((${ws:-1} * 4096)) ]; then ok mix_server_wrote
else bad mix_server_wrote "bytes_written ${w0:-?} -> ${w1:-?}, writes ${ws:-?}"; fi
rd=$(kf "$T/m.json" read sent)
# reads are 4..64 KiB: the mean read is well above 4 KiB (16 sizes, mean 34 KiB)
mb=$(jf "$T/m.json" mb_per_s) dur=$(jf "$T/m.json" duration_s)
if awk -v mb="$mb" -v d="$dur" -v n="$rd" 'BEGIN {exit !(n > 0 && mb * 1e6 * d / n > 12000)}'; then ok mix_reads_4k_to_64k
else bad mix_reads_4k_to_64k "mb_per_s $mb over $dur s for $rd reads"; fi
"$NCPC" ls / 2>/dev/null | grep -q bench.tmp && bad mix_scratch_removed "/bench.tmp left" || ok mix_scratch_removed

# Coordinated omission: the server stops for 1.5 s in the middle of a run.  Open loop
# (arrivals keep their times): the wait is in the tail.  Closed loop: only the requests in
# flight at the stop see it, so its p99 stays far below the stall.
stall_run() {   # stall_run JSON ARGS...: a 5 s run, ncpd stopped from 1.5 s to 3 s
    local j=$1; shift
    timeout 60 "$NCPC" bench --duration 5 --files /data --json "$j" "$@" >"$T/out" 2>"$T/err" &
    local bp=$!
    sleep 1.5
    kill -STOP "$pid"
    sleep 1.5
    kill -CONT "$pid"
    wait "$bp"
}
serve
stall_run "$T/s.json" --conns 2 --rate 100
# About 50 of the ~500 requests arrived in the first 0.5 s of the stop and waited over 1 s:
# p99 is among them.  (Counted from the actual send, only the 2 in flight would be: p99.9
# and max would still show the stop, p99 would not.)
mx=$(jf "$T/s.json" max) p99=$(jf "$T/s.json" p99) p999=$(jf "$T/s.json" p999)
if ge "$mx" 1000000 && ge "$p999" 1000000 && ge "$p99" 1000000; then ok "open_loop_shows_stall (p99 $p99 us, p99.9 $p999 us, max $mx us)"
else bad open_loop_shows_stall "p99 ${p99:-none} p99.9 ${p999:-none} max ${mx:-none} us after a 1.5 s stop: $(head -c 200 "$T/err")"; fi
# at 100/s about 150 requests arrived during the stop: p90 is in it too
if ge "$(jf "$T/s.json" p90)" 100000 && [ "$(jf "$T/s.json" errors)" = 0 ]; then ok open_loop_stall_in_p90
else bad open_loop_stall_in_p90 "$(head -c 300 "$T/s.json")"; fi
serve
stall_run "$T/sc.json" --conns 2
c=$(jf "$T/sc.json" completed) p99=$(jf "$T/sc.json" p99) mx=$(jf "$T/sc.json" max)
if [ "${c:-0}" -lt 1000 ]; then
    echo "skip closed_loop_hides_stall: only ${c:-0} requests completed (a closed loop needs >= 1000 to put the stall beyond p99)"
elif le "$p99" 500000 && ge "$mx" 1000000; then ok "closed_loop_hides_stall (p99 $p99 us, max $mx us)"
else bad closed_loop_hides_stall "p99 $p99 max $mx over $c requests"; fi

# --null-rpc against the Linux guest's service (scripts/linux-guest/nullrpc.c) on loopback.
if cc -std=c11 -O2 -Wall -I. -o "$T/nullrpc" scripts/linux-guest/nullrpc.c 2>"$T/err"; then
    "$T/nullrpc" 0 >"$T/nrport" &
    nrpid=$!
    for _ in $(seq 50); do [ -s "$T/nrport" ] && break; sleep 0.1; done
    np=$(awk '{print $2}' "$T/nrport")
    check nullrpc_closed timeout 60 "$NCPC" -s "127.0.0.1:$np" bench --null-rpc --conns 4 --depth 8 --count 5000 --duration 30 --json "$T/z.json"
    if [ "$(jf "$T/z.json" completed)" = 5000 ] && [ "$(jf "$T/z.json" errors)" = 0 ] &&
       grep -q '"op":"null-rpc"' "$T/z.json" && grep -q '"null":{"sent":5000' "$T/z.json"; then ok nullrpc_closed_report
    else bad nullrpc_closed_report "$(head -c 300 "$T/z.json")"; fi
    check nullrpc_rate timeout 60 "$NCPC" -s "127.0.0.1:$np" bench --null-rpc --conns 2 --rate 500 --duration 2 --json "$T/zr.json"
    if ge "$(jf "$T/zr.json" arrivals)" 700 && le "$(jf "$T/zr.json" arrivals)" 1300 &&
       [ "$(jf "$T/zr.json" completed)" = "$(jf "$T/zr.json" arrivals)" ]; then ok nullrpc_rate_report
    else bad nullrpc_rate_report "$(head -c 300 "$T/zr.json")"; fi
    # the service itself: every reply byte, a request split 15 + 1, end of stream
    if cc -O2 -Wall -I. -o "$T/net_tool" tests/e2e/net_tool.c 2>"$T/err" && out=$("$T/net_tool" nullrpc 127.0.0.1 "$np" 2000); then
        ok "nullrpc_linux_service ($out)"
    else bad nullrpc_linux_service "${out:-$(head -c 300 "$T/err")}"; fi
    # a server that answers with the wrong bytes is caught (ncpd is no null-RPC server)
    check_fails nullrpc_checks_bytes "null-rpc:" timeout 30 "$NCPC" bench --null-rpc --conns 1 --count 10 --duration 5
else
    bad nullrpc_build "$(head -c 300 "$T/err")"
fi

# Option errors
check_fails opt_rate_and_users "pick one" "$NCPC" bench --rate 10 --users 5
check_fails opt_bad_mix "bad --mix" "$NCPC" bench --mix read=70,foo=3
check_fails opt_mix_needs_files "needs --files" "$NCPC" bench --mix read=1 --duration 1
check_fails opt_nullrpc_no_mix "null requests only" "$NCPC" bench --null-rpc --mix read=1

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
