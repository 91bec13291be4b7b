#!/usr/bin/env bash
# bench-workloads.sh SYSTEM NS IP PHASE - drives one running file server with build/ncpc from
# inside its network namespace and prints "BENCH SYSTEM WORKLOAD METRIC VALUE" lines.
#   PHASE main: raw TCP ceiling (source service, port 19), 4 KiB cached reads against
#               connections, sequential 64 MiB reads (cold, then warm), small writes.
#   PHASE miss: 4 KiB random reads over file sets 1x..2x the cache (cache of $BENCH_CACHE_MB).
# Every ncpc run is bounded by --duration and --count and by `timeout`.  QUICK=1: shorter runs
# and connection counts up to 1000.  Raw ncpc output goes to $BENCH_LOGDIR.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sys=$1 ns=$2 ip=$3 phase=$4
logdir=${BENCH_LOGDIR:-$here/build/bench/logs}
mkdir -p "$logdir"
quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
    dur=${BENCH_DURATION:-4} conns_list=${BENCH_CONNS:-"1 16 64 256 1000"} tcp_mb=32
else
    dur=${BENCH_DURATION:-10} conns_list=${BENCH_CONNS:-"1 16 64 256 1000 5000 10000"} tcp_mb=128
fi
max_count=2000000                      # a second bound beside --duration
ncpc=$here/build/ncpc
export NCP_PASSWORD=guest
# 10000 client sockets in one process; ncpc raises its soft limit up to this hard limit.
ulimit -Hn 65536 2>/dev/null; ulimit -n 65536 2>/dev/null
in_ns() { ip netns exec "$ns" "$@"; }
emit() { echo "BENCH $sys $1 $2 $3"; }
now() { date +%s.%N; }

# bench_run WORKLOAD NCPC-BENCH-ARGS...: one ncpc bench run, figures from its JSON.
bench_run() {
    local w=$1; shift
    local json=$logdir/$sys.$w.json log=$logdir/$sys.$w.txt conns
    conns=$(echo "$@" | sed -n 's/.*--conns \([0-9]*\).*/\1/p')
    rm -f "$json"
    # Setup (connect + login + opens) of thousands of connections takes a while under TCG.
    timeout -k 5 $((dur + 60 + ${conns:-1} / 50)) ip netns exec "$ns" "$ncpc" -s "$ip:524" bench \
        --duration "$dur" --count "$max_count" --json "$json" "$@" > "$log" 2>&1
    local rc=$?
    if [ ! -s "$json" ]; then
        emit "$w" error "$(if [ $rc = 124 ]; then echo timeout; else tail -1 "$log" | tr ' ' '_' | cut -c1-80; fi)"
        return 1
    fi
    local j; j=$(cat "$json")
    field() { echo "$j" | grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }
    emit "$w" req_per_s "$(field req_per_s)"
    emit "$w" mb_per_s "$(field mb_per_s)"
    emit "$w" p50_us "$(field p50)"
    emit "$w" p99_us "$(field p99)"
    emit "$w" errors "$(field errors)"
    emit "$w" conns_live "$(field conns)"
    [ "$(field transport_errors)" = 0 ] || emit "$w" transport_errors "$(field transport_errors)"
}

# server_counter NAME: one counter from `ncpc stats` (cache.hits, cache.misses, ...).
server_counter() {
    in_ns timeout 20 "$ncpc" -s "$ip:524" stats 2>/dev/null | awk -v n="$1" '$1 == n {print $2}'
}

# get_file PATH: fetch a file to a scratch file, print the seconds taken ("" on failure).
get_file() {
    local tmp; tmp=$(mktemp)
    local t0; t0=$(now)
    if timeout 120 ip netns exec "$ns" "$ncpc" -s "$ip:524" get "$1" "$tmp" >/dev/null 2>&1; then
        echo "$(now) $t0" | awk '{printf "%.3f\n", $1 - $2}'
    fi
    rm -f "$tmp"
}

if [ "$phase" = main ]; then
    # Raw TCP ceiling: the source service streams the requested byte count, then closes.
    bytes=$((tcp_mb << 20))
    out=$(timeout 120 ip netns exec "$ns" bash -c "
        exec 3<>/dev/tcp/$ip/19 || exit 1
        t0=\$(date +%s.%N); echo $bytes >&3; n=\$(cat <&3 | wc -c); t1=\$(date +%s.%N)
        echo \$n \$t0 \$t1" 2>/dev/null)
    read -r n t0 t1 <<< "$out"
    if [ "${n:-0}" = "$bytes" ]; then
        emit tcp_source mb_per_s "$(echo "$t0 $t1" | awk -v b="$bytes" '{printf "%.2f", b / ($2 - $1) / 1e6}')"
    else
        emit tcp_source error "got_${n:-0}_of_${bytes}_bytes"
    fi

    get_file /hot/h16.bin >/dev/null        # warm the cache with the cached-read file
    for c in $conns_list; do
        bench_run "read4k_c$c" --conns "$c" --depth 1 --files /hot/h16.bin --read-size 4096
    done

    s=$(get_file /seq/random64.bin)
    if [ -n "$s" ]; then emit seq64m_cold mb_per_s "$(awk -v s="$s" 'BEGIN {printf "%.2f", 67108864 / s / 1e6}')"
    else emit seq64m_cold error get_failed; fi
    s=$(get_file /seq/random64.bin)
    if [ -n "$s" ]; then emit seq64m_warm mb_per_s "$(awk -v s="$s" 'BEGIN {printf "%.2f", 67108864 / s / 1e6}')"
    else emit seq64m_warm error get_failed; fi

    # Small writes: 4 KiB at random 4 KiB-aligned offsets of a 1 MiB scratch file per connection.
    bench_run write4k_c16 --conns 16 --depth 1 --write-pct 100 --read-size 4096
fi

if [ "$phase" = miss ]; then
    # The first K files of set/ (4 MiB each); with a cache of C MiB the steady-state miss
    # ratio of uniform random reads is about 1 - C/(4K).  Each set is read once in order
    # first so the run starts from a full cache rather than a cold one.
    cache_mb=${BENCH_CACHE_MB:-32}
    for pair in 0:6 10:9 20:10 50:16; do
        pct=${pair%%:*} k=${pair#*:}
        files=$(seq -f '/set/f%02g.bin' 0 $((k - 1)) | paste -sd,)
        for f in ${files//,/ }; do get_file "$f" >/dev/null; done
        h0=$(server_counter cache.hits) m0=$(server_counter cache.misses)
        bench_run "miss$pct" --conns 64 --depth 1 --files "$files" --read-size 4096
        h1=$(server_counter cache.hits) m1=$(server_counter cache.misses)
        if [ -n "$h0" ] && [ -n "$h1" ] && [ -n "$m0" ] && [ -n "$m1" ]; then
            emit "miss$pct" server_miss_pct "$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN {printf "%.1f", h + m ? 100 * m / (h + m) : 0}')"
        fi
        emit "miss$pct" set_mb $((k * 4))
    done
    # Block-device reads in the Linux guest (its counters service), to show the page cache
    # below ncpd's cache was squeezed: sectors read from /dev/sda so far.
    c=$(in_ns timeout 5 bash -c "exec 3<>/dev/tcp/$ip/8 && cat <&3" 2>/dev/null | awk '$1 == "sda" {print $4}')
    [ -n "$c" ] && emit miss_all disk_read_mb "$((c / 2048))"
fi
exit 0
