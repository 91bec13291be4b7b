#!/usr/bin/env bash
# Builds build/linux-guest/ncpd: the same ncpd sources as `make build/ncpd` (tests/host/proto.mk:
# server/linux + server + proto + fs + the host fs port), linked -static so the guest's
# initramfs needs no libc.  Rebuilt only when a source is newer than the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
out=build/linux-guest/ncpd
src=(server/*.c server/linux/*.c fs/*.c proto/*.c tests/host/fs_port_host.c tests/host/fs_port_threads.c scripts/linux-guest/blkdev_fstat.c)
if [ -x "$out" ]; then
    stale=0
    for f in "${src[@]}" include/*.h server/*.h server/linux/*.h fs/*.h proto/*.h "$0"; do
        [ "$f" -nt "$out" ] && { stale=1; break; }
    done
    [ "$stale" = 0 ] && exit 0
fi
mkdir -p "$(dirname "$out")"
gcc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter -Iinclude -I. -pthread \
    -DFS_PORT_HEADER='"tests/host/fs_port_host.h"' -static -Wl,--wrap=fstat \
    -o "$out.tmp" "${src[@]}"
mv "$out.tmp" "$out"
echo "built $out" >&2
