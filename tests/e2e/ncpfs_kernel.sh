#!/usr/bin/env bash
# The ncpfs mount suite against the WorkToDo kernel in QEMU instead of ncpd.
exec env NCP_TARGET=kernel "$(dirname "$0")/ncpfs_mount.sh" "$@"
