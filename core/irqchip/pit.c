// SPDX-License-Identifier: GPL-2.0
/*
 * The 8254 PIT (KVM_CREATE_PIT2): three channels at ports 0x40-0x42 and
 * the control port 0x43; channel 0 drives IRQ0 from an hrtimer; with
 * KVM_PIT_SPEAKER_DUMMY, port 0x61 gives the channel 2 gate, the
 * speaker data bit, channel 2's output and the refresh toggle.
 *
 * Counters are not stepped: a channel's count and output follow from
 * the time since its count was loaded, at 1.193182 MHz.
 *
 * Ticks are reinjected as KVM's PIT does by default: one IRQ0 edge is
 * in flight at a time, the next goes when the guest acknowledges it, so
 * a guest that is slow to take them still sees every tick (up to
 * MAX_PENDING behind); a masked IRQ0 drops them. KVM_REINJECT_CONTROL
 * turns this off: each tick is then an edge on IRQ0 when it falls due,
 * and ticks the interrupt controller cannot hold are lost, as on real
 * hardware. With KVM_PIT_FLAGS_HPET_LEGACY (the HPET replaces channel 0)
 * channel 0 sends no ticks at all.
 */
#include <linux/hrtimer.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "devices.h"

#define PIT_FREQ		1193182
#define PIT_PORT		0x40
#define PIT_CTRL		3
#define SPEAKER_PORT		0x61
#define MIN_PERIOD_NS		200000LL	/* as KVM's min_timer_period_us */
#define MAX_PENDING		100

enum { RW_LSB = 1, RW_MSB, RW_WORD0, RW_WORD1 };

struct modvm_pit {
	struct modvm_vm *vm;
	struct mutex lock;	/* channel state */
	struct kvm_pit_state2 st;
	struct hrtimer timer;	/* channel 0 */
	s64 period_ns;		/* 0 for a one-shot count */
	atomic_t pending;	/* ticks not yet injected */
	atomic_t irq_ack;	/* no tick awaits the guest's acknowledge */
	bool reinject;		/* KVM_REINJECT_CONTROL, on by default */
	bool speaker;
	struct modvm_iodev dev, speaker_dev;
};

static u32 rem(u64 d, u32 c)
{
	u32 r;

	div_u64_rem(d, c, &r);
	return r;
}

/* Input clock ticks since channel @c's count was loaded. */
static u64 elapsed(struct kvm_pit_channel_state *c)
{
	s64 ns = ktime_to_ns(ktime_get()) - c->count_load_time;

	return ns <= 0 ? 0 : mul_u64_u32_div(ns, PIT_FREQ, NSEC_PER_SEC);
}

static u32 get_count(struct kvm_pit_channel_state *c)
{
	u64 d = elapsed(c);

	switch (c->mode) {
	case 0: case 1: case 4: case 5:
		return (c->count - d) & 0xffff;
	case 3:
		/* Square wave: the counter steps by two. */
		return c->count - rem(2 * d, c->count);
	default:
		return c->count - rem(d, c->count);
	}
}

static int get_out(struct kvm_pit_channel_state *c)
{
	u64 d = elapsed(c);

	switch (c->mode) {
	default:
	case 0:
		return d >= c->count;
	case 1:
		return d < c->count;
	case 2:
		return rem(d, c->count) == 0 && d;
	case 3:
		return rem(d, c->count) < ((c->count + 1) >> 1);
	case 4:
	case 5:
		return d == c->count;
	}
}

/* An edge on IRQ0: raise and lower the line. */
static void pit_pulse(struct modvm_pit *pit)
{
	modvm_irq_set(pit->vm, MODVM_SRC_PIT, 0, true);
	modvm_irq_set(pit->vm, MODVM_SRC_PIT, 0, false);
}

