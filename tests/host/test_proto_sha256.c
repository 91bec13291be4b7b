/* test_proto_sha256.c - SHA-256 against FIPS 180-4 / NIST known vectors. */
#include "proto/sha256.h"
#include "test_proto_check.h"

static int digest_is(const void *msg, size_t len, const char *hex)
{
    uint8_t d[32];
    char h[65];
    sha256(msg, len, d);
    sha256_hex(d, 32, h);
    return strcmp(h, hex) == 0;
}

static void test_sha256_empty(void)
{
    CHECK(digest_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

static void test_sha256_abc(void)
{
    CHECK(digest_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

static void test_sha256_two_blocks(void)
{
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(digest_is(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    const char *m2 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK(digest_is(m2, strlen(m2), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
}

static void test_sha256_million_a_incremental(void)
{
    struct sha256_ctx c;
    uint8_t d[32];
    char h[65];
    static char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sha256_update(&c, chunk, 1000);
    sha256_final(&c, d);
    sha256_hex(d, 32, h);
    CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void test_sha256_block_boundaries(void)
{
    /* Splitting the input anywhere gives the same digest as one call. */
    uint8_t msg[200], one[32], two[32];
    for (int i = 0; i < 200; i++)
        msg[i] = (uint8_t)(i * 31 + 7);
    for (size_t len = 0; len <= 200; len += 1) {
        sha256(msg, len, one);
        struct sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, msg, len / 3);
        sha256_update(&c, msg + len / 3, len - len / 3);
        sha256_final(&c, two);
        CHECK(memcmp(one, two, 32) == 0);
    }
}

static void test_hex_roundtrip(void)
{
    uint8_t b[4] = { 0xde, 0xad, 0x00, 0x7f }, back[4];
    char h[9];
    sha256_hex(b, 4, h);
    CHECK(strcmp(h, "dead007f") == 0);
    CHECK(sha256_unhex("DEAD007F", 8, back, 4) && memcmp(b, back, 4) == 0);
    CHECK(!sha256_unhex("dead007", 7, back, 4));
    CHECK(!sha256_unhex("deadg07f", 8, back, 4));
}

int main(void)
{
    RUN(test_sha256_empty);
    RUN(test_sha256_abc);
    RUN(test_sha256_two_blocks);
    RUN(test_sha256_million_a_incremental);
    RUN(test_sha256_block_boundaries);
    RUN(test_hex_roundtrip);
    DONE();
}
