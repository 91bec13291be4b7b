/* ncp_memfs.h - a small in-memory file system behind struct ncp_vfs_ops.
 * For engine tests and `ncpd --memfs`; portable (fs_port.h only). */
#ifndef NCP_MEMFS_H
#define NCP_MEMFS_H

#include "server/ncp_vfs.h"

struct ncp_memfs;

extern const struct ncp_vfs_ops ncp_memfs_ops;

/* max_bytes caps file data (ENOSPC beyond); max_inodes caps files+dirs. */
struct ncp_memfs *ncp_memfs_create(uint64_t max_bytes, uint32_t max_inodes);
void ncp_memfs_destroy(struct ncp_memfs *m);
/* Creates parents as needed and writes a whole file (setup helper). */
int ncp_memfs_put(struct ncp_memfs *m, const char *path, const void *data, size_t len);
/* Sets mode (07777), owner and group of an existing path (setup helper). */
int ncp_memfs_chattr(struct ncp_memfs *m, const char *path, uint16_t mode, uint32_t uid, uint32_t gid);
/* Counts calls to read_nonblock that said "would block" (tests). Setting
 * nonblock_misses makes the next that many read_nonblock calls refuse. */
void ncp_memfs_set_nonblock_misses(struct ncp_memfs *m, uint32_t n);
/* The block size (4096): what one read_ref_nonblock reference covers at most (tests). */
void ncp_memfs_set_block_size(struct ncp_memfs *m, uint32_t block_size);
/* read_ref_nonblock references handed out and not yet released (tests). */
uint32_t ncp_memfs_refs_out(struct ncp_memfs *m);

#endif /* NCP_MEMFS_H */
