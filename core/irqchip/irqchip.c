// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_CREATE_IRQCHIP and the VM and vCPU ioctls of the in-kernel
 * interrupt controllers, and the functions event injection calls.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "devices.h"

/**
 * modvm_irqchip_in_kernel() - KVM_CREATE_IRQCHIP succeeded.
 * @vm: the VM.
 *
 * Return: true when the LAPICs, IOAPIC and PIC are in the kernel.
 */
bool modvm_irqchip_in_kernel(struct modvm_vm *vm)
{
	return READ_ONCE(vm->irqchip);
}

/**
 * modvm_irqchip_has_interrupt() - a maskable interrupt awaits @vcpu.
 * @vcpu: the vCPU.
 *
 * Return: true for a PIC ExtINT this vCPU takes or a LAPIC interrupt
 * above its PPR. Changes nothing.
 */
bool modvm_irqchip_has_interrupt(struct modvm_vcpu *vcpu)
{
	struct modvm_irqchip *chip = irqchip_of(vcpu->vm);

	if (!chip)
		return false;
	if (modvm_pic_output(chip) && modvm_lapic_accepts_pic(vcpu))
		return true;
	return modvm_lapic_has_interrupt(vcpu);
}

/**
 * modvm_irqchip_get_interrupt() - acknowledge the interrupt to inject.
 * @vcpu: the vCPU, in its thread.
 *
 * Return: the vector (PIC INTA cycle first, as the ExtINT line has
 * priority, else LAPIC IRR to ISR), or -1.
 */
int modvm_irqchip_get_interrupt(struct modvm_vcpu *vcpu)
{
	struct modvm_irqchip *chip = irqchip_of(vcpu->vm);

	if (!chip)
		return -1;
	if (modvm_pic_output(chip) && modvm_lapic_accepts_pic(vcpu))
		return modvm_pic_read_irq(chip);
	return modvm_lapic_get_interrupt(vcpu);
}

/**
 * modvm_irqchip_vcpu_reset() - RESET or INIT of the vCPU's LAPIC.
 * @vcpu: the vCPU.
 * @init: INIT rather than RESET.
 */
void modvm_irqchip_vcpu_reset(struct modvm_vcpu *vcpu, bool init)
{
	modvm_lapic_reset(vcpu, init);
}

/**
 * modvm_irqchip_vcpu_create() - give a new vCPU its LAPIC.
 * @vcpu: the vCPU, created with vm->lock held.
 *
 * Return: 0 (also without an in-kernel irqchip) or -ENOMEM.
 */
int modvm_irqchip_vcpu_create(struct modvm_vcpu *vcpu)
{
	if (!modvm_irqchip_in_kernel(vcpu->vm))
		return 0;
	return modvm_lapic_create(vcpu);
}

/**
 * modvm_irqchip_vcpu_free() - free the vCPU's LAPIC.
 * @vcpu: the vCPU.
 */
void modvm_irqchip_vcpu_free(struct modvm_vcpu *vcpu)
{
	modvm_lapic_free(vcpu);
}

/**
 * modvm_irqchip_get_cr8() - CR8 from the TPR.
 * @vcpu: the vCPU.
 *
 * Return: TPR[7:4].
 */
u8 modvm_irqchip_get_cr8(struct modvm_vcpu *vcpu)
{
	return modvm_lapic_get_tpr(vcpu) >> 4;
}

/**
 * modvm_irqchip_set_cr8() - a CR8 write sets the TPR.
 * @vcpu: the vCPU.
 * @cr8: the new CR8 (bits 3:0).
 */
void modvm_irqchip_set_cr8(struct modvm_vcpu *vcpu, u8 cr8)
{
	modvm_lapic_set_tpr(vcpu, (cr8 & 0xf) << 4);
}

/**
 * modvm_irqchip_get_msr() - APIC MSRs, when the vCPU has an in-kernel APIC.
 * @vcpu: the vCPU.
 * @index: MSR number.
 * @data: the value.
 * @host: read by userspace.
 *
 * Return: 0, 1 to fault, or -ENOENT when core handles the MSR.
 */
