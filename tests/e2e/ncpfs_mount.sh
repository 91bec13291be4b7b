#!/bin/bash
# ncpfs_mount.sh [BUILD_DIR] - end-to-end tests of the FUSE mount (build/ncpfs) against
# build/ncpd serving an ext2 image, or with NCP_TARGET=kernel against the WorkToDo kernel
# in QEMU (over tap in a namespace of its own with KERNEL_NET=tap, as ncpfs_kernel.sh runs
# it; see boot_kernel in cli_lib.sh) serving the same image: cp -r and diff -r, tar both ways, cp -a and tar of symlinks and hard links, make, git, fio with crc32c verification (verified
# again through a second mount), two mounts (guest and alice) seeing each other's changes
# after close, renames and big directories, permission denials for guest, fcntl locks
# between the mounts (conflict, wait, partial unlock, downgrade, release), a server that
# stops answering (EIO within the timeout, fusermount3 -u still works, the mount logs in
# again when the server is back and reopens files by path), a killed server (ncpd), and a
# clean e2fsck after unmount and shutdown.  Output per docs/conventions.md.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:-build}
TARGET=${NCP_TARGET:-ncpd}
if ! [ -c /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
    echo "FAIL fuse_available: $0: no /dev/fuse or no fusermount3 here (scripts/deps.sh installs fuse3); nothing was mounted"
    echo "0 passed, 1 failed"
    exit 1
fi
. tests/e2e/cli_lib.sh
build_or_fail build_ncpfs "$B/ncpc" "$B/ncpd" "$B/ncpfs"
T=$(mktemp -d /tmp/ncpfs-e2e.XXXXXX)
pid=""; fspids=()
mounts=("$T/a" "$T/b" "$T/k")
mkdir -p "${mounts[@]}"
cleanup() {
    [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
    [ -n "${qpid:-}" ] && kill -CONT "$qpid" 2>/dev/null
    for m in "${mounts[@]}"; do
        grep -q " $m fuse" /proc/mounts 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
    done
    for p in "${fspids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
mounted() { grep -q " $1 fuse.ncpfs " /proc/mounts; }

volume_root guest guest admin:admin s3cret alice wonderland
scripts/volume-layout.sh "$T/root"       # root 1777, /etc the admin's, private homes
scripts/mkimage.sh "$T/root" "$T/vol.img" 256M >/dev/null 2>&1

if [ "$TARGET" = kernel ]; then
    boot_kernel "$T/vol.img"
    qpid=$(pgrep -P "$pid" -f qemu-system | head -1)
    WTMO=30       # TCG is slow: the workloads get a long timeout, the stop test a short one
    FIO_SEQ=8M FIO_RAND=2M
else
    start_ncpd "$T/vol.img"
    PORT=$(awk '{print $2}' "$T/port")
    SERVER=127.0.0.1:$PORT
    WTMO=5
    FIO_SEQ=32M FIO_RAND=8M
fi
KTMO=3
export NCP_SERVER=$SERVER
GUEST=(env NCP_PASSWORD=guest "$NCPC")
ALICE=(env NCP_PASSWORD=wonderland "$NCPC" -u alice)
ADMIN=(env NCP_PASSWORD=s3cret "$NCPC" -u admin)

# mount_fs MOUNTPOINT USER PASSWORD TIMEOUT: ncpfs in the foreground, in the background
mount_fs() {
    NCP_PASSWORD=$3 "$NCPFS" -s "$SERVER" -u "$2" -o "timeout=$4,verbose" -f "$1" 2>>"$T/ncpfs-$(basename "$1").log" &
    fspids+=($!)
    for _ in $(seq 100); do mounted "$1" && return 0; sleep 0.1; done
    return 1
}

# --- the data the tests use
mkdir -p "$T/tree/src/sub/deeper" "$T/tree/empty"
cp client/*.c client/*.h "$T/tree/src/"
cp proto/*.c "$T/tree/src/sub/"
for size in 0 1 4095 4096 4097 1048575 1048577 3000000; do head -c "$size" /dev/urandom >"$T/tree/sub-$size.bin"; done
head -c 200000 /dev/urandom >"$T/tree/src/sub/deeper/blob"
head -c 33554432 /dev/urandom >"$T/big.bin"
echo "alice's secret" >"$T/secret"
echo "alice's public note" >"$T/note"
check alice_puts_private_file bash -c "${ALICE[*]} put '$T/secret' /home/alice/secret && ${ALICE[*]} chmod 600 /home/alice/secret"
check alice_puts_public_file "${ALICE[@]}" put "$T/note" /alice-note.txt
check put_big_with_ncpc "${GUEST[@]}" put "$T/big.bin" /big.bin

check mount_guest mount_fs "$T/a" guest guest "$WTMO"
check_fails mount_bad_password "login failed" env NCP_PASSWORD=nope "$NCPFS" -s "$SERVER" -f "$T/b"
check_fails mount_no_server "cannot connect" env NCP_PASSWORD=guest "$NCPFS" -s 127.0.0.1:1 -f "$T/b"
check help_lists_options bash -c "'$NCPFS' --help | grep -q 'timeout=SEC' && '$NCPFS' --help | grep -q allow_other"
check mount_alice mount_fs "$T/b" alice wonderland "$WTMO"
MA=$T/a MB=$T/b
check password_not_in_environment bash -c "! grep -qa 'NCP_PASSWORD=guest' /proc/${fspids[0]}/environ"

# --- copying trees
check cp_r_tree cp -r "$T/tree" "$MA/tree"
check cp_r_diff diff -r "$T/tree" "$MA/tree"
check cp_r_back bash -c "cp -r '$MA/tree' '$T/tree.back' && diff -r '$T/tree' '$T/tree.back'"
check tar_c_from_mount bash -c "tar -C '$MA' -cf '$T/t.tar' tree && mkdir '$T/untar' && tar -C '$T/untar' -xf '$T/t.tar' && diff -r '$T/tree' '$T/untar/tree'"
check tar_x_into_mount bash -c "mkdir '$MA/untar' && tar -C '$MA/untar' --no-same-owner -xf '$T/t.tar' && diff -r '$T/tree' '$MA/untar/tree'"
check stat_sizes bash -c "[ \$(stat -c %s '$MA/tree/sub-1048577.bin') = 1048577 ] && [ \$(stat -c %s '$MA/tree/sub-0.bin') = 0 ]"
check big_file_read cmp "$T/big.bin" "$MA/big.bin"
check many_files bash -c "mkdir '$MA/many' && for i in \$(seq 600); do : >'$MA/many/file-with-a-longish-name-'\$i; done && [ \$(ls '$MA/many' | wc -l) = 600 ] && [ \$(ls -a '$MA/many' | wc -l) = 602 ]"
check rm_r_many bash -c "rm -r '$MA/many' && [ ! -e '$MA/many' ]"
check rename_dir_paths_follow bash -c "mkdir -p '$MA/d1/d2' && echo deep >'$MA/d1/d2/f' && mv '$MA/d1' '$MA/d3' && grep -qx deep '$MA/d3/d2/f' && [ ! -e '$MA/d1' ]"
check rename_over_file bash -c "echo old >'$MA/x' && echo new >'$MA/y' && mv '$MA/y' '$MA/x' && grep -qx new '$MA/x' && [ ! -e '$MA/y' ]"
check rename_no_clobber_keeps_target bash -c "echo keep >'$MA/p' && echo other >'$MA/q' && mv -n '$MA/q' '$MA/p'; grep -qx keep '$MA/p' && grep -qx other '$MA/q'"
check truncate_and_append bash -c "printf 0123456789 >'$MA/tr' && truncate -s 4 '$MA/tr' && echo -n ab >>'$MA/tr' && [ \"\$(cat '$MA/tr')\" = 0123ab ]"
check chmod_own_file bash -c "chmod 640 '$MA/tr' && [ \$(stat -c %a '$MA/tr') = 640 ]"
check df_statfs bash -c "df '$MA' | grep -q '$SERVER'"

# --- symbolic and hard links: cp -a and tar keep them (relative and absolute, fast and slow
# symlinks, a dangling one, hard links), links stay links through the mount and back
mkdir -p "$T/ltree/dir/sub"
echo "link target" >"$T/ltree/dir/file"
head -c 5000 /dev/urandom >"$T/ltree/data"
ln -s file "$T/ltree/dir/rel"
ln -s ../data "$T/ltree/dir/up"
ln -s /nonexistent/absolute/target "$T/ltree/abs"
SLOW=$(printf './%.0s' $(seq 60))file                       # 124 bytes: a slow symlink on ext2
ln -s "$SLOW" "$T/ltree/dir/slow"
ln -s sub "$T/ltree/dir/dirlink"
ln "$T/ltree/dir/file" "$T/ltree/hard"
ln "$T/ltree/data" "$T/ltree/dir/sub/data2"
# links_are_links DIR: the links of ltree under DIR are links, the hard links one inode
links_are_links() {
    [ -L "$1/dir/rel" ] && [ "$(readlink "$1/dir/rel")" = file ] &&
    [ -L "$1/dir/up" ] && [ "$(readlink "$1/dir/up")" = ../data ] &&
    [ -L "$1/abs" ] && [ "$(readlink "$1/abs")" = /nonexistent/absolute/target ] &&
    [ -L "$1/dir/slow" ] && [ "$(readlink "$1/dir/slow")" = "$SLOW" ] &&
    [ -L "$1/dir/dirlink" ] && [ -d "$1/dir/dirlink" ] && [ ! -L "$1/dir/file" ] &&
    [ "$(cat "$1/dir/rel")" = "link target" ] && [ "$(cat "$1/dir/slow")" = "link target" ] && cmp -s "$1/dir/up" "$1/data" &&
    [ "$(stat -c %i "$1/dir/file")" = "$(stat -c %i "$1/hard")" ] && [ "$(stat -c %h "$1/hard")" = 2 ] &&
    [ "$(stat -c %i "$1/data")" = "$(stat -c %i "$1/dir/sub/data2")" ] && [ "$(stat -c %h "$1/data")" = 2 ]
}
check links_source_tree_sane links_are_links "$T/ltree"
check cp_a_links_into_mount cp -a --no-preserve=ownership "$T/ltree" "$MA/ltree"
check cp_a_links_diff diff -r --no-dereference "$T/ltree" "$MA/ltree"
check cp_a_links_are_links links_are_links "$MA/ltree"
check readdir_dtype_symlink bash -c "find '$MA/ltree' -type l | wc -l | grep -qx 5"
check cp_a_links_back bash -c "cp -a '$MA/ltree' '$T/ltree.back' && diff -r --no-dereference '$T/ltree' '$T/ltree.back'"
check cp_a_links_back_are_links links_are_links "$T/ltree.back"
check tar_c_links_from_mount bash -c "tar -C '$MA' -cf '$T/l.tar' ltree && mkdir '$T/luntar' && tar -C '$T/luntar' -xf '$T/l.tar' && diff -r --no-dereference '$T/ltree' '$T/luntar/ltree'"
check tar_c_links_are_links links_are_links "$T/luntar/ltree"
check tar_x_links_into_mount bash -c "mkdir '$MA/luntar' && tar -C '$MA/luntar' --no-same-owner -xf '$T/l.tar' && diff -r --no-dereference '$T/ltree' '$MA/luntar/ltree'"
check tar_x_links_are_links links_are_links "$MA/luntar/ltree"
check other_mount_sees_links links_are_links "$MB/ltree"
check ln_s_and_readlink bash -c "ln -s nowhere '$MA/dangling' && [ \"\$(readlink '$MA/dangling')\" = nowhere ] && [ ! -e '$MA/dangling' ] && rm '$MA/dangling' && [ ! -L '$MA/dangling' ]"
check_fails symlink_loop_eloop "Too many levels of symbolic links" bash -c "ln -s loop '$MA/loop' && cat '$MA/loop'"
check_fails hard_link_to_dir_refused "ln: " ln "$MA/ltree/dir" "$MA/dirhard"
check rm_one_hard_link_keeps_file bash -c "rm '$MA/luntar/ltree/hard' && [ \"\$(stat -c %h '$MA/luntar/ltree/dir/file')\" = 1 ] && grep -qx 'link target' '$MA/luntar/ltree/dir/file'"
# a file with two links is still reached through its inode when the name looked up last goes
check hard_link_inode_kept_by_other_name bash -c "mkdir '$MA/lx' && echo x >'$MA/lx/a' && exec 5<'$MA/lx/a' &&
    ln '$MA/lx/a' '$MA/lx/b' && stat '$MA/lx/b' >/dev/null && rm '$MA/lx/b' &&
    chmod 600 /proc/self/fd/5 && [ \"\$(stat -L -c '%a %h' /proc/self/fd/5)\" = '600 1' ]"
check_fails guest_cannot_hard_link_alice_file "Operation not permitted" ln "$MA/alice-note.txt" "$MA/stolen-note"
check ncpc_sees_fuse_symlink bash -c "[ \"\$(${GUEST[*]} readlink /ltree/dir/slow)\" = '$SLOW' ]"

# --- building a program with make
mkdir -p "$MA/prog"
cat >"$MA/prog/main.c" <<'EOF'
#include <stdio.h>
int twice(int);
int main(void) { printf("built on ncpfs: %d\n", twice(21)); return 0; }
EOF
echo 'int twice(int x) { return 2 * x; }' >"$MA/prog/util.c"
printf 'prog: main.o util.o\n\t$(CC) -o $@ main.o util.o\n%%.o: %%.c\n\t$(CC) -c -o $@ $<\n' >"$MA/prog/Makefile"
check make_builds bash -c "make -C '$MA/prog' && '$MA/prog/prog' | grep -qx 'built on ncpfs: 42'"
check make_up_to_date bash -c "make -C '$MA/prog' | grep -q 'up to date'"
# (times have whole seconds: the outputs are set back in time instead of waiting)
check make_rebuilds_changed bash -c "old=\$((\$(date +%s) - 60)) && touch -d @\$old '$MA/prog/prog' '$MA/prog/main.o' '$MA/prog/util.o' &&
    touch -d @\$((old - 10)) '$MA/prog/main.c' && echo 'int twice(int x) { return 3 * x; }' >'$MA/prog/util.c' &&
    make -C '$MA/prog' >'$T/make.out' && grep -q 'util.o util.c' '$T/make.out' && ! grep -q 'main.o main.c' '$T/make.out' &&
    '$MA/prog/prog' | grep -qx 'built on ncpfs: 63'"

# --- git: a repository made, committed to and checked inside the mount (lock files renamed
# into place, objects created exclusively, then read back by a full fsck)
if command -v git >/dev/null 2>&1; then
    mkdir -p "$MA/repo"
    # The mount's files belong to the volume's user, not to root: git must be told they are
    # safe (a config of this run only, never the machine's).
    printf '[safe]\n\tdirectory = *\n[user]\n\tname = test\n\temail = t@example.invalid\n' >"$T/gitconfig"
    export GIT_CONFIG_GLOBAL="$T/gitconfig" GIT_CONFIG_NOSYSTEM=1
    check git_init_add_commit bash -c "cd '$MA/repo' && git init -q &&
        cp -r '$MA/prog' . && echo readme >README && git add -A &&
        git commit -qm 'first' && echo more >>README && git commit -qam 'second' &&
        [ \"\$(git rev-list --count HEAD)\" = 2 ]"
    check git_fsck_strict bash -c "cd '$MA/repo' && git fsck --strict --full 2>&1 | grep -v '^Checking' | (! grep -q .)"
    check git_seen_by_other_mount bash -c "cd '$MB/repo' && git log --oneline | grep -q second && git status --porcelain | (! grep -q .)"
else
    skip git_init_add_commit "git is not installed"
fi

# --- dbench (NetBench's file-server load: creates, writes, reads, renames, byte-range
# locks, flushes), two clients for a few seconds: it must run to its end without an error
if command -v dbench >/dev/null 2>&1; then
    mkdir -p "$MA/dbench"
    check dbench_two_clients bash -c "timeout 120 dbench -D '$MA/dbench' -t 4 2 >'$T/dbench.out' 2>&1;
        grep -q '^Throughput .* 2 clients' '$T/dbench.out' && ! grep -qiE 'error|failed' '$T/dbench.out'"
else
    skip dbench_two_clients "dbench is not installed"
fi

# --- fio, verified by crc32c while writing and once more through the other mount
if command -v fio >/dev/null 2>&1; then
    mkdir -p "$MA/fio"
    fiojob() { echo "--name=$1 --directory=$2 --rw=$3 --bs=$4 --size=$5 --numjobs=2 --verify=crc32c --verify_state_save=0 --ioengine=psync --group_reporting"; }
    # shellcheck disable=SC2046
    check fio_seq_verify bash -c "fio $(fiojob seq "$MA/fio" write 1M "$FIO_SEQ") >'$T/fio1' 2>&1 && grep -q 'err= 0' '$T/fio1'"
    check fio_rand_verify bash -c "fio $(fiojob rnd "$MA/fio" randwrite 4k "$FIO_RAND") >'$T/fio2' 2>&1 && grep -q 'err= 0' '$T/fio2'"
    # alice may read guest's files but not write them: a read job checks every block's crc32c
    check fio_verify_other_mount bash -c "fio $(fiojob seq "$MB/fio" read 1M "$FIO_SEQ") --readonly >'$T/fio3' 2>&1 && grep -q 'err= 0' '$T/fio3' &&
        fio $(fiojob rnd "$MB/fio" read 4k "$FIO_RAND") --readonly >'$T/fio4' 2>&1 && grep -q 'err= 0' '$T/fio4'"
else
    bad fio_available "fio is not installed (scripts/deps.sh installs it)"
fi

# --- two mounts (guest on a, alice on b) see each other's changes after close
check b_sees_a_new_file bash -c "echo from-guest >'$MA/shared.txt' && grep -qx from-guest '$MB/shared.txt'"
check a_sees_b_new_file bash -c "echo from-alice >'$MB/alice.txt' && grep -qx from-alice '$MA/alice.txt'"
check b_sees_a_rewrite bash -c "cat '$MB/shared.txt' >/dev/null && echo 'guest wrote a longer line' >'$MA/shared.txt' && grep -qx 'guest wrote a longer line' '$MB/shared.txt'"
check b_sees_a_shrink bash -c "echo short >'$MA/shared.txt' && [ \"\$(cat '$MB/shared.txt')\" = short ]"
check a_sees_b_delete bash -c "rm '$MB/alice.txt' && [ ! -e '$MA/alice.txt' ]"
check b_sees_a_listing bash -c "mkdir '$MA/newdir' && ls '$MB' | grep -qx newdir"

# --- O_APPEND from two processes and two mounts, files removed while open
. tests/e2e/ncpfs_posix_lib.sh

# --- permission denials for guest (the server decides)
check_fails guest_cannot_read_users_file "Permission denied" cat "$MA/etc/ncp-users"
check_fails guest_cannot_list_alice_home "Permission denied" ls "$MA/home/alice"
check_fails guest_cannot_read_alice_secret "Permission denied" cat "$MA/home/alice/secret"
check alice_reads_her_secret grep -qx "alice's secret" "$MB/home/alice/secret"
check_fails guest_cannot_write_alice_file "Permission denied" bash -c "echo x >>'$MA/alice-note.txt'"
check_fails guest_cannot_remove_alice_file "Permission denied\\|Operation not permitted" rm -f "$MA/alice-note.txt"
check_fails guest_cannot_chmod_alice_file "Operation not permitted" chmod 666 "$MA/alice-note.txt"
check_fails guest_cannot_create_in_etc "Permission denied" bash -c "echo x >'$MA/etc/evil'"
check_fails guest_cannot_rename_etc "Permission denied" mv "$MA/etc" "$MA/etc2"
check alice_note_unchanged grep -qx "alice's public note" "$MB/alice-note.txt"

# --- fcntl byte-range locks onto LOCK/UNLOCK (lock_tool prints "OP ok|busy|free|locked")
LT=$T/lock_tool
if cc -O2 -Wall -o "$LT" tests/e2e/lock_tool.c 2>"$T/cc.err"; then
    echo data >"$MA/lockfile"; chmod 666 "$MA/lockfile"
    "$LT" "$MA/lockfile" w:0:100 hold:2 >"$T/holder" &
    hp=$!
    sleep 0.5
    check lock_conflict_other_mount bash -c "'$LT' '$MB/lockfile' w:50:10 t:50:10 t:200:10 r:200:5 | tr '\n' ' ' | grep -qx 'w:50:10 busy t:50:10 locked t:200:10 free r:200:5 ok '"
    "$LT" "$MB/lockfile" W:50:10 >"$T/waiter" &
    wp=$!
    sleep 0.5
    check lock_waiter_waits test ! -s "$T/waiter"
    wait "$hp"
    wait "$wp"
    check lock_waiter_granted_after_release grep -qx 'W:50:10 ok' "$T/waiter"
    check lock_holder_held grep -qx 'hold:2 ok' "$T/holder"
    "$LT" "$MA/lockfile" w:0:100 u:0:50 hold:1.5 >/dev/null &
    hp=$!
    sleep 0.5
    check lock_unlock_part_frees_it bash -c "'$LT' '$MB/lockfile' w:0:50 w:50:10 | tr '\n' ' ' | grep -qx 'w:0:50 ok w:50:10 busy '"
    wait "$hp"
    "$LT" "$MA/lockfile" w:0:10 r:0:10 hold:1.5 >/dev/null &
    hp=$!
    sleep 0.5
    check lock_downgrade_shares bash -c "'$LT' '$MB/lockfile' r:0:10 w:0:10 | tr '\n' ' ' | grep -qx 'r:0:10 ok w:0:10 busy '"
    wait "$hp"
    "$LT" "$MA/lockfile" w:0:0 hold:5 >/dev/null &
    hp=$!
    sleep 0.5
    kill -KILL "$hp"; wait "$hp" 2>/dev/null
    check lock_released_when_holder_dies bash -c "'$LT' '$MB/lockfile' w:0:10 | grep -qx 'w:0:10 ok'"
else
    bad lock_tool_builds "$(head -c 300 "$T/cc.err")"
fi

# --- a server that stops answering: EIO within the timeout, then back again (every call
# that could hang runs under timeout(1), so a hang is a FAIL, not a stuck suite)
sync "$MA"             # fsync of a directory is a volume FSYNC: all is on disk before the server is stopped
check mount_short_timeout mount_fs "$T/k" guest guest "$KTMO"
MK=$T/k
STOPPID=$pid
[ "$TARGET" = kernel ] && STOPPID=$qpid
exec 3<"$MK/big.bin"
dd bs=1M count=1 <&3 of=/dev/null 2>/dev/null
kill -STOP "$STOPPID"
t0=$(now_ms)
if timeout $((KTMO + 20)) dd bs=1M <&3 of=/dev/null 2>"$T/dd.err"; then bad stopped_server_read_fails "the read succeeded"
else
    t1=$(now_ms)
    if ! grep -q "Input/output error" "$T/dd.err"; then bad stopped_server_read_eio "$(cat "$T/dd.err")"
    elif [ $((t1 - t0)) -gt $((KTMO * 1000 + 2000)) ]; then bad stopped_server_eio_in_time "took $((t1 - t0)) ms (timeout ${KTMO} s)"
    else ok stopped_server_eio_within_timeout; fi
fi
t0=$(now_ms)
check_fails stopped_server_next_call_fails_fast "Input/output error" timeout $((KTMO + 20)) ls "$MK/tree"
t1=$(now_ms)
check stopped_server_fast_failure_in_time test $((t1 - t0)) -le $((KTMO * 1000 + 1000))
kill -CONT "$STOPPID"
back=0
for _ in $(seq 40); do ls "$MK/tree" >/dev/null 2>&1 && back=1 && break; sleep 0.25; done
check server_back_mount_logs_in_again test "$back" = 1
check reconnect_was_logged grep -q "logged in again" "$T/ncpfs-k.log"
check open_file_reopened_by_path bash -c "dd bs=1M <&3 of=/dev/null 2>/dev/null"
exec 3<&-
check big_file_after_reconnect cmp "$T/big.bin" "$MK/big.bin"

if [ "$TARGET" != kernel ]; then
    # killed in the middle of a read: EIO at once; a new server on the same port is found again
    fusermount3 -u "$MK" 2>/dev/null; mount_fs "$MK" guest guest "$KTMO" || bad remount_k "no mount"
    exec 4<"$MK/big.bin"
    dd bs=1M count=1 <&4 of=/dev/null 2>/dev/null
    kill -KILL "$pid"; wait "$pid" 2>/dev/null
    t0=$(now_ms)
    if timeout $((KTMO + 20)) dd bs=1M <&4 of=/dev/null 2>"$T/dd.err"; then bad killed_server_read_fails "the read succeeded"
    else t1=$(now_ms); if grep -q "Input/output error" "$T/dd.err" && [ $((t1 - t0)) -le $((KTMO * 1000 + 2000)) ]; then ok killed_server_eio_within_timeout
         else bad killed_server_eio_within_timeout "$(cat "$T/dd.err"), $((t1 - t0)) ms"; fi; fi
    exec 4<&-
    start_ncpd "$T/vol.img" "$PORT"
    STOPPID=$pid
    back=0
    for _ in $(seq 40); do cmp -s "$T/big.bin" "$MK/big.bin" && back=1 && break; sleep 0.25; done
    check restarted_server_mount_works_again test "$back" = 1
fi

# fusermount3 -u works while the server does not answer, and the ncpfs process ends
kill -STOP "$STOPPID"
check_fails stopped_again_eio "Input/output error" timeout $((KTMO + 20)) cat "$MK/big.bin"
t0=$(now_ms)
check unmount_while_server_stopped timeout 10 fusermount3 -u "$MK"
check unmounted bash -c "! grep -q ' $MK fuse' /proc/mounts"
kpid=${fspids[${#fspids[@]}-1]}
for _ in $(seq 100); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
check ncpfs_process_exits bash -c "! kill -0 $kpid 2>/dev/null"
kill -CONT "$STOPPID"

# --- unmount, shut down, e2fsck
check unmount_a fusermount3 -u "$MA"
check unmount_b fusermount3 -u "$MB"
for p in "${fspids[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
check shutdown_admin "${ADMIN[@]}" shutdown
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then bad server_exits "still running after shutdown"; else wait "$pid" 2>/dev/null; pid=""; ok server_exits; fi
fsck_clean volume_fsck_clean "$T/vol.img"
check volume_fsck_prints_no_problem test -z "$(fsck_problems "$T/vol.img")"
check debugfs_sees_tree_file bash -c "PATH=\$PATH:/usr/sbin debugfs -R 'cat /tree/sub-4097.bin' '$T/vol.img' 2>/dev/null | cmp - '$T/tree/sub-4097.bin'"
check debugfs_sees_fast_symlink bash -c "PATH=\$PATH:/usr/sbin debugfs -R 'stat /ltree/dir/rel' '$T/vol.img' 2>/dev/null | grep -q 'Fast link dest: \"file\"'"
check debugfs_sees_slow_symlink bash -c "PATH=\$PATH:/usr/sbin debugfs -R 'stat /ltree/dir/slow' '$T/vol.img' 2>/dev/null | grep -q 'Type: symlink' &&
    PATH=\$PATH:/usr/sbin debugfs -R 'stat /ltree/dir/slow' '$T/vol.img' 2>/dev/null | grep -q 'Size: ${#SLOW}'"
check debugfs_sees_hard_link bash -c "PATH=\$PATH:/usr/sbin debugfs -R 'stat /ltree/hard' '$T/vol.img' 2>/dev/null | grep -q 'Links: 2'"
finish
