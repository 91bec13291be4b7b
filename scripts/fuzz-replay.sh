#!/usr/bin/env bash
# fuzz-replay.sh - the `make test` suite of the fuzz harnesses: builds each one (clang-14,
# libFuzzer, ASan + UBSan) and runs every committed input through it once: the seed corpus
# (tests/fuzz/NAME/corpus) and the reproducers of bugs found and fixed (tests/fuzz/NAME/crashes).
# One line per harness, `ok fuzz_NAME` or `FAIL fuzz_NAME: why`, then `N passed, N failed, N skipped`.
# A harness that does not build, or has no inputs, fails.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
names=${FUZZ_NAMES:-codec reasm users engine ext2}
source "$here/tests/e2e/suite_lib.sh"    # pass, fail, finish
for h in $names; do
    bin=build/fuzz/bin/fuzz_$h
    log=build/fuzz/$h/replay.log
    mkdir -p "build/fuzz/$h"
    if ! command -v clang-14 >/dev/null 2>&1; then
        bad "fuzz_$h" "clang-14 is not installed (scripts/deps.sh installs it)"
        continue
    fi
    if ! make --no-print-directory -s "$bin" >"$log" 2>&1; then
        bad "fuzz_$h" "does not build: $(grep -m1 -E 'error' "$log")"
        continue
    fi
    inputs=()
    for d in "tests/fuzz/$h/corpus" "tests/fuzz/$h/crashes"; do
        [ -d "$d" ] && while IFS= read -r f; do inputs+=("$f"); done < <(find "$d" -type f | sort)
    done
    if [ ${#inputs[@]} = 0 ]; then
        bad "fuzz_$h" "no committed inputs in tests/fuzz/$h"
        continue
    fi
    # Given files, libFuzzer runs each once and exits non-zero on a crash, sanitizer report,
    # leak or (-timeout) hang.
    if timeout -k 5 600 "$bin" -timeout=30 -rss_limit_mb=2048 "${inputs[@]}" >>"$log" 2>&1; then
        ran=$(grep -ac '^Executed ' "$log")
        if [ "$ran" = "${#inputs[@]}" ]; then
            ok "fuzz_$h (${#inputs[@]} inputs)"
        else
            bad "fuzz_$h" "ran $ran of ${#inputs[@]} inputs (see $log)"
        fi
    else
        why=$(grep -a -m1 -E 'FUZZ_CHECK|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log")
        cur=$(grep -a '^Running: ' "$log" | tail -1)
        bad "fuzz_$h" "${cur#Running: }: ${why:-exit status non-zero} (see $log)"
    fi
done
finish
