// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel interrupt controllers through their ioctls, no guest
 * code: KVM_CREATE_IRQCHIP, KVM_GET/SET_IRQCHIP, KVM_IRQ_LINE_STATUS,
 * KVM_SET_GSI_ROUTING, KVM_SIGNAL_MSI, KVM_GET/SET_LAPIC, the x2APIC
 * MSRs, KVM_CREATE_PIT2 and KVM_GET/SET_PIT2, KVM_SET_BOOT_CPU_ID, and
 * the errno of each where KVM gives one. Every expectation holds on
 * Debian's KVM too (MODVM_DEVICE=/dev/kvm).
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "apic.h"

#define APIC_LVT1	0x360
#define APIC_BASE_EN	(1ull << 11)
#define APIC_BASE_X2	(1ull << 10)
#define APIC_BASE_BSP	(1ull << 8)

#define RTE_MASKED	(1ull << 16)
#define RTE_LEVEL	(1ull << 15)
#define RTE_REMOTE_IRR	(1ull << 14)

static uint32_t reg(const struct kvm_lapic_state *s, int off)
{
	return apic_state_reg(s, off);
}

static void set_reg(struct kvm_lapic_state *s, int off, uint32_t v)
{
	memcpy(s->regs + off, &v, 4);
}

static bool irr_has(const struct kvm_lapic_state *s, int vec)
{
	return reg(s, APIC_IRR + (vec / 32) * 0x10) & (1u << (vec % 32));
}

static int irq_line(int vm, uint32_t irq, uint32_t level, int32_t *status)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };
	int r = modvm_ioctl(vm, KVM_IRQ_LINE_STATUS, (unsigned long)&l);

	*status = l.status;
	return r;
}

static void get_chip(int vm, struct kvm_irqchip *c, uint32_t id)
{
	memset(c, 0, sizeof(*c));
	c->chip_id = id;
	if (modvm_ioctl(vm, KVM_GET_IRQCHIP, (unsigned long)c))
		abort();
}

/* A VM with an in-kernel irqchip and @n vCPUs, not run. */
FIXTURE(chip) {
	struct guest g;
};

FIXTURE_SETUP(chip)
{
	guest_create(&self->g);
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
	guest_add_vcpu(&self->g);
	guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(chip)
{
	guest_destroy(&self->g);
}

/* The same VM, with both APICs software-enabled. */
FIXTURE(on) {
	struct guest g;
};

FIXTURE_SETUP(on)
{
	guest_create(&self->g);
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
	apic_sw_enable(guest_add_vcpu(&self->g));
	apic_sw_enable(guest_add_vcpu(&self->g));
}

FIXTURE_TEARDOWN(on)
{
	guest_destroy(&self->g);
}

/* A software-disabled APIC takes no fixed interrupt. */
TEST_F(chip, disabled_apic_drops)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x71 };
	struct kvm_lapic_state s;

	EXPECT_EQ(0, modvm_ioctl(self->g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[0].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_FALSE(irr_has(&s, 0x71));
}

TEST(capabilities)
{
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },
		{ KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING" },
		{ KVM_CAP_IRQ_INJECT_STATUS, "IRQ_INJECT_STATUS" },
		{ KVM_CAP_IRQFD, "IRQFD" },
		{ KVM_CAP_IRQFD_RESAMPLE, "IRQFD_RESAMPLE" },
		{ KVM_CAP_IOEVENTFD, "IOEVENTFD" },
		{ KVM_CAP_IOEVENTFD_NO_LENGTH, "IOEVENTFD_NO_LENGTH" },
		{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI" },
		{ KVM_CAP_PIT2, "PIT2" },
		{ KVM_CAP_PIT_STATE2, "PIT_STATE2" },
		{ KVM_CAP_SET_BOOT_CPU_ID, "SET_BOOT_CPU_ID" },
		{ KVM_CAP_TSC_DEADLINE_TIMER, "TSC_DEADLINE_TIMER" },
	};
	int dev = modvm_open_device();
	unsigned int i, missing = 0;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (modvm_ioctl(dev, KVM_CHECK_EXTENSION, caps[i].cap) > 0)
			continue;
		fprintf(stderr, "# missing KVM_CAP_%s\n", caps[i].name);
		missing++;
	}
	EXPECT_EQ(0u, missing);
	EXPECT_EQ(4096, modvm_ioctl(dev, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING));
	close(dev);
}

