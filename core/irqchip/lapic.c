// SPDX-License-Identifier: GPL-2.0
/*
 * The local APIC of each vCPU: xAPIC registers in MMIO at the APIC base,
 * x2APIC registers as MSRs 0x800-0x8ff, IA32_APIC_BASE, the timer in
 * one-shot, periodic and TSC-deadline modes on an hrtimer, TPR/PPR, EOI,
 * IPIs and the hand-over of INIT, SIPI and NMI to event injection.
 *
 * The register page uses KVM's 1 KiB layout (one 32-bit register every
 * 16 bytes), so KVM_GET/SET_LAPIC copy it as it is. The timer counts at
 * 1 GHz divided by TDCR, as KVM's does: one APIC bus cycle per nanosecond.
 */
#include <linux/hrtimer.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/apicdef.h>
#include <asm/msr-index.h>
#include <asm/tsc.h>

#include "devices.h"

#define APIC_VERSION_VALUE	0x50014	/* version 0x14, 6 LVT entries */
#define LVT_MASK_BITS		(APIC_LVT_MASKED | APIC_SEND_PENDING | \
				 APIC_VECTOR_MASK)
#define LINT_MASK_BITS		(LVT_MASK_BITS | APIC_MODE_MASK | \
				 APIC_INPUT_POLARITY | APIC_LVT_REMOTE_IRR | \
				 APIC_LVT_LEVEL_TRIGGER)
#define LVTT_MODE_MASK		(3 << 17)
#define LVTT_PERIODIC		BIT(17)
#define LVTT_TSCDEADLINE	BIT(18)
#define LVT_EXTINT		(APIC_MODE_EXTINT << 8)
#define X2APIC_MSR_BASE		0x800
#define MSR_TSC_DEADLINE	0x6e0
#define APIC_BASE_VALID		(GENMASK_ULL(51, 12) | BIT_ULL(11) | \
				 BIT_ULL(10) | BIT_ULL(8))
#define CPUID1_ECX_X2APIC	BIT(21)
#define CPUID1_ECX_TSC_DEADLINE	BIT(24)
/* As KVM: a shorter periodic timer would swamp the host. */
#define MIN_PERIOD_NS		200000ULL

struct modvm_lapic {
	struct modvm_vcpu *vcpu;
	spinlock_t lock;	/* registers and timer state */
	u32 regs[KVM_APIC_REG_SIZE / 4];
	struct hrtimer timer;
	ktime_t expire;		/* when the armed timer fires next */
	u64 period_ns;		/* periodic: period; 0 when not armed */
	bool armed;
	u64 tsc_deadline;
};

static u32 reg_get(struct modvm_lapic *a, u32 off)
{
	return a->regs[off >> 2];
}

static void reg_set(struct modvm_lapic *a, u32 off, u32 v)
{
	a->regs[off >> 2] = v;
}

/* Bit @vec of a 256-bit register array (IRR, ISR or TMR) at @base. */
static u32 *vec_word(struct modvm_lapic *a, u32 base, u8 vec)
{
	return &a->regs[(base + (vec >> 5) * 0x10) >> 2];
}

static bool vec_test(struct modvm_lapic *a, u32 base, u8 vec)
{
	return *vec_word(a, base, vec) & BIT(vec & 31);
}

static void vec_set(struct modvm_lapic *a, u32 base, u8 vec)
{
	*vec_word(a, base, vec) |= BIT(vec & 31);
}

static void vec_clear(struct modvm_lapic *a, u32 base, u8 vec)
{
	*vec_word(a, base, vec) &= ~BIT(vec & 31);
}

static int vec_highest(struct modvm_lapic *a, u32 base)
{
	int i;

	for (i = 7; i >= 0; i--) {
		u32 w = a->regs[(base + i * 0x10) >> 2];

		if (w)
			return i * 32 + __fls(w);
	}
	return -1;
}

static bool hw_enabled(struct modvm_lapic *a)
{
	return a->vcpu->apic_base & MSR_IA32_APICBASE_ENABLE;
}

static bool x2apic_mode(struct modvm_lapic *a)
{
	return a->vcpu->apic_base & X2APIC_ENABLE;
}

static bool sw_enabled(struct modvm_lapic *a)
{
	return reg_get(a, APIC_SPIV) & APIC_SPIV_APIC_ENABLED;
}

static u32 ppr(struct modvm_lapic *a)
{
	u32 tpr = reg_get(a, APIC_TASKPRI) & 0xff;
	int isr = vec_highest(a, APIC_ISR);

	if (isr < 0 || (tpr & 0xf0) >= (isr & 0xf0))
		return tpr;
	return isr & 0xf0;
}

static u32 x2apic_ldr(u32 id)
{
	return ((id >> 4) << 16) | BIT(id & 0xf);
}

