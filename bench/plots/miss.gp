# miss.gp - requests/s of 4 KiB random reads against the nominal cache-miss ratio, 64
# connections, one plot per device kind (KIND).
# Input: DATA (columns: miss %, then req/s and p99 ms per system, in the order of SYSTEMS);
# PICK: the 1-based positions in SYSTEMS of this kind's systems.
set terminal pngcairo size 800,500 font ",10"
set key outside right top
set grid
set xlabel "cache misses, % (nominal: file set = cache / (1 - miss))"
set ylabel "requests/s"
set yrange [0:*]
set xrange [-2:52]
set output OUT."/miss_rps_".KIND.".png"
set title "4 KiB random reads over a file set larger than the cache, 64 connections (".KIND." devices)"
plot for [k in PICK] DATA u 1:(column(2 * int(k))) w lp lw 2 pt 7 t word(SYSTEMS, int(k))
