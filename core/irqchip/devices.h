/* SPDX-License-Identifier: GPL-2.0 */
/*
 * State of the in-kernel interrupt controllers, shared by the files of
 * core/irqchip/ only.
 *
 * Lock order: PIT, then PIC or IOAPIC, then a local APIC; every lock is
 * taken with interrupts off because timers and irqfds raise lines from
 * interrupt context.
 */
#ifndef MODVM_CORE_IRQCHIP_DEVICES_H
#define MODVM_CORE_IRQCHIP_DEVICES_H

#include <linux/hrtimer.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/kvm.h>

#include "../modvm.h"

#define MODVM_NR_IRQ_SOURCES	4
#define MODVM_SRC_USER		0	/* KVM_IRQ_LINE, edge irqfds */
#define MODVM_SRC_RESAMPLE	1	/* level irqfds */
#define MODVM_SRC_PIT		2
#define MODVM_SRC_DEVICE	3	/* in-kernel virtio devices */

#define MODVM_IOAPIC_PINS	KVM_IOAPIC_NUM_PINS
#define MODVM_PIC_PINS		16
#define MODVM_MAX_IRQ_ROUTES	4096

/* An interrupt message to local APICs, from an ICR, IOAPIC or MSI. */
struct modvm_apic_irq {
	u32 dest;
	u8 vector;
	u8 delivery_mode;	/* 0..7, SDM encoding */
	bool logical;
	bool level;		/* assert (INIT level de-assert is ignored) */
	bool trig_level;	/* level triggered: EOI goes to the IOAPIC */
	u8 shorthand;		/* 0 none, 1 self, 2 all, 3 all but self */
};

struct modvm_pic_chip {
	struct kvm_pic_state s;
};

struct modvm_pic {
	spinlock_t lock;	/* both chips */
	struct modvm_pic_chip chips[2];
	u8 line[MODVM_PIC_PINS];	/* per-source levels, bitmask */
	bool output;
	u16 acked;		/* pins EOIed under the lock, to notify after */
	u16 unmasked;		/* pins unmasked under the lock, likewise */
	struct modvm_iodev dev_master, dev_slave, dev_elcr;
};

struct modvm_ioapic {
	spinlock_t lock;	/* registers and line state */
	u64 base;
	u32 ioregsel;
	u32 id;
	u32 irr;
	u32 irr_delivered;	/* edge pins already sent */
	u64 redir[MODVM_IOAPIC_PINS];
	u8 line[MODVM_IOAPIC_PINS];	/* per-source levels, bitmask */
	struct modvm_iodev dev;
};

struct modvm_pit;

/* One entry of the GSI routing table. */
struct modvm_irq_route {
	u32 gsi;
	u32 type;		/* KVM_IRQ_ROUTING_IRQCHIP or _MSI */
	u32 chip, pin;		/* pin 0..15 of the pair for the PICs */
	u32 addr_lo, addr_hi, data;
};

struct modvm_irq_routing {
	u32 nr;
	struct modvm_irq_route e[];	/* sorted by gsi */
};

struct modvm_irqchip {
	struct modvm_vm *vm;
	struct modvm_pic pic;
	struct modvm_ioapic ioapic;
	struct modvm_pit *pit;
	struct mutex lock;		/* routing and PIT creation */
	struct modvm_irq_routing __rcu *routing;
	/* irqfds (core/irqchip/irqfd.c) */
	spinlock_t irqfd_lock;
	struct list_head irqfds;
};

/* The LAPIC of one vCPU (core/irqchip/lapic.c). */
struct modvm_lapic;

static inline struct modvm_irqchip *irqchip_of(struct modvm_vm *vm)
{
	/* Pairs with the release store in KVM_CREATE_IRQCHIP. */
	return smp_load_acquire(&vm->irqchip);
}

/* lapic.c */
int modvm_lapic_deliver(struct modvm_vm *vm, struct modvm_vcpu *src,
			const struct modvm_apic_irq *irq);
