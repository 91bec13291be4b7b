#!/usr/bin/env bash
# Runs every suite -- host unit tests, in-guest tests, end-to-end tests -- and ends with
# one line "N passed, N failed, N skipped" over all of them.  Each suite prints its own
# "N passed, N failed, N skipped" (or the older "N passed, M failed") as its last such
# line; a suite that crashes or prints no summary counts as one failure, and so does one
# that exits non-zero with no failed test.  Exit status is non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
source tests/e2e/suite_lib.sh          # read_counts
mkdir -p build/logs
# Guests boot through the PVH fast path (QEMU -kernel, no GRUB: 0.3 s instead of 2.7 s a
# boot here); the suite "kernel-iso" boots the in-guest tests the way `make run` does.
export WTD_BOOT=${WTD_BOOT:-pvh}
total_pass=0 total_fail=0 total_skip=0
summary=()

add_suite() {   # add_suite NAME PASSED FAILED SKIPPED
    total_pass=$((total_pass + $2)) total_fail=$((total_fail + $3)) total_skip=$((total_skip + $4))
    summary+=("$(printf '%-28s %4d passed, %d failed, %d skipped' "$1" "$2" "$3" "$4")")
}

run_suite() {   # run_suite NAME COMMAND...
    local name=$1; shift
    local log="build/logs/$name.log"
    echo "=== $name"
    "$@" 2>&1 | tr -d '\r\000' | tee "$log"
    local rc=${PIPESTATUS[0]}
    local p f s
    if ! read_counts "$log"; then
        p=0 f=1 s=0
        echo "FAIL $name: no summary line (exit status $rc)"
    else
        p=$sp f=$sf s=$ss
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
            f=1
            echo "FAIL $name: exit status $rc"
        fi
    fi
    add_suite "$name" "$p" "$f" "$s"
}

for t in ${HOST_TESTS:-}; do
    run_suite "host-$(basename "$t")" "$t"
done
# The libFuzzer harnesses replay their committed corpus and crash reproducers.
run_suite fuzz-replay scripts/fuzz-replay.sh
run_suite kernel scripts/kernel-tests.sh
run_suite kernel-iso env WTD_BOOT=iso scripts/kernel-tests.sh
# Each end-to-end suite is bounded (a server that stops answering must fail the suite, not
# hang the run); the longest takes about a minute here.
# (tests/e2e/*lib.sh are sourced libraries; any other script there that is not executable
# is a mistake, and fails the run rather than being left out.)
for t in tests/e2e/*.sh; do
    case "$t" in *lib.sh) continue;; esac
    if [ ! -x "$t" ]; then
        echo "=== e2e-$(basename "$t" .sh)"
        echo "FAIL e2e-$(basename "$t" .sh): $t is not executable (chmod +x it, or name it *lib.sh if it is sourced)"
        add_suite "e2e-$(basename "$t" .sh)" 0 1 0
        continue
    fi
    run_suite "e2e-$(basename "$t" .sh)" timeout -k 10 "${E2E_TIMEOUT:-900}" "$t"
done

# The same suites again on virtio devices (scripts/run.sh reads WTD_NIC/WTD_BLK/WTD_KARGS):
# the kernel file service on virtio-net and virtio-blk with INTx (modern-only and
# transitional placements), the tap network suite on virtio-net with MSI-X and the
# checksum offloads a tap offers, and the storage suite on virtio-blk (ends with e2fsck).
run_suite e2e-ncp_kernel-virtio env WTD_NIC=virtio WTD_BLK=virtio WTD_KARGS=virtio.intx \
    timeout -k 10 "${E2E_TIMEOUT:-900}" tests/e2e/ncp_kernel.sh
run_suite e2e-net_tap-virtio env WTD_NIC=virtio timeout -k 10 "${E2E_TIMEOUT:-900}" tests/e2e/net_tap.sh
run_suite e2e-storage_scratch-virtio env WTD_BLK=virtio timeout -k 10 "${E2E_TIMEOUT:-900}" tests/e2e/storage_scratch.sh

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
