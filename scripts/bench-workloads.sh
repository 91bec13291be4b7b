#!/usr/bin/env bash
# bench-workloads.sh SYSTEM NS IP PHASE - drives one running file server with build/ncpc from
# inside its network namespace and prints "BENCH SYSTEM WORKLOAD METRIC VALUE" lines.
#   PHASE main: raw TCP ceiling (source service, port 19), 4 KiB cached reads against
#               connections and the null-RPC ceiling at the same counts (port 5241: 16 bytes
#               in, 4 KiB out; read4k_cN ceiling_pct is the read rate as a share of it),
#               sequential 64 MiB reads (cold, then warm; seq64m_warm ceiling_pct: as a share
#               of the raw TCP source), small writes (without, then with fsync; then
#               fsynced ones beside a full-speed writer: fsync_beside_writer), and
#               open-loop users: $BENCH_USERS (5000; QUICK 1000) logged-in users, one connection each, one request a second each (exponential think time)
#               with the mix read=70,stat=15,readdir=10,write=5 (p50/p90/p99/p99.9/max,
#               errors, per-kind p99).
#   PHASE miss: 4 KiB random reads over file sets 0.75x..2x a 32 MiB cache (the cache
#               itself is set up by bench-system.sh).
#   PHASE scale: 4 KiB cached reads at the connection counts above 1000.
#   PHASE mount: through the FUSE mount (build/ncpfs, entered into the namespace's network
#               only, so the mount is on this host): the 64 MiB file read with cat against
#               `ncpc get` of the same file (mount_seq64m vs_get_pct), fio sequential write
#               and read (1 MiB blocks, 64 MiB) and 4 KiB random reads (IOPS), and dbench
#               (NetBench's load) with 1, 8 and 32 clients (MB/s, max latency).  Each read
#               figure starts on a fresh mount, so the client's page cache is empty.
# Every ncpc run is bounded by --duration and --count and by `timeout`.  QUICK=1: shorter runs
# and connection counts up to 1000.  Raw ncpc output goes to $BENCH_LOGDIR.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sys=$1 ns=$2 ip=$3 phase=$4
logdir=${BENCH_LOGDIR:-$here/build/bench/logs}
mkdir -p "$logdir"
quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
    dur=${BENCH_DURATION:-4} conns_list=${BENCH_CONNS:-"1 16 64 256 1000"} tcp_mb=64
else
    dur=${BENCH_DURATION:-10} conns_list=${BENCH_CONNS:-"1 16 64 256 1000 5000 10000"} tcp_mb=128
fi
max_count=2000000                      # a second bound beside --duration
if [ "$quick" = 1 ]; then users=${BENCH_USERS:-1000}; else users=${BENCH_USERS:-5000}; fi
users_think_ms=${BENCH_THINK_MS:-1000}
mix=read=70,stat=15,readdir=10,write=5
# Offered rates of the latency-against-load curve (requests/s, open loop, 64 connections).
if [ "$quick" = 1 ]; then rate_list=${BENCH_RATES:-"250 500 1000 2000 4000 8000"}
else rate_list=${BENCH_RATES:-"250 500 1000 2000 3000 4000 6000 8000 12000 16000"}; fi
ncpc=$here/build/ncpc
export NCP_PASSWORD=guest
# 10000 client sockets in one process; ncpc raises its soft limit up to this hard limit.
ulimit -Hn 65536 2>/dev/null; ulimit -n 65536 2>/dev/null
in_ns() { ip netns exec "$ns" "$@"; }
emit() { echo "BENCH $sys $1 $2 $3"; }
now() { date +%s.%N; }

# alive: the server still accepts on 524 (a crashed guest must not cost a timeout per run).
alive() { in_ns timeout 3 bash -c "exec 3<>/dev/tcp/$ip/524" 2>/dev/null; }