/* Timer modes the guest may pick: TSC-deadline only if its CPUID says so. */
static u32 lvtt_mode_mask(struct modvm_lapic *a)
{
	struct kvm_cpuid_entry2 *e = modvm_find_cpuid(a->vcpu, 1, 0);

	return e && (e->ecx & CPUID1_ECX_TSC_DEADLINE) ? LVTT_MODE_MASK :
							 LVTT_PERIODIC;
}

static u32 lvtt_mode(struct modvm_lapic *a)
{
	return reg_get(a, APIC_LVTT) & LVTT_MODE_MASK;
}

static u32 divisor(struct modvm_lapic *a)
{
	u32 v = reg_get(a, APIC_TDCR);

	return 1U << ((((v & 3) | ((v & 8) >> 1)) + 1) & 7);
}

/* Kick outside of any APIC lock: the target re-evaluates its events. */
static void lapic_kick(struct modvm_lapic *a)
{
	modvm_vcpu_kick(a->vcpu);
}

/* Put a fixed interrupt in IRR; lock held. */
static bool set_irr(struct modvm_lapic *a, u8 vector, bool level_trig)
{
	if (!sw_enabled(a))
		return false;
	vec_set(a, APIC_IRR, vector);
	if (level_trig)
		vec_set(a, APIC_TMR, vector);
	else
		vec_clear(a, APIC_TMR, vector);
	return true;
}

/* Accept one interrupt message; returns 1 when it was taken. */
static int lapic_accept(struct modvm_lapic *a, const struct modvm_apic_irq *irq)
{
	unsigned long flags;
	bool ok;

	switch (irq->delivery_mode) {
	case APIC_DM_FIXED >> 8:
	case APIC_DM_LOWEST >> 8:
		spin_lock_irqsave(&a->lock, flags);
		ok = set_irr(a, irq->vector, irq->trig_level);
		spin_unlock_irqrestore(&a->lock, flags);
		if (!ok)
			return 0;
		lapic_kick(a);
		return 1;
	case APIC_DM_NMI >> 8:
		modvm_vcpu_queue_nmi(a->vcpu);
		lapic_kick(a);
		return 1;
	case APIC_DM_INIT >> 8:
		/* An INIT level de-assert does nothing on modern APICs. */
		if (irq->trig_level && !irq->level)
			return 0;
		modvm_vcpu_deliver_init(a->vcpu);
		return 1;
	case APIC_DM_STARTUP >> 8:
		modvm_vcpu_deliver_sipi(a->vcpu, irq->vector);
		return 1;
	case APIC_DM_SMI >> 8:
		/* No SMM: the message is taken and dropped, as KVM without SMM. */
		return 1;
	default:
		return 0;	/* ExtINT and reserved modes are not messages */
	}
}

/* Whether @a is a destination of @irq sent by @src (NULL: IOAPIC/MSI). */
static bool lapic_match(struct modvm_lapic *a, struct modvm_lapic *src,
			const struct modvm_apic_irq *irq)
{
	bool wide = src && x2apic_mode(src);
	u32 bcast = wide ? 0xffffffff : 0xff;
	u32 dest = wide ? irq->dest : irq->dest & 0xff;
	u32 id, ldr;

	if (!hw_enabled(a))
		return false;
	switch (irq->shorthand) {
	case 1:
		return a == src;
	case 2:
		return true;
	case 3:
		return a != src;
	}
	if (dest == bcast)
		return true;
	if (!irq->logical) {
		id = x2apic_mode(a) ? reg_get(a, APIC_ID) : reg_get(a, APIC_ID) >> 24;
		return dest == id;
	}
	if (x2apic_mode(a)) {
		ldr = reg_get(a, APIC_LDR);
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	}
	ldr = reg_get(a, APIC_LDR) >> 24;
	if ((reg_get(a, APIC_DFR) >> 28) == 0xf)
		return ldr & dest;
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
}

/**
 * modvm_lapic_deliver() - send an interrupt message to local APICs.
 * @vm: the VM.
 * @src: the sending vCPU for an IPI, NULL for the IOAPIC or an MSI.
 * @irq: the message.
 *
 * Lowest-priority messages go to one of the matching enabled APICs,
 * chosen by vector as KVM's vector hashing does. Callable from any
 * context; takes no lock but the targets'.
 *
 * Return: the number of APICs that took it. When none matched: 0 for a
 * message to one destination id (KVM answers from its APIC map), -1
 * for a shorthand or broadcast.
 */
