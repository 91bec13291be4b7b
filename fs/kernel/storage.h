/* The volume the file server serves: the first AHCI or virtio-blk disk, its block cache and the ext2
 * file system on it, mounted at boot (the INIT_FS initcall).  NULL when there is no disk or
 * it holds no usable ext2 file system; the server then answers errors. */
#pragma once
#include "types.h"

struct ext2_fs;
struct bcache;

struct ext2_fs *storage_volume(void);
struct bcache *storage_cache(void);

/* Everything written so far is on the medium (data, metadata, device cache) on return. */
int storage_sync(void);

struct storage_stats { uint64_t flusher_runs, flusher_blocks, dev_flushes, syncs; };
void storage_get_stats(struct storage_stats *out);
/* The disk driver under the volume: "ahci", "virtio-blk" or "none". */
const char *storage_driver(void);
