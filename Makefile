# SPDX-License-Identifier: GPL-2.0
#
# Top-level build: the module (through Kbuild) and the userspace parts.
#
#   make              modvm.ko for KDIR, the launcher and the selftests
#   make test         everything, then the selftests in every emulated host
#   make demo         boot a Linux guest with modvm-run in an emulated host
#                     (ENV=svm-npt by default, ENV=vmx-ept for bochs)
#   make checkpatch   checkpatch --strict over the module sources
#   make C=2          also run sparse over the module
#   make W=1          extra compiler warnings for the module

SRC := $(CURDIR)
BUILD := $(SRC)/build
LINUX_SRC := $(BUILD)/linux-src

# The kernel to build against: the running one when its headers are
# installed, else the newest Debian generic (non-cloud) amd64 headers.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | \
		grep -v cloud | sort -V | tail -n 1))
# Every Debian amd64 flavour installed; make test boots generic and cloud.
FLAVOUR_KDIRS := $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null)

release_of = $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' $(1)/include/generated/utsrelease.h 2>/dev/null)
MODULE_SOURCES := Kbuild $(shell cd $(SRC) && find core svm vmx mmu virtio uapi -name '*.[chS]' 2>/dev/null)

CFLAGS_USER := -std=gnu11 -O2 -g -Wall -Wextra -Werror -static \
	-I$(SRC)/uapi -I$(SRC)/selftests/lib -isystem $(LINUX_SRC)/tools/testing/selftests
