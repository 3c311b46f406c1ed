// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory through the userspace mapping: writes seen both ways, host
 * munmap/mmap and madvise(MADV_DONTNEED) seen by the guest, and accesses
 * outside every memslot.
 */
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "guest.h"

#define PAGE		0x1000
#define TARGET		(GUEST_DATA + 0x10000)	/* a page of its own */
#define HOLE		0x10000000		/* no memslot here */

/*
 * Each round the guest reads the u64 at TARGET into RBX, writes RBX + 1
 * back, reads TARGET + 8 into RCX and reports; the host checks and changes
 * things between rounds.
 */
GUEST_ASM(mem_guest,
	".code64\n"
	"1: mov " GUEST_XSTR(TARGET) ", %rbx\n"
	"lea 1(%rbx), %rax\n"
	"mov %rax, " GUEST_XSTR(TARGET) "\n"
	"mov " GUEST_XSTR(TARGET) " + 8, %rcx\n"
	G_CALL(GUEST_REPORT)
	"jmp 1b\n");

/* A 4-byte read then a 4-byte write outside every memslot. */
GUEST_ASM(hole_guest,
	".code64\n"
	"mov " GUEST_XSTR(HOLE) ", %ebx\n"
	G_CALL(GUEST_REPORT)
	"movl $0xabcdef01, " GUEST_XSTR(HOLE) " + 0x10\n"
	G_CALL(GUEST_DONE));

/* Each round: read the u64 at HOLE into RBX and report. */
GUEST_ASM(slot_guest,
	".code64\n"
	"1: mov " GUEST_XSTR(HOLE) ", %rbx\n"
	G_CALL(GUEST_REPORT)
	"jmp 1b\n");

FIXTURE(mem) {
	struct guest g;
	struct guest_vcpu *v;
	uint64_t *target;
};

FIXTURE_SETUP(mem)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	self->target = guest_ptr(&self->g, TARGET);
}

FIXTURE_TEARDOWN(mem)
{
	guest_destroy(&self->g);
}

static void start(struct __test_metadata *_metadata, FIXTURE_DATA(mem) *self)
{
	guest_load(&self->g, mem_guest, mem_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
}

TEST_F(mem, writes_both_ways)
{
	struct kvm_regs regs;

	start(_metadata, self);
	self->target[0] = 0x1000;
	self->target[1] = 0x1111;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x1000, regs.rbx);
	EXPECT_EQ(0x1111, regs.rcx);
	EXPECT_EQ(0x1001, self->target[0]);	/* the guest's write */
	self->target[0] = 0x2000;
	self->target[1] = 0x2222;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x2000, regs.rbx);
	EXPECT_EQ(0x2222, regs.rcx);
	EXPECT_EQ(0x2001, self->target[0]);
}

TEST_F(mem, madv_dontneed_reads_zero)
{
	struct kvm_regs regs;

	start(_metadata, self);
	self->target[0] = 0x77;
	self->target[1] = 0x88;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x77, regs.rbx);
	ASSERT_EQ(0, madvise(self->target, PAGE, MADV_DONTNEED));
	EXPECT_EQ(0, self->target[0]);
	/* The guest sees the fresh zero page, and its write lands in it. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0, regs.rbx);
	EXPECT_EQ(0, regs.rcx);
	EXPECT_EQ(1, self->target[0]);
	/* And a host write after that is seen too. */
	self->target[1] = 0x99;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(1, regs.rbx);
	EXPECT_EQ(0x99, regs.rcx);
}

TEST_F(mem, munmap_and_remap)
{
	struct kvm_regs regs;
	void *p;

	start(_metadata, self);
	self->target[0] = 0x10;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x10, regs.rbx);
	/* A new page at the same address, with new data. */
	ASSERT_EQ(0, munmap(self->target, PAGE));
	p = mmap(self->target, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(self->target, p);
	self->target[0] = 0x500;
	self->target[1] = 0x600;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x500, regs.rbx);
	EXPECT_EQ(0x600, regs.rcx);
	EXPECT_EQ(0x501, self->target[0]);
}

/* With the page unmapped, KVM_RUN fails with EFAULT until it is back. */
TEST_F(mem, munmap_without_remap_is_efault)
{
	struct kvm_regs regs;
	void *p;

	start(_metadata, self);
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	ASSERT_EQ(0, munmap(self->target, PAGE));
	EXPECT_EQ(-EFAULT, guest_run(self->v));
	EXPECT_EQ(-EFAULT, guest_run(self->v));
	p = mmap(self->target, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(self->target, p);
	self->target[0] = 0x42;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x42, regs.rbx);
	EXPECT_EQ(0x43, self->target[0]);
}

/*
 * Outside every memslot: the access is emulated and exits with
 * KVM_EXIT_MMIO; a read completes on the next KVM_RUN.
 */
TEST_F(mem, outside_memslots)
{
	struct kvm_run *run = self->v->run;
	struct kvm_regs regs;
	uint32_t data;

	guest_load(&self->g, hole_guest, hole_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_MMIO, run->exit_reason)
		TH_LOG("exit %s", guest_exit_name(run->exit_reason));
	EXPECT_EQ(HOLE, run->mmio.phys_addr);
	EXPECT_EQ(4, run->mmio.len);
	EXPECT_EQ(0, run->mmio.is_write);
	data = 0x12345678;
	memcpy(run->mmio.data, &data, 4);
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x12345678, regs.rbx);

	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_MMIO, run->exit_reason);
	EXPECT_EQ(HOLE + 0x10, run->mmio.phys_addr);
	EXPECT_EQ(4, run->mmio.len);
	EXPECT_EQ(1, run->mmio.is_write);
	memcpy(&data, run->mmio.data, 4);
	EXPECT_EQ(0xabcdef01, data);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

/*
 * A memslot replaced, then moved away, under a running guest: the guest
 * sees the new memory at once and nothing after the move, so no stale
 * nested translation survives either change.
 */
TEST_F(mem, memslot_replace_and_move)
{
	uint64_t *a = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *b = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_regs regs;

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	*a = 111;
	*b = 222;
	guest_load(&self->g, slot_guest, slot_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 5, 0, HOLE, PAGE, a));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(111, regs.rbx);

	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 5, 0, HOLE, 0, NULL));
	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 6, 0, HOLE, PAGE, b));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(222, regs.rbx);

	/* Moved elsewhere: HOLE is outside every slot again. */
	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 6, 0, HOLE + 0x200000, PAGE, b));
	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_MMIO, self->v->run->exit_reason);
	EXPECT_EQ(HOLE, self->v->run->mmio.phys_addr);
	EXPECT_EQ(8, self->v->run->mmio.len);
	EXPECT_EQ(0, self->v->run->mmio.is_write);
	munmap(a, PAGE);
	munmap(b, PAGE);
}

TEST_HARNESS_MAIN
