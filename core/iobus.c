// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel I/O bus: per VM, one list of address ranges with device
 * callbacks for MMIO and one for port I/O. MMIO and PIO exits look here
 * before going to userspace.
 *
 * A bus is an immutable sorted array: readers use it under vm->srcu,
 * writers (under vm->slots_lock) publish a new copy and free the old one
 * after an SRCU grace period. A VM without devices has no bus at all.
 */
#include <linux/slab.h>
#include <linux/sort.h>

#include "modvm.h"

/* Ranges per bus: enough for the irqchips and a few dozen virtio devices. */
#define MODVM_IO_BUS_MAX	256

struct modvm_io_range {
	u64 addr;
	u32 len;
	struct modvm_iodev *dev;
};

struct modvm_io_bus {
	u32 nr;
	struct modvm_io_range ranges[];
};

static int range_cmp(const void *a, const void *b)
{
	const struct modvm_io_range *ra = a, *rb = b;

	return ra->addr < rb->addr ? -1 : ra->addr > rb->addr;
}

static struct modvm_io_bus *bus_alloc(u32 nr)
{
	struct modvm_io_bus *b;

	return kzalloc(struct_size(b, ranges, nr), GFP_KERNEL_ACCOUNT);
}

/* Swap in @new (may be NULL) and free the old bus once no reader sees it. */
static void bus_publish(struct modvm_vm *vm, enum modvm_bus bus,
			struct modvm_io_bus *new)
{
	struct modvm_io_bus *old;

	old = rcu_dereference_protected(vm->buses[bus],
					lockdep_is_held(&vm->slots_lock));
	rcu_assign_pointer(vm->buses[bus], new);
	synchronize_srcu(&vm->srcu);
	kfree(old);
}

/**
 * modvm_io_bus_register() - put a device on a bus.
 * @vm: the VM.
 * @bus: MODVM_MMIO_BUS or MODVM_PIO_BUS.
 * @addr: first address (guest-physical, or port).
 * @len: bytes of address space it decodes.
 * @dev: the device.
 *
 * Return: 0; -EINVAL for an empty or wrapping range; -EEXIST when it
 * overlaps a registered one; -ENOSPC when the bus is full; -ENOMEM.
 */
int modvm_io_bus_register(struct modvm_vm *vm, enum modvm_bus bus, u64 addr,
			  u32 len, struct modvm_iodev *dev)
{
	struct modvm_io_bus *old, *new;
	u32 i, nr;

	if (!len || addr + len - 1 < addr || bus >= MODVM_NR_BUSES)
		return -EINVAL;
	mutex_lock(&vm->slots_lock);
	old = rcu_dereference_protected(vm->buses[bus],
					lockdep_is_held(&vm->slots_lock));
	nr = old ? old->nr : 0;
	for (i = 0; i < nr; i++) {
		const struct modvm_io_range *r = &old->ranges[i];

		if (addr <= r->addr + r->len - 1 && r->addr <= addr + len - 1) {
			mutex_unlock(&vm->slots_lock);
			return -EEXIST;
		}
	}
	if (nr == MODVM_IO_BUS_MAX) {
		mutex_unlock(&vm->slots_lock);
		return -ENOSPC;
	}
	new = bus_alloc(nr + 1);
	if (!new) {
		mutex_unlock(&vm->slots_lock);
		return -ENOMEM;
	}
	if (nr)
		memcpy(new->ranges, old->ranges, nr * sizeof(new->ranges[0]));
	new->ranges[nr] = (struct modvm_io_range){ addr, len, dev };
	new->nr = nr + 1;
	sort(new->ranges, new->nr, sizeof(new->ranges[0]), range_cmp, NULL);
	bus_publish(vm, bus, new);
	mutex_unlock(&vm->slots_lock);
	return 0;
}

/**
 * modvm_io_bus_unregister() - take every range of a device off a bus.
 * @vm: the VM.
 * @bus: the bus.
 * @dev: the device; no callback of it runs once this returns.
 */
void modvm_io_bus_unregister(struct modvm_vm *vm, enum modvm_bus bus,
			     struct modvm_iodev *dev)
{
	struct modvm_io_bus *old, *new = NULL;
	u32 i, n = 0;

