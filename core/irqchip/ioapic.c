// SPDX-License-Identifier: GPL-2.0
/*
 * The IOAPIC: 24 pins, each with a redirection entry that turns a line
 * into an APIC message. Edge pins send one message per rising edge;
 * level pins send one and set Remote IRR until the EOI for their vector
 * comes back from a local APIC, then send again if the line is still up.
 */
#include <asm/apicdef.h>

#include "devices.h"

#define IOAPIC_BASE		0xfec00000ULL
#define IOAPIC_MMIO_LEN		0x100
#define IOAPIC_VERSION		0x11
#define REG_SELECT		0x00
#define REG_WINDOW		0x10
#define REG_EOI			0x40
#define IDX_ID			0x00
#define IDX_VERSION		0x01
#define IDX_ARB			0x02
#define IDX_REDIR		0x10

#define RTE_VECTOR		0xffULL
#define RTE_DM_SHIFT		8
#define RTE_DEST_LOGICAL	BIT_ULL(11)
#define RTE_DELIVS		BIT_ULL(12)
#define RTE_REMOTE_IRR		BIT_ULL(14)
#define RTE_LEVEL		BIT_ULL(15)
#define RTE_MASKED		BIT_ULL(16)
#define RTE_DEST_SHIFT		56

static struct modvm_irqchip *chip_of(struct modvm_ioapic *io)
{
	return container_of(io, struct modvm_irqchip, ioapic);
}

/* Send pin @pin's message; lock held. Returns as modvm_lapic_deliver(). */
static int service(struct modvm_ioapic *io, u32 pin)
{
	u64 e = io->redir[pin];
	struct modvm_apic_irq irq = {
		.dest = e >> RTE_DEST_SHIFT,
		.vector = e & RTE_VECTOR,
		.delivery_mode = (e >> RTE_DM_SHIFT) & 7,
		.logical = e & RTE_DEST_LOGICAL,
		.level = true,
		.trig_level = e & RTE_LEVEL,
	};
	int r;

	if ((e & RTE_MASKED) || ((e & RTE_LEVEL) && (e & RTE_REMOTE_IRR)))
		return -1;
	r = modvm_lapic_deliver(chip_of(io)->vm, NULL, &irq);
	if (r > 0 && (e & RTE_LEVEL))
		io->redir[pin] |= RTE_REMOTE_IRR;
	if (!(e & RTE_LEVEL))
		io->irr_delivered |= BIT(pin);
	return r;
}

/**
 * modvm_ioapic_set_irq() - drive pin @pin from source @src.
 * @chip: the irqchip.
 * @pin: 0..23.
 * @src: MODVM_SRC_*.
 * @level: the source's line level.
 *
 * Return: as KVM_IRQ_LINE_STATUS: >0 delivered, 0 coalesced, -1 masked.
 */
int modvm_ioapic_set_irq(struct modvm_irqchip *chip, u32 pin, int src,
			 bool level)
{
	struct modvm_ioapic *io = &chip->ioapic;
	unsigned long flags;
	u32 old;
	int r;

	spin_lock_irqsave(&io->lock, flags);
	level = modvm_line_update(&io->line[pin], src, level);
	if (!level) {
		io->irr &= ~BIT(pin);
		r = 1;
		goto out;
	}
	old = io->irr;
	io->irr |= BIT(pin);
	if (!(io->redir[pin] & RTE_LEVEL)) {
		io->irr_delivered &= ~BIT(pin);
		if (old == io->irr) {
			r = 0;	/* no edge: the line was already up */
			goto out;
		}
	}
	r = service(io, pin);
out:
	spin_unlock_irqrestore(&io->lock, flags);
	return r;
}

/**
 * modvm_ioapic_eoi() - a local APIC EOIed @vector.
 * @chip: the irqchip.
 * @vector: the vector.
 * @level: it was level-triggered (its TMR bit was set).
 *
 * Tells the ack notifiers (irqfd resamplers, the PIT) of the pins with
 * that vector and trigger mode; for level pins, clears Remote IRR and
 * sends again for a line that is still asserted.
 */
