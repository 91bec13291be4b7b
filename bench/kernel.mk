# In-kernel benchmarks (run with the kernel option bench=NAME; see scripts/bench-wtd.sh):
# test kernel only (build/worktodo-test.elf).
KTEST_KDIRS += bench
