# miss.gp - requests/s of 4 KiB random reads against the nominal cache-miss ratio, 64 connections.
# Input: DATA (columns: miss %, then req/s and p99 ms for worktodo, linux-epoll, linux-threads).
set terminal pngcairo size 800,500 font ",10"
set key outside right top
set grid
set xlabel "cache misses, % (nominal: file set = cache / (1 - miss))"
set ylabel "requests/s"
set yrange [0:*]
set xrange [-2:52]
set output OUT."/miss_rps.png"
set title "4 KiB random reads over a file set larger than the cache, 64 connections"
plot DATA u 1:2 w lp lw 2 pt 7 t "worktodo", \
     DATA u 1:4 w lp lw 2 pt 5 t "linux-epoll", \
     DATA u 1:6 w lp lw 2 pt 9 t "linux-threads"