int modvm_lapic_deliver(struct modvm_vm *vm, struct modvm_vcpu *src,
			const struct modvm_apic_irq *irq)
{
	struct modvm_lapic *from = src ? src->lapic : NULL;
	bool lowest = irq->delivery_mode == (APIC_DM_LOWEST >> 8);
	struct modvm_vcpu *vcpu;
	unsigned long id;
	bool direct = !irq->shorthand && irq->dest != 0xff &&
		      irq->dest != 0xffffffff;
	int r = direct ? 0 : -1, n = 0, pick;

	xa_for_each(&vm->vcpus, id, vcpu) {
		struct modvm_lapic *a = READ_ONCE(vcpu->lapic);

		if (!a || !lapic_match(a, from, irq))
			continue;
		if (lowest) {
			n += sw_enabled(a);
			continue;
		}
		r = max(r, 0) + lapic_accept(a, irq);
	}
	if (!lowest || !n)
		return r;
	pick = irq->vector % n;
	xa_for_each(&vm->vcpus, id, vcpu) {
		struct modvm_lapic *a = READ_ONCE(vcpu->lapic);

		if (!a || !lapic_match(a, from, irq) || !sw_enabled(a))
			continue;
		if (!pick--)
			return lapic_accept(a, irq);
	}
	return r;
}

static void send_ipi(struct modvm_lapic *a, u32 lo, u32 dest)
{
	struct modvm_apic_irq irq = {
		.dest = dest,
		.vector = lo & APIC_VECTOR_MASK,
		.delivery_mode = (lo >> 8) & 7,
		.logical = lo & APIC_DEST_LOGICAL,
		.level = lo & APIC_INT_ASSERT,
		.trig_level = lo & APIC_INT_LEVELTRIG,
		.shorthand = (lo >> 18) & 3,
	};

	modvm_lapic_deliver(a->vcpu->vm, a->vcpu, &irq);
}

/* Timer. */

static void timer_cancel(struct modvm_lapic *a)
{
	hrtimer_try_to_cancel(&a->timer);
	a->armed = false;
	a->period_ns = 0;
}

/* Arm the one-shot/periodic timer from TMICT; lock held. */
static void timer_start(struct modvm_lapic *a)
{
	u32 count = reg_get(a, APIC_TMICT);
	u64 ns;

	timer_cancel(a);
	if (!count || lvtt_mode(a) == LVTT_TSCDEADLINE)
		return;
	ns = (u64)count * divisor(a);
	if (lvtt_mode(a) == LVTT_PERIODIC) {
		ns = max(ns, MIN_PERIOD_NS);
		a->period_ns = ns;
	}
	a->expire = ktime_add_ns(ktime_get(), ns);
	a->armed = true;
	hrtimer_start(&a->timer, a->expire, HRTIMER_MODE_ABS_HARD);
}

/* Nanoseconds until the guest TSC reaches @deadline, 0 if it has. */
static u64 tsc_to_ns(struct modvm_lapic *a, u64 deadline)
{
	u64 now = rdtsc() + a->vcpu->tsc_offset;

	if (deadline <= now || !tsc_khz)
		return 0;
	return mul_u64_u32_div(deadline - now, NSEC_PER_MSEC, tsc_khz);
}

static void tsc_deadline_arm(struct modvm_lapic *a)
{
	timer_cancel(a);
	if (!a->tsc_deadline || lvtt_mode(a) != LVTT_TSCDEADLINE)
		return;
	a->expire = ktime_add_ns(ktime_get(), tsc_to_ns(a, a->tsc_deadline));
	a->armed = true;
	hrtimer_start(&a->timer, a->expire, HRTIMER_MODE_ABS_HARD);
}

static enum hrtimer_restart timer_fn(struct hrtimer *t)
{
	struct modvm_lapic *a = container_of(t, struct modvm_lapic, timer);
	enum hrtimer_restart ret = HRTIMER_NORESTART;
	unsigned long flags;
	bool kick = false;
	u32 lvtt;

	spin_lock_irqsave(&a->lock, flags);
	/*
	 * Not armed, or the guest re-armed the timer while this callback
	 * waited for the lock: the new expiry is still queued, not due.
	 */
	if (!a->armed || ktime_before(ktime_get(), hrtimer_get_softexpires(t)))
		goto out;
	lvtt = reg_get(a, APIC_LVTT);
	if (!(lvtt & APIC_LVT_MASKED))
		kick = set_irr(a, lvtt & APIC_VECTOR_MASK, false);
	if (lvtt_mode(a) == LVTT_PERIODIC && a->period_ns) {
		/* Keep the phase; periods the host missed are dropped. */
		hrtimer_forward_now(t, ns_to_ktime(a->period_ns));
		a->expire = hrtimer_get_expires(t);
		ret = HRTIMER_RESTART;
	} else {
		a->armed = false;
		if (lvtt_mode(a) == LVTT_TSCDEADLINE)
			a->tsc_deadline = 0;
	}
out:
	spin_unlock_irqrestore(&a->lock, flags);
	if (kick)
		lapic_kick(a);
	return ret;
}

