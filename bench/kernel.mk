# In-kernel benchmarks (run with the kernel option bench=NAME; see scripts/bench-wtd.sh).
EXTRA_KDIRS += bench
