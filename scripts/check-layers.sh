#!/usr/bin/env bash
# check-layers.sh [ROOT]: each directory owns one layer and includes only the public headers
# of the layers it may call (docs/architecture.md).  Every `#include "..."` in the kernel,
# driver, network, fs, codec, server and client sources is resolved the way the compiler
# does (the including file's directory, then the -I roots) and the directory it lands in
# must be one the including layer may use.  Private headers (*_internal.h, *_regs.h,
# *_format.h, *_priv.h) are for their own directory only (lwIP's own lwip/priv/ headers are
# its port's business: net/ is that port).  tests/ may look anywhere.
# Prints one line per layer (`ok layer_DIR` / `FAIL layer_DIR: ...`), a self-check that a
# bad include is caught, and `N passed, N failed, N skipped`; run by `make` and by `make test`.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# What each layer may include besides itself (directories; "lwip" is third_party/lwip).
allowed() {
    case "$1" in
        boot)          echo "kernel";;
        kernel)        echo "";;
        drivers/*)     echo "kernel";;
        net)           echo "kernel drivers/e1000 drivers/virtio lwip include";;   # include/null_rpc.h
        fs)            echo "";;
        fs/kernel)     echo "fs kernel drivers/ahci drivers/virtio";;
        proto)         echo "include";;
        server)        echo "proto include fs";;
        server/kernel) echo "server proto include fs fs/kernel net kernel lwip";;
        server/linux)  echo "server proto include fs";;
        client)        echo "proto include";;
    esac
}
LAYERS="boot kernel drivers/e1000 drivers/ahci drivers/virtio net fs fs/kernel proto server server/kernel server/linux client"

# layer_of PATH (relative to the root): the layer directory a header belongs to.
layer_of() {
    case "$1" in
        third_party/lwip/*|net/compat/*|net/arch/*) echo lwip;;
        drivers/*/*) local d=${1#drivers/}; echo "drivers/${d%%/*}";;
        fs/kernel/*) echo fs/kernel;;
        server/kernel/*) echo server/kernel;;
        server/linux/*) echo server/linux;;
        */*) echo "${1%%/*}";;
        *) echo "?";;
    esac
}

# check_layer ROOT LAYER: prints the offending includes; status 1 if there are any.
check_layer() {
    local root=$1 layer=$2 bad=0 f line name dir hit layer_hit ok a
    local roots=(include kernel . net net/compat third_party/lwip/src/include)
    for f in "$root/$layer"/*.c "$root/$layer"/*.h; do
        [ -f "$f" ] || continue
        while IFS= read -r line; do
            name=${line#*\"}; name=${name%%\"*}
            dir=$(dirname "$f")
            hit=""
            if [ -f "$dir/$name" ]; then
                hit=$(realpath --relative-to="$root" "$dir/$name")
            else
                for r in "${roots[@]}"; do
                    if [ -f "$root/$r/$name" ]; then hit=$(realpath --relative-to="$root" "$root/$r/$name"); break; fi
                done
            fi
            case "$name" in lwip/*|netif/*|arch/*) [ -z "$hit" ] && hit=third_party/lwip/src/include/$name;; esac
            if [ -z "$hit" ]; then
                echo "    ${f#$root/}: #include \"$name\" resolves to no file"
                bad=1
                continue
            fi
            layer_hit=$(layer_of "$hit")
            ok=0
            [ "$layer_hit" = "$layer" ] && ok=1
            for a in $(allowed "$layer"); do [ "$layer_hit" = "$a" ] && ok=1; done
            if [ "$ok" = 1 ] && [ "$layer_hit" != "$layer" ] && [ "$layer_hit" != lwip ]; then
                case "$hit" in *_internal.h|*_regs.h|*_format.h|*_priv.h)
                    echo "    ${f#$root/}: #include \"$name\": a private header of $layer_hit"
                    bad=1
                    continue;;
                esac
            fi
            if [ "$ok" = 0 ]; then
                echo "    ${f#$root/}: #include \"$name\" ($hit): $layer may not include from $layer_hit"
                bad=1
            fi
        done < <(grep -hE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
    done
    return $bad
}

source "$here/tests/e2e/suite_lib.sh"    # pass, fail, finish
for layer in $LAYERS; do
    out=$(check_layer "$here" "$layer")
    if [ $? = 0 ]; then
        ok "layer_${layer//\//_}"
    else
        bad "layer_${layer//\//_}" ""
        printf \'%s\n\' "$out"
    fi
done

# The checker itself must catch a kernel file that includes fs/, and a server file that
# includes a private fs/ header.
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/kernel" "$t/fs" "$t/server"
printf '#include "ext2.h"\n' > "$t/fs/ext2_format.h"
printf '#pragma once\n' > "$t/fs/ext2.h"
printf '#include "fs/ext2.h"\n' > "$t/kernel/bad.c"
printf '#include "fs/ext2_format.h"\n' > "$t/server/bad.c"
k=$(check_layer "$t" kernel)
kr=$?
s=$(check_layer "$t" server)
sr=$?
if [ "$kr" = 1 ] && [ "$sr" = 1 ] && [[ "$k" == *"kernel may not include from fs"* ]] && [[ "$s" == *"private header of fs"* ]]; then
    ok "layer_check_catches_bad_includes"
else
    bad "layer_check_catches_bad_includes" "kernel check status $kr ($k), server check status $sr ($s)"
fi
finish