static u32 tmcct(struct modvm_lapic *a)
{
	s64 left;

	if (!a->armed || lvtt_mode(a) == LVTT_TSCDEADLINE)
		return 0;
	left = ktime_to_ns(ktime_sub(a->expire, ktime_get()));
	if (left <= 0)
		return 0;
	return div_u64(left, divisor(a));
}

/* Register access, with the lock held; @x2: through an MSR. */

static u32 reg_read(struct modvm_lapic *a, u32 off)
{
	switch (off) {
	case APIC_TMCCT:
		return tmcct(a);
	case APIC_PROCPRI:
		return ppr(a);
	case APIC_ARBPRI:
		return 0;
	}
	return reg_get(a, off);
}

static bool reg_readable(struct modvm_lapic *a, u32 off)
{
	switch (off) {
	case APIC_ID: case APIC_LVR: case APIC_TASKPRI: case APIC_PROCPRI:
	case APIC_LDR: case APIC_SPIV: case APIC_ESR: case APIC_ICR:
	case APIC_LVTT: case APIC_LVTTHMR: case APIC_LVTPC: case APIC_LVT0:
	case APIC_LVT1: case APIC_LVTERR: case APIC_TMICT: case APIC_TMCCT:
	case APIC_TDCR:
		return true;
	case APIC_DFR:
	case APIC_ARBPRI:
	case APIC_ICR2:
		return !x2apic_mode(a);
	}
	return off >= APIC_ISR && off < APIC_ESR && !(off & 0xf);
}

static void set_spiv(struct modvm_lapic *a, u32 val)
{
	u32 off;

	reg_set(a, APIC_SPIV, val & 0x3ff);
	if (val & APIC_SPIV_APIC_ENABLED)
		return;
	for (off = APIC_LVTT; off <= APIC_LVTERR; off += 0x10)
		reg_set(a, off, reg_get(a, off) | APIC_LVT_MASKED);
}

/*
 * Write a register. Returns 1 for a write the x2APIC interface faults
 * on; *ipi / *eoi tell the caller what to do once the lock is dropped.
 */
static int reg_write(struct modvm_lapic *a, u32 off, u32 val, bool *ipi,
		     bool *eoi)
{
	u32 mask;

	switch (off) {
	case APIC_ID:
		if (x2apic_mode(a))
			return 1;
		reg_set(a, APIC_ID, val & 0xff000000);
		break;
	case APIC_TASKPRI:
		reg_set(a, APIC_TASKPRI, val & 0xff);
		break;
	case APIC_EOI:
		*eoi = true;
		break;
	case APIC_LDR:
		if (x2apic_mode(a))
			return 1;
		reg_set(a, APIC_LDR, val & APIC_LDR_MASK);
		break;
	case APIC_DFR:
		if (x2apic_mode(a))
			return 1;
		reg_set(a, APIC_DFR, val | 0x0fffffff);
		break;
	case APIC_SPIV:
		set_spiv(a, val);
		break;
	case APIC_ICR:
		reg_set(a, APIC_ICR, val & ~APIC_ICR_BUSY);
		*ipi = true;
		break;
	case APIC_ICR2:
		if (x2apic_mode(a))
			return 1;
		reg_set(a, APIC_ICR2, val & 0xff000000);
		break;
	case APIC_LVTT:
		if (!sw_enabled(a))
			val |= APIC_LVT_MASKED;
		val &= LVT_MASK_BITS | lvtt_mode_mask(a);
		if ((val ^ reg_get(a, APIC_LVTT)) & LVTT_MODE_MASK) {
			/* A mode change stops the timer, as on hardware. */
			timer_cancel(a);
			reg_set(a, APIC_TMICT, 0);
			a->tsc_deadline = 0;
		}
		reg_set(a, APIC_LVTT, val);
		break;
	case APIC_LVTTHMR:
	case APIC_LVTPC:
	case APIC_LVT0:
	case APIC_LVT1:
	case APIC_LVTERR:
		mask = off == APIC_LVT0 || off == APIC_LVT1 ? LINT_MASK_BITS :
		       off == APIC_LVTERR ? LVT_MASK_BITS :
		       LVT_MASK_BITS | APIC_MODE_MASK;
		if (!sw_enabled(a))
			val |= APIC_LVT_MASKED;
		reg_set(a, off, val & mask);
		break;
	case APIC_TMICT:
		if (lvtt_mode(a) == LVTT_TSCDEADLINE)
			break;
		reg_set(a, APIC_TMICT, val);
		timer_start(a);
		break;
	case APIC_TDCR: {
		u32 old = divisor(a);

		reg_set(a, APIC_TDCR, val & 0xb);
		if (old != divisor(a) && a->armed && lvtt_mode(a) != LVTT_TSCDEADLINE) {
			/* Keep the count left, at the new rate. */
			u64 left = (u64)tmcct(a) * divisor(a);

			hrtimer_try_to_cancel(&a->timer);
			if (a->period_ns)
				a->period_ns = max((u64)reg_get(a, APIC_TMICT) *
						   divisor(a), MIN_PERIOD_NS);
			a->expire = ktime_add_ns(ktime_get(), left);
			hrtimer_start(&a->timer, a->expire, HRTIMER_MODE_ABS_HARD);
		}
		break;
	}
	case APIC_ESR:
		if (x2apic_mode(a) && val)
			return 1;
		break;
	case APIC_SELF_IPI:
		if (!x2apic_mode(a) || (val & ~APIC_VECTOR_MASK))
			return 1;
		reg_set(a, APIC_ICR, APIC_DEST_SELF | val);
		*ipi = true;
		break;
	default:
		return 1;
	}
	return 0;
}

