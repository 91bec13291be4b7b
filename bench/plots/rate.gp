# rate.gp - p99 latency against offered load (open loop, the file-server mix), one plot per
# device kind (KIND), all that kind's systems on one plot.
# Input: DATA (columns: offered req/s, then completed req/s and p99 ms per system, in the
# order of SYSTEMS); PICK: the 1-based positions in SYSTEMS of this kind's systems.
# Use: gnuplot -e "DATA='rate.dat'; OUT='dir'; SYSTEMS='a b c'; PICK='1 3'; KIND='e1000'" rate.gp
set terminal pngcairo size 800,500 font ",10"
set logscale x
set logscale y
set key outside right top
set grid
set xlabel "offered load, requests/s (Poisson arrivals over 64 connections)"
set ylabel "p99 latency from the intended send time, ms"
set output OUT."/rate_p99_".KIND.".png"
set title "p99 latency against offered load (".KIND." devices; read 70, stat 15, readdir 10, write 5)"
plot for [k in PICK] DATA u 1:(column(2 * int(k) + 1)) w lp lw 2 pt 7 t word(SYSTEMS, int(k))
