// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupts from outside the guest to its local APIC: IOAPIC pins the
 * guest programs through MMIO, raised with KVM_IRQ_LINE, edge and level
 * (Remote IRR until the EOI, sent again while the line stays up); MSIs
 * with KVM_SIGNAL_MSI and through a GSI route; irqfds, edge and with
 * KVM_IRQFD_FLAG_RESAMPLE.
 *
 * The guest handler reports each interrupt twice, before and after its
 * EOI, so the host checks the devices in both states and lines up the
 * next interrupt before the guest goes back to HLT.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "apic.h"

#define S(x)		GUEST_XSTR(x)
#define COUNTS		GUEST_DATA		/* u64 per vector */
#define PINS		(GUEST_DATA + 0x800)	/* {pin, lo, hi, 0}, pin 0xff ends */
#define VERSION		(GUEST_DATA + 0xc00)
#define READY		0xffff
#define VEC_EDGE	0x50			/* IOAPIC pin 10 */
#define VEC_LEVEL	0x51			/* IOAPIC pin 11 */
#define VEC_MSI		0x52
#define VEC_ROUTED	0x53
#define VEC_END		0x5f
#define PIN_EDGE	10
#define PIN_LEVEL	11

#define GUEST_BLOB irq_guest
GUEST_ASM(irq_guest,
	".code64\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $" S(APIC_SVR_ON) ", " S(APIC_SVR) "(%rsi)\n"
	/* GSIs below 16 reach the PIC too: no ExtINT through LINT0. */
	"movl $" S(LVT_MASKED) ", " S(APIC_LVT0) "(%rsi)\n"
	"mov $" S(GUEST_IOAPIC) ", %edi\n"
	"mov $" S(PINS) ", %ebx\n"
	"1: mov (%rbx), %eax\n cmp $0xff, %eax\n je 2f\n"
	"lea 0x10(,%rax,2), %ecx\n"
	"mov %ecx, (%rdi)\n mov 4(%rbx), %edx\n mov %edx, 0x10(%rdi)\n"
	"inc %ecx\n"
	"mov %ecx, (%rdi)\n mov 8(%rbx), %edx\n mov %edx, 0x10(%rdi)\n"
	"add $16, %rbx\n jmp 1b\n"
	"2: movl $1, (%rdi)\n mov 0x10(%rdi), %eax\n mov %eax, " S(VERSION) "\n"
	"mov $" S(READY) ", %ebx\n"
	G_CALL(GUEST_REPORT)
	"3: sti\n hlt\n jmp 3b\n"

	".balign 16\n"
	"irq_stubs:\n"
	".irp v, 0x50,0x51,0x52,0x53,0x54,0x55,0x56,0x57,0x58,0x59,0x5a,0x5b,0x5c,0x5d,0x5e,0x5f\n"
	".balign 16\n"
	"push %rbx\n mov $\\v, %ebx\n jmp irq_common\n"
	".endr\n"
	"irq_common:\n"
	"push %rax\n push %rcx\n push %rsi\n"
	"incq " S(COUNTS) "(,%rbx,8)\n"
	"cmp $" S(VEC_END) ", %ebx\n jne 4f\n"
	G_CALL(GUEST_DONE)
	"4: xor %ecx, %ecx\n"
	G_CALL(GUEST_REPORT)
	"mov $" S(GUEST_LAPIC) ", %esi\n movl $0, " S(APIC_EOI) "(%rsi)\n"
	"mov $1, %ecx\n"
	G_CALL(GUEST_REPORT)
	"pop %rsi\n pop %rcx\n pop %rax\n pop %rbx\n"
	"iretq\n");
#undef GUEST_BLOB

extern const unsigned char irq_stubs[];

