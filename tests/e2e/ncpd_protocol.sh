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
exec "$B/e2e/test_ncpd" "$B/ncpd"
