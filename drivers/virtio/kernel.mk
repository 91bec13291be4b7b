# drivers/virtio: the virtio 1.0 PCI transport, split virtqueues, virtio-blk and virtio-net.
# Layouts and constants come from Debian's linux-libc-dev uapi headers (<linux/virtio_*.h>,
# scripts/deps.sh installs them), included from freestanding code: gcc's own headers first,
# then the uapi tree, and only the modern interface (the *_NO_LEGACY macros).
EXTRA_KDIRS += drivers/virtio
VIRTIO_KCFLAGS := -nostdinc -isystem $(shell $(CC) -print-file-name=include) -idirafter /usr/include \
                  -idirafter /usr/include/x86_64-linux-gnu -DVIRTIO_PCI_NO_LEGACY -DVIRTIO_RING_NO_LEGACY \
                  -DVIRTIO_BLK_NO_LEGACY -DVIRTIO_NET_NO_LEGACY
$(BUILD)/k/drivers/virtio/%.o $(BUILD)/k/tests/kernel/test_virtio%.o: KCFLAGS += $(VIRTIO_KCFLAGS)
