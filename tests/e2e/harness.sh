#!/usr/bin/env bash
# The in-guest harness must report a failing, hanging, panicking or faulting test by name,
# end QEMU by itself, and make the run fail.  And it lives in the test kernel only: the
# production image carries no test or benchmark code and refuses the `test` option.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0
check() {  # check NAME EXPECTED-REGEX [REGEX THE LOG MUST ALSO HOLD]
    local name=$1 want=$2 log
    log=$(mktemp)
    local t0=$SECONDS
    local err
    err=$(KTEST_DISK=/nonexistent KTEST_LOG="$log" KTEST_TIMEOUT=120 "$here/scripts/kernel-tests.sh" "test=$name" 2>&1 >/dev/null)
    local rc=$?
    if [ "$rc" = 1 ] && tr -d '\000' < "$log" | grep -aqE "^FAIL $name: .*$want" &&
       tr -d '\000' < "$log" | grep -aq '^0 passed, 1 failed$' && [ $((SECONDS - t0)) -lt 100 ] &&
       { [ -z "${3:-}" ] || tr -d '\000' < "$log" | grep -aqE "$3"; }; then
        echo "ok harness_reports_$name"
        pass=$((pass + 1))
    else
        echo "FAIL harness_reports_$name: exit $rc, log:"
        tr -d '\000' < "$log" | grep -aE '^(ok|FAIL|\*\*\*|[0-9]+ passed)' | sed 's/^/    /'
        [ -n "$err" ] && printf '%s\n' "$err" | tail -5 | sed 's/^/    stderr: /'
        fail=$((fail + 1))
    fi
    rm -f "$log"
}
check selftest_fail 'test_harness.c:[0-9]+: got == expected: 5 .* != 4'
check selftest_hang 'still running after 2000 ms \(watchdog\)'
check selftest_panic 'panic'
check selftest_fault 'panic'
check selftest_irqs_off_assert 'panic' 'sched_wakeup: interrupts enabled'

# The production image has none of the test kernel's code (the symbols the runner, the tests
# and the benchmarks define), while the test image has it.
prod=$here/build/worktodo.elf testk=$here/build/worktodo-test.elf
test_syms='(ktest_fail|ktest_fn_[a-z0-9_]+|bench_init|run_all)$'
if [ -f "$prod" ] && [ -f "$testk" ] && ! nm "$prod" | grep -qE " [tT] $test_syms" &&
   [ "$(nm "$testk" | grep -cE " [tT] $test_syms")" -gt 10 ]; then
    echo "ok production_image_has_no_test_code"
    pass=$((pass + 1))
else
    echo "FAIL production_image_has_no_test_code: $(nm "$prod" 2>&1 | grep -E " [tT] $test_syms" | head -5 | tr '\n' ' ')"
    fail=$((fail + 1))
fi
# ... and booted with `test` it stops at once, naming the option, instead of running tests.
log=$(mktemp)
"$here/scripts/run.sh" --elf "$prod" --test --net none --timeout 120 --log "$log" -- test >/dev/null 2>&1
rc=$?
if [ "$rc" = 1 ] && tr -d '\000' < "$log" | grep -aq "unknown option 'test'" &&
   ! tr -d '\000' < "$log" | grep -aqE '^(ok|FAIL) '; then
    echo "ok production_image_refuses_test_option"
    pass=$((pass + 1))
else
    echo "FAIL production_image_refuses_test_option: run.sh exit $rc; log tail: $(tr -d '\000\r' < "$log" | tail -3 | tr '\n' '|')"
    fail=$((fail + 1))
fi
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
