/*
 * Null RPC (port 5241, include/null_rpc.h): each 16-byte request is answered, in order,
 * with 4 KiB from a static buffer.  The ceiling of cached 4 KiB reads: it runs where a
 * cached READ runs (lwIP's receive callback, in the NIC's receive WTD, entered through
 * the ISR exit hook) and sends the same way (tcp_write with COPY: the file service copies
 * cache buffers into lwIP's segments once, so this copies its static buffer once too),
 * but with no frame to parse, no engine, no cache lookup.
 *
 * Flow control instead of buffering: a connection keeps only counters (requests owed,
 * bytes of a partial request, bytes not yet given back to the window).  Bytes are given
 * back to the TCP window (tcp_recved) only once their replies are queued, so a client
 * that sends and never reads fills its window and stops: what it can make us hold is one
 * small struct and TCP_WND bytes of counting.
 */
#include "net_svc.h"
#include "mm.h"
#include "null_rpc.h"

static uint8_t reply[NULL_RPC_REPLY];

struct nullrpc_conn {
    uint32_t partial;           /* bytes of a request not yet complete */
    uint32_t owed;              /* complete requests not yet answered */
    uint32_t held;              /* bytes received and not yet given back to the window */
    bool closing;               /* the client ended its stream; close when svc_close can */
};

static void close_conn(struct tcp_pcb *pcb, struct nullrpc_conn *c)
{
    c->closing = true;
    if (svc_close(pcb) == ERR_OK)
        kfree(c);               /* else the poll callback retries */
}

static void answer(struct tcp_pcb *pcb, struct nullrpc_conn *c)
{
    while (c->owed) {
        if (tcp_sndbuf(pcb) < NULL_RPC_REPLY || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 4)
            break;              /* resumed from the sent callback */
        u8_t flags = TCP_WRITE_FLAG_COPY | (c->owed > 1 ? TCP_WRITE_FLAG_MORE : 0);
        if (tcp_write(pcb, reply, (u16_t)NULL_RPC_REPLY, flags) != ERR_OK)
            break;
        c->owed--;
    }
    /* give back the window of every request answered */
    uint32_t keep = c->owed * NULL_RPC_REQ + c->partial;
    while (c->held > keep) {
        uint32_t n = MIN(c->held - keep, 0xFFFFu);
        tcp_recved(pcb, (u16_t)n);
        c->held -= n;
    }
    tcp_output(pcb);
}

static err_t nullrpc_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct nullrpc_conn *c = arg;
    if (!p) {
        close_conn(pcb, c);     /* replies already written still go out */
        return ERR_OK;
    }
    uint32_t total = c->partial + p->tot_len;
    c->held += p->tot_len;
    c->owed += total / NULL_RPC_REQ;
    c->partial = total % NULL_RPC_REQ;
    pbuf_free(p);
    answer(pcb, c);
    return ERR_OK;
}

static err_t nullrpc_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    answer(pcb, arg);
    return ERR_OK;
}

static err_t nullrpc_poll(void *arg, struct tcp_pcb *pcb)
{
    struct nullrpc_conn *c = arg;
    if (c->closing)
        close_conn(pcb, c);
    else
        answer(pcb, c);
    return ERR_OK;
}

static void nullrpc_err(void *arg, err_t err) { kfree(arg); }

static err_t nullrpc_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    if (!svc_accept(pcb, sizeof(struct nullrpc_conn), nullrpc_recv, nullrpc_sent, nullrpc_err, nullrpc_poll))
        return ERR_ABRT;
    tcp_nagle_disable(pcb);     /* a reply is complete as written: do not hold its tail */
    return ERR_OK;
}

void svc_nullrpc_start(void)
{
    for (uint32_t i = 0; i < NULL_RPC_REPLY; i++)
        reply[i] = null_rpc_byte(i);
    svc_listen(NULL_RPC_PORT, nullrpc_accept, "null-rpc");
}
