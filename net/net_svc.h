/* Helpers shared by the measurement services (echo, discard, source, null RPC). */
#pragma once
#include "net_priv.h"
#include "lwip/tcp.h"

/* Listens on port through net_tcp_listen(); logs failure. */
void svc_listen(uint16_t port, tcp_accept_fn accept, const char *name);
/* Detaches our callbacks and closes gracefully; ERR_MEM means "try again later" and
 * leaves the callbacks in place so the poll callback can retry. */
err_t svc_close(struct tcp_pcb *pcb);

/* The accept side of a service with per-connection state: allocates ctx_size zeroed
 * bytes and wires the callbacks (poll every second); NULL if the connection had to be
 * aborted (the accept callback then returns ERR_ABRT). */
void *svc_accept(struct tcp_pcb *pcb, size_t ctx_size, tcp_recv_fn recv, tcp_sent_fn sent,
                 tcp_err_fn errf, tcp_poll_fn poll);

void svc_echo_start(void);
void svc_discard_start(void);
void svc_source_start(void);
void svc_nullrpc_start(void);
