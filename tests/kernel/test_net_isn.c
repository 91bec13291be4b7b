/* TCP initial sequence numbers (net/net_isn.c, RFC 6528) through lwIP's own tcp_next_iss(),
 * and LWIP_RAND drawing from the kernel CSPRNG. */
#include "ktest.h"
#ifdef WTD_NET
#include "net/net_priv.h"
#include "random.h"
#include "time.h"
#include "io.h"
#include "string.h"
#include "printf.h"
#include "lwip/priv/tcp_priv.h"

#define ISN_N 64

static struct tcp_pcb isn_pcb;

static u32_t iss_for(uint32_t local, uint16_t lport, uint32_t remote, uint16_t rport)
{
    ip4_addr_set_u32(ip_2_ip4(&isn_pcb.local_ip), local);
    ip4_addr_set_u32(ip_2_ip4(&isn_pcb.remote_ip), remote);
    isn_pcb.local_port = lport;
    isn_pcb.remote_port = rport;
    return tcp_next_iss(&isn_pcb);
}

/* Successive connections (a client's next source port each time, as a scanner or an
 * attacker opening its own connections sees them) are not an arithmetic sequence, and
 * their values spread over the whole 32-bit space; lwIP's own 6510 + tcp_ticks was both. */
KTEST(net_tcp_isn_not_predictable)
{
    static u32_t isn[ISN_N];
    uint32_t local = PP_HTONL(LWIP_MAKEU32(10, 0, 2, 15)), remote = PP_HTONL(LWIP_MAKEU32(10, 0, 2, 2));
    net_core_lock();
    for (int i = 0; i < ISN_N; i++)
        isn[i] = iss_for(local, 524, remote, (uint16_t)(40000 + i));
    net_core_unlock();
    int same_step = 0, small_step = 0;
    uint8_t top_seen[256] = { 0 };
    unsigned top_distinct = 0;
    for (int i = 0; i < ISN_N; i++) {
        if (!top_seen[isn[i] >> 24]++)
            top_distinct++;
        if (i >= 2 && isn[i] - isn[i - 1] == isn[i - 1] - isn[i - 2])
            same_step++;
        if (i >= 1 && isn[i] - isn[i - 1] < 0x01000000u)
            small_step++;
        /* not an xorshift of the previous one (the generator this replaced) */
        if (i >= 1) {
            uint32_t x = isn[i - 1];
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            KT_NE(isn[i], x);
        }
    }
    kprintf("  ISNs: first %08x %08x %08x, %u distinct top bytes of %d, %d equal steps, %d small steps\n",
            isn[0], isn[1], isn[2], top_distinct, ISN_N, same_step, small_step);
    KT_LE(same_step, 1);
    KT_LE(small_step, 8);                  /* a step below 2^24 has probability 1/256 */
    KT_GE(top_distinct, 40);               /* 64 random top bytes: about 57 distinct */
}

/* One 4-tuple's ISN advances with the 4-microsecond clock (RFC 6528's M) and nothing else;
 * another remote address with the same ports lands somewhere unrelated. */
KTEST(net_tcp_isn_same_tuple_advances_with_time)
{
    uint32_t local = PP_HTONL(LWIP_MAKEU32(10, 0, 2, 15));
    uint32_t r1 = PP_HTONL(LWIP_MAKEU32(10, 0, 2, 2)), r2 = PP_HTONL(LWIP_MAKEU32(10, 0, 2, 3));
    uint32_t r3 = PP_HTONL(LWIP_MAKEU32(10, 0, 2, 4));
    net_core_lock();
    uint64_t t0 = now_ns();
    u32_t a = iss_for(local, 524, r1, 50000);
    u32_t b = iss_for(local, 524, r1, 50000);
    uint64_t t1 = now_ns();
    u32_t c = iss_for(local, 524, r2, 50000);
    u32_t d = iss_for(local, 524, r3, 50000);
    net_core_unlock();
    KT_LE(b - a, (t1 - t0) / 4000 + 1);
    u32_t dist_c = c - a < a - c ? c - a : a - c;
    u32_t dist_d = d - a < a - d ? d - a : a - d;
    KT_GE(MAX(dist_c, dist_d), 1u << 16);  /* unrelated: both near by chance is 2^-30 */
}

/* LWIP_RAND (lwIP's local ports and other randomness) takes its bytes from the CSPRNG. */
KTEST(net_lwip_rand_is_the_csprng)
{
    struct random_stats s0, s1;
    uint64_t f = irq_save();               /* no other caller between the two snapshots */
    random_get_stats(&s0);
    u32_t v = LWIP_RAND();
    random_get_stats(&s1);
    irq_restore(f);
    KT_EQ(s1.bytes_out - s0.bytes_out, 4);
    (void)v;
}
#endif
