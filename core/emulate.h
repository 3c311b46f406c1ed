/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The x86 instruction emulator (core/emulate.c) and the in-kernel I/O
 * device bus (core/iobus.c).
 */
#ifndef MODVM_CORE_EMULATE_H
#define MODVM_CORE_EMULATE_H

#include <linux/types.h>

struct modvm_vm;
struct modvm_vcpu;
struct modvm_exit;

/* One MMIO access of at most 8 bytes, as userspace sees it. */
struct modvm_mmio_frag {
	u64 gpa;
	u8 len;
	u8 data[8];
};

#define MODVM_MMIO_MAX_FRAGS	4

/**
 * struct modvm_mmio - MMIO state of the instruction being emulated.
 * @read_pending: a KVM_EXIT_MMIO read awaits its data from userspace.
 * @nr_reads: MMIO reads already answered (by userspace or the bus); the
 *	instruction is executed again and takes them from here in order.
 * @reads: their addresses and data.
 * @nr_writes: MMIO writes the completed instruction made.
 * @next_write: the first of them not yet handed to userspace.
 * @writes: their addresses and data.
 */
struct modvm_mmio {
	bool read_pending;
	u8 nr_reads;
	u8 nr_writes;
	u8 next_write;
	struct modvm_mmio_frag reads[MODVM_MMIO_MAX_FRAGS];
	struct modvm_mmio_frag writes[MODVM_MMIO_MAX_FRAGS];
};

int modvm_emulate_mmio(struct modvm_vcpu *vcpu, const struct modvm_exit *exit);
int modvm_complete_mmio(struct modvm_vcpu *vcpu);

/* The in-kernel device bus. */
enum modvm_bus {
	MODVM_MMIO_BUS,
	MODVM_PIO_BUS,
	MODVM_NR_BUSES
};

struct modvm_iodev;

/**
 * struct modvm_iodev_ops - callbacks of an in-kernel device.
 * @read: read @len bytes at @addr into @val; 0, or -EOPNOTSUPP to let
 *	the access go on to userspace.
 * @write: write @len bytes from @val at @addr; returns as @read.
 *
 * They run in the vCPU's thread, under the VM's SRCU, and may sleep.
 */
struct modvm_iodev_ops {
	int (*read)(struct modvm_vcpu *vcpu, struct modvm_iodev *dev, u64 addr,
		    int len, void *val);
	int (*write)(struct modvm_vcpu *vcpu, struct modvm_iodev *dev, u64 addr,
		     int len, const void *val);
};

/**
 * struct modvm_iodev - an in-kernel device; embed it in the device's state.
 * @ops: its callbacks.
 */
struct modvm_iodev {
	const struct modvm_iodev_ops *ops;
};

struct modvm_io_bus;

int modvm_io_bus_register(struct modvm_vm *vm, enum modvm_bus bus, u64 addr,
			  u32 len, struct modvm_iodev *dev);
void modvm_io_bus_unregister(struct modvm_vm *vm, enum modvm_bus bus,
			     struct modvm_iodev *dev);
int modvm_io_bus_read(struct modvm_vcpu *vcpu, enum modvm_bus bus, u64 addr,
		      int len, void *val);
int modvm_io_bus_write(struct modvm_vcpu *vcpu, enum modvm_bus bus, u64 addr,
		       int len, const void *val);
void modvm_io_bus_destroy(struct modvm_vm *vm);

#endif /* MODVM_CORE_EMULATE_H */
