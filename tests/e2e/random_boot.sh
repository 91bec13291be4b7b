#!/usr/bin/env bash
# random_boot.sh - the kernel CSPRNG's seeding, seen from outside (kernel/random.c).
# Two boots under `-icount` with RDRAND (QEMU TCG: the host's getrandom) must differ.  (The
# guest TSC is not quite the same on every -icount boot here -- device I/O during boot still
# completes in host time -- so this alone does not prove the TSC seed is gone; the in-guest
# random_rdrand_only_seed does, seeding from RDRAND with no TSC involved.)  On a CPU without RDRAND (qemu64) the kernel must say so on the console, and if
# its jitter-only seed repeats under -icount it must also have warned that it is predictable.
# Output per docs/conventions.md: ok/FAIL lines and "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/e2e/suite_lib.sh

if ! make --no-print-directory all test-image >/tmp/random_e2e_build.$$ 2>&1; then
    bad random_build "$(tail -5 /tmp/random_e2e_build.$$)"
    rm -f /tmp/random_e2e_build.$$
    finish
fi
rm -f /tmp/random_e2e_build.$$
T=$(mktemp -d /tmp/random-e2e.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
head -c 1048576 /dev/zero > "$T/blank.img"    # a disk with no file system: nothing is written

# boot NAME CPU PATTERN [run.sh options]: the guest log in $T/NAME.log; status 0 if its tests passed.
# Through the GRUB ISO, as a user's machine boots: under -icount the PVH path is deterministic
# from QEMU's start to the kernel's seeding, so two jitter-only boots seed alike and nothing the
# kernel can measure tells it so (docs/security.md, "Random numbers").
boot() {
    local name=$1 cpu=$2 pattern=$3
    shift 3
    scripts/run.sh --boot iso --test --net none --disk "$T/blank.img" --cpu "$cpu" --timeout 300 --log "$T/$name.log" "$@" \
        -- "test=$pattern" >/dev/null 2>&1
}
first_output() { grep -a '^random first output: ' "$T/$1.log" | head -1 | awk '{print $4}'; }
first_tsc() { grep -a '^random first output: ' "$T/$1.log" | head -1 | sed 's/.*(TSC \([0-9]*\)).*/\1/'; }

boot a 'qemu64,+rdrand' random_boot_output --icount; rc_a=$?
boot b 'qemu64,+rdrand' random_boot_output --icount; rc_b=$?
oa=$(first_output a) ob=$(first_output b)
if [ "$rc_a" = 0 ] && [ "$rc_b" = 0 ] && [ -n "$oa" ] && [ -n "$ob" ] && [ "$oa" != "$ob" ]; then
    ok "random_icount_boots_with_rdrand_differ ($oa vs $ob; guest TSC then $(first_tsc a) vs $(first_tsc b))"
else
    bad random_icount_boots_with_rdrand_differ "status $rc_a/$rc_b, first outputs '$oa' and '$ob'"
fi
if grep -aq '^random: ChaCha20 seeded from RDRAND (1024 words)' "$T/a.log"; then
    ok random_rdrand_cpu_seeds_from_rdrand
else
    bad random_rdrand_cpu_seeds_from_rdrand "console: $(grep -a '^random:' "$T/a.log" | tr '\n' '|')"
fi

boot c qemu64 random_boot_output --icount; rc_c=$?
boot d qemu64 random_boot_output --icount; rc_d=$?
oc=$(first_output c) od=$(first_output d)
if [ "$rc_c" = 0 ] && grep -aq '^random: no working RDRAND or RDSEED on this CPU: seeded from timing jitter only' "$T/c.log"; then
    ok random_no_hw_source_said_on_console
else
    bad random_no_hw_source_said_on_console "status $rc_c, console: $(grep -a '^random:' "$T/c.log" | tr '\n' '|')"
fi
# Jitter under -icount may or may not vary; if the seed repeated, the kernel must have warned.
warned=0
grep -aq '^random: WARNING: timing jitter looks deterministic: the seed is predictable' "$T/c.log" && warned=1
if [ "$rc_d" != 0 ] || [ -z "$oc" ] || [ -z "$od" ]; then
    bad random_icount_jitter_only_honest "status $rc_c/$rc_d, first outputs '$oc' and '$od'"
elif [ "$oc" = "$od" ] && [ "$warned" = 0 ]; then
    bad random_icount_jitter_only_honest "two -icount boots without RDRAND gave the same output $oc and no warning"
else
    ok "random_icount_jitter_only_honest (outputs $oc vs $od, warned $warned)"
fi

# The in-guest generator tests on a CPU without RDRAND, without -icount (the jitter-only path).
if boot e qemu64 'random_*' && grep -aq 'no RDRAND or RDSEED on this CPU: checked' "$T/e.log"; then
    ok "random_guest_tests_without_rdrand ($(grep -acE '^ok ' "$T/e.log") guest tests)"
else
    bad random_guest_tests_without_rdrand "$(grep -aE '^(FAIL|random:)|passed' "$T/e.log" | tr '\n' '|')"
fi
finish
