/*
 * lwIP's platform side and bring-up: the core lock, sys_now(), the timer WTD, and
 * net_init (INIT_NET initcall): lwIP, the interface over the NIC (net.nic= picks the e1000
 * or virtio-net when both are present), DHCP or a static address (ip=ADDR/PREFIX gw=ADDR),
 * then the services.
 */
#include "net_priv.h"
#include "net_nic.h"
#include "sched.h"
#include "wtd.h"
#include "time.h"
#include "kopt.h"
#include "init.h"
#include "panic.h"
#include "printf.h"
#include "string.h"
#include "lwip/init.h"
#include "lwip/timeouts.h"
#include "lwip/dhcp.h"
#include "lwip/ip4_addr.h"
#include "netif/ethernet.h"

static const char *opt_ip, *opt_gw;
static uint64_t opt_tick_ms = 10;
KOPT_STR("ip", opt_ip, "static IPv4 address ADDR/PREFIX (default: DHCP)");
KOPT_STR("gw", opt_gw, "IPv4 gateway with ip=");
KOPT_U64("net.tick_ms", opt_tick_ms, 1, 1000, "period of the lwIP timer WTD");
static const char *opt_nic;
KOPT_STR("net.nic", opt_nic, "network driver when both kinds are present: e1000 (default) or virtio");

static struct nic the_nic;
static struct nic *chosen;
struct nic *net_nic(void) { return chosen; }

/* The e1000 unless net.nic=virtio (or there is no e1000). */
static struct nic *pick_nic(void)
{
    bool want_virtio = opt_nic && strcmp(opt_nic, "virtio") == 0;
    if (opt_nic && !want_virtio && strcmp(opt_nic, "e1000") != 0)
        kprintf("net: net.nic=%s is neither e1000 nor virtio: using what is there\n", opt_nic);
    void *e = net_nic_e1000_ops.find(), *v = net_nic_virtio_ops.find();
    const struct nic_ops *ops = v && (want_virtio || !e) ? &net_nic_virtio_ops : e ? &net_nic_e1000_ops : NULL;
    if (!ops)
        return NULL;
    if (want_virtio && !v)
        kprintf("net: net.nic=virtio but there is no usable virtio-net device: using the e1000\n");
    the_nic.ops = ops;
    the_nic.dev = ops == &net_nic_virtio_ops ? v : e;
    ops->mac(the_nic.dev, the_nic.mac);
    the_nic.tx_csum = ops->offloads_tx_csum(the_nic.dev);
    the_nic.rx_csum = ops->vouches_rx_csum(the_nic.dev);
    return &the_nic;
}

/* ---- the core lock ---- */
static struct mutex core_lock = MUTEX_INIT("net-core");

/* The core lock is innermost (lock order in server/kernel/kserver.c): the thread is marked
 * so that waiting for an engine or file-system mutex under it panics (fs_mutex_lock). */
void net_core_lock(void)
{
    mutex_lock(&core_lock);
    current->innermost_locks++;
}
void net_core_unlock(void)
{
    net_netif_tx_flush();          /* one doorbell for everything sent under the lock */
    current->innermost_locks--;
    mutex_unlock(&core_lock);
}
bool net_core_locked(void) { return core_lock.owner == current; }
void net_assert_core_locked(void)
{
    if (unlikely(!net_core_locked()))
        panic("lwIP entered without the net core lock");
}

u32_t sys_now(void) { return (u32_t)(now_ns() / 1000000ULL); }

/* ---- timers: a thread ticks, a WTD runs lwIP's timeouts under the lock ---- */
static struct wtd timer_wtd;
static uint64_t last_hw_stats_ns;

static uint32_t net_timer_wtd(struct wtd *w)
{
    struct nic *nic = w->context;
    net_core_lock();
    sys_check_timeouts();
    uint64_t now = now_ns();
    if (nic && now - last_hw_stats_ns > 1000000000ULL) {
        nic->ops->hw_stats(nic->dev);
        last_hw_stats_ns = now;
    }
    net_core_unlock();
    return 0;
}

/* Sleeps until lwIP's next timeout is due (at least net.tick_ms, at most 100 ms, so a
 * timeout added meanwhile -- e.g. TCP's 250 ms timer -- is never late by much), then
 * queues the timer WTD: when idle that is a couple of WTDs a second, not a 100 Hz poll. */
