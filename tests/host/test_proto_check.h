/* test_proto_check.h - the proto tests' old name for tests/host/test_harness.h (CHECK,
 * CHECK_EQ, RUN, RUN_AS, DONE, SKIP: see there). */
#ifndef TEST_PROTO_CHECK_H
#define TEST_PROTO_CHECK_H
#include "tests/host/test_harness.h"
#endif
