/* null_rpc.h - the null-RPC measurement service: the ceiling of cached 4 KiB reads.
 *
 * TCP port NULL_RPC_PORT.  The client sends requests of exactly NULL_RPC_REQ bytes (their
 * content is ignored); the server answers each, in order, with NULL_RPC_REPLY bytes from a
 * static buffer whose byte i is null_rpc_byte(i).  No framing, no login, no state beyond
 * a partial request: the least a server can do per 4 KiB answer.  Served by WorkToDo
 * (net/svc_nullrpc.c), the Linux baseline guest (scripts/linux-guest/nullrpc.c), and
 * driven by `ncpc bench --null-rpc`.
 */
#ifndef NULL_RPC_H
#define NULL_RPC_H

#include <stdint.h>

#define NULL_RPC_PORT  5241
#define NULL_RPC_REQ   16u
#define NULL_RPC_REPLY 4096u

static inline uint8_t null_rpc_byte(uint32_t i)
{
    return (uint8_t)(i % 251u);
}

#endif /* NULL_RPC_H */
