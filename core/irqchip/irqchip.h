/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel interrupt controllers (KVM_CREATE_IRQCHIP): what the rest
 * of modvm calls. The interface with event injection is described in
 * /work/irq-interface.md; the devices themselves are in this folder.
 */
#ifndef MODVM_CORE_IRQCHIP_IRQCHIP_H
#define MODVM_CORE_IRQCHIP_IRQCHIP_H

#include <linux/types.h>

struct modvm_vm;
struct modvm_vcpu;

/* For event injection (core/events.c). */
bool modvm_irqchip_in_kernel(struct modvm_vm *vm);
bool modvm_irqchip_has_interrupt(struct modvm_vcpu *vcpu);
int modvm_irqchip_get_interrupt(struct modvm_vcpu *vcpu);
void modvm_irqchip_vcpu_reset(struct modvm_vcpu *vcpu, bool init);
int modvm_irqchip_vcpu_create(struct modvm_vcpu *vcpu);
void modvm_irqchip_vcpu_free(struct modvm_vcpu *vcpu);
u8 modvm_irqchip_get_cr8(struct modvm_vcpu *vcpu);
void modvm_irqchip_set_cr8(struct modvm_vcpu *vcpu, u8 cr8);

/* For core/vm.c, core/vcpu.c, core/msr.c and core/iobus.c. */
long modvm_irqchip_vm_ioctl(struct modvm_vm *vm, unsigned int ioctl,
			    unsigned long arg);
long modvm_irqchip_vcpu_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
			      void __user *argp);
void modvm_irqchip_vm_init(struct modvm_vm *vm);
void modvm_irqchip_vm_destroy(struct modvm_vm *vm);
int modvm_irqchip_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data,
			  bool host);
int modvm_irqchip_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data,
			  bool host);
int modvm_lapic_mmio(struct modvm_vcpu *vcpu, u64 addr, int len, void *val,
		     bool write);
int modvm_irq_set_device_line(struct modvm_vm *vm, u32 gsi, bool level);
int modvm_ioeventfd_write(struct modvm_vm *vm, int bus, u64 addr, int len,
			  const void *val);

#endif /* MODVM_CORE_IRQCHIP_IRQCHIP_H */
