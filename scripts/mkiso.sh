#!/usr/bin/env bash
# mkiso.sh ELF OUT.iso [KERNEL ARGS...]: a GRUB rescue ISO that boots ELF through
# Multiboot2 with the given kernel command line (baked into grub.cfg).
set -euo pipefail
elf=$1 out=$2; shift 2
args="$*"
case "$args" in *[\"\'\;\$\`\\]*) echo "mkiso: kernel arguments may not contain quotes, ';', '\$', '\\' or backticks" >&2; exit 2;; esac
dir=$(mktemp -d "${TMPDIR:-/tmp}/worktodo-iso.XXXXXX")
log=$(mktemp "${TMPDIR:-/tmp}/worktodo-iso-log.XXXXXX")   # outside $dir: xorriso reads $dir
trap 'rm -rf "$dir" "$log"' EXIT
mkdir -p "$dir/boot/grub"
cp "$elf" "$dir/boot/worktodo.elf"
sed "s|\$worktodo_args|$args|" "$(dirname "$0")/grub.cfg" > "$dir/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$dir" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
