#!/usr/bin/env bash
# The atomic-put suite against the WorkToDo kernel in QEMU instead of ncpd.
exec env NCP_TARGET=kernel "$(dirname "$0")/ncpc_put_atomic.sh" "$@"
