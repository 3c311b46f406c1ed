// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID: KVM_GET_SUPPORTED_CPUID and the guest's view of the table given
 * with KVM_SET_CPUID2.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

/*
 * The guest runs CPUID for each {leaf, subleaf} of the list at GUEST_DATA
 * (u32 count, then pairs) and stores EAX..EDX at GUEST_DATA + 0x1000.
 */
GUEST_ASM(cpuid_guest,
	".code64\n"
	"mov $" GUEST_XSTR(GUEST_DATA) ", %rsi\n"
	"mov (%rsi), %r8d\n"
	"lea 8(%rsi), %r9\n"
	"lea 0x1000(%rsi), %r10\n"
	"1: test %r8d, %r8d\n"
	"jz 2f\n"
	"mov (%r9), %eax\n"
	"mov 4(%r9), %ecx\n"
	"cpuid\n"
	"mov %eax, (%r10)\n mov %ebx, 4(%r10)\n"
	"mov %ecx, 8(%r10)\n mov %edx, 12(%r10)\n"
	"add $8, %r9\n add $16, %r10\n dec %r8d\n"
	"jmp 1b\n"
	"2:\n"
	G_CALL(GUEST_DONE));

struct leaf {
	uint32_t function, index;
};

struct regs4 {
	uint32_t eax, ebx, ecx, edx;
};

FIXTURE(cpuid) {
	struct guest g;
	struct guest_vcpu *v;
	struct kvm_cpuid2 *supported;
};

FIXTURE_SETUP(cpuid)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	self->supported = guest_supported_cpuid(self->g.dev);
	ASSERT_NE(NULL, self->supported);
	guest_load(&self->g, cpuid_guest, cpuid_guest_end);
}

FIXTURE_TEARDOWN(cpuid)
{
	free(self->supported);
	guest_destroy(&self->g);
}

/* Run CPUID in the guest for @n leaves; results into @out. */
static int guest_cpuid(struct guest_vcpu *v, const struct leaf *leaves,
		       int n, struct regs4 *out)
{
	struct guest *g = v->guest;
	uint32_t count = n;
	int r;

	memcpy(guest_ptr(g, GUEST_DATA), &count, 4);
	memcpy(guest_ptr(g, GUEST_DATA + 8), leaves, n * sizeof(*leaves));
	r = guest_set_mode(v, GUEST_MODE_LONG64);
	if (r)
		return r;
	if (guest_call(v, NULL) != GUEST_DONE)
		return -EIO;
	memcpy(out, guest_ptr(g, GUEST_DATA + 0x1000), n * sizeof(*out));
	return 0;
}

static struct kvm_cpuid2 *cpuid_alloc(int nent)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

	c->nent = nent;
	return c;
}

static void set_entry(struct kvm_cpuid_entry2 *e, uint32_t function,
		      uint32_t index, uint32_t flags, uint32_t eax,
		      uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

TEST_F(cpuid, supported_too_small)
{
	struct kvm_cpuid2 *c = cpuid_alloc(1);

	EXPECT_EQ(-E2BIG, modvm_ioctl(self->g.dev, KVM_GET_SUPPORTED_CPUID,
				      (unsigned long)c));
	c->nent = 0;
	EXPECT_EQ(-E2BIG, modvm_ioctl(self->g.dev, KVM_GET_SUPPORTED_CPUID,
				      (unsigned long)c));
	free(c);
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->g.dev, KVM_GET_SUPPORTED_CPUID, 8));
}

