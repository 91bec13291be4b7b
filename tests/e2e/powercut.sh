#!/bin/bash
# powercut.sh [BUILD_DIR] - power-cut testing of the kernel's ext2 (issue 15 items 4-5).
# The kernel serves a plain ext2 image whose disk sits behind QEMU's blklogwrites driver
# (scripts/run.sh --disk-log: every write and flush logged in dm-log-writes format) while
# tests/e2e/powercut_load.c writes, FSYNCs, renames, truncates and removes files on one
# connection and writes without FSYNC on another, recording each FSYNC it was answered
# with the log's entry count at that moment; then QEMU is killed (the power cut).
# tests/e2e/replay_log_writes.c rebuilds the disk at CRASH_POINTS points (default 50):
# right after flushes, at in-order prefixes, and with a random part of the writes after
# the last flush dropped (a volatile cache); scripts/crash-point-check.sh checks each: e2fsck
# -p repairs it alone, e2fsck -fn is clean after, every answered FSYNC's file intact and
# every FSYNCed rename or unlink in place.  One QEMU run feeds all the points.
#   CRASH_POINTS  points to check (make crashtest: 2000)
#   CRASH_OPS     operations of connection A (default 40; make crashtest: 600)
#   CRASH_SEED    seed of the load and of the points (default: 1)
#   CRASH_FS      ext2 (default) or ext3 (the same image with a journal added, tune2fs -j;
#                 each crash image is then checked after e2fsck -p replayed the journal)
#   CRASH_KEEP=1  keep the scratch directory (log, base image, events) for a look
# A point that fails prints its entry range; replay it by hand with
#   build/e2e/replay_log_writes --log LOG --base BASE --image OUT --points N --seed S --exec ...
# Output per docs/conventions.md.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:-build}
. tests/e2e/cli_lib.sh
build_or_fail build_powercut "$B/ncpc" "$B/e2e/replay_log_writes" "$B/e2e/powercut_load" all
POINTS=${CRASH_POINTS:-50}
OPS=${CRASH_OPS:-40}
SEED=${CRASH_SEED:-1}
# crash images are written and e2fsck'ed thousands of times: memory, not the disk
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
T=$(mktemp -d "$shm/powercut.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    wait 2>/dev/null
    if [ "${CRASH_KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
export PATH="$PATH:/usr/sbin:/sbin"

volume_root guest guest admin:admin s3cret
scripts/volume-layout.sh "$T/root"
MKE2FS_OPTS="-b 4096" scripts/mkimage.sh --ext2 "$T/root" "$T/disk.img" 48M >/dev/null 2>&1 ||
    MKE2FS_OPTS="-b 4096" scripts/mkimage.sh "$T/root" "$T/disk.img" 48M >/dev/null 2>&1   # plain ext2
case ${CRASH_FS:-ext2} in
ext2) if dumpe2fs -h "$T/disk.img" 2>/dev/null | grep -q '^Filesystem features:.*has_journal'; then
          tune2fs -O ^has_journal "$T/disk.img" >/dev/null 2>&1 || bad make_ext2_image "tune2fs -O ^has_journal failed"
      fi ;;
ext3) tune2fs -j "$T/disk.img" >/dev/null 2>&1 || bad make_ext3_image "tune2fs -j failed" ;;
*) bad crash_fs "CRASH_FS must be ext2 or ext3"; finish ;;
esac
echo "# volume: ${CRASH_FS:-ext2}, $(dumpe2fs -h "$T/disk.img" 2>/dev/null | sed -n 's/^Filesystem features:[[:space:]]*//p')"
cp "$T/disk.img" "$T/base.img"

# a short flusher interval: write-back runs often between the load's FSYNCs
boot_kernel "$T/disk.img" --disk-log "$T/disk.log" -- storage.flush_ms=200
if NCP_PASSWORD=guest timeout -k 5 1800 "$B/e2e/powercut_load" "$SERVER" "$T/disk.log" "$T/events" "$OPS" "$SEED" \
        >"$T/load.out" 2>&1; then
    ok load_ran
