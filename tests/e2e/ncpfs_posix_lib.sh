# ncpfs_posix_lib.sh - POSIX semantics through the mount (issue 14), sourced by
# ncpfs_mount.sh with MA (guest) and MB (alice) mounted on the same volume: O_APPEND
# writes from two processes on one mount and from two mounts never lose or overwrite a
# record, and a file removed while open (on this mount or the other) still reads whole
# until closed, after which its inode is free again.

# append_records FILE TAG N: N records through one O_APPEND descriptor, one write each.
append_records() {
    exec 3>>"$1" || return 1
    local i
    for i in $(seq "$3"); do printf '%s %05d the rest of a record of some length\n' "$2" "$i" >&3 || return 1; done
    exec 3>&-
}
# append_reopening FILE TAG N: the same, opening the file for each record (echo >>).
append_reopening() {
    local i
    for i in $(seq "$3"); do printf '%s %05d the rest of a record of some length\n' "$2" "$i" >>"$1" || return 1; done
}
# records_intact FILE LINES N TAG...: LINES records in all, N of each TAG, each whole, once,
# in its writer's order.
records_intact() {
    local f=$1 lines=$2 n=$3 t; shift 3
    [ "$(wc -l <"$f")" -eq "$lines" ] || { echo "$(wc -l <"$f") lines, want $lines" >&2; return 1; }
    if grep -vqE '^[a-z0-9]+ [0-9]{5} the rest of a record of some length$' "$f"; then
        echo "a damaged record: $(grep -vE '^[a-z0-9]+ [0-9]{5} the rest' "$f" | head -2)" >&2; return 1
    fi
    for t in "$@"; do
        diff <(grep "^$t " "$f" | cut -d' ' -f2) <(seq -f '%05g' "$n") >/dev/null ||
            { echo "records of $t lost, doubled or out of order" >&2; return 1; }
    done
}
append_two_processes() {
    : >"$MA/append1" || return 1
    append_records "$MA/append1" p1 300 & local a=$!
    append_records "$MA/append1" p2 300 & local b=$!
    wait "$a" && wait "$b" && records_intact "$MA/append1" 600 300 p1 p2
}
append_two_mounts() {
    : >"$MA/append2" && chmod 666 "$MA/append2" || return 1
    append_records "$MA/append2" guest 250 & local a=$!
    append_records "$MB/append2" alice 250 & local b=$!
    append_reopening "$MA/append2" reopen 100 & local c=$!
    wait "$a" && wait "$b" && wait "$c" && records_intact "$MA/append2" 600 250 guest alice &&
        [ "$(grep -c '^reopen ' "$MA/append2")" -eq 100 ] && records_intact "$MB/append2" 600 250 guest alice
}
# open_rm_read MOUNT_OPEN MOUNT_RM: made and removed through one mount, opened (before the
# removal) through the other, and still read whole there.
open_rm_read() (
    name=orphan-$RANDOM
    free0=$(stat -f -c %d "$1") || return 1
    cp "$T/big.bin" "$2/$name" || return 1
    exec 4<"$1/$name" || return 1
    rm "$2/$name" || return 1
    [ ! -e "$2/$name" ] || { echo "still has a name" >&2; return 1; }
    cmp <(cat <&4) "$T/big.bin" || { echo "the open file lost its data" >&2; return 1; }
    [ "$(stat -f -c %d "$1")" -lt "$free0" ] || { echo "inode freed while open" >&2; return 1; }
    exec 4<&-
    for i in $(seq 50); do free1=$(stat -f -c %d "$1"); [ "$free1" = "$free0" ] && break; sleep 0.1; done
    [ "$free1" = "$free0" ] || { echo "free inodes $free0 before, $free1 after the close" >&2; return 1; }
)
# (subshells: a descriptor left open by a failed check must not keep the mount busy)
open_rw_rm_write() (
    printf 'first\n' >"$MA/orphan-rw" && exec 5<>"$MA/orphan-rw" && rm "$MA/orphan-rw" || exit 1
    printf 'the second line is longer\n' >&5 || exit 1      # at offset 0: 26 bytes now
    [ "$(stat -L -c %s /dev/fd/5)" = 26 ] || { echo "size through the old descriptor: $(stat -L -c %s /dev/fd/5)" >&2; exit 1; }
)

check append_two_processes_one_mount append_two_processes
check append_two_mounts_and_reopening append_two_mounts
check open_rm_read_same_mount open_rm_read "$MA" "$MA"
check open_on_b_rm_on_a_read_on_b open_rm_read "$MB" "$MA"
check open_rm_write_through_old_fd open_rw_rm_write
