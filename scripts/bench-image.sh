#!/usr/bin/env bash
# bench-image.sh [OUT] - the benchmark disk (default build/bench/bench.img), built once:
#   hot/h16.bin      16 MiB, the cached-read file (fits every cache used here)
#   set/fNN.bin      16 files of 4 MiB: the miss-ratio file sets are the first K of them
#                    (with a 32 MiB cache: 6 -> ~0%, 9 -> ~11%, 10 -> 20%, 16 -> 50% misses)
#   seq/random64.bin 64 MiB for sequential reads
#   etc/ncp-users    guest/guest, admin/admin (the demo image's users)
# Random content, so nothing compresses or dedupes along the way.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/build/bench/bench.img}
# rebuilt when this script or what makes the volume changed (mkimage.sh: its default is ext3)
[ -f "$out" ] && [ "$out" -nt "$0" ] && [ "$out" -nt "$here/scripts/volume-layout.sh" ] &&
    [ "$out" -nt "$here/scripts/mkimage.sh" ] && exit 0
stage=$(mktemp -d "${TMPDIR:-/tmp}/wtd-bench.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{hot,set,seq,etc}
head -c $((16 << 20)) /dev/urandom > "$stage/hot/h16.bin"
for i in $(seq -w 0 15); do head -c $((4 << 20)) /dev/urandom > "$stage/set/f$i.bin"; done
head -c $((64 << 20)) /dev/urandom > "$stage/seq/random64.bin"
"$here/scripts/mkusers.sh" "$stage/etc/ncp-users" guest guest admin:admin admin
"$here/scripts/volume-layout.sh" "$stage"
mkdir -p "$(dirname "$out")"
"$here/scripts/mkimage.sh" "$stage" "$out.tmp" 256M >/dev/null
mv "$out.tmp" "$out"
echo "built $out" >&2
