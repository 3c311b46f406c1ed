// SPDX-License-Identifier: GPL-2.0
/*
 * The dual 8259A PIC of a PC: master at ports 0x20-0x21, slave at
 * 0xa0-0xa1 cascaded on master pin 2, and the PIIX edge/level control
 * registers (ELCR) at 0x4d0-0x4d1. Its output goes to the vCPUs whose
 * LAPIC takes ExtINT (LVT0 in ExtINT mode, or the APIC disabled); the
 * vector comes from the INTA cycle, modvm_pic_read_irq().
 */
#include "devices.h"

#define PIC_MASTER_PORT		0x20
#define PIC_SLAVE_PORT		0xa0
#define PIC_ELCR_PORT		0x4d0
#define CASCADE_PIN		2

static struct modvm_irqchip *chip_of(struct modvm_pic *pic)
{
	return container_of(pic, struct modvm_irqchip, pic);
}

/* Highest-priority request in @mask, 8 for none. */
static int priority(struct kvm_pic_state *s, u8 mask)
{
	int p = 0;

	if (!mask)
		return 8;
	while (!(mask & BIT((p + s->priority_add) & 7)))
		p++;
	return p;
}

/* The pin this chip would interrupt for now, -1 for none. */
static int chip_irq(struct kvm_pic_state *s, bool master)
{
	int p = priority(s, s->irr & ~s->imr), cur;
	u8 mask;

	if (p == 8)
		return -1;
	mask = s->isr;
	if (s->special_mask)
		mask &= ~s->imr;
	if (s->special_fully_nested_mode && master)
		mask &= ~BIT(CASCADE_PIN);
	cur = priority(s, mask);
	return p < cur ? (p + s->priority_add) & 7 : -1;
}

/* Edge/level input logic of one pin; KVM_IRQ_LINE_STATUS result. */
static int pin_set(struct kvm_pic_state *s, int pin, bool level)
{
	u8 mask = BIT(pin);
	int r = 1;

	if (s->elcr & mask) {
		if (level) {
			r = !(s->irr & mask);
			s->irr |= mask;
			s->last_irr |= mask;
		} else {
			s->irr &= ~mask;
			s->last_irr &= ~mask;
		}
	} else if (level) {
		if (!(s->last_irr & mask)) {
			r = !(s->irr & mask);
			s->irr |= mask;
		}
		s->last_irr |= mask;
	} else {
		s->last_irr &= ~mask;
	}
	return s->imr & mask ? -1 : r;
}

/* Recompute the cascade and the output; lock held. */
static bool update(struct modvm_pic *pic)
{
	bool old = pic->output;

	if (chip_irq(&pic->chips[1].s, false) >= 0) {
		pin_set(&pic->chips[0].s, CASCADE_PIN, true);
		pin_set(&pic->chips[0].s, CASCADE_PIN, false);
	}
	pic->output = chip_irq(&pic->chips[0].s, true) >= 0;
	return pic->output && !old;
}

/* In-service bit @pin of chip @c cleared: remember it for ack notifiers. */
static void clear_isr(struct modvm_pic *pic, int c, int pin)
{
	pic->chips[c].s.isr &= ~BIT(pin);
	if (c || pin != CASCADE_PIN)
		pic->acked |= BIT(c * 8 + pin);
}

/* Drop the lock, then wake vCPUs and run ack notifiers outside it. */
static void unlock(struct modvm_pic *pic, unsigned long flags, bool raised)
	__releases(&pic->lock)
{
	u16 acked = pic->acked, unmasked = pic->unmasked;
	int i;

	pic->acked = 0;
	pic->unmasked = 0;
	spin_unlock_irqrestore(&pic->lock, flags);
	if (raised)
		modvm_lapic_pic_changed(chip_of(pic)->vm);
	for (i = 0; acked; i++, acked >>= 1)
		if (acked & 1)
			modvm_irq_acked(chip_of(pic), i < 8 ? KVM_IRQCHIP_PIC_MASTER :
					KVM_IRQCHIP_PIC_SLAVE, i & 7);
	for (i = 0; unmasked; i++, unmasked >>= 1)
		if (unmasked & 1)
			modvm_irq_unmasked(chip_of(pic), i < 8 ? KVM_IRQCHIP_PIC_MASTER :
					   KVM_IRQCHIP_PIC_SLAVE, i & 7);
}

