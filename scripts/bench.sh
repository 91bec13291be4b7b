#!/usr/bin/env bash
# make bench: every benchmark, one "BENCH <system> <workload> <metric> <value>" line per figure.
# QUICK=1 picks the short variants.  Results and commands are recorded in docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$here/build/bench"
"$here/scripts/bench-wtd.sh" | tee "$here/build/bench/wtd.txt"