static void net_timer_thread(void *arg)
{
    for (;;) {
        net_core_lock();
        u32_t due = sys_timeouts_sleeptime();
        net_core_unlock();
        if (due == 0) {
            wtd_schedule(&timer_wtd);
            due = (u32_t)opt_tick_ms;
        }
        thread_sleep_ms(MIN(MAX((uint64_t)due, opt_tick_ms), 100));
    }
}

/* ---- addresses ---- */
struct netif net_if;
static bool use_dhcp;

bool net_is_up(void) { return netif_is_up(&net_if) && !ip4_addr_isany_val(*netif_ip4_addr(&net_if)); }
uint32_t net_ipv4_addr(void) { return ip4_addr_get_u32(netif_ip4_addr(&net_if)); }

/* "a.b.c.d/prefix" -> address and mask; false if malformed. */
static bool parse_cidr(const char *s, ip4_addr_t *addr, ip4_addr_t *mask)
{
    char buf[32];
    strlcpy(buf, s, sizeof buf);
    char *slash = strchr(buf, '/');
    uint64_t prefix = 24;
    if (slash) {
        *slash = 0;
        if (!parse_u64(slash + 1, &prefix) || prefix > 32)
            return false;
    }
    if (!ip4addr_aton(buf, addr))
        return false;
    ip4_addr_set_u32(mask, prefix ? lwip_htonl(0xFFFFFFFFu << (32 - prefix)) : 0);
    return true;
}

static void status_changed(struct netif *nif)
{
    if (netif_is_up(nif) && ip4_addr_isany_val(*netif_ip4_addr(nif))) {
        kprintf("net: interface up, waiting for DHCP\n");
        return;
    }
    char a[16], m[16], g[16];
    ip4addr_ntoa_r(netif_ip4_addr(nif), a, sizeof a);
    ip4addr_ntoa_r(netif_ip4_netmask(nif), m, sizeof m);
    ip4addr_ntoa_r(netif_ip4_gw(nif), g, sizeof g);
    kprintf("net: %s %s netmask %s gw %s (%s)\n", netif_is_up(nif) ? "up" : "down", a, m, g,
            use_dhcp ? "dhcp" : "static");
}

static int net_init(void)
{
    struct nic *d = pick_nic();
    if (!d) {
        kprintf("net: no network device, networking off\n");
        return 0;
    }
    chosen = d;
    kprintf("net: driver %s, mac %02x:%02x:%02x:%02x:%02x:%02x, checksum offload tx %s rx %s\n", d->ops->driver,
            d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], d->tx_csum ? "yes" : "no",
            d->rx_csum ? "yes" : "no");
    ip4_addr_t addr, mask, gw;
    ip4_addr_set_zero(&addr);
    ip4_addr_set_zero(&mask);
    ip4_addr_set_zero(&gw);
    use_dhcp = opt_ip == NULL;
    if (!use_dhcp && !parse_cidr(opt_ip, &addr, &mask)) {
        kprintf("net: bad ip=%s (want ADDR/PREFIX), using DHCP\n", opt_ip);
        use_dhcp = true;
    }
    if (!use_dhcp && opt_gw && !ip4addr_aton(opt_gw, &gw))
        kprintf("net: bad gw=%s, no gateway\n", opt_gw);

    net_core_lock();
    lwip_init();
    net_guard_init();
    if (!netif_add(&net_if, &addr, &mask, &gw, d, net_netif_init, ethernet_input)) {
        net_core_unlock();
        kprintf("net: netif_add failed\n");
        return -1;
    }
    netif_set_status_callback(&net_if, status_changed);
    netif_set_default(&net_if);
    netif_set_up(&net_if);
    if (use_dhcp)
        dhcp_start(&net_if);
    net_services_start();
    net_core_unlock();

    wtd_init(&timer_wtd, net_timer_wtd, d);
    if (d->ops->start(d->dev, &net_if) < 0)
        return -1;
    struct thread *t = thread_create("net-timer", net_timer_thread, NULL);
    if (!t)
        return -1;
    thread_detach(t);
    return 0;
}
INITCALL(INIT_NET, net_init);
