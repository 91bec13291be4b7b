#!/usr/bin/env bash
# Choosing devices (issue 13): a guest with both kinds of NIC (e1000, virtio-net) and both
# kinds of disk (AHCI, virtio-blk).  Boot 1 without options uses the e1000 and AHCI; boot 2
# with net.nic=virtio storage.blk=virtio uses virtio-net and virtio-blk -- the loopback
# forwards lead to the virtio-net device only, so the echo service answering proves it --
# and the `virtio` console command shows both devices' queues.
set -uo pipefail
source "$(dirname "$0")/net_lib.sh"

build_tool || { bad net_tool_build "cc failed"; finish; }
[ -f build/demo.img ] || scripts/mkdemo.sh build/demo.img >/dev/null
cp --sparse=always build/demo.img "$work/vdisk.img"
p7=$(free_port 5207)
both=(--net none
      --qemu -netdev --qemu user,id=ne,restrict=on --qemu -device --qemu e1000,netdev=ne,mac=52:54:00:12:34:56
      --qemu -netdev --qemu "user,id=nv,hostfwd=tcp:127.0.0.1:$p7-:7"
      --qemu -device --qemu virtio-net-pci,netdev=nv,mac=52:54:00:12:34:58
      --qemu -drive --qemu "file=$work/vdisk.img,if=none,id=vd,format=raw" --qemu -device --qemu virtio-blk-pci,drive=vd)

boot() {  # boot NAME KERNEL-OPTIONS...: waits for the console
    rm -f "$work/console.in"
    guest_start "${both[@]}" -- "${@:2}"
    guest_wait 'WorkToDo console ready' 120 || bad "$1_boots" "no console (log: $(tail -3 "$guest_log" | tr -d '\r' | tr '\n' '|'))"
}
log_has() { tr -d '\r' < "$guest_log" | grep -qE "$1"; }

boot default
if log_has '^net: driver e1000,' && log_has '^storage: ext2 on ahci port 0 \(driver ahci\) mounted' &&
   log_has '^virtio-net: ' && log_has '^virtio-blk: '; then
    ok device_default_e1000_ahci_when_both
else
    bad device_default_e1000_ahci_when_both "$(tr -d '\r' < "$guest_log" | grep -E '^(net: driver|storage: ext2)' | tr '\n' '|')"
fi
guest_shutdown_test device_default_shutdown

boot chosen net.nic=virtio storage.blk=virtio
if log_has '^net: driver virtio-net,' && log_has '^storage: ext2 on virtio-blk [0-9a-f:.]+ \(driver virtio-blk\) mounted'; then
    ok device_option_picks_virtio
else
    bad device_option_picks_virtio "$(tr -d '\r' < "$guest_log" | grep -E '^(net: driver|storage: ext2)' | tr '\n' '|')"
fi
guest_wait 'net: up 10\.0\.2\.15 ' 120
if out=$("$tool" echo 127.0.0.1 "$p7" 65536); then ok "device_virtio_net_serves ($out)"; else bad device_virtio_net_serves "$out"; fi
marker="mark$RANDOM$RANDOM"
guest_cmd virtio
guest_cmd "$marker"
guest_wait "$marker" 20
vq=$(tr -d '\r' < "$guest_log" | sed -n '/^  virtio-/,$p')
if grep -qE '^  virtio-net .*MSI-X' <<<"$vq" && grep -qE '^  virtio-blk .*MSI-X' <<<"$vq" &&
   grep -qE '^    queue 0 requestq ' <<<"$vq" && grep -qE '^      added [1-9][0-9]* completed [1-9]' <<<"$vq"; then
    ok device_virtio_console_command
else
    bad device_virtio_console_command "$(head -8 <<<"$vq" | tr '\n' '|')"
fi
guest_shutdown_test device_chosen_shutdown
finish