else
    bad load_ran "$(tail -3 "$T/load.out" | tr '\n' '|')"
fi
cat "$T/load.out"
NCP_PASSWORD=guest timeout 20 "$NCPC" -s "$SERVER" stats 2>/dev/null | grep -E '^fs\.(fsyncs|order_barriers) ' | sed 's/^/# /'
if [ "$fail" != 0 ]; then
    # a server that stopped answering: what it says on a fresh connection, for the report
    echo "# server after the load failed:"
    NCP_PASSWORD=guest timeout 20 "$NCPC" -s "$SERVER" stats 2>&1 | head -80 | sed 's/^/#   /'
    tr -d '\000\r' < "$T/kernel.log" | tail -5 | sed 's/^/#   /'
    echo "# its threads:"
    kernel_stacks
fi
# the power cut: QEMU killed, nothing more reaches the disk or the log
qpid=$(pgrep -P "$pid" qemu-system)
[ -n "$qpid" ] && kill -9 "$qpid"
wait "$pid" 2>/dev/null
pid=""

summary=$("$B/e2e/replay_log_writes" --log "$T/disk.log" --list | tail -1)
echo "$summary"
nflush=$(sed -n 's/^# [0-9]* entries, \([0-9]*\) flushes.*/\1/p' <<<"$summary")
npromises=$(wc -l <"$T/events")
# the load must have given the points something to bind: many flushes and promises
[ "${nflush:-0}" -ge 20 ] && [ "$npromises" -ge 20 ] && ok log_has_flushes_and_promises ||
    bad log_has_flushes_and_promises "$summary; $npromises promises"

"$B/e2e/replay_log_writes" --log "$T/disk.log" --base "$T/base.img" --image "$T/crash.img" \
    --points "$POINTS" --seed "$SEED" --exec "scripts/crash-point-check.sh $T/events $T/scratch" >"$T/points.out" 2>&1
grep -E '^(ok|FAIL) ' "$T/points.out" | grep -v '^ok ' | head -40
grep -vE '^(ok|FAIL) ' "$T/points.out" | head -5
np=$(grep -c '^ok ' "$T/points.out")
nf=$(grep -c '^FAIL ' "$T/points.out")
pass=$((pass + np))
fail=$((fail + nf))
for k in flush prefix subset; do
    echo "# $k points: $(grep -c "^ok crash_[0-9]*_${k}_" "$T/points.out") passed, $(grep -c "^FAIL crash_[0-9]*_${k}_" "$T/points.out") failed"
done
echo "# $POINTS crash points: $np passed, $nf failed; $npromises promises; seed $SEED"
[ $((np + nf)) = "$POINTS" ] && ok all_points_checked || bad all_points_checked "$((np + nf)) of $POINTS points reported"

# the check itself can fail: a promise the image does not keep (the recorded hash of the
# last file promise no later change touches, changed) must be reported as broken on the
# state after the last entry
lie=$(awk '{ last[$1] = NR; line[NR] = $0; p[NR] = $1; a[NR] = $3; st[NR] = $4 }
           END { for (i = NR; i > 0; i--) if (last[p[i]] == i && st[i] != "-" && st[i] != "?" && a[i] < 1e18) { print i; exit } }' "$T/events")
if [ -n "$lie" ]; then
    awk -v n="$lie" '{ if (NR == n) $4 = "0000000000000000000000000000000000000000000000000000000000000000"; print }' \
        "$T/events" >"$T/events.lie"
    "$B/e2e/replay_log_writes" --log "$T/disk.log" --base "$T/base.img" --image "$T/crash.img" \
        --points 1 --seed "$SEED" --exec "scripts/crash-point-check.sh $T/events.lie $T/scratch" >"$T/lie.out" 2>&1
    grep -q '^FAIL .*promises broken' "$T/lie.out" && ok check_detects_a_broken_promise ||
        bad check_detects_a_broken_promise "$(head -c 300 "$T/lie.out")"
else
    bad check_detects_a_broken_promise "no file promise to change in $T/events"
fi
finish