/* Send the next pending tick unless one awaits its acknowledge. */
static void pit_inject(struct modvm_pit *pit)
{
	if (atomic_cmpxchg(&pit->irq_ack, 1, 0) != 1)
		return;
	if (atomic_dec_if_positive(&pit->pending) < 0) {
		atomic_set(&pit->irq_ack, 1);
		return;
	}
	pit_pulse(pit);
}

static void reinject_reset(struct modvm_pit *pit)
{
	atomic_set(&pit->pending, 0);
	atomic_set(&pit->irq_ack, 1);
}

/**
 * modvm_pit_acked() - the guest acknowledged IRQ0: send the next tick.
 * @vm: the VM.
 */
void modvm_pit_acked(struct modvm_vm *vm)
{
	struct modvm_pit *pit = READ_ONCE(vm->pit);

	if (!pit || !READ_ONCE(pit->reinject))
		return;
	atomic_set(&pit->irq_ack, 1);
	pit_inject(pit);
}

/**
 * modvm_pit_unmasked() - a pin IRQ0 is routed to was unmasked.
 * @vm: the VM.
 *
 * A tick in flight when the guest moved the timer between PIC and
 * IOAPIC may never be acknowledged: forget it (and the ticks that
 * queued behind it), so that the next tick goes out.
 */
void modvm_pit_unmasked(struct modvm_vm *vm)
{
	struct modvm_pit *pit = READ_ONCE(vm->pit);

	if (pit)
		reinject_reset(pit);
}

static enum hrtimer_restart pit_timer_fn(struct hrtimer *t)
{
	struct modvm_pit *pit = container_of(t, struct modvm_pit, timer);
	s64 period = READ_ONCE(pit->period_ns);
	/*
	 * Periods since the last run: a callback the host ran late owes the
	 * guest every tick that fell due meanwhile.
	 */
	u64 due = period ? hrtimer_forward_now(t, ns_to_ktime(period)) : 1;

	if (!READ_ONCE(pit->reinject)) {
		pit_pulse(pit);
	} else if (modvm_irq_gsi_masked(pit->vm, 0)) {
		reinject_reset(pit);
	} else {
		while (due-- && atomic_read(&pit->pending) < MAX_PENDING)
			atomic_inc(&pit->pending);
		pit_inject(pit);
	}
	return period ? HRTIMER_RESTART : HRTIMER_NORESTART;
}

/* Start channel 0's timer for @count input clocks; lock held. */
static void timer_arm(struct modvm_pit *pit, u32 count, bool periodic)
{
	s64 ns = mul_u64_u32_div(count, NSEC_PER_SEC, PIT_FREQ);

	hrtimer_cancel(&pit->timer);
	if (pit->st.flags & KVM_PIT_FLAGS_HPET_LEGACY)
		return;
	if (periodic)
		ns = max(ns, MIN_PERIOD_NS);
	WRITE_ONCE(pit->period_ns, periodic ? ns : 0);
	hrtimer_start(&pit->timer, ktime_add_ns(ktime_get(), ns),
		      HRTIMER_MODE_ABS_HARD);
}

static void load_count(struct modvm_pit *pit, int ch, u32 val)
{
	struct kvm_pit_channel_state *c = &pit->st.channels[ch];

	if (!val)
		val = 0x10000;
	c->count = val;
	c->count_load_time = ktime_to_ns(ktime_get());
	if (ch)
		return;
	switch (c->mode) {
	case 0: case 1: case 4:
		timer_arm(pit, val, false);
		break;
	case 2: case 3:
		timer_arm(pit, val, true);
		break;
	default:
		hrtimer_cancel(&pit->timer);
	}
}

static void set_gate(struct kvm_pit_channel_state *c, u8 val)
{
	/* Modes 1, 2, 3 and 5 restart counting on a rising gate. */
	if ((c->mode == 1 || c->mode == 2 || c->mode == 3 || c->mode == 5) &&
	    c->gate < val)
		c->count_load_time = ktime_to_ns(ktime_get());
	c->gate = val;
}