static void do_eoi(struct modvm_lapic *a)
{
	struct modvm_irqchip *chip = irqchip_of(a->vcpu->vm);
	unsigned long flags;
	bool level;
	int vec;

	spin_lock_irqsave(&a->lock, flags);
	vec = vec_highest(a, APIC_ISR);
	if (vec < 0) {
		spin_unlock_irqrestore(&a->lock, flags);
		return;
	}
	vec_clear(a, APIC_ISR, vec);
	level = vec_test(a, APIC_TMR, vec);
	spin_unlock_irqrestore(&a->lock, flags);
	/*
	 * The EOI broadcast: level-triggered, the IOAPIC clears Remote IRR;
	 * either way its ack notifiers (resample, PIT) hear of it.
	 */
	if (chip)
		modvm_ioapic_eoi(chip, vec, level);
}

static int lapic_write(struct modvm_lapic *a, u32 off, u32 val, u32 dest_x2)
{
	bool ipi = false, eoi = false;
	unsigned long flags;
	u32 lo, dest;
	int r;

	spin_lock_irqsave(&a->lock, flags);
	if (off == APIC_ICR && x2apic_mode(a))
		reg_set(a, APIC_ICR2, dest_x2);
	r = reg_write(a, off, val, &ipi, &eoi);
	lo = reg_get(a, APIC_ICR);
	dest = x2apic_mode(a) ? reg_get(a, APIC_ICR2) : reg_get(a, APIC_ICR2) >> 24;
	if (off == APIC_SELF_IPI)
		dest = 0;
	spin_unlock_irqrestore(&a->lock, flags);
	if (ipi)
		send_ipi(a, lo, dest);
	if (eoi)
		do_eoi(a);
	return r;
}

/**
 * modvm_lapic_mmio() - an xAPIC MMIO access, offered by the I/O bus.
 * @vcpu: the accessing vCPU.
 * @addr: guest-physical address.
 * @len: bytes.
 * @val: data.
 * @write: direction.
 *
 * Return: 0 when the access hit this vCPU's APIC page, else -EOPNOTSUPP.
 */
int modvm_lapic_mmio(struct modvm_vcpu *vcpu, u64 addr, int len, void *val,
		     bool write)
{
	struct modvm_lapic *a = vcpu->lapic;
	u64 base = vcpu->apic_base & MSR_IA32_APICBASE_BASE;
	unsigned long flags;
	u32 off, v;

	if (!a || addr < base || addr + len > base + PAGE_SIZE)
		return -EOPNOTSUPP;
	off = addr - base;
	if (!hw_enabled(a) || x2apic_mode(a)) {
		/* The page reads as all ones, as KVM's MMIO hole quirk. */
		if (!write)
			memset(val, 0xff, len);
		return 0;
	}
	if (write) {
		/* Only aligned 32-bit writes reach a register. */
		if (len == 4 && !(off & 0xf) && off < KVM_APIC_REG_SIZE)
			lapic_write(a, off, *(u32 *)val, 0);
		return 0;
	}
	v = 0;
	if ((off & 0xf) + len <= 4 && off < KVM_APIC_REG_SIZE) {
		spin_lock_irqsave(&a->lock, flags);
		if (reg_readable(a, off & ~0xf))
			v = reg_read(a, off & ~0xf);
		spin_unlock_irqrestore(&a->lock, flags);
	}
	memset(val, 0, len);
	memcpy(val, (u8 *)&v + (off & 0xf), min(len, 4));
	return 0;
}