/**
 * modvm_pic_set_irq() - drive PIC input @pin (0..15) from source @src.
 * @chip: the irqchip.
 * @pin: pin of the pair; 8..15 are the slave's.
 * @src: MODVM_SRC_*.
 * @level: the source's line level.
 *
 * Return: as KVM_IRQ_LINE_STATUS: 1 raised, 0 coalesced, -1 masked.
 */
int modvm_pic_set_irq(struct modvm_irqchip *chip, u32 pin, int src,
		      bool level)
{
	struct modvm_pic *pic = &chip->pic;
	unsigned long flags;
	bool raised;
	int r;

	spin_lock_irqsave(&pic->lock, flags);
	level = modvm_line_update(&pic->line[pin], src, level);
	r = pin_set(&pic->chips[pin >> 3].s, pin & 7, level);
	raised = update(pic);
	unlock(pic, flags, raised);
	return r;
}

/**
 * modvm_pic_output() - whether the PIC asserts INTR.
 * @chip: the irqchip.
 *
 * Return: the output line.
 */
bool modvm_pic_output(struct modvm_irqchip *chip)
{
	return READ_ONCE(chip->pic.output);
}

/**
 * modvm_pic_masked() - whether input @pin (0..15) is masked in its IMR.
 * @chip: the irqchip.
 * @pin: pin of the pair.
 *
 * Return: the IMR bit.
 */
bool modvm_pic_masked(struct modvm_irqchip *chip, u32 pin)
{
	return READ_ONCE(chip->pic.chips[pin >> 3].s.imr) & BIT(pin & 7);
}

static void intack(struct modvm_pic *pic, int c, int pin)
{
	struct kvm_pic_state *s = &pic->chips[c].s;

	s->isr |= BIT(pin);
	/* A level-triggered request stays until its line drops. */
	if (!(s->elcr & BIT(pin)))
		s->irr &= ~BIT(pin);
	if (s->auto_eoi) {
		if (s->rotate_on_auto_eoi)
			s->priority_add = (pin + 1) & 7;
		clear_isr(pic, c, pin);
	}
}

/**
 * modvm_pic_read_irq() - the INTA cycle: acknowledge and return a vector.
 * @chip: the irqchip.
 *
 * Return: the vector; a spurious IRQ 7 vector when nothing is pending.
 */
int modvm_pic_read_irq(struct modvm_irqchip *chip)
{
	struct modvm_pic *pic = &chip->pic;
	struct kvm_pic_state *m = &pic->chips[0].s, *sl = &pic->chips[1].s;
	unsigned long flags;
	int irq, irq2, vec;
	bool raised;

	spin_lock_irqsave(&pic->lock, flags);
	irq = chip_irq(m, true);
	if (irq < 0) {
		vec = m->irq_base + 7;
	} else {
		intack(pic, 0, irq);
		if (irq == CASCADE_PIN) {
			irq2 = chip_irq(sl, false);
			if (irq2 >= 0)
				intack(pic, 1, irq2);
			else
				irq2 = 7;
			vec = sl->irq_base + irq2;
		} else {
			vec = m->irq_base + irq;
		}
	}
	raised = update(pic);
	unlock(pic, flags, raised);
	return vec;
}

/* Whether a vCPU takes the PIC's output now (ExtINT). */
static bool pic_in_use(struct modvm_pic *pic)
{
	struct modvm_vcpu *vcpu;
	unsigned long id;

	xa_for_each(&chip_of(pic)->vm->vcpus, id, vcpu)
		if (modvm_lapic_accepts_pic(vcpu))
			return true;
	return false;
}

