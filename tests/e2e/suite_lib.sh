# suite_lib.sh - the one shell harness of the suite scripts (tests/e2e/*.sh, and under
# scripts/ every script that prints counts).  Sourced, not run (scripts/test.sh treats
# tests/e2e/*lib.sh as libraries; every other tests/e2e/*.sh must be executable).
# Output per docs/conventions.md:
#   ok NAME                 one passed check
#   bad NAME WHY            one failed check: "FAIL NAME: WHY" (fail NAME WHY is the same)
#   skip NAME WHY           one check that cannot run here: "skip NAME: WHY" (never a pass)
#   finish                  prints "N passed, N failed, N skipped" and EXITS the script:
#                           status 0 only if nothing failed (after a failure it first calls
#                           the script's failure_report, if it has one)
#   fsck_clean NAME IMAGE   ok/bad: e2fsck -fn finds IMAGE clean (scripts/e2fsck-clean.sh:
#                           exit status and output both)
#   fsck_problems IMAGE     what e2fsck -fn has to say about IMAGE; empty when clean
#   read_counts FILE        sets sp sf ss from FILE's last summary line ("N passed,
#                           N failed" with or without ", N skipped"); status 1 if none
# WTD_TOP is the top of the tree.
WTD_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pass=0 fail=0 skipped=0
ok()   { echo "ok $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1: ${2:-}"; fail=$((fail + 1)); }
fail() { bad "$@"; }
skip() { echo "skip $1: ${2:-}"; skipped=$((skipped + 1)); }
finish() {
    [ "$fail" != 0 ] && declare -F failure_report >/dev/null && failure_report
    echo "$pass passed, $fail failed, $skipped skipped"
    [ "$fail" = 0 ]
    exit $?
}

fsck_clean() {
    local out
    if out=$("$WTD_TOP/scripts/e2fsck-clean.sh" "$2" 2>&1); then
        ok "$1"
    else
        bad "$1" "$(printf '%s\n' "$out" | grep -avE '^(e2fsck [0-9]|Pass [1-5]: |$)' | head -12 | tr '\n' '|')"
    fi
}

fsck_problems() { "$WTD_TOP/scripts/e2fsck-clean.sh" "$1" 2>&1; }

SUMMARY_RE='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'
read_counts() {
    local line
    line=$(tr -d '\r\000' < "$1" | grep -aE "$SUMMARY_RE" | tail -1)
    sp=0 sf=0 ss=0
    [ -n "$line" ] || return 1
    sp=${line%% passed*}
    sf=${line#*, }
    sf=${sf%% failed*}
    case "$line" in *skipped) ss=${line##*failed, }; ss=${ss%% skipped};; esac
    return 0
}
