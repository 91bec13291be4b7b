#!/usr/bin/env bash
# storage_scratch.sh - the storage stack end to end (on the AHCI disk, or on virtio-blk with
# WTD_BLK=virtio: scripts/test.sh runs it both ways) on a scratch image made by
# scripts/mkimage.sh: boot 1 runs every in-guest storage_* test (reads of known files,
# the write workload, sync, the cache and WTD checks, and storage_persist_write);
# then the host checks the image (e2fsck -fn must report nothing; debugfs must show the
# file the guest wrote, byte for byte); boot 2 (fresh cache) runs storage_persist_check.
# Output per docs/conventions.md: ok/FAIL lines and "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/e2e/suite_lib.sh

if ! make --no-print-directory all test-image >/tmp/storage_e2e_build.$$ 2>&1; then
    bad storage_build "$(tail -5 /tmp/storage_e2e_build.$$)"
    rm -f /tmp/storage_e2e_build.$$
    finish
fi
rm -f /tmp/storage_e2e_build.$$
sbin() { for d in /usr/sbin /sbin; do [ -x "$d/$1" ] && { echo "$d/$1"; return; }; done; echo "$1"; }
DEBUGFS=$(sbin debugfs)

T=$(mktemp -d /tmp/storage-e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/tree/docs/notes/deep" "$T/tree/data"
echo "Hello from WorkToDo!" > "$T/tree/hello.txt"
printf 'a file three directories down\n' > "$T/tree/docs/notes/deep/idea.txt"
head -c $((6 * 1024 * 1024 + 1234)) /dev/urandom > "$T/tree/data/random64.bin"
(cd "$T/tree/data" && sha256sum random64.bin > random64.sha256)
img=$T/scratch.img                 # private: parallel runs must not share it
if scripts/mkimage.sh "$T/tree" "$img" 48M >"$T/mk.log" 2>&1; then ok storage_e2e_mkimage
else bad storage_e2e_mkimage "$(tail -3 "$T/mk.log")"; finish; fi

# boot: NAME PATTERN -> the guest's own ok/FAIL lines, counted here
boot() {
    local name=$1 pattern=$2 log=$T/$1.log
    scripts/run.sh --test --net none --disk "$img" ${3:+"$3"} --timeout 600 --log "$log" -- "test=$pattern" >/dev/null 2>&1
    local rc=$?
    local line p f
    grep -aE '^(ok|FAIL|skip) ' "$log" | sed 's/^/    guest: /'
    line=$(grep -aE "$SUMMARY_RE" "$log" | tail -1)
    read_counts "$log"
    p=$sp f=$sf
    local drv=ahci
    [ "${WTD_BLK:-ahci}" = virtio ] && drv=virtio-blk      # the disk the run asked for
    if ! tr -d '\r' < "$log" | grep -qE "^storage: ext2 on .* \(driver $drv\) mounted"; then
        bad "${name}_on_$drv" "the volume is not on $drv: $(tr -d '\r' < "$log" | grep -E '^storage: ' | head -2 | tr '\n' '|')"
    fi
    if [ "$rc" = 0 ] && [ -n "$line" ] && [ "$f" = 0 ] && [ "$p" -gt 0 ]; then ok "$name ($p guest tests on $drv)"
    else
        bad "$name" "run.sh exit $rc, guest summary '${line:-none}'; the log's end:"
        grep -avE '^(xorriso|Drive|Media|Added|ISO|Writ|libisofs)' "$log" | tail -25 | sed 's/^/    /'
    fi
}

boot storage_e2e_boot1_all_storage_tests 'storage_*'
fsck_clean storage_e2e_fsck_after_boot1 "$img"

# What the guest wrote, as Linux's tools read it from the image.
for i in $(seq 0 19999); do printf 'persist line %05d of WorkToDo\n' "$i"; done > "$T/expect.txt"
if "$DEBUGFS" -R "dump /persist/lines.txt $T/got.txt" "$img" >/dev/null 2>&1 && cmp -s "$T/expect.txt" "$T/got.txt"; then
    ok storage_e2e_debugfs_sees_guest_file
else
    bad storage_e2e_debugfs_sees_guest_file "debugfs dump differs or failed ($(stat -c %s "$T/got.txt" 2>/dev/null || echo none) bytes)"
fi
if "$DEBUGFS" -R "ls -l /" "$img" 2>/dev/null | grep -q ktest-scratch; then
    bad storage_e2e_scratch_dir_removed "/.ktest-scratch is still in the image"
else
    ok storage_e2e_scratch_dir_removed
fi

boot storage_e2e_boot2_persist_check 'storage_persist_check'
fsck_clean storage_e2e_fsck_after_boot2 "$img"

# virtio-blk only: the same image on a read-only device is mounted read-only and left as it was
if [ "${WTD_BLK:-ahci}" = virtio ]; then
    sum_before=$(sha256sum < "$img")
    boot storage_e2e_boot3_read_only_device 'storage_read_only_disk' --disk-readonly
    if tr -d '\r' < "$T/storage_e2e_boot3_read_only_device.log" | grep -qE '^storage: ext2 on .* mounted READ-ONLY'; then
        ok storage_e2e_read_only_mount
    else
        bad storage_e2e_read_only_mount "no 'mounted READ-ONLY' in the boot log"
    fi
    if [ "$(sha256sum < "$img")" = "$sum_before" ]; then ok storage_e2e_read_only_image_unchanged
    else bad storage_e2e_read_only_image_unchanged "the image changed on a read-only device"; fi
fi
finish
