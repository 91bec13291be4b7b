/* The only <stdlib.h> function lwIP's core uses (netif_find); see net/net_libc.c. */
#pragma once
int atoi(const char *s);