	mutex_lock(&vm->slots_lock);
	old = rcu_dereference_protected(vm->buses[bus],
					lockdep_is_held(&vm->slots_lock));
	if (!old)
		goto out;
	new = bus_alloc(old->nr);
	for (i = 0; new && i < old->nr; i++)
		if (old->ranges[i].dev != dev)
			new->ranges[n++] = old->ranges[i];
	if (!new) {
		/* No memory for a copy: clear the entries in place instead. */
		for (i = 0; i < old->nr; i++)
			if (old->ranges[i].dev == dev)
				WRITE_ONCE(old->ranges[i].len, 0);
		synchronize_srcu(&vm->srcu);
		goto out;
	}
	new->nr = n;
	if (!n) {
		kfree(new);
		new = NULL;
	}
	bus_publish(vm, bus, new);
out:
	mutex_unlock(&vm->slots_lock);
}

/* The range holding [addr, addr + len), or NULL. */
static struct modvm_io_range *bus_find(struct modvm_io_bus *b, u64 addr, int len)
{
	u32 lo = 0, hi = b->nr;

	while (lo < hi) {
		u32 mid = (lo + hi) / 2;

		if (b->ranges[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	if (addr - b->ranges[lo - 1].addr + len > READ_ONCE(b->ranges[lo - 1].len))
		return NULL;
	return &b->ranges[lo - 1];
}

static int bus_access(struct modvm_vcpu *vcpu, enum modvm_bus bus, u64 addr,
		      int len, void *val, bool write)
{
	struct modvm_vm *vm = vcpu->vm;
	struct modvm_io_range *range;
	struct modvm_io_bus *b;
	int idx, r = -EOPNOTSUPP;

	/* The vCPU's own APIC page comes first: it is not on the VM's bus. */
	if (bus == MODVM_MMIO_BUS && !modvm_lapic_mmio(vcpu, addr, len, val, write))
		return 0;
	if (write && !modvm_ioeventfd_write(vm, bus, addr, len, val))
		return 0;
	/* Fast path without SRCU for the common VM with no devices. */
	if (!rcu_access_pointer(vm->buses[bus]))
		return -EOPNOTSUPP;
	idx = srcu_read_lock(&vm->srcu);
	b = srcu_dereference(vm->buses[bus], &vm->srcu);
	range = b ? bus_find(b, addr, len) : NULL;
	if (range && write && range->dev->ops->write)
		r = range->dev->ops->write(vcpu, range->dev, addr, len, val);
	else if (range && !write && range->dev->ops->read)
		r = range->dev->ops->read(vcpu, range->dev, addr, len, val);
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/**
 * modvm_io_bus_read() - read from an in-kernel device.
 * @vcpu: the accessing vCPU.
 * @bus: the bus.
 * @addr: address or port.
 * @len: bytes (1 to 8).
 * @val: destination.
 *
 * Return: 0 when a device answered; -EOPNOTSUPP when the access belongs
 * to userspace.
 */
int modvm_io_bus_read(struct modvm_vcpu *vcpu, enum modvm_bus bus, u64 addr,
		      int len, void *val)
{
	return bus_access(vcpu, bus, addr, len, val, false);
}

/**
 * modvm_io_bus_write() - write to an in-kernel device.
 * @vcpu: the accessing vCPU.
 * @bus: the bus.
 * @addr: address or port.
 * @len: bytes (1 to 8).
 * @val: source.
 *
 * Return: as modvm_io_bus_read().
 */
int modvm_io_bus_write(struct modvm_vcpu *vcpu, enum modvm_bus bus, u64 addr,
		       int len, const void *val)
{
	return bus_access(vcpu, bus, addr, len, (void *)val, true);
}

/**
 * modvm_io_bus_destroy() - free the buses of a VM nobody uses any more.
 * @vm: the VM.
 */
void modvm_io_bus_destroy(struct modvm_vm *vm)
{
	int i;

	for (i = 0; i < MODVM_NR_BUSES; i++)
		kfree(rcu_dereference_protected(vm->buses[i], true));
}
