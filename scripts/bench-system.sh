#!/usr/bin/env bash
# bench-system.sh SYSTEM - boots one system on a scratch copy of the benchmark image, once per
# phase, and runs scripts/bench-workloads.sh against it; prints BENCH lines.
#   SYSTEM: worktodo | linux-epoll | linux-threads (e1000 and AHCI) |
#           worktodo-virtio | linux-epoll-virtio (virtio-net and virtio-blk, the same QEMU
#           placement for both: scripts/run.sh --nic virtio --blk virtio)
#   boot 0 (boot, WorkToDo only): through the GRUB ISO, only timed (boot_iso);
#   boot 1 (main): default caches, boot to serving timed (boot);  boot 2 (miss): a 32 MiB file cache (WorkToDo
#   bcache.mb=32; Linux: ncpd --cache-mb 32 with the page cache squeezed to ~16 MiB);
#   boot 3 (scale): default caches again, 5000 and 10000 connections (when the connection
#   list has counts above 1000), on a fresh boot so that memory the other runs filled
#   (a Linux ncpd's own cache) does not count against them;
#   boot 4 (mount): default caches, the volume grown to 2 GiB (dbench at 32 clients writes
#   about 700 MB), the FUSE workloads.
# BENCH_PHASES="main" runs only boot 1.
# A system that does not come up prints "BENCH SYSTEM <workload> error unavailable" for each
# workload of that boot and the script goes on.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sys=$1
cache_mb=32
logdir=${BENCH_LOGDIR:-$here/build/bench/logs}
mkdir -p "$logdir"
img=$(mktemp "${TMPDIR:-/tmp}/wtd-bench-img.XXXXXX")
trap 'rm -f "$img"' EXIT

main_workloads="tcp_source read4k nullrpc seq64m write4k_c16 write4k_fsync_c16 users_mix"
miss_workloads="miss0 miss10 miss20 miss50"
scale_workloads="read4k_scale"
mount_workloads="mount_seq64m fio_seq_write fio_seq_read fio_rand4k dbench_c1 dbench_c8 dbench_c32"
unavailable() {  # unavailable PHASE
    local w
    case "$1" in main) w="boot $main_workloads";; miss) w=$miss_workloads;; boot) w=boot_iso;; mount) w=$mount_workloads;; *) w=$scale_workloads;; esac
    for x in $w; do echo "BENCH $sys $x error unavailable"; done
}
# The scale boot only when some connection count is above 1000 (not in QUICK's list).
default_phases="boot main miss mount"
if [ "${QUICK:-0}" = 1 ]; then conns=${BENCH_CONNS:-1000}; else conns=${BENCH_CONNS:-10000}; fi
for c in $conns; do [ "$c" -gt 1000 ] && { default_phases="boot main miss mount scale"; break; }; done
# Boot to serving: wall time from starting QEMU to the first answered request (a PING over
# the file protocol, after logging in as guest), polled about every 20 ms (a TCP probe of port 524, then the PING), for every system on its main boot.  WorkToDo boots
# through PVH (scripts/run.sh --boot pvh, as the tests do); one extra boot through the GRUB
# ISO (`make run`'s path) is timed too, as boot_iso.
now_ns() { date +%s%N; }
# serving_ms NS IP T0 LIMIT_S: waits (bounded) until the server answers PING; prints the ms
# since T0 (from now_ns), or nothing and status 1 if it did not within LIMIT_S.
serving_ms() {
    local ns=$1 ip=$2 t0=$3 limit=$4 t pinned=0
    local end=$(( $(now_ns) + limit * 1000000000 ))
    while [ "$(now_ns)" -lt "$end" ]; do
        # The guest's MAC (both systems use the same) is pinned in the namespace's neighbour
        # table as soon as tap0 exists: otherwise a try made before the guest answered ARP
        # leaves the entry waiting for the kernel's next probe, a second later, and that second
        # would be counted as boot time.  0.25 s per try bounds a try the guest cannot answer.
        [ "$pinned" = 1 ] || { ip netns exec "$ns" ip neigh replace "$ip" lladdr 52:54:00:12:34:56 dev tap0 nud permanent 2>/dev/null && pinned=1; }
        # A cheap probe first, 0.05 s at most: a SYN the guest never saw (its NIC not up yet)
        # would hold a whole try until its timeout, and the figure would come in steps of it.
        # Port 524 open, the PING (login first) is the measurement.
        if ip netns exec "$ns" timeout 0.05 bash -c "exec 3<>/dev/tcp/$ip/524" 2>/dev/null &&
           ip netns exec "$ns" timeout 2 env NCP_PASSWORD=guest "$here/build/ncpc" -s "$ip:524" -u guest ping -c 1 >/dev/null 2>&1; then
            t=$(now_ns)
            echo $(( (t - t0) / 1000000 ))
            return 0
        fi
        sleep 0.01
    done
    return 1
}
shutdown_cmd() {  # what ends a boot: the admin SHUTDOWN of the protocol
    echo "ip netns exec $1 env NCP_PASSWORD=admin $here/build/ncpc -s $2:524 -u admin shutdown >/dev/null 2>&1"
}

# scratch_image PHASE: the benchmark image copied to $img (sparse); grown to 2 GiB for the mount phase.
# Then synced: else the guest's first device flush (each system flushes at mount) waits for
# the host to write the fresh copy out, and boot to serving would count our cp.
scratch_image() {
    cp --sparse=always "$here/build/bench/bench.img" "$img"
    if [ "$1" = mount ]; then
        truncate -s 2G "$img"
        PATH=$PATH:/usr/sbin resize2fs -f "$img" >/dev/null 2>&1 || echo "bench-system: resize2fs failed; the mount phase runs on 256 MiB" >&2
    fi
    sync "$img"
}