/*
 * x2APIC is emulated whatever the host has; TSC-deadline is left to
 * userspace, which sets it when KVM_CAP_TSC_DEADLINE_TIMER is there.
 */
TEST(supported_cpuid_x2apic)
{
	int dev = modvm_open_device();
	struct kvm_cpuid2 *c = guest_supported_cpuid(dev);
	struct kvm_cpuid_entry2 *e;

	ASSERT_NE(NULL, c);
	e = guest_cpuid_entry(c, 1, 0);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->ecx & (1u << 21));	/* x2APIC */
	EXPECT_FALSE(e->ecx & (1u << 24));	/* TSC-deadline */
	free(c);
	close(dev);
}

TEST(without_irqchip)
{
	struct kvm_irq_routing routing = { 0 };
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x30 };
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_irqfd irqfd = { .gsi = 5 };
	struct kvm_lapic_state lapic;
	struct kvm_pit_state2 pit;
	struct guest g;
	int32_t status;

	guest_create(&g);
	guest_add_vcpu(&g);
	irqfd.fd = eventfd(0, 0);
	EXPECT_EQ(-ENXIO, irq_line(g.vm, 4, 1, &status));
	EXPECT_EQ(-ENXIO, modvm_ioctl(g.vm, KVM_GET_IRQCHIP, (unsigned long)&chip));
	EXPECT_EQ(-ENXIO, modvm_ioctl(g.vm, KVM_SET_IRQCHIP, (unsigned long)&chip));
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&routing));
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&irqfd));
	EXPECT_EQ(-ENXIO, modvm_ioctl(g.vm, KVM_GET_PIT2, (unsigned long)&pit));
	EXPECT_EQ(-ENXIO, modvm_ioctl(g.vm, KVM_SET_PIT2, (unsigned long)&pit));
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vcpus[0].fd, KVM_GET_LAPIC, (unsigned long)&lapic));
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vcpus[0].fd, KVM_SET_LAPIC, (unsigned long)&lapic));
	/* An irqchip comes before the vCPUs, and only once. */
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, 0));
	EXPECT_EQ(-EBUSY, modvm_ioctl(g.vm, KVM_SET_BOOT_CPU_ID, 0));
	close(irqfd.fd);
	guest_destroy(&g);
}

