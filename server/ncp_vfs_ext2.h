/* ncp_vfs_ext2.h - the engine's vfs backed by fs/ext2 (ctx = struct ext2_fs *). */
#ifndef NCP_VFS_EXT2_H
#define NCP_VFS_EXT2_H

#include "server/ncp_vfs.h"

extern const struct ncp_vfs_ops ncp_vfs_ext2_ops;

#endif