static void chip_reset(struct modvm_pic *pic, int c)
{
	struct kvm_pic_state *s = &pic->chips[c].s;
	u8 dropped = s->irr & ~s->elcr;
	int pin;

	for (pin = 0; pin < 8; pin++)
		if (s->isr & BIT(pin))
			clear_isr(pic, c, pin);
	/*
	 * Edge requests the reset drops count as acknowledged, as in KVM,
	 * while the PIC delivers: a PIT tick among them would otherwise
	 * never be, and the PIT would send no more.
	 */
	if (dropped && pic_in_use(pic))
		for (pin = 0; pin < 8; pin++)
			if ((dropped & BIT(pin)) && (c || pin != CASCADE_PIN))
				pic->acked |= BIT(c * 8 + pin);
	s->last_irr = 0;
	s->irr &= s->elcr;
	s->imr = 0;
	s->isr = 0;
	s->priority_add = 0;
	s->special_mask = 0;
	s->read_reg_select = 0;
	if (!s->init4) {
		s->special_fully_nested_mode = 0;
		s->auto_eoi = 0;
	}
	s->init_state = 1;
}

static void ocw2(struct modvm_pic *pic, int c, u8 val)
{
	struct kvm_pic_state *s = &pic->chips[c].s;
	int cmd = val >> 5, p, pin;

	switch (cmd) {
	case 0:
	case 4:
		s->rotate_on_auto_eoi = cmd >> 2;
		break;
	case 1:		/* non-specific EOI */
	case 5:		/* rotate on non-specific EOI */
		p = priority(s, s->isr);
		if (p == 8)
			break;
		pin = (p + s->priority_add) & 7;
		if (cmd == 5)
			s->priority_add = (pin + 1) & 7;
		clear_isr(pic, c, pin);
		break;
	case 3:		/* specific EOI */
		clear_isr(pic, c, val & 7);
		break;
	case 6:		/* set priority */
		s->priority_add = (val + 1) & 7;
		break;
	case 7:		/* rotate on specific EOI */
		pin = val & 7;
		s->priority_add = (pin + 1) & 7;
		clear_isr(pic, c, pin);
		break;
	}
}

static void chip_write(struct modvm_pic *pic, int c, int reg, u8 val)
{
	struct kvm_pic_state *s = &pic->chips[c].s;

	if (!reg) {
		if (val & 0x10) {		/* ICW1 */
			s->init4 = val & 1;
			chip_reset(pic, c);
		} else if (val & 0x08) {	/* OCW3 */
			if (val & 0x04)
				s->poll = 1;
			if (val & 0x02)
				s->read_reg_select = val & 1;
			if (val & 0x40)
				s->special_mask = (val >> 5) & 1;
		} else {
			ocw2(pic, c, val);
		}
		return;
	}
	switch (s->init_state) {
	case 0:			/* OCW1: the mask */
		pic->unmasked |= (u16)(s->imr & ~val) << (c * 8);
		s->imr = val;
		break;
	case 1:			/* ICW2: vector base */
		s->irq_base = val & 0xf8;
		s->init_state = 2;
		break;
	case 2:			/* ICW3: cascade wiring, fixed here */
		s->init_state = s->init4 ? 3 : 0;
		break;
	case 3:			/* ICW4 */
		s->special_fully_nested_mode = (val >> 4) & 1;
		s->auto_eoi = (val >> 1) & 1;
		s->init_state = 0;
		break;
	}
}

static u8 chip_read(struct modvm_pic *pic, int c, int reg)
{
	struct kvm_pic_state *s = &pic->chips[c].s;
	int irq;

	if (s->poll) {
		/* Poll mode: the read is the acknowledge. */
		s->poll = 0;
		irq = chip_irq(s, !c);
		if (irq < 0)
			return 7;
		s->irr &= ~BIT(irq);
		clear_isr(pic, c, irq);
		return irq;
	}
	if (!reg)
		return s->read_reg_select ? s->isr : s->irr;
	return s->imr;
}

static int pic_read(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
		    u64 addr, int len, void *val)
{
	struct modvm_pic *pic;
	unsigned long flags;
	bool raised;
	u8 v;

	memset(val, 0, len);
	if (len != 1)
		return 0;	/* only byte accesses reach the chips */
	if (addr >= PIC_ELCR_PORT) {
		pic = container_of(dev, struct modvm_pic, dev_elcr);
		*(u8 *)val = READ_ONCE(pic->chips[addr & 1].s.elcr);
		return 0;
	}
	pic = addr >= PIC_SLAVE_PORT ? container_of(dev, struct modvm_pic, dev_slave) :
				       container_of(dev, struct modvm_pic, dev_master);
	spin_lock_irqsave(&pic->lock, flags);
	v = chip_read(pic, addr >= PIC_SLAVE_PORT, addr & 1);
	raised = update(pic);
	unlock(pic, flags, raised);
	*(u8 *)val = v;
	return 0;
}

