#!/bin/bash
# ncpd_protocol.sh - runs build/e2e/test_ncpd (raw-frame protocol tests against
# build/ncpd in its three modes), building both first.  Output per docs/conventions.md.
cd "$(dirname "$0")/../.." || exit 1
B=${1:-build}
if ! make --no-print-directory BUILD="$B" "$B/ncpd" "$B/e2e/test_ncpd" >"/tmp/ncpd_protocol_build.$$" 2>&1; then
    echo "FAIL build_ncpd_and_test: $0: make failed:"
    sed 's/^/    /' "/tmp/ncpd_protocol_build.$$" | tail -20
    rm -f "/tmp/ncpd_protocol_build.$$"
    echo "0 passed, 1 failed"
    exit 1
fi
rm -f "/tmp/ncpd_protocol_build.$$"
# The POSIX tests run once more against ncpd serving an ext2 image with the kernel suite's
# users and layout (NCP_TEST_EXT2_IMAGE); the image must be clean for e2fsck afterwards.
T=$(mktemp -d /tmp/ncpd-protocol.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/root/etc"
scripts/mkusers.sh "$T/root/etc/ncp-users" guest guest admin:admin s3cret alice wonderland locky lockpw
scripts/volume-layout.sh "$T/root"
if scripts/mkimage.sh "$T/root" "$T/vol.img" 32M >/dev/null 2>&1; then export NCP_TEST_EXT2_IMAGE="$T/vol.img"; fi
. tests/e2e/suite_lib.sh
"$B/e2e/test_ncpd" "$B/ncpd" | tee "$T/out" | grep -avE "$SUMMARY_RE"
if read_counts "$T/out"; then pass=$sp fail=$sf skipped=$ss
else fail=1; echo "FAIL test_ncpd: no summary"; fi
if [ -z "${NCP_TEST_EXT2_IMAGE:-}" ]; then
    bad ext2_image_made "scripts/mkimage.sh failed"
else
    fsck_clean ext2_volume_fsck_clean "$T/vol.img"
fi
finish
