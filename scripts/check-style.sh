#!/usr/bin/env bash
# check-style.sh [--count] [DIR|FILE...] - the layout rules of docs/conventions.md that a
# script can see, in the C files (*.c, *.h) of the given directories (default: proto server):
#   multiple-statements  two statements on one line (`a; b;`, `if (x) a; b;`)
#   body-on-control-line a statement on the line of its if/else/for/while (`if (x) return;`)
#   tab-indent           indentation with a tab (the style is 4 spaces)
# Comments, strings, character literals and preprocessor lines (macro bodies included) are
# not looked at; `for (a; b; c)` is one statement.  One line a finding, "FILE:LINE: RULE:
# text", then a count per rule and `N passed, N failed, N skipped` (one check per rule);
# exit status 1 if anything was found.  --count prints only the counts.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
count_only=0
[ "${1:-}" = --count ] && { count_only=1; shift; }
[ $# -gt 0 ] || set -- proto server
files=$(find "$@" -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
[ -n "$files" ] && awk '
function report(rule, text) { printf "%s:%d: %s: %s\n", FILENAME, FNR, rule, text }
FNR == 1 { in_comment = 0; in_macro = 0 }
{
    raw = $0
    if (in_macro) { in_macro = (raw ~ /\\$/); next }
    if (raw ~ /^[ \t]*#/) { in_macro = (raw ~ /\\$/); next }
    if (raw ~ /^ *\t/ && !in_comment) report("tab-indent", raw)
    # strip comments, strings and character literals, keeping the code
    code = ""; n = length(raw); i = 1
    while (i <= n) {
        c = substr(raw, i, 1); c2 = substr(raw, i, 2)
        if (in_comment) {
            if (c2 == "*/") { in_comment = 0; i += 2 } else i++
            continue
        }
        if (c2 == "/*") { in_comment = 1; i += 2; continue }
        if (c2 == "//") break
        if (c == "\"" || c == "\047") {
            q = c; i++
            while (i <= n && substr(raw, i, 1) != q) { if (substr(raw, i, 1) == "\\") i++; i++ }
            i++; code = code q q; continue
        }
        code = code c; i++
    }
    # semicolons outside parentheses: statements (a for header is one)
    depth = 0; semis = 0; ctl_end = 0
    ctl = (code ~ /^[ \t]*(}[ \t]*)?(else[ \t]+)?(if|for|while|switch)[ \t]*\(/)
    for (i = 1; i <= length(code); i++) {
        c = substr(code, i, 1)
        if (c == "(") depth++
        else if (c == ")") { depth--; if (depth == 0 && ctl && !ctl_end) ctl_end = i }
        else if (c == ";" && depth == 0) semis++
    }
    if (semis >= 2) { report("multiple-statements", raw); next }
    if (ctl && ctl_end) {
        rest = substr(code, ctl_end + 1)
        if (rest ~ /^[ \t]*[^ \t{;]/ && rest ~ /;/) report("body-on-control-line", raw)
    } else if (code ~ /^[ \t]*(}[ \t]*)?else[ \t]+[^ \t{i]/ && code ~ /;/) {
        report("body-on-control-line", raw)
    }
}' $files > "$out"
pass=0 fail=0
for rule in multiple-statements body-on-control-line tab-indent; do
    n=$(grep -c ": $rule: " "$out")
    if [ "$count_only" = 0 ]; then grep ": $rule: " "$out"; fi
    if [ "$n" = 0 ]; then
        echo "ok style_$rule"
        pass=$((pass + 1))
    else
        echo "FAIL style_$rule: $n lines in $*"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