int modvm_irqchip_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data,
			  bool host)
{
	if (!vcpu->lapic)
		return -ENOENT;
	return modvm_lapic_get_msr(vcpu, index, data, host);
}

/**
 * modvm_irqchip_set_msr() - APIC MSRs, when the vCPU has an in-kernel APIC.
 * @vcpu: the vCPU.
 * @index: MSR number.
 * @data: the value.
 * @host: written by userspace.
 *
 * Return: 0, 1 to fault, or -ENOENT when core handles the MSR.
 */
int modvm_irqchip_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data,
			  bool host)
{
	if (!vcpu->lapic)
		return -ENOENT;
	return modvm_lapic_set_msr(vcpu, index, data, host);
}

static long create_irqchip(struct modvm_vm *vm)
{
	struct modvm_irqchip *chip;
	long r;

	mutex_lock(&vm->lock);
	r = -EEXIST;
	if (vm->irqchip)
		goto out;
	r = -EINVAL;
	if (vm->created_vcpus)
		goto out;
	r = -ENOMEM;
	chip = kzalloc(sizeof(*chip), GFP_KERNEL_ACCOUNT);
	if (!chip)
		goto out;
	chip->vm = vm;
	mutex_init(&chip->lock);
	spin_lock_init(&chip->irqfd_lock);
	INIT_LIST_HEAD(&chip->irqfds);
	r = modvm_pic_init(chip);
	if (r)
		goto free;
	r = modvm_ioapic_init(chip);
	if (r)
		goto pic;
	r = modvm_irq_default_routing(chip);
	if (r)
		goto ioapic;
	/* Everything above is visible before the flag (irqchip_of()). */
	smp_store_release(&vm->irqchip, chip);
	mutex_unlock(&vm->lock);
	return 0;
ioapic:
	modvm_ioapic_destroy(chip);
pic:
	modvm_pic_destroy(chip);
free:
	kfree(chip);
out:
	mutex_unlock(&vm->lock);
	return r;
}

static long irq_line(struct modvm_vm *vm, struct kvm_irq_level __user *argp,
		     bool status)
{
	struct kvm_irq_level irq;

	if (copy_from_user(&irq, argp, sizeof(irq)))
		return -EFAULT;
	if (!modvm_irqchip_in_kernel(vm))
		return -ENXIO;
	irq.status = modvm_irq_set(vm, MODVM_SRC_USER, irq.irq, irq.level);
	if (status && copy_to_user(argp, &irq, sizeof(irq)))
		return -EFAULT;
	return 0;
}

static long signal_msi(struct modvm_vm *vm, struct kvm_msi __user *argp)
{
	struct kvm_msi msi;

	if (copy_from_user(&msi, argp, sizeof(msi)))
		return -EFAULT;
	if (!modvm_irqchip_in_kernel(vm) || (msi.flags & ~KVM_MSI_VALID_DEVID))
		return -EINVAL;
	/* KVM returns the delivery count, and -1 (EPERM) for none. */
	return modvm_irq_msi(vm, msi.address_lo, msi.address_hi, msi.data);
}

static long irqchip_state(struct modvm_vm *vm, struct kvm_irqchip __user *argp,
			  bool set)
{
	struct modvm_irqchip *chip = irqchip_of(vm);
	struct kvm_irqchip *s;
	long r = 0;

	s = memdup_user(argp, sizeof(*s));
	if (IS_ERR(s))
		return PTR_ERR(s);
	if (!chip) {
		r = -ENXIO;
		goto out;
	}
	switch (s->chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		if (set)
			modvm_pic_set(chip, s->chip_id, &s->chip.pic);
		else
			modvm_pic_get(chip, s->chip_id, &s->chip.pic);
		break;
	case KVM_IRQCHIP_IOAPIC:
		if (set)
			modvm_ioapic_set(chip, &s->chip.ioapic);
		else
			modvm_ioapic_get(chip, &s->chip.ioapic);
		break;
	default:
		r = -EINVAL;
		goto out;
	}
	if (!set && copy_to_user(argp, s, sizeof(*s)))
		r = -EFAULT;
out:
	kfree(s);
	return r;
}

