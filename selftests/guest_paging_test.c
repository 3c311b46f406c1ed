// SPDX-License-Identifier: GPL-2.0
/*
 * The guest page-table walk done for the guest, not by the CPU: an INS
 * writes guest memory only when its IN completes, through the walker.
 * Accessed/dirty bits set in the guest's entry, reserved bits and SMAP
 * faulting with the error codes the CPU would give.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define DST		0x300000	/* mapped by the second 2 MiB PDE */
#define PDE_INDEX	(DST >> 21)
#define PTE_P		0x1ull
#define PTE_RW		0x2ull
#define PTE_U		0x4ull
#define PTE_A		0x20ull
#define PTE_D		0x40ull
#define PTE_PS		0x80ull
#define RFLAGS_AC	(1ull << 18)
#define CR4_SMAP	(1ull << 21)

GUEST_ASM(ins_guest,
	".code64\n"
	"mov $" GUEST_XSTR(DST) ", %edi\n"
	"mov $0x73, %dx\n"
	".globl paging_ins_at\n"
	"paging_ins_at:\n"
	"insb\n"
	G_CALL(GUEST_DONE));
extern const unsigned char paging_ins_at[];

FIXTURE(paging) {
	struct guest g;
	struct guest_vcpu *v;
	uint64_t *pde;
};

FIXTURE_SETUP(paging)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	self->pde = (uint64_t *)guest_ptr(&self->g, GUEST_PD64) + PDE_INDEX;
	guest_load(&self->g, ins_guest, ins_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
}

FIXTURE_TEARDOWN(paging)
{
	guest_destroy(&self->g);
}

/* Run to the INS exit and hand it 0x5a; returns the next guest call. */
static long ins_exit(struct __test_metadata *_metadata,
		     FIXTURE_DATA(paging) *self, struct kvm_regs *regs)
{
	struct kvm_run *run = self->v->run;

	EXPECT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_IO, run->exit_reason);
	EXPECT_EQ(KVM_EXIT_IO_IN, run->io.direction);
	EXPECT_EQ(0x73, run->io.port);
	*(uint8_t *)guest_io_data(self->v) = 0x5a;
	return guest_call(self->v, regs);
}

TEST_F(paging, accessed_and_dirty_set)
{
	struct kvm_regs regs;

	ASSERT_EQ(0, *self->pde & (PTE_A | PTE_D));
	ASSERT_EQ(GUEST_DONE, ins_exit(_metadata, self, &regs));
	EXPECT_EQ(0x5a, *(uint8_t *)guest_ptr(&self->g, DST));
	EXPECT_EQ(PTE_A | PTE_D, *self->pde & (PTE_A | PTE_D));
}

/* PDE bit 13 is reserved in a 2 MiB leaf: #PF with P, W and RSVD. */
TEST_F(paging, reserved_bit_faults)
{
	struct kvm_regs regs;

	*self->pde |= 1ull << 13;
	ASSERT_EQ(GUEST_EXCEPTION, ins_exit(_metadata, self, &regs));
	EXPECT_EQ(14, regs.rbx);
	EXPECT_EQ(0xb, regs.rcx);
	EXPECT_EQ(GUEST_CODE + (paging_ins_at - ins_guest), regs.rdx);
	EXPECT_EQ(0, *self->pde & PTE_A);	/* no A/D on a faulting walk */
	EXPECT_EQ(0, *(uint8_t *)guest_ptr(&self->g, DST));
}

/*
 * CR4.SMAP on and the destination a user page. Where the CPU has no SMAP
 * (bochs Haswell), the guest CPUID has none either and KVM_SET_SREGS
 * refuses CR4.SMAP, checked here; then false.
 */
static bool smap_setup(struct __test_metadata *_metadata,
		       FIXTURE_DATA(paging) *self)
{
	struct kvm_cpuid2 *cpuid = guest_supported_cpuid(self->g.dev);
	struct kvm_cpuid_entry2 *e = guest_cpuid_entry(cpuid, 7, 0);
	bool smap = e && (e->ebx & (1u << 20));
	struct kvm_sregs sregs;

	free(cpuid);
	guest_get_sregs(self->v, &sregs);
	sregs.cr4 |= CR4_SMAP;
	if (!smap) {
		EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_SREGS,
					       (unsigned long)&sregs));
		TH_LOG("no SMAP in this CPU: CR4.SMAP refused, as it must be");
		return false;
	}
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&sregs));
	((uint64_t *)guest_ptr(&self->g, GUEST_PML4))[0] |= PTE_U;
	((uint64_t *)guest_ptr(&self->g, GUEST_PDPT))[0] |= PTE_U;
	*self->pde |= PTE_U;
	return true;
}

/* A user page written at CPL 0 with CR4.SMAP: #PF with P and W. */
TEST_F(paging, smap_faults)
{
	struct kvm_regs regs;

	if (!smap_setup(_metadata, self))
		return;
	ASSERT_EQ(GUEST_EXCEPTION, ins_exit(_metadata, self, &regs));
	EXPECT_EQ(14, regs.rbx);
	EXPECT_EQ(0x3, regs.rcx);
	EXPECT_EQ(0, *(uint8_t *)guest_ptr(&self->g, DST));
}

/* The same with RFLAGS.AC set: the write goes through. */
TEST_F(paging, smap_allows_with_ac)
{
	struct kvm_regs regs;

	if (!smap_setup(_metadata, self))
		return;
	guest_get_regs(self->v, &regs);
	regs.rflags |= RFLAGS_AC;
	guest_set_regs(self->v, &regs);
	ASSERT_EQ(GUEST_DONE, ins_exit(_metadata, self, &regs));
	EXPECT_EQ(0x5a, *(uint8_t *)guest_ptr(&self->g, DST));
}

TEST_HARNESS_MAIN
