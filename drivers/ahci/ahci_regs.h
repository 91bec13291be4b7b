/* AHCI 1.3 register layout and the ATA structures the driver builds (facts from the spec). */
#pragma once
#include "types.h"

/* HBA (generic host control), offsets from ABAR */
#define HBA_CAP   0x00
#define HBA_GHC   0x04
#define HBA_IS    0x08
#define HBA_PI    0x0C
#define HBA_VS    0x10
#define GHC_HR    (1u << 0)
#define GHC_IE    (1u << 1)
#define GHC_AE    (1u << 31)
#define CAP_NCS(c)  ((((c) >> 8) & 0x1F) + 1)     /* command slots per port */
#define CAP_S64A  (1u << 31)

/* port registers, offsets from ABAR + 0x100 + port * 0x80 */
#define PORT_BASE(n) (0x100 + (n) * 0x80)
#define PX_CLB   0x00
#define PX_CLBU  0x04
#define PX_FB    0x08
#define PX_FBU   0x0C
#define PX_IS    0x10
#define PX_IE    0x14
#define PX_CMD   0x18
#define PX_TFD   0x20
#define PX_SIG   0x24
#define PX_SSTS  0x28
#define PX_SCTL  0x2C
#define PX_SERR  0x30
#define PX_SACT  0x34
#define PX_CI    0x38

#define PXCMD_ST   (1u << 0)
#define PXCMD_SUD  (1u << 1)
#define PXCMD_POD  (1u << 2)
#define PXCMD_CLO  (1u << 3)
#define PXCMD_FRE  (1u << 4)
#define PXCMD_CCS(c) (((c) >> 8) & 0x1F)
#define PXCMD_FR   (1u << 14)
#define PXCMD_CR   (1u << 15)

/* PxIS / PxIE bits */
#define PXIS_DHRS (1u << 0)     /* D2H register FIS: a non-data or DMA command ended */
#define PXIS_PSS  (1u << 1)     /* PIO setup FIS: IDENTIFY */
#define PXIS_DSS  (1u << 2)
#define PXIS_SDBS (1u << 3)
#define PXIS_UFS  (1u << 4)
#define PXIS_DPS  (1u << 5)
#define PXIS_PCS  (1u << 6)
#define PXIS_PRCS (1u << 22)
#define PXIS_OFS  (1u << 24)
#define PXIS_INFS (1u << 26)
#define PXIS_IFS  (1u << 27)
#define PXIS_HBDS (1u << 28)
#define PXIS_HBFS (1u << 29)
#define PXIS_TFES (1u << 30)
#define PXIS_DONE (PXIS_DHRS | PXIS_PSS | PXIS_DSS | PXIS_SDBS | PXIS_DPS)
#define PXIS_ERR  (PXIS_TFES | PXIS_HBFS | PXIS_HBDS | PXIS_IFS | PXIS_OFS | PXIS_INFS | PXIS_UFS)

#define TFD_ERR  0x01
#define TFD_DRQ  0x08
#define TFD_BSY  0x80

#define SSTS_DET(s) ((s) & 0xF)
#define SSTS_DET_PRESENT 3      /* device present and PHY communication established */

#define SIG_SATA  0x00000101u
#define SIG_ATAPI 0xEB140101u

/* ATA commands used */
#define ATA_READ_DMA_EXT   0x25
#define ATA_WRITE_DMA_EXT  0x35
#define ATA_FLUSH_EXT      0xEA
#define ATA_IDENTIFY       0xEC

/* Command header: one of 32 in the 1 KiB command list. */
struct ahci_cmd_header {
    uint16_t flags;             /* CFL (FIS length in dwords) 4:0, A 5, W 6, P 7, R 8, B 9, C 10 */
    uint16_t prdtl;             /* PRDT entries */
    volatile uint32_t prdbc;    /* bytes transferred, written by the HBA */
    uint32_t ctba, ctbau;       /* command table, 128-byte aligned */
    uint32_t rsvd[4];
} __attribute__((packed));
#define CH_CFL_H2D  5
#define CH_WRITE    (1u << 6)
#define CH_CLEAR_BSY (1u << 10)

struct ahci_prd {
    uint32_t dba, dbau, rsvd;
    uint32_t dbc;               /* byte count - 1 (bit 0 must be 1: even counts), bit 31 = IRQ */
} __attribute__((packed));

/* Host to device register FIS (type 0x27). */
struct fis_h2d {
    uint8_t type, pmp_c, command, feature_lo;
    uint8_t lba0, lba1, lba2, device;
    uint8_t lba3, lba4, lba5, feature_hi;
    uint8_t count_lo, count_hi, icc, control;
    uint8_t rsvd[4];
} __attribute__((packed));
#define FIS_TYPE_H2D 0x27
#define FIS_H2D_CMD  0x80       /* pmp_c: this FIS carries a command */

/* Command table: the FIS, then the PRDT at 0x80.  One 4 KiB page per slot. */
#define CT_PRDT_OFF   0x80
#define CT_SIZE       4096
#define CT_MAX_PRDS   ((CT_SIZE - CT_PRDT_OFF) / 16)      /* 248 */
