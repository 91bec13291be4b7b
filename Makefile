# WorkToDo top-level build.  `make` builds the production kernel ELF and the GRUB ISO;
# `make test-image` the test kernel (the same objects plus the in-guest tests and the
# benchmarks: build/worktodo-test.elf).  `make run` / `make test` / `make bench` set up
# their own dependencies first.

.DEFAULT_GOAL := all
BUILD    := build
CC       := gcc
NASM     := nasm
QEMU     := qemu-system-x86_64

KCFLAGS  := -std=c11 -ffreestanding -nostdlib -mno-red-zone -mgeneral-regs-only \
            -fno-pic -no-pie -fno-stack-protector -fno-omit-frame-pointer \
            -fno-asynchronous-unwind-tables -O2 -g -Wall -Wextra \
            -Wno-unused-parameter -Iinclude -Ikernel -I. -MMD -MP
KLDFLAGS := -nostdlib -no-pie -z noexecstack -z max-page-size=0x1000 -T linker.ld

# Every C and asm file under these directories is part of the kernel image.  Layers above
# the core add theirs from a kernel.mk of their own (EXTRA_KDIRS += dir, KERNEL_EXTRA_C +=
# files, and per-directory flags as target-specific KCFLAGS on $(BUILD)/k/DIR/%.o).
# Test-only code (in-guest tests, benchmarks) goes into KTEST_KDIRS / KTEST_EXTRA_C instead:
# it is linked into the test kernel only.
EXTRA_KDIRS    :=
KERNEL_EXTRA_C :=
KERNEL_EXCLUDE_C :=
KTEST_KDIRS    := tests/kernel
KTEST_EXTRA_C  :=
-include $(sort $(wildcard */kernel.mk */*/kernel.mk))
KDIRS    := boot kernel drivers/e1000 drivers/ahci $(EXTRA_KDIRS)
KCSRC    := $(filter-out $(KERNEL_EXCLUDE_C),$(sort $(foreach d,$(KDIRS),$(wildcard $(d)/*.c)))) $(KERNEL_EXTRA_C)
KASRC    := $(foreach d,$(KDIRS),$(wildcard $(d)/*.asm))
KOBJ     := $(patsubst %.c,$(BUILD)/k/%.o,$(KCSRC)) $(patsubst %.asm,$(BUILD)/k/%.asm.o,$(KASRC))
# The storage tests hash files with proto/sha256.c: the server's copy when the kernel has
# the server, else one of their own (never two in one image).
KTEST_EXTRA_C += $(filter-out $(KCSRC),proto/sha256.c)
KTEST_CSRC := $(sort $(foreach d,$(KTEST_KDIRS),$(wildcard $(d)/*.c))) $(KTEST_EXTRA_C)
KTEST_OBJ  := $(patsubst %.c,$(BUILD)/k/%.o,$(KTEST_CSRC))

HOST_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter \
               -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
               -Iinclude -I.
HOST_TESTS  :=

VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all iso run test debug bench bench-wtd deps clean host-tests kernel-tests test-image layers
all: layers $(BUILD)/worktodo.iso

-include tests/host/*.mk tests/fuzz/*.mk
-include $(KOBJ:.o=.d) $(KTEST_OBJ:.o=.d)

$(BUILD)/k/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -DWTD_VERSION='"$(VERSION)"' -c $< -o $@

$(BUILD)/k/%.asm.o: %.asm
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -g -F dwarf $< -o $@

$(BUILD)/worktodo.elf: $(KOBJ) linker.ld
	$(CC) $(KLDFLAGS) -o $@ $(KOBJ) -lgcc

# The test kernel: the production objects plus tests/kernel/ and bench/.  scripts/run.sh
# boots it when the kernel options ask for tests or a benchmark (test, test=..., bench=...).
$(BUILD)/worktodo-test.elf: $(KOBJ) $(KTEST_OBJ) linker.ld
	$(CC) $(KLDFLAGS) -o $@ $(KOBJ) $(KTEST_OBJ) -lgcc

test-image: $(BUILD)/worktodo-test.elf

# Each layer includes only the headers of the layers below it (scripts/check-layers.sh).
layers:
	@mkdir -p $(BUILD)
	@scripts/check-layers.sh >$(BUILD)/check-layers.log 2>&1 || { cat $(BUILD)/check-layers.log; false; }

$(BUILD)/worktodo.iso: $(BUILD)/worktodo.elf scripts/grub.cfg
	@mkdir -p $(BUILD)/iso/boot/grub
	cp $(BUILD)/worktodo.elf $(BUILD)/iso/boot/worktodo.elf
	cp scripts/grub.cfg $(BUILD)/iso/boot/grub/grub.cfg
	grub-mkrescue -o $@ $(BUILD)/iso 2>$(BUILD)/grub-mkrescue.log || (cat $(BUILD)/grub-mkrescue.log; false)

iso: $(BUILD)/worktodo.iso

deps:
	@scripts/deps.sh

# ARGS= adds kernel command-line options; DISK= picks the ext2 image; NET=tap uses a namespace;
# NIC=e1000|virtio and BLK=ahci|virtio pick the devices (e1000 and AHCI by default).
run: deps
	@$(MAKE) --no-print-directory all client
	@scripts/run.sh $(if $(NET),--net $(NET)) $(if $(NIC),--nic $(NIC)) $(if $(BLK),--blk $(BLK)) $(if $(BOOT),--boot $(BOOT)) $(if $(DISK),--disk $(DISK)) -- $(ARGS)

debug: deps
	@$(MAKE) --no-print-directory all test-image
	@scripts/run.sh --debug -- $(ARGS)

host-tests: $(HOST_TESTS)

kernel-tests: test-image
	@scripts/kernel-tests.sh $(ARGS)

test: deps
	@$(MAKE) --no-print-directory all test-image host-tests client ncpd
	@HOST_TESTS="$(HOST_TESTS)" scripts/test.sh

bench: deps
	@$(MAKE) --no-print-directory all test-image
	@scripts/bench.sh

bench-wtd: deps
	@$(MAKE) --no-print-directory test-image
	@scripts/bench-wtd.sh

clean:
	rm -rf $(BUILD)
