#!/usr/bin/env bash
# Pre-login limits against the WorkToDo kernel in QEMU (tests/e2e/test_ncpd.c with
# NCP_TEST_SUITE=limits): booted with short login and partial-frame timeouts and a 1 MiB
# connection memory budget, idle pre-login connections are closed by the timeouts and
# connections past the budget get the ETOOMANYCONNS refusal, the server staying up.
# (The half-frame / NEGOTIATE flood runs in ncp_kernel_protocol.sh, with long timeouts.)
set -u
cd "$(dirname "$0")/../.." || exit 1
if ! make --no-print-directory all build/e2e/test_ncpd >/tmp/ncp_klimits_build.$$ 2>&1; then
    echo "FAIL build: make failed:"; tail -20 /tmp/ncp_klimits_build.$$ | sed 's/^/    /'
    rm -f /tmp/ncp_klimits_build.$$; echo "0 passed, 1 failed"; exit 1
fi
rm -f /tmp/ncp_klimits_build.$$
T=$(mktemp -d /tmp/ncp-klimits.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/root/etc"
scripts/mkusers.sh "$T/root/etc/ncp-users" guest guest admin:admin s3cret
PATH=$PATH:/usr/sbin mke2fs -q -t ext2 -b 4096 -d "$T/root" "$T/vol.img" 64M 2>/dev/null
base=$((20000 + RANDOM % 20000))
scripts/run.sh --net user --port-base "$base" --disk "$T/vol.img" -- \
    ncp.login_timeout_s=4 ncp.frame_timeout_s=4 ncp.conn_mem_mb=1 </dev/null >"$T/kernel.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 240); do NCP_PASSWORD=guest build/ncpc -s "127.0.0.1:$((base + 40))" ping -c 1 >/dev/null 2>&1 && up=1 && break; sleep 0.5; done
if [ "$up" = 0 ]; then
    echo "FAIL kernel_serves: no answer on 127.0.0.1:$((base + 40)) within 120 s; kernel log:"
    tr -d '\000\r' < "$T/kernel.log" | tail -15 | sed 's/^/    /'
    echo "0 passed, 1 failed"; exit 1
fi
NCP_TEST_SUITE=limits NCP_TEST_SERVER=$((base + 40)) build/e2e/test_ncpd | tee "$T/out" | grep -v '^[0-9]* passed, [0-9]* failed$'
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$T/out" | tail -1)
p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
[ -n "$line" ] || { p=0; f=1; echo "FAIL test_ncpd: no summary"; }
if grep -q "panic\|lock order" "$T/kernel.log"; then
    echo "FAIL kernel_no_panic: $(tr -d '\000\r' < "$T/kernel.log" | grep -m1 'panic\|lock order')"; f=$((f + 1))
else echo "ok kernel_no_panic"; p=$((p + 1)); fi
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "FAIL kernel_powered_off: QEMU still running"; f=$((f + 1))
else wait "$pid"; pid=""; echo "ok kernel_powered_off"; p=$((p + 1)); fi
echo "$p passed, $f failed"
[ "$f" = 0 ]