# bench_run WORKLOAD NCPC-BENCH-ARGS...: one ncpc bench run, figures from its JSON.
# svc_port=5241 bench_run ... drives the null-RPC service instead of the file service.
bench_run() {
    local w=$1; shift
    alive || { emit "$w" error server_down; return 1; }
    local json=$logdir/$sys.$w.json log=$logdir/$sys.$w.txt conns
    conns=$(echo "$@" | sed -n 's/.*--conns \([0-9]*\).*/\1/p')
    rm -f "$json"
    # Scale runs: the server's counters (and the Linux guest's free memory) before, during
    # (every 3 s) and after, into $logdir/$sys.$w.counters; the peaks become BENCH lines.
    local snap_pid=""
    if [ "${conns:-1}" -ge 1000 ]; then
        : > "$logdir/$sys.$w.counters"
        snapshot "$logdir/$sys.$w.counters" before
        ( while :; do sleep 3; snapshot "$logdir/$sys.$w.counters" during; done ) &
        snap_pid=$!
    fi
    # Setup (connect + login + opens) of thousands of connections takes a while under TCG.
    timeout -k 5 $((dur + 60 + ${conns:-1} / 50)) ip netns exec "$ns" "$ncpc" -s "$ip:${svc_port:-524}" bench \
        --duration "$dur" --count "$max_count" --json "$json" "$@" > "$log" 2>&1
    local rc=$?
    if [ -n "$snap_pid" ]; then
        kill "$snap_pid" 2>/dev/null; wait "$snap_pid" 2>/dev/null
        snapshot "$logdir/$sys.$w.counters" after
        # Free memory (WorkToDo mem.free_kib, Linux MemAvailable) before, lowest during, after.
        awk -v s="$sys" -v w="$w" '
            $2 == "conn.current" && $1 == "during" && $3 > c { c = $3 }
            $2 == "worker.peak" && $3 > wp { wp = $3 }
            $2 == "MemAvailable:" || $2 == "mem.free_kib" {
                if ($1 == "before" && b == "") b = $3
                if ($1 == "during" && (m == "" || $3 < m)) m = $3
                if ($1 == "after") a = $3 }
            END { if (c != "") print "BENCH " s " " w " peak_conn_current " c
                  if (wp != "") print "BENCH " s " " w " peak_workers " wp
                  if (b != "") print "BENCH " s " " w " mem_free_before_mb " int(b / 1024)
                  if (m != "") print "BENCH " s " " w " mem_free_min_mb " int(m / 1024)
                  if (a != "") print "BENCH " s " " w " mem_free_after_mb " int(a / 1024) }' "$logdir/$sys.$w.counters"
    fi
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
    case "$w" in fsync_*) emit "$w" p999_us "$(field p999)"; emit "$w" max_us "$(field max)";; esac
    [ "$(field transport_errors)" = 0 ] || emit "$w" transport_errors "$(field transport_errors)"
    # open-loop runs: the tail, and the figures of each request kind
    if echo "$j" | grep -q '"mode":"\(rate\|users\)"'; then
        emit "$w" p90_us "$(field p90)"
        emit "$w" p999_us "$(field p999)"
        emit "$w" max_us "$(field max)"
        emit "$w" completed "$(field completed)"
        local k kj
        for k in read stat readdir write; do
            kj=$(echo "$j" | grep -o "\"$k\":{\"sent\":[^}]*")
            [ -n "$kj" ] || continue
            emit "$w" "${k}_p99_us" "$(echo "$kj" | grep -o '"p99":[0-9.]*' | cut -d: -f2)"
            emit "$w" "${k}_errors" "$(echo "$kj" | grep -o '"errors":[0-9]*' | cut -d: -f2)"
        done
    fi
}

# rps WORKLOAD: req_per_s of a run bench_run made ("" if none).
rps() { grep -o '"req_per_s":[0-9.]*' "$logdir/$sys.$1.json" 2>/dev/null | cut -d: -f2; }

# server_counter NAME: one counter from `ncpc stats` (cache.hits, cache.misses, ...).
server_counter() {
    in_ns timeout 20 "$ncpc" -s "$ip:524" stats 2>/dev/null | awk -v n="$1" '$1 == n {print $2}'
}

# snapshot FILE WHEN: appends "WHEN name value" lines: ncpc stats, and the Linux guest's
# meminfo from its counters service (port 8; WorkToDo has none there, which is fine).
snapshot() {
    { in_ns timeout 10 "$ncpc" -s "$ip:524" stats 2>/dev/null
      case "$sys" in worktodo*) ;; *) in_ns timeout 3 bash -c "exec 3<>/dev/tcp/$ip/8 && cat <&3" 2>/dev/null;; esac
    } | awk -v when="$2" 'NF >= 2 { print when, $1, $2 }' >> "$1"
}