TEST_F(chip, create_twice)
{
	EXPECT_EQ(-EEXIST, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
}

TEST_F(chip, lapic_reset_state)
{
	struct kvm_lapic_state s;

	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[0].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_EQ(0u, reg(&s, APIC_ID));
	EXPECT_EQ(0x50014u, reg(&s, APIC_LVR));
	EXPECT_EQ(0xffu, reg(&s, APIC_SVR));
	EXPECT_EQ(0xffffffffu, reg(&s, APIC_DFR));
	EXPECT_EQ(0x700u, reg(&s, APIC_LVT0));	/* the BSP's virtual wire */
	EXPECT_EQ(0x10000u, reg(&s, APIC_LVT1));
	EXPECT_EQ(0x10000u, reg(&s, APIC_LVTT));
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[1].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_EQ(1u << 24, reg(&s, APIC_ID));
	EXPECT_EQ(0x10000u, reg(&s, APIC_LVT0));
}

TEST_F(chip, lapic_round_trip)
{
	struct kvm_lapic_state s, t;
	uint64_t base;

	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[1].fd, KVM_GET_LAPIC, (unsigned long)&s));
	set_reg(&s, APIC_TPR, 0x20);
	set_reg(&s, APIC_SVR, 0x1ff);
	set_reg(&s, APIC_LDR, 0x04000000);
	set_reg(&s, APIC_DFR, 0x0fffffff);
	set_reg(&s, APIC_LVT0, 0x8731);
	set_reg(&s, APIC_TDCR, 0xb);
	set_reg(&s, APIC_IRR + 0x10, 1u << 3);	/* vector 0x23 */
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[1].fd, KVM_SET_LAPIC, (unsigned long)&s));
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[1].fd, KVM_GET_LAPIC, (unsigned long)&t));
	EXPECT_EQ(0x20u, reg(&t, APIC_TPR));
	EXPECT_EQ(0x1ffu, reg(&t, APIC_SVR));
	EXPECT_EQ(0x04000000u, reg(&t, APIC_LDR));
	EXPECT_EQ(0x0fffffffu, reg(&t, APIC_DFR));
	EXPECT_EQ(0x8731u, reg(&t, APIC_LVT0));
	EXPECT_EQ(0xbu, reg(&t, APIC_TDCR));
	EXPECT_TRUE(irr_has(&t, 0x23));
	EXPECT_EQ(1, guest_get_msr(&self->g.vcpus[1], MSR_APIC_BASE, &base));
	EXPECT_EQ(0xfee00000ull | APIC_BASE_EN, base);
	EXPECT_EQ(1, guest_get_msr(&self->g.vcpus[0], MSR_APIC_BASE, &base));
	EXPECT_EQ(0xfee00000ull | APIC_BASE_EN | APIC_BASE_BSP, base);
}

TEST_F(chip, x2apic_msrs)
{
	struct guest_vcpu *v = &self->g.vcpus[1];
	struct kvm_lapic_state s;
	uint64_t val;

	/* Not in x2APIC mode: its MSRs do not exist. */
	EXPECT_EQ(0, guest_get_msr(v, 0x802, &val));
	ASSERT_EQ(1, guest_set_msr(v, MSR_APIC_BASE,
				   0xfee00000ull | APIC_BASE_EN | APIC_BASE_X2));
	ASSERT_EQ(1, guest_get_msr(v, 0x802, &val));
	EXPECT_EQ(1u, val);			/* x2APIC ID = vCPU id */
	ASSERT_EQ(1, guest_get_msr(v, 0x803, &val));
	EXPECT_EQ(0x50014u, val);
	ASSERT_EQ(1, guest_get_msr(v, 0x80d, &val));
	EXPECT_EQ(2u, val);			/* LDR: cluster 0, bit 1 */
	EXPECT_EQ(1, guest_set_msr(v, 0x808, 0x40));	/* TPR */
	ASSERT_EQ(1, guest_get_msr(v, 0x808, &val));
	EXPECT_EQ(0x40u, val);
	EXPECT_EQ(0, guest_get_msr(v, 0x80e, &val));	/* no DFR in x2APIC */
	/* KVM_GET_LAPIC keeps KVM's xAPIC-style ID position. */
	ASSERT_EQ(0, modvm_ioctl(v->fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_EQ(1u << 24, reg(&s, APIC_ID));
	EXPECT_EQ(0x40u, reg(&s, APIC_TPR));
	/* EXTD without EN is an invalid APIC base. */
	EXPECT_EQ(0, guest_set_msr(v, MSR_APIC_BASE, 0xfee00000ull | APIC_BASE_X2));
}

TEST_F(chip, irqchip_round_trip)
{
	struct kvm_irqchip c, d;
	int i;

	get_chip(self->g.vm, &c, KVM_IRQCHIP_IOAPIC);
	EXPECT_EQ(0xfec00000ull, c.chip.ioapic.base_address);
	for (i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		EXPECT_TRUE(c.chip.ioapic.redirtbl[i].bits & RTE_MASKED);
	c.chip.ioapic.redirtbl[3].bits = 0x0100000000008041ull;
	c.chip.ioapic.id = 5;
	c.chip.ioapic.ioregsel = 0x16;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_IRQCHIP, (unsigned long)&c));
	get_chip(self->g.vm, &d, KVM_IRQCHIP_IOAPIC);
	EXPECT_EQ(0x0100000000008041ull, d.chip.ioapic.redirtbl[3].bits);
	EXPECT_EQ(5u, d.chip.ioapic.id);
	EXPECT_EQ(0x16u, d.chip.ioapic.ioregsel);

	get_chip(self->g.vm, &c, KVM_IRQCHIP_PIC_SLAVE);
	EXPECT_EQ(0xdeu, c.chip.pic.elcr_mask);
	c.chip.pic.imr = 0xa5;
	c.chip.pic.irq_base = 0x70;
	c.chip.pic.elcr = 0x0c;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_IRQCHIP, (unsigned long)&c));
	get_chip(self->g.vm, &d, KVM_IRQCHIP_PIC_SLAVE);
	EXPECT_EQ(0, memcmp(&c.chip.pic, &d.chip.pic, sizeof(c.chip.pic)));
	get_chip(self->g.vm, &d, KVM_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0xf8u, d.chip.pic.elcr_mask);

	c.chip_id = 3;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_GET_IRQCHIP, (unsigned long)&c));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_IRQCHIP, (unsigned long)&c));
}

