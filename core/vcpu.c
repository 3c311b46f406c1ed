// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU file descriptors: creation, the shared kvm_run mapping and the
 * vCPU ioctls.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/module.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/apicdef.h>
#include <asm/msr-index.h>
#include <asm/tsc.h>

#include "modvm.h"

/**
 * modvm_vcpu_reset() - architectural state after RESET or INIT.
 * @vcpu: the vCPU.
 * @init: INIT (SDM 10.1, APM 14.1): the APIC base, MSRs and TSC are kept.
 *
 * Pending and in-flight events are dropped, as the CPU drops them; the
 * local APIC (if in the kernel) is reset too, so its vCPU state must
 * exist before the first call.
 */
void modvm_vcpu_reset(struct modvm_vcpu *vcpu, bool init)
{
	memset(vcpu->gprs, 0, sizeof(vcpu->gprs));
	vcpu->gprs[MODVM_RDX] = MODVM_RESET_RDX;
	vcpu->rip = 0xfff0;
	vcpu->rflags = X86_EFLAGS_FIXED;
	vcpu->xcr0 = XFEATURE_MASK_FP;
	if (!init) {
		vcpu->apic_base = APIC_DEFAULT_PHYS_BASE |
				  MSR_IA32_APICBASE_ENABLE |
				  (vcpu->id == vcpu->vm->bsp_vcpu_id ?
				   MSR_IA32_APICBASE_BSP : 0);
		vcpu->misc_enable = MSR_IA32_MISC_ENABLE_FAST_STRING;
		vcpu->tsc_offset = -(s64)rdtsc();
	}
	memset(&vcpu->exception, 0, sizeof(vcpu->exception));
	memset(&vcpu->interrupt, 0, sizeof(vcpu->interrupt));
	atomic_set(&vcpu->nmi_queued, 0);
	vcpu->nmi_pending = 0;
	vcpu->nmi_injected = false;
	modvm_backend->vcpu_reset(vcpu);
	modvm_irqchip_vcpu_reset(vcpu, init);
}

static vm_fault_t modvm_vcpu_fault(struct vm_fault *vmf)
{
	struct modvm_vcpu *vcpu = vmf->vma->vm_file->private_data;
	void *addr;

	switch (vmf->pgoff) {
	case 0:
		addr = vcpu->run;
		break;
	case 1:
		addr = vcpu->pio_data;
		break;
	default:
		return VM_FAULT_SIGBUS;
	}
	vmf->page = virt_to_page(addr);
	get_page(vmf->page);
	return 0;
}

static const struct vm_operations_struct modvm_vcpu_vm_ops = {
	.fault = modvm_vcpu_fault,
};

static int modvm_vcpu_mmap(struct file *filp, struct vm_area_struct *vma)
{
	vma->vm_ops = &modvm_vcpu_vm_ops;
	return 0;
}

static long modvm_vcpu_ioctl(struct file *filp, unsigned int ioctl,
			     unsigned long arg)
{
	struct modvm_vcpu *vcpu = filp->private_data;
	void __user *argp = (void __user *)arg;
	long r;

	if (vcpu->vm->mm != current->mm)
		return -EIO;

	mutex_lock(&vcpu->mutex);
	switch (ioctl) {
	case KVM_RUN:
		r = arg ? -EINVAL : modvm_vcpu_run(vcpu);
		break;
	case KVM_SET_CPUID2:
		r = modvm_set_cpuid2(vcpu, argp);
		break;
	case KVM_GET_CPUID2:
		r = modvm_get_cpuid2(vcpu, argp);
		break;
	case KVM_GET_MSRS:
	case KVM_SET_MSRS:
		r = modvm_msrs_ioctl(vcpu, argp, ioctl == KVM_SET_MSRS);
		break;
	default:
		r = modvm_events_ioctl(vcpu, ioctl, argp);
		if (r == -ENOTTY)
			r = modvm_irqchip_vcpu_ioctl(vcpu, ioctl, argp);
		if (r == -ENOTTY)
			r = modvm_vcpu_regs_ioctl(vcpu, ioctl, argp);
		/* KVM answers unknown vCPU ioctls with -EINVAL. */
		if (r == -ENOTTY)
			r = -EINVAL;
	}
	mutex_unlock(&vcpu->mutex);
	return r;
}

