// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_SET_USER_MEMORY_REGION: creation, move, delete and KVM's errno for
 * every malformed region.
 */
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "modvm_util.h"

#define PAGE	4096ul
#define MEM	(16 * PAGE)

FIXTURE(slot) {
	int dev, vm;
	char *mem;
};

FIXTURE_SETUP(slot)
{
	self->dev = modvm_open_device();
	self->vm = modvm_ioctl(self->dev, KVM_CREATE_VM, 0);
	ASSERT_GE(self->vm, 0);
	self->mem = modvm_alloc_guest_memory(MEM);
}

FIXTURE_TEARDOWN(slot)
{
	munmap(self->mem, MEM);
	close(self->vm);
	close(self->dev);
}

TEST_F(slot, create_and_delete)
{
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0, MEM, self->mem));
	/* Setting the same region again changes nothing and succeeds. */
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0, MEM, self->mem));
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0, 0, self->mem));
	/* Deleting a slot that does not exist is EINVAL. */
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, 0, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 7, 0, 0, 0, self->mem));
	/* The range is free again. */
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 1, 0, 0, MEM, self->mem));
}

TEST_F(slot, unaligned)
{
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, MEM - 1, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0x800, MEM, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, MEM - PAGE,
					     self->mem + 8));
}

TEST_F(slot, bad_flags)
{
	/* No flag is supported yet: dirty logging and read-only slots come later. */
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 1u << 31, 0, MEM, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 1u << 7, 0, MEM, self->mem));
}

TEST_F(slot, slot_limits)
{
	long nr = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);

	ASSERT_GT(nr, 1);
	EXPECT_EQ(0, modvm_set_memslot(self->vm, nr - 1, 0, 0, PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, nr, 0, PAGE, PAGE,
					     self->mem + PAGE));
	/* Address space 1 (SMM) is not offered without KVM_CAP_MULTI_ADDRESS_SPACE. */
	if (modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE) < 2)
		EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 1u << 16, 0, PAGE, PAGE,
						     self->mem + PAGE));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0x7fff0000, 0, PAGE, PAGE,
					     self->mem + PAGE));
}

TEST_F(slot, overlap)
{
	ASSERT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0x100000, 4 * PAGE, self->mem));
	/* Same range, overlapping head, tail, inside and enclosing: EEXIST. */
	EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 1, 0, 0x100000, 4 * PAGE,
					     self->mem + 4 * PAGE));
	EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 1, 0, 0x100000 - PAGE,
					     2 * PAGE, self->mem + 4 * PAGE));
	EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 1, 0, 0x100000 + 3 * PAGE,
					     2 * PAGE, self->mem + 4 * PAGE));
	EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 1, 0, 0x100000 + PAGE,
					     PAGE, self->mem + 4 * PAGE));
	EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 1, 0, 0x100000 - PAGE,
					     8 * PAGE, self->mem + 4 * PAGE));
	/* Adjacent on both sides is fine. */
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 1, 0, 0x100000 - PAGE, PAGE,
				       self->mem + 4 * PAGE));
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 2, 0, 0x100000 + 4 * PAGE, PAGE,
				       self->mem + 5 * PAGE));
	/* Two slots may share host memory. */
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 3, 0, 0x200000, 4 * PAGE, self->mem));
}

TEST_F(slot, move)
{
	ASSERT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0x100000, 4 * PAGE, self->mem));
	ASSERT_EQ(0, modvm_set_memslot(self->vm, 1, 0, 0x300000, 4 * PAGE,
				       self->mem + 4 * PAGE));
	/* Move slot 0: may overlap its own old range, not slot 1. */
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0x100000 + 2 * PAGE,
				       4 * PAGE, self->mem));
	EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 0, 0, 0x300000 - PAGE,
					     4 * PAGE, self->mem));
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0x500000, 4 * PAGE, self->mem));
	/* The old range is free: another slot can take it. */
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 2, 0, 0x100000, 4 * PAGE,
				       self->mem + 8 * PAGE));
}

TEST_F(slot, resize_or_rebase_rejected)
{
	ASSERT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0, 4 * PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, 8 * PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, 2 * PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, 4 * PAGE,
					     self->mem + PAGE));
}

