#!/bin/sh
# mkdemo.sh [OUT] - build the demo disk image (default build/demo.img) once;
# it is rebuilt only when this script, mkimage.sh or the generator changed.
# Contents:
#   README.txt, hello.txt          small text files
#   docs/notes/...                 nested directories
#   data/random64.bin              64 MiB from tests/host/fs_genrand.c, seed
#                                  20240501 (data/random64.sha256 has its hash)
#   etc/ncp-users                  made by scripts/mkusers.sh if that exists,
#                                  with the users in $NCP_DEMO_USERS (default
#                                  "guest guest admin:admin admin": user guest,
#                                  password guest, uid 1000; admin/admin with the
#                                  admin flag, uid 0)
#   home/NAME                      a private home per user (scripts/volume-layout.sh:
#                                  root 1777 like /tmp, /etc admin 0755, the users
#                                  file admin 0600, the rest readable by all)
set -eu
cd "$(dirname "$0")/.."
out=${1:-build/demo.img}
gen_src=tests/host/fs_genrand.c
gen=build/host/fs_genrand

newer() {  # true if $1 is missing or older than any of the rest
	t=$1; shift
	[ -e "$t" ] || return 0
	for f in "$@"; do
		[ -e "$f" ] && [ "$f" -nt "$t" ] && return 0
	done
	return 1
}

if ! newer "$out" scripts/mkdemo.sh scripts/mkimage.sh "$gen_src" scripts/mkusers.sh scripts/volume-layout.sh; then
	echo "$out is up to date"
	exit 0
fi

mkdir -p build/host
if newer "$gen" "$gen_src"; then
	${CC:-cc} -O2 -o "$gen" "$gen_src"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/wtd-demo.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
mkdir -p "$stage/docs/notes/deep" "$stage/data" "$stage/etc"
cat > "$stage/README.txt" <<'TXT'
WorkToDo demo disk.
This ext2 file system is served by the WorkToDo unikernel file server.
Try: ls /, cat /hello.txt, get /data/random64.bin
TXT
echo "Hello from WorkToDo!" > "$stage/hello.txt"
printf 'notes live here\n' > "$stage/docs/notes/todo.txt"
printf 'a file three directories down\n' > "$stage/docs/notes/deep/idea.txt"
printf 'manual placeholder\n' > "$stage/docs/manual.txt"
"$gen" 20240501 67108864 > "$stage/data/random64.bin"
(cd "$stage/data" && sha256sum random64.bin > random64.sha256)
if [ -x scripts/mkusers.sh ]; then
	# shellcheck disable=SC2086
	scripts/mkusers.sh "$stage/etc/ncp-users" ${NCP_DEMO_USERS:-guest guest admin:admin admin}
fi
scripts/volume-layout.sh "$stage"
scripts/mkimage.sh "$stage" "$out.tmp" 128M
mv "$out.tmp" "$out"
echo "built $out"
