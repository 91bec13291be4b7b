#!/usr/bin/env bash
# The in-guest harness must report a failing, hanging, panicking or faulting test by name,
# end QEMU by itself, and make the run fail.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0
check() {  # check NAME EXPECTED-REGEX
    local name=$1 want=$2 log
    log=$(mktemp)
    local t0=$SECONDS
    local err
    err=$(KTEST_DISK=/nonexistent KTEST_LOG="$log" KTEST_TIMEOUT=120 "$here/scripts/kernel-tests.sh" "test=$name" 2>&1 >/dev/null)
    local rc=$?
    if [ "$rc" = 1 ] && tr -d '\000' < "$log" | grep -aqE "^FAIL $name: .*$want" &&
       tr -d '\000' < "$log" | grep -aq '^0 passed, 1 failed$' && [ $((SECONDS - t0)) -lt 100 ]; then
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
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