void modvm_lapic_pic_changed(struct modvm_vm *vm);
int modvm_lapic_create(struct modvm_vcpu *vcpu);
void modvm_lapic_free(struct modvm_vcpu *vcpu);
void modvm_lapic_reset(struct modvm_vcpu *vcpu, bool init);
bool modvm_lapic_has_interrupt(struct modvm_vcpu *vcpu);
int modvm_lapic_get_interrupt(struct modvm_vcpu *vcpu);
bool modvm_lapic_accepts_pic(struct modvm_vcpu *vcpu);
long modvm_lapic_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
		       void __user *argp);
int modvm_lapic_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data,
			bool host);
int modvm_lapic_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data,
			bool host);
u8 modvm_lapic_get_tpr(struct modvm_vcpu *vcpu);
void modvm_lapic_set_tpr(struct modvm_vcpu *vcpu, u8 tpr);

/* ioapic.c */
int modvm_ioapic_init(struct modvm_irqchip *chip);
void modvm_ioapic_destroy(struct modvm_irqchip *chip);
int modvm_ioapic_set_irq(struct modvm_irqchip *chip, u32 pin, int src,
			 bool level);
void modvm_ioapic_eoi(struct modvm_irqchip *chip, u8 vector, bool level);
void modvm_ioapic_get(struct modvm_irqchip *chip, struct kvm_ioapic_state *s);
bool modvm_ioapic_masked(struct modvm_irqchip *chip, u32 pin);
void modvm_ioapic_set(struct modvm_irqchip *chip,
		      const struct kvm_ioapic_state *s);

/* pic.c */
int modvm_pic_init(struct modvm_irqchip *chip);
void modvm_pic_destroy(struct modvm_irqchip *chip);
int modvm_pic_set_irq(struct modvm_irqchip *chip, u32 pin, int src,
		      bool level);
bool modvm_pic_output(struct modvm_irqchip *chip);
bool modvm_pic_masked(struct modvm_irqchip *chip, u32 pin);
int modvm_pic_read_irq(struct modvm_irqchip *chip);
void modvm_pic_get(struct modvm_irqchip *chip, int which,
		   struct kvm_pic_state *s);
void modvm_pic_set(struct modvm_irqchip *chip, int which,
		   const struct kvm_pic_state *s);

/* pit.c */
long modvm_pit_ioctl(struct modvm_vm *vm, unsigned int ioctl, void __user *argp);
void modvm_pit_destroy(struct modvm_vm *vm);
void modvm_pit_acked(struct modvm_vm *vm);
void modvm_pit_unmasked(struct modvm_vm *vm);

/* irq.c: routing and line levels */
int modvm_irq_set(struct modvm_vm *vm, int src, u32 gsi, bool level);
int modvm_irq_msi(struct modvm_vm *vm, u32 addr_lo, u32 addr_hi, u32 data);
void modvm_irq_acked(struct modvm_irqchip *chip, u32 chip_id, u32 pin);
void modvm_irq_unmasked(struct modvm_irqchip *chip, u32 chip_id, u32 pin);
bool modvm_irq_gsi_masked(struct modvm_vm *vm, u32 gsi);
int modvm_irq_default_routing(struct modvm_irqchip *chip);
long modvm_irq_set_routing(struct modvm_vm *vm,
			   struct kvm_irq_routing __user *argp);
void modvm_irq_free_routing(struct modvm_irqchip *chip);

/* Per-source line state: the OR of all sources is the pin level. */
static inline bool modvm_line_update(u8 *line, int src, bool level)
{
	if (level)
		*line |= BIT(src);
	else
		*line &= ~BIT(src);
	return *line != 0;
}

/* irqfd.c */
long modvm_irqfd(struct modvm_vm *vm, struct kvm_irqfd __user *argp);
void modvm_irqfd_resample(struct modvm_irqchip *chip, u32 gsi);
void modvm_irqfd_destroy(struct modvm_irqchip *chip);

/* ioeventfd.c */
long modvm_ioeventfd(struct modvm_vm *vm, struct kvm_ioeventfd __user *argp);
void modvm_ioeventfd_destroy(struct modvm_vm *vm);

#endif /* MODVM_CORE_IRQCHIP_DEVICES_H */
