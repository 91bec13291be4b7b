#!/usr/bin/env bash
# mkseeds.sh [HARNESS...] - (re)writes the committed seed corpus of the libFuzzer harnesses
# under tests/fuzz/<harness>/corpus/ (all of them by default).  Run by hand when a format
# changes; `make fuzz` only reads them.  (ext2 images differ in their inode ctimes from run to
# run, which mke2fs -d copies from the source files: regenerate them only when needed.)
#   ext2:   small mke2fs-made images (1 KiB blocks mostly, so mutations hit metadata) each
#           behind a short operation script (see tests/fuzz/fuzz_ext2.c for the layout).
#   others: see the seed_* functions below (byte layouts as in each harness's top comment).
# Needs mke2fs (e2fsprogs), xxd-free: bytes are written with printf.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
PATH="$PATH:/usr/sbin:/sbin"
out=tests/fuzz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# b HEX...: raw bytes ("0a ff 00" -> three bytes)
b() { local x; for x in "$@"; do printf "\\x$x"; done; }
# be16 N / be32 N: big-endian integers
be16() { b "$(printf %02x $(($1 >> 8 & 255)))" "$(printf %02x $(($1 & 255)))"; }
be32() { be16 $(($1 >> 16 & 65535)); be16 $(($1 & 65535)); }

want=" ${*:-codec reasm users engine ext2} "
seed() {   # seed HARNESS NAME  (bytes on stdin; dropped unless HARNESS was asked for)
    if [[ "$want" != *" $1 "* ]]; then
        cat >/dev/null
        return
    fi
    mkdir -p "$out/$1/corpus"
    cat > "$out/$1/corpus/$2"
}