TEST_F(cpuid, supported_sanity)
{
	struct kvm_cpuid2 *c = self->supported;
	struct kvm_cpuid_entry2 *e;

	EXPECT_GT(c->nent, 4);
	EXPECT_LE(c->nent, 256);
	e = guest_cpuid_entry(c, 0, 0);
	ASSERT_NE(NULL, e);
	EXPECT_GE(e->eax, 1);
	e = guest_cpuid_entry(c, 1, 0);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->edx & (1u << 0));	/* FPU */
	EXPECT_TRUE(e->edx & (1u << 25));	/* SSE */
	EXPECT_TRUE(e->edx & (1u << 26));	/* SSE2 */
	e = guest_cpuid_entry(c, 0x80000000, 0);
	ASSERT_NE(NULL, e);
	EXPECT_GE(e->eax, 0x80000001);
	e = guest_cpuid_entry(c, 0x80000001, 0);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->edx & (1u << 29));	/* LM */
	/* Leaf 7 is indexed by ECX. */
	e = guest_cpuid_entry(c, 7, 0);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	/* Every entry of an unindexed leaf has index 0. */
	for (uint32_t i = 0; i < c->nent; i++)
		if (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))
			EXPECT_EQ(0, c->entries[i].index);
}

/* The guest sees exactly userspace's values, indexed leaves included. */
TEST_F(cpuid, guest_sees_userspace_values)
{
	struct kvm_cpuid2 *c = self->supported;
	static const struct leaf leaves[] = {
		{ 0, 0 }, { 7, 0 }, { 7, 1 }, { 0x80000002, 0 },
		{ 0x80000003, 0 }, { 0x80000004, 0 },
	};
	struct regs4 out[6];
	struct kvm_cpuid_entry2 *e;
	char brand[49] = { 0 };

	e = guest_cpuid_entry(c, 0, 0);
	ASSERT_NE(NULL, e);
	ASSERT_GE(e->eax, 7);
	e->eax = 7;		/* keep the vendor: it changes KVM's rules */
	e = guest_cpuid_entry(c, 7, 0);
	ASSERT_NE(NULL, e);
	e->eax = 1;
	e->ebx = 0x00000009;	/* FSGSBASE | BMI1 */
	e->ecx = 0;
	e->edx = 0;
	/* Subleaf 1, which the host may not have: replace the last entry. */
	e = guest_cpuid_entry(c, 7, 1);
	if (!e)
		e = &c->entries[c->nent++];
	set_entry(e, 7, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, 0x10, 0, 0, 0);
	strcpy(brand, "modvm selftest brand string, 48 bytes long......");
	for (int i = 0; i < 3; i++) {
		e = guest_cpuid_entry(c, 0x80000002 + i, 0);
		ASSERT_NE(NULL, e);
		memcpy(&e->eax, brand + 16 * i, 4);
		memcpy(&e->ebx, brand + 16 * i + 4, 4);
		memcpy(&e->ecx, brand + 16 * i + 8, 4);
		memcpy(&e->edx, brand + 16 * i + 12, 4);
	}
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)c));
	ASSERT_EQ(0, guest_cpuid(self->v, leaves, 6, out));

	e = guest_cpuid_entry(c, 0, 0);
	EXPECT_EQ(7, out[0].eax);
	EXPECT_EQ(e->ebx, out[0].ebx);
	EXPECT_EQ(e->ecx, out[0].ecx);
	EXPECT_EQ(e->edx, out[0].edx);
	EXPECT_EQ(1, out[1].eax);
	EXPECT_EQ(9, out[1].ebx);
	EXPECT_EQ(0, out[1].ecx);
	EXPECT_EQ(0x10, out[2].eax);
	EXPECT_EQ(0, out[2].ebx);
	EXPECT_EQ(0, memcmp(&out[3], brand, 48));
}

