#!/usr/bin/env bash
# Boots the Linux baseline guest (Debian's kernel + busybox + static ncpd, see mkinitramfs.sh)
# in the QEMU configuration of scripts/run.sh: q35, TCG, one vCPU, 512 MiB, the same e1000
# device options, the ext2 image on AHCI port ide.0.  Networking is a tap device in a network
# namespace this script creates (default 'wtdlinux': tap0 10.78.0.1/24, guest 10.78.0.2) and
# always deletes; nothing is configured in the root namespace.  Never uses KVM.
#
#   run.sh [--mode epoll|threads] [--nic e1000|virtio] [--blk ahci|virtio] [--disk IMG] [--ns NAME] [--net 10.78.0] [--mem MB]
#          [--cache-mb N] [--pagecache-mb N] [--boot-timeout S] [--timeout S] [--log FILE]
#          [--append "kernel options"] [-- COMMAND ARGS...]
#
# --nic/--blk: the devices, placed as scripts/run.sh places them (virtio-net behind a
# pcie-root-port, virtio-blk on pcie.0); the defaults come from WTD_NIC/WTD_BLK, else e1000/AHCI.
#
# Without COMMAND the guest console is on this terminal (Ctrl-A X quits).  With COMMAND, QEMU
# runs in the background (console to --log), COMMAND runs on the host once ncpd answers on
# port 524, with LINUX_GUEST_NS and LINUX_GUEST_IP in its environment; afterwards the guest
# gets a few seconds to power off (COMMAND may have sent `ncpc shutdown`) and is then stopped.
# The exit status is COMMAND's, or 3 if the guest did not come up within --boot-timeout.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
mode=epoll disk="" ns=wtdlinux net=10.78.0 mem=512 cache_mb=64 pagecache_mb="" boot_timeout=180
timeout=0 log="" append="" nic=${WTD_NIC:-e1000} blk=${WTD_BLK:-ahci}
while [ $# -gt 0 ]; do
    case "$1" in
        --mode) mode=$2; shift 2;;
        --nic) nic=$2; shift 2;;
        --blk) blk=$2; shift 2;;
        --disk) disk=$2; shift 2;;
        --ns) ns=$2; shift 2;;
        --net) net=$2; shift 2;;
        --mem) mem=$2; shift 2;;
        --cache-mb) cache_mb=$2; shift 2;;
        --pagecache-mb) pagecache_mb=$2; shift 2;;
        --boot-timeout) boot_timeout=$2; shift 2;;
        --timeout) timeout=$2; shift 2;;
        --log) log=$2; shift 2;;
        --append) append=$2; shift 2;;
        --) shift; break;;
        *) echo "linux-guest/run.sh: unknown argument '$1'" >&2; exit 2;;
    esac
done
case "$mode" in epoll|threads) ;; *) echo "linux-guest/run.sh: --mode must be epoll or threads" >&2; exit 2;; esac
[ -z "$disk" ] && disk="$here/build/demo.img"
[ -f "$disk" ] || { echo "linux-guest/run.sh: disk image '$disk' not found" >&2; exit 2; }

"$here/scripts/linux-guest/mkinitramfs.sh"
kernel="$here/build/linux-guest/vmlinuz" initrd="$here/build/linux-guest/initramfs.cpio.gz"
guest=$net.2 host=$net.1

kargs="console=ttyS0 loglevel=4 panic=-1 wtd_ip=$guest/24 ncpd_mode=$mode ncpd_cache_mb=$cache_mb"
[ -n "$pagecache_mb" ] && kargs="$kargs wtd_pagecache_mb=$pagecache_mb"
[ -n "$append" ] && kargs="$kargs $append"
# shellcheck disable=SC2054  # the commas are QEMU option syntax
q=(qemu-system-x86_64 -M q35 -accel tcg -m "$mem" -smp 1 -no-reboot
   -kernel "$kernel" -initrd "$initrd" -append "$kargs"
   -drive "file=$disk,if=none,id=disk0,format=raw" -netdev tap,id=n0,ifname=tap0,script=no,downscript=no)
case "$blk" in
    ahci) q+=(-device ide-hd,drive=disk0,bus=ide.0);;
    virtio) q+=(-device virtio-blk-pci,drive=disk0,addr=0x6);;
    *) echo "linux-guest/run.sh: --blk must be ahci or virtio" >&2; exit 2;;
esac
case "$nic" in
    e1000) q+=(-device e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=);;
    virtio) q+=(-device pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0,addr=0x5
                -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,bus=rp0,romfile=);;
    *) echo "linux-guest/run.sh: --nic must be e1000 or virtio" >&2; exit 2;;
esac

ns_made=0 qpid="" tmplog=""
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$qpid" 2>/dev/null || true
    fi
    [ "$ns_made" = 1 ] && { ip netns del "$ns" 2>/dev/null || true; }
    [ -n "$tmplog" ] && rm -f "$tmplog"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    echo "linux-guest/run.sh: namespace '$ns' already exists (another run?); not touching it" >&2
    exit 2
fi
ip netns add "$ns"
ns_made=1
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip tuntap add dev tap0 mode tap
# a deep host queue: a burst from thousands of clients must wait for QEMU to read it, not be
# dropped at the tap (12707 drops at txqueuelen 1000 after a 3000-connection run)
ip netns exec "$ns" ip link set tap0 txqueuelen 20000
ip netns exec "$ns" ip addr add "$host/24" dev tap0
ip netns exec "$ns" ip link set tap0 up

if [ $# -eq 0 ]; then
    echo "linux guest ($mode): $guest in namespace '$ns'; host commands: ip netns exec $ns <command>"
    [ "$timeout" -gt 0 ] && q=(timeout --foreground "$timeout" "${q[@]}")
    ip netns exec "$ns" "${q[@]}" -nographic
    exit 0
fi

if [ -z "$log" ]; then tmplog=$(mktemp); log=$tmplog; fi
: > "$log"
# `ip netns exec` execs QEMU, so $! is QEMU itself.
ip netns exec "$ns" "${q[@]}" -display none -monitor none -serial "file:$log" < /dev/null &
qpid=$!

up=0
for _ in $(seq $((boot_timeout * 20))); do     # every 50 ms: bench-system.sh times boot to serving
    kill -0 "$qpid" 2>/dev/null || break
    if grep -aq 'linux-guest: ready' "$log" &&
       ip netns exec "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$guest/524" 2>/dev/null; then
        up=1; break
    fi
    sleep 0.05
done
if [ "$up" = 0 ]; then
    echo "linux-guest/run.sh: the guest did not serve on $guest:524 within ${boot_timeout}s; console:" >&2
    tr -d '\r' < "$log" | tail -25 >&2
    exit 3
fi

set +e
if [ "$timeout" -gt 0 ]; then
    LINUX_GUEST_NS=$ns LINUX_GUEST_IP=$guest timeout -k 5 "$timeout" "$@"
else
    LINUX_GUEST_NS=$ns LINUX_GUEST_IP=$guest "$@"
fi
rc=$?
set -e
for _ in $(seq 100); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
exit $rc
