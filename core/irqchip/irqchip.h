/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel interrupt controllers as the vCPU run loop sees them
 * (the contract between core/events.c and core/irqchip/, described in
 * /work/irq-interface.md). Without KVM_CREATE_IRQCHIP every VM answers
 * "no in-kernel irqchip" and userspace injects through KVM_INTERRUPT.
 */
#ifndef MODVM_CORE_IRQCHIP_IRQCHIP_H
#define MODVM_CORE_IRQCHIP_IRQCHIP_H

#include <linux/types.h>

struct modvm_vm;
struct modvm_vcpu;

bool modvm_irqchip_in_kernel(struct modvm_vm *vm);
bool modvm_irqchip_has_interrupt(struct modvm_vcpu *vcpu);
int modvm_irqchip_get_interrupt(struct modvm_vcpu *vcpu);
void modvm_irqchip_vcpu_reset(struct modvm_vcpu *vcpu, bool init);
int modvm_irqchip_vcpu_create(struct modvm_vcpu *vcpu);
void modvm_irqchip_vcpu_free(struct modvm_vcpu *vcpu);
u8 modvm_irqchip_get_cr8(struct modvm_vcpu *vcpu);
void modvm_irqchip_set_cr8(struct modvm_vcpu *vcpu, u8 cr8);

#endif /* MODVM_CORE_IRQCHIP_IRQCHIP_H */