FIXTURE(irq) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(irq)
{
	uint32_t *pins;
	struct kvm_regs regs;
	int vec;

	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
	self->v = guest_add_vcpu(&self->g);
	guest_load(&self->g, irq_guest, irq_guest_end);
	for (vec = VEC_EDGE; vec <= VEC_END; vec++)
		guest_set_gate(&self->g, vec,
			       LABEL_GPA(irq_guest, irq_stubs) + 16 * (vec - VEC_EDGE));
	/* Pin 10 edge, pin 11 level (active high), both fixed to APIC 0. */
	pins = guest_ptr(&self->g, PINS);
	pins[0] = PIN_EDGE;
	pins[1] = VEC_EDGE;
	pins[2] = 0;
	pins[4] = PIN_LEVEL;
	pins[5] = VEC_LEVEL | 0x8000;
	pins[6] = 0;
	pins[8] = 0xff;
	ASSERT_EQ(0, apic_long_mode(self->v, GUEST_CODE));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	ASSERT_EQ(READY, regs.rbx);
	/* 24 pins, version 0x11, read through IOREGSEL/IOWIN. */
	EXPECT_EQ(0x170011u, *(uint32_t *)guest_ptr(&self->g, VERSION));
}

FIXTURE_TEARDOWN(irq)
{
	guest_destroy(&self->g);
}

static uint64_t count(struct guest *g, int vec)
{
	return *(uint64_t *)guest_ptr(g, COUNTS + 8 * vec);
}

/* Run to the handler's report of @vec before (@after 0) or after EOI. */
static void expect_report(struct __test_metadata *_metadata, struct guest_vcpu *v,
			  int vec, int after)
{
	struct kvm_regs regs;

	ASSERT_EQ(GUEST_REPORT, guest_call(v, &regs));
	EXPECT_EQ(vec, (int)regs.rbx);
	EXPECT_EQ(after, (int)regs.rcx);
}

static void irq_line(struct __test_metadata *_metadata, int vm, int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	ASSERT_EQ(0, modvm_ioctl(vm, KVM_IRQ_LINE, (unsigned long)&l));
}

static uint64_t rte(struct guest *g, int pin, uint32_t *irr)
{
	struct kvm_irqchip c = { .chip_id = KVM_IRQCHIP_IOAPIC };

	if (modvm_ioctl(g->vm, KVM_GET_IRQCHIP, (unsigned long)&c))
		abort();
	*irr = c.chip.ioapic.irr;
	return c.chip.ioapic.redirtbl[pin].bits;
}

