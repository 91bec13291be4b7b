#!/usr/bin/env bash
# The ncpc end-to-end suite against the WorkToDo kernel in QEMU instead of ncpd.
exec env NCP_TARGET=kernel "$(dirname "$0")/ncpc_cli.sh" "$@"
