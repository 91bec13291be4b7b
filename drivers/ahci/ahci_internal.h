/* Shared between the AHCI driver's files: the controller, ports and command slots. */
#pragma once
#include "types.h"
#include "sched.h"
#include "wtd.h"
#include "ahci.h"
#include "ahci_regs.h"

#define AHCI_MAX_PORTS 32
#define AHCI_MAX_SLOTS 32

enum slot_state { SLOT_FREE, SLOT_BUILDING, SLOT_ISSUED, SLOT_DONE };

/* One command slot: its command table and the requester sleeping on it. */
struct ahci_slot {
    struct ahci_port *port;
    int index;
    volatile enum slot_state state;
    volatile int result;            /* 0 or -errno, set when state becomes DONE */
    uint32_t expect_bytes;          /* PRDBC a complete transfer reports */
    uint32_t retries;               /* re-issues after errors (recovery gives up at a limit) */
    uint8_t *table;                 /* CT_SIZE bytes, physically contiguous */
    struct waitq wq;                /* the requester */
    struct wtd done_wtd;            /* queued by the ISR: wakes wq from a worker */
};

struct ahci_port {
    struct ahci_hba *hba;
    int num;
    uintptr_t regs;                 /* ABAR + PORT_BASE(num) */
    struct ahci_cmd_header *cl;     /* command list, 1 KiB */
    uint8_t *fis;                   /* received FIS area, 256 bytes */
    uint32_t nslots;
    struct ahci_slot slots[AHCI_MAX_SLOTS];
    /* scheduler-side state: changed with interrupts off */
    uint32_t busy;                  /* slots owned by a requester */
    uint32_t issued;                /* slots whose CI bit we set and not yet completed */
    bool recovering;                /* issue is held off while the port restarts */
    struct waitq slot_wq;           /* requesters waiting for a slot or the end of recovery */
    struct mutex recover_lock;
    struct wtd recover_wtd;         /* queued by the ISR on an error */
    uint32_t err_is, err_tfd;       /* what the ISR saw */
    struct ahci_disk_info info;
    struct ahci_stats st;
};

struct ahci_hba {
    uintptr_t abar;
    uint32_t cap, pi;
    int vector;
    bool msi;
    struct ahci_port *ports[AHCI_MAX_PORTS];
};

struct ahci_disk { struct ahci_port port; };

static inline uint32_t px_read(struct ahci_port *p, uint32_t off) { return *(volatile uint32_t *)(p->regs + off); }
static inline void px_write(struct ahci_port *p, uint32_t off, uint32_t v) { *(volatile uint32_t *)(p->regs + off) = v; }
static inline uint32_t hba_read(struct ahci_hba *h, uint32_t off) { return *(volatile uint32_t *)(h->abar + off); }
static inline void hba_write(struct ahci_hba *h, uint32_t off, uint32_t v) { *(volatile uint32_t *)(h->abar + off) = v; }

extern uint64_t ahci_timeout_ms;
/* Tests only: the ISR drops this many interrupts (a lost completion, to exercise the
 * timeout and recovery path). */
extern volatile uint32_t ahci_test_drop_irqs;

/* ahci_port.c */
bool ahci_wait_clear(struct ahci_port *p, uint32_t off, uint32_t mask, uint64_t ms);
int ahci_port_stop(struct ahci_port *p);
int ahci_port_start(struct ahci_port *p);
int ahci_port_setup(struct ahci_port *p);       /* stop, move CLB/FB, FRE, detect; 1 = SATA disk */
void ahci_port_recover(struct ahci_port *p, int timed_out_slot);
uint32_t ahci_recover_wtd(struct wtd *w);

/* ahci_cmd.c */
void ahci_port_isr(struct ahci_port *p);
void ahci_complete_slot(struct ahci_port *p, int slot, int result);
uint32_t ahci_slot_done_wtd(struct wtd *w);
int ahci_identify(struct ahci_port *p);

/* ahci_hba.c */
void ahci_register_disk(struct ahci_port *p);