static int set_apic_base(struct modvm_lapic *a, u64 val, bool host)
{
	struct modvm_vcpu *vcpu = a->vcpu;
	struct kvm_cpuid_entry2 *e = modvm_find_cpuid(vcpu, 1, 0);
	u64 old = vcpu->apic_base;
	bool en = val & MSR_IA32_APICBASE_ENABLE, x2 = val & X2APIC_ENABLE;
	bool old_en = old & MSR_IA32_APICBASE_ENABLE, old_x2 = old & X2APIC_ENABLE;
	unsigned long flags;

	if (val & ~APIC_BASE_VALID)
		return 1;
	if (x2 && !(e && (e->ecx & CPUID1_ECX_X2APIC)))
		return 1;
	if (x2 && !en)
		return 1;	/* EXTD without EN is an invalid state */
	/* The SDM's forbidden transitions, for the guest only. */
	if (!host && ((old_x2 && old_en && en && !x2) || (!old_en && x2)))
		return 1;

	spin_lock_irqsave(&a->lock, flags);
	vcpu->apic_base = val;
	if (en && !old_en)
		reg_set(a, APIC_ID, vcpu->id << 24);
	if (x2 && !old_x2) {
		reg_set(a, APIC_ID, vcpu->id);
		reg_set(a, APIC_LDR, x2apic_ldr(vcpu->id));
	}
	spin_unlock_irqrestore(&a->lock, flags);
	return 0;
}

/**
 * modvm_lapic_get_msr() - IA32_APIC_BASE, TSC_DEADLINE and x2APIC MSRs.
 * @vcpu: the vCPU (with an in-kernel APIC).
 * @index: MSR number.
 * @data: the value read.
 * @host: read by userspace.
 *
 * Return: 0; 1 for a read that faults; -ENOENT when not an APIC MSR.
 */
int modvm_lapic_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data,
			bool host)
{
	struct modvm_lapic *a = vcpu->lapic;
	unsigned long flags;
	u32 off;

	if (index == MSR_IA32_APICBASE) {
		*data = vcpu->apic_base;
		return 0;
	}
	if (index == MSR_TSC_DEADLINE) {
		spin_lock_irqsave(&a->lock, flags);
		*data = lvtt_mode(a) == LVTT_TSCDEADLINE ? a->tsc_deadline : 0;
		spin_unlock_irqrestore(&a->lock, flags);
		return 0;
	}
	if (index < X2APIC_MSR_BASE || index > X2APIC_MSR_BASE + 0xff)
		return -ENOENT;
	off = (index - X2APIC_MSR_BASE) << 4;
	if (!x2apic_mode(a) || !reg_readable(a, off))
		return 1;
	spin_lock_irqsave(&a->lock, flags);
	*data = reg_read(a, off);
	if (off == APIC_ICR)
		*data |= (u64)reg_get(a, APIC_ICR2) << 32;
	spin_unlock_irqrestore(&a->lock, flags);
	return 0;
}

/**
 * modvm_lapic_set_msr() - write IA32_APIC_BASE, TSC_DEADLINE or x2APIC MSRs.
 * @vcpu: the vCPU (with an in-kernel APIC).
 * @index: MSR number.
 * @data: the value.
 * @host: written by userspace.
 *
 * Return: 0; 1 for a write that faults; -ENOENT when not an APIC MSR.
 */
int modvm_lapic_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data,
			bool host)
{
	struct modvm_lapic *a = vcpu->lapic;
	unsigned long flags;
	u32 off;

	if (index == MSR_IA32_APICBASE)
		return set_apic_base(a, data, host);
	if (index == MSR_TSC_DEADLINE) {
		spin_lock_irqsave(&a->lock, flags);
		if (lvtt_mode(a) == LVTT_TSCDEADLINE) {
			a->tsc_deadline = data;
			tsc_deadline_arm(a);
		}
		spin_unlock_irqrestore(&a->lock, flags);
		return 0;
	}
	if (index < X2APIC_MSR_BASE || index > X2APIC_MSR_BASE + 0xff)
		return -ENOENT;
	off = (index - X2APIC_MSR_BASE) << 4;
	if (!x2apic_mode(a))
		return 1;
	if (off == APIC_ICR)
		return lapic_write(a, off, (u32)data, data >> 32);
	if (data >> 32 || (off == APIC_EOI && data))
		return 1;
	return lapic_write(a, off, data, 0);
}

/**
 * modvm_lapic_has_interrupt() - a fixed interrupt above PPR is pending.
 * @vcpu: the vCPU.
 *
 * Return: true when the highest IRR vector's class is above the PPR's.
 */
bool modvm_lapic_has_interrupt(struct modvm_vcpu *vcpu)
{
	struct modvm_lapic *a = vcpu->lapic;
	unsigned long flags;
	bool r;
	int irr;

	if (!a || !hw_enabled(a))
		return false;
	spin_lock_irqsave(&a->lock, flags);
	irr = vec_highest(a, APIC_IRR);
	r = irr >= 0 && (irr & 0xf0) > (ppr(a) & 0xf0);
	spin_unlock_irqrestore(&a->lock, flags);
	return r;
}

