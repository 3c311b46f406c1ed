// SPDX-License-Identifier: GPL-2.0
/*
 * No in-kernel irqchip: the answers of a VM whose interrupt controllers
 * live in userspace. The in-kernel devices replace this file.
 */
#include "../modvm.h"

/**
 * modvm_irqchip_in_kernel() - whether KVM_CREATE_IRQCHIP succeeded.
 * @vm: the VM.
 *
 * Return: false: there are no in-kernel interrupt controllers yet.
 */
bool modvm_irqchip_in_kernel(struct modvm_vm *vm)
{
	return false;
}

/**
 * modvm_irqchip_has_interrupt() - a maskable interrupt is deliverable.
 * @vcpu: the vCPU.
 *
 * Return: false: only userspace (KVM_INTERRUPT) raises interrupts.
 */
bool modvm_irqchip_has_interrupt(struct modvm_vcpu *vcpu)
{
	return false;
}

/**
 * modvm_irqchip_get_interrupt() - acknowledge the interrupt to inject.
 * @vcpu: the vCPU.
 *
 * Return: -1: there is never one.
 */
int modvm_irqchip_get_interrupt(struct modvm_vcpu *vcpu)
{
	return -1;
}

/**
 * modvm_irqchip_vcpu_reset() - reset the vCPU's local APIC.
 * @vcpu: the vCPU.
 * @init: INIT rather than RESET.
 *
 * There is no local APIC to reset.
 */
void modvm_irqchip_vcpu_reset(struct modvm_vcpu *vcpu, bool init)
{
}

/**
 * modvm_irqchip_vcpu_create() - give a new vCPU its local APIC.
 * @vcpu: the vCPU.
 *
 * Return: 0: a vCPU without in-kernel irqchip needs nothing.
 */
int modvm_irqchip_vcpu_create(struct modvm_vcpu *vcpu)
{
	return 0;
}

/**
 * modvm_irqchip_vcpu_free() - free the vCPU's local APIC.
 * @vcpu: the vCPU.
 */
void modvm_irqchip_vcpu_free(struct modvm_vcpu *vcpu)
{
}

/**
 * modvm_irqchip_get_cr8() - CR8 as the local APIC's TPR gives it.
 * @vcpu: the vCPU.
 *
 * Only called when modvm_irqchip_in_kernel(); never true here.
 *
 * Return: 0.
 */
u8 modvm_irqchip_get_cr8(struct modvm_vcpu *vcpu)
{
	return 0;
}

/**
 * modvm_irqchip_set_cr8() - a CR8 write, into the local APIC's TPR.
 * @vcpu: the vCPU.
 * @cr8: the new CR8 (TPR[7:4]).
 *
 * Only called when modvm_irqchip_in_kernel(); never true here.
 */
void modvm_irqchip_set_cr8(struct modvm_vcpu *vcpu, u8 cr8)
{
}