/* Mask both PICs so that the GSIs below 16 reach the IOAPIC alone. */
static void mask_pics(int vm)
{
	struct kvm_irqchip c;
	int i;

	for (i = KVM_IRQCHIP_PIC_MASTER; i <= KVM_IRQCHIP_PIC_SLAVE; i++) {
		get_chip(vm, &c, i);
		c.chip.pic.imr = 0xff;
		if (modvm_ioctl(vm, KVM_SET_IRQCHIP, (unsigned long)&c))
			abort();
	}
}

static void set_rte(int vm, int pin, uint64_t bits)
{
	struct kvm_irqchip c;

	get_chip(vm, &c, KVM_IRQCHIP_IOAPIC);
	c.chip.ioapic.redirtbl[pin].bits = bits;
	if (modvm_ioctl(vm, KVM_SET_IRQCHIP, (unsigned long)&c))
		abort();
}

TEST_F(on, irq_line_status_edge)
{
	struct kvm_lapic_state s;
	int32_t st;

	mask_pics(self->g.vm);
	/* Masked everywhere: nobody takes it. */
	ASSERT_EQ(0, irq_line(self->g.vm, 5, 1, &st));
	EXPECT_EQ(-1, st);
	ASSERT_EQ(0, irq_line(self->g.vm, 5, 0, &st));
	/* Edge, fixed, physical destination APIC 1, vector 0x41. */
	set_rte(self->g.vm, 5, (1ull << 56) | 0x41);
	ASSERT_EQ(0, irq_line(self->g.vm, 5, 1, &st));
	EXPECT_EQ(1, st);
	/* No new edge while the line stays up: coalesced. */
	ASSERT_EQ(0, irq_line(self->g.vm, 5, 1, &st));
	EXPECT_EQ(0, st);
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[1].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_TRUE(irr_has(&s, 0x41));
	EXPECT_FALSE(reg(&s, APIC_TMR + 0x20) & 2);	/* edge: TMR clear */
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[0].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_FALSE(irr_has(&s, 0x41));
	/* No route for this GSI at all. */
	ASSERT_EQ(0, irq_line(self->g.vm, 100, 1, &st));
	EXPECT_EQ(-1, st);
}

