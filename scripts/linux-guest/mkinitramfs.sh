#!/usr/bin/env bash
# Packs build/linux-guest/initramfs.cpio.gz for the Linux baseline guest: busybox-static,
# the static ncpd (build-ncpd.sh), the static null-RPC service (nullrpc.c), the init script and its small services, and the modules
# Debian builds as modules that the q35 guest needs (e1000, or virtio_pci with virtio_net and
# virtio_blk for run.sh --nic/--blk virtio; ahci and sd_mod with their
# dependencies, resolved from modules.dep), decompressed, with their load order.
# Also links build/linux-guest/vmlinuz to the matching /boot kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
"$here/scripts/linux-guest/deps.sh"
"$here/scripts/linux-guest/build-ncpd.sh"
out=build/linux-guest/initramfs.cpio.gz

kver=$(ls /lib/modules | sort -V | tail -1)
[ -f "/boot/vmlinuz-$kver" ] || { echo "mkinitramfs: no /boot/vmlinuz-$kver" >&2; exit 1; }
ln -sf "/boot/vmlinuz-$kver" build/linux-guest/vmlinuz

# the null-RPC service (include/null_rpc.h): a small static C program
mkdir -p build/linux-guest
if [ ! -x build/linux-guest/nullrpc ] || [ scripts/linux-guest/nullrpc.c -nt build/linux-guest/nullrpc ] ||
   [ include/null_rpc.h -nt build/linux-guest/nullrpc ]; then
    gcc -std=c11 -O2 -Wall -Wextra -I. -static -o build/linux-guest/nullrpc scripts/linux-guest/nullrpc.c
fi
inputs=(build/linux-guest/ncpd build/linux-guest/nullrpc /bin/busybox scripts/linux-guest/init scripts/linux-guest/source
        scripts/linux-guest/discard scripts/linux-guest/counters "$0" "/lib/modules/$kver/modules.dep")
if [ -f "$out" ]; then
    stale=0
    for f in "${inputs[@]}"; do [ "$f" -nt "$out" ] && { stale=1; break; }; done
    [ "$stale" = 0 ] && exit 0
fi

moddir=/lib/modules/$kver
# Dependencies first: modules.dep lists a module's dependencies (deepest last), so walking
# them in reverse and then the module itself gives a valid insmod order.
order=()
add_module() {  # add_module PATH-RELATIVE-TO-MODDIR
    local m=$1 d line i
    for d in "${order[@]}"; do [ "$d" = "$m" ] && return; done
    line=$(grep -E "^$m:" "$moddir/modules.dep") || { echo "mkinitramfs: $m not in modules.dep" >&2; exit 1; }
    local deps
    read -r -a deps <<< "${line#*:}"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add_module "${deps[$i]}"; done
    order+=("$m")
}
for want in e1000 ahci sd_mod crct10dif_generic virtio_pci virtio_blk virtio_net; do
    p=$(grep -oE "^[^:]*/$want\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep" | head -1)
    [ -n "$p" ] || { echo "mkinitramfs: module $want not found (built in?)" >&2; continue; }
    add_module "${p%:}"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/linux-guest.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,etc,lib/modules,tmp}
cp /bin/busybox "$stage/bin/busybox"
cp build/linux-guest/ncpd "$stage/bin/ncpd"
strip "$stage/bin/ncpd"
cp build/linux-guest/nullrpc "$stage/bin/nullrpc"
strip "$stage/bin/nullrpc"
cp scripts/linux-guest/init "$stage/init"
cp scripts/linux-guest/{source,discard,counters} "$stage/bin/"
ln -s busybox "$stage/bin/sh"
: > "$stage/etc/modules.order"
for m in "${order[@]}"; do
    name=$(basename "$m")
    case "$name" in
        *.xz) xz -dc "$moddir/$m" > "$stage/lib/modules/${name%.xz}"; name=${name%.xz};;
        *.zst) zstd -qdc "$moddir/$m" > "$stage/lib/modules/${name%.zst}"; name=${name%.zst};;
        *.gz) gzip -dc "$moddir/$m" > "$stage/lib/modules/${name%.gz}"; name=${name%.gz};;
        *) cp "$moddir/$m" "$stage/lib/modules/$name";;
    esac
    echo "$name" >> "$stage/etc/modules.order"
done
# The kernel opens /dev/console for init before devtmpfs is mounted: the node must be here.
mknod -m 600 "$stage/dev/console" c 5 1
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) > "$stage.cpio"
gzip -9 < "$stage.cpio" > "$out.tmp"
rm -f "$stage.cpio"
mv "$out.tmp" "$out"
echo "built $out (kernel $kver; modules: $(tr '\n' ' ' < "$stage/etc/modules.order"))" >&2