void modvm_ioapic_eoi(struct modvm_irqchip *chip, u8 vector, bool level)
{
	struct modvm_ioapic *io = &chip->ioapic;
	unsigned long flags;
	u32 pin;

	for (pin = 0; pin < MODVM_IOAPIC_PINS; pin++) {
		u64 e = READ_ONCE(io->redir[pin]);

		if ((e & RTE_VECTOR) != vector || !(e & RTE_LEVEL) != !level)
			continue;
		/* Without the lock: the notifier lowers lines itself. */
		modvm_irq_acked(chip, KVM_IRQCHIP_IOAPIC, pin);
		spin_lock_irqsave(&io->lock, flags);
		e = io->redir[pin];
		if ((e & RTE_LEVEL) && (e & RTE_VECTOR) == vector) {
			io->redir[pin] &= ~RTE_REMOTE_IRR;
			if (io->irr & BIT(pin))
				service(io, pin);
		}
		spin_unlock_irqrestore(&io->lock, flags);
	}
}

/**
 * modvm_ioapic_masked() - whether pin @pin's entry is masked.
 * @chip: the irqchip.
 * @pin: 0..23.
 *
 * Return: the mask bit.
 */
bool modvm_ioapic_masked(struct modvm_irqchip *chip, u32 pin)
{
	return READ_ONCE(chip->ioapic.redir[pin]) & RTE_MASKED;
}

