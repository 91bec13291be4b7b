/*
 * A hash index over lwIP's active TCP connections, for the ones a service registers.
 *
 * lwIP 2.1 finds the connection of every incoming segment by walking tcp_active_pcbs, a
 * singly linked list: with thousands of clients every segment costs thousands of steps
 * (measured: 3000 busy connections put tcp_input at 45% of all guest samples, and 10000
 * made 1400 requests/s).  net/kernel.mk builds lwIP's tcp_in.c with that walk starting
 * at net_tcp_lookup_hint() instead of at the list head: for an indexed connection the
 * hint is the connection itself, found at the first step (lwIP then sees a "cache hit"
 * and changes nothing); for anything else it is the list head, as before.
 *
 * The index only ever holds connections that are on the active list: a service adds a
 * connection when it accepts it and removes it before it closes or aborts it, and in
 * its error callback (lwIP has freed it then).  Everything runs under the core lock.
 */
#include "net_priv.h"
#include "net.h"
#include "string.h"
#include "lwip/priv/tcp_priv.h"

#define SLOTS 32768u                          /* power of two, twice lwIP's most PCBs */
#define TOMB ((struct tcp_pcb *)1)
static struct tcp_pcb *slots[SLOTS];
static uint32_t used, tombs;
static uint64_t hits, misses;

static uint32_t slot_of(uint32_t ip, uint16_t rport, uint16_t lport)
{
    uint32_t h = ip * 0x9E3779B1u ^ ((uint32_t)rport << 16 | lport) * 0x85EBCA77u;
    return (h ^ (h >> 15)) & (SLOTS - 1);
}

static uint32_t slot_of_pcb(const struct tcp_pcb *p)
{
    return slot_of(ip4_addr_get_u32(ip_2_ip4(&p->remote_ip)), p->remote_port, p->local_port);
}

static void put(struct tcp_pcb *p)
{
    uint32_t i = slot_of_pcb(p);
    while (slots[i] && slots[i] != TOMB)
        i = (i + 1) & (SLOTS - 1);
    if (slots[i] == TOMB)
        tombs--;
    slots[i] = p;
    used++;
}

/* Too many tombstones make misses walk far: put the live entries in afresh. */
static void rebuild(void)
{
    static struct tcp_pcb *live[SLOTS / 2];
    uint32_t n = 0;
    for (uint32_t i = 0; i < SLOTS; i++)
        if (slots[i] && slots[i] != TOMB && n < SLOTS / 2)
            live[n++] = slots[i];
    memset(slots, 0, sizeof slots);
    used = tombs = 0;
    for (uint32_t i = 0; i < n; i++)
        put(live[i]);
}

void net_pcb_index_add(struct tcp_pcb *p)
{
    LWIP_ASSERT_CORE_LOCKED();
    if (used + tombs >= SLOTS / 2)
        rebuild();
    if (used < SLOTS / 2)
        put(p);
}

/* By the key the connection was added with: in an error callback lwIP may already have
 * freed the PCB, so its fields are not read here, only its address compared. */
void net_pcb_index_del(struct tcp_pcb *p, uint32_t remote_ip, uint16_t remote_port, uint16_t local_port)
{
    LWIP_ASSERT_CORE_LOCKED();
    for (uint32_t i = slot_of(remote_ip, remote_port, local_port), n = 0; slots[i] && n < SLOTS; i = (i + 1) & (SLOTS - 1), n++) {
        if (slots[i] == p) {
            slots[i] = TOMB;
            used--;
            tombs++;
            return;
        }
    }
}

struct tcp_pcb *net_tcp_lookup_hint(u16_t src_port, u16_t dest_port)
{
    if (used && IP_IS_V4(ip_current_src_addr())) {
        uint32_t src = ip4_addr_get_u32(ip_2_ip4(ip_current_src_addr()));
        for (uint32_t i = slot_of(src, src_port, dest_port), n = 0; slots[i] && n < SLOTS;
             i = (i + 1) & (SLOTS - 1), n++) {
            struct tcp_pcb *p = slots[i];
            if (p != TOMB && p->remote_port == src_port && p->local_port == dest_port &&
                ip4_addr_get_u32(ip_2_ip4(&p->remote_ip)) == src &&
                ip_addr_cmp(&p->local_ip, ip_current_dest_addr()) &&
                p->state != CLOSED && p->state != LISTEN && p->state != TIME_WAIT) {
                hits++;
                return p;
            }
        }
    }
    misses++;
    return tcp_active_pcbs;
}

void net_pcb_index_stats(uint64_t *nhits, uint64_t *nmisses, uint32_t *nused)
{
    *nhits = hits;
    *nmisses = misses;
    *nused = used;
}