static int pic_write(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
		     u64 addr, int len, const void *val)
{
	u8 v = *(const u8 *)val;
	struct modvm_pic *pic;
	unsigned long flags;
	bool raised;

	if (len != 1)
		return 0;
	if (addr >= PIC_ELCR_PORT) {
		pic = container_of(dev, struct modvm_pic, dev_elcr);
		spin_lock_irqsave(&pic->lock, flags);
		pic->chips[addr & 1].s.elcr = v & pic->chips[addr & 1].s.elcr_mask;
		spin_unlock_irqrestore(&pic->lock, flags);
		return 0;
	}
	pic = addr >= PIC_SLAVE_PORT ? container_of(dev, struct modvm_pic, dev_slave) :
				       container_of(dev, struct modvm_pic, dev_master);
	spin_lock_irqsave(&pic->lock, flags);
	chip_write(pic, addr >= PIC_SLAVE_PORT, addr & 1, v);
	raised = update(pic);
	unlock(pic, flags, raised);
	return 0;
}

static const struct modvm_iodev_ops pic_ops = {
	.read = pic_read,
	.write = pic_write,
};

/**
 * modvm_pic_init() - reset both chips and put them on the PIO bus.
 * @chip: the irqchip being created.
 *
 * Return: 0 or the bus error.
 */
int modvm_pic_init(struct modvm_irqchip *chip)
{
	struct modvm_pic *pic = &chip->pic;
	struct modvm_vm *vm = chip->vm;
	int r;

	spin_lock_init(&pic->lock);
	pic->chips[0].s.elcr_mask = 0xf8;
	pic->chips[1].s.elcr_mask = 0xde;
	pic->dev_master.ops = &pic_ops;
	pic->dev_slave.ops = &pic_ops;
	pic->dev_elcr.ops = &pic_ops;
	r = modvm_io_bus_register(vm, MODVM_PIO_BUS, PIC_MASTER_PORT, 2,
				  &pic->dev_master);
	if (r)
		return r;
	r = modvm_io_bus_register(vm, MODVM_PIO_BUS, PIC_SLAVE_PORT, 2,
				  &pic->dev_slave);
	if (!r)
		r = modvm_io_bus_register(vm, MODVM_PIO_BUS, PIC_ELCR_PORT, 2,
					  &pic->dev_elcr);
	if (r)
		modvm_pic_destroy(chip);
	return r;
}

/**
 * modvm_pic_destroy() - take the PIC off the bus.
 * @chip: the irqchip.
 */
void modvm_pic_destroy(struct modvm_irqchip *chip)
{
	modvm_io_bus_unregister(chip->vm, MODVM_PIO_BUS, &chip->pic.dev_master);
	modvm_io_bus_unregister(chip->vm, MODVM_PIO_BUS, &chip->pic.dev_slave);
	modvm_io_bus_unregister(chip->vm, MODVM_PIO_BUS, &chip->pic.dev_elcr);
}

/**
 * modvm_pic_get() - KVM_GET_IRQCHIP for one chip.
 * @chip: the irqchip.
 * @which: 0 master, 1 slave.
 * @s: KVM's state layout.
 */
void modvm_pic_get(struct modvm_irqchip *chip, int which,
		   struct kvm_pic_state *s)
{
	unsigned long flags;

	spin_lock_irqsave(&chip->pic.lock, flags);
	*s = chip->pic.chips[which].s;
	spin_unlock_irqrestore(&chip->pic.lock, flags);
}

/**
 * modvm_pic_set() - KVM_SET_IRQCHIP for one chip.
 * @chip: the irqchip.
 * @which: 0 master, 1 slave.
 * @s: the new state, taken as it is (as KVM does).
 */
void modvm_pic_set(struct modvm_irqchip *chip, int which,
		   const struct kvm_pic_state *s)
{
	struct modvm_pic *pic = &chip->pic;
	unsigned long flags;
	bool raised;

	spin_lock_irqsave(&pic->lock, flags);
	pic->chips[which].s = *s;
	raised = update(pic);
	unlock(pic, flags, raised);
}
