/* The `virtio` console command: each virtio device's features and interrupts, and each
 * virtqueue's indices and counters (read without the queue's owner: a snapshot). */
#include "virtio_internal.h"
#include "console.h"
#include "printf.h"

static void print_queue(struct virtq *q)
{
    kprintf("    queue %u %-8s %u entries, %u free, avail %u used %u (seen %u)%s%s, %s %d\n", q->index, q->name, q->num,
            q->num_free, q->avail_shadow, READ_ONCE(q->used->idx), q->last_used, q->indirect ? ", indirect" : "",
            q->event_idx ? ", event-idx" : "", q->msix_vector >= 0 ? "msi-x vector" : "intx", q->msix_vector);
    kprintf("      added %lu completed %lu (indirect %lu), full %lu, notifications %lu (suppressed %lu), "
            "interrupts %lu, bad used entries %lu\n", q->st.added, q->st.completed, q->st.indirect, q->st.full,
            q->st.kicks, q->st.kicks_suppressed, q->st.irqs, q->st.bad_used);
}

static void cmd_virtio(int argc, char **argv)
{
    if (!virtio_count()) {
        kprintf("  no virtio device in use\n");
        return;
    }
    for (int i = 0; i < virtio_count(); i++) {
        struct virtio_dev *d = virtio_get(i);
        kprintf("  %s (%s): features offered %016lx negotiated %016lx, status %02x, %s, interrupts %lu "
                "(config %lu, spurious %lu)\n", d->name, d->transitional ? "transitional" : "modern-only", d->offered,
                d->features, d->common->device_status, d->msix ? "MSI-X" : "INTx", d->irqs, d->config_irqs,
                d->irqs_spurious);
        for (int k = 0; k < VIRTIO_MAX_QUEUES; k++)
            if (d->queues[k])
                print_queue(d->queues[k]);
    }
}
CONSOLE_COMMAND("virtio", "virtio devices: features, virtqueues and their counters", cmd_virtio);
