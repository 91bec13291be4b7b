# Shared by tests/e2e/net_*.sh (sourced, not run: it is not executable).
# Boots the kernel in the background with its console on a FIFO and a log, so a test
# can type console commands and read their output; always stops QEMU (and, through
# scripts/run.sh, removes the tap namespace) on exit.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
source "$here/tests/e2e/suite_lib.sh"      # ok, bad, skip, finish (which exits)

work=$(mktemp -d "${TMPDIR:-/tmp}/wtd-net-e2e.XXXXXX")
guest_pid=""
guest_log="$work/console.log"
tool="$here/build/e2e/net_tool"

net_cleanup() {
    guest_stop
    rm -rf "$work"
}
trap net_cleanup EXIT
trap 'exit 130' INT TERM

build_tool() {
    mkdir -p "$here/build/e2e"
    cc -O2 -Wall -I"$here" -o "$tool" "$here/tests/e2e/net_tool.c"
}

# A free loopback TCP port: the preferred one if nobody listens there, else one in
# 20000..31999, below Linux's ephemeral ports (from 32768), which a TIME_WAIT of an outgoing
# connection can hold so that QEMU cannot listen there.
free_port() {
    local p=$1
    while ss -Htln "sport = :$p" 2>/dev/null | grep -q .; do
        p=$((20000 + RANDOM % 12000))
    done
    echo "$p"
}

# guest_start RUN.SH-ARGS... -- KERNEL-OPTIONS...   (bounded by a 600 s timeout)
guest_start() {
    mkfifo "$work/console.in"
    # the disk image is copied: a parallel test run may hold a lock on the shared one
    [ -f build/demo.img ] && cp build/demo.img "$work/disk.img"
    local disk=()
    [ -f "$work/disk.img" ] && disk=(--disk "$work/disk.img")
    : > "$guest_log"
    setsid timeout -k 10 600 scripts/run.sh "${disk[@]}" "$@" < "$work/console.in" > "$guest_log" 2>&1 &
    guest_pid=$!
    exec 9> "$work/console.in"      # held open so QEMU never sees end of input
}

guest_cmd() { echo "$1" >&9; }

# guest_wait PATTERN SECONDS: waits until the console log matches (extended regexp).
guest_wait() {
    local end=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$end" ]; do
        tr -d '\r' < "$guest_log" | grep -qE "$1" && return 0
        kill -0 "$guest_pid" 2>/dev/null || return 1
        sleep 0.2
    done
    tr -d '\r' < "$guest_log" | grep -qE "$1"
}

# The value of "drops total:" from a fresh `net` command.
guest_drops() {
    local marker="mark$RANDOM$RANDOM"
    guest_cmd "net"
    guest_cmd "$marker"             # an unknown command: its echo marks the end of the output
    guest_wait "$marker" 20 || { echo -1; return; }
    tr -d '\r' < "$guest_log" | grep -E '^  drops total: [0-9]+' | tail -1 | awk '{print $3}'
}

# guest_shutdown_test NAME: the console's `shutdown` must power the guest off (one test
# line, NAME); then the guest is stopped either way.
guest_shutdown_test() {
    guest_cmd shutdown
    if guest_wait 'power off' 30; then ok "$1"; else bad "$1" "no power off"; fi
    guest_stop
}

guest_stop() {
    [ -n "$guest_pid" ] || return 0
    if kill -0 "$guest_pid" 2>/dev/null; then
        guest_cmd "shutdown" 2>/dev/null
        local i
        for ((i = 0; i < 200; i++)); do
            kill -0 "$guest_pid" 2>/dev/null || break
            sleep 0.1
        done
        # still there: end the process group we started (timeout, run.sh, QEMU)
        kill -0 "$guest_pid" 2>/dev/null && kill -TERM -- -"$guest_pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            kill -0 "$guest_pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    wait "$guest_pid" 2>/dev/null
    exec 9>&- 2>/dev/null
    guest_pid=""
}
