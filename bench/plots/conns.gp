# conns.gp - requests/s and p99 latency of 4 KiB cached reads against connections, all systems.
# Input: DATA (columns: conns, then req/s and p99 ms for worktodo, linux-epoll, linux-threads).
# Use: gnuplot -e "DATA='conns.dat'; OUT='dir'" conns.gp
set terminal pngcairo size 800,500 font ",10"
set logscale x
set key outside right top
set grid
set xlabel "connections (one request in flight each)"
set output OUT."/read4k_rps.png"
set title "4 KiB cached reads: requests/s"
set ylabel "requests/s"
set yrange [0:*]
plot DATA u 1:2 w lp lw 2 pt 7 t "worktodo", \
     DATA u 1:4 w lp lw 2 pt 5 t "linux-epoll", \
     DATA u 1:6 w lp lw 2 pt 9 t "linux-threads"
set output OUT."/read4k_p99.png"
set title "4 KiB cached reads: p99 latency (client side)"
set ylabel "p99 latency, ms"
set logscale y
set yrange [*:*]
plot DATA u 1:3 w lp lw 2 pt 7 t "worktodo", \
     DATA u 1:5 w lp lw 2 pt 5 t "linux-epoll", \
     DATA u 1:7 w lp lw 2 pt 9 t "linux-threads"