# fsync_beside_writer: what a database feels beside a backup (issue 15: FSYNC p99 under 10 ms
# while another connection writes as fast as it can).  One connection writes 4 KiB and FSYNCs
# it, one pair at a time, into a file of its own (the pair's latency, from the WRITE sent to
# the FSYNC answered), while another puts a 32 MiB file over and over (each put a new file
# renamed into place: allocation, data and metadata all the time), as fast as the link takes
# it; bounded by 40 puts and by the fsync run's end.
fsync_beside_writer() {
    local big=$logdir/writer32m.bin stop=$logdir/$sys.writer.stop res=$logdir/$sys.writer.count wpid
    [ -s "$big" ] || head -c 32M /dev/urandom > "$big"
    rm -f "$stop" "$res"
    ( t0=$(now) n=0
      while [ ! -e "$stop" ] && [ "$n" -lt 40 ]; do
          timeout 120 ip netns exec "$ns" "$ncpc" -s "$ip:524" put "$big" /bench.writer.bin >/dev/null 2>&1 || break
          n=$((n + 1))
      done
      echo "$n $(now) $t0" > "$res" ) &
    wpid=$!
    sleep 2                                 # the writer at full speed first
    bench_run fsync_beside_writer --conns 1 --depth 1 --write-pct 100 --read-size 4096 --fsync --scratch /bench.fsync
    touch "$stop"
    wait "$wpid"
    rm -f "$stop"
    [ -s "$res" ] && emit fsync_beside_writer writer_mb_s "$(awk '{ if ($1 > 0 && $2 > $3) printf "%.1f", $1 * 32 / ($2 - $3) }' "$res")"
    in_ns timeout 60 "$ncpc" -s "$ip:524" rm /bench.writer.bin >/dev/null 2>&1
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
    ceil_lines=""
    if [ "${n:-0}" = "$bytes" ]; then
        ceil_lines=$(emit tcp_source mb_per_s "$(echo "$t0 $t1" | awk -v b="$bytes" '{printf "%.2f", b / ($2 - $1) / 1e6}')")
        echo "$ceil_lines"
    else
        emit tcp_source error "got_${n:-0}_of_${bytes}_bytes"
    fi

    get_file /hot/h16.bin >/dev/null        # warm the cache with the cached-read file
    # Up to 1000 connections here; more in PHASE scale, a boot of its own.
    for c in $conns_list; do
        [ "$c" -le 1000 ] && bench_run "read4k_c$c" --conns "$c" --depth 1 --files /hot/h16.bin --read-size 4096
    done
    # The ceiling of those reads in the same guest: the null-RPC service answers a 16-byte
    # request with 4 KiB from a static buffer, over the same connections, the same depth.
    for c in $conns_list; do
        [ "$c" -le 1000 ] || continue
        svc_port=5241 bench_run "nullrpc_c$c" --null-rpc --conns "$c" --depth 1
        r=$(rps "read4k_c$c") n=$(rps "nullrpc_c$c")
        [ -n "$r" ] && [ -n "$n" ] && emit "read4k_c$c" ceiling_pct "$(awk -v r="$r" -v n="$n" 'BEGIN {if (n > 0) printf "%.1f", 100 * r / n}')"
    done

    s=$(get_file /seq/random64.bin)
    if [ -n "$s" ]; then emit seq64m_cold mb_per_s "$(awk -v s="$s" 'BEGIN {printf "%.2f", 67108864 / s / 1e6}')"
    else emit seq64m_cold error get_failed; fi
    s=$(get_file /seq/random64.bin)
    if [ -n "$s" ]; then emit seq64m_warm mb_per_s "$(awk -v s="$s" 'BEGIN {printf "%.2f", 67108864 / s / 1e6}')"
    else emit seq64m_warm error get_failed; fi
    # The ceiling of streams is the raw TCP source above: warm sequential reads as a share of it.
    tcp=$(awk -v s="$sys" '$2 == s && $3 == "tcp_source" && $4 == "mb_per_s" {print $5}' <<<"$ceil_lines")
    if [ -n "$s" ] && [ -n "$tcp" ]; then
        emit seq64m_warm ceiling_pct "$(awk -v s="$s" -v t="$tcp" 'BEGIN {if (t > 0) printf "%.1f", 100 * 67108864 / s / 1e6 / t}')"
    fi

    # Small writes: 4 KiB at random 4 KiB-aligned offsets of a 1 MiB scratch file per connection.
    bench_run write4k_c16 --conns 16 --depth 1 --write-pct 100 --read-size 4096
    # The same writes, each followed by an FSYNC of its file: a request ends when it is durable.
    bench_run write4k_fsync_c16 --conns 16 --depth 1 --write-pct 100 --read-size 4096 --fsync
    fsync_beside_writer

    # Users as they feel it (open loop): each user has one request outstanding and thinks
    # for an exponentially distributed second after each reply; latency counts from when the
    # user meant to send.  Files: 8 of the 4 MiB set (cached), reads of 4..64 KiB.
    for f in $(seq -f '/set/f%02g.bin' 0 7); do get_file "$f" >/dev/null; done
    set_files=$(seq -f '/set/f%02g.bin' 0 7 | paste -sd,)
    # Latency against offered load: the same mix at fixed Poisson rates over 64 connections,
    # stepping up until the server falls behind (under 90% of the offered rate completed):
    # that step, past saturation, is the last.
    for r in $rate_list; do
        bench_run "rate_r$r" --rate "$r" --conns 64 --depth 64 --mix "$mix" --files "$set_files" || break
        emit "rate_r$r" offered "$r"
        got=$(rps "rate_r$r")
        [ -n "$got" ] || break
        awk -v g="$got" -v r="$r" 'BEGIN {exit !(g < 0.9 * r)}' && break
    done
    emit users_mix users "$users"
    bench_run users_mix --users "$users" --conns "$users" --think "$users_think_ms" --mix "$mix" \
        --files "$(seq -f '/set/f%02g.bin' 0 7 | paste -sd,)"
fi

if [ "$phase" = scale ]; then
    # The cached-read workload at 5000 and 10000 connections, on a fresh boot: a server that
    # cannot carry them (a Linux ncpd OOM-killed) keeps its other figures.
    get_file /hot/h16.bin >/dev/null
    for c in $conns_list; do
        [ "$c" -gt 1000 ] && bench_run "read4k_c$c" --conns "$c" --depth 1 --files /hot/h16.bin --read-size 4096
    done
fi

if [ "$phase" = mount ]; then
    ncpfs=$here/build/ncpfs
    mnt=$(mktemp -d "${TMPDIR:-/tmp}/wtd-bench-mnt.XXXXXX")
    fs_pid=""
    unmount() {
        [ -n "$fs_pid" ] || return 0
        fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
        kill "$fs_pid" 2>/dev/null; wait "$fs_pid" 2>/dev/null
        fs_pid=""
    }
    # mount_fresh: a new ncpfs process (a long request timeout: TCG is slow), waits for it.
    mount_fresh() {
        unmount
        nsenter --net="/run/netns/$ns" "$ncpfs" -s "$ip:524" -u guest -o timeout=120 -f "$mnt" \
            2>>"$logdir/$sys.ncpfs.log" &
        fs_pid=$!
        for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && return 0; sleep 0.1; done
        return 1
    }
    # fio_fig WORKLOAD FIELD(7 read KiB/s, 8 read IOPS, 48 write KiB/s) FIO-ARGS...: one fio
    # job in $mnt/fio (terse output; KiB/s become MB/s).
    fio_fig() {
        local w=$1 f=$2; shift 2
        local out
        out=$(timeout -k 5 $((dur * 3 + 300)) fio --name="$w" --directory="$mnt/fio" --ioengine=psync \
            --minimal "$@" 2>"$logdir/$sys.$w.err")
        echo "$out" > "$logdir/$sys.$w.txt"
        local x; x=$(echo "$out" | awk -F';' -v f="$f" 'NF > 100 {print $f; exit}')
        if [ -z "$x" ] || [ "$x" = 0 ]; then emit "$w" error "$(tail -1 "$logdir/$sys.$w.err" | tr ' ' '_' | cut -c1-60)"
        elif [ "$f" = 8 ]; then emit "$w" iops "$x"
        else emit "$w" mb_per_s "$(awk -v k="$x" 'BEGIN {printf "%.2f", k * 1024 / 1e6}')"; fi
    }
    if ! command -v fio >/dev/null || ! command -v dbench >/dev/null || ! command -v nsenter >/dev/null ||
        ! [ -c /dev/fuse ] || ! [ -x "$ncpfs" ]; then
        for w in mount_seq64m fio_seq_write fio_seq_read fio_rand4k dbench_c1 dbench_c8 dbench_c32; do
            emit "$w" error no_fuse_fio_dbench_or_ncpfs
        done
    elif mount_fresh; then
        get_file /seq/random64.bin >/dev/null                   # the server's cache warm
        s=$(get_file /seq/random64.bin)
        [ -n "$s" ] && emit mount_get_seq64m mb_per_s "$(awk -v s="$s" 'BEGIN {printf "%.2f", 67108864 / s / 1e6}')"
        t0=$(now)
        if timeout 300 cat "$mnt/seq/random64.bin" > /dev/null; then
            m=$(echo "$(now) $t0" | awk '{printf "%.2f", 67108864 / ($1 - $2) / 1e6}')
            emit mount_seq64m mb_per_s "$m"
            [ -n "$s" ] && emit mount_seq64m vs_get_pct "$(awk -v m="$m" -v s="$s" 'BEGIN {printf "%.1f", 100 * m / (67108864 / s / 1e6)}')"
        else
            emit mount_seq64m error read_failed
        fi
        mkdir -p "$mnt/fio"
        fio_fig fio_seq_write 48 --rw=write --bs=1M --size=64M --end_fsync=1
        mount_fresh && fio_fig fio_seq_read 7 --rw=read --bs=1M --size=64M
        mount_fresh && fio_fig fio_rand4k 8 --rw=randread --bs=4k --size=64M --time_based --runtime="$dur"
        # dbench: NetBench's load (dbench's client.txt), each count in a directory of its own.
        if [ "$quick" = 1 ]; then dbench_s=10; else dbench_s=30; fi
        for n in 1 8 32; do
            mount_fresh || { emit "dbench_c$n" error no_mount; continue; }
            mkdir -p "$mnt/dbench$n"
            out=$(timeout -k 5 $((dbench_s * 4 + 300)) dbench -D "$mnt/dbench$n" -t "$dbench_s" "$n" 2>&1)
            echo "$out" > "$logdir/$sys.dbench_c$n.txt"
            tp=$(echo "$out" | sed -n 's/^Throughput \([0-9.]*\) MB\/sec.*/\1/p' | tail -1)
            lat=$(echo "$out" | sed -n 's/^Throughput .*max_latency=\([0-9.]*\) ms.*/\1/p' | tail -1)
            if [ -n "$tp" ]; then
                emit "dbench_c$n" mb_per_s "$tp"
                [ -n "$lat" ] && emit "dbench_c$n" max_latency_ms "$lat"
            else
                emit "dbench_c$n" error "$(echo "$out" | tail -1 | tr ' ' '_' | cut -c1-60)"
            fi
            rm -rf "$mnt/dbench$n"
        done
    else
        for w in mount_seq64m fio_seq_write fio_seq_read fio_rand4k dbench_c1 dbench_c8 dbench_c32; do
            emit "$w" error no_mount
        done
    fi
    unmount
    rmdir "$mnt" 2>/dev/null
fi

if [ "$phase" = miss ]; then
    # The first K files of set/ (4 MiB each); with a cache of C MiB the steady-state miss
    # ratio of uniform random reads is about 1 - C/(4K).  Each set is read once in order
    # first so the run starts from a full cache rather than a cold one.
    for pair in 0:6 10:9 20:10 50:16; do
        pct=${pair%%:*} k=${pair#*:}
        files=$(seq -f '/set/f%02g.bin' 0 $((k - 1)) | paste -sd,)
        alive && for f in ${files//,/ }; do get_file "$f" >/dev/null; done
        m0=$(server_counter cache.misses) nb0=$(server_counter cache.nb_misses)
        bench_run "miss$pct" --conns 64 --depth 1 --files "$files" --read-size 4096
        m1=$(server_counter cache.misses) nb1=$(server_counter cache.nb_misses)
        # Measured: the server's cache misses (cache.misses, 4 KiB blocks) per completed read.
        # (Misses over all lookups would be diluted by the inode and indirect-block lookups.)
        done_n=$(grep -o '"completed":[0-9]*' "$logdir/$sys.miss$pct.json" 2>/dev/null | head -1 | cut -d: -f2)   # the total (the per-kind count follows)
        if [ -n "$m0" ] && [ -n "$m1" ] && [ "${done_n:-0}" -gt 0 ]; then
            emit "miss$pct" measured_miss_pct "$(awk -v m=$((m1 - m0)) -v n="$done_n" 'BEGIN {printf "%.1f", 100 * m / n}')"
        fi
        # Fast-path (non-blocking) lookups that missed and were handed to a blocking worker.
        if [ -n "${nb0:-}" ] && [ -n "${nb1:-}" ] && [ "${done_n:-0}" -gt 0 ]; then
            emit "miss$pct" nb_miss_pct "$(awk -v m=$((nb1 - nb0)) -v n="$done_n" 'BEGIN {printf "%.1f", 100 * m / n}')"
        fi
        emit "miss$pct" set_mb $((k * 4))
    done
    # Block-device reads in the Linux guest (its counters service), to show the page cache
    # below ncpd's cache was squeezed: sectors read from its disk (/dev/sda, or /dev/vda on virtio) so far.
    c=$(in_ns timeout 5 bash -c "exec 3<>/dev/tcp/$ip/8 && cat <&3" 2>/dev/null | awk '$1 == "sda" || $1 == "vda" {print $4}')
    [ -n "$c" ] && emit miss_all disk_read_mb "$((c / 2048))"
fi
exit 0
