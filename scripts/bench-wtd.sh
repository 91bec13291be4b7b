#!/usr/bin/env bash
# WTD engine benchmarks in guest instructions: boots twice under -icount shift=0,sleep=off
# and checks both runs print the same counts.  Output: BENCH worktodo <name> instructions <n>
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=()
for run in 1 2; do
    log=$(mktemp)
    "$here/scripts/run.sh" --test --icount --net none --timeout 600 --log "$log" -- bench=wtd >/dev/null 2>&1 || {
        echo "bench-wtd: run $run failed:" >&2; tr -d '\000' < "$log" | tail -20 >&2; rm -f "$log"; exit 1; }
    out[$run]=$(tr -d '\000' < "$log" | grep -ao 'BENCH .*')
    rm -f "$log"
done
echo "${out[1]}"
if [ "${out[1]}" != "${out[2]}" ]; then
    echo "bench-wtd: the two runs differ:" >&2
    diff <(echo "${out[1]}") <(echo "${out[2]}") >&2 || true
    exit 1
fi
echo "bench-wtd: two runs under -icount printed identical counts" >&2
