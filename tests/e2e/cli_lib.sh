# Shared by tests/e2e/ncpc_cli.sh, ncpfs_mount.sh and ncpc_put_atomic.sh (sourced, not run:
# it is not executable).  The script sets B (the build directory) before sourcing it, and T
# (its scratch directory) before the checks.
NCPC=$B/ncpc
NCPD=$B/ncpd
NCPFS=$B/ncpfs
# Output per docs/conventions.md (tests/e2e/suite_lib.sh: ok, skip, finish, fsck_clean);
# a FAIL line here also says where: "FAIL NAME: script:line why".
source "$(dirname "${BASH_SOURCE[0]}")/suite_lib.sh"
bad()  { echo "FAIL $1: $0:${BASH_LINENO[1]} $2"; fail=$((fail + 1)); }
# check NAME COMMAND...: passes when the command succeeds
check() { local n=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$n"; else bad "$n" "$(head -c 300 "$T/err")"; fi; }
# check_fails NAME PATTERN COMMAND...: passes when it fails and stderr matches (grep's basic regex)
check_fails() {
    local n=$1 pat=$2; shift 2
    if "$@" >"$T/out" 2>"$T/err"; then bad "$n" "succeeded unexpectedly"
    elif grep -q -- "$pat" "$T/err"; then ok "$n"
    else bad "$n" "stderr lacks '$pat': $(head -c 300 "$T/err")"; fi
}

# boot_kernel IMAGE [RUN.SH ARGS...]: WorkToDo in QEMU serving IMAGE; sets pid (scripts/run.sh's)
# and SERVER (HOST:PORT).  A kernel that does not answer a PING as guest within 120 s ends the
# script with a FAIL line.  More arguments go to scripts/run.sh after --disk IMAGE (e.g.
# --blk virtio -- storage.flush_ms=60000).
#   KERNEL_NET=user (default): user networking, a loopback forward on a port of its own.  A
#     forward port another process holds (the ephemeral range is shared with every client on
#     the machine) stops QEMU at once: then it boots again on other ports.
#   KERNEL_NET=tap: a tap device in a network namespace of this script's own (wtd-PID, made
#     and removed by scripts/run.sh; nothing touches the root namespace), the guest at
#     10.77.0.2:524.  NCPC and NCPFS become wrappers that enter only that network namespace
#     (nsenter --net), so a FUSE mount they make is in this mount namespace, where the checks
#     run.  Without root, /dev/net/tun, iproute2 or nsenter it falls back to user networking
#     and says so.
boot_kernel() {
    make --no-print-directory all >/dev/null 2>&1
    local attempt base n net=${KERNEL_NET:-user} ns=wtd-$$ tool
    # the console's input: a FIFO held open read-write on fd 7 (never blocks, never ends)
    [ -p "$T/console.in" ] || mkfifo "$T/console.in"
    exec 7<>"$T/console.in"
    if [ "$net" = tap ]; then
        if [ "$(id -u)" != 0 ] || ! [ -c /dev/net/tun ] || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
            echo "# KERNEL_NET=tap needs root, /dev/net/tun, iproute2 and nsenter: user networking instead"
            net=user
        fi
    fi
    for attempt in 1 2 3; do
        if [ "$net" = tap ]; then
            scripts/run.sh --net tap --netns "$ns" --disk "$1" "${@:2}" <"$T/console.in" >"$T/kernel.log" 2>&1 &
            SERVER=10.77.0.2:524
            mkdir -p "$T/nsbin"
            for tool in ncpc ncpfs; do
                printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$ns" "$(cd "$B" && pwd)/$tool" >"$T/nsbin/$tool"
                chmod +x "$T/nsbin/$tool"
            done
            NCPC=$T/nsbin/ncpc NCPFS=$T/nsbin/ncpfs
        else
            base=$((20000 + RANDOM % 12000))    # below the ephemeral ports (scripts/run.sh --port-base)
            scripts/run.sh --net user --port-base "$base" --disk "$1" "${@:2}" <"$T/console.in" >"$T/kernel.log" 2>&1 &
            SERVER=127.0.0.1:$((base + 40))
        fi
        pid=$!
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $((n += 1)) -le 240 ]; do
            [ "$net" = tap ] && ! [ -e "/run/netns/$ns" ] && { sleep 0.5; continue; }
            NCP_PASSWORD=guest "$NCPC" -s "$SERVER" ping -c 1 >/dev/null 2>&1 && return 0
            sleep 0.5
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        grep -q 'Could not set up host forwarding' "$T/kernel.log" || break
    done
    echo "FAIL kernel_serves: no answer on $SERVER within 120 s; kernel log:"
    tr -d '\000\r' < "$T/kernel.log" | tail -15 | sed 's/^/    /'
    fail=$((fail + 1))
    finish
}

# kernel_stacks: what every thread of the kernel boot_kernel started waits on, and its
# stack (the console's `threads -s`), as comment lines: for the report of a server that
# stopped answering.  Frames name kernel functions; `addr2line -e build/kernel.elf` has lines.
kernel_stacks() {
    local mark="stacks$RANDOM$RANDOM" n
    echo "threads -s" >&7
    echo "$mark" >&7                # an unknown command: its echo ends the output
    for ((n = 0; n < 50; n++)); do
        tr -d '\000\r' < "$T/kernel.log" | grep -q "$mark" && break
        sleep 0.2
    done
    tr -d '\000\r' < "$T/kernel.log" | sed -n '/threads -s/,$p' | grep -v "$mark" | head -150 | sed 's/^/#   /'
}

# After a failed check, while the kernel boot_kernel started still runs: its threads
# (finish calls this; suite_lib.sh).
failure_report() {
    [ -p "$T/console.in" ] && [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null || return 0
    echo "# the kernel's threads after the failure:"
    kernel_stacks
}

# volume_root NAME PASS...: the users file $T/users (scripts/mkusers.sh's arguments) and
# the tree $T/root of a volume that holds it as /etc/ncp-users (plus the directories named
# by VOLUME_DIRS, relative to it).  The script adds its files, then runs
# scripts/volume-layout.sh "$T/root".
volume_root() {
    scripts/mkusers.sh "$T/users" "$@" >/dev/null
    mkdir -p "$T/root/etc"
    local d
    for d in ${VOLUME_DIRS:-}; do mkdir -p "$T/root/$d"; done
    cp "$T/users" "$T/root/etc/ncp-users"
}

# build_or_fail NAME TARGET...: makes the targets (BUILD=$B) or ends the script with a FAIL line.
build_or_fail() {
    local name=$1 log
    shift
    log=$(mktemp)
    if ! make --no-print-directory BUILD="$B" "$@" >"$log" 2>&1; then
        echo "FAIL $name: $0: make failed:"
        tail -20 "$log" | sed 's/^/    /'
        rm -f "$log"
        fail=$((fail + 1))
        finish
    fi
    rm -f "$log"
}

# start_ncpd IMAGE [PORT]: build/ncpd serving IMAGE on PORT (default: any free one, written
# to $T/port as "port N"); sets pid.
start_ncpd() {
    rm -f "$T/port"
    "$NCPD" --image "$1" --port "${2:-0}" --quiet >"$T/port" 2>>"$T/ncpd.log" &
    pid=$!
    for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
}
