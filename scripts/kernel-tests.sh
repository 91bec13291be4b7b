#!/usr/bin/env bash
# Boots the kernel in test mode and reports its result; extra arguments are kernel options
# (e.g. test=wtd_* to pick tests).  The log is kept in build/kernel-tests.log.
#
# Besides the e1000 and the AHCI disk, the boot has the virtio devices
# tests/kernel/test_virtio_dev.c expects: a blank 16 MiB virtio-blk scratch disk behind a
# pcie-root-port (modern-only), a read-only one on pcie.0 (transitional), an 8 MiB one whose
# sector 64 fails to read (QEMU's blkdebug), two the driver must skip (a 4-entry queue, a legacy-only device) -- the log must say so by name -- and a
# virtio-net device on its own isolated user network.
#
# The tests write to the disk (ext2 workloads through AHCI), so they get a scratch copy of
# build/demo.img (build/kernel-test.img; KTEST_DISK=path picks another source image) and
# demo.img stays as it was.  After QEMU exits, `e2fsck -fn` must find nothing at all to
# report on the scratch copy (its exit status alone is not enough: it exits 0 on wrong
# superblock counts); that check is one more test line and is counted in the summary.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
args=("$@")
have_test=0
for a in "${args[@]}"; do case "$a" in test|test=*) have_test=1;; esac; done
[ "$have_test" = 1 ] || args=(test "${args[@]}")
mkdir -p "$here/build"
log="${KTEST_LOG:-$here/build/kernel-tests.log}"
src=${KTEST_DISK:-$here/build/demo.img}
scratch=$(mktemp "$here/build/kernel-test.XXXXXX.img")   # parallel runs must not share it
vdir=$(mktemp -d "$here/build/kernel-test-virtio.XXXXXX")
trap 'rm -f "$scratch"; rm -rf "$vdir"' EXIT
for n in rw ro small legacy; do truncate -s 16M "$vdir/$n.img"; done
truncate -s 8M "$vdir/err.img"
printf 'WTD-RO-DISK' | dd of="$vdir/ro.img" conv=notrunc status=none
# QEMU's blkdebug fails reads of sector 64 of the 8 MiB disk with EIO, reported to the guest
printf '[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "64"\n' > "$vdir/err.conf"
virtio=(--qemu -device --qemu pcie-root-port,id=ktrp,chassis=9
        --qemu -drive --qemu "file=$vdir/rw.img,if=none,id=kvd0,format=raw"
        --qemu -device --qemu virtio-blk-pci,drive=kvd0,bus=ktrp
        --qemu -drive --qemu "file=$vdir/ro.img,if=none,id=kvd1,format=raw,readonly=on"
        --qemu -device --qemu virtio-blk-pci,drive=kvd1
        --qemu -drive --qemu "file=$vdir/small.img,if=none,id=kvd2,format=raw"
        --qemu -device --qemu virtio-blk-pci,drive=kvd2,queue-size=4
        --qemu -drive --qemu "file=$vdir/legacy.img,if=none,id=kvd3,format=raw"
        --qemu -device --qemu virtio-blk-pci,drive=kvd3,disable-modern=on,disable-legacy=off
        --qemu -drive --qemu "file=blkdebug:$vdir/err.conf:$vdir/err.img,if=none,id=kvd4,format=raw,rerror=report,werror=report"
        --qemu -device --qemu virtio-blk-pci,drive=kvd4
        --qemu -netdev --qemu user,id=kn1,restrict=on
        --qemu -device --qemu virtio-net-pci,netdev=kn1,mac=52:54:00:12:34:57)
disk=()
if [ -f "$src" ]; then
    cp --sparse=always "$src" "$scratch"
    disk=(--disk "$scratch")
fi
"$here/scripts/run.sh" --net "${KTEST_NET:-isolated}" --test --timeout "${KTEST_TIMEOUT:-600}" --log "$log" "${disk[@]}" \
    "${virtio[@]}" -- "${args[@]}"
rc=$?
# The two unusable virtio devices were named and skipped (the boot went on).
vskip_p=0 vskip_f=0
if grep -aqE '^virtio-blk [0-9a-f:.]+: queue 0 has 4 entries, fewer than the 8 the driver needs: skipped' "$log" &&
   grep -aqE '^virtio-blk [0-9a-f:.]+: no usable virtio 1.0 capabilities .*: skipped' "$log"; then
    echo "ok virtio_unusable_devices_named_and_skipped" | tee -a "$log"
    vskip_p=1
else
    echo "FAIL virtio_unusable_devices_named_and_skipped: the boot log does not name both skipped devices" | tee -a "$log"
    vskip_f=1
    [ "$rc" = 0 ] && rc=1
fi
line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ ${#disk[@]} -eq 0 ]; then
    if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
        echo "$((p + vskip_p)) passed, $((f + vskip_f)) failed" | tee -a "$log"; fi
    exit $rc
fi

# e2fsck -fn prints only its pass headers and the summary on a clean file system.
e2fsck=e2fsck
for d in /usr/sbin /sbin; do [ -x "$d/e2fsck" ] && e2fsck=$d/e2fsck && break; done
out=$("$e2fsck" -fn "$scratch" 2>&1)
fsck_rc=$?
problems=$(printf '%s\n' "$out" | grep -avE '^(e2fsck [0-9]|Pass [1-5]: |$)' |
           grep -avE ': [0-9]+/[0-9]+ files \([0-9.]+% non-contiguous\), [0-9]+/[0-9]+ blocks$')
line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
p=0 f=0
if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*, }; f=${f%% failed}; fi
p=$((p + vskip_p)) f=$((f + vskip_f))
if [ "$fsck_rc" = 0 ] && [ -z "$problems" ]; then
    echo "ok kernel_image_e2fsck_clean" | tee -a "$log"
    p=$((p + 1))
else
    { echo "FAIL kernel_image_e2fsck_clean: e2fsck -fn $scratch exited $fsck_rc:"
      printf '%s\n' "$out" | head -40; } | tee -a "$log"
    f=$((f + 1))
    [ "$rc" = 0 ] && rc=1
fi
# The guest's summary line plus the image check (test.sh reads the last such line).
[ -n "$line" ] && echo "$p passed, $f failed" | tee -a "$log"
exit $rc
