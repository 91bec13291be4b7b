/* jbd2_format.h - the on-disk format of the ext3/ext4 journal (jbd2), as the
 * kernel's Documentation/filesystems/ext4/journal.rst and e2fsprogs describe
 * it.  Every field is big-endian.  Only what fs/ext2_journal*.c use. */
#ifndef FS_JBD2_FORMAT_H
#define FS_JBD2_FORMAT_H

#include <stdint.h>

#define JBD2_MAGIC              0xC03B3998u

/* h_blocktype */
#define JBD2_DESCRIPTOR_BLOCK   1
#define JBD2_COMMIT_BLOCK       2
#define JBD2_SUPERBLOCK_V1      3
#define JBD2_SUPERBLOCK_V2      4
#define JBD2_REVOKE_BLOCK       5

/* block header: every journal metadata block starts with it */
#define JBD2_H_MAGIC            0
#define JBD2_H_BLOCKTYPE        4
#define JBD2_H_SEQUENCE         8
#define JBD2_HEADER_SIZE        12

/* journal superblock (journal block 0) */
#define JSB_BLOCKSIZE           0x0C
#define JSB_MAXLEN              0x10
#define JSB_FIRST               0x14
#define JSB_SEQUENCE            0x18
#define JSB_START               0x1C
#define JSB_ERRNO               0x20
#define JSB_FEATURE_COMPAT      0x24
#define JSB_FEATURE_INCOMPAT    0x28
#define JSB_FEATURE_RO_COMPAT   0x2C
#define JSB_UUID                0x30
#define JSB_NR_USERS            0x40

#define JBD2_FEATURE_COMPAT_CHECKSUM        0x1
#define JBD2_FEATURE_INCOMPAT_REVOKE        0x1
#define JBD2_FEATURE_INCOMPAT_64BIT         0x2
#define JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT  0x4
#define JBD2_FEATURE_INCOMPAT_CSUM_V2       0x8
#define JBD2_FEATURE_INCOMPAT_CSUM_V3       0x10
#define JBD2_FEATURE_INCOMPAT_FAST_COMMIT   0x20
/* what this implementation reads and writes: 32-bit block numbers, no checksums */
#define JBD2_KNOWN_INCOMPAT     JBD2_FEATURE_INCOMPAT_REVOKE

/* descriptor block tags (no 64bit, no csum features: 8 bytes, each but those
 * flagged SAME_UUID followed by the 16-byte UUID) */
#define JBD2_TAG_BLOCKNR        0
#define JBD2_TAG_FLAGS          6
#define JBD2_TAG_SIZE           8
#define JBD2_UUID_SIZE          16
#define JBD2_FLAG_ESCAPE        1       /* the block began with JBD2_MAGIC: zeroed in the log */
#define JBD2_FLAG_SAME_UUID     2
#define JBD2_FLAG_DELETED       4
#define JBD2_FLAG_LAST_TAG      8

/* revoke block: header, r_count (bytes used, header included), 4-byte block numbers */
#define JBD2_REVOKE_COUNT       12
#define JBD2_REVOKE_HEADER      16

/* commit block */
#define JBD2_COMMIT_SEC         0x30    /* be64 */
#define JBD2_COMMIT_NSEC        0x38    /* be32 */

/* the ext2 superblock fields of an internal journal */
#define EXT3_FEATURE_COMPAT_HAS_JOURNAL     0x0004
#define EXT3_FEATURE_INCOMPAT_RECOVER       0x0004
#define EXT3_FEATURE_INCOMPAT_JOURNAL_DEV   0x0008
#define EXT3_JOURNAL_INO                    8
#define EXT3_SB_JOURNAL_INUM    224     /* s_journal_inum, bytes into the superblock */
#define EXT3_SB_JOURNAL_DEV     228     /* s_journal_dev */

static inline uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t be16_get(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

#endif
