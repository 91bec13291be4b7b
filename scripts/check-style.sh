#!/usr/bin/env bash
# check-style.sh [--count] [--fix | --retab] [DIR|FILE...] - the layout rules of
# docs/conventions.md that a script can see, in the C files (*.c, *.h) of the given
# directories (default: the first two rules in proto and server, tab-indent in every C file
# of the tree outside third_party/ and build/):
#   multiple-statements  two statements on one line (`a; b;`, `if (x) a; b;`)
#   body-on-control-line a statement on the line of its if/else/for/while (`if (x) return;`)
#   tab-indent           indentation with a tab (the style is 4 spaces)
# Comments, strings, character literals and preprocessor lines (macro bodies included) are
# not looked at; `for (a; b; c)` is one statement, and so is a struct or union whose members
# are on one line (`struct { uint32_t handle; uint64_t size; } truncate;`).  One line a finding, "FILE:LINE: RULE:
# text", then a count per rule and `N passed, N failed, N skipped` (one check per rule);
# exit status 1 if anything was found.  --count prints only the counts.  --fix first
# rewrites what is mechanical -- lines without braces: `a; b;` one statement a line, the
# body of an if/else/for/while on a line of its own, 4 spaces in -- and then reports what
# is left (lines with braces, tab indentation) to be fixed by hand.  --retab first
# re-indents the files that have tab indentation, whitespace only (`git diff -w` shows
# nothing, the objects are the same): a line indented with tabs alone gets 4 spaces a tab;
# a line whose indentation has spaces (continuation aligned under the line above, the ` *`
# of a block comment) keeps its distance, at tab width 8, from the nearest line above it
# indented with tabs alone and less deep; a line of only blanks becomes empty.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
count_only=0 fix=0 retab=0
while [ $# -gt 0 ]; do
    case "$1" in
    --count) count_only=1; shift;;
    --fix) fix=1; shift;;
    --retab) retab=1; shift;;
    *) break;;
    esac
done
self_test=0
c_files() { find "$@" \( -path ./third_party -o -path ./build -o -path ./.git \) -prune -o \
    -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null | sed 's|^\./||' | sort; }
