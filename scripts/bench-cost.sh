#!/usr/bin/env bash
# bench-cost.sh - what one request costs WorkToDo on each device kind, counted rather than
# timed, so the figures depend little on how busy the host is: the kernel under
# `-icount shift=0,sleep=on` (the guest TSC counts guest instructions while it runs and real
# time while it is halted; the kernel's STATS give cpu.tsc and cpu.idle_tsc, the ticks
# halted, so their difference is the instructions executed, less the timer ticks at an idle
# tick's cost: see tick_cost), QEMU tracing every
# access to a device register (`-trace memory_region_ops_read` and `_write`: under TCG each
# is the counterpart of a VM exit; the local APIC's, EOIs and the timer, counted apart), and
# the kernel's interrupt counts (irq.net, irq.disk; irq.plain for the timer).  Per device kind (e1000 + AHCI, virtio-net + virtio-blk), on a
# scratch copy of the benchmark image, from inside a network namespace of its own:
#   read4k_c1   cached 4 KiB reads, one connection, one request in flight
#   read4k_c16  the same over 16 connections (interrupts and doorbells shared by more requests)
#   get16m      `ncpc get` of the 16 MiB cached file, per 4 KiB of it
# Output: BENCH worktodo[-virtio] cost_<workload> instr_per_req|exits_per_req|apic_per_req|
# irqs_per_req|ticks_per_req N, and cost_idle instr_per_tick
# (get16m: per 4 KiB), and the accesses per request by device region in
# $BENCH_LOGDIR/<system>.cost_<workload>.exits.  COST_REQS=N requests per run (default 3000).
# COST_PROFILE=1 also profiles read4k_c16 with the kernel's NMI sampler (`prof start nmi` on
# the console: every ~50 k guest instructions, interrupts off or not) into
# $BENCH_LOGDIR/<system>.profile.txt.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
reqs=${COST_REQS:-3000}
ncpc=$here/build/ncpc
logdir=${BENCH_LOGDIR:-$here/build/bench/logs}
mkdir -p "$logdir"
export NCP_PASSWORD=guest
work=$(mktemp -d "${TMPDIR:-/tmp}/wtd-cost.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# counters FILE: busy instructions (cpu.tsc - cpu.idle_tsc), plain interrupts (the 1 kHz
# timer), device interrupts, and the traced register accesses so far (all, and those of
# the local APIC: EOIs and timer), one line.
counters() {
    local st
    st=$(ip netns exec "$ns" timeout 60 "$ncpc" -s 10.77.0.2:524 stats 2>/dev/null)
    echo "$(awk '$1 == "cpu.tsc" {t = $2} $1 == "cpu.idle_tsc" {i = $2} $1 == "irq.net" {n = $2}
                 $1 == "irq.disk" {d = $2} $1 == "irq.plain" {p = $2}
                 END {printf "%.0f %.0f %.0f", t - i, p, n + d}' <<<"$st") $(awk '/^memory_region_ops/ {m++; if (/name .apic-msi./) l++}
                 END {print m + 0, l + 0}' "$1")"
}

# The 1 kHz timer ticks a request sees depend on how long the host took to send the next
# one (sleep=on: real time while idle).  tick_cost: the busy instructions per tick of an idle guest, measured over an idle
# window; cost() takes the ticks of its window out at that rate.
tick_cost() {
    local a b
    a=$(counters "$trace")
    sleep 3
    b=$(counters "$trace")
    read -r x0 p0 _ <<<"$a"
    read -r x1 p1 _ <<<"$b"
    awk -v x=$((x1 - x0)) -v p=$((p1 - p0)) 'BEGIN {printf "%.0f", (p > 0) ? x / p : 0}'
}

# cost SYS WORKLOAD UNITS COMMAND...: runs the command between two counter snapshots and
# prints the figures per unit (requests, or 4 KiB blocks).
cost() {
    local sys=$1 w=$2 units=$3; shift 3
    local a b
    a=$(counters "$trace")
    if ! "$@" >"$logdir/$sys.cost_$w.txt" 2>&1; then
        echo "BENCH $sys cost_$w error run_failed"
        return
    fi
    b=$(counters "$trace")
    # The snapshot's own STATS request is in the difference; one in thousands of requests.
    read -r x0 p0 d0 m0 l0 <<<"$a"
    read -r x1 p1 d1 m1 l1 <<<"$b"
    if [ "${x1:-0}" -le "${x0:-0}" ]; then
        echo "BENCH $sys cost_$w error no_counters"
        return
    fi
    # which registers: accesses per unit by region and direction, into the log directory
    tail -n +$((m0 + 1)) "$trace" | head -n $((m1 - m0)) | awk -v u="$units" '
        { op = ($1 ~ /write$/) ? "write" : "read"; for (i = 1; i < NF; i++) if ($i == "name") n[$(i + 1) " " op]++ }
        END { for (k in n) printf "%10.2f %s\n", n[k] / u, k }' | sort -rn > "$logdir/$sys.cost_$w.exits"
    awk -v s="$sys" -v w="$w" -v u="$units" -v busy=$((x1 - x0)) -v ticks=$((p1 - p0)) -v tc="$tick" \
        -v dev=$(( (m1 - m0) - (l1 - l0) )) -v apic=$((l1 - l0)) -v irq=$((d1 - d0)) 'BEGIN {
            printf "BENCH %s cost_%s instr_per_req %.0f\n", s, w, (busy - ticks * tc) / u
            printf "BENCH %s cost_%s exits_per_req %.2f\n", s, w, dev / u
            printf "BENCH %s cost_%s apic_per_req %.2f\n", s, w, apic / u
            printf "BENCH %s cost_%s irqs_per_req %.3f\n", s, w, irq / u
            printf "BENCH %s cost_%s ticks_per_req %.2f\n", s, w, ticks / u }'
}