static void latch_count(struct kvm_pit_channel_state *c)
{
	if (!c->count_latched) {
		c->latched_count = get_count(c);
		c->count_latched = c->rw_mode;
	}
}

static void latch_status(struct kvm_pit_channel_state *c)
{
	if (!c->status_latched) {
		c->status = (get_out(c) << 7) | (c->rw_mode << 4) |
			    (c->mode << 1) | c->bcd;
		c->status_latched = 1;
	}
}

static void control_write(struct modvm_pit *pit, u8 val)
{
	int ch = val >> 6, i;
	struct kvm_pit_channel_state *c;

	if (ch == 3) {
		/* Read-back: bits 1-3 pick channels; 5 count, 4 status (low active). */
		for (i = 0; i < 3; i++) {
			if (!(val & BIT(i + 1)))
				continue;
			c = &pit->st.channels[i];
			if (!(val & 0x20))
				latch_count(c);
			if (!(val & 0x10))
				latch_status(c);
		}
		return;
	}
	c = &pit->st.channels[ch];
	if (!((val >> 4) & 3)) {
		latch_count(c);
		return;
	}
	c->rw_mode = (val >> 4) & 3;
	c->read_state = c->rw_mode;
	c->write_state = c->rw_mode;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;	/* modes 6 and 7 are 2 and 3 */
	c->bcd = val & 1;
}

static void data_write(struct modvm_pit *pit, int ch, u8 val)
{
	struct kvm_pit_channel_state *c = &pit->st.channels[ch];

	switch (c->write_state) {
	default:
	case RW_LSB:
		load_count(pit, ch, val);
		break;
	case RW_MSB:
		load_count(pit, ch, val << 8);
		break;
	case RW_WORD0:
		c->write_latch = val;
		c->write_state = RW_WORD1;
		break;
	case RW_WORD1:
		load_count(pit, ch, c->write_latch | (val << 8));
		c->write_state = RW_WORD0;
		break;
	}
}

static u8 data_read(struct kvm_pit_channel_state *c)
{
	u32 count;

	if (c->status_latched) {
		c->status_latched = 0;
		return c->status;
	}
	if (c->count_latched) {
		switch (c->count_latched) {
		default:
		case RW_LSB:
			c->count_latched = 0;
			return c->latched_count & 0xff;
		case RW_MSB:
			c->count_latched = 0;
			return c->latched_count >> 8;
		case RW_WORD0:
			c->count_latched = RW_MSB;
			return c->latched_count & 0xff;
		}
	}
	count = get_count(c);
	switch (c->read_state) {
	default:
	case RW_LSB:
		return count & 0xff;
	case RW_MSB:
		return (count >> 8) & 0xff;
	case RW_WORD0:
		c->read_state = RW_WORD1;
		return count & 0xff;
	case RW_WORD1:
		c->read_state = RW_WORD0;
		return (count >> 8) & 0xff;
	}
}

static int pit_read(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
		    u64 addr, int len, void *val)
{
	struct modvm_pit *pit = container_of(dev, struct modvm_pit, dev);
	int port = addr - PIT_PORT;

	memset(val, 0, len);
	if (port == PIT_CTRL)
		return 0;	/* the control port reads nothing */
	mutex_lock(&pit->lock);
	*(u8 *)val = data_read(&pit->st.channels[port]);
	mutex_unlock(&pit->lock);
	return 0;
}

static int pit_write(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
		     u64 addr, int len, const void *val)
{
	struct modvm_pit *pit = container_of(dev, struct modvm_pit, dev);
	int port = addr - PIT_PORT;
	u8 v = *(const u8 *)val;

	mutex_lock(&pit->lock);
	if (port == PIT_CTRL)
		control_write(pit, v);
	else
		data_write(pit, port, v);
	mutex_unlock(&pit->lock);
	return 0;
}

static const struct modvm_iodev_ops pit_ops = {
	.read = pit_read,
	.write = pit_write,
};

