#!/usr/bin/env bash
# Installs what the Linux baseline guest needs: Debian's own kernel (linux-image-amd64, for
# /boot/vmlinuz-* and its modules), busybox-static (the guest's userland) and cpio (to pack
# the initramfs).  Idempotent and quiet when everything is present; exits non-zero with a
# reason on stderr when something cannot be installed.
set -euo pipefail
missing=()
ls /boot/vmlinuz-* >/dev/null 2>&1 || missing+=(linux-image-amd64)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "linux-guest/deps.sh: need root to install: ${missing[*]}" >&2
    exit 1
fi
echo "linux-guest/deps.sh: installing ${missing[*]}" >&2
# The kernel package runs initramfs/bootloader hooks meant for the host; they are harmless
# here and their output is noise, so only failures are shown.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    echo "linux-guest/deps.sh: apt-get install ${missing[*]} failed:" >&2
    tail -20 "$log" >&2
    exit 1
fi
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "linux-guest/deps.sh: no /boot/vmlinuz-* after install" >&2; exit 1; }
