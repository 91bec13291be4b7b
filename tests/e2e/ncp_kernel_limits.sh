#!/usr/bin/env bash
# Pre-login limits against the WorkToDo kernel in QEMU (tests/e2e/test_ncpd.c with
# NCP_TEST_SUITE=limits): booted with short login and partial-frame timeouts and a 1 MiB
# connection memory budget, idle pre-login connections are closed by the timeouts and
# connections past the budget get the ETOOMANYCONNS refusal, the server staying up.
# (The half-frame / NEGOTIATE flood runs in ncp_kernel_protocol.sh, with long timeouts.)
cd "$(dirname "$0")/../.." || exit 1
KPROTO_SUITE=limits KPROTO_ARGS="ncp.login_timeout_s=4 ncp.frame_timeout_s=4 ncp.conn_mem_mb=1" \
    exec tests/e2e/ncp_kernel_protocol.sh
