// SPDX-License-Identifier: GPL-2.0
/*
 * Instructions the backends intercept so that the guest cannot reach
 * host state: RDPMC (no PMU is offered; the counters are the host's) and
 * MOV to CR4 (only the bits modvm supports; AMD-V has no guest/host mask,
 * so modvm checks and completes the write itself there).
 */
#include "kselftest_harness.h"
#include "guest.h"

#define CR4_PAE		0x20
#define CR4_PGE		0x80

GUEST_ASM(rdpmc_guest,
	".code64\n"
	"xor %ecx, %ecx\n"
	".globl rdpmc_insn\n"
	"rdpmc_insn: rdpmc\n"
	G_CALL(GUEST_DONE));
extern const unsigned char rdpmc_insn[];

/*
 * Toggle CR4.PGE through R9 (a REX-encoded MOV), report the old value in
 * RBX and what reads back in RCX; then clear PAE in long mode and set
 * reserved bit 25, each of which must #GP; then restore CR4. (R12 keeps
 * CR4: the exception stubs clobber RAX, RBX, RCX and RDX.)
 */
GUEST_ASM(cr4_guest,
	".code64\n"
	"mov %cr4, %rbx\n"
	"mov %rbx, %r9\n"
	"xor $" GUEST_XSTR(CR4_PGE) ", %r9\n"
	"mov %r9, %cr4\n"
	"mov %cr4, %rcx\n"
	G_CALL(GUEST_REPORT)
	"mov %cr4, %r12\n"
	"mov %r12, %rax\n"
	"and $~" GUEST_XSTR(CR4_PAE) ", %rax\n"
	".globl cr4_clear_pae\n"
	"cr4_clear_pae: mov %rax, %cr4\n"
	"mov %r12, %rax\n"
	"bts $25, %rax\n"
	".globl cr4_reserved\n"
	"cr4_reserved: mov %rax, %cr4\n"
	"mov %r12, %r9\n"
	"xor $" GUEST_XSTR(CR4_PGE) ", %r9\n"
	"mov %r9, %cr4\n"
	G_CALL(GUEST_DONE));
extern const unsigned char cr4_clear_pae[], cr4_reserved[];

#define GUEST_RIP(blob, label)	(GUEST_CODE + (uint64_t)((label) - (blob)))

FIXTURE(intercepts) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(intercepts)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(intercepts)
{
	guest_destroy(&self->g);
}

TEST_F(intercepts, rdpmc)
{
	struct kvm_regs regs;
	long r;

	guest_load(&self->g, rdpmc_guest, rdpmc_guest_end);
	guest_set_fault_skip(&self->g, 2);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	r = guest_call(self->v, &regs);
	if (!modvm_is_modvm()) {
		/* KVM offers a virtual PMU where the host has perf counters. */
		EXPECT_TRUE(r == GUEST_DONE || (r == GUEST_EXCEPTION && regs.rbx == 13))
			TH_LOG("call %ld", r);
		return;
	}
	/* modvm offers no PMU: counter 0 does not exist. */
	ASSERT_EQ(GUEST_EXCEPTION, r);
	EXPECT_EQ(13, regs.rbx);
	EXPECT_EQ(0, regs.rcx);
	EXPECT_EQ(GUEST_RIP(rdpmc_guest, rdpmc_insn), regs.rdx);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

TEST_F(intercepts, mov_to_cr4)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t cr4;

	guest_load(&self->g, cr4_guest, cr4_guest_end);
	guest_set_fault_skip(&self->g, 3);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	guest_get_sregs(self->v, &sregs);
	cr4 = sregs.cr4;

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs))
		TH_LOG("vector %lld at %llx", regs.rbx, regs.rdx);
	EXPECT_EQ(cr4, regs.rbx);
	EXPECT_EQ(cr4 ^ CR4_PGE, regs.rcx);
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(cr4 ^ CR4_PGE, sregs.cr4);

	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(13, regs.rbx);
	EXPECT_EQ(GUEST_RIP(cr4_guest, cr4_clear_pae), regs.rdx);
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(13, regs.rbx);
	EXPECT_EQ(GUEST_RIP(cr4_guest, cr4_reserved), regs.rdx);

	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(cr4, sregs.cr4);
}

TEST_HARNESS_MAIN