static u32 read_indirect(struct modvm_ioapic *io)
{
	u32 sel = io->ioregsel, pin;

	switch (sel) {
	case IDX_VERSION:
		return ((MODVM_IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
	case IDX_ID:
	case IDX_ARB:
		return (io->id & 0xf) << 24;
	}
	pin = (sel - IDX_REDIR) >> 1;
	if (sel < IDX_REDIR || pin >= MODVM_IOAPIC_PINS)
		return 0xffffffff;
	return sel & 1 ? io->redir[pin] >> 32 : (u32)io->redir[pin];
}

static void write_indirect(struct modvm_ioapic *io, u32 val)
{
	u32 sel = io->ioregsel, pin;
	u64 e, keep;

	if (sel == IDX_ID) {
		io->id = (val >> 24) & 0xf;
		return;
	}
	pin = (sel - IDX_REDIR) >> 1;
	if (sel < IDX_REDIR || pin >= MODVM_IOAPIC_PINS)
		return;
	e = io->redir[pin];
	keep = e & (RTE_REMOTE_IRR | RTE_DELIVS);
	if (sel & 1)
		e = (e & 0xffffffffULL) | ((u64)val << 32);
	else
		e = (e & ~0xffffffffULL) | val;
	e = (e & ~(RTE_REMOTE_IRR | RTE_DELIVS)) | keep;
	/* Linux relies on an edge entry clearing Remote IRR (no EOI reg). */
	if (!(e & RTE_LEVEL))
		e &= ~RTE_REMOTE_IRR;
	if ((io->redir[pin] & RTE_MASKED) && !(e & RTE_MASKED))
		modvm_irq_unmasked(chip_of(io), KVM_IRQCHIP_IOAPIC, pin);
	io->redir[pin] = e;
	if ((e & RTE_LEVEL) && (io->irr & BIT(pin)))
		service(io, pin);
}

static int ioapic_read(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
		       u64 addr, int len, void *val)
{
	struct modvm_ioapic *io = container_of(dev, struct modvm_ioapic, dev);
	unsigned long flags;
	u64 v = 0;

	spin_lock_irqsave(&io->lock, flags);
	switch ((addr - io->base) & 0xff) {
	case REG_SELECT:
		v = io->ioregsel;
		break;
	case REG_WINDOW:
		v = read_indirect(io);
		break;
	}
	spin_unlock_irqrestore(&io->lock, flags);
	memcpy(val, &v, min(len, 8));
	return 0;
}

static int ioapic_write(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
			u64 addr, int len, const void *val)
{
	struct modvm_ioapic *io = container_of(dev, struct modvm_ioapic, dev);
	unsigned long flags;
	u32 v;

	if (len != 4 && len != 8)
		return 0;	/* ignored, as KVM does */
	v = *(const u32 *)val;
	switch ((addr - io->base) & 0xff) {
	case REG_SELECT:
		spin_lock_irqsave(&io->lock, flags);
		io->ioregsel = v & 0xff;
		spin_unlock_irqrestore(&io->lock, flags);
		break;
	case REG_WINDOW:
		spin_lock_irqsave(&io->lock, flags);
		write_indirect(io, v);
		spin_unlock_irqrestore(&io->lock, flags);
		break;
	case REG_EOI:
		modvm_ioapic_eoi(chip_of(io), v & 0xff, true);
		break;
	}
	return 0;
}

static const struct modvm_iodev_ops ioapic_ops = {
	.read = ioapic_read,
	.write = ioapic_write,
};

static void ioapic_reset(struct modvm_ioapic *io)
{
	u32 pin;

	io->base = IOAPIC_BASE;
	io->ioregsel = 0;
	io->id = 0;
	io->irr = 0;
	io->irr_delivered = 0;
	for (pin = 0; pin < MODVM_IOAPIC_PINS; pin++)
		io->redir[pin] = RTE_MASKED;
	memset(io->line, 0, sizeof(io->line));
}

/**
 * modvm_ioapic_init() - reset the IOAPIC and put it on the MMIO bus.
 * @chip: the irqchip being created.
 *
 * Return: 0 or the bus error.
 */
int modvm_ioapic_init(struct modvm_irqchip *chip)
{
	struct modvm_ioapic *io = &chip->ioapic;

	spin_lock_init(&io->lock);
	ioapic_reset(io);
	io->dev.ops = &ioapic_ops;
	return modvm_io_bus_register(chip->vm, MODVM_MMIO_BUS, io->base,
				     IOAPIC_MMIO_LEN, &io->dev);
}

/**
 * modvm_ioapic_destroy() - take the IOAPIC off the bus.
 * @chip: the irqchip.
 */
void modvm_ioapic_destroy(struct modvm_irqchip *chip)
{
	modvm_io_bus_unregister(chip->vm, MODVM_MMIO_BUS, &chip->ioapic.dev);
}

/**
 * modvm_ioapic_get() - KVM_GET_IRQCHIP for the IOAPIC.
 * @chip: the irqchip.
 * @s: KVM's state layout.
 */
void modvm_ioapic_get(struct modvm_irqchip *chip, struct kvm_ioapic_state *s)
{
	struct modvm_ioapic *io = &chip->ioapic;
	unsigned long flags;
	u32 pin;

	memset(s, 0, sizeof(*s));
	spin_lock_irqsave(&io->lock, flags);
	s->base_address = io->base;
	s->ioregsel = io->ioregsel;
	s->id = io->id;
	/* Delivered edges are not pending any more. */
	s->irr = io->irr & ~io->irr_delivered;
	for (pin = 0; pin < MODVM_IOAPIC_PINS; pin++)
		s->redirtbl[pin].bits = io->redir[pin];
	spin_unlock_irqrestore(&io->lock, flags);
}

/**
 * modvm_ioapic_set() - KVM_SET_IRQCHIP for the IOAPIC.
 * @chip: the irqchip.
 * @s: the new state; pending level lines are serviced again.
 */
void modvm_ioapic_set(struct modvm_irqchip *chip,
		      const struct kvm_ioapic_state *s)
{
	struct modvm_ioapic *io = &chip->ioapic;
	unsigned long flags;
	u32 pin;

	spin_lock_irqsave(&io->lock, flags);
	/* As KVM: the base stays where the IOAPIC is mapped. */
	io->ioregsel = s->ioregsel;
	io->id = s->id;
	io->irr = s->irr;
	io->irr_delivered = 0;
	for (pin = 0; pin < MODVM_IOAPIC_PINS; pin++)
		io->redir[pin] = s->redirtbl[pin].bits;
	/* Every pending pin is raised again, as KVM does. */
	for (pin = 0; pin < MODVM_IOAPIC_PINS; pin++)
		if (io->irr & BIT(pin))
			service(io, pin);
	spin_unlock_irqrestore(&io->lock, flags);
}