TEST_F(on, irq_line_status_level)
{
	struct kvm_lapic_state s;
	struct kvm_irqchip c;
	int32_t st;

	mask_pics(self->g.vm);
	set_rte(self->g.vm, 20, RTE_LEVEL | 0x52);	/* to APIC 0 */
	ASSERT_EQ(0, irq_line(self->g.vm, 20, 1, &st));
	EXPECT_EQ(1, st);
	get_chip(self->g.vm, &c, KVM_IRQCHIP_IOAPIC);
	EXPECT_TRUE(c.chip.ioapic.redirtbl[20].bits & RTE_REMOTE_IRR);
	EXPECT_TRUE(c.chip.ioapic.irr & (1u << 20));
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[0].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_TRUE(irr_has(&s, 0x52));
	EXPECT_TRUE(reg(&s, APIC_TMR + 0x20) & (1u << 18));	/* level */
	/* Remote IRR set: not sent again until EOI. */
	ASSERT_EQ(0, irq_line(self->g.vm, 20, 0, &st));
	ASSERT_EQ(0, irq_line(self->g.vm, 20, 1, &st));
	EXPECT_EQ(-1, st);
}

TEST_F(on, gsi_routing)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[2];
	} rt;
	struct kvm_lapic_state s;
	int32_t st;

	memset(&rt, 0, sizeof(rt));
	rt.r.nr = 1;
	rt.r.flags = 1;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	rt.r.flags = 0;
	rt.r.nr = 4097;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	rt.r.nr = 1;
	rt.e[0].gsi = 3;
	rt.e[0].type = KVM_IRQ_ROUTING_IRQCHIP;
	rt.e[0].u.irqchip.irqchip = KVM_IRQCHIP_PIC_MASTER;
	rt.e[0].u.irqchip.pin = 8;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	rt.e[0].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
	rt.e[0].u.irqchip.pin = 24;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	rt.e[0].gsi = 4096;
	rt.e[0].u.irqchip.pin = 2;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	/* Two routes of one GSI to the same irqchip. */
	rt.r.nr = 2;
	rt.e[0].gsi = 3;
	rt.e[1] = rt.e[0];
	rt.e[1].u.irqchip.pin = 4;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	rt.e[1].type = 99;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));

	/* GSI 40: an MSI to APIC 1, vector 0x61. */
	memset(&rt, 0, sizeof(rt));
	rt.r.nr = 1;
	rt.e[0].gsi = 40;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee01000;
	rt.e[0].u.msi.data = 0x61;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	ASSERT_EQ(0, irq_line(self->g.vm, 40, 1, &st));
	EXPECT_EQ(1, st);
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[1].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_TRUE(irr_has(&s, 0x61));
	/* The new table replaced the default one: GSI 4 goes nowhere. */
	ASSERT_EQ(0, irq_line(self->g.vm, 4, 1, &st));
	EXPECT_EQ(-1, st);
}

