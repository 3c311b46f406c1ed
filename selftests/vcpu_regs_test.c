// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_GET/SET_REGS, KVM_GET/SET_SREGS and KVM_GET/SET_DEBUGREGS: round
 * trips, values seen by the guest, and the errno of bad arguments.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

/* Add one to every GPR but RAX/RSP, read DR0 and DR7, then call. */
GUEST_ASM(inc_guest,
	".code64\n"
	".irp r, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15\n"
	"inc %\\r\n"
	".endr\n"
	"mov %dr0, %rax\n mov %rax, " GUEST_XSTR(GUEST_DATA) "\n"
	"mov %dr7, %rax\n mov %rax, " GUEST_XSTR(GUEST_DATA) " + 8\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));

FIXTURE(regs) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(regs)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	guest_load(&self->g, inc_guest, inc_guest_end);
}

FIXTURE_TEARDOWN(regs)
{
	guest_destroy(&self->g);
}

TEST_F(regs, regs_round_trip_and_guest_view)
{
	struct kvm_regs set, got;

	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	guest_get_regs(self->v, &set);
	set.rax = 0x1111111111111111ull;
	set.rbx = 0x2222222222222222ull;
	set.rcx = 0x3333333333333333ull;
	set.rdx = 0x4444444444444444ull;
	set.rsi = 0x5555555555555555ull;
	set.rdi = 0x6666666666666666ull;
	set.rsp = GUEST_STACK - 0x100;
	set.rbp = 0x7777777777777777ull;
	set.r8 = 0x8888888888888888ull;
	set.r9 = 0x9999999999999999ull;
	set.r10 = 0xaaaaaaaaaaaaaaaaull;
	set.r11 = 0xbbbbbbbbbbbbbbbbull;
	set.r12 = 0xccccccccccccccccull;
	set.r13 = 0xddddddddddddddddull;
	set.r14 = 0xeeeeeeeeeeeeeeeeull;
	set.r15 = 0xfffffffffffffffeull;
	set.rflags = 0x2 | 0x4 | 0x80;	/* PF, SF */
	guest_set_regs(self->v, &set);
	guest_get_regs(self->v, &got);
	EXPECT_EQ(0, memcmp(&set, &got, sizeof(set)));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &got));
	EXPECT_EQ(set.rbx + 1, got.rbx);
	EXPECT_EQ(set.rcx + 1, got.rcx);
	EXPECT_EQ(set.rdx + 1, got.rdx);
	EXPECT_EQ(set.rsi + 1, got.rsi);
	EXPECT_EQ(set.rdi + 1, got.rdi);
	EXPECT_EQ(set.rbp + 1, got.rbp);
	EXPECT_EQ(set.r8 + 1, got.r8);
	EXPECT_EQ(set.r9 + 1, got.r9);
	EXPECT_EQ(set.r10 + 1, got.r10);
	EXPECT_EQ(set.r11 + 1, got.r11);
	EXPECT_EQ(set.r12 + 1, got.r12);
	EXPECT_EQ(set.r13 + 1, got.r13);
	EXPECT_EQ(set.r14 + 1, got.r14);
	EXPECT_EQ(set.r15 + 1, got.r15);
	EXPECT_EQ(set.rsp, got.rsp);
	EXPECT_EQ(GUEST_REPORT, got.rax);
}

TEST_F(regs, sregs_round_trip)
{
	struct kvm_sregs set, got;

	guest_mode_sregs(self->v, GUEST_MODE_LONG64, &set);
	set.cr8 = 5;
	set.apic_base = 0xfee00900;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&set));
	guest_get_sregs(self->v, &got);
	EXPECT_EQ(set.cr0, got.cr0);
	EXPECT_EQ(set.cr3, got.cr3);
	EXPECT_EQ(set.cr4, got.cr4);
	EXPECT_EQ(set.efer, got.efer);
	EXPECT_EQ(5, got.cr8);
	EXPECT_EQ(set.gdt.base, got.gdt.base);
	EXPECT_EQ(set.gdt.limit, got.gdt.limit);
	EXPECT_EQ(set.idt.base, got.idt.base);
	EXPECT_EQ(set.idt.limit, got.idt.limit);
	EXPECT_EQ(GUEST_SEL_CODE64, got.cs.selector);
	EXPECT_EQ(1, got.cs.l);
	EXPECT_EQ(0, got.cs.db);
	EXPECT_EQ(GUEST_SEL_DATA, got.ss.selector);
	EXPECT_EQ(set.tr.base, got.tr.base);
	EXPECT_EQ(set.tr.limit, got.tr.limit);
	EXPECT_EQ(11, got.tr.type);
}

TEST_F(regs, sregs_invalid)
{
	struct kvm_sregs s;

	/* EFER.LMA without paging. */
	guest_mode_sregs(self->v, GUEST_MODE_LONG64, &s);
	s.cr0 &= ~(1ull << 31);
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&s));
	/* Long mode paging without CR4.PAE. */
	guest_mode_sregs(self->v, GUEST_MODE_LONG64, &s);
	s.cr4 &= ~(1ull << 5);
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&s));
	/* A reserved CR4 bit. */
	guest_mode_sregs(self->v, GUEST_MODE_LONG64, &s);
	s.cr4 |= 1ull << 63;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&s));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_SET_SREGS, 8));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_SET_REGS, 8));
}

TEST_F(regs, debugregs)
{
	struct kvm_debugregs set, got;
	uint64_t *seen = guest_ptr(&self->g, GUEST_DATA);
	struct kvm_regs regs;

	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	memset(&got, 0xff, sizeof(got));
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_DEBUGREGS, (unsigned long)&got));
	EXPECT_EQ(0xffff0ff0, got.dr6);		/* reset values */
	EXPECT_EQ(0x400, got.dr7);
	EXPECT_EQ(0, got.flags);

	memset(&set, 0, sizeof(set));
	set.db[0] = 0x123000;
	set.db[1] = 0x7fff00001000ull;
	set.db[2] = 0x2;
	set.db[3] = 0xffffffff81000000ull;
	set.dr6 = 0xffff0ff1;			/* B0 */
	set.dr7 = 0x400 | 0x2 | 0xf0000;	/* G0, RW0 = LEN0 = 3 */
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_DEBUGREGS, (unsigned long)&set));
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_DEBUGREGS, (unsigned long)&got));
	EXPECT_EQ(0, memcmp(set.db, got.db, sizeof(set.db)));
	EXPECT_EQ(set.dr6, got.dr6);
	EXPECT_EQ(set.dr7, got.dr7);

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(set.db[0], seen[0]);
	EXPECT_EQ(set.dr7, seen[1]);

	/* Bad arguments. */
	set.flags = 1;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_DEBUGREGS, (unsigned long)&set));
	set.flags = 0;
	set.dr6 = 1ull << 32;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_DEBUGREGS, (unsigned long)&set));
	set.dr6 = 0xffff0ff0;
	set.dr7 = 1ull << 32;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_DEBUGREGS, (unsigned long)&set));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_GET_DEBUGREGS, 8));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_SET_DEBUGREGS, 8));
}

TEST_HARNESS_MAIN