if [ $# = 0 ]; then
    files=$(c_files proto server)
    tab_files=$(c_files .)      # tab-indent: everywhere
    self_test=1                 # the default run (the `make test` suite) also checks the checker
else
    files=$(c_files "$@")
    tab_files=$files
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# --retab: FILE is rewritten (see the top).  bases: a stack of (old column, new column) of
# the lines indented with tabs alone, old columns rising; a line with spaces in its
# indentation is placed against the nearest of them less deep than itself.
retab_awk='
function col(ws,    i, c, n) {
    n = 0
    for (i = 1; i <= length(ws); i++) {
        c = substr(ws, i, 1)
        if (c == "\t")
            n += 8 - n % 8
        else
            n++
    }
    return n
}
function spaces(n,    s) {
    s = ""
    while (n-- > 0)
        s = s " "
    return s
}
FNR == 1 {
    top = 1
    old[1] = 0
    new[1] = 0
}
{
    raw = $0
    if (raw ~ /^[ \t]*$/) {
        print (raw ~ /\t/ ? "" : raw)
        next
    }
    ws = raw
    sub(/[^ \t].*$/, "", ws)
    c = col(ws)
    if (ws ~ /^\t*$/) {
        n = length(ws) * 4
        while (top > 1 && old[top] >= c)
            top--
        if (old[top] < c)
            top++
        old[top] = c
        new[top] = n
    } else {
        k = top
        while (k > 1 && old[k] >= c)
            k--
        n = new[k] + c - old[k]
    }
    print spaces(n) substr(raw, length(ws) + 1)
}
'
if [ "$retab" = 1 ]; then
    for f in $tab_files; do
        grep -q "$(printf '^ *\t')" "$f" || continue
        awk "$retab_awk" "$f" > "$f.retab" && cat "$f.retab" > "$f"
        rm -f "$f.retab"
        echo "# re-indented $f"
    done
fi
# shellcheck disable=SC2086
style_awk='
# the reader of check-style.sh: mode check prints findings, mode fix writes FILE.style-fixed
function report(rule, text) { if (mode == "check") printf "%s:%d: %s: %s\n", FILENAME, FNR, rule, text }
function emit(s) { if (mode == "fix") print s > (FILENAME ".style-fixed") }
function ltrim(s) { sub(/^[ \t]+/, "", s); return s }
function rtrim(s) { sub(/[ \t]+$/, "", s); return s }
# code: raw with comments blanked and string/char contents replaced by x (same length)
function strip(raw,    code, n, i, c, c2, q) {
    code = ""; n = length(raw); i = 1; cmt_at = 0
    while (i <= n) {
        c = substr(raw, i, 1); c2 = substr(raw, i, 2)
        if (in_comment) {
            if (c2 == "*/") { in_comment = 0; code = code "  "; i += 2 } else { code = code " "; i++ }
            continue
        }
        if (c2 == "/*") { if (!cmt_at) cmt_at = i; in_comment = 1; code = code "  "; i += 2; continue }
        if (c2 == "//") { if (!cmt_at) cmt_at = i; while (i <= n) { code = code " "; i++ } ; break }
        if (c == "\"" || c == "\047") {
            q = c; code = code q; i++
            while (i <= n && substr(raw, i, 1) != q) {
                if (substr(raw, i, 1) == "\\") { code = code "x"; i++ }
                code = code "x"; i++
            }
            code = code q; i++; continue
        }
        code = code c; i++
    }
    return code
}
FNR == 1 { in_comment = 0; in_macro = 0 }
{
    raw = $0
    if (raw ~ /^ *\t/ && rules != "stmt") report("tab-indent", raw)     # macros and comments too
    if (rules == "tabs") next
    if (in_macro) { in_macro = (raw ~ /\\$/); emit(raw); next }
    if (raw ~ /^[ \t]*#/) { in_macro = (raw ~ /\\$/); emit(raw); next }
    was_comment = in_comment
    code = strip(raw)
    depth = 0; nsemi = 0; ctl_end = 0
    ctl = (code ~ /^[ \t]*(}[ \t]*)?(else[ \t]+)?(if|for|while|switch)[ \t]*\(/)
    for (i = 1; i <= length(code); i++) {
        c = substr(code, i, 1)
        if (c == "(") depth++
        else if (c == ")") { depth--; if (depth == 0 && ctl && !ctl_end) ctl_end = i }
        else if (c == ";" && depth == 0) semi[++nsemi] = i
    }
    braces = (code ~ /[{}]/)
    indent = raw; sub(/[^ \t].*$/, "", indent)
    body = 0
    if (nsemi < 2 && ctl && ctl_end) {
        rest = substr(code, ctl_end + 1)
        if (rest ~ /^[ \t]*[^ \t{;]/ && rest ~ /;/) body = 1
    } else if (nsemi < 2 && code ~ /^[ \t]*(}[ \t]*)?else[ \t]+[^ \t{i]/ && code ~ /;/) {
        body = 2
    }
    # a struct or union with its members on one line is one declaration, not statements
    members = (code ~ /^[ \t]*(typedef[ \t]+)?(struct|union)([ \t]+[A-Za-z_][A-Za-z_0-9]*)?[ \t]*\{/ && code !~ /\(/)
    if (members) nsemi = 0
    if (nsemi >= 2) report("multiple-statements", raw)
    else if (body) report("body-on-control-line", raw)
    if (mode != "fix") next
    # fixes: only lines without braces and with balanced parentheses
    if (braces || depth != 0 || was_comment || in_comment || (!(nsemi >= 2) && !body)) { emit(raw); next }
    tail = rtrim(substr(raw, semi[nsemi] + 1))      # after the last statement: a comment or nothing
    if (ltrim(strip_tail_code(code, semi[nsemi])) != "") { emit(raw); next }
    label = ""
    start = 1
    if (match(code, /^[ \t]*((case [^:]+|default)[ \t]*:[ \t]*)+/)) { label = substr(raw, 1, RLENGTH); start = RLENGTH + 1 }
    n = 0
    for (k = 1; k <= nsemi; k++) { piece[++n] = ltrim(substr(raw, start, semi[k] - start + 1)); pcode[n] = ltrim(substr(code, start, semi[k] - start + 1)); start = semi[k] + 1 }
    step = (indent ~ /\t/) ? "\t" : "    "      # a file indented with tabs keeps them
    sindent = indent
    if (label != "") { emit(rtrim(label)); sindent = indent step }
    for (k = 1; k <= n; k++) {
        t = (k == n && tail != "") ? " " ltrim(tail) : ""
        if (match(pcode[k], /^(}[ \t]*)?(else[ \t]+)?(if|for|while|switch)[ \t]*\(/)) {
            d = 0; e = 0
            for (i = 1; i <= length(pcode[k]); i++) {
                c = substr(pcode[k], i, 1)
                if (c == "(") d++
                else if (c == ")") { d--; if (d == 0) { e = i; break } }
            }
            if (e && ltrim(substr(pcode[k], e + 1)) != ";") {
                emit(sindent rtrim(substr(piece[k], 1, e)))
                emit(sindent step ltrim(substr(piece[k], e + 1)) t)
                continue
            }
        } else if (match(pcode[k], /^else[ \t]+/)) {
            emit(sindent "else")
            emit(sindent step ltrim(substr(piece[k], RLENGTH + 1)) t)
            continue
        }
        emit(sindent piece[k] t)
    }
}
function strip_tail_code(code, at) { return substr(code, at + 1) }

'
if [ "$fix" = 1 ]; then
    for f in $files; do
        awk -v mode=fix -v rules=all "$style_awk" "$f" && [ -f "$f.style-fixed" ] || continue
        if cmp -s "$f" "$f.style-fixed"; then rm -f "$f.style-fixed"
        else cat "$f.style-fixed" > "$f"; rm -f "$f.style-fixed"; echo "# fixed $f"; fi
    done
fi
# shellcheck disable=SC2086
if [ "$self_test" = 1 ]; then
    [ -n "$files" ] && awk -v mode=check -v rules=stmt "$style_awk" $files > "$out"
    # shellcheck disable=SC2086
    [ -n "$tab_files" ] && awk -v mode=check -v rules=tabs "$style_awk" $tab_files >> "$out"
else
    [ -n "$files" ] && awk -v mode=check -v rules=all "$style_awk" $files > "$out"
fi
source "$here/tests/e2e/suite_lib.sh"
for rule in multiple-statements body-on-control-line tab-indent; do
    n=$(grep -c ": $rule: " "$out")
    if [ "$count_only" = 0 ]; then grep ": $rule: " "$out"; fi
    if [ "$n" = 0 ]; then
        ok "style_$rule"
    else
        bad "style_$rule" "$n lines"
    fi
done
# The checker itself must find one of each rule in a file that breaks each once, and nothing
# in the forms that are one statement (a for header, a struct on one line, `;` in strings,
# comments and macros).
if [ "$self_test" = 1 ]; then
    t=$(mktemp -d)
    trap 'rm -f "$out"; rm -rf "$t"' EXIT
    printf '%b\n' \
        'struct pair { int a; int b; };' \
        '#define TWO(x) do { (x)++; (x)++; } while (0)' \
        'static int f(int x)' \
        '{' \
        '    for (int i = 0; i < 2; i++)' \
        '        x++;' \
        '    const char *s = "a; b; c;";      /* d; e; */' \
        '    x++; x--;' \
        '    if (x) return 1;' \
        '\treturn s[0];' \
        '}' > "$t/bad.c"
    awk -v mode=check -v rules=all "$style_awk" "$t/bad.c" > "$t/found"
    got=$(sed 's/^[^:]*:\([0-9]*\): \([a-z-]*\):.*/\1 \2/' "$t/found" | tr '\n' ,)
    if [ "$got" = "8 multiple-statements,9 body-on-control-line,10 tab-indent," ]; then
        ok "style_check_catches_violations"
    else
        bad "style_check_catches_violations" "found: $got"
    fi
    # --retab: a tab a level, continuation and comment lines keep their place
    printf '%b\n' 'static int f(int a,' '\t     int b)' '{' '\tif (a &&' '\t    b)' \
        '\t\treturn g(a,' '\t\t\t b);' '\t/* c' '\t * d */' '\t' '}' > "$t/tabs.c"
    printf '%s\n' 'static int f(int a,' '             int b)' '{' '    if (a &&' '        b)' \
        '        return g(a,' '                 b);' '    /* c' '     * d */' '' '}' > "$t/want.c"
    awk "$retab_awk" "$t/tabs.c" > "$t/got.c"
    if cmp -s "$t/got.c" "$t/want.c"; then
        ok "style_retab_keeps_alignment"
    else
        bad "style_retab_keeps_alignment" "$(diff "$t/want.c" "$t/got.c" | tr '\n' ' ')"
    fi
fi
finish
