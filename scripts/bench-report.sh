#!/usr/bin/env bash
# bench-report.sh RESULTS.txt COMMAND - turns BENCH lines into build/bench/results.json, the
# gnuplot data and PNG plots (bench/plots/*.gp -> build/bench/*.png), and the generated
# results section of docs/benchmarks.md (between the bench-results markers; appended if absent).
# COMMAND is the command line that produced the results, quoted in the document.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
res=$1 cmd=$2
out=$here/build/bench
doc=$here/docs/benchmarks.md
mkdir -p "$out"
stamp=$(date -u '+%Y-%m-%d %H:%M UTC')
systems="worktodo linux-epoll linux-threads worktodo-virtio linux-epoll-virtio"

# JSON: one object per figure; values that are not numbers (errors) stay strings.
awk -v stamp="$stamp" -v cmd="$cmd" '
    BEGIN { gsub(/"/, "\\\"", cmd); printf "{\"generated\":\"%s\",\"command\":\"%s\",\"results\":[", stamp, cmd }
    $1 == "BENCH" && NF >= 5 {
        v = $5; for (i = 6; i <= NF; i++) v = v " " $i
        if (v !~ /^-?[0-9.]+$/) { gsub(/"/, "", v); v = "\"" v "\"" }
        printf "%s\n{\"system\":\"%s\",\"workload\":\"%s\",\"metric\":\"%s\",\"value\":%s}", n++ ? "," : "", $2, $3, $4, v
    }
    END { print "]}" }' "$res" > "$out/results.json"

# Repeated runs (REPEAT=N in bench.sh) leave several lines per figure: every table and plot
# uses the median of the numeric values (an error only where no run gave a number).
collect='
    BEGIN { CONVFMT = "%.10g"; OFMT = "%.10g" }     # large microsecond figures stay plain
    $1 == "BENCH" && NF >= 5 {
        key_ = $2 SUBSEP $3 SUBSEP $4
        if ($5 ~ /^-?[0-9.]+$/) { n[key_]++; x[key_, n[key_]] = $5 + 0 }
        else if ($4 == "error") err[$2, $3] = $5
    }
    function medians(   kk, i, j, t, m) {
        for (kk in n) {
            m = n[kk]
            for (i = 2; i <= m; i++) for (j = i; j > 1 && x[kk, j - 1] > x[kk, j]; j--) { t = x[kk, j]; x[kk, j] = x[kk, j - 1]; x[kk, j - 1] = t }
            v[kk] = (m % 2) ? x[kk, (m + 1) / 2] : (x[kk, m / 2] + x[kk, m / 2 + 1]) / 2
            runs[kk] = m
        }
    }'

# Gnuplot data: conns.dat (conns; req/s, p99 ms per system) and miss.dat (miss %; same).
table() {  # table PREFIX KEYS...: rows KEY, columns req/s and p99 ms of each system
    local prefix=$1; shift
    awk -v prefix="$prefix" -v keys="$*" -v systems="$systems" "$collect"'
        END {
            medians()
            nk = split(keys, k, " "); ns = split(systems, s, " ")
            for (i = 1; i <= nk; i++) {
                line = k[i]
                for (j = 1; j <= ns; j++) {
                    r = v[s[j], prefix k[i], "req_per_s"]; p = v[s[j], prefix k[i], "p99_us"]
                    line = line " " (r ~ /^[0-9.]+$/ ? r : "NaN") " " (p ~ /^[0-9.]+$/ ? p / 1000 : "NaN")
                }
                print line
            }
        }' "$res"
}
table read4k_c 1 16 64 256 1000 5000 10000 > "$out/conns.dat"
table miss 0 10 20 50 > "$out/miss.dat"
# rate.dat: the latency-against-load curve (offered rate; completed req/s and p99 ms per
# system, in the order of $systems); rate.gp draws one plot per device kind.
rates=$(awk '$1 == "BENCH" && $3 ~ /^rate_r[0-9]+$/ {sub("rate_r", "", $3); print $3}' "$res" | sort -n -u | paste -sd' ')
table rate_r $rates > "$out/rate.dat"
# plot GP DATA PREFIX: one gnuplot script per device kind, over that kind's systems that have a
# figure whose workload starts with PREFIX (a kind not run this time gets no plot).
plot() {
    local gp=$1 data=$2 prefix=$3 kind pick
    for kind in e1000 virtio; do
        pick=$(echo $systems | tr ' ' '\n' | awk -v k="$kind" -v res="$res" -v p="$prefix" '
            BEGIN { while ((getline l < res) > 0) { split(l, f, " "); if (f[1] == "BENCH" && index(f[3], p) == 1 && f[5] ~ /^[0-9.]+$/) has[f[2]] = 1 } }
            (k == "virtio") == ($0 ~ /virtio/) && ($0 in has) {printf "%s%d", sep, NR; sep = " "}')
        [ -n "$pick" ] || continue
        gnuplot -e "DATA='$data'; OUT='$out'; SYSTEMS='$systems'; PICK='$pick'; KIND='$kind'" "$here/bench/plots/$gp" 2>>"$out/gnuplot.log" ||
            echo "bench-report: gnuplot $gp failed (see $out/gnuplot.log)" >&2
    done
}
if command -v gnuplot >/dev/null 2>&1; then
    : > "$out/gnuplot.log"
    plot conns.gp "$out/conns.dat" read4k_c
    plot miss.gp "$out/miss.dat" miss
    [ -n "$rates" ] && plot rate.gp "$out/rate.dat" rate_r
fi

# The generated Markdown section.
section=$(mktemp)
trap 'rm -f "$section"' EXIT
awk -v stamp="$stamp" -v cmd="$cmd" -v systems="$systems" "$collect"'
    function num(x) { return x ~ /^-?[0-9.]+$/ }
    function cell(s, w, m,   x) {          # a figure, or the error of that workload
        x = v[s, w, m]
        if (num(x)) return (m ~ /_us$/) ? sprintf("%.1f", x / 1000) : sprintf("%.0f", x)
        if ((s, w) in err) return "n/a (" err[s, w] ")"
        if (w ~ /^read4k_c/ && (s, "read4k") in err) return "n/a (" err[s, "read4k"] ")"
        return "—"
    }
    function mb(s, w,   x) {
        x = v[s, w, "mb_per_s"]
        if (num(x)) return sprintf("%.1f", x)
        if ((s, w) in err) return "n/a (" err[s, w] ")"
        if (w ~ /^seq64m/ && (s, "seq64m") in err) return "n/a (" err[s, "seq64m"] ")"
        return "—"
    }
    function header(first, cols, ncols,   j, k, hdr, sep) {   # "| first | <system> cols... |"
        hdr = "| " first " |"; sep = "|---:|"; if (first ~ /\|/) sep = sep "---:|"
        for (j = 1; j <= ns; j++) { hdr = hdr " " S[j] " " cols; for (k = 0; k < ncols; k++) sep = sep "---:|" }
        print hdr; print sep
    }
    function figure_header(   j, hdr, sep) {   # "| figure | <system> |..." over every system
        hdr = "| figure |"; sep = "|---|"
        for (j = 1; j <= ns; j++) { hdr = hdr " " S[j] " |"; sep = sep "---:|" }
        print hdr; print sep
    }
    function mb_row(label, w,   j, line) {    # one row of MB/s figures
        line = "| " label " |"
        for (j = 1; j <= ns; j++) line = line " " mb(S[j], w) " |"
        print line
    }
    function ran(w,   j) {                   # some system has a figure or an error for w
        for (j = 1; j <= ns; j++) if ((S[j], w, "req_per_s") in v || (S[j], w) in err) return 1
        return 0
    }
    function freemem(s, w,   a) {
        if (!num(v[s, w, "mem_free_min_mb"])) return "—"
        a = v[s, w, "mem_free_after_mb"]
        return sprintf("%.0f / %.0f / %s", v[s, w, "mem_free_before_mb"], v[s, w, "mem_free_min_mb"], num(a) ? sprintf("%.0f", a) : "—")
    }
    function ratio(s, w, m,   a, b) {        # this system against linux-epoll on the same device kind
        a = v[s, w, m]; b = v[(s ~ /-virtio$/ ? "linux-epoll-virtio" : "linux-epoll"), w, m]
        return (num(a) && num(b) && b > 0) ? sprintf("%.2fx", a / b) : "—"
    }
    END {
        medians()
        maxruns = 1; for (kk in runs) if (runs[kk] > maxruns) maxruns = runs[kk]
        ns = split(systems, S, " ")
        print "### Results"
        print ""
        print "Generated " stamp " by `scripts/bench-report.sh` from the output of:"
        print ""
        print "```"
        print cmd
        print "```"
        print ""
        print "Raw figures: `build/bench/results.txt` (the `BENCH` lines) and `build/bench/results.json`;"
        print "per-run ncpc output and guest consoles in `build/bench/logs/`.  `n/a (unavailable)`: the"
        print "system did not answer on port 524 (see the notes below)."
        if (maxruns > 1) { print ""; print "Each figure is the median of " maxruns " runs (rounds over the systems in turn)." }
        print ""
        print "**4 KiB cached reads** (`ncpc bench --depth 1 --read-size 4096 --files /hot/h16.bin`):"
        print "requests/s, ratio to linux-epoll on the same devices (e1000/AHCI, or virtio for the -virtio systems), p99 latency in ms (measured at the client)."
        print ""
        header("conns", "req/s | x epoll | p99 ms |", 3)
        split("1 16 64 256 1000 5000 10000", C, " ")
        for (i = 1; i <= 7; i++) {
            w = "read4k_c" C[i]
            if (!ran(w)) continue
            line = "| " C[i] " |"
            for (j = 1; j <= ns; j++) line = line " " cell(S[j], w, "req_per_s") " | " ratio(S[j], w, "req_per_s") " | " cell(S[j], w, "p99_us") " |"
            print line
        }
        print ""
        print "**Scale**: the runs of 1000 connections and more -- connections live, request errors,"
        print "the server'"'"'s free memory in MiB before / lowest during / after the run (WorkToDo"
        print "`mem.free_kib`, Linux `MemAvailable`; counters every 3 s in `build/bench/logs/*.counters`)."
        print ""
        header("conns", "live | errors | free MiB |", 3)
        split("1000 5000 10000", B, " ")
        for (i = 1; i <= 3; i++) {
            w = "read4k_c" B[i]
            if (!ran(w)) continue
            line = "| " B[i] " |"
            for (j = 1; j <= ns; j++)
                line = line " " cell(S[j], w, "conns_live") " | " cell(S[j], w, "errors") " | " freemem(S[j], w) " |"
            print line
        }
        print ""
        print "**Cache misses**: 4 KiB random reads, 64 connections, over the first K 4 MiB files of"
        print "`/set` with a 32 MiB file cache (WorkToDo `bcache.mb=32`; Linux `ncpd --cache-mb 32` in a"
        print "memory cgroup leaving ~16 MiB of page cache).  Nominal miss ratio = 1 - 32/set size;"
        print "measured = the server'"'"'s `cache.misses` per completed read."
        print ""
        header("miss % | set MiB", "req/s | x epoll | p99 ms | measured miss % |", 4)
        split("0 10 20 50", M, " ")
        for (i = 1; i <= 4; i++) {
            w = "miss" M[i]; setmb = ""
            for (j = 1; j <= ns; j++) if (num(v[S[j], w, "set_mb"])) setmb = v[S[j], w, "set_mb"]
            line = "| " M[i] " | " setmb " |"
            for (j = 1; j <= ns; j++) line = line " " cell(S[j], w, "req_per_s") " | " ratio(S[j], w, "req_per_s") " | " cell(S[j], w, "p99_us") " | " (num(v[S[j], w, "measured_miss_pct"]) ? sprintf("%.1f", v[S[j], w, "measured_miss_pct"]) : "—") " |"
            print line
        }
        print ""
        print "**Streams and writes**: raw TCP ceiling (source service, port 19), sequential 64 MiB"
        print "reads with `ncpc get` (cold: first read after boot; warm: second), and 4 KiB writes"
        print "(`ncpc bench --write-pct 100 --conns 16 --depth 1`, without and with `--fsync`: each write"
        print "followed by an FSYNC of its file, the pair counted as one request); and one connection"
        print "writing 4 KiB + FSYNC pairs into its own file while another puts a 32 MiB file over and"
        print "over as fast as it goes (`fsync_beside_writer`)."
        print ""
        figure_header()
        mb_row("TCP source, MB/s", "tcp_source")
        mb_row("64 MiB get cold, MB/s", "seq64m_cold")
        mb_row("64 MiB get warm, MB/s", "seq64m_warm")
        line = "| warm get / TCP ceiling |"
        for (j = 1; j <= ns; j++) { a = v[S[j], "seq64m_warm", "mb_per_s"]; b = v[S[j], "tcp_source", "mb_per_s"]; line = line " " ((num(a) && num(b) && b > 0) ? sprintf("%.0f%%", 100 * a / b) : "—") " |" }
        print line
        line = "| 4 KiB writes, req/s |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "write4k_c16", "req_per_s") " |"; print line
        line = "| 4 KiB writes, p99 ms |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "write4k_c16", "p99_us") " |"; print line
        line = "| 4 KiB writes + fsync, req/s |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "write4k_fsync_c16", "req_per_s") " |"; print line
        line = "| 4 KiB writes + fsync, p99 ms |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "write4k_fsync_c16", "p99_us") " |"; print line
        line = "| write + fsync beside a full-speed writer, p99 ms |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "fsync_beside_writer", "p99_us") " |"; print line
        line = "| write + fsync beside a full-speed writer, p99.9 ms |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "fsync_beside_writer", "p999_us") " |"; print line
        line = "| write + fsync beside a full-speed writer, pairs/s |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "fsync_beside_writer", "req_per_s") " |"; print line
        line = "| the full-speed writer meanwhile, MB/s |"; for (j = 1; j <= ns; j++) line = line " " (num(v[S[j], "fsync_beside_writer", "writer_mb_s"]) ? sprintf("%.1f", v[S[j], "fsync_beside_writer", "writer_mb_s"]) : "—") " |"; print line
        line = "| boot to serving, s |"; for (j = 1; j <= ns; j++) line = line " " (num(v[S[j], "boot", "serving_ms"]) ? sprintf("%.2f", v[S[j], "boot", "serving_ms"] / 1000) : "—") " |"; print line
        line = "| boot to serving via GRUB ISO, s |"; for (j = 1; j <= ns; j++) line = line " " (num(v[S[j], "boot_iso", "serving_ms"]) ? sprintf("%.2f", v[S[j], "boot_iso", "serving_ms"] / 1000) : "—") " |"; print line
        print ""
        print "**Cost per request** (`scripts/bench-cost.sh`, counted, not timed: WorkToDo under"
        print "`-icount shift=0,sleep=on` where the TSC counts guest instructions while it runs: `cpu.tsc -"
        print "cpu.idle_tsc` from STATS, less the 1 kHz timer'"'"'s ticks at an idle tick'"'"'s cost (the ticks a"
        print "request sees follow the host'"'"'s latency); device-register"
        print "accesses traced by QEMU (`memory_region_ops_read/write`, the TCG counterpart of VM exits,"
        print "the local APIC'"'"'s EOIs and timer apart; per region in `build/bench/logs/*.exits`); device"
        print "interrupts from the kernel'"'"'s counts.  `get16m`: per 4 KiB of a cached 16 MiB `ncpc get`."
        print ""
        print "| workload | e1000: instructions | exits | irqs | virtio: instructions | exits | irqs |"
        print "|---|---:|---:|---:|---:|---:|---:|"
        split("read4k_c1 read4k_c16 get16m", CW, " ")
        for (i = 1; i <= 3; i++) {
            w = "cost_" CW[i]; line = "| " CW[i] " |"
            for (j = 1; j <= 2; j++) {
                sy = (j == 1) ? "worktodo" : "worktodo-virtio"
                line = line " " (num(v[sy, w, "instr_per_req"]) ? sprintf("%.0f", v[sy, w, "instr_per_req"]) : "—") \
                            " | " (num(v[sy, w, "exits_per_req"]) ? sprintf("%.2f", v[sy, w, "exits_per_req"]) : "—") \
                            " | " (num(v[sy, w, "irqs_per_req"]) ? sprintf("%.2f", v[sy, w, "irqs_per_req"]) : "—") " |"
            }
            print line
        }
        print ""
        print "**Through the mount** (`build/ncpfs`, the same client for every system, on a boot of its"
        print "own with the volume grown to 2 GiB): the 64 MiB file read with `cat` against `ncpc get` of"
        print "the same file (server cache warm, client page cache empty); fio with `--ioengine=psync`:"
        print "64 MiB written in 1 MiB blocks (with a final fsync), read back in 1 MiB blocks, and 4 KiB"
        print "random reads; dbench (NetBench'"'"'s load, `client.txt`) with 1, 8 and 32 clients."
        print ""
        figure_header()
        mb_row("64 MiB `ncpc get`, MB/s", "mount_get_seq64m")
        mb_row("64 MiB `cat` on the mount, MB/s", "mount_seq64m")
        line = "| mount / get |"; for (j = 1; j <= ns; j++) line = line " " (num(v[S[j], "mount_seq64m", "vs_get_pct"]) ? sprintf("%.0f%%", v[S[j], "mount_seq64m", "vs_get_pct"]) : "—") " |"; print line
        mb_row("fio sequential write, MB/s", "fio_seq_write")
        mb_row("fio sequential read, MB/s", "fio_seq_read")
        line = "| fio 4 KiB random read, IOPS |"; for (j = 1; j <= ns; j++) line = line " " cell(S[j], "fio_rand4k", "iops") " |"; print line
        split("1 8 32", D, " ")
        for (i = 1; i <= 3; i++) {
            w = "dbench_c" D[i]
            line = "| dbench " D[i] ", MB/s |"; for (j = 1; j <= ns; j++) line = line " " mb(S[j], w) " |"; print line
            line = "| dbench " D[i] ", x epoll |"; for (j = 1; j <= ns; j++) line = line " " ratio(S[j], w, "mb_per_s") " |"; print line
            line = "| dbench " D[i] ", max latency ms |"; for (j = 1; j <= ns; j++) line = line " " (num(v[S[j], w, "max_latency_ms"]) ? sprintf("%.0f", v[S[j], w, "max_latency_ms"]) : "—") " |"; print line
        }
        print ""
        print "Boot to serving: wall time from starting QEMU to the first answered PING of the file"
        print "protocol, polled about every 20 ms (a 0.05 s TCP probe of port 524, then the PING).  WorkToDo"
        print "boots through its PVH entry (QEMU `-kernel` under qboot, no GRUB, no NIC option ROM, no display:"
        print "the tests'"'"' and benchmarks'"'"' path); the ISO row is `make run`'"'"'s"
        print "path.  The Linux guest boots Debian'"'"'s kernel with `-kernel` and an initramfs."
        print ""
        print "Plots, one per device kind (KIND = e1000 or virtio): `build/bench/read4k_rps_KIND.png`,"
        print "`build/bench/read4k_p99_KIND.png`, `build/bench/miss_rps_KIND.png`, and p99 latency against"
        print "offered load (the mix, open loop, 64 connections) `build/bench/rate_p99_KIND.png`"
        print "(copies of this run in `docs/img/`)."
    }' "$res" > "$section"

begin='<!-- bench-results:begin -->' end='<!-- bench-results:end -->'
if grep -qF "$begin" "$doc"; then
    awk -v b="$begin" -v e="$end" -v f="$section" '
        $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip' "$doc" > "$doc.tmp"
    mv "$doc.tmp" "$doc"
else
    { echo; echo "$begin"; cat "$section"; echo "$end"; } >> "$doc"
fi
# Small PNGs are worth keeping with the document.
mkdir -p "$here/docs/img"
for p in read4k_rps_e1000 read4k_p99_e1000 miss_rps_e1000 rate_p99_e1000 read4k_rps_virtio read4k_p99_virtio miss_rps_virtio rate_p99_virtio; do
    [ -f "$out/$p.png" ] && [ "$(stat -c %s "$out/$p.png")" -lt 204800 ] && cp "$out/$p.png" "$here/docs/img/bench-$p.png"
done
echo "bench-report: $out/results.json, plots in $out, results section in docs/benchmarks.md" >&2
