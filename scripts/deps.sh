#!/usr/bin/env bash
# Installs what building, running and testing WorkToDo needs, fetches lwIP 2.1.3 from
# Debian's source package into third_party/ (git-ignored), and builds the demo disk.
# Idempotent, and quiet when everything is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need_cmds=(nasm:nasm qemu-system-x86_64:qemu-system-x86 grub-mkrescue:grub-common
           xorriso:xorriso mformat:mtools mke2fs:e2fsprogs e2fsck:e2fsprogs debugfs:e2fsprogs
           dpkg-source:dpkg-dev ip:iproute2 gcc:gcc make:make sha256sum:coreutils gnuplot:gnuplot-nox
           fusermount3:fuse3 pkg-config:pkg-config fio:fio git:git dbench:dbench clang-14:clang-14)
missing=()
for pair in "${need_cmds[@]}"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ -d /usr/lib/grub/i386-pc ] || missing+=(grub-pc-bin)
[ -f /usr/share/qemu/qboot.rom ] || missing+=(qemu-system-data)   # the fast boot path's firmware
[ -f /usr/include/fuse3/fuse_lowlevel.h ] || missing+=(libfuse3-dev)   # build/ncpfs
# libFuzzer (the fuzz harnesses, tests/fuzz/): clang-14's runtime comes in its own package.
compgen -G '/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' >/dev/null ||
    missing+=(libclang-rt-14-dev)
# drivers/virtio includes the virtio spec's layouts from Linux's uapi headers
[ -f /usr/include/linux/virtio_ring.h ] && [ -f /usr/include/linux/virtio_pci.h ] || missing+=(linux-libc-dev)
apt_updated=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: need root to install: $*" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck disable=SC2207
    missing=($(printf '%s\n' "${missing[@]}" | sort -u))
    echo "deps.sh: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# lwIP from Debian's source package.  apt needs a deb-src entry: derive one from the
# machine's own apt sources (same mirrors and suites) rather than naming a mirror.
lwip_dir=third_party/lwip
if [ ! -f "$lwip_dir/src/core/tcp.c" ]; then
    src_list=/etc/apt/sources.list.d/worktodo-deb-src.sources
    if ! apt-get source --print-uris lwip >/dev/null 2>&1; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$src_list"
        elif [ -f /etc/apt/sources.list ]; then
            grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/worktodo-deb-src.list
        fi
        apt-get update -qq >/dev/null
    fi
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get source -qq lwip >/dev/null 2>&1) || { echo "deps.sh: apt-get source lwip failed" >&2; exit 1; }
    src=$(find "$tmp" -maxdepth 1 -mindepth 1 -type d -name 'lwip-*' | head -1)
    [ -n "$src" ] && [ -f "$src/src/core/tcp.c" ] || { echo "deps.sh: unexpected lwip source layout" >&2; exit 1; }
    mkdir -p third_party
    rm -rf "$lwip_dir"
    mv "$src" "$lwip_dir"
    rm -rf "$tmp"
    echo "deps.sh: lwIP source in $lwip_dir"
fi

# The demo disk served by `make run` (rebuilt only when its recipe changes).
scripts/mkdemo.sh build/demo.img >/dev/null
