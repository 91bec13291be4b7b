/*
 * TCP echo (port 7).  Received data is acknowledged to the peer's window (tcp_recved)
 * only once it has been queued back, so a client that does not read is slowed down
 * by TCP itself instead of making us buffer without bound.
 */
#include "net_svc.h"
#include "mm.h"

struct echo_conn {
    struct pbuf *pending;       /* received, not yet written back */
    bool peer_closed;
};

static void echo_free(struct echo_conn *c)
{
    if (c->pending)
        pbuf_free(c->pending);
    kfree(c);
}

static void echo_flush(struct tcp_pcb *pcb, struct echo_conn *c)
{
    while (c->pending) {
        struct pbuf *q = c->pending;
        if (!q->len) {              /* an empty pbuf in the chain: just unlink it */
            c->pending = q->next;
            q->next = NULL;
            pbuf_free(q);
            continue;
        }
        u16_t n = (u16_t)MIN((uint32_t)q->len, (uint32_t)tcp_sndbuf(pcb));
        if (!n)
            break;                  /* send buffer full: the sent callback resumes */
        if (tcp_write(pcb, q->payload, n, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;                  /* ERR_MEM: the sent or poll callback retries */
        c->pending = pbuf_free_header(q, n);
        tcp_recved(pcb, n);
    }
    tcp_output(pcb);
    if (!c->pending && c->peer_closed && svc_close(pcb) == ERR_OK)
        echo_free(c);
}

static err_t echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct echo_conn *c = arg;
    if (!p)
        c->peer_closed = true;
    else if (c->pending)
        pbuf_cat(c->pending, p);
    else
        c->pending = p;
    echo_flush(pcb, c);
    return ERR_OK;
}

static err_t echo_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    echo_flush(pcb, arg);
    return ERR_OK;
}

static err_t echo_poll(void *arg, struct tcp_pcb *pcb)
{
    echo_flush(pcb, arg);
    return ERR_OK;
}

static void echo_err(void *arg, err_t err) { echo_free(arg); }

static err_t echo_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    if (!svc_accept(pcb, sizeof(struct echo_conn), echo_recv, echo_sent, echo_err, echo_poll))
        return ERR_ABRT;
    tcp_nagle_disable(pcb);
    return ERR_OK;
}

void svc_echo_start(void) { svc_listen(7, echo_accept, "echo"); }