static int speaker_read(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
			u64 addr, int len, void *val)
{
	struct modvm_pit *pit = container_of(dev, struct modvm_pit, speaker_dev);
	struct kvm_pit_channel_state *c = &pit->st.channels[2];
	/* The DRAM refresh bit toggles about every 15 us; 2^14 ns here. */
	u32 refresh = (ktime_to_ns(ktime_get()) >> 14) & 1;
	u32 v;

	mutex_lock(&pit->lock);
	v = (!!(pit->st.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON) << 1) |
	    c->gate | (get_out(c) << 5) | (refresh << 4);
	mutex_unlock(&pit->lock);
	memset(val, 0, len);
	memcpy(val, &v, min_t(int, len, sizeof(v)));
	return 0;
}

static int speaker_write(struct modvm_vcpu *vcpu, struct modvm_iodev *dev,
			 u64 addr, int len, const void *val)
{
	struct modvm_pit *pit = container_of(dev, struct modvm_pit, speaker_dev);
	u8 v = *(const u8 *)val;

	mutex_lock(&pit->lock);
	if (v & 2)
		pit->st.flags |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	else
		pit->st.flags &= ~KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	set_gate(&pit->st.channels[2], v & 1);
	mutex_unlock(&pit->lock);
	return 0;
}

static const struct modvm_iodev_ops speaker_ops = {
	.read = speaker_read,
	.write = speaker_write,
};

static void pit_reset(struct modvm_pit *pit)
{
	int i;

	reinject_reset(pit);
	memset(&pit->st, 0, sizeof(pit->st));
	for (i = 0; i < 3; i++) {
		/* No mode until the guest programs one, as KVM. */
		pit->st.channels[i].mode = 0xff;
		pit->st.channels[i].gate = i != 2;
		load_count(pit, i, 0);
	}
}