TEST_F(slot, gpa_wraps)
{
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, ~0ull & ~(PAGE - 1),
					     2 * PAGE, self->mem));
}

TEST_F(slot, hva_not_user_memory)
{
	/* A kernel address, and a range running past the user address space. */
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, PAGE,
					     (void *)0xffff800000000000ul));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 0, 0x10000000,
					     (void *)0x7ffffff00000ul));
}

TEST_F(slot, bad_pointer)
{
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->vm, KVM_SET_USER_MEMORY_REGION, 8));
}

TEST_F(slot, many_slots)
{
	char *big = modvm_alloc_guest_memory(512 * PAGE);
	unsigned int i;

	/* Insert in an order that exercises sorted insertion both ways. */
	for (i = 0; i < 512; i += 2)
		ASSERT_EQ(0, modvm_set_memslot(self->vm, i, 0, (uint64_t)i * PAGE,
					       PAGE, big + i * PAGE));
	for (i = 511; i < 512; i -= 2)
		ASSERT_EQ(0, modvm_set_memslot(self->vm, i, 0, (uint64_t)i * PAGE,
					       PAGE, big + i * PAGE));
	/* Every page is taken now. */
	for (i = 0; i < 512; i += 37)
		EXPECT_EQ(-EEXIST, modvm_set_memslot(self->vm, 600, 0,
						     (uint64_t)i * PAGE, PAGE, big));
	for (i = 0; i < 512; i++)
		ASSERT_EQ(0, modvm_set_memslot(self->vm, i, 0, 0, 0, NULL));
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 600, 0, 0, 512 * PAGE, big));
	munmap(big, 512 * PAGE);
}

/* The host's MAXPHYADDR, as KVM_GET_SUPPORTED_CPUID reports it. */
static int phys_bits(int dev)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} t = { .c.nent = 256 };
	uint32_t i;

	if (modvm_ioctl(dev, KVM_GET_SUPPORTED_CPUID, (unsigned long)&t) < 0)
		return -1;
	for (i = 0; i < t.c.nent; i++)
		if (t.e[i].function == 0x80000008)
			return t.e[i].eax & 0xff;
	return -1;
}

/* Whether KVM under test uses NPT/EPT (it allows 52-bit GPAs without). */
static bool kvm_tdp(void)
{
	static const char *const params[] = {
		"/sys/module/kvm_amd/parameters/npt",
		"/sys/module/kvm_intel/parameters/ept",
	};
	unsigned int i;
	char c = 0;

	for (i = 0; i < 2; i++) {
		FILE *f = fopen(params[i], "r");

		if (!f)
			continue;
		if (fread(&c, 1, 1, f) != 1)
			c = 0;
		fclose(f);
		if (c == 'Y' || c == '1')
			return true;
	}
	return false;
}

/*
 * Guest-physical addresses beyond MAXPHYADDR (and beyond the 48 bits a
 * 4-level NPT/EPT table translates) cannot be mapped: EINVAL, as KVM
 * with NPT/EPT. modvm keeps the limit with shadow paging too.
 */
TEST_F(slot, gpa_beyond_maxphyaddr)
{
	int bits = phys_bits(self->dev);

	ASSERT_GT(bits, 32);
	if (!modvm_is_modvm() && !kvm_tdp())
		SKIP(return, "KVM without NPT/EPT allows 52-bit GPAs");
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 1ull << 48,
					     PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 1ull << 51,
					     PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 1ull << bits,
					     PAGE, self->mem));
	/* Running over the limit is as bad as starting beyond it. */
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0,
					     (1ull << bits) - PAGE, 2 * PAGE,
					     self->mem));
	/* The last page below it is fine, and can move but not beyond. */
	ASSERT_EQ(0, modvm_set_memslot(self->vm, 0, 0, (1ull << bits) - PAGE,
				       PAGE, self->mem));
	EXPECT_EQ(-EINVAL, modvm_set_memslot(self->vm, 0, 0, 1ull << 48,
					     PAGE, self->mem));
	EXPECT_EQ(0, modvm_set_memslot(self->vm, 0, 0, 0, PAGE, self->mem));
}

TEST_HARNESS_MAIN