/**
 * modvm_lapic_get_interrupt() - acknowledge the highest pending interrupt.
 * @vcpu: the vCPU.
 *
 * Return: its vector, moved from IRR to ISR; -1 when none is deliverable.
 */
int modvm_lapic_get_interrupt(struct modvm_vcpu *vcpu)
{
	struct modvm_lapic *a = vcpu->lapic;
	unsigned long flags;
	int irr;

	if (!a || !hw_enabled(a))
		return -1;
	spin_lock_irqsave(&a->lock, flags);
	irr = vec_highest(a, APIC_IRR);
	if (irr < 0 || (irr & 0xf0) <= (ppr(a) & 0xf0)) {
		irr = -1;
	} else {
		vec_clear(a, APIC_IRR, irr);
		vec_set(a, APIC_ISR, irr);
	}
	spin_unlock_irqrestore(&a->lock, flags);
	return irr;
}

/**
 * modvm_lapic_accepts_pic() - whether this vCPU takes the PIC's ExtINT.
 * @vcpu: the vCPU.
 *
 * Return: true with the APIC disabled (virtual wire) or LVT0 unmasked in
 * ExtINT mode.
 */
bool modvm_lapic_accepts_pic(struct modvm_vcpu *vcpu)
{
	struct modvm_lapic *a = vcpu->lapic;
	u32 lvt0;

	if (!a)
		return false;
	if (!hw_enabled(a))
		return true;
	lvt0 = READ_ONCE(a->regs[APIC_LVT0 >> 2]);
	return !(lvt0 & APIC_LVT_MASKED) &&
	       (lvt0 & APIC_MODE_MASK) == LVT_EXTINT;
}

/**
 * modvm_lapic_pic_changed() - the PIC output rose: wake its vCPUs.
 * @vm: the VM.
 */
void modvm_lapic_pic_changed(struct modvm_vm *vm)
{
	struct modvm_vcpu *vcpu;
	unsigned long id;

	xa_for_each(&vm->vcpus, id, vcpu)
		if (modvm_lapic_accepts_pic(vcpu))
			modvm_vcpu_kick(vcpu);
}

/**
 * modvm_lapic_get_tpr() - TPR, for CR8.
 * @vcpu: the vCPU.
 *
 * Return: the task priority register's low byte.
 */
u8 modvm_lapic_get_tpr(struct modvm_vcpu *vcpu)
{
	return vcpu->lapic ? READ_ONCE(vcpu->lapic->regs[APIC_TASKPRI >> 2]) : 0;
}

/**
 * modvm_lapic_set_tpr() - write TPR, from CR8.
 * @vcpu: the vCPU.
 * @tpr: the new task priority.
 */
void modvm_lapic_set_tpr(struct modvm_vcpu *vcpu, u8 tpr)
{
	unsigned long flags;

	if (!vcpu->lapic)
		return;
	spin_lock_irqsave(&vcpu->lapic->lock, flags);
	reg_set(vcpu->lapic, APIC_TASKPRI, tpr);
	spin_unlock_irqrestore(&vcpu->lapic->lock, flags);
}

/**
 * modvm_lapic_reset() - RESET or INIT state of the APIC.
 * @vcpu: the vCPU.
 * @init: INIT (keeps IA32_APIC_BASE and the APIC ID) rather than RESET.
 */
void modvm_lapic_reset(struct modvm_vcpu *vcpu, bool init)
{
	struct modvm_lapic *a = vcpu->lapic;
	bool bsp = vcpu->id == vcpu->vm->bsp_vcpu_id;
	unsigned long flags;
	u32 off;

	if (!a)
		return;
	hrtimer_cancel(&a->timer);
	spin_lock_irqsave(&a->lock, flags);
	a->armed = false;
	a->period_ns = 0;
	a->tsc_deadline = 0;
	if (!init) {
		vcpu->apic_base = APIC_DEFAULT_PHYS_BASE |
				  MSR_IA32_APICBASE_ENABLE |
				  (bsp ? MSR_IA32_APICBASE_BSP : 0);
		memset(a->regs, 0, sizeof(a->regs));
		reg_set(a, APIC_ID, vcpu->id << 24);
	}
	reg_set(a, APIC_LVR, APIC_VERSION_VALUE);
	for (off = APIC_LVTT; off <= APIC_LVTERR; off += 0x10)
		reg_set(a, off, APIC_LVT_MASKED);
	/* KVM's LINT0 quirk: the BSP starts in virtual-wire mode. */
	if (bsp)
		reg_set(a, APIC_LVT0, LVT_EXTINT);
	reg_set(a, APIC_DFR, 0xffffffff);
	reg_set(a, APIC_SPIV, 0xff);
	reg_set(a, APIC_TASKPRI, 0);
	if (!x2apic_mode(a))
		reg_set(a, APIC_LDR, 0);
	reg_set(a, APIC_ESR, 0);
	reg_set(a, APIC_ICR, 0);
	reg_set(a, APIC_ICR2, 0);
	reg_set(a, APIC_TDCR, 0);
	reg_set(a, APIC_TMICT, 0);
	for (off = 0; off < 0x80; off += 0x10) {
		reg_set(a, APIC_IRR + off, 0);
		reg_set(a, APIC_ISR + off, 0);
		reg_set(a, APIC_TMR + off, 0);
	}
	spin_unlock_irqrestore(&a->lock, flags);
}