static void end_guest(struct __test_metadata *_metadata, struct guest *g,
		      struct guest_vcpu *v)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = VEC_END };

	ASSERT_EQ(1, modvm_ioctl(g->vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	ASSERT_EQ(GUEST_DONE, guest_call(v, NULL));
}

TEST_F_TIMEOUT(irq, ioapic_edge_and_level, 120)
{
	uint32_t irr;
	uint64_t e;

	/* The guest programmed the table through MMIO. */
	e = rte(&self->g, PIN_EDGE, &irr);
	EXPECT_EQ((uint64_t)VEC_EDGE, e);
	e = rte(&self->g, PIN_LEVEL, &irr);
	EXPECT_EQ((uint64_t)(VEC_LEVEL | 0x8000), e);

	irq_line(_metadata, self->g.vm, PIN_EDGE, 1);
	irq_line(_metadata, self->g.vm, PIN_EDGE, 0);
	expect_report(_metadata, self->v, VEC_EDGE, 0);
	expect_report(_metadata, self->v, VEC_EDGE, 1);
	EXPECT_EQ(1u, count(&self->g, VEC_EDGE));

	/* Level: Remote IRR until EOI; the line still up sends it again. */
	irq_line(_metadata, self->g.vm, PIN_LEVEL, 1);
	expect_report(_metadata, self->v, VEC_LEVEL, 0);
	e = rte(&self->g, PIN_LEVEL, &irr);
	EXPECT_TRUE(e & (1 << 14));
	EXPECT_TRUE(irr & (1 << PIN_LEVEL));
	expect_report(_metadata, self->v, VEC_LEVEL, 1);
	expect_report(_metadata, self->v, VEC_LEVEL, 0);
	EXPECT_EQ(2u, count(&self->g, VEC_LEVEL));
	irq_line(_metadata, self->g.vm, PIN_LEVEL, 0);
	expect_report(_metadata, self->v, VEC_LEVEL, 1);
	e = rte(&self->g, PIN_LEVEL, &irr);
	EXPECT_FALSE(e & (1 << 14));
	EXPECT_FALSE(irr & (1 << PIN_LEVEL));
	end_guest(_metadata, &self->g, self->v);
	EXPECT_EQ(2u, count(&self->g, VEC_LEVEL));
	EXPECT_EQ(1u, count(&self->g, VEC_EDGE));
}

TEST_F_TIMEOUT(irq, msi, 120)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = VEC_MSI };
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} rt = { .r.nr = 1 };

	ASSERT_EQ(1, modvm_ioctl(self->g.vm, KVM_SIGNAL_MSI, (unsigned long)&msi));
	expect_report(_metadata, self->v, VEC_MSI, 0);
	expect_report(_metadata, self->v, VEC_MSI, 1);

	rt.e[0].gsi = 30;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee00000;
	rt.e[0].u.msi.data = VEC_ROUTED;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_GSI_ROUTING, (unsigned long)&rt));
	irq_line(_metadata, self->g.vm, 30, 1);
	irq_line(_metadata, self->g.vm, 30, 0);
	expect_report(_metadata, self->v, VEC_ROUTED, 0);
	expect_report(_metadata, self->v, VEC_ROUTED, 1);
	end_guest(_metadata, &self->g, self->v);
	EXPECT_EQ(1u, count(&self->g, VEC_MSI));
	EXPECT_EQ(1u, count(&self->g, VEC_ROUTED));
}

TEST_F_TIMEOUT(irq, irqfd, 120)
{
	struct kvm_irqfd f = { .gsi = PIN_EDGE };
	uint64_t one = 1, val;
	uint32_t irr;
	int efd = eventfd(0, 0), lfd = eventfd(0, 0), rfd = eventfd(0, EFD_NONBLOCK);

	f.fd = efd;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_IRQFD, (unsigned long)&f));
	ASSERT_EQ(8, write(efd, &one, 8));
	expect_report(_metadata, self->v, VEC_EDGE, 0);
	expect_report(_metadata, self->v, VEC_EDGE, 1);

	/* Resample: the level stays up until the EOI, then rfd fires. */
	f.gsi = PIN_LEVEL;
	f.fd = lfd;
	f.flags = KVM_IRQFD_FLAG_RESAMPLE;
	f.resamplefd = rfd;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_IRQFD, (unsigned long)&f));
	ASSERT_EQ(8, write(lfd, &one, 8));
	expect_report(_metadata, self->v, VEC_LEVEL, 0);
	EXPECT_TRUE(rte(&self->g, PIN_LEVEL, &irr) & (1 << 14));
	EXPECT_EQ(-1, read(rfd, &val, 8));
	expect_report(_metadata, self->v, VEC_LEVEL, 1);
	ASSERT_EQ(8, read(rfd, &val, 8));
	EXPECT_EQ(1u, val);
	EXPECT_FALSE(rte(&self->g, PIN_LEVEL, &irr) & (1 << 14));
	EXPECT_FALSE(irr & (1 << PIN_LEVEL));

	/* Deassigned: a signal raises nothing. */
	f.gsi = PIN_EDGE;
	f.fd = efd;
	f.flags = KVM_IRQFD_FLAG_DEASSIGN;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_IRQFD, (unsigned long)&f));
	ASSERT_EQ(8, write(efd, &one, 8));
	end_guest(_metadata, &self->g, self->v);
	EXPECT_EQ(1u, count(&self->g, VEC_EDGE));
	EXPECT_EQ(1u, count(&self->g, VEC_LEVEL));
	close(efd);
	close(lfd);
	close(rfd);
}

TEST_HARNESS_MAIN
