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
    uint8_t msi_cap;                 /* config offset of the MSI capability, 0 if none */
    uint64_t bar[6], bar_size[6];
    bool bar_is_io[6];
};

int pci_count(void);
struct pci_dev *pci_get(int i);
struct pci_dev *pci_find(uint16_t vendor, uint16_t device);
uint32_t pci_read32(struct pci_dev *d, uint8_t off);
void pci_write32(struct pci_dev *d, uint8_t off, uint32_t v);
uint16_t pci_read16(struct pci_dev *d, uint8_t off);
void pci_write16(struct pci_dev *d, uint8_t off, uint16_t v);
void pci_enable(struct pci_dev *d);              /* memory + I/O decoding and bus mastering */
bool pci_enable_msi(struct pci_dev *d, int vector);
