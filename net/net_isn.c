/*
 * TCP initial sequence numbers, RFC 6528: ISN = M + F(local IP, local port, remote IP,
 * remote port, secret), M a 4-microsecond clock and F the first 32 bits of one ChaCha20
 * block keyed by a secret drawn from the kernel CSPRNG at first use, with the connection's
 * addresses and ports as the nonce.  Without the secret an off-path host cannot guess the
 * ISN of anyone else's connection; one connection's ISNs still advance with time as TCP
 * expects, so segments of an old incarnation of the same 4-tuple fall outside the window.
 *
 * lwIP calls this (LWIP_HOOK_TCP_ISN) with the core lock held, which guards the secret.
 */
#include "net_priv.h"
#include "net_hooks.h"
#include "random.h"
#include "time.h"

static uint8_t isn_secret[CHACHA20_KEY_SIZE];   /* guarded by the core lock */
static bool isn_secret_set;                    /* guarded by the core lock */

u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip, u16_t remote_port)
{
    LWIP_ASSERT_CORE_LOCKED();
    if (unlikely(!isn_secret_set)) {
        random_bytes(isn_secret, sizeof isn_secret);
        isn_secret_set = true;
    }
    uint32_t tuple[3] = { ip4_addr_get_u32(ip_2_ip4(local_ip)), ip4_addr_get_u32(ip_2_ip4(remote_ip)),
                          (uint32_t)local_port | (uint32_t)remote_port << 16 };
    uint8_t block[CHACHA20_BLOCK_SIZE];
    chacha20_block(isn_secret, 0, (const uint8_t *)tuple, block);
    uint32_t f;
    memcpy(&f, block, sizeof f);
    wipe(block, sizeof block);
    return (u32_t)(now_ns() / 4000) + f;
}
