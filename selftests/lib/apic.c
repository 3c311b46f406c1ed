// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side helpers for the interrupt-controller selftests: see apic.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "apic.h"

uint64_t apic_tsc_per_ms(void)
{
	struct timespec a, b, d = { .tv_nsec = 50 * 1000 * 1000 };
	uint64_t t0, t1, ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	nanosleep(&d, NULL);
	t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (b.tv_sec - a.tv_sec) * 1000000000ull + b.tv_nsec - a.tv_nsec;
	return (t1 - t0) * 1000000ull / ns;
}

uint32_t apic_state_reg(const struct kvm_lapic_state *s, int off)
{
	uint32_t v;

	memcpy(&v, s->regs + off, 4);
	return v;
}

void apic_sw_enable(struct guest_vcpu *v)
{
	struct kvm_lapic_state s;
	uint32_t svr = APIC_SVR_ON;

	if (modvm_ioctl(v->fd, KVM_GET_LAPIC, (unsigned long)&s))
		abort();
	memcpy(s.regs + APIC_SVR, &svr, 4);
	if (modvm_ioctl(v->fd, KVM_SET_LAPIC, (unsigned long)&s))
		abort();
}

int apic_long_mode(struct guest_vcpu *v, uint64_t rip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r = guest_set_mode(v, GUEST_MODE_LONG64);

	if (r)
		return r;
	guest_get_sregs(v, &sregs);
	sregs.idt.limit = GUEST_IDT_LIMIT_ALL;
	r = modvm_ioctl(v->fd, KVM_SET_SREGS, (unsigned long)&sregs);
	if (r)
		return r;
	guest_get_regs(v, &regs);
	regs.rip = rip;
	guest_set_regs(v, &regs);
	return 0;
}

void apic_cpuid_tsc_deadline(struct guest_vcpu *v)
{
	struct kvm_cpuid2 *c = guest_supported_cpuid(v->guest->dev);
	struct kvm_cpuid_entry2 *e;

	if (!c)
		abort();
	e = guest_cpuid_entry(c, 1, 0);
	if (!e)
		abort();
	e->ecx |= 1u << 24;
	if (modvm_ioctl(v->fd, KVM_SET_CPUID2, (unsigned long)c))
		abort();
	free(c);
}
