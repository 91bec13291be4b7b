#!/usr/bin/env bash
# linux_ncpd.sh - the Linux baseline guest (scripts/linux-guest/) end to end: boots Debian's
# kernel with the static ncpd in epoll mode on a scratch copy of build/demo.img, in its own
# network namespace, and checks it with build/ncpc from inside that namespace: login + ls, get
# and compare, put + get, a refused password, the source service, admin shutdown, and a clean
# e2fsck of the image afterwards.  Output per docs/conventions.md; bounded to 170 s.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here" || exit 2

if [ "${1:-}" = --inside ]; then
    # Runs on the host, started by linux-guest/run.sh once the guest serves.
    T=$2
    in_ns() { ip netns exec "$LINUX_GUEST_NS" "$@"; }
    ncpc() { in_ns env NCP_PASSWORD="${PW:-guest}" build/ncpc -s "$LINUX_GUEST_IP:524" "$@"; }
    ok()  { echo "ok $1"; echo pass >> "$T/tally"; }
    bad() { echo "FAIL $1: $2"; echo fail >> "$T/tally"; }
    check() { local n=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$n"; else bad "$n" "$(head -c 300 "$T/err" "$T/out" | tr '\n' ' ')"; fi; }

    check linux_login_ls bash -c "$(declare -f in_ns ncpc); ncpc ls / | grep -q ' hello.txt\$'"
    check linux_cat_small bash -c "$(declare -f in_ns ncpc); [ \"\$(ncpc cat /hello.txt)\" = 'Hello from WorkToDo!' ]"
    ncpc get /data/random64.bin "$T/r64.bin" >/dev/null 2>"$T/err"
    want=$(ncpc cat /data/random64.sha256 2>/dev/null | awk '{print $1}')
    got=$(sha256sum "$T/r64.bin" 2>/dev/null | awk '{print $1}')
    if [ -n "$want" ] && [ "$want" = "$got" ]; then ok linux_get_64mib_sha256
    else bad linux_get_64mib_sha256 "want '$want' got '$got' $(head -c 200 "$T/err")"; fi
    head -c 1500000 /dev/urandom > "$T/up.bin"
    check linux_put ncpc put "$T/up.bin" /up.bin
    check linux_get_back ncpc get /up.bin "$T/up.back"
    check linux_put_get_same cmp "$T/up.bin" "$T/up.back"
    if PW=wrong ncpc ls / >/dev/null 2>"$T/err"; then bad linux_bad_password "login succeeded"
    elif grep -q 'login failed' "$T/err"; then ok linux_bad_password
    else bad linux_bad_password "$(head -c 200 "$T/err")"; fi
    n=$(in_ns timeout 20 bash -c "exec 3<>/dev/tcp/$LINUX_GUEST_IP/19; echo 1000000 >&3; cat <&3 | wc -c" 2>/dev/null)
    if [ "$n" = 1000000 ]; then ok linux_source_service; else bad linux_source_service "got '$n' bytes, want 1000000"; fi
    check linux_shutdown env PW=admin bash -c "$(declare -f in_ns ncpc); ncpc -u admin shutdown"
    exit 0
fi

T=$(mktemp -d /tmp/linux-ncpd-e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
: > "$T/tally"
# The checks run in two processes (this one and --inside, started by the guest's run.sh),
# so they are tallied in a file and summed here with tests/e2e/suite_lib.sh's finish.
summary() {
    source tests/e2e/suite_lib.sh
    pass=$(grep -c pass "$T/tally") fail=$(grep -c fail "$T/tally")
    finish
}
if ! scripts/linux-guest/deps.sh 2>"$T/deps.err"; then
    echo "FAIL linux_guest_deps: cannot install the Linux guest packages: $(tail -3 "$T/deps.err" | tr '\n' ' ')"
    echo fail >> "$T/tally"; summary; exit 1
fi
if ! make -s build/ncpc >"$T/make.log" 2>&1 || ! scripts/linux-guest/mkinitramfs.sh 2>"$T/mk.err"; then
    echo "FAIL linux_guest_build: $(tail -3 "$T/make.log" "$T/mk.err" | tr '\n' ' ')"
    echo fail >> "$T/tally"; summary; exit 1
fi
[ -f build/demo.img ] || scripts/mkdemo.sh build/demo.img >/dev/null
cp build/demo.img "$T/disk.img"      # scratch copy: demo.img is never written

# A namespace of its own per run: several checkouts may run their tests at once.
timeout -k 10 170 scripts/linux-guest/run.sh --mode epoll --disk "$T/disk.img" --ns "wtdlinux-e2e-$$" \
    --net 10.79.0 --boot-timeout 90 --timeout 120 --log "$T/console.log" -- "$here/tests/e2e/$(basename "$0")" --inside "$T"
rc=$?
if grep -aq 'reboot: Power down' "$T/console.log"; then
    echo "ok linux_guest_powers_off"; echo pass >> "$T/tally"
else
    echo "FAIL linux_guest_powers_off: run.sh status $rc; console tail: $(tr -d '\r' < "$T/console.log" | tail -5 | tr '\n' '|')"
    echo fail >> "$T/tally"
fi
# the devices the run asked for (WTD_NIC/WTD_BLK, as scripts/run.sh): Linux's drivers for them
want_disk=sda want_nic=e1000
[ "${WTD_BLK:-ahci}" = virtio ] && want_disk=vda
[ "${WTD_NIC:-e1000}" = virtio ] && want_nic=virtio_net
if tr -d '\r' < "$T/console.log" | grep -aq "^linux-guest: disk /dev/$want_disk, eth0 driver $want_nic\$"; then
    echo "ok linux_devices_${want_disk}_$want_nic"; echo pass >> "$T/tally"
else
    echo "FAIL linux_devices_${want_disk}_$want_nic: $(tr -d '\r' < "$T/console.log" | grep -a '^linux-guest: disk' | head -1)"
    echo fail >> "$T/tally"
fi
# (exit status and output: scripts/e2fsck-clean.sh)
if scripts/e2fsck-clean.sh "$T/disk.img" >"$T/fsck.log" 2>&1; then
    echo "ok linux_image_fsck_clean"; echo pass >> "$T/tally"
else
    echo "FAIL linux_image_fsck_clean: $(grep -avE '^(e2fsck [0-9]|Pass [1-5]: |$)' "$T/fsck.log" | head -6 | tr '\n' '|')"
    echo fail >> "$T/tally"
fi
summary
