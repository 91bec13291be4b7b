/* In-guest tests of the lwIP port: the core lock, lwIP's clock and timers, heap-backed
 * pools, connection accounting and the refuse-instead-of-evict decision, and (when an
 * e1000 is present) that the interface comes up. */
#include "ktest.h"
#ifdef WTD_NET
#include "net/net_priv.h"
#include "drivers/e1000/e1000.h"
#include "sched.h"
#include "time.h"
#include "lwip/timeouts.h"
#include "lwip/sys.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"

KTEST(net_core_lock_ownership)
{
    KT_ASSERT(!net_core_locked());
    net_core_lock();
    KT_ASSERT(net_core_locked());
    net_core_unlock();
    KT_ASSERT(!net_core_locked());
}

static volatile int order[4], order_n;
static void holder(void *arg)
{
    net_core_lock();
    order[order_n++] = 1;
    thread_sleep_ms(50);            /* another thread must wait for us, not run inside lwIP */
    order[order_n++] = 2;
    net_core_unlock();
}

KTEST(net_core_lock_excludes)
{
    order_n = 0;
    struct thread *t = thread_create("net-holder", holder, NULL);
    KT_ASSERT(t != NULL);
    while (order_n == 0)
        thread_sleep_ms(1);
    net_core_lock();
    order[order_n++] = 3;
    net_core_unlock();
    thread_join(t);
    KT_EQ(order_n, 3);
    KT_EQ(order[0], 1);
    KT_EQ(order[1], 2);
    KT_EQ(order[2], 3);
}

KTEST(net_sys_now_follows_clock)
{
    u32_t a = sys_now();
    thread_sleep_ms(30);
    u32_t b = sys_now();
    KT_GE(b - a, 25);
    KT_LE(b - a, 1000);
}

static volatile int fired;
static void on_timeout(void *arg) { fired = (int)(uintptr_t)arg; }

KTEST(net_timer_wtd_runs_timeouts)
{
    if (!e1000_get())
        KTEST_SKIP("no e1000 on this machine: the timer WTD is not started");
    fired = 0;
    net_core_lock();
    sys_timeout(20, on_timeout, (void *)7);
    net_core_unlock();
    for (int i = 0; i < 100 && !fired; i++)
        thread_sleep_ms(10);
    KT_EQ(fired, 7);
}

KTEST(net_pbuf_chain_from_heap)
{
    net_core_lock();
    struct pbuf *a = pbuf_alloc(PBUF_RAW, 1000, PBUF_RAM);
    struct pbuf *b = pbuf_alloc(PBUF_RAW, 3000, PBUF_RAM);
    bool ok = a && b;
    if (ok) {
        pbuf_cat(a, b);
        ok = a->tot_len == 4000 && pbuf_clen(a) == 2;
        struct pbuf *c = pbuf_clone(PBUF_RAW, PBUF_RAM, a);     /* what the driver does for long chains */
        ok = ok && c && c->len == 4000 && c->next == NULL;
        if (c)
            pbuf_free(c);
        pbuf_ref(a);                /* the driver's reference while a frame is in flight */
        ok = ok && pbuf_free(a) == 0 && pbuf_free(a) == 2;
    }
    net_core_unlock();
    KT_ASSERT(ok);
}

KTEST(net_pcb_accounting)
{
    net_core_lock();
    uint32_t before = net_tcp_live();
    struct tcp_pcb *p = tcp_new();
    uint32_t during = net_tcp_live();
    if (p)
        tcp_close(p);               /* CLOSED: freed at once */
    uint32_t after = net_tcp_live();
    net_core_unlock();
    KT_ASSERT(p != NULL);
    KT_EQ(during, before + 1);
    KT_EQ(after, before);
}

KTEST(net_refuse_not_evict_decision)
{
    KT_ASSERT(!net_guard_refuse(LISTEN, TCP_SYN, 9, 10));
    KT_ASSERT(net_guard_refuse(LISTEN, TCP_SYN, 10, 10));
    KT_ASSERT(net_guard_refuse(LISTEN, TCP_SYN, 11, 10));
    /* only new connection attempts on a listener are refused */
    KT_ASSERT(!net_guard_refuse(LISTEN, TCP_SYN | TCP_ACK, 10, 10));
    KT_ASSERT(!net_guard_refuse(LISTEN, TCP_ACK, 10, 10));
    KT_ASSERT(!net_guard_refuse(LISTEN, TCP_RST | TCP_SYN, 10, 10));
    KT_ASSERT(!net_guard_refuse(ESTABLISHED, TCP_SYN, 10, 10));
    KT_ASSERT(net_tcp_max() > 0);
}

KTEST(net_listener_priority)
{
    net_core_lock();
    struct tcp_pcb *l = net_tcp_listen(4321, NULL, NULL);
    bool ok = l && l->prio == TCP_PRIO_MIN && l->state == LISTEN &&
              ((struct tcp_pcb_listen *)l)->backlog == TCP_DEFAULT_LISTEN_BACKLOG;
    if (l)
        tcp_close(l);
    net_core_unlock();
    KT_ASSERT(ok);
}

KTEST_TIMEOUT(net_interface_comes_up, 30000)
{
    if (!e1000_get())
        KTEST_SKIP("no e1000 on this machine");
    for (int i = 0; i < 200 && !net_is_up(); i++)
        thread_sleep_ms(100);
    KT_ASSERT(net_is_up());
    KT_NE(net_ipv4_addr(), 0);
    struct e1000_dev *d = e1000_get();
    KT_ASSERT(d->link_up);
    KT_GE(d->st.irqs, 1);           /* DHCP's replies came in by interrupt */
    KT_GE(d->st.rx.frames, 1);
}
#endif
