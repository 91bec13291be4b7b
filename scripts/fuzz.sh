#!/usr/bin/env bash
# fuzz.sh NAME... - runs each libFuzzer harness (tests/fuzz/fuzz_NAME.c) for FUZZ_S seconds
# (default 300; FUZZ_S_NAME overrides it for one harness), one after the other, then prints
# executions, exec/s, coverage (libFuzzer's cov = edges and ft = features, both counted in
# the code under test only) and findings per harness.  `make fuzz` calls it.
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

status=0
rows=()
for h in "$@"; do
    bin=build/fuzz/bin/fuzz_$h
    dir=build/fuzz/$h
    mkdir -p "$dir/corpus" "$dir/crashes"
    if ! make --no-print-directory -s "$bin" >"$dir/build.log" 2>&1; then
        rows+=("$(printf '%-8s does not build (see %s)' "$h" "$dir/build.log")")
        status=1
        continue
    fi
    var=FUZZ_S_$h
    secs=${!var:-${FUZZ_S:-300}}
    before=$(ls "$dir/crashes" | wc -l)
    seeds=()
    for d in "tests/fuzz/$h/corpus" "tests/fuzz/$h/crashes"; do
        [ -d "$d" ] && seeds+=("$d")
    done
    echo "=== fuzz_$h: ${secs}s"
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$h")" \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
        "$dir/corpus" "${seeds[@]}" >"$dir/fuzz.log" 2>&1
    rc=$?
    execs=$(grep -a '^stat::number_of_executed_units:' "$dir/fuzz.log" | awk '{print $2}')
    done_line=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$dir/fuzz.log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    eps=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")
    corp=$(ls "$dir/corpus" | wc -l)
    found=$(( $(ls "$dir/crashes" | wc -l) - before ))
    if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
        status=1
        grep -aE 'ERROR: libFuzzer|SUMMARY|FUZZ_CHECK|Test unit written' "$dir/fuzz.log" | head -5
    fi
    rows+=("$(printf '%-8s %5ss  execs %10s  exec/s %7s  cov %5s  ft %6s  corpus %5s  findings %s%s' \
        "$h" "$secs" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$found" \
        "$([ "$rc" != 0 ] && echo " (libFuzzer exit $rc)")")")
    echo "${rows[-1]}"
done
{
    echo "=== fuzz summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(clang-14 --version | head -1))"
    printf '%s\n' "${rows[@]}"
} | tee build/fuzz/summary.txt
exit $status