static long set_boot_cpu_id(struct modvm_vm *vm, unsigned long id)
{
	long r = 0;

	mutex_lock(&vm->lock);
	if (vm->created_vcpus)
		r = -EBUSY;
	else
		vm->bsp_vcpu_id = id;
	mutex_unlock(&vm->lock);
	return r;
}

/**
 * modvm_irqchip_vm_ioctl() - the VM ioctls of the in-kernel devices.
 * @vm: the VM.
 * @ioctl: the ioctl number.
 * @arg: its argument.
 *
 * Return: the ioctl's result, -ENOTTY for an ioctl that is not ours.
 */
long modvm_irqchip_vm_ioctl(struct modvm_vm *vm, unsigned int ioctl,
			    unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	switch (ioctl) {
	case KVM_CREATE_IRQCHIP:
		return create_irqchip(vm);
	case KVM_IRQ_LINE:
	case KVM_IRQ_LINE_STATUS:
		return irq_line(vm, argp, ioctl == KVM_IRQ_LINE_STATUS);
	case KVM_SET_GSI_ROUTING:
		return modvm_irq_set_routing(vm, argp);
	case KVM_SIGNAL_MSI:
		return signal_msi(vm, argp);
	case KVM_IRQFD:
		return modvm_irqfd(vm, argp);
	case KVM_IOEVENTFD:
		return modvm_ioeventfd(vm, argp);
	case KVM_GET_IRQCHIP:
	case KVM_SET_IRQCHIP:
		return irqchip_state(vm, argp, ioctl == KVM_SET_IRQCHIP);
	case KVM_CREATE_PIT:
	case KVM_CREATE_PIT2:
	case KVM_GET_PIT:
	case KVM_GET_PIT2:
	case KVM_SET_PIT:
	case KVM_SET_PIT2:
	case KVM_REINJECT_CONTROL:
		return modvm_pit_ioctl(vm, ioctl, argp);
	case KVM_SET_BOOT_CPU_ID:
		return set_boot_cpu_id(vm, arg);
	}
	return -ENOTTY;
}

/**
 * modvm_irqchip_vcpu_ioctl() - KVM_GET_LAPIC and KVM_SET_LAPIC.
 * @vcpu: the vCPU, its mutex held.
 * @ioctl: the ioctl number.
 * @argp: its argument.
 *
 * Return: the ioctl's result, -ENOTTY for an ioctl that is not ours.
 */
long modvm_irqchip_vcpu_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
			      void __user *argp)
{
	return modvm_lapic_ioctl(vcpu, ioctl, argp);
}

/**
 * modvm_irqchip_vm_init() - state of a new VM that exists without an
 * irqchip too (ioeventfds).
 * @vm: the VM being created.
 */
void modvm_irqchip_vm_init(struct modvm_vm *vm)
{
	INIT_LIST_HEAD(&vm->ioeventfds);
}

/**
 * modvm_irqchip_vm_destroy() - stop and free the devices of a dying VM.
 * @vm: the VM; called before its vCPUs are freed, so that no timer or
 *	eventfd delivers to a freed LAPIC.
 */
void modvm_irqchip_vm_destroy(struct modvm_vm *vm)
{
	struct modvm_irqchip *chip = vm->irqchip;

	modvm_pit_destroy(vm);
	modvm_ioeventfd_destroy(vm);
	if (!chip)
		return;
	modvm_irqfd_destroy(chip);
	modvm_irq_free_routing(chip);
	/* The buses go with the VM: no unregistering needed here. */
	WRITE_ONCE(vm->irqchip, NULL);
	kfree(chip);
}
