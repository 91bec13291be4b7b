#!/usr/bin/env bash
# Boots the kernel in test mode and reports its result; extra arguments are kernel options
# (e.g. test=wtd_* to pick tests).  The log is kept in build/kernel-tests.log.
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
trap 'rm -f "$scratch"' EXIT
disk=()
if [ -f "$src" ]; then
    cp --sparse=always "$src" "$scratch"
    disk=(--disk "$scratch")
fi
"$here/scripts/run.sh" --net "${KTEST_NET:-isolated}" --test --timeout "${KTEST_TIMEOUT:-600}" --log "$log" "${disk[@]}" -- "${args[@]}"
rc=$?
[ ${#disk[@]} -gt 0 ] || exit $rc

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
