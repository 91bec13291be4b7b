#!/usr/bin/env bash
# The in-guest harness must report a failing, hanging, panicking or faulting test by name,
# end QEMU by itself, and make the run fail.  And it lives in the test kernel only: the
# production image carries no test or benchmark code and refuses the `test` option.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/tests/e2e/suite_lib.sh"
# expect NAME PATTERN STATUS GUEST-SUMMARY REGEX...: scripts/kernel-tests.sh test=PATTERN
# exits STATUS within 100 s, the guest's own summary line is GUEST-SUMMARY, and the log
# holds a line matching each REGEX (extended).
expect() {
    local name=$1 pattern=$2 want_rc=$3 want_sum=$4 log err rc t0=$SECONDS miss=""
    shift 4
    log=$(mktemp)
    err=$(KTEST_DISK=/nonexistent KTEST_LOG="$log" KTEST_TIMEOUT=120 "$here/scripts/kernel-tests.sh" "test=$pattern" 2>&1 >/dev/null)
    rc=$?
    tr -d '\000' < "$log" | grep -aqxF "$want_sum" || miss="no guest summary '$want_sum'"
    for re in "$@"; do
        tr -d '\000' < "$log" | grep -aqE "$re" || miss="$miss; no line /$re/"
    done
    [ "$rc" = "$want_rc" ] || miss="$miss; exit $rc, not $want_rc"
    [ $((SECONDS - t0)) -lt 100 ] || miss="$miss; took $((SECONDS - t0)) s"
    if [ -z "$miss" ]; then
        ok "$name"
    else
        bad "$name" "$miss; log:"
        tr -d '\000' < "$log" | grep -aE '^(ok|FAIL|skip|\*\*\*|[0-9]+ passed)' | sed 's/^/    /'
        [ -n "$err" ] && printf '%s\n' "$err" | tail -5 | sed 's/^/    stderr: /'
    fi
    rm -f "$log"
}
# check NAME EXPECTED-REGEX [REGEX]: the selftest NAME fails, reported by name, the run fails.
check() {
    expect "harness_reports_$1" "$1" 1 "0 passed, 1 failed, 0 skipped" "^FAIL $1: .*$2" ${3:+"$3"}
}
check selftest_fail 'test_harness.c:[0-9]+: got == expected: 5 .* != 4'
check selftest_hang 'still running after 2000 ms \(watchdog\)'
check selftest_panic 'panic'
check selftest_fault 'panic'
check selftest_irqs_off_assert 'panic' 'sched_wakeup: interrupts enabled'
# The tests selected after a panic or a hang are reported as not run and counted as failed.
expect harness_reports_not_run_after_panic 'selftest_panic,memcpy_*,memset_*,memmove_*' 1 "0 passed, 4 failed, 0 skipped" \
    '^FAIL selftest_panic: panic' '^FAIL memcpy_every_length_and_alignment: not run \(selftest_panic panicked\)' \
    '^FAIL memmove_overlapping_both_ways: not run '
expect harness_reports_not_run_after_watchdog 'selftest_hang,memset_*' 1 "0 passed, 2 failed, 0 skipped" \
    '^FAIL memset_every_length_and_alignment: not run \(selftest_hang hung\)'
# A pattern that selects nothing fails the run; a skip is counted as a skip, not a pass.
expect harness_no_match_fails 'no_test_is_called_this' 1 "0 passed, 1 failed, 0 skipped" \
    "^FAIL test_pattern: no test matches 'no_test_is_called_this'"
expect harness_counts_skip selftest_skip 0 "0 passed, 0 failed, 1 skipped" \
    '^skip selftest_skip: deliberately skipped by selftest_skip$'

# The production image has none of the test kernel's code (the symbols the runner, the tests
# and the benchmarks define), while the test image has it.
prod=$here/build/worktodo.elf testk=$here/build/worktodo-test.elf
test_syms='(ktest_fail|ktest_fn_[a-z0-9_]+|bench_init|run_all)$'
if [ -f "$prod" ] && [ -f "$testk" ] && ! nm "$prod" | grep -qE " [tT] $test_syms" &&
   [ "$(nm "$testk" | grep -cE " [tT] $test_syms")" -gt 10 ]; then
    ok production_image_has_no_test_code
else
    bad production_image_has_no_test_code "$(nm "$prod" 2>&1 | grep -E " [tT] $test_syms" | head -5 | tr '\n' ' ')"
fi
# ... and booted with `test` it stops at once, naming the option, instead of running tests.
log=$(mktemp)
"$here/scripts/run.sh" --elf "$prod" --test --net none --timeout 120 --log "$log" -- test >/dev/null 2>&1
rc=$?
if [ "$rc" = 1 ] && tr -d '\000' < "$log" | grep -aq "unknown option 'test'" &&
   ! tr -d '\000' < "$log" | grep -aqE '^(ok|FAIL) '; then
    ok production_image_refuses_test_option
else
    bad production_image_refuses_test_option "run.sh exit $rc; log tail: $(tr -d '\000\r' < "$log" | tail -3 | tr '\n' '|')"
fi
rm -f "$log"
finish
