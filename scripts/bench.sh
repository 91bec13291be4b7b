#!/usr/bin/env bash
# make bench: every benchmark, one "BENCH <system> <workload> <metric> <value>" line per figure.
#   1. the WTD engine in guest instructions (scripts/bench-wtd.sh);
#   2. the file server on each system in turn -- worktodo, linux-epoll, linux-threads on the
#      e1000 and AHCI, worktodo-virtio and linux-epoll-virtio on virtio-net and virtio-blk -- booted
#      by scripts/bench-system.sh on the same emulated hardware and driven by ncpc bench from
#      inside its network namespace (scripts/bench-workloads.sh);
#   3. scripts/bench-report.sh: build/bench/results.json, PNG plots, docs/benchmarks.md.
# Between 1 and 2, scripts/bench-cost.sh counts what one request costs WorkToDo on each device
# kind (guest instructions under -icount, device-register accesses, interrupts).
# QUICK=1: ~10 minutes (shorter runs, up to 1000 connections).  SYSTEMS="..." picks systems;
# REPEAT=N runs N rounds and reports medians; SKIP_WTD=1 skips step 1; APPEND=1 keeps the other systems' figures from the last run.  A system that does not come up is reported "error unavailable".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2
# WorkToDo boots through PVH (scripts/run.sh --boot pvh); bench-system.sh also times one ISO boot.
export WTD_BOOT=${WTD_BOOT:-pvh}
out=build/bench
mkdir -p "$out/logs"
results=$out/results.txt
# APPEND=1 keeps the figures of the systems not run this time (re-running one system).
if [ "${APPEND:-0}" = 1 ] && [ -f "$results" ]; then
    keep=$(mktemp)
    awk -v sys="${SYSTEMS:-worktodo linux-epoll linux-threads worktodo-virtio linux-epoll-virtio}" -v wtd="${SKIP_WTD:-0}" '
        BEGIN { n = split(sys, a, " "); for (i = 1; i <= n; i++) drop[a[i]] = 1 }
        $1 == "BENCH" && $4 == "instructions" { if (wtd == 1) print; next }
        $1 == "BENCH" && !($2 in drop)' "$results" > "$keep"
    mv "$keep" "$results"
else
    : > "$results"
fi
cmd="${QUICK:+QUICK=$QUICK }${SYSTEMS:+SYSTEMS=\"$SYSTEMS\" }${REPEAT:+REPEAT=$REPEAT }${APPEND:+APPEND=$APPEND }${SKIP_WTD:+SKIP_WTD=$SKIP_WTD }${SKIP_COST:+SKIP_COST=$SKIP_COST }make bench"
[ "${APPEND:-0}" = 1 ] && [ -f "$out/command.txt" ] && cmd="$(cat "$out/command.txt"); then $cmd"
echo "$cmd" > "$out/command.txt.new"

if [ "${SKIP_WTD:-0}" != 1 ]; then
    scripts/bench-wtd.sh | tee "$out/wtd.txt" | tee -a "$results" || echo "bench: bench-wtd failed" >&2
fi

# The client side: ncpc, the benchmark disk, and the Linux guest's kernel and initramfs.
make -s build/ncpc build/ncpfs >/dev/null
scripts/bench-image.sh
# What a request costs WorkToDo on each device kind, counted under -icount (when a WorkToDo
# system is in the run; SKIP_COST=1 skips it).
case " ${SYSTEMS:-worktodo} " in
    *" worktodo"*) [ "${SKIP_COST:-0}" = 1 ] || scripts/bench-cost.sh | tee -a "$results";;
esac
if ! scripts/linux-guest/mkinitramfs.sh; then
    echo "bench: the Linux guest cannot be built; linux systems will be unavailable" >&2
fi
# 10000 client connections from one process.
ulimit -Hn 65536 2>/dev/null; ulimit -n 65536 2>/dev/null

# REPEAT=N: N rounds over the systems in turn (so a burst of load elsewhere on the host hits
# one round rather than one system); the report takes medians.
for round in $(seq "${REPEAT:-1}"); do
    for sys in ${SYSTEMS:-worktodo linux-epoll linux-threads worktodo-virtio linux-epoll-virtio}; do
        echo "bench: $sys (round $round)" >&2
        scripts/bench-system.sh "$sys" | tee -a "$results"
    done
done

mv "$out/command.txt.new" "$out/command.txt"
scripts/bench-report.sh "$results" "$cmd"
