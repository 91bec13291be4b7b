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
if ! make --no-print-directory all build/e2e/test_ncpd >/tmp/ncp_kproto_build.$$ 2>&1; then
    echo "FAIL build: make failed:"; tail -20 /tmp/ncp_kproto_build.$$ | sed 's/^/    /'
    rm -f /tmp/ncp_kproto_build.$$; echo "0 passed, 1 failed"; exit 1
fi
rm -f /tmp/ncp_kproto_build.$$
T=$(mktemp -d /tmp/ncp-kproto.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/root/etc"
# the users and layout tests/e2e/test_ncpd.c expects (a second non-admin user for the
# cross-user tests)
scripts/mkusers.sh "$T/root/etc/ncp-users" guest guest admin:admin s3cret alice wonderland locky lockpw
scripts/volume-layout.sh "$T/root"
scripts/mkimage.sh "$T/root" "$T/vol.img" 64M >/dev/null 2>&1
base=$((20000 + RANDOM % 20000))
# intruder detection as test_ncpd.c expects it (3 failures, 2 s lockout); long timeouts:
# behind QEMU's user networking the flood test needs minutes to open its 700 connections,
# which must not time out meanwhile (ncp_kernel_limits.sh tests the timeouts).
# shellcheck disable=SC2086
scripts/run.sh --net user --port-base "$base" --disk "$T/vol.img" -- \
    ${KPROTO_ARGS:-ncp.intruder_attempts=3 ncp.intruder_lock_s=2 ncp.login_timeout_s=900 ncp.frame_timeout_s=900} \
    </dev/null >"$T/kernel.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 240); do NCP_PASSWORD=guest build/ncpc -s "127.0.0.1:$((base + 40))" ping -c 1 >/dev/null 2>&1 && up=1 && break; sleep 0.5; done
if [ "$up" = 0 ]; then
    echo "FAIL kernel_serves: no answer on 127.0.0.1:$((base + 40)) within 120 s; kernel log:"
    tr -d '\000\r' < "$T/kernel.log" | tail -15 | sed 's/^/    /'
    echo "0 passed, 1 failed"; exit 1
fi
NCP_TEST_SUITE=${KPROTO_SUITE:-} NCP_TEST_SERVER=$((base + 40)) build/e2e/test_ncpd | tee "$T/out" |
    grep -v '^[0-9]* passed, [0-9]* failed$'
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$T/out" | tail -1)
p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
[ -n "$line" ] || { p=0; f=1; echo "FAIL test_ncpd: no summary"; }
if grep -q "panic\|lock order" "$T/kernel.log"; then
    echo "FAIL kernel_no_panic: $(tr -d '\000\r' < "$T/kernel.log" | grep -m1 'panic\|lock order')"; f=$((f + 1))
else echo "ok kernel_no_panic"; p=$((p + 1)); fi
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "FAIL kernel_powered_off: QEMU still running"; f=$((f + 1))
else wait "$pid"; pid=""; echo "ok kernel_powered_off"; p=$((p + 1)); fi
problems=$(PATH=$PATH:/usr/sbin e2fsck -fn "$T/vol.img" 2>&1 | grep -vE '^(e2fsck [0-9]|Pass [1-5]: |$)' |
           grep -vE ': [0-9]+/[0-9]+ files \([0-9.]+% non-contiguous\), [0-9]+/[0-9]+ blocks$')
if [ -z "$problems" ]; then echo "ok volume_fsck_clean"; p=$((p + 1))
else echo "FAIL volume_fsck_clean: $problems" | head -20; f=$((f + 1)); fi
echo "$p passed, $f failed"
[ "$f" = 0 ]
