/* TCP discard (port 9): a sink that opens its window as fast as data arrives. */
#include "net_svc.h"

static err_t discard_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    if (!p) {
        svc_close(pcb);         /* on ERR_MEM the poll callback retries */
        return ERR_OK;
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t discard_poll(void *arg, struct tcp_pcb *pcb)
{
    if (pcb->state == CLOSE_WAIT)
        svc_close(pcb);
    return ERR_OK;
}

static err_t discard_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, discard_recv);
    tcp_poll(pcb, discard_poll, 4);
    return ERR_OK;
}

void svc_discard_start(void) { svc_listen(9, discard_accept, "discard"); }
