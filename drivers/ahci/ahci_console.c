/* Console command `ahci`: the disks and their counters. */
#include "ahci.h"
#include "console.h"
#include "printf.h"

static void cmd_ahci(int argc, char **argv)
{
    if (ahci_disk_count() == 0) {
        kprintf("  no AHCI disk\n");
        return;
    }
    for (int i = 0; i < ahci_disk_count(); i++) {
        struct ahci_disk *d = ahci_get_disk(i);
        struct ahci_disk_info in;
        struct ahci_stats s;
        ahci_get_info(d, &in);
        ahci_get_stats(d, &s);
        kprintf("  port %d: '%s' serial '%s', %lu sectors of %u (%lu MiB), %u slots, DMA EXT (no NCQ)\n",
                in.port, in.model, in.serial, in.sectors, in.sector_size,
                in.sectors * in.sector_size >> 20, in.slots);
        kprintf("    commands: %lu reads (%lu sectors), %lu writes (%lu sectors), %lu flushes, %lu other\n",
                s.reads, s.sectors_read, s.writes, s.sectors_written, s.flushes, s.other);
        kprintf("    in flight %u (peak %u), slot waits %lu, interrupts %lu\n", s.in_flight,
                s.peak_in_flight, s.slot_waits, s.interrupts);
        kprintf("    errors %lu, timeouts %lu, recoveries %lu, re-issued %lu\n", s.errors, s.timeouts,
                s.recoveries, s.reissued);
    }
}
CONSOLE_COMMAND("ahci", "AHCI disks: identity, commands, errors, commands in flight", cmd_ahci);
