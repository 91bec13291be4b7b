#!/bin/sh
# mkimage.sh [--ext2|--ext3] DIR IMAGE [SIZE] - build an ext3 image (plain ext2 with
# --ext2) holding the tree DIR.
# SIZE is anything mke2fs accepts (e.g. 128M); default: the tree's size
# plus a quarter plus 16 MiB, at least 32 MiB.  Extra mke2fs options may be
# given in MKE2FS_OPTS (default: 4 KiB blocks).  ext3 is mke2fs's ext3 with its
# default journal (jbd2, internal, no journal checksums: what fs/ext2_journal.c
# serves).  Owners and modes come from
# the tree (scripts/volume-layout.sh sets the volume's); mke2fs -d leaves the
# root directory 0755 root, so its mode and owner are copied afterwards.
set -eu
fstype=ext3
case "${1:-}" in
--ext2)
	fstype=ext2
	shift
	;;
--ext3) shift ;;
esac
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 [--ext2|--ext3] DIR IMAGE [SIZE]" >&2
	exit 2
fi
dir=$1
image=$2
[ -d "$dir" ] || { echo "$0: $dir is not a directory" >&2; exit 1; }
if [ $# -eq 3 ]; then
	size=$3
else
	kb=$(du -sk "$dir" | cut -f1)
	kb=$((kb + kb / 4 + 16384))
	[ "$kb" -ge 32768 ] || kb=32768
	size=${kb}k
fi
MKE2FS=mke2fs
for d in /usr/sbin /sbin; do
	[ -x "$d/mke2fs" ] && MKE2FS=$d/mke2fs && break
done
mkdir -p "$(dirname "$image")"
rm -f "$image"
# shellcheck disable=SC2086
"$MKE2FS" -q -t "$fstype" ${MKE2FS_OPTS:--b 4096} -d "$dir" -F "$image" "$size"
DEBUGFS=debugfs
for d in /usr/sbin /sbin; do
	[ -x "$d/debugfs" ] && DEBUGFS=$d/debugfs && break
done
mode=$(stat -c %a "$dir")
uid=$(stat -c %u "$dir")
gid=$(stat -c %g "$dir")
"$DEBUGFS" -w -f - "$image" >/dev/null 2>&1 <<CMDS
sif / mode 0$(printf %o $((040000 + 0$mode)))
sif / uid $uid
sif / gid $gid
CMDS