SELFTESTS := $(patsubst $(SRC)/selftests/%.c,%,$(wildcard $(SRC)/selftests/*.c))
SELFTEST_LIB := $(wildcard $(SRC)/selftests/lib/*.c)
SELFTEST_BINS := $(addprefix $(BUILD)/selftests/,$(SELFTESTS))

LAUNCHER := $(BUILD)/launcher/modvm-run
LAUNCHER_SOURCES := $(wildcard $(SRC)/launcher/*.c)
ENV ?= svm-npt

BENCHES := $(patsubst $(SRC)/bench/%.c,$(BUILD)/bench/%,$(wildcard $(SRC)/bench/*.c))
BENCH_ENVS ?= svm-npt

.PHONY: all ko module modules-all selftests launcher guest benches bench test demo checkpatch clean deps FORCE

all: module launcher selftests

# Kbuild of 6.1 writes objects beside the sources, so each kernel gets a
# tree of symlinks to build in: one source tree, many kernels.
# $(1): the kernel headers to build against
define build_module
	@rel=$(call release_of,$(1)); out=$(BUILD)/ko/$$rel; \
	mkdir -p $$out && cd $(SRC) && for f in $(MODULE_SOURCES); do \
		mkdir -p $$out/$$(dirname $$f); ln -sfn $(SRC)/$$f $$out/$$f; done; \
	find $$out -xtype l -delete; \
	$(MAKE) -C $(1) M=$$out modules C=$(C) W=$(W) >$$out/build.log 2>&1 || \
		{ cat $$out/build.log; exit 1; }; \
	grep -E 'warning|error' $$out/build.log || true; \
	echo "  MODULE  $$out/modvm.ko"
endef

ko: FORCE
	@test -n "$(KDIR)" || { echo "no kernel headers: run tools/deps" >&2; exit 1; }
	$(call build_module,$(KDIR))

module: ko
	@ln -sfn build/ko/$(call release_of,$(KDIR))/modvm.ko $(SRC)/modvm.ko

modules-all: FORCE
	@for k in $(FLAVOUR_KDIRS); do $(MAKE) --no-print-directory ko KDIR=$$k || exit 1; done

$(LINUX_SRC)/.extracted:
	@$(SRC)/tools/deps --extract-only

launcher: $(LAUNCHER)

$(LAUNCHER): $(LAUNCHER_SOURCES) $(wildcard $(SRC)/launcher/*.h) $(SRC)/uapi/modvm.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_USER) -o $@ $(LAUNCHER_SOURCES) -lpthread

# The guest's busybox initramfs, booted by modvm-run in the tests and demo,
# with the virtio and ext4 modules of every installed amd64 kernel and
# e2fsprogs (tools/guest-root).
guest: $(BUILD)/guest/initrd

$(BUILD)/guest/initrd: $(SRC)/tools/guest-init $(SRC)/tools/guest-root \
		$(SRC)/tools/busybox-initramfs $(wildcard /boot/vmlinuz-*amd64)
	@rm -rf $(BUILD)/guest/root && mkdir -p $(BUILD)/guest/root
	@$(SRC)/tools/guest-root $(SRC)/tools/guest-init $(BUILD)/guest/root
	@$(SRC)/tools/busybox-initramfs $(BUILD)/guest/root $@
	@echo "  GUEST   $@"

selftests: $(SELFTEST_BINS) $(BUILD)/selftests/run-selftests $(BUILD)/selftests/launcher_test \
	$(BUILD)/selftests/disk_test $(BUILD)/selftests/net_test $(BUILD)/selftests/ktap.sh \
	$(BUILD)/selftests/e2fsprogs/debugfs

$(BUILD)/selftests/%: $(SRC)/selftests/%.c $(SELFTEST_LIB) $(wildcard $(SRC)/selftests/lib/*.h) $(SRC)/uapi/modvm.h $(LINUX_SRC)/.extracted
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_USER) -o $@ $< $(SELFTEST_LIB) -lpthread

# What the shell selftests source.
$(BUILD)/selftests/ktap.sh: $(SRC)/selftests/lib/ktap.sh
	@mkdir -p $(dir $@)
	@cp $< $@

$(BUILD)/selftests/launcher_test: $(SRC)/selftests/launcher_test.sh
	@mkdir -p $(dir $@)
	@cp $< $@ && chmod +x $@

$(BUILD)/selftests/disk_test: $(SRC)/selftests/disk_test.sh
	@mkdir -p $(dir $@)
	@cp $< $@ && chmod +x $@

$(BUILD)/selftests/net_test: $(SRC)/selftests/net_test.sh
	@mkdir -p $(dir $@)
	@cp $< $@ && chmod +x $@

# e2fsprogs for disk_test in the emulated hosts, with their libraries.
$(BUILD)/selftests/e2fsprogs/debugfs: $(SRC)/tools/host-e2fsprogs
	@$(SRC)/tools/host-e2fsprogs $(dir $@)
	@echo "  E2FS    $(dir $@)"

$(BUILD)/selftests/run-selftests: $(SRC)/selftests/run-selftests
	@mkdir -p $(dir $@)
	@cp $< $@

benches: $(BENCHES) $(BUILD)/bench/run-bench

$(BUILD)/bench/%: $(SRC)/bench/%.c $(SELFTEST_LIB) $(wildcard $(SRC)/selftests/lib/*.h) $(LINUX_SRC)/.extracted
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_USER) -o $@ $< $(SELFTEST_LIB) -lpthread

$(BUILD)/bench/run-bench: $(SRC)/bench/run-bench
	@mkdir -p $(dir $@)
	@cp $< $@

# Exit costs of modvm beside Debian's KVM, in one boot of each env.
bench: modules-all benches
	@for env in $(BENCH_ENVS); do \
		$(SRC)/tools/hostvm --env $$env --kvm --file $(BUILD)/bench:/modvm/bench \
			--log $(BUILD)/logs/bench-$$env.log -- bench/run-bench $(BENCH_ITERATIONS) || exit 1; \
		$(SRC)/bench/compare $$env $(BUILD)/logs/bench-$$env.log; \
	done

# virtio-blk throughput: modvm-run --disk beside QEMU 7.2 on Debian's KVM
# and the emulated host itself, in one boot of svm-npt (bench/blk-bench);
# about 20 minutes with the defaults. Not part of make test.
BLK_ROUNDS ?= 3
BLK_SECS ?= 8
BLK_SEQ_QD ?= 4
BLK_RAND_QD ?= 16
BENCH_BLK := $(BUILD)/bench-blk

.PHONY: bench-blk

bench-blk: modules-all launcher guest $(BENCH_BLK)/initrd $(BENCH_BLK)/blkmon
	@$(SRC)/bench/blk-bench $(BLK_ROUNDS) $(BLK_SECS) $(BLK_SEQ_QD) $(BLK_RAND_QD)

$(BENCH_BLK)/blkbench: $(SRC)/bench/blkbench.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_USER) -o $@ $<

$(BENCH_BLK)/blkmon: $(SRC)/bench/blkmon.c $(SRC)/uapi/modvm.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_USER) -o $@ $<

# The guest of make guest plus /blkbench, /blkrun and virtio_pci.
$(BENCH_BLK)/initrd: $(BUILD)/guest/initrd $(BENCH_BLK)/blkbench $(SRC)/bench/blkrun \
		$(SRC)/bench/blk-initrd
	@$(SRC)/bench/blk-initrd $(BUILD)/guest/initrd $@ $(BENCH_BLK)/blkbench $(SRC)/bench/blkrun
	@echo "  GUEST   $@"

# virtio-net throughput and request/response rate: modvm-run --net beside
# QEMU 7.2 on Debian's KVM with and without vhost-net, in one boot of
# svm-npt (bench/net-bench); about 15-25 minutes with the defaults. Not
# part of make test.
NET_ROUNDS ?= 4
NET_SECS ?= 8
BENCH_NET := $(BUILD)/bench-net

.PHONY: bench-net

bench-net: modules-all launcher guest $(BENCH_NET)/initrd $(BENCH_NET)/blkmon
	@$(SRC)/bench/net-bench $(NET_ROUNDS) $(NET_SECS)

$(BENCH_NET)/netbench: $(SRC)/bench/netbench.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_USER) -o $@ $<

$(BENCH_NET)/blkmon: $(BENCH_BLK)/blkmon
	@mkdir -p $(dir $@)
	@cp $< $@

# The guest of make guest plus /netbench, /netrun and virtio_pci.
$(BENCH_NET)/initrd: $(BUILD)/guest/initrd $(BENCH_NET)/netbench $(SRC)/bench/netrun \
		$(SRC)/bench/blk-initrd
	@$(SRC)/bench/blk-initrd $(BUILD)/guest/initrd $@ $(BENCH_NET)/netbench $(SRC)/bench/netrun
	@echo "  GUEST   $@"

checkpatch: $(LINUX_SRC)/.extracted
	@cd $(SRC) && $(LINUX_SRC)/scripts/checkpatch.pl --strict --no-tree \
		-q -f \
		$(filter-out Kbuild,$(MODULE_SOURCES)) uapi/modvm.h && echo "checkpatch: clean"

test: modules-all launcher guest selftests
	@$(SRC)/tools/run-tests

# From a fresh clone: dependencies, build, one guest boot in ENV.
demo:
	@$(SRC)/tools/deps
	@$(MAKE) --no-print-directory modules-all launcher guest
	@$(SRC)/tools/demo $(ENV)

deps:
	@$(SRC)/tools/deps

clean:
	rm -rf $(BUILD) $(SRC)/modvm.ko