# profile_to FILE: stops the profiler and writes what `prof show 60` prints to FILE.
profile_to() {
    local mark="profend$RANDOM" n
    printf 'prof stop\nprof show 60\n%s\n' "$mark" >&7
    for ((n = 0; n < 100; n++)); do
        tr -d '\000\r' <"$console" | grep -q "$mark" && break
        sleep 0.2
    done
    tr -d '\000\r' <"$console" | sed -n '/prof show 60/,/samples (/p' >"$1"
}

for kind in e1000 virtio; do
    if [ "$kind" = e1000 ]; then sys=worktodo devs=(); else sys=worktodo-virtio devs=(--nic virtio --blk virtio); fi
    ns=wtdcost-$$
    trace=$work/trace.$kind
    cp --sparse=always "$here/build/bench/bench.img" "$work/img"
    [ -p "$work/console.in" ] || mkfifo "$work/console.in"
    exec 7<>"$work/console.in"          # the console's input, never at its end
    console=$logdir/$sys.cost.console.log
    "$here/scripts/run.sh" --boot pvh --icount-sleep --net tap --netns "$ns" "${devs[@]}" --test --console-stdin --timeout 1800 \
        --qemu -trace --qemu memory_region_ops_read --qemu -trace --qemu memory_region_ops_write \
        --qemu -D --qemu "$trace" --disk "$work/img" -- ip=10.77.0.2/24 <"$work/console.in" >"$console" 2>&1 &
    pid=$!
    up=0
    for _ in $(seq 240); do
        kill -0 "$pid" 2>/dev/null || break
        ip netns exec "$ns" timeout 1 "$ncpc" -s 10.77.0.2:524 ping -c 1 >/dev/null 2>&1 && { up=1; break; }
        sleep 0.5
    done
    if [ "$up" = 1 ]; then
        ip netns exec "$ns" timeout 300 "$ncpc" -s 10.77.0.2:524 get /hot/h16.bin "$work/h16" >/dev/null 2>&1   # cached from here on
        tick=$(tick_cost)
        echo "BENCH $sys cost_idle instr_per_tick $tick"
        for c in 1 16; do
            profile=$([ "${COST_PROFILE:-0}" = 1 ] && [ "$c" = 16 ] && echo 1)
            [ -n "$profile" ] && echo "prof start nmi" >&7
            cost "$sys" "read4k_c$c" "$reqs" ip netns exec "$ns" timeout 900 "$ncpc" -s 10.77.0.2:524 bench \
                --conns "$c" --depth 1 --count "$reqs" --duration 600 --files /hot/h16.bin --read-size 4096
            [ -n "$profile" ] && profile_to "$logdir/$sys.profile.txt"
        done
        cost "$sys" get16m 4096 ip netns exec "$ns" timeout 300 "$ncpc" -s 10.77.0.2:524 get /hot/h16.bin "$work/h16"
        ip netns exec "$ns" env NCP_PASSWORD=admin timeout 30 "$ncpc" -s 10.77.0.2:524 -u admin shutdown >/dev/null 2>&1
    else
        echo "bench-cost: $sys did not serve (console: $logdir/$sys.cost.console.log)" >&2
        for w in read4k_c1 read4k_c16 get16m; do echo "BENCH $sys cost_$w error unavailable"; done
    fi
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    rm -f "$trace" "$work/img"
done
exit 0
