#!/usr/bin/env bash
# Boots WorkToDo in QEMU (q35, TCG, one vCPU) with the console on this terminal (Ctrl-A X quits).
#
#   run.sh [--net user|tap|none] [--nic e1000|virtio] [--blk ahci|virtio] [--disk IMG] [--disk-log LOG] [--debug] [--test]
#          [--icount|--icount-sleep] [--console-stdin] [--timeout SECONDS] [--log FILE] [--mem MB] [--cpu MODEL] [--elf FILE]
#          [--boot iso|pvh] [--firmware seabios|qboot] -- [kernel options...]
#
# --boot iso (default): SeaBIOS boots a GRUB rescue ISO that loads the kernel through
#     Multiboot2, as a user's machine would.  --boot pvh: QEMU's -kernel loads the ELF itself
#     through its PVH entry note (boot/pvh.asm), no GRUB and no ISO to build: the fast path of
#     tests and benchmarks.  WTD_BOOT sets the default.  Either way the NIC carries no option
#     ROM (nothing boots from the network), which saves its start-up time.
# --firmware qboot (the default with --boot pvh, when Debian's qemu-system-data has
#     /usr/share/qemu/qboot.rom): QEMU's minimal firmware, about 120 ms sooner to the kernel
#     than SeaBIOS; it assigns no PCI BARs, so the kernel places them (kernel/pci_assign.c).
#     --firmware seabios: SeaBIOS (the only choice with --boot iso: qboot boots no CD).
#     WTD_FIRMWARE sets the default.
#
# --nic e1000 (default) | virtio: the network device (virtio-net-pci, modern-only behind a
#     pcie-root-port).  --blk ahci (default) | virtio: the disk (virtio-blk-pci on pcie.0, a
#     transitional device).  The kernel uses what it finds.  --disk-readonly (virtio only):
#     the device is read-only (VIRTIO_BLK_F_RO) and the volume is mounted read-only.  The environment variables
#     WTD_NIC and WTD_BLK set the defaults (make test reruns suites with them set to virtio),
#     and WTD_KARGS adds kernel options (e.g. virtio.intx) to every boot.
# --disk-log LOG: the disk sits behind QEMU's blklogwrites driver, which appends every write,
#     flush and discard the guest makes to LOG in dm-log-writes format (the log's superblock
#     rewritten after every entry: log-super-update-interval=1), for the power-cut tests
#     (tests/e2e/powercut.sh, tests/e2e/replay_log_writes.c).  LOG is started afresh.
#
# The image: the test kernel (build/worktodo-test.elf, `make test-image`: the production
# kernel plus tests/kernel/ and bench/) when the kernel options ask for tests or a benchmark
# (test, test=PATTERN, bench=NAME), else the production kernel (build/worktodo.elf, `make`).
# --elf FILE boots another.
#
# --icount: -icount shift=0,sleep=off, the guest TSC counts guest instructions and an idle
#     guest's clock jumps to its next timer (deterministic runs: scripts/bench-wtd.sh).
#     --icount-sleep: sleep=on, the TSC still counts instructions while the guest runs but an
#     idle guest waits in real time, so device timeouts hold with real I/O (bench-cost.sh).
#
# --cpu MODEL: QEMU's CPU model (default qemu64,+rdrand: qemu64 plus the RDRAND instruction,
#     which TCG implements from the host's getrandom(); TCG in QEMU 7.2 has no RDSEED).
#     --cpu qemu64 boots a CPU without RDRAND (the kernel then seeds from timing jitter only).
#
# --net user (default): QEMU user networking with loopback port forwards
#     127.0.0.1:5240->524 (file service), 5207->7 (echo), 5209->9 (discard), 5219->19 (source),
#     5241->5241 (null RPC, include/null_rpc.h).
#     --port-base B moves them to B+40, B+7, B+9, B+19, B+41 (default 5200), so parallel runs
#     (tests) do not collide; keep B+41 below 32768, Linux's first ephemeral port: a
#     TIME_WAIT of an outgoing connection on a port there makes QEMU's forward fail.
# --net isolated: user networking without any forward (in-guest tests).
# --net tap: a network namespace 'worktodo' (--netns NAME for another) holding tap0 (10.77.0.1/24) for the host side;
#     QEMU runs inside it and the guest is 10.77.0.2/24.  The namespace is removed on exit.
# --test: no interactive console; the exit status is 0 if the in-guest tests passed,
#     1 if any failed, 2 if QEMU ended any other way (crash, timeout).  The console reads
#     nothing then, unless --console-stdin: it reads this script's standard input (a FIFO a
#     benchmark writes console commands to).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
console_in=/dev/null disk_log="" disk_ro=0 net=user nic=${WTD_NIC:-e1000} blk=${WTD_BLK:-ahci} port_base=5200 netns=worktodo disk="" debug=0 test=0 icount=0 timeout=0 log="" mem=512 cpu=qemu64,+rdrand extra_qemu=() elf="" boot=${WTD_BOOT:-iso} firmware=${WTD_FIRMWARE:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --net) net=$2; shift 2;;
        --nic) nic=$2; shift 2;;
        --blk) blk=$2; shift 2;;
        --port-base) port_base=$2; shift 2;;
        --netns) netns=$2; shift 2;;
        --disk) disk=$2; shift 2;;
        --disk-readonly) disk_ro=1; shift;;
        --disk-log) disk_log=$2; shift 2;;
        --debug) debug=1; shift;;
        --test) test=1; shift;;
        --console-stdin) console_in=/dev/stdin; shift;;
        --icount) icount=1; shift;;
        --icount-sleep) icount=2; shift;;
        --timeout) timeout=$2; shift 2;;
        --log) log=$2; shift 2;;
        --mem) mem=$2; shift 2;;
        --cpu) cpu=$2; shift 2;;
        --qemu) extra_qemu+=("$2"); shift 2;;
        --elf) elf=$2; shift 2;;
        --boot) boot=$2; shift 2;;
        --firmware) firmware=$2; shift 2;;
        --) shift; break;;
        *) echo "run.sh: unknown argument '$1'" >&2; exit 2;;
    esac