static long pit_create(struct modvm_vm *vm, u32 flags)
{
	struct modvm_pit *pit;
	long r;

	mutex_lock(&vm->lock);
	r = -EEXIST;
	if (vm->pit)
		goto out;
	r = -ENOMEM;
	pit = kzalloc(sizeof(*pit), GFP_KERNEL_ACCOUNT);
	if (!pit)
		goto out;
	pit->vm = vm;
	pit->reinject = true;
	mutex_init(&pit->lock);
	hrtimer_init(&pit->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	pit->timer.function = pit_timer_fn;
	mutex_lock(&pit->lock);
	pit_reset(pit);
	mutex_unlock(&pit->lock);
	pit->dev.ops = &pit_ops;
	pit->speaker_dev.ops = &speaker_ops;
	r = modvm_io_bus_register(vm, MODVM_PIO_BUS, PIT_PORT, 4, &pit->dev);
	if (r)
		goto free;
	if (flags & KVM_PIT_SPEAKER_DUMMY) {
		r = modvm_io_bus_register(vm, MODVM_PIO_BUS, SPEAKER_PORT, 1,
					  &pit->speaker_dev);
		if (r) {
			modvm_io_bus_unregister(vm, MODVM_PIO_BUS, &pit->dev);
			goto free;
		}
		pit->speaker = true;
	}
	vm->pit = pit;
	mutex_unlock(&vm->lock);
	return 0;
free:
	kfree(pit);
out:
	mutex_unlock(&vm->lock);
	return r;
}

/* KVM_GET_PIT (channels only) and KVM_GET_PIT2 (channels and flags). */
static long pit_get(struct modvm_vm *vm, void __user *argp, size_t size)
{
	struct modvm_pit *pit = READ_ONCE(vm->pit);
	struct kvm_pit_state2 st;

	if (!pit)
		return -ENXIO;
	mutex_lock(&pit->lock);
	st = pit->st;
	mutex_unlock(&pit->lock);
	memset(st.reserved, 0, sizeof(st.reserved));
	return copy_to_user(argp, &st, size) ? -EFAULT : 0;
}

/*
 * KVM_SET_PIT and KVM_SET_PIT2: the channels, and for the latter the
 * flags; counts reload now, so a channel 0 in a periodic mode restarts.
 */
static long pit_set(struct modvm_vm *vm, void __user *argp, bool with_flags)
{
	size_t size = with_flags ? sizeof(struct kvm_pit_state2) :
				   sizeof(struct kvm_pit_state);
	struct kvm_pit_state2 st;
	struct modvm_pit *pit;
	int i;

	if (copy_from_user(&st, argp, size))
		return -EFAULT;
	mutex_lock(&vm->lock);
	pit = vm->pit;
	if (!pit) {
		mutex_unlock(&vm->lock);
		return -ENXIO;
	}
	mutex_lock(&pit->lock);
	reinject_reset(pit);
	memcpy(pit->st.channels, st.channels, sizeof(st.channels));
	if (with_flags)
		pit->st.flags = st.flags;
	for (i = 0; i < 3; i++) {
		/* Bound what userspace gave: counts are 16 bits (0 = 65536). */
		pit->st.channels[i].count &= 0xffff;
		if (pit->st.channels[i].mode > 5 && pit->st.channels[i].mode != 0xff)
			pit->st.channels[i].mode = 0xff;
		load_count(pit, i, pit->st.channels[i].count);
	}
	mutex_unlock(&pit->lock);
	mutex_unlock(&vm->lock);
	return 0;
}

static long pit_reinject_control(struct modvm_vm *vm, void __user *argp)
{
	struct kvm_reinject_control ctl;
	struct modvm_pit *pit;

	if (copy_from_user(&ctl, argp, sizeof(ctl)))
		return -EFAULT;
	pit = READ_ONCE(vm->pit);
	if (!pit)
		return -ENXIO;
	mutex_lock(&pit->lock);
	/* Turning it on starts from no backlog and nothing in flight. */
	if (ctl.pit_reinject && !pit->reinject)
		reinject_reset(pit);
	WRITE_ONCE(pit->reinject, !!ctl.pit_reinject);
	mutex_unlock(&pit->lock);
	return 0;
}

/**
 * modvm_pit_ioctl() - the PIT's VM ioctls: KVM_CREATE_PIT(2), KVM_GET/
 * SET_PIT(2) and KVM_REINJECT_CONTROL.
 * @vm: the VM.
 * @ioctl: the ioctl number.
 * @argp: its argument.
 *
 * Return: 0; -EEXIST for a second PIT; -ENXIO for state of a PIT that
 * does not exist; -EFAULT; -ENOMEM; -ENOTTY for an ioctl that is not ours.
 */
long modvm_pit_ioctl(struct modvm_vm *vm, unsigned int ioctl, void __user *argp)
{
	struct kvm_pit_config cfg;

	switch (ioctl) {
	case KVM_CREATE_PIT:
		/* The first PIT ioctl: port 0x61 always came with it. */
		return pit_create(vm, KVM_PIT_SPEAKER_DUMMY);
	case KVM_CREATE_PIT2:
		if (copy_from_user(&cfg, argp, sizeof(cfg)))
			return -EFAULT;
		return pit_create(vm, cfg.flags);
	case KVM_GET_PIT:
		return pit_get(vm, argp, sizeof(struct kvm_pit_state));
	case KVM_GET_PIT2:
		return pit_get(vm, argp, sizeof(struct kvm_pit_state2));
	case KVM_SET_PIT:
		return pit_set(vm, argp, false);
	case KVM_SET_PIT2:
		return pit_set(vm, argp, true);
	case KVM_REINJECT_CONTROL:
		return pit_reinject_control(vm, argp);
	}
	return -ENOTTY;
}

/**
 * modvm_pit_destroy() - stop and free the PIT of a dying VM.
 * @vm: the VM.
 */
void modvm_pit_destroy(struct modvm_vm *vm)
{
	struct modvm_pit *pit = vm->pit;

	if (!pit)
		return;
	hrtimer_cancel(&pit->timer);
	vm->pit = NULL;
	kfree(pit);
}
