// SPDX-License-Identifier: GPL-2.0
/*
 * VM file descriptors: creation, lifetime and the VM ioctls.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/module.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "modvm.h"
#include "../uapi/modvm.h"

static void modvm_vm_destroy(struct kref *kref)
{
	struct modvm_vm *vm = container_of(kref, struct modvm_vm, refs);
	struct modvm_vcpu *vcpu;
	unsigned long id;

	/* No notifier may kick vCPUs once they are freed: unregister first. */
	modvm_tdp_destroy(vm);
	/* Timers and eventfds deliver to LAPICs: stop them first. */
	modvm_irqchip_vm_destroy(vm);
	xa_for_each(&vm->vcpus, id, vcpu)
		modvm_vcpu_free(vcpu);
	xa_destroy(&vm->vcpus);
	modvm_shadow_destroy(vm);
	modvm_io_bus_destroy(vm);
	/* Nobody else can see the VM any more: no SRCU readers remain. */
	modvm_memslots_free(rcu_dereference_protected(vm->memslots, true));
	cleanup_srcu_struct(&vm->srcu);
	mmdrop(vm->mm);
	kfree(vm);
	modvm_hw_put();
}

/**
 * modvm_vm_get() - take a reference on a VM.
 * @vm: the VM.
 */
void modvm_vm_get(struct modvm_vm *vm)
{
	kref_get(&vm->refs);
}

static void modvm_kick_ack(void *unused)
{
	/* The IPI itself made the target CPU leave guest mode. */
}

/**
 * modvm_kick_all() - make every vCPU do @request before it next runs.
 * @vm: the VM.
 * @request: a MODVM_REQ_* bit.
 *
 * vCPUs in guest mode are interrupted, and this returns only once they
 * have left it; the others see the request before they enter.
 */
void modvm_kick_all(struct modvm_vm *vm, int request)
{
	struct modvm_vcpu *vcpu;
	unsigned long id;
	int cpu, me = get_cpu();

	xa_for_each(&vm->vcpus, id, vcpu) {
		set_bit(request, &vcpu->requests);
		/* Pairs with the barrier between mode and requests in run. */
		smp_mb__after_atomic();
		cpu = READ_ONCE(vcpu->cpu);
		if (READ_ONCE(vcpu->mode) == MODVM_IN_GUEST && cpu != me)
			smp_call_function_single(cpu, modvm_kick_ack, NULL, 1);
	}
	put_cpu();
}

/**
 * modvm_vm_put() - drop a reference; the last one destroys the VM.
 * @vm: the VM.
 */
void modvm_vm_put(struct modvm_vm *vm)
{
	kref_put(&vm->refs, modvm_vm_destroy);
}

static long modvm_vm_ioctl(struct file *filp, unsigned int ioctl,
			   unsigned long arg)
{
	struct modvm_vm *vm = filp->private_data;
	void __user *argp = (void __user *)arg;

	/* As KVM: a VM belongs to the address space that created it. */
	if (vm->mm != current->mm)
		return -EIO;

	switch (ioctl) {
	case KVM_CREATE_VCPU:
		return modvm_vcpu_create(vm, arg);
	case KVM_SET_USER_MEMORY_REGION: {
		struct kvm_userspace_memory_region mem;

		if (copy_from_user(&mem, argp, sizeof(mem)))
			return -EFAULT;
		return modvm_set_user_memory_region(vm, &mem);
	}
	case KVM_CHECK_EXTENSION:
		return modvm_check_extension(vm, arg);
	case MODVM_GET_TDP_STATS:
		return modvm_tdp_get_stats(vm, argp);
	case MODVM_CREATE_VIRTIO:
		return modvm_virtio_create(vm, argp);
	case MODVM_GET_VIRTIO_TYPES:
		return modvm_virtio_types((u64 __user *)argp);
	case KVM_SET_TSS_ADDR:
		/*
		 * Real mode needs no TSS in guest memory here (VT-x without
		 * unrestricted guest runs it in vm86 with a zero-limit TSS,
		 * vmx/realmode.c), but the three pages KVM would put there
		 * must fit below 4 GiB: KVM refuses the rest.
		 */
		return arg > (u32)(-3 * PAGE_SIZE) ? -EINVAL : 0;
	case KVM_SET_IDENTITY_MAP_ADDR: {
		u64 addr;
		long r = -EINVAL;

		/* As KVM: only before the first vCPU, whose state uses it. */
		mutex_lock(&vm->lock);
		if (!vm->created_vcpus)
			r = copy_from_user(&addr, argp, sizeof(addr)) ? -EFAULT : 0;
		mutex_unlock(&vm->lock);
		return r;
	}
	default:
		/* KVM answers unknown VM ioctls with -ENOTTY, as this does. */
		return modvm_irqchip_vm_ioctl(vm, ioctl, arg);
	}
}

static int modvm_vm_release(struct inode *inode, struct file *filp)
{
	modvm_vm_put(filp->private_data);
	return 0;
}

static const struct file_operations modvm_vm_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = modvm_vm_ioctl,
	.release = modvm_vm_release,
	.llseek = noop_llseek,
};

/**
 * modvm_vm_create() - KVM_CREATE_VM: make a VM and return its fd.
 * @type: machine type; only 0 (the default x86 VM) exists.
 *
 * Return: the new fd, or -EINVAL for an unknown type, -ENOMEM, or the
 * error from allocating an fd.
 */
int modvm_vm_create(unsigned long type)
{
	struct modvm_memslots *slots;
	struct modvm_vm *vm;
	int fd, r;

	if (type)
		return -EINVAL;

	r = modvm_hw_get();
	if (r)
		return r;
	r = -ENOMEM;
	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		goto hw_put;
	kref_init(&vm->refs);
	mutex_init(&vm->lock);
	mutex_init(&vm->slots_lock);
	xa_init(&vm->vcpus);
	mutex_init(&vm->virtio_lock);
	INIT_LIST_HEAD(&vm->virtio_devs);
	spin_lock_init(&vm->virtio_line_lock);
	modvm_irqchip_vm_init(vm);
	r = init_srcu_struct(&vm->srcu);
	if (r)
		goto free_vm;
	slots = modvm_memslots_alloc_empty();
	if (!slots) {
		r = -ENOMEM;
		goto free_srcu;
	}
	RCU_INIT_POINTER(vm->memslots, slots);
	mmgrab(current->mm);
	vm->mm = current->mm;
	modvm_shadow_init(vm);
	r = modvm_tdp_init(vm);
	if (r) {
		mmdrop(vm->mm);
		modvm_memslots_free(slots);
		goto free_srcu;
	}

	fd = anon_inode_getfd("modvm-vm", &modvm_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		modvm_vm_put(vm);
	return fd;

free_srcu:
	cleanup_srcu_struct(&vm->srcu);
free_vm:
	kfree(vm);
hw_put:
	modvm_hw_put();
	return r;
}