/* KVM keeps CPUID.1:ECX.OSXSAVE in step with the guest's CR4.OSXSAVE. */
TEST_F(cpuid, osxsave_follows_cr4)
{
	struct kvm_cpuid2 *c = self->supported;
	static const struct leaf leaf1 = { 1, 0 };
	struct kvm_cpuid_entry2 *e = guest_cpuid_entry(c, 1, 0);
	struct kvm_sregs sregs;
	struct regs4 out;
	uint32_t count = 1;

	ASSERT_NE(NULL, e);
	if (!(e->ecx & (1u << 26)))
		SKIP(return, "no XSAVE");
	e->ecx &= ~(1u << 27);
	e->eax = 0x00a00f11;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)c));
	ASSERT_EQ(0, guest_cpuid(self->v, &leaf1, 1, &out));
	EXPECT_EQ(0x00a00f11, out.eax);
	EXPECT_EQ(0, out.ecx & (1u << 27));
	EXPECT_EQ(e->ecx, out.ecx);

	memcpy(guest_ptr(&self->g, GUEST_DATA), &count, 4);
	guest_mode_sregs(self->v, GUEST_MODE_LONG64, &sregs);
	sregs.cr4 |= 1u << 18;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&sregs));
	{
		struct kvm_regs regs = { .rip = GUEST_CODE, .rflags = 2,
					 .rsp = GUEST_STACK };

		guest_set_regs(self->v, &regs);
	}
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	memcpy(&out, guest_ptr(&self->g, GUEST_DATA + 0x1000), sizeof(out));
	EXPECT_EQ(e->ecx | (1u << 27), out.ecx);
}

/*
 * Leaves above the maximum: with an AMD vendor the guest reads zeros; with
 * an Intel vendor, KVM answers with the highest basic leaf, as Intel CPUs do.
 */
static void out_of_range(struct __test_metadata *_metadata,
			 struct guest_vcpu *v, bool intel)
{
	static const struct leaf leaves[] = {
		{ 2, 0 }, { 0x80000008, 0 }, { 0x4fffffff, 0 },
	};
	struct kvm_cpuid2 *c = cpuid_alloc(4);
	struct regs4 out[3];
	int i;

	if (intel)	/* GenuineIntel */
		set_entry(&c->entries[0], 0, 0, 0, 1, 0x756e6547, 0x6c65746e,
			  0x49656e69);
	else		/* AuthenticAMD */
		set_entry(&c->entries[0], 0, 0, 0, 1, 0x68747541, 0x444d4163,
			  0x69746e65);
	set_entry(&c->entries[1], 1, 0, 0, 0x11111111, 0x22222222, 0x33333333,
		  0x44444444 | (1u << 0) | (1u << 25) | (1u << 26));
	set_entry(&c->entries[2], 0x80000000, 0, 0, 0x80000001, 0, 0, 0);
	set_entry(&c->entries[3], 0x80000001, 0, 0, 0, 0, 0, 1u << 29);
	ASSERT_EQ(0, modvm_ioctl(v->fd, KVM_SET_CPUID2, (unsigned long)c));
	free(c);
	ASSERT_EQ(0, guest_cpuid(v, leaves, 3, out));
	for (i = 0; i < 3; i++) {
		if (intel) {
			EXPECT_EQ(0x11111111, out[i].eax);
			EXPECT_EQ(0x22222222, out[i].ebx);
			EXPECT_EQ(0x33333333, out[i].ecx);
		} else {
			EXPECT_EQ(0, out[i].eax);
			EXPECT_EQ(0, out[i].ebx);
			EXPECT_EQ(0, out[i].ecx);
			EXPECT_EQ(0, out[i].edx);
		}
	}
}

TEST_F(cpuid, out_of_range_amd)
{
	out_of_range(_metadata, self->v, false);
}

TEST_F(cpuid, out_of_range_intel)
{
	out_of_range(_metadata, self->v, true);
}

TEST_F(cpuid, set_too_big)
{
	struct kvm_cpuid2 *c = cpuid_alloc(257);

	for (int i = 0; i < 257; i++)
		set_entry(&c->entries[i], i, 0, 0, 0, 0, 0, 0);
	EXPECT_EQ(-E2BIG, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)c));
	free(c);
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, 8));
}

/* Once the vCPU ran, KVM only accepts the table it already has. */
TEST_F(cpuid, set_after_run)
{
	static const struct leaf leaf0 = { 0, 0 };
	struct kvm_cpuid2 *c = self->supported;
	struct regs4 out;

	ASSERT_EQ(0, guest_cpuid(self->v, &leaf0, 1, &out));
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)c));
	guest_cpuid_entry(c, 0x80000002, 0)->eax ^= 1;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)c));
}

TEST_HARNESS_MAIN