static int modvm_vcpu_release(struct inode *inode, struct file *filp)
{
	struct modvm_vcpu *vcpu = filp->private_data;

	modvm_vm_put(vcpu->vm);
	return 0;
}

static const struct file_operations modvm_vcpu_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = modvm_vcpu_ioctl,
	.mmap = modvm_vcpu_mmap,
	.release = modvm_vcpu_release,
	.llseek = noop_llseek,
};

/**
 * modvm_vcpu_free() - free a vCPU; only when its VM is destroyed.
 * @vcpu: the vCPU.
 */
void modvm_vcpu_free(struct modvm_vcpu *vcpu)
{
	modvm_irqchip_vcpu_free(vcpu);
	if (vcpu->backend)
		modvm_backend->vcpu_free(vcpu);
	modvm_shadow_vcpu_free(vcpu);
	if (vcpu->guest_fpu.fpstate)
		fpu_free_guest_fpstate(&vcpu->guest_fpu);
	kvfree(vcpu->cpuid);
	modvm_page_cache_free(&vcpu->mmu_pages);
	free_page((unsigned long)vcpu->pio_data);
	free_page((unsigned long)vcpu->run);
	put_pid(rcu_dereference_protected(vcpu->pid, true));
	kfree(vcpu);
}

/**
 * modvm_vcpu_create() - KVM_CREATE_VCPU: make a vCPU and return its fd.
 * @vm: the VM.
 * @id: the vCPU id.
 *
 * Return: the new fd; -EINVAL when @id or the vCPU count is out of
 * range; -EEXIST when @id is taken; -ENOMEM.
 */
int modvm_vcpu_create(struct modvm_vm *vm, unsigned long id)
{
	struct modvm_vcpu *vcpu;
	struct file *file;
	int fd, r;

	if (id >= MODVM_MAX_VCPU_ID)
		return -EINVAL;

	mutex_lock(&vm->lock);
	if (vm->created_vcpus >= MODVM_MAX_VCPUS) {
		r = -EINVAL;
		goto unlock;
	}
	if (xa_load(&vm->vcpus, id)) {
		r = -EEXIST;
		goto unlock;
	}

	r = -ENOMEM;
	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		goto unlock;
	vcpu->vm = vm;
	vcpu->id = id;
	mutex_init(&vcpu->mutex);
	vcpu->run = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	vcpu->pio_data = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	vcpu->cpu = -1;
	if (!vcpu->run || !vcpu->pio_data ||
	    !fpu_alloc_guest_fpstate(&vcpu->guest_fpu))
		goto free_vcpu;
	r = modvm_backend->vcpu_create(vcpu);
	if (!r)
		r = modvm_irqchip_vcpu_create(vcpu);
	if (r)
		goto free_vcpu;
	modvm_vcpu_reset(vcpu, false);
	modvm_events_vcpu_init(vcpu);

	/*
	 * Everything that can fail comes before the vCPU is published:
	 * once it is in vm->vcpus, kicks and notifiers may use it without
	 * locks, so it can only be freed with the VM.
	 */
	r = xa_reserve(&vm->vcpus, id, GFP_KERNEL_ACCOUNT);
	if (r)
		goto free_vcpu;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto unreserve;
	}
	/* The file's reference; the VM outlives the file. */
	modvm_vm_get(vm);
	file = anon_inode_getfile("modvm-vcpu", &modvm_vcpu_fops, vcpu, O_RDWR);
	if (IS_ERR(file)) {
		r = PTR_ERR(file);
		put_unused_fd(fd);
		modvm_vm_put(vm);	/* not the last: the caller's VM fd */
		goto unreserve;
	}
	/* A reserved entry needs no allocation: this cannot fail. */
	xa_store(&vm->vcpus, id, vcpu, GFP_KERNEL_ACCOUNT);
	vm->created_vcpus++;
	mutex_unlock(&vm->lock);
	fd_install(fd, file);
	return fd;

unreserve:
	xa_release(&vm->vcpus, id);
free_vcpu:
	modvm_vcpu_free(vcpu);
unlock:
	mutex_unlock(&vm->lock);
	return r;
}
