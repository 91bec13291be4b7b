#!/usr/bin/env bash
# The connection limit against the WorkToDo kernel in QEMU (tests/e2e/test_ncpd.c
# test_connection_limit, NCP_TEST_SUITE=connlimit): booted with ncp.maxconn=3, three
# connections are admitted, a fourth gets the ETOOMANYCONNS refusal, a closed one's slot
# comes free again, and an admin shutdown ends the kernel (which must not have panicked;
# the volume must be clean for e2fsck).  ncpd runs the same test with --max-conns 3.
cd "$(dirname "$0")/../.." || exit 1
KPROTO_SUITE=connlimit KPROTO_ARGS="ncp.maxconn=3" exec tests/e2e/ncp_kernel_protocol.sh
