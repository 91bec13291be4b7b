#!/usr/bin/env bash
# Raw-frame protocol tests (tests/e2e/test_ncpd.c: login gate, pipelining, split and glued
# frames, garbage and huge lengths, lock waits that do not stall, big directories, the
# in-flight limit, half frames and a pre-login NEGOTIATE flood, permissions, intruder
# detection, admin shutdown) against the WorkToDo kernel in QEMU.  Afterwards the kernel
# must not have panicked and the volume must be clean for e2fsck.
#   KPROTO_SUITE=NAME   the test_ncpd suite to run (NCP_TEST_SUITE; default: the main one)
#   KPROTO_ARGS="..."   the kernel options instead of the default ones below
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/e2e/suite_lib.sh
if ! make --no-print-directory all build/e2e/test_ncpd >/tmp/ncp_kproto_build.$$ 2>&1; then
    bad build "make failed:"; tail -20 /tmp/ncp_kproto_build.$$ | sed 's/^/    /'
    rm -f /tmp/ncp_kproto_build.$$; finish
fi
rm -f /tmp/ncp_kproto_build.$$
T=$(mktemp -d /tmp/ncp-kproto.XXXXXX)
pid=""
# QEMU runs in a session of its own (setsid): a kernel that did not power off is ended with
# its whole group (run.sh alone would wait for QEMU before it acts on the signal).
trap '[ -n "$pid" ] && kill -TERM -- -"$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/root/etc"
# the users and layout tests/e2e/test_ncpd.c expects (a second non-admin user for the
# cross-user tests)
scripts/mkusers.sh "$T/root/etc/ncp-users" guest guest admin:admin s3cret alice wonderland locky lockpw
scripts/volume-layout.sh "$T/root"
scripts/mkimage.sh "$T/root" "$T/vol.img" 64M >/dev/null 2>&1
base=$((20000 + RANDOM % 12000))        # below the ephemeral ports (scripts/run.sh --port-base)
# intruder detection as test_ncpd.c expects it (3 failures, 2 s lockout); long timeouts:
# behind QEMU's user networking the flood test needs minutes to open its 700 connections,
# which must not time out meanwhile (ncp_kernel_limits.sh tests the timeouts).
# shellcheck disable=SC2086
setsid scripts/run.sh --net user --port-base "$base" --disk "$T/vol.img" -- \
    ${KPROTO_ARGS:-ncp.intruder_attempts=3 ncp.intruder_lock_s=2 ncp.login_timeout_s=900 ncp.frame_timeout_s=900} \
    </dev/null >"$T/kernel.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 240); do NCP_PASSWORD=guest build/ncpc -s "127.0.0.1:$((base + 40))" ping -c 1 >/dev/null 2>&1 && up=1 && break; sleep 0.5; done
if [ "$up" = 0 ]; then
    echo "FAIL kernel_serves: no answer on 127.0.0.1:$((base + 40)) within 120 s; kernel log:"
    tr -d '\000\r' < "$T/kernel.log" | tail -15 | sed 's/^/    /'
    fail=$((fail + 1)); finish
fi
NCP_TEST_SUITE=${KPROTO_SUITE:-} NCP_TEST_SERVER=$((base + 40)) build/e2e/test_ncpd | tee "$T/out" |
    grep -vE "$SUMMARY_RE"
if read_counts "$T/out"; then pass=$sp fail=$sf skipped=$ss
else bad test_ncpd "no summary"; fi
if grep -q "panic\|lock order" "$T/kernel.log"; then
    bad kernel_no_panic "$(tr -d '\000\r' < "$T/kernel.log" | grep -m1 'panic\|lock order')"
else ok kernel_no_panic; fi
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    bad kernel_powered_off "QEMU still running"
    kill -TERM -- -"$pid" 2>/dev/null    # before the fsck: the volume is no longer written
    wait "$pid"
    pid=""
else
    wait "$pid"
    pid=""
    ok kernel_powered_off
fi
fsck_clean volume_fsck_clean "$T/vol.img"
finish
