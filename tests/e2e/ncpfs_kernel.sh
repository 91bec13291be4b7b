#!/usr/bin/env bash
# The ncpfs mount suite against the WorkToDo kernel in QEMU instead of ncpd, over a tap device
# in a network namespace of the suite's own (tests/e2e/cli_lib.sh: boot_kernel).
exec env NCP_TARGET=kernel KERNEL_NET=${KERNEL_NET:-tap} "$(dirname "$0")/ncpfs_mount.sh" "$@"
