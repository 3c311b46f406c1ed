/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For the selftests of the in-kernel interrupt controllers: register
 * offsets and values of the local APIC, IOAPIC and 8259 (plain numbers,
 * pasted into guest assembly too), and host-side helpers.
 */
#ifndef MODVM_SELFTEST_APIC_H
#define MODVM_SELFTEST_APIC_H

#include <stdint.h>

#include "guest.h"

/* Local APIC registers (xAPIC MMIO offsets; x2APIC MSR = 0x800 + off/16). */
#define APIC_ID			0x20
#define APIC_LVR		0x30
#define APIC_TPR		0x80
#define APIC_EOI		0xb0
#define APIC_LDR		0xd0
#define APIC_DFR		0xe0
#define APIC_SVR		0xf0
#define APIC_ISR		0x100
#define APIC_TMR		0x180
#define APIC_IRR		0x200
#define APIC_ICR		0x300
#define APIC_ICR2		0x310
#define APIC_LVTT		0x320
#define APIC_LVT0		0x350
#define APIC_TMICT		0x380
#define APIC_TMCCT		0x390
#define APIC_TDCR		0x3e0

#define APIC_SVR_ON		0x1ff	/* enabled, spurious vector 0xff */
#define LVT_MASKED		0x10000
#define LVTT_PERIODIC		0x20000
#define LVTT_TSC_DEADLINE	0x40000
#define TDCR_DIV1		0xb

#define MSR_APIC_BASE		0x1b
#define MSR_TSC_DEADLINE	0x6e0
#define MSR_X2APIC(off)		(0x800 + (off) / 16)
#define APIC_BASE_ENABLE	0x800
#define APIC_BASE_X2APIC	0x400

/* Guest address of a label inside a blob loaded at GUEST_CODE. */
#define LABEL_GPA(blob, label) \
	(GUEST_CODE + (uint64_t)((const unsigned char *)label - blob))

/* Host side: the u64 at guest-physical @gpa. */
static inline uint64_t *apic_u64(struct guest *g, uint64_t gpa)
{
	return guest_ptr(g, gpa);
}

/* Host side: TSC cycles per millisecond, measured against CLOCK_MONOTONIC. */
uint64_t apic_tsc_per_ms(void);

/* Host side: software-enable a vCPU's APIC through KVM_GET/SET_LAPIC. */
void apic_sw_enable(struct guest_vcpu *v);

/* Host side: long mode, RIP at @rip, the whole IDT usable. 0 or -errno. */
int apic_long_mode(struct guest_vcpu *v, uint64_t rip);

/* Host side: give the vCPU the TSC-deadline CPUID bit (KVM leaves it out). */
void apic_cpuid_tsc_deadline(struct guest_vcpu *v);

/* Host side: one register of a kvm_lapic_state. */
uint32_t apic_state_reg(const struct kvm_lapic_state *s, int off);

#endif /* MODVM_SELFTEST_APIC_H */
