/* proto/sha256.c compiled privately for the storage tests (ktest_sha256*), so the tests do
 * not depend on whether, or how, the server's kernel build links proto/. */
#define sha256_init   ktest_sha256_init
#define sha256_update ktest_sha256_update
#define sha256_final  ktest_sha256_final
#define sha256        ktest_sha256
#define sha256_hex    ktest_sha256_hex
#define sha256_unhex  ktest_sha256_unhex
#include "proto/sha256.c"
