// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_IOEVENTFD: a guest write to a port or MMIO address (of a given
 * length, optionally with a given value) signals an eventfd and
 * completes in the kernel, without an exit to userspace.
 *
 * The VM's list is read under vm->srcu by the I/O bus on every write and
 * changed under vm->slots_lock. It exists with or without an irqchip.
 */
#include <linux/eventfd.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "devices.h"

#define IOEVENTFD_CCW_BUS	MODVM_NR_BUSES	/* s390 only: never written */
#define IOEVENTFD_MAX		1000		/* KVM's per-bus device limit */
#define IOEVENTFD_FLAGS		(KVM_IOEVENTFD_FLAG_DATAMATCH | \
				 KVM_IOEVENTFD_FLAG_PIO | \
				 KVM_IOEVENTFD_FLAG_DEASSIGN | \
				 KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY)

struct modvm_ioeventfd {
	struct list_head list;
	int bus;
	u64 addr;
	u32 len;		/* 0: any write to @addr */
	bool wildcard;		/* no data match */
	u64 datamatch;
	struct eventfd_ctx *eventfd;
};

static bool hit(const struct modvm_ioeventfd *p, u64 addr, int len,
		const void *val)
{
	u64 v = 0;

	if (addr != p->addr)
		return false;
	if (!p->len)
		return true;
	if (len != p->len)
		return false;
	if (p->wildcard)
		return true;
	memcpy(&v, val, len);
	return v == p->datamatch;
}

/**
 * modvm_ioeventfd_write() - signal the ioeventfd a guest write matches.
 * @vm: the VM.
 * @bus: MODVM_MMIO_BUS or MODVM_PIO_BUS.
 * @addr: address or port.
 * @len: bytes written.
 * @val: the data.
 *
 * Return: 0 when an ioeventfd took the write, -EOPNOTSUPP otherwise.
 */
int modvm_ioeventfd_write(struct modvm_vm *vm, int bus, u64 addr, int len,
			  const void *val)
{
	struct modvm_ioeventfd *p;
	int idx, r = -EOPNOTSUPP;

	if (list_empty(&vm->ioeventfds))
		return r;
	idx = srcu_read_lock(&vm->srcu);
	list_for_each_entry_srcu(p, &vm->ioeventfds, list,
				 srcu_read_lock_held(&vm->srcu)) {
		if (p->bus == bus && hit(p, addr, len, val)) {
			eventfd_signal(p->eventfd, 1);
			r = 0;
			break;
		}
	}
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

static int bus_of(u32 flags)
{
	if (flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY)
		return IOEVENTFD_CCW_BUS;
	return flags & KVM_IOEVENTFD_FLAG_PIO ? MODVM_PIO_BUS : MODVM_MMIO_BUS;
}

static bool collides(const struct modvm_ioeventfd *a,
		     const struct modvm_ioeventfd *b)
{
	return a->bus == b->bus && a->addr == b->addr &&
	       (!a->len || !b->len ||
		(a->len == b->len &&
		 (a->wildcard || b->wildcard || a->datamatch == b->datamatch)));
}

static long assign(struct modvm_vm *vm, const struct kvm_ioeventfd *args)
{
	struct modvm_ioeventfd *p, *q;
	struct eventfd_ctx *ctx;
	u32 n = 0;
	long r;

	switch (args->len) {
	case 0: case 1: case 2: case 4: case 8:
		break;
	default:
		return -EINVAL;
	}
	if (args->addr + args->len < args->addr)
		return -EINVAL;
	if (!args->len && (args->flags & KVM_IOEVENTFD_FLAG_DATAMATCH))
		return -EINVAL;
	ctx = eventfd_ctx_fdget(args->fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	p = kzalloc(sizeof(*p), GFP_KERNEL_ACCOUNT);
	if (!p) {
		eventfd_ctx_put(ctx);
		return -ENOMEM;
	}
	p->bus = bus_of(args->flags);
	p->addr = args->addr;
	p->len = args->len;
	p->eventfd = ctx;
	p->wildcard = !(args->flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
	if (!p->wildcard)
		p->datamatch = args->datamatch;

	mutex_lock(&vm->slots_lock);
	r = 0;
	list_for_each_entry(q, &vm->ioeventfds, list) {
		if (collides(p, q))
			r = -EEXIST;
		n += q->bus == p->bus;
	}
	if (!r && n >= IOEVENTFD_MAX)
		r = -ENOSPC;
	if (!r)
		list_add_tail_rcu(&p->list, &vm->ioeventfds);
	mutex_unlock(&vm->slots_lock);
	if (r) {
		eventfd_ctx_put(ctx);
		kfree(p);
	}
	return r;
}

static long deassign(struct modvm_vm *vm, const struct kvm_ioeventfd *args)
{
	bool wildcard = !(args->flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
	struct modvm_ioeventfd *p, *found = NULL;
	struct eventfd_ctx *ctx;

	ctx = eventfd_ctx_fdget(args->fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	mutex_lock(&vm->slots_lock);
	list_for_each_entry(p, &vm->ioeventfds, list) {
		if (p->bus != bus_of(args->flags) || p->eventfd != ctx ||
		    p->addr != args->addr || p->len != args->len ||
		    p->wildcard != wildcard ||
		    (!wildcard && p->datamatch != args->datamatch))
			continue;
		found = p;
		list_del_rcu(&p->list);
		break;
	}
	mutex_unlock(&vm->slots_lock);
	eventfd_ctx_put(ctx);
	if (!found)
		return -ENOENT;
	synchronize_srcu(&vm->srcu);
	eventfd_ctx_put(found->eventfd);
	kfree(found);
	return 0;
}

/**
 * modvm_ioeventfd() - KVM_IOEVENTFD.
 * @vm: the VM.
 * @argp: struct kvm_ioeventfd.
 *
 * Return: 0; -EINVAL for bad flags, length or range; -EEXIST for a
 * registration that overlaps another; -ENOENT to deassign one that does
 * not exist; -EBADF/-EINVAL for a bad eventfd; -EFAULT; -ENOMEM.
 */
long modvm_ioeventfd(struct modvm_vm *vm, struct kvm_ioeventfd __user *argp)
{
	struct kvm_ioeventfd args;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags & KVM_IOEVENTFD_FLAG_DEASSIGN)
		return deassign(vm, &args);
	if (args.flags & ~IOEVENTFD_FLAGS)
		return -EINVAL;
	return assign(vm, &args);
}

/**
 * modvm_ioeventfd_destroy() - free the ioeventfds of a dying VM.
 * @vm: the VM, with no vCPU running.
 */
void modvm_ioeventfd_destroy(struct modvm_vm *vm)
{
	struct modvm_ioeventfd *p, *t;

	list_for_each_entry_safe(p, t, &vm->ioeventfds, list) {
		list_del(&p->list);
		eventfd_ctx_put(p->eventfd);
		kfree(p);
	}
}
