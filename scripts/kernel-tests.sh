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
# demo.img stays as it was.  After QEMU exits, scripts/e2fsck-clean.sh must find the
# scratch copy clean (exit status and output: e2fsck exits 0 on wrong superblock counts);
# that check is one more test line (a skip without a source image) in the summary
# `N passed, N failed, N skipped`, which adds this script's checks to the guest's.
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
source "$here/tests/e2e/suite_lib.sh"
# The guest's own counts (a guest that printed no summary -- it never got to run its
# tests -- counts as one failure); then this script's checks are added to them.
if read_counts "$log"; then
    pass=$sp fail=$sf skipped=$ss
else
    echo "FAIL kernel_tests_summary: the guest printed no summary (run.sh exit $rc)" | tee -a "$log"
    fail=1
fi
# The two unusable virtio devices were named and skipped (the boot went on).
if grep -aqE '^virtio-blk [0-9a-f:.]+: queue 0 has 4 entries, fewer than the 8 the driver needs: skipped' "$log" &&
   grep -aqE '^virtio-blk [0-9a-f:.]+: no usable virtio 1.0 capabilities .*: skipped' "$log"; then
    echo "ok virtio_unusable_devices_named_and_skipped" | tee -a "$log"
    pass=$((pass + 1))
else
    echo "FAIL virtio_unusable_devices_named_and_skipped: the boot log does not name both skipped devices" | tee -a "$log"
    fail=$((fail + 1))
fi
# After QEMU exits, e2fsck -fn must find the scratch copy clean (scripts/e2fsck-clean.sh).
if [ ${#disk[@]} -eq 0 ]; then
    echo "skip kernel_image_e2fsck_clean: no source image $src" | tee -a "$log"
    skipped=$((skipped + 1))
elif out=$("$here/scripts/e2fsck-clean.sh" "$scratch" 2>&1); then
    echo "ok kernel_image_e2fsck_clean" | tee -a "$log"
    pass=$((pass + 1))
else
    { echo "FAIL kernel_image_e2fsck_clean: $scratch:"
      printf '%s\n' "$out" | head -40; } | tee -a "$log"
    fail=$((fail + 1))
fi
# The guest's counts plus these checks (test.sh reads the last summary line); the exit
# status is run.sh's unless a check here failed.
echo "$pass passed, $fail failed, $skipped skipped" | tee -a "$log"
[ "$fail" != 0 ] && [ "$rc" = 0 ] && rc=1
[ "$fail" = 0 ] && [ "$rc" != 0 ] && echo "# run.sh exited $rc with no failed test" | tee -a "$log"
exit $rc
