#!/usr/bin/env bash
# Boots the kernel in test mode and reports its result; extra arguments are kernel options
# (e.g. test=wtd_* to pick tests).  The log is kept in build/kernel-tests.log.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
args=("$@")
have_test=0
for a in "${args[@]}"; do case "$a" in test|test=*) have_test=1;; esac; done
[ "$have_test" = 1 ] || args=(test "${args[@]}")
mkdir -p "$here/build"
"$here/scripts/run.sh" --test --timeout "${KTEST_TIMEOUT:-600}" --log "${KTEST_LOG:-$here/build/kernel-tests.log}" -- "${args[@]}"
