/* ext2_format.h - the ext2 on-disk layout (little-endian; x86 and the host
 * are little-endian, so the structures are used in place). */
#ifndef FS_EXT2_FORMAT_H
#define FS_EXT2_FORMAT_H

#include <stdint.h>
#include "ext2.h"      /* the file type constants (EXT2_S_IF*, EXT2_FT_*) are in the API */

#define EXT2_MAGIC              0xEF53
#define EXT2_SUPER_OFFSET       1024    /* bytes from the device start */
#define EXT2_ROOT_INO           2
#define EXT2_GOOD_OLD_INODE_SIZE 128
#define EXT2_GOOD_OLD_FIRST_INO 11
#define EXT2_NDIR_BLOCKS        12
#define EXT2_IND_BLOCK          12
#define EXT2_DIND_BLOCK         13
#define EXT2_TIND_BLOCK         14
#define EXT2_N_BLOCKS           15
#define EXT2_NAME_MAX           255
#define EXT2_LINK_MAX           65000

#define EXT2_VALID_FS           1
#define EXT2_ERROR_FS           2
#define EXT2_DFL_MAX_MNT_COUNT  20      /* Linux's, set when s_max_mnt_count is 0 */

/* features */
#define EXT2_FEATURE_COMPAT_EXT_ATTR        0x0008
#define EXT2_FEATURE_COMPAT_RESIZE_INODE    0x0010
#define EXT2_FEATURE_COMPAT_DIR_INDEX       0x0020
#define EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER 0x0001
#define EXT2_FEATURE_RO_COMPAT_LARGE_FILE   0x0002
#define EXT2_FEATURE_INCOMPAT_FILETYPE      0x0002
#define EXT2_FEATURE_INCOMPAT_RECOVER       0x0004  /* ext3: the journal needs replay (ext2_journal.c) */
#define EXT2_SUPPORTED_INCOMPAT  (EXT2_FEATURE_INCOMPAT_FILETYPE | EXT2_FEATURE_INCOMPAT_RECOVER)
#define EXT2_SUPPORTED_RO_COMPAT (EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE)

/* i_flags */
#define EXT2_INDEX_FL           0x00001000      /* hashed-indexed directory */

#define EXT2_XATTR_MAGIC 0xEA020000u

struct ext2_super {
    uint32_t s_inodes_count;
    uint32_t s_blocks_count;
    uint32_t s_r_blocks_count;
    uint32_t s_free_blocks_count;
    uint32_t s_free_inodes_count;
    uint32_t s_first_data_block;
    uint32_t s_log_block_size;
    uint32_t s_log_frag_size;
    uint32_t s_blocks_per_group;
    uint32_t s_frags_per_group;
    uint32_t s_inodes_per_group;
    uint32_t s_mtime;
    uint32_t s_wtime;
    uint16_t s_mnt_count;
    int16_t  s_max_mnt_count;
    uint16_t s_magic;
    uint16_t s_state;
    uint16_t s_errors;
    uint16_t s_minor_rev_level;
    uint32_t s_lastcheck;
    uint32_t s_checkinterval;
    uint32_t s_creator_os;
    uint32_t s_rev_level;
    uint16_t s_def_resuid;
    uint16_t s_def_resgid;
    /* revision 1 */
    uint32_t s_first_ino;
    uint16_t s_inode_size;
    uint16_t s_block_group_nr;
    uint32_t s_feature_compat;
    uint32_t s_feature_incompat;
    uint32_t s_feature_ro_compat;
    uint8_t  s_uuid[16];
    char     s_volume_name[16];
    char     s_last_mounted[64];
    uint32_t s_algorithm_usage_bitmap;
    uint8_t  s_rest[1024 - 204];
};
_Static_assert(sizeof(struct ext2_super) == 1024, "superblock size");

struct ext2_group_desc {
    uint32_t bg_block_bitmap;
    uint32_t bg_inode_bitmap;
    uint32_t bg_inode_table;
    uint16_t bg_free_blocks_count;
    uint16_t bg_free_inodes_count;
    uint16_t bg_used_dirs_count;
    uint16_t bg_flags;
    uint8_t  bg_reserved[12];
};
_Static_assert(sizeof(struct ext2_group_desc) == 32, "group descriptor size");

struct ext2_inode {
    uint16_t i_mode;
    uint16_t i_uid;
    uint32_t i_size;
    uint32_t i_atime;
    uint32_t i_ctime;
    uint32_t i_mtime;
    uint32_t i_dtime;
    uint16_t i_gid;
    uint16_t i_links_count;
    uint32_t i_blocks;              /* 512-byte units, data + metadata */
    uint32_t i_flags;
    uint32_t i_osd1;
    uint32_t i_block[EXT2_N_BLOCKS];
    uint32_t i_generation;
    uint32_t i_file_acl;            /* extended attribute block */
    uint32_t i_size_high;           /* regular files (rev 1) */
    uint32_t i_faddr;
    uint16_t i_blocks_hi;
    uint16_t i_file_acl_high;
    uint16_t i_uid_high;
    uint16_t i_gid_high;
    uint16_t i_checksum_lo;
    uint16_t i_reserved;
};
_Static_assert(sizeof(struct ext2_inode) == 128, "inode size");

/* Large inodes continue with i_extra_isize (bytes used past 128). */
#define EXT2_EXTRA_ISIZE_OFFSET 128
#define EXT2_EXTRA_ISIZE_DEFAULT 32

struct ext2_dir_entry {
    uint32_t inode;
    uint16_t rec_len;
    uint8_t  name_len;
    uint8_t  file_type;             /* 0 unless INCOMPAT_FILETYPE */
    char     name[];
};
#define EXT2_DIR_ENTRY_HEADER 8
#define EXT2_DIR_REC_LEN(name_len) ((EXT2_DIR_ENTRY_HEADER + (name_len) + 3u) & ~3u)

#endif
