/* PCI configuration space (mechanism #1), BARs, INTx routing on q35, and MSI. */
#pragma once
#include "types.h"

struct pci_dev {
    uint8_t bus, slot, func;
    uint16_t vendor, device;
    uint8_t class_code, subclass, prog_if;
    uint8_t irq_pin;                 /* 1 = INTA .. 4 = INTD, 0 = none */
    int gsi;                         /* IOAPIC input for INTx (through bridges), -1 if none */
    uint8_t secondary_bus;           /* a bridge's bus behind it, 0 if not a bridge */
    uint8_t subordinate_bus;         /* a bridge's highest bus below it */
    uint8_t msi_cap;                 /* config offset of the MSI capability, 0 if none */
    uint64_t bar[6], bar_size[6];    /* base 0: the firmware left the BAR unassigned */
    bool bar_is_io[6], bar_is_64[6]; /* a 64-bit BAR i also takes register i + 1 */
};

/* The bus's address windows, as kernel/pci_assign.c lays them out for a firmware that
 * assigns nothing (qboot): below the IOAPIC, above q35's MMCONFIG and any low RAM. */
#define PCI_MEM_WINDOW_BASE 0xC0000000ull
#define PCI_MEM_WINDOW_END  0xFEC00000ull
#define PCI_IO_WINDOW_BASE  0xC000u
#define PCI_IO_WINDOW_END   0x10000u

int pci_count(void);
struct pci_dev *pci_get(int i);
struct pci_dev *pci_find(uint16_t vendor, uint16_t device);
uint32_t pci_read32(struct pci_dev *d, uint8_t off);
void pci_write32(struct pci_dev *d, uint8_t off, uint32_t v);
uint16_t pci_read16(struct pci_dev *d, uint8_t off);
void pci_write16(struct pci_dev *d, uint8_t off, uint16_t v);
void pci_enable(struct pci_dev *d);              /* memory + I/O decoding and bus mastering */
bool pci_enable_msi(struct pci_dev *d, int vector);
/* How BARs got their addresses: 0 if the firmware assigned them, else how many BARs and
 * bridge windows kernel/pci_assign.c placed (pci.assign forces it). */
int pci_assigned_count(void);
