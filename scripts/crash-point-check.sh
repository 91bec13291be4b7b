#!/usr/bin/env bash
# crash-point-check.sh EVENTS SCRATCH - checks one crash image, as tests/e2e/replay_log_writes
# leaves it (environment: CRASH_IMAGE, CRASH_POINT, CRASH_KIND, CRASH_UPTO, CRASH_STABLE,
# CRASH_MAX, CRASH_KEPT; see the top of tests/e2e/replay_log_writes.c).  Prints one line,
# "ok NAME" or "FAIL NAME: why", and exits 0 or 1.  An ext2 image passes when
#   1. `e2fsck -p` alone repairs it: exit status 0 or 1 (never 4 "left uncorrected" or 8),
#      and no "UNEXPECTED INCONSISTENCY" in what it says;
#   2. `e2fsck -fn` finds it clean afterwards (scripts/e2fsck-clean.sh: status and output);
#   3. every promise in EVENTS (tests/e2e/powercut_load.c) that the crash point is bound
#      by holds: the file has exactly the contents whose SHA-256 was recorded, or the name
#      is gone ("-").  A promise binds when its FSYNC was answered with the log holding at
#      most CRASH_STABLE entries and the next change of the same name was asked for after
#      the log held more than CRASH_MAX entries.
# For an ext3 image (has_journal), step 1 is the journal replay (`e2fsck -p` replays it
# first) and step 2 the same clean check: "clean under e2fsck -fn after journal replay".
# SCRATCH is a directory this script may fill and empty.
set -u
events=${1:?usage: crash-point-check.sh EVENTS SCRATCH}
scratch=${2:?usage: crash-point-check.sh EVENTS SCRATCH}
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
img=$CRASH_IMAGE
name="crash_${CRASH_POINT}_${CRASH_KIND}_at_${CRASH_UPTO}"
where="(entries <$CRASH_STABLE in order, max $CRASH_MAX, after the last flush $CRASH_KEPT kept)"
bad() { echo "FAIL $name: $* $where"; exit 1; }

out=$(e2fsck -p "$img" 2>&1)
rc=$?
if [ "$rc" -gt 1 ] || grep -q "UNEXPECTED INCONSISTENCY" <<<"$out"; then
    bad "e2fsck -p exited $rc: $(grep -av '^$' <<<"$out" | head -6 | tr '\n' '|')"
fi
if ! p=$("$here/scripts/e2fsck-clean.sh" "$img" 2>&1); then
    bad "not clean after e2fsck -p: $(grep -avE '^(e2fsck [0-9]|Pass [1-5]: |$)' <<<"$p" | head -6 | tr '\n' '|')"
fi

rm -rf "$scratch"
mkdir -p "$scratch"
awk -v S="$CRASH_STABLE" -v M="$CRASH_MAX" '
    { p = $1; k = ++n[p]; sent[p, k] = $2; ans[p, k] = $3; st[p, k] = $4 }
    END {
        for (p in n) {
            best = 0
            for (i = 1; i <= n[p]; i++) if (ans[p, i] <= S) best = i
            if (!best) continue
            for (i = best + 1; i <= n[p]; i++) if (sent[p, i] <= M) best = 0
            if (best) print p, st[p, best]
        }
    }' "$events" | sort >"$scratch/expect"
i=0
while read -r path state; do
    i=$((i + 1))
    echo "dump $path $scratch/f$i"
done <"$scratch/expect" >"$scratch/cmds"
[ -s "$scratch/cmds" ] && debugfs -f "$scratch/cmds" "$img" >/dev/null 2>&1
i=0 lost=0 why=""
while read -r path state; do
    i=$((i + 1))
    if [ "$state" = - ]; then
        [ -e "$scratch/f$i" ] && { lost=$((lost + 1)); why="$why $path exists (removed and FSYNCed);"; }
    elif [ ! -e "$scratch/f$i" ]; then
        lost=$((lost + 1))
        why="$why $path missing;"
    elif [ "$(sha256sum <"$scratch/f$i" | cut -d' ' -f1)" != "$state" ]; then
        lost=$((lost + 1))
        why="$why $path differs ($(stat -c %s "$scratch/f$i") bytes);"
    fi
done <"$scratch/expect"
[ "$lost" = 0 ] || bad "$lost of $i promises broken:$(cut -c1-300 <<<"$why")"
echo "ok $name"
