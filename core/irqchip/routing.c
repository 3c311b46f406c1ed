// SPDX-License-Identifier: GPL-2.0
/*
 * GSI routing: which irqchip pins or MSI message a global system
 * interrupt number drives (KVM_SET_GSI_ROUTING), with KVM's default
 * table, line levels from KVM_IRQ_LINE, irqfds and the PIT, and the
 * acknowledge path back to irqfd resamplers.
 *
 * The table is immutable once published: readers use it under vm->srcu
 * from any context (timers and eventfd wake-ups raise lines too), and a
 * new table replaces it under chip->lock.
 */
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "devices.h"

#define MSI_ADDR_DEST_SHIFT	12
#define MSI_ADDR_LOGICAL	BIT(2)
#define MSI_DATA_DM_SHIFT	8
#define MSI_DATA_ASSERT		BIT(14)
#define MSI_DATA_LEVEL		BIT(15)

static int route_cmp(const void *a, const void *b)
{
	const struct modvm_irq_route *ra = a, *rb = b;

	return ra->gsi < rb->gsi ? -1 : ra->gsi > rb->gsi;
}

/* Index of the first entry for @gsi, or rt->nr. */
static u32 route_first(struct modvm_irq_routing *rt, u32 gsi)
{
	u32 lo = 0, hi = rt->nr;

	while (lo < hi) {
		u32 mid = (lo + hi) / 2;

		if (rt->e[mid].gsi < gsi)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * modvm_irq_msi() - deliver an MSI message to the local APICs.
 * @vm: the VM.
 * @addr_lo: message address, low half (0xfeexxxxx).
 * @addr_hi: message address, high half (unused: no extended ids).
 * @data: message data.
 *
 * Return: APICs that took it, -1 for none (as KVM_SIGNAL_MSI).
 */
int modvm_irq_msi(struct modvm_vm *vm, u32 addr_lo, u32 addr_hi, u32 data)
{
	struct modvm_apic_irq irq = {
		.dest = (addr_lo >> MSI_ADDR_DEST_SHIFT) & 0xff,
		.logical = addr_lo & MSI_ADDR_LOGICAL,
		.vector = data & 0xff,
		.delivery_mode = (data >> MSI_DATA_DM_SHIFT) & 7,
		.level = true,
		.trig_level = data & MSI_DATA_LEVEL,
	};

	return modvm_lapic_deliver(vm, NULL, &irq);
}

static int route_set(struct modvm_vm *vm, struct modvm_irqchip *chip,
		     const struct modvm_irq_route *e, int src, bool level)
{
	if (e->type == KVM_IRQ_ROUTING_MSI)
		return level ? modvm_irq_msi(vm, e->addr_lo, e->addr_hi, e->data) : -1;
	if (e->chip == KVM_IRQCHIP_IOAPIC)
		return modvm_ioapic_set_irq(chip, e->pin, src, level);
	return modvm_pic_set_irq(chip, e->pin + (e->chip == KVM_IRQCHIP_PIC_SLAVE ? 8 : 0),
				 src, level);
}

/**
 * modvm_irq_set() - set the level of @gsi as seen from source @src.
 * @vm: the VM.
 * @src: MODVM_SRC_*.
 * @gsi: the global system interrupt.
 * @level: asserted or not.
 *
 * Callable from any context.
 *
 * Return: KVM_IRQ_LINE_STATUS's status: the sum of the positive results
 * of every route, 0 when coalesced, -1 when no route took it.
 */
int modvm_irq_set(struct modvm_vm *vm, int src, u32 gsi, bool level)
{
	struct modvm_irqchip *chip = irqchip_of(vm);
	struct modvm_irq_routing *rt;
	int ret = -1, idx, r;
	u32 i;

	if (!chip)
		return -1;
	idx = srcu_read_lock(&vm->srcu);
	rt = srcu_dereference(chip->routing, &vm->srcu);
	for (i = rt ? route_first(rt, gsi) : 0; rt && i < rt->nr && rt->e[i].gsi == gsi; i++) {
		r = route_set(vm, chip, &rt->e[i], src, level);
		if (r < 0)
			continue;
		ret = r + max(ret, 0);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return ret;
}

/**
 * modvm_irq_set_device_line() - the level an in-kernel device drives.
 * @vm: the VM.
 * @gsi: the device's line; no two devices share one.
 * @level: asserted or not.
 *
 * Return: as modvm_irq_set().
 */
int modvm_irq_set_device_line(struct modvm_vm *vm, u32 gsi, bool level)
{
	return modvm_irq_set(vm, MODVM_SRC_DEVICE, gsi, level);
}

/**
 * modvm_irq_acked() - an irqchip pin was acknowledged (EOI).
 * @chip: the irqchip.
 * @chip_id: KVM_IRQCHIP_*.
 * @pin: pin of that chip.
 *
 * Tells the irqfd resamplers of every GSI routed to the pin.
 */
void modvm_irq_acked(struct modvm_irqchip *chip, u32 chip_id, u32 pin)
{
	struct modvm_vm *vm = chip->vm;
	struct modvm_irq_routing *rt;
	int idx;
	u32 i;

	if (list_empty(&chip->irqfds) && !READ_ONCE(vm->pit))
		return;
	idx = srcu_read_lock(&vm->srcu);
	rt = srcu_dereference(chip->routing, &vm->srcu);
	for (i = 0; rt && i < rt->nr; i++) {
		if (rt->e[i].type != KVM_IRQ_ROUTING_IRQCHIP ||
		    rt->e[i].chip != chip_id || rt->e[i].pin != pin)
			continue;
		/* The PIT drives GSI 0 and reinjects on its ack. */
		if (!rt->e[i].gsi)
			modvm_pit_acked(vm);
		modvm_irqfd_resample(chip, rt->e[i].gsi);
	}
	srcu_read_unlock(&vm->srcu, idx);
}

/**
 * modvm_irq_unmasked() - the guest unmasked an irqchip pin.
 * @chip: the irqchip.
 * @chip_id: KVM_IRQCHIP_*.
 * @pin: pin of that chip.
 *
 * A PIT tick sent while the pin that would have delivered it was masked
 * (or to a PIC nobody acknowledges) is never acknowledged; the PIT,
 * which sends its next tick only after that acknowledge, learns here
 * that its GSI can deliver again and starts afresh, as KVM's PIT does
 * on its mask notifier. Must not take the irqchip locks: the PIC calls
 * it without, the IOAPIC with its own held.
 */
void modvm_irq_unmasked(struct modvm_irqchip *chip, u32 chip_id, u32 pin)
{
	struct modvm_vm *vm = chip->vm;
	struct modvm_irq_routing *rt;
	int idx;
	u32 i;

	if (!READ_ONCE(vm->pit))
		return;
	idx = srcu_read_lock(&vm->srcu);
	rt = srcu_dereference(chip->routing, &vm->srcu);
	for (i = 0; rt && i < rt->nr && !rt->e[i].gsi; i++)
		if (rt->e[i].type == KVM_IRQ_ROUTING_IRQCHIP &&
		    rt->e[i].chip == chip_id && rt->e[i].pin == pin)
			modvm_pit_unmasked(vm);
	srcu_read_unlock(&vm->srcu, idx);
}

/**
 * modvm_irq_gsi_masked() - every irqchip pin @gsi drives is masked.
 * @vm: the VM.
 * @gsi: the GSI.
 *
 * Return: true when no route of @gsi can deliver (an MSI route can).
 */
bool modvm_irq_gsi_masked(struct modvm_vm *vm, u32 gsi)
{
	struct modvm_irqchip *chip = irqchip_of(vm);
	struct modvm_irq_routing *rt;
	bool masked = true;
	int idx;
	u32 i;

	if (!chip)
		return true;
	idx = srcu_read_lock(&vm->srcu);
	rt = srcu_dereference(chip->routing, &vm->srcu);
	for (i = rt ? route_first(rt, gsi) : 0; rt && i < rt->nr && rt->e[i].gsi == gsi; i++) {
		const struct modvm_irq_route *e = &rt->e[i];

		if (e->type != KVM_IRQ_ROUTING_IRQCHIP)
			masked = false;
		else if (e->chip == KVM_IRQCHIP_IOAPIC)
			masked &= modvm_ioapic_masked(chip, e->pin);
		else
			masked &= modvm_pic_masked(chip, e->pin +
						   (e->chip == KVM_IRQCHIP_PIC_SLAVE ? 8 : 0));
	}
	srcu_read_unlock(&vm->srcu, idx);
	return masked;
}

/* Check and convert one user entry; -EINVAL as KVM. */
static int route_from_user(struct modvm_irq_route *e,
			   const struct kvm_irq_routing_entry *ue)
{
	if (ue->gsi >= MODVM_MAX_IRQ_ROUTES)
		return -EINVAL;
	e->gsi = ue->gsi;
	e->type = ue->type;
	switch (ue->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (ue->flags)
			return -EINVAL;
		e->chip = ue->u.irqchip.irqchip;
		e->pin = ue->u.irqchip.pin;
		if (e->chip == KVM_IRQCHIP_IOAPIC)
			return e->pin < MODVM_IOAPIC_PINS ? 0 : -EINVAL;
		if (e->chip == KVM_IRQCHIP_PIC_MASTER || e->chip == KVM_IRQCHIP_PIC_SLAVE)
			return e->pin < 8 ? 0 : -EINVAL;
		return -EINVAL;
	case KVM_IRQ_ROUTING_MSI:
		if (ue->flags & ~KVM_MSI_VALID_DEVID)
			return -EINVAL;
		e->addr_lo = ue->u.msi.address_lo;
		e->addr_hi = ue->u.msi.address_hi;
		e->data = ue->u.msi.data;
		return 0;
	}
	return -EINVAL;
}

static void publish(struct modvm_irqchip *chip, struct modvm_irq_routing *rt)
{
	struct modvm_irq_routing *old;

	mutex_lock(&chip->lock);
	old = rcu_dereference_protected(chip->routing, lockdep_is_held(&chip->lock));
	rcu_assign_pointer(chip->routing, rt);
	mutex_unlock(&chip->lock);
	synchronize_srcu(&chip->vm->srcu);
	kvfree(old);
}

static struct modvm_irq_routing *routing_alloc(u32 nr)
{
	struct modvm_irq_routing *rt;

	return kvzalloc(struct_size(rt, e, nr), GFP_KERNEL_ACCOUNT);
}

/**
 * modvm_irq_default_routing() - KVM's table: GSI 0-15 to the PIC pins and
 * the IOAPIC pins of the same number, GSI 16-23 to the IOAPIC.
 * @chip: the irqchip being created.
 *
 * Return: 0 or -ENOMEM.
 */
int modvm_irq_default_routing(struct modvm_irqchip *chip)
{
	struct modvm_irq_routing *rt = routing_alloc(MODVM_IOAPIC_PINS + 16);
	u32 gsi, n = 0;

	if (!rt)
		return -ENOMEM;
	for (gsi = 0; gsi < MODVM_IOAPIC_PINS; gsi++) {
		rt->e[n++] = (struct modvm_irq_route){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.chip = KVM_IRQCHIP_IOAPIC, .pin = gsi,
		};
		if (gsi < 16)
			rt->e[n++] = (struct modvm_irq_route){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.chip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
						  KVM_IRQCHIP_PIC_SLAVE,
				.pin = gsi & 7,
			};
	}
	rt->nr = n;
	rcu_assign_pointer(chip->routing, rt);
	return 0;
}

/* Two entries for one GSI are allowed only on different irqchips. */
static bool route_conflict(const struct modvm_irq_route *a,
			   const struct modvm_irq_route *b)
{
	return a->gsi == b->gsi &&
	       (a->type != KVM_IRQ_ROUTING_IRQCHIP ||
		b->type != KVM_IRQ_ROUTING_IRQCHIP || a->chip == b->chip);
}

/**
 * modvm_irq_set_routing() - KVM_SET_GSI_ROUTING.
 * @vm: the VM.
 * @argp: struct kvm_irq_routing and its entries.
 *
 * Return: 0; -EINVAL without an in-kernel irqchip, for too many entries,
 * flags or a bad entry; -EFAULT; -ENOMEM.
 */
long modvm_irq_set_routing(struct modvm_vm *vm,
			   struct kvm_irq_routing __user *argp)
{
	struct modvm_irqchip *chip = irqchip_of(vm);
	struct kvm_irq_routing_entry *ue = NULL;
	struct modvm_irq_routing *rt;
	struct kvm_irq_routing hdr;
	long r = 0;
	u32 i;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (!chip || hdr.nr > MODVM_MAX_IRQ_ROUTES || hdr.flags)
		return -EINVAL;
	if (hdr.nr) {
		ue = vmemdup_user(argp->entries, array_size(sizeof(*ue), hdr.nr));
		if (IS_ERR(ue))
			return PTR_ERR(ue);
	}
	rt = routing_alloc(hdr.nr);
	if (!rt) {
		kvfree(ue);
		return -ENOMEM;
	}
	for (i = 0; i < hdr.nr && !r; i++)
		r = route_from_user(&rt->e[i], &ue[i]);
	kvfree(ue);
	rt->nr = hdr.nr;
	if (!r) {
		sort(rt->e, rt->nr, sizeof(rt->e[0]), route_cmp, NULL);
		for (i = 1; i < rt->nr && !r; i++) {
			u32 j;

			for (j = route_first(rt, rt->e[i].gsi); j < i && !r; j++)
				if (route_conflict(&rt->e[j], &rt->e[i]))
					r = -EINVAL;
		}
	}
	if (r) {
		kvfree(rt);
		return r;
	}
	publish(chip, rt);
	return 0;
}

/**
 * modvm_irq_free_routing() - free the table of a VM being destroyed.
 * @chip: the irqchip.
 */
void modvm_irq_free_routing(struct modvm_irqchip *chip)
{
	kvfree(rcu_dereference_protected(chip->routing, true));
}
