/* inet_sum.h - the Internet checksum's one's complement sum, eight bytes a step (lwIP's
 * LWIP_CHKSUM, net/lwipopts.h).  Portable C: tests/host/test_inet_sum.c checks it. */
#ifndef NET_INET_SUM_H
#define NET_INET_SUM_H
#include <stdint.h>

/* The one's complement sum of len bytes at data (any alignment), not inverted, as lwIP's
 * lwip_standard_chksum returns it: stored to memory, its two bytes are the sum in network
 * order. */
uint16_t net_inet_sum(const void *data, int len);

#endif
