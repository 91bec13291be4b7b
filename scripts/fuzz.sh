#!/usr/bin/env bash
# fuzz.sh NAME... - runs each libFuzzer harness (tests/fuzz/fuzz_NAME.c) for FUZZ_S seconds
# (default 300; FUZZ_S_NAME overrides it for one harness), one after the other, then prints
# executions, exec/s, coverage (libFuzzer's cov = edges and ft = features, both counted in
# the code under test only) and findings per harness.  `make fuzz` calls it.
#   FUZZ_RUNS=N   each harness stops after N executions instead (FUZZ_S still caps the time);
#                 the summary says whether a harness reached N.
#   FUZZ_JOBS=N   runs up to N harnesses at once (default 1; one core each).
#   FUZZ_SPLIT=N  runs each harness as N processes on one corpus, each with 1/N of FUZZ_RUNS
#                 (the row sums their executions): a slow harness on N cores.
#   corpus:   build/fuzz/NAME/corpus (kept between runs; new inputs go there), plus the
#             committed seeds and reproducers in tests/fuzz/NAME/{corpus,crashes} (read only)
#   findings: build/fuzz/NAME/crashes/{crash,leak,timeout,oom}-*  (commit each one to
#             tests/fuzz/NAME/crashes/ with its fix; `make test` replays them)
#   log:      build/fuzz/NAME/fuzz.log; the summary also goes to build/fuzz/summary.txt
# Exit status non-zero if any harness did not build or found something.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ $# -gt 0 ] || set -- codec reasm users engine ext2

# Per-harness input size limits (ext2 inputs carry a whole image).
max_len() {
    case $1 in
    ext2) echo 263000 ;;
    users) echo 2048 ;;
    *) echo 8192 ;;
    esac
}

runs=${FUZZ_RUNS:-}
# ASan's allocator options for speed: fresh memory is not filled with 0xbe (filling is no
# check: uninitialised reads are MSan's job), the quarantine is 16 MiB (far more than one
# input frees, so a use after free within an input is still caught) and reports keep 6
# frames.  Measured on the engine harness: 876 -> 1041 exec/s.  A caller's ASAN_OPTIONS wins.
export ASAN_OPTIONS=${ASAN_OPTIONS:-max_malloc_fill_size=0:quarantine_size_mb=16:malloc_context_size=6}
jobs_max=${FUZZ_JOBS:-1}
mkdir -p build/fuzz

# fuzz_one NAME: runs one harness; its summary row goes to build/fuzz/NAME/row, its exit
# status is the script's (non-zero on a build failure or a finding).
fuzz_one() {
    local h=$1 status=0
    local bin dir var secs before start seeds rc execs done_line cov ft eps corp found took short
    bin=build/fuzz/bin/fuzz_$h
    dir=build/fuzz/$h
    mkdir -p "$dir/corpus" "$dir/crashes"
    if [ ! -x "$bin" ]; then
        printf '%-8s does not build (see %s)\n' "$h" "$dir/build.log" >"$dir/row"
        return 1
    fi
    var=FUZZ_S_$h
    secs=${!var:-${FUZZ_S:-300}}
    before=$(ls "$dir/crashes" | wc -l)
    start=$(date +%s)
    seeds=()
    for d in "tests/fuzz/$h/corpus" "tests/fuzz/$h/crashes"; do
        [ -d "$d" ] && seeds+=("$d")
    done
    # FUZZ_SPLIT=N: N processes of the harness on the same corpus (each reloads what the
    # others add), N seeds, each with a share of the executions; the row sums them.
    local split=${FUZZ_SPLIT:-1} k pids=() share
    share=${runs:+$(( (runs + split - 1) / split ))}
    echo "=== fuzz_$h: ${secs}s${runs:+ or $runs executions}$([ "$split" -gt 1 ] && echo " in $split processes")"
    rm -f "$dir"/fuzz.*.log
    for k in $(seq "$split"); do
        "$bin" -max_total_time="$secs" ${share:+-runs="$share"} -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$h")" \
            -print_final_stats=1 -artifact_prefix="$dir/crashes/" -seed="$k" \
            "$dir/corpus" "${seeds[@]}" >"$dir/fuzz.$k.log" 2>&1 &
        pids+=($!)
    done
    rc=0
    for k in "${pids[@]}"; do wait "$k" || rc=$?; done
    if [ "$split" = 1 ]; then mv "$dir/fuzz.1.log" "$dir/fuzz.log"; else cat "$dir"/fuzz.*.log >"$dir/fuzz.log"; fi
    execs=$(grep -a '^stat::number_of_executed_units:' "$dir/fuzz.log" | awk '{n += $2} END {if (NR) print n}')
    # coverage: the largest any process saw; speed: their sum
    cov=$(grep -aoE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED) +cov: [0-9]+' "$dir/fuzz.log" | awk '{if ($NF > m) m = $NF} END {if (NR) print m}')
    ft=$(grep -aoE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED) +cov: [0-9]+ ft: [0-9]+' "$dir/fuzz.log" | awk '{if ($NF > m) m = $NF} END {if (NR) print m}')
    eps=$(grep -a '^stat::average_exec_per_sec:' "$dir/fuzz.log" | awk '{n += $2} END {if (NR) print n}')
    corp=$(ls "$dir/corpus" | wc -l)
    found=$(( $(ls "$dir/crashes" | wc -l) - before ))
    if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
        status=1
        grep -aE 'ERROR: libFuzzer|SUMMARY|FUZZ_CHECK|Test unit written' "$dir/fuzz.log" | head -5
    fi
    took=$(( $(date +%s) - start ))
    short=""
    if [ -n "$runs" ] && [ "${execs:-0}" -lt "$runs" ]; then
        short=" (short of $runs)"
        status=1
    fi
    printf '%-8s %5ss  execs %10s%s  exec/s %7s  cov %5s  ft %6s  corpus %5s  findings %s%s\n' \
        "$h" "$took" "${execs:-?}" "$short" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$found" \
        "$([ "$rc" != 0 ] && echo " (libFuzzer exit $rc)")" >"$dir/row"
    cat "$dir/row"
    return $status
}

# Build first, one after the other (the harnesses share objects).
for h in "$@"; do
    mkdir -p "build/fuzz/$h"
    make --no-print-directory -s "build/fuzz/bin/fuzz_$h" >"build/fuzz/$h/build.log" 2>&1 ||
        rm -f "build/fuzz/bin/fuzz_$h"
done

# Each harness runs in its own subshell and leaves its exit status in build/fuzz/NAME/rc.
for h in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n
    done
    rm -f "build/fuzz/$h/rc" "build/fuzz/$h/row"
    ( fuzz_one "$h"; echo $? >"build/fuzz/$h/rc" ) &
done
wait
status=0
for h in "$@"; do
    [ "$(cat "build/fuzz/$h/rc" 2>/dev/null)" = 0 ] || status=1
done
{
    echo "=== fuzz summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(clang-14 --version | head -1)${runs:+, FUZZ_RUNS=$runs}, FUZZ_JOBS=$jobs_max, FUZZ_SPLIT=${FUZZ_SPLIT:-1})"
    for h in "$@"; do cat "build/fuzz/$h/row"; done
} | tee build/fuzz/summary.txt
exit $status