TEST_F(on, signal_msi)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x71 };
	struct kvm_lapic_state s;

	EXPECT_EQ(1, modvm_ioctl(self->g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	ASSERT_EQ(0, modvm_ioctl(self->g.vcpus[0].fd, KVM_GET_LAPIC, (unsigned long)&s));
	EXPECT_TRUE(irr_has(&s, 0x71));
	/* Broadcast: both APICs. */
	msi.address_lo = 0xfeeff000;
	msi.data = 0x72;
	EXPECT_EQ(2, modvm_ioctl(self->g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	/* No APIC 7: taken by nobody, 0 (KVM's answer from its APIC map). */
	msi.address_lo = 0xfee07000;
	EXPECT_EQ(0, modvm_ioctl(self->g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	msi.flags = 2;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
}

TEST(boot_cpu_id)
{
	struct guest g;
	uint64_t base;

	guest_create(&g);
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, 0));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_SET_BOOT_CPU_ID, 1));
	guest_add_vcpu(&g);
	guest_add_vcpu(&g);
	ASSERT_EQ(1, guest_get_msr(&g.vcpus[0], MSR_APIC_BASE, &base));
	EXPECT_FALSE(base & APIC_BASE_BSP);
	ASSERT_EQ(1, guest_get_msr(&g.vcpus[1], MSR_APIC_BASE, &base));
	EXPECT_TRUE(base & APIC_BASE_BSP);
	EXPECT_EQ(-EBUSY, modvm_ioctl(g.vm, KVM_SET_BOOT_CPU_ID, 0));
	guest_destroy(&g);
}

TEST(pit2)
{
	struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct kvm_pit_state2 s, t;
	struct guest g;
	int i;

	guest_create(&g);
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, 0));
	EXPECT_EQ(-ENXIO, modvm_ioctl(g.vm, KVM_GET_PIT2, (unsigned long)&s));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_CREATE_PIT2, (unsigned long)&cfg));
	EXPECT_EQ(-EEXIST, modvm_ioctl(g.vm, KVM_CREATE_PIT2, (unsigned long)&cfg));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_GET_PIT2, (unsigned long)&s));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0x10000u, s.channels[i].count);
		EXPECT_EQ(i != 2, s.channels[i].gate);
	}
	s.channels[0].mode = 2;
	s.channels[0].count = 1193;
	s.channels[0].rw_mode = 3;
	s.channels[0].read_state = 3;
	s.channels[0].write_state = 3;
	s.channels[2].mode = 3;
	s.channels[2].count = 0x1234;
	s.channels[2].gate = 1;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_SET_PIT2, (unsigned long)&s));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_GET_PIT2, (unsigned long)&t));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(s.channels[i].count, t.channels[i].count);
		EXPECT_EQ(s.channels[i].mode, t.channels[i].mode);
		EXPECT_EQ(s.channels[i].gate, t.channels[i].gate);
		EXPECT_EQ(s.channels[i].rw_mode, t.channels[i].rw_mode);
		EXPECT_EQ(s.channels[i].read_state, t.channels[i].read_state);
	}
	guest_destroy(&g);
}

TEST(ioeventfd_errno)
{
	struct kvm_ioeventfd io = { .addr = 0x10000000, .len = 4 };
	struct guest g;

	guest_create(&g);
	io.fd = eventfd(0, 0);
	io.len = 3;
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.len = 0;
	io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.flags = 1u << 7;
	io.len = 4;
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.flags = 0;
	io.addr = ~0ull - 1;
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.addr = 0x10000000;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	EXPECT_EQ(-EEXIST, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	/* A different datamatch at the same place collides with a wildcard. */
	io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
	io.datamatch = 7;
	EXPECT_EQ(-EEXIST, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	/* The same address on the PIO bus is another registration. */
	io.flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH;
	io.addr = 0x500;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.datamatch = 8;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	EXPECT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	EXPECT_EQ(-ENOENT, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	io.fd = 1000;
	EXPECT_EQ(-EBADF, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&io));
	guest_destroy(&g);
}

TEST(irqfd_errno)
{
	struct kvm_irqfd f = { .gsi = 5 };
	struct guest g;
	int efd = eventfd(0, 0), rfd = eventfd(0, 0);

	guest_create(&g);
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, 0));
	f.fd = efd;
	f.flags = 4;
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.flags = 0;
	f.fd = 1000;
	EXPECT_EQ(-EBADF, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.fd = 0;	/* not an eventfd */
	EXPECT_EQ(-EINVAL, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.fd = efd;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.gsi = 6;
	EXPECT_EQ(-EBUSY, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.fd = rfd;
	f.flags = KVM_IRQFD_FLAG_RESAMPLE;
	f.resamplefd = efd;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.flags = KVM_IRQFD_FLAG_DEASSIGN;
	EXPECT_EQ(0, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	f.fd = efd;
	f.gsi = 5;
	EXPECT_EQ(0, modvm_ioctl(g.vm, KVM_IRQFD, (unsigned long)&f));
	guest_destroy(&g);
	close(efd);
	close(rfd);
}

TEST_HARNESS_MAIN
