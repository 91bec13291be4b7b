#!/usr/bin/env bash
# e2fsck-clean.sh IMAGE: the one check that an ext2 image is clean, for the shell suites
# (tests/e2e/lib.sh's fsck_clean) and the C ones (tests/host/fs_test.c's ft_e2fsck_clean).
# Runs `e2fsck -fn IMAGE`; the image is clean when e2fsck exits 0 AND prints nothing beyond
# its version line, the five pass headers and the summary line (it exits 0 when only the
# superblock's free counts are wrong, so its output must be read too).
# Exit 0 if clean; else 1 with e2fsck's exit status and output on stdout; 2 if e2fsck is
# missing or IMAGE does not exist.
set -u
img=${1:?usage: e2fsck-clean.sh IMAGE}
e2fsck=
for d in /usr/sbin /sbin /usr/bin /bin; do [ -x "$d/e2fsck" ] && { e2fsck=$d/e2fsck; break; }; done
[ -n "$e2fsck" ] || e2fsck=$(command -v e2fsck) || { echo "e2fsck not found"; exit 2; }
[ -f "$img" ] || { echo "no image $img"; exit 2; }
out=$("$e2fsck" -fn "$img" 2>&1)
rc=$?
problems=$(printf '%s\n' "$out" | grep -avE '^(e2fsck [0-9]|Pass [1-5]: |$)' |
           grep -avE ': [0-9]+/[0-9]+ files \([0-9.]+% non-contiguous\), [0-9]+/[0-9]+ blocks$')
if [ "$rc" = 0 ] && [ -z "$problems" ]; then
    exit 0
fi
echo "e2fsck -fn exited $rc:"
printf '%s\n' "$out"
exit 1
