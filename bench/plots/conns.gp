# conns.gp - requests/s and p99 latency of 4 KiB cached reads against connections, one pair
# of plots per device kind (KIND), all that kind's systems on each.
# Input: DATA (columns: conns, then req/s and p99 ms per system, in the order of SYSTEMS);
# PICK: the 1-based positions in SYSTEMS of this kind's systems.
# Use: gnuplot -e "DATA='conns.dat'; OUT='dir'; SYSTEMS='a b c'; PICK='1 2'; KIND='e1000'" conns.gp
set terminal pngcairo size 800,500 font ",10"
set logscale x
set key outside right top
set grid
set xlabel "connections (one request in flight each)"
set output OUT."/read4k_rps_".KIND.".png"
set title "4 KiB cached reads: requests/s (".KIND." devices)"
set ylabel "requests/s"
set yrange [0:*]
plot for [k in PICK] DATA u 1:(column(2 * int(k))) w lp lw 2 pt 7 t word(SYSTEMS, int(k))
set output OUT."/read4k_p99_".KIND.".png"
set title "4 KiB cached reads: p99 latency, client side (".KIND." devices)"
set ylabel "p99 latency, ms"
set logscale y
set yrange [*:*]
plot for [k in PICK] DATA u 1:(column(2 * int(k) + 1)) w lp lw 2 pt 7 t word(SYSTEMS, int(k))