boot_linux() {  # boot_linux MODE PHASE [DEVICES]: DEVICES virtio boots on virtio-net and virtio-blk
    local mode=$1 phase=$2 extra=()
    [ "${3:-}" = virtio ] && extra+=(--nic virtio --blk virtio)
    [ "$phase" = miss ] && extra+=(--cache-mb "$cache_mb" --pagecache-mb 16)
    scratch_image "$phase"
    # The command starts once the guest's run.sh saw port 524 open (it polls every 50 ms);
    # its first PING then times boot to serving from just before the launch.
    local boot=""
    [ "$phase" = main ] && boot="ms=\$(serving_ms \$LINUX_GUEST_NS \$LINUX_GUEST_IP $(now_ns) 5) && echo \"BENCH $sys boot serving_ms \$ms\"; "
    "$here/scripts/linux-guest/run.sh" --mode "$mode" --disk "$img" --ns "wtdlinux-$$" \
        --boot-timeout 120 --timeout 1800 --log "$logdir/$sys.$phase.console.log" "${extra[@]}" -- \
        bash -c "$(declare -f serving_ms now_ns); here='$here'; $boot'$here/scripts/bench-workloads.sh' $sys \$LINUX_GUEST_NS \$LINUX_GUEST_IP $phase; $(shutdown_cmd '$LINUX_GUEST_NS' '$LINUX_GUEST_IP')"
    [ $? = 3 ] && unavailable "$phase"
    return 0
}

boot_worktodo() {  # boot_worktodo PHASE [DEVICES]: scripts/run.sh --net tap (guest 10.77.0.2)
    local phase=$1 devs=()
    [ "${2:-}" = virtio ] && devs=(--nic virtio --blk virtio)
    local kopts=(ip=10.77.0.2/24) log=$logdir/$sys.$phase.console.log pid up=0
    [ "$phase" = miss ] && kopts+=("bcache.mb=$cache_mb")
    if [ ! -f "$here/build/worktodo.elf" ]; then unavailable "$phase"; return 0; fi
    scratch_image "$phase"
    local boot=pvh t0 ms
    [ "$phase" = boot ] && boot=iso
    # scripts/run.sh --net tap makes the namespace; with --netns (newer run.sh) a private one,
    # otherwise the fixed 'worktodo', which other runs (tests) take too: then wait up to
    # $BENCH_NS_WAIT seconds for it to be free, and try again if another run grabbed it
    # between our check and run.sh's `ip netns add`.
    local ns=worktodo nsopt=() waited=0
    if grep -q -- '--netns)' "$here/scripts/run.sh"; then ns=wtdbench-$$; nsopt=(--netns "$ns"); fi
    for _ in 1 2 3 4 5; do
        while ip netns list | awk '{print $1}' | grep -qx "$ns"; do
            [ "$waited" = 0 ] && echo "bench-system: namespace '$ns' is in use; waiting" >&2
            waited=$((waited + 1))
            [ "$waited" -ge "${BENCH_NS_WAIT:-300}" ] && break 2
            sleep 1
        done
        t0=$(now_ns)
        "$here/scripts/run.sh" --boot "$boot" --net tap "${devs[@]}" "${nsopt[@]}" --test --timeout 1800 --disk "$img" -- "${kopts[@]}" > "$log" 2>&1 &
        pid=$!
        for _ in $(seq 45); do       # up to about 45 s to boot and answer
            kill -0 "$pid" 2>/dev/null || break
            if ms=$(serving_ms "$ns" 10.77.0.2 "$t0" 1); then up=1; break; fi
        done
        [ "$up" = 1 ] && [ "$phase" = main ] && echo "BENCH $sys boot serving_ms $ms"
        [ "$up" = 1 ] && [ "$phase" = boot ] && echo "BENCH $sys boot_iso serving_ms $ms"
        [ "$up" = 1 ] && break
        wait "$pid" 2>/dev/null
        grep -q 'Cannot create namespace' "$log" || break
    done
    if [ "$up" = 1 ]; then
        [ "$phase" = boot ] || "$here/scripts/bench-workloads.sh" "$sys" "$ns" 10.77.0.2 "$phase"
        eval "$(shutdown_cmd "$ns" 10.77.0.2)"
    else
        echo "bench-system: $sys did not serve on 10.77.0.2:524 (console: $log)" >&2
        unavailable "$phase"
    fi
    # run.sh removes its namespace when QEMU ends; end QEMU (run.sh's children) if it lingers.
    [ -n "${pid:-}" ] || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        for c in $(pgrep -P "$pid"); do pkill -TERM -P "$c" 2>/dev/null; kill "$c" 2>/dev/null; done
        wait "$pid" 2>/dev/null
    fi
    return 0
}

wtd_down=0
for phase in ${BENCH_PHASES:-$default_phases}; do
    case "$sys" in
        worktodo|worktodo-virtio)
            # A WorkToDo that did not come up once is not booted again (saves a minute).
            if [ "$wtd_down" = 1 ]; then unavailable "$phase"; continue; fi
            boot_worktodo "$phase" "${sys#worktodo-}" | tee "$logdir/$sys.$phase.bench.txt"
            [ "$phase" = boot ] && continue
            grep -q 'error unavailable' "$logdir/$sys.$phase.bench.txt" && wtd_down=1;;
        linux-*) [ "$phase" = boot ] && continue ;;&
        linux-epoll) boot_linux epoll "$phase";;
        linux-epoll-virtio) boot_linux epoll "$phase" virtio;;
        linux-threads) boot_linux threads "$phase";;
        *) echo "bench-system: unknown system '$sys'" >&2; exit 2;;
    esac
done
exit 0
