/* Intel 82540EM (PCI 8086:100E) registers and legacy descriptors, as QEMU's -device e1000
 * emulates them.  Offsets are into the 128 KiB MMIO window of BAR0. */
#pragma once
#include "types.h"

#define E1000_VENDOR   0x8086
#define E1000_DEVICE   0x100E

/* general */
#define E1000_CTRL     0x0000
#define E1000_STATUS   0x0008
#define E1000_EERD     0x0014
#define E1000_CTRL_EXT 0x0018
/* interrupts */
#define E1000_ICR      0x00C0   /* cause; read clears it */
#define E1000_ITR      0x00C4   /* throttle: minimum gap between interrupts, 256 ns units */
#define E1000_IMS      0x00D0
#define E1000_IMC      0x00D8
/* receive */
#define E1000_RCTL     0x0100
#define E1000_RDBAL    0x2800
#define E1000_RDBAH    0x2804
#define E1000_RDLEN    0x2808
#define E1000_RDH      0x2810
#define E1000_RDT      0x2818
#define E1000_RDTR     0x2820
#define E1000_RADV     0x282C
/* transmit */
#define E1000_TCTL     0x0400
#define E1000_TIPG     0x0410
#define E1000_TDBAL    0x3800
#define E1000_TDBAH    0x3804
#define E1000_TDLEN    0x3808
#define E1000_TDH      0x3810
#define E1000_TDT      0x3818
#define E1000_TIDV     0x3820
#define E1000_TADV     0x382C
/* filters */
#define E1000_MTA      0x5200   /* 128 dwords of multicast hash */
#define E1000_RAL0     0x5400
#define E1000_RAH0     0x5404
#define E1000_RAH_AV   (1u << 31)
/* statistics (clear on read) */
#define E1000_CRCERRS  0x4000
#define E1000_RXERRC   0x400C
#define E1000_MPC      0x4010   /* missed: no descriptor free */
#define E1000_RNBC     0x40A0   /* receive no buffers */
#define E1000_RUC      0x40A4   /* undersize */
#define E1000_ROC      0x40AC   /* oversize */
#define E1000_TPR      0x40D0
#define E1000_TPT      0x40D4

#define E1000_CTRL_FD      (1u << 0)
#define E1000_CTRL_LRST    (1u << 3)
#define E1000_CTRL_ASDE    (1u << 5)
#define E1000_CTRL_SLU     (1u << 6)
#define E1000_CTRL_ILOS    (1u << 7)
#define E1000_CTRL_RST     (1u << 26)
#define E1000_CTRL_VME     (1u << 30)
#define E1000_CTRL_PHY_RST (1u << 31)

#define E1000_STATUS_FD    (1u << 0)
#define E1000_STATUS_LU    (1u << 1)

#define E1000_EERD_START   (1u << 0)
#define E1000_EERD_DONE    (1u << 4)

#define E1000_ICR_TXDW     (1u << 0)
#define E1000_ICR_TXQE     (1u << 1)
#define E1000_ICR_LSC      (1u << 2)
#define E1000_ICR_RXSEQ    (1u << 3)
#define E1000_ICR_RXDMT0   (1u << 4)
#define E1000_ICR_RXO      (1u << 6)
#define E1000_ICR_RXT0     (1u << 7)

#define E1000_RCTL_EN      (1u << 1)
#define E1000_RCTL_SBP     (1u << 2)
#define E1000_RCTL_UPE     (1u << 3)
#define E1000_RCTL_MPE     (1u << 4)
#define E1000_RCTL_LPE     (1u << 5)
#define E1000_RCTL_LBM_MASK (3u << 6)
#define E1000_RCTL_RDMTS_HALF (0u << 8)
#define E1000_RCTL_MO_MASK (3u << 12)
#define E1000_RCTL_BAM     (1u << 15)
#define E1000_RCTL_BSIZE_MASK (3u << 16)  /* 00 = 2048 bytes with BSEX clear */
#define E1000_RCTL_BSEX    (1u << 25)
#define E1000_RCTL_SECRC   (1u << 26)

#define E1000_TCTL_EN      (1u << 1)
#define E1000_TCTL_PSP     (1u << 3)
#define E1000_TCTL_CT(x)   ((uint32_t)(x) << 4)
#define E1000_TCTL_COLD(x) ((uint32_t)(x) << 12)
#define E1000_TCTL_RTLC    (1u << 24)
/* 82540EM copper: IPGT 10, IPGR1 8, IPGR2 6 */
#define E1000_TIPG_DEFAULT (10u | (8u << 10) | (6u << 20))

/* legacy receive descriptor */
struct e1000_rx_desc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;
    uint8_t errors;
    uint16_t special;
} __attribute__((packed));
#define E1000_RXD_DD   0x01
#define E1000_RXD_EOP  0x02

/* legacy transmit descriptor */
struct e1000_tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso;
    uint8_t cmd;
    uint8_t status;
    uint8_t css;
    uint16_t special;
} __attribute__((packed));
#define E1000_TXD_CMD_EOP  0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_RS   0x08
#define E1000_TXD_CMD_DEXT 0x20     /* extended layout: context or data descriptor */
#define E1000_TXD_STA_DD   0x01

/* Extended transmit descriptors share the legacy size; status sits at the same byte, so
 * completion (DD) is read the same way for all three layouts. */
struct e1000_tx_ctx_desc {          /* sets up checksum insertion for the data that follows */
    uint8_t ipcss, ipcso;
    uint16_t ipcse;
    uint8_t tucss, tucso;           /* TCP/UDP checksum: start, where it goes */
    uint16_t tucse;                 /* end (0: to the end of the frame) */
    uint32_t cmd_len;               /* length[19:0] DTYP[23:20]=0 TUCMD[31:24] */
    uint8_t status, hdr_len;
    uint16_t mss;
} __attribute__((packed));
#define E1000_TXD_DTYP_D     (1u << 20)      /* in a data descriptor's length word */
#define E1000_TXD_TUCMD(x)   ((uint32_t)(x) << 24)
#define E1000_TUCMD_TCP      0x01
#define E1000_TUCMD_IP       0x02            /* IPv4 (else IPv6) */
#define E1000_TXD_POPTS_TXSM 0x02            /* data descriptor: insert the TCP/UDP checksum */

#define E1000_RX_BUF_SIZE  2048
#define E1000_ETH_MIN      14       /* shorter cannot even hold an Ethernet header */
#define E1000_ETH_MAX      1518     /* 1514 + VLAN tag; CRC is stripped (SECRC) */