# ---- ext2 ----
mksrc() {
    local s=$tmp/src$1
    mkdir -p "$s/d/sub" "$s/many"
    printf 'alpha\n' > "$s/a"
    printf 'file f\n' > "$s/d/f"
    printf 'g in sub\n' > "$s/d/sub/g"
    head -c "$2" /dev/zero | tr '\0' 'B' > "$s/big"
    for i in 00 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17; do
        printf 'entry %s\n' "$i" > "$s/many/e$i"
    done
}
mkimg() {  # mkimg NAME BLOCK KIB INODES BIGBYTES [MKE2FS OPTIONS]  (NAME *links*: with links)
    mksrc "$1" "$5"
    if [[ "$1" == *links* ]]; then
        ln -s a "$tmp/src$1/fast"                                   # in i_block
        ln -s "$(printf '../%.0s' $(seq 40))a" "$tmp/src$1/d/slow"  # 120 bytes: a block
        ln "$tmp/src$1/a" "$tmp/src$1/hard"
    fi
    # (2>&1: mke2fs warns that 128-byte inodes are deprecated)
    find "$tmp/src$1" -exec touch -h -d @1700000000 {} +      # same bytes on every run
    E2FSPROGS_FAKE_TIME=1700000000 \
    mke2fs -q -F -t ext2 -b "$2" -N "$4" -m 0 -U 6f2a7c1e-5b1d-4c55-9d7e-0a1b2c3d4e5f \
        -E root_owner=0:0,hash_seed=6f2a7c1e-5b1d-4c55-9d7e-0a1b2c3d4e5f ${6:-} -d "$tmp/src$1" \
        "$tmp/$1.img" "$3k" >/dev/null 2>&1 || { echo "mke2fs $1 failed" >&2; exit 1; }
}
# direct blocks + one indirect; 128-byte inodes and no resize inode so 64 KiB suffice
if [[ "$want" == *" ext2 "* ]]; then
mkimg img64 1024 64 48 14000 "-O ^resize_inode -I 128"
mkimg img128 1024 128 64 60000
mkimg img256b4k 4096 256 64 20000       # 4 KiB blocks: a block is a cache buffer
mkimg img64links 1024 64 48 4000 "-O ^resize_inode -I 128"
# img64 with an orphan list, as a crash with /a and /big unlinked while open leaves it (the
# mount frees both: fs/ext2_orphan.c)
cp "$tmp/img64.img" "$tmp/img64orph.img"
ino_a=$(debugfs -R 'stat /a' "$tmp/img64orph.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
ino_big=$(debugfs -R 'stat /big' "$tmp/img64orph.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
printf 'unlink /a\nunlink /big\nsif <%s> links_count 0\nsif <%s> dtime %s\nsif <%s> links_count 0\nsif <%s> dtime 0\nssv last_orphan %s\n' \
    "$ino_a" "$ino_a" "$ino_big" "$ino_big" "$ino_big" "$ino_a" | debugfs -w -f - "$tmp/img64orph.img" >/dev/null 2>&1
# ext3 (a journal of 1024 blocks, the least a journal may have): the harness takes these
# sparse (only the blocks that are not zeros; see fuzz_ext2.c).  img2m3rec also has two
# committed transactions for the mount to replay: one puts new bytes in /a's data block, the
# next revokes a block.
mkimg img2m3 1024 2100 48 14000 "-O ^resize_inode -I 128 -j -J size=1"
cp "$tmp/img2m3.img" "$tmp/img2m3rec.img"
blk_a=$(debugfs -R 'bmap /a 0' "$tmp/img2m3rec.img" 2>/dev/null)
printf 'alpha, from the journal\n' > "$tmp/jblock"
truncate -s 1024 "$tmp/jblock"
printf 'jo\njw -b %s %s\njw -r 2000\njc\n' "$blk_a" "$tmp/jblock" |
    debugfs -w -f - "$tmp/img2m3rec.img" >/dev/null 2>&1
debugfs -R logdump "$tmp/img2m3rec.img" 2>/dev/null | grep -q 'revoke table' ||
    { echo "debugfs wrote no transactions to img2m3rec" >&2; exit 1; }
sparse() {   # sparse IMAGE > OUT: "SPRS", u16 KiB, then (u16 block, 1 KiB) per non-zero block
    local img=$1 kib i
    kib=$(( $(stat -c %s "$img") / 1024 ))
    printf SPRS
    be16 "$kib"
    for ((i = 0; i < kib; i++)); do
        dd if="$img" bs=1024 skip="$i" count=1 status=none >"$tmp/blk"
        if ! cmp -s -n 1024 "$tmp/blk" /dev/zero; then
            be16 "$i"
            cat "$tmp/blk"
        fi
    done
}

# Scripts: op bytes and parameters per run_script() in fuzz_ext2.c (first byte: cache size
# and read-only flag).
s_walk() { b 04 10; }                                      # 8 buffers; walk
s_read() { b 02 00 00 02 00 10 04 02 00 00 02 00 00 06 02 01 00 40 00; }
s_write() { b 03 07 07 05 00 10 00 07 05 f2 00 40 01 00 08 06 06 00 06 10; }
s_ns() { b 05 08 09 07 0a 0b 07 09 0b 0c 01 09 08 0a 08 0a 0c 10; }
s_nb() { b 0f 03 00 02 00 06 04 00 10 00 06 04 00 00 02 00 03 0e 00 0b 0f 05 04 0d 10; }
s_tick() { b 03 07 09 05 00 08 00 09 0c 02 05 20 10 00 06 0c 02 0b 09 0a 0c 00 09 01 0c 01 00 02 10; }  # ext3: writes, ticks, syncs
s_ro() { b 84 00 03 01 00 02 05 00 00 01 10; }
# ops 17 readlink (cap, inode), 18 symlink (length, path), 19 link (path, path)
s_links() { b 06 10 11 00 40 00 0c 12 00 20 09 12 01 00 0a 13 03 0b 13 10 0a 10 09 10 09 11 09 12 10; }
ext2_seed() {   # ext2_seed IMAGE SCRIPT  (ext3 images, *m3*, go sparse)
    "s_$2" > "$tmp/script"
    if [[ "$1" == *m3* ]]; then sparse "$tmp/$1.img" >"$tmp/image"; else cp "$tmp/$1.img" "$tmp/image"; fi
    { be16 "$(stat -c %s "$tmp/script")"; cat "$tmp/script" "$tmp/image"; } | seed ext2 "$1-$2"
}
for s in walk read write ns nb ro; do ext2_seed img64 "$s"; done
ext2_seed img128 write
ext2_seed img128 ns
ext2_seed img256b4k read
ext2_seed img64links walk
ext2_seed img64links links
ext2_seed img64links ns
ext2_seed img64orph walk
ext2_seed img64orph write
for s in walk write ns tick; do ext2_seed img2m3 "$s"; done
ext2_seed img2m3rec walk
ext2_seed img2m3rec write
fi

# ---- codec (flag byte: bit 0 reply, bit 1 the harness writes the length prefix) ----
hdr() {    # hdr TYPE FN COMPLETION: 16-byte header, conn 1, seq 7, tag 9
    be16 "$1"; b "$(printf %02x "$2")" "$(printf %02x "$3")"; be16 1; b 00 00; be32 7; be32 9
}
rq() { hdr $((0x2222)) "$1" 0; }
rp() { hdr $((0x3333)) "$1" "${2:-0}"; }
{ b 02; rq 1; be16 1; be32 65600; } | seed codec rq-negotiate
{ b 02; rq 2; be16 5; printf guest; } | seed codec rq-challenge
{ b 02; rq 3; be16 4; printf user; head -c 32 /dev/zero; } | seed codec rq-login
{ b 02; rq 5; be32 3; printf abc; } | seed codec rq-ping
{ b 02; rq 16; be32 3; be16 420; be16 8; printf /d/./f/; } | seed codec rq-open
{ b 02; rq 17; be32 8; be16 0; be16 5; printf 'a//b'; } | seed codec rq-create
{ b 02; rq 18; be32 1; be32 0; be32 100; be32 4096; } | seed codec rq-read
{ b 02; rq 19; be32 1; be32 0; be32 5; be32 4; printf data; } | seed codec rq-write
{ b 02; rq 23; be16 2; printf /d; be32 0; be32 0; be16 10; } | seed codec rq-readdir
{ b 02; rq 25; be16 2; printf /a; be16 4; printf /b/c; } | seed codec rq-rename
{ b 02; rq 26; be16 493; be16 3; printf new; } | seed codec rq-mkdir
{ b 02; rq 29; be32 1; be32 0; be32 10; be32 0; be32 0; b 03; } | seed codec rq-lock
{ b 02; rq 30; be32 1; be32 0; be32 10; be32 0; be32 5; } | seed codec rq-unlock
{ b 02; rq 28; be32 2; be32 0; be32 99; } | seed codec rq-truncate
{ b 02; rq 48; be16 3; } | seed codec rq-stats
{ b 02; rq 32; } | seed codec rq-statfs
{ b 00; be32 20; rq 21; be16 2; printf /x; } | seed codec rq-stat-prefixed
{ b 02; rq 35; be16 8; printf ../a/b/c; be16 4; printf d/ln; } | seed codec rq-symlink
{ b 02; rq 36; be16 4; printf d/ln; } | seed codec rq-readlink
{ b 02; rq 37; be16 3; printf d/f; be16 3; printf d/g; } | seed codec rq-link
{ b 02; rq 38; be16 4; printf d/ln; } | seed codec rq-lstat
{ b 03; rp 36; be16 6; printf /a/../; } | seed codec rp-readlink
{ b 03; rp 38; be32 14; b 03 00; be16 511; be32 1; be32 0; be32 0; be32 0; be32 6
  be32 0; be32 0; be32 0; } | seed codec rp-lstat
{ b 03; rp 1; be16 1; be32 65600; be16 3; be32 256; be32 128; } | seed codec rp-negotiate
{ b 03; rp 2; b 04 01 02 03 04; head -c 16 /dev/zero; } | seed codec rp-challenge
{ b 03; rp 16; be32 1; be32 12; b 01 00; be16 420; be32 1; be32 0; be32 0; be32 0; be32 10
  be32 0; be32 0; be32 0; } | seed codec rp-open
{ b 03; rp 18; be32 5; printf hello; } | seed codec rp-read
{ b 03; rp 23; be32 0; be32 3; b 01; be16 2
  be32 12; b 01; be16 420; be32 0; be32 5; be32 0; b 01; printf f
  be32 13; b 02; be16 493; be32 0; be32 0; be32 0; b 03; printf sub; } | seed codec rp-readdir
{ b 03; rp 48; be16 5; be16 2; b 05; printf a.bcd; be32 0; be32 7; b 01; printf z; be32 1; be32 0; } | seed codec rp-stats
{ b 03; rp 32; be32 4096; be32 0; be32 100; be32 0; be32 50; be32 0; be32 64; be32 0; be32 10
  be32 255; be32 0; } | seed codec rp-statfs
{ b 03; rp 21 6; } | seed codec rp-error
{ b 03; hdr $((0x9999)) 29 0; } | seed codec rp-busy

# ---- reasm (u16 limit seed, u8 k, k u16 chunk sizes, stream) ----
frame() { be32 $((16 + $1)); rq 5; head -c "$1" /dev/zero; }
{ be16 100; b 00; frame 0; frame 10; frame 40; } | seed reasm whole
{ be16 100; b 03; be16 1; be16 3; be16 7; frame 0; frame 10; frame 40; frame 5; } | seed reasm chunked
{ be16 20; b 01; be16 2; frame 1; frame 2; frame 30; } | seed reasm over-limit
{ be16 100; b 01; be16 5; frame 3; be32 3; } | seed reasm under-min
{ be16 $((0x8000 | 300)); b 02; be16 $((0x8000 | 40)); be16 0; frame 500; frame 20; frame 300; } | seed reasm set-max
{ be16 100; b 00; frame 10; be32 60; rq 5; } | seed reasm partial
# growing mode (k byte's top bit), then a budget in 4-byte units (0: none)
{ be16 300; b 82; be16 7; be16 $((0x8000 | 200)); be16 0; frame 0; frame 100; frame 250; frame 20; } | seed reasm growing
{ be16 $((0x8000 | 2000)); b 81; be16 50; be16 100; frame 1000; frame 10; } | seed reasm growing-budget

# ---- users (u8 L, L name bytes, the users file text) ----
# format: name:salthex:hashhex:uid:gid:groups:flags, and %group:gid lines
H=$(printf '%064d' 0)
{ b 04; printf user; printf '# c\n%%staff:100\nuser:01020304:%s:1000:100:300,301:\nadmin:0a0b:%s:0:0::admin\n' "$H" "$H"; } | seed users two
{ b 05; printf admin; printf 'admin:0a0b:%s:0:0::admin\r\n%%wheel:0\r\n' "$H"; } | seed users crlf
{ b 03; printf bob; printf 'bob:zz:%s:1:1::\nbob::%s:1:1::\nbob:0102:%s:x:y::\nbob:01:%s:1:1:1,,2:\nbob:01:%s\n%%:5\n%%g:\n' "$H" "$H" "$H" "$H" "$H"; } | seed users malformed
{ b 01; printf u; printf 'u:%s:%s:4294967295:4294967295:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16:admin,x' "$(printf '%064d' 1)" "$H"; } | seed users long-salt-no-newline

# ---- engine (ops: byte = conn | may_block<<1 | op<<2; see fuzz_engine.c) ----
# ops: 0 raw, 1 request, 2 login, 3 reconnect, 4 run.  op byte for conn c, blocking: (op<<2)|2|c
OPB() { b "$(printf %02x $(( ($1 << 2) | ${3:-2} | $2 )))"; }
login() { OPB 2 "$1"; b "$(printf %02x "$2")"; }           # login CONN USER(0 user, 2 admin)
req() { OPB 1 "$1" "${3:-2}"; b "$2"; }                   # req CONN FNINDEX [mode]; params follow
# function indexes (functions[] in fuzz_engine.c): 5 open, 6 create, 7 read, 8 write, 9 close,
# 10 stat, 11 fstat, 12 readdir, 13 unlink, 14 rename, 15 mkdir, 17 truncate, 18 lock,
# 19 unlock, 20 fsync, 21 statfs, 22 stats, 23 shutdown, 0 negotiate, 4 ping (24..27: see the links seed)
{ login 0 0; req 0 15; } | seed engine login-statfs
{ login 0 0; req 0 05; b 03 00 02; req 0 07; b 00 00 20; req 0 08; b 00 05 08 61 62; req 0 09; b 00; } | seed engine open-read-write
{ login 0 0; login 1 1; req 0 05; b 03 00 02; req 1 05; b 01 00 02
  req 0 12; b 00 00 0a 03; req 1 12; b 00 05 05 02; req 1 12; b 00 00 0a 02
  req 0 13; b 00 00 0a; } | seed engine lock-wait-grant
{ login 0 0; login 1 0; req 0 05; b 03 00 02; req 1 05; b 03 00 02
  req 0 12; b 00 00 00 03; req 1 12; b 00 00 00 03; OPB 3 0; OPB 4 1; b 05; } | seed engine lock-wait-disconnect
{ login 0 0; req 0 06; b 03 00 07; req 0 08 0; b 00 00 10 77 77; OPB 4 0; b 03; req 0 0c 0; b 00 05 00; OPB 4 0; b 03; } | seed engine nonblocking
{ login 0 2; req 0 0e; b 06 07; req 0 0d; b 07; req 0 0a; b 01; req 0 11; b 00 00; req 0 17; } | seed engine admin-ops
{ login 0 0; req 0 05; b 01 00 0a; req 0 0a; b 0a; req 0 0c; b 09 00 00; } | seed engine users-file-denied
{ login 0 0; req 0 05; b 01 00 06; OPB 1 0 0; b 07; b 00 00 f0 10 00; req 0 16; b 00; } | seed engine read-by-ref
{ OPB 0 0; be16 20; rq 5; be32 0; OPB 0 1; be16 16; rq 32; OPB 2 0; b 05; OPB 2 1; b 06; } | seed engine raw-and-bad-logins
{ login 0 0; req 0 00; b 01 ff 00 00 00 00 00 00 10 00; req 0 04; b 03 61 62 63; } | seed engine negotiate-ping
# 24 symlink (target byte, path), 25 readlink, 26 link (two paths), 27 lstat; paths by input bytes (0x80 | len)
{ login 0 0; req 0 18; b 00 89; printf /d/up-new; req 0 19; b 87; printf /pub/up; req 0 1b; b 86; printf /d/abs
  req 0 0a; b 89; printf /pub/up/x; req 0 0a; b 85; printf /loop; req 0 1a; b 84; printf /d/f; b 85; printf /d/f2
  req 0 05; b 01 86; printf /d/rel; } | seed engine links
echo "seeds written under $out/*/corpus"
