/* Between PCI enumeration (kernel/pci.c) and resource assignment (kernel/pci_assign.c). */
#pragma once
#include "pci.h"

/* Reads BAR i's base and size (decoding off meanwhile) into d; fills the bar arrays. */
void pci_probe_bars(struct pci_dev *d);
/* Gives every BAR and bridge window of the tree under bus 0 an address; returns how many
 * it placed, or -1 if a window ran out (what was placed stays, the rest keep base 0). */
int pci_assign_resources(struct pci_dev *devs, int ndevs);