static long get_lapic(struct modvm_lapic *a, struct kvm_lapic_state __user *argp)
{
	struct kvm_lapic_state *s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	unsigned long flags;
	u32 *regs;
	long r = 0;

	if (!s)
		return -ENOMEM;
	regs = (u32 *)s->regs;
	spin_lock_irqsave(&a->lock, flags);
	memcpy(regs, a->regs, sizeof(a->regs));
	regs[APIC_TMCCT >> 2] = tmcct(a);
	regs[APIC_PROCPRI >> 2] = ppr(a);
	/* KVM's layout keeps the x2APIC ID in the xAPIC position. */
	if (x2apic_mode(a))
		regs[APIC_ID >> 2] <<= 24;
	spin_unlock_irqrestore(&a->lock, flags);
	if (copy_to_user(argp, s, sizeof(*s)))
		r = -EFAULT;
	kfree(s);
	return r;
}

static long set_lapic(struct modvm_lapic *a, struct kvm_lapic_state __user *argp)
{
	struct kvm_lapic_state *s = memdup_user(argp, sizeof(*s));
	unsigned long flags;
	bool pending;
	u32 *regs;

	if (IS_ERR(s))
		return PTR_ERR(s);
	regs = (u32 *)s->regs;
	hrtimer_cancel(&a->timer);
	spin_lock_irqsave(&a->lock, flags);
	memcpy(a->regs, regs, sizeof(a->regs));
	if (x2apic_mode(a)) {
		reg_set(a, APIC_ID, regs[APIC_ID >> 2] >> 24);
		reg_set(a, APIC_LDR, x2apic_ldr(reg_get(a, APIC_ID)));
	}
	reg_set(a, APIC_LVR, APIC_VERSION_VALUE);
	reg_set(a, APIC_SPIV, reg_get(a, APIC_SPIV) & 0x3ff);
	reg_set(a, APIC_TMCCT, 0);
	a->armed = false;
	a->tsc_deadline = 0;
	timer_start(a);
	reg_set(a, APIC_PROCPRI, ppr(a));
	pending = vec_highest(a, APIC_IRR) >= 0;
	spin_unlock_irqrestore(&a->lock, flags);
	kfree(s);
	if (pending)
		lapic_kick(a);
	return 0;
}

/**
 * modvm_lapic_ioctl() - KVM_GET_LAPIC and KVM_SET_LAPIC.
 * @vcpu: the vCPU, its mutex held.
 * @ioctl: the ioctl.
 * @argp: struct kvm_lapic_state.
 *
 * Return: 0; -EINVAL without an in-kernel APIC (as KVM); -EFAULT;
 * -ENOTTY for another ioctl.
 */
long modvm_lapic_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
		       void __user *argp)
{
	if (ioctl != KVM_GET_LAPIC && ioctl != KVM_SET_LAPIC)
		return -ENOTTY;
	if (!vcpu->lapic)
		return -EINVAL;
	return ioctl == KVM_GET_LAPIC ? get_lapic(vcpu->lapic, argp) :
					set_lapic(vcpu->lapic, argp);
}

/**
 * modvm_lapic_create() - give a vCPU its APIC, in RESET state.
 * @vcpu: the vCPU, before it is visible.
 *
 * Return: 0 or -ENOMEM.
 */
int modvm_lapic_create(struct modvm_vcpu *vcpu)
{
	struct modvm_lapic *a = kzalloc(sizeof(*a), GFP_KERNEL_ACCOUNT);

	if (!a)
		return -ENOMEM;
	a->vcpu = vcpu;
	spin_lock_init(&a->lock);
	hrtimer_init(&a->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	a->timer.function = timer_fn;
	vcpu->lapic = a;
	modvm_lapic_reset(vcpu, false);
	return 0;
}

/**
 * modvm_lapic_free() - stop the timer and free the APIC.
 * @vcpu: the vCPU.
 */
void modvm_lapic_free(struct modvm_vcpu *vcpu)
{
	struct modvm_lapic *a = vcpu->lapic;

	if (!a)
		return;
	hrtimer_cancel(&a->timer);
	vcpu->lapic = NULL;
	kfree(a);
}