done
kargs="$* ${WTD_KARGS:-}"
[ -z "$disk" ] && [ -f "$here/build/demo.img" ] && disk="$here/build/demo.img"
if [ -n "$disk" ] && [ ! -f "$disk" ]; then echo "run.sh: disk image '$disk' not found" >&2; exit 2; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/worktodo-run.XXXXXX")
ns_made=0
cleanup() {
    if [ "$ns_made" = 1 ]; then ip netns del "$netns" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# the tap namespace has no DHCP server: the guest takes its fixed address unless told otherwise
if [ "$net" = tap ] && ! printf '%s\n' $kargs | grep -q '^ip='; then kargs="$kargs ip=10.77.0.2/24"; fi
if [ -z "$elf" ]; then
    elf=$here/build/worktodo.elf
    for a in $kargs; do
        case "$a" in test|test=*|bench=*) elf=$here/build/worktodo-test.elf;; esac
    done
fi
if [ ! -f "$elf" ]; then
    echo "run.sh: $elf not found (\`make\` builds worktodo.elf, \`make test-image\` worktodo-test.elf)" >&2
    exit 2
fi
q=(qemu-system-x86_64 -M q35 -accel tcg -cpu "$cpu" -m "$mem" -smp 1 -no-reboot
   -device isa-debug-exit,iobase=0xf4,iosize=0x04)
qboot=/usr/share/qemu/qboot.rom
if [ -z "$firmware" ]; then
    firmware=seabios
    [ "$boot" = pvh ] && [ -f "$qboot" ] && firmware=qboot
fi
case "$firmware" in
    seabios) ;;
    qboot) [ "$boot" = pvh ] || { echo "run.sh: --firmware qboot needs --boot pvh (qboot boots no CD)" >&2; exit 2; }
           [ -f "$qboot" ] || { echo "run.sh: $qboot not found (Debian's qemu-system-data)" >&2; exit 2; }
           q+=(-bios "$qboot");;
    *) echo "run.sh: --firmware must be seabios or qboot" >&2; exit 2;;
esac
case "$boot" in
    iso) iso="$work/worktodo.iso"
         "$here/scripts/mkiso.sh" "$elf" "$iso" $kargs
         q+=(-boot d -drive "file=$iso,media=cdrom,if=none,id=cd0,readonly=on" -device ide-cd,drive=cd0,bus=ide.1);;
    pvh) q+=(-kernel "$elf" -initrd "$elf" -append "$kargs"    # the module: symbols (kernel/pvh.c)
             -vga none);;   # the console is the serial port: no display device to set up (~20 ms)
    *) echo "run.sh: --boot must be iso or pvh" >&2; exit 2;;
