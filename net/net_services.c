/* The measurement services and their shared helpers. */
#include "net_svc.h"
#include "printf.h"
#include "mm.h"

void svc_listen(uint16_t port, tcp_accept_fn accept, const char *name)
{
    if (!net_tcp_listen(port, accept, NULL))
        kprintf("net: cannot listen on port %u (%s)\n", port, name);
}

err_t svc_close(struct tcp_pcb *pcb)
{
    /* clear first: a successful tcp_close() may free the pcb at once */
    void *arg = pcb->callback_arg;
    tcp_recv_fn recv = pcb->recv;
    tcp_sent_fn sent = pcb->sent;
    tcp_err_fn errf = pcb->errf;
    tcp_poll_fn poll = pcb->poll;
    u8_t interval = pcb->pollinterval;
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
    err_t e = tcp_close(pcb);
    if (e != ERR_OK) {
        /* no memory for the FIN: keep the connection's state; poll retries */
        tcp_arg(pcb, arg);
        tcp_recv(pcb, recv);
        tcp_sent(pcb, sent);
        tcp_err(pcb, errf);
        tcp_poll(pcb, poll, interval);
    }
    return e;
}

void net_services_start(void)
{
    svc_echo_start();
    svc_discard_start();
    svc_source_start();
    svc_nullrpc_start();
}

void *svc_accept(struct tcp_pcb *pcb, size_t ctx_size, tcp_recv_fn recv, tcp_sent_fn sent,
                 tcp_err_fn errf, tcp_poll_fn poll)
{
    void *ctx = kzalloc(ctx_size);
    if (!ctx) {
        tcp_abort(pcb);
        return NULL;
    }
    tcp_arg(pcb, ctx);
    tcp_recv(pcb, recv);
    tcp_sent(pcb, sent);
    tcp_err(pcb, errf);
    tcp_poll(pcb, poll, 2);
    return ctx;
}