esac
case "$nic" in
    e1000) nicdev=(-device e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=);;
    virtio) nicdev=(-device pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0,addr=0x5
                    -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,bus=rp0,romfile=);;
    *) echo "run.sh: --nic must be e1000 or virtio" >&2; exit 2;;
esac
case "$blk" in
    ahci) diskdev=(-device ide-hd,drive=disk0,bus=ide.0);;
    virtio) diskdev=(-device virtio-blk-pci,drive=disk0,addr=0x6);;
    *) echo "run.sh: --blk must be ahci or virtio" >&2; exit 2;;
esac
if [ "$disk_ro" = 1 ] && [ "$blk" != virtio ]; then echo "run.sh: --disk-readonly needs --blk virtio" >&2; exit 2; fi
ro=""
[ "$disk_ro" = 1 ] && ro=,readonly=on
if [ -n "$disk" ] && [ -n "$disk_log" ]; then
    [ "$disk_ro" = 1 ] && { echo "run.sh: --disk-log with --disk-readonly logs nothing" >&2; exit 2; }
    : >"$disk_log"
    q+=(-blockdev "driver=file,filename=$disk,node-name=disk0-file"
        -blockdev "driver=file,filename=$disk_log,node-name=disk0-log"
        -blockdev "driver=blklogwrites,node-name=disk0,file=disk0-file,log=disk0-log,log-sector-size=512,log-append=off,log-super-update-interval=1"
        "${diskdev[@]}")
elif [ -n "$disk" ]; then
    q+=(-drive "file=$disk,if=none,id=disk0,format=raw$ro" "${diskdev[@]}")
fi
[ "$icount" = 1 ] && q+=(-icount shift=0,sleep=off)
[ "$icount" = 2 ] && q+=(-icount shift=0,sleep=on)
case "$net" in
    user) b=$port_base
          q+=(-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$((b+40))-:524,hostfwd=tcp:127.0.0.1:$((b+7))-:7,hostfwd=tcp:127.0.0.1:$((b+9))-:9,hostfwd=tcp:127.0.0.1:$((b+19))-:19,hostfwd=tcp:127.0.0.1:$((b+41))-:5241"
              "${nicdev[@]}");;
    isolated) q+=(-netdev user,id=n0,restrict=on "${nicdev[@]}");;
    tap)  q+=(-netdev tap,id=n0,ifname=tap0,script=no,downscript=no "${nicdev[@]}");;
    none) q+=(-nic none);;
    *) echo "run.sh: --net must be user, isolated, tap or none" >&2; exit 2;;
esac
q+=("${extra_qemu[@]}")
if [ "$debug" = 1 ]; then
    q+=(-s -S)
    echo "QEMU is paused with its gdb stub on :1234; in another terminal run:"
    echo "    gdb -x $here/scripts/gdbinit"
fi

if [ "$net" = tap ]; then
    ip netns add "$netns"
    ns_made=1
    ip netns exec "$netns" ip link set lo up
    ip netns exec "$netns" ip tuntap add dev tap0 mode tap
    # a deep host queue: a burst from thousands of clients must wait for QEMU to read it, not be
    # dropped at the tap (12707 drops at txqueuelen 1000 after a 3000-connection run)
    ip netns exec "$netns" ip link set tap0 txqueuelen 20000
    ip netns exec "$netns" ip addr add 10.77.0.1/24 dev tap0
    ip netns exec "$netns" ip link set tap0 up
    echo "tap networking: guest 10.77.0.2 (kernel option ip=10.77.0.2/24), host side 10.77.0.1"
    echo "    in namespace '$netns'; run host commands there with: ip netns exec $netns <command>"
    q=(ip netns exec "$netns" "${q[@]}")
fi

if [ "$test" = 0 ]; then
    exec 3>&1
    "${q[@]}" -nographic
    exit 0
fi

# test mode: serial to stdout (and log), exit status from isa-debug-exit
q+=(-display none -serial stdio -monitor none)
[ "$timeout" -gt 0 ] && q=(timeout --foreground -k 5 "$timeout" "${q[@]}")
set +e
if [ -n "$log" ]; then
    "${q[@]}" < "$console_in" | tr -d '\r' | tee "$log"
    rc=${PIPESTATUS[0]}
else
    "${q[@]}" < "$console_in"
    rc=$?
fi
set -e
case $rc in
    33) exit 0;;
    35) exit 1;;
    124) echo "run.sh: QEMU timed out after ${timeout}s" >&2; exit 2;;
    *) echo "run.sh: QEMU ended with status $rc" >&2; exit 2;;
esac
