// SPDX-License-Identifier: GPL-2.0
/*
 * MSRs: guest WRMSR seen by KVM_GET_MSRS, KVM_SET_MSRS seen by guest RDMSR,
 * #GP for unknown MSRs and for TSC_AUX without RDTSCP/RDPID, SYSCALL
 * following EFER.SCE, and KVM_GET_MSR_INDEX_LIST.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define MSR_TSC			0x10
#define MSR_SYSENTER_CS		0x174
#define MSR_SYSENTER_ESP	0x175
#define MSR_SYSENTER_EIP	0x176
#define MSR_PAT			0x277
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SFMASK		0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_TSC_AUX		0xc0000103
#define MSR_UNKNOWN		0x0badc0de

#define RFLAGS_RF		(1ull << 16)

/*
 * The table at GUEST_DATA: u64 count, then {u64 index, u64 value}. The
 * guest WRMSRs every entry and reports; then RDMSRs every entry back into
 * the table, runs RDTSCP (ECX into R12) where CPUID has it (Core 2 in
 * vmx-shadow does not: R12 stays -1) and is done.
 */
GUEST_ASM(msr_guest,
	".code64\n"
	"mov $" GUEST_XSTR(GUEST_DATA) ", %rsi\n"
	"mov (%rsi), %r8\n lea 8(%rsi), %r9\n"
	"1: test %r8, %r8\n jz 2f\n"
	"mov (%r9), %ecx\n mov 8(%r9), %eax\n mov 12(%r9), %edx\n"
	"wrmsr\n"
	"add $16, %r9\n dec %r8\n jmp 1b\n"
	"2:\n"
	G_CALL(GUEST_REPORT)
	"mov (%rsi), %r8\n lea 8(%rsi), %r9\n"
	"1: test %r8, %r8\n jz 2f\n"
	"mov (%r9), %ecx\n rdmsr\n"
	"mov %eax, 8(%r9)\n mov %edx, 12(%r9)\n"
	"add $16, %r9\n dec %r8\n jmp 1b\n"
	"2:\n"
	"mov $-1, %r12\n"
	"mov $0x80000001, %eax\n cpuid\n bt $27, %edx\n jnc 3f\n"
	"rdtscp\n mov %ecx, %r12d\n"
	"3:\n"
	G_CALL(GUEST_DONE));

/*
 * The MSR whose index is at GUEST_DATA: RDMSR (at R8) then WRMSR (at R9),
 * each must #GP where it does not exist (the stubs skip them).
 */
GUEST_ASM(refused_msr_guest,
	".code64\n"
	"lea 1f(%rip), %r8\n lea 2f(%rip), %r9\n"
	"mov " GUEST_XSTR(GUEST_DATA) ", %ecx\n"
	"1: rdmsr\n"
	"mov " GUEST_XSTR(GUEST_DATA) ", %ecx\n"
	"xor %eax, %eax\n xor %edx, %edx\n"
	"2: wrmsr\n"
	G_CALL(GUEST_DONE));

/* TSC: WRMSR 2^40 then RDTSC into RBX; then RDTSC and RDMSR into RBX/RCX. */
GUEST_ASM(tsc_guest,
	".code64\n"
	"mov $" GUEST_XSTR(MSR_TSC) ", %ecx\n"
	"xor %eax, %eax\n mov $0x100, %edx\n wrmsr\n"
	"rdtsc\n shl $32, %rdx\n or %rax, %rdx\n mov %rdx, %rbx\n"
	G_CALL(GUEST_REPORT)
	"rdtsc\n shl $32, %rdx\n or %rax, %rdx\n mov %rdx, %rbx\n"
	"mov $" GUEST_XSTR(MSR_TSC) ", %ecx\n rdmsr\n"
	"shl $32, %rdx\n or %rax, %rdx\n mov %rdx, %rcx\n"
	G_CALL(GUEST_DONE));

/*
 * SYSCALL as EFER.SCE says: LSTAR, STAR (CS 0x08, SS 0x10) and SFMASK set,
 * SCE cleared, then reported (R8: the SYSCALL's address) and SYSCALL run,
 * which must #UD; SCE set, reported (R8: the next instruction's address),
 * and SYSCALL run again, which must enter at LSTAR with RCX the return
 * address (R8 in RDX) and report done.
 */
GUEST_ASM(syscall_guest,
	".code64\n"
	"mov $" GUEST_XSTR(MSR_STAR) ", %ecx\n"
	"xor %eax, %eax\n mov $" GUEST_XSTR(GUEST_SEL_CODE64) ", %edx\n wrmsr\n"
	"mov $" GUEST_XSTR(MSR_LSTAR) ", %ecx\n"
	"lea 3f(%rip), %rax\n xor %edx, %edx\n wrmsr\n"
	"mov $" GUEST_XSTR(MSR_SFMASK) ", %ecx\n"
	"xor %eax, %eax\n xor %edx, %edx\n wrmsr\n"
	"mov $" GUEST_XSTR(MSR_EFER) ", %ecx\n rdmsr\n btr $0, %eax\n wrmsr\n"
	"lea 1f(%rip), %r8\n"
	G_CALL(GUEST_REPORT)
	"1: syscall\n"
	"mov $" GUEST_XSTR(MSR_EFER) ", %ecx\n rdmsr\n bts $0, %eax\n wrmsr\n"
	"lea 2f(%rip), %r8\n"
	G_CALL(GUEST_REPORT)
	"syscall\n"
	"2: mov $1, %ebx\n"
	G_CALL(GUEST_FAIL)
	"3: mov %r8, %rdx\n"
	G_CALL(GUEST_DONE));

struct msr_case {
	uint32_t index;
	uint64_t guest_value;	/* written by the guest */
	uint64_t host_value;	/* written by userspace */
};

static const struct msr_case cases[] = {
	{ MSR_EFER, 0xd01, 0x501 },		/* SCE|LME|LMA(|NXE) */
	{ MSR_STAR, 0x0023001012345678ull, 0x001b000887654321ull },
	{ MSR_LSTAR, 0xffffffff81000000ull, 0xffffffff82000010ull },
	{ MSR_CSTAR, 0xffffffff81000100ull, 0xffffffff82000110ull },
	{ MSR_SFMASK, 0x47700, 0x300 },
	{ MSR_KERNEL_GS_BASE, 0xffff888012345000ull, 0x00007fff12340000ull },
	{ MSR_SYSENTER_CS, 0x10, 0x60 },
	{ MSR_SYSENTER_ESP, 0x12345678, 0x9abcdef0 },
	{ MSR_SYSENTER_EIP, 0x87654321, 0x0fedcba9 },
	{ MSR_TSC_AUX, 0x5, 0x7 },
	{ MSR_PAT, 0x0007010600070106ull, 0x0007040600070406ull },
};

#define NR_CASES	(sizeof(cases) / sizeof(cases[0]))

FIXTURE(msr) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(msr)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(msr)
{
	guest_destroy(&self->g);
}

/* Whether the supported CPUID has RDTSCP or RDPID, which TSC_AUX needs. */
static bool cpuid_has_tsc_aux(int dev)
{
	struct kvm_cpuid2 *c = guest_supported_cpuid(dev);
	struct kvm_cpuid_entry2 *ext = c ? guest_cpuid_entry(c, 0x80000001, 0) : NULL;
	struct kvm_cpuid_entry2 *l7 = c ? guest_cpuid_entry(c, 7, 0) : NULL;
	bool r = (ext && (ext->edx & (1u << 27))) || (l7 && (l7->ecx & (1u << 22)));

	free(c);
	return r;
}

TEST_F(msr, round_trips)
{
	uint64_t *table = guest_ptr(&self->g, GUEST_DATA);
	const struct msr_case *c[NR_CASES];
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[NR_CASES];
	} m;
	bool aux = cpuid_has_tsc_aux(self->g.dev);
	struct kvm_regs regs;
	unsigned int i, n = 0;

	/* TSC_AUX exists only with RDTSCP or RDPID (not on Core 2). */
	for (i = 0; i < NR_CASES; i++) {
		if (cases[i].index != MSR_TSC_AUX || aux)
			c[n++] = &cases[i];
	}
	table[0] = n;
	for (i = 0; i < n; i++) {
		table[1 + 2 * i] = c[i]->index;
		table[2 + 2 * i] = c[i]->guest_value;
	}
	guest_load(&self->g, msr_guest, msr_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, NULL));

	/* Guest WRMSR -> KVM_GET_MSRS. */
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = n;
	for (i = 0; i < n; i++)
		m.e[i].index = c[i]->index;
	ASSERT_EQ(n, modvm_ioctl(self->v->fd, KVM_GET_MSRS, (unsigned long)&m));
	for (i = 0; i < n; i++) {
		EXPECT_EQ(c[i]->guest_value, m.e[i].data)
			TH_LOG("MSR %#x", c[i]->index);
	}

	/* KVM_SET_MSRS -> guest RDMSR. */
	for (i = 0; i < n; i++) {
		m.e[i].data = c[i]->host_value;
		table[2 + 2 * i] = 0;
	}
	ASSERT_EQ(n, modvm_ioctl(self->v->fd, KVM_SET_MSRS, (unsigned long)&m));
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	for (i = 0; i < n; i++) {
		EXPECT_EQ(c[i]->host_value, table[2 + 2 * i])
			TH_LOG("MSR %#x", c[i]->index);
	}
	/* RDTSCP returns TSC_AUX in ECX (where the CPU has RDTSCP). */
	if (regs.r12 != -1ull)
		EXPECT_EQ(0x7, regs.r12);
}

/*
 * SYSENTER_ESP/EIP: AMD CPUs implement SYSENTER in legacy mode only and
 * keep 32 bits of these MSRs; Intel CPUs keep a 64-bit address. Neither
 * refuses a non-canonical value from userspace: KVM makes it canonical
 * (sign-extends bit 47) so that Intel's VM entry cannot fail on it.
 */
TEST_F(msr, sysenter_width)
{
	static const struct {
		uint32_t index;
		uint64_t written, intel, amd;
	} cases[] = {
		{ MSR_SYSENTER_EIP, 0xffffffff81234567ull,
		  0xffffffff81234567ull, 0x81234567ull },
		{ MSR_SYSENTER_ESP, 0xffff888000001000ull,
		  0xffff888000001000ull, 0x00001000ull },
		{ MSR_SYSENTER_EIP, 0x0000800000002000ull,
		  0xffff800000002000ull, 0x00002000ull },
		{ MSR_SYSENTER_ESP, 0x0000123456789abcull,
		  0x0000123456789abcull, 0x56789abcull },
	};
	bool amd = guest_host_is_amd(self->g.dev);
	unsigned int i;
	uint64_t v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(1, guest_set_msr(self->v, cases[i].index, cases[i].written));
		ASSERT_EQ(1, guest_get_msr(self->v, cases[i].index, &v));
		EXPECT_EQ(amd ? cases[i].amd : cases[i].intel, v)
			TH_LOG("%s: MSR %#x written %#llx", amd ? "AMD" : "Intel",
			       cases[i].index, (unsigned long long)cases[i].written);
	}
}

TEST_F(msr, tsc)
{
	const uint64_t guest_tsc = 1ull << 40, host_tsc = 1ull << 44;
	const uint64_t slack = 1ull << 36;
	struct kvm_regs regs;
	uint64_t v;

	guest_load(&self->g, tsc_guest, tsc_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_GE(regs.rbx, guest_tsc);
	EXPECT_LT(regs.rbx, guest_tsc + slack);
	ASSERT_EQ(1, guest_get_msr(self->v, MSR_TSC, &v));
	EXPECT_GE(v, regs.rbx);
	EXPECT_LT(v, guest_tsc + slack);

	ASSERT_EQ(1, guest_set_msr(self->v, MSR_TSC, host_tsc));
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_GE(regs.rbx, host_tsc);
	EXPECT_GE(regs.rcx, regs.rbx);
	EXPECT_LT(regs.rcx, host_tsc + slack);
}

/* The guest's RDMSR and WRMSR of @index each take #GP(0). */
static void expect_msr_refused(struct __test_metadata *_metadata,
			       struct guest *g, struct guest_vcpu *v,
			       uint32_t index)
{
	struct kvm_regs regs;

	*(uint64_t *)guest_ptr(g, GUEST_DATA) = index;
	guest_load(g, refused_msr_guest, refused_msr_guest_end);
	guest_set_fault_skip(g, 2);
	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(v, &regs));
	EXPECT_EQ(13, regs.rbx);
	EXPECT_EQ(0, regs.rcx);
	EXPECT_EQ(regs.r8, regs.rdx);	/* the RDMSR */
	/* A fault: the pushed RFLAGS has RF set, as the CPU would push it. */
	EXPECT_TRUE(*(uint64_t *)guest_ptr(g, GUEST_EXC_RFLAGS) & RFLAGS_RF);
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(v, &regs));
	EXPECT_EQ(13, regs.rbx);
	EXPECT_EQ(0, regs.rcx);
	EXPECT_EQ(regs.r9, regs.rdx);	/* the WRMSR */
	ASSERT_EQ(GUEST_DONE, guest_call(v, NULL));
}

TEST_F(msr, unknown_msr_gp)
{
	expect_msr_refused(_metadata, &self->g, self->v, MSR_UNKNOWN);
}

/*
 * As KVM: TSC_AUX is the guest's only where its CPUID lists RDTSCP or
 * RDPID (#GP otherwise). Userspace's accesses do not depend on the guest's
 * CPUID: they work wherever the host CPU has the MSR (bochs' Core 2 has
 * it without RDTSCP; a real Core 2 has not).
 */
TEST_F(msr, tsc_aux_needs_rdtscp)
{
	struct kvm_cpuid2 *c = guest_supported_cpuid(self->g.dev);
	struct kvm_cpuid_entry2 *e;
	uint64_t v;
	int r;

	ASSERT_NE(NULL, c);
	e = guest_cpuid_entry(c, 0x80000001, 0);
	if (e)
		e->edx &= ~(1u << 27);
	e = guest_cpuid_entry(c, 7, 0);
	if (e)
		e->ecx &= ~(1u << 22);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)c));
	free(c);
	expect_msr_refused(_metadata, &self->g, self->v, MSR_TSC_AUX);
	r = guest_set_msr(self->v, MSR_TSC_AUX, 3);
	ASSERT_LE(0, r);
	EXPECT_EQ(r, guest_get_msr(self->v, MSR_TSC_AUX, &v));
	if (r == 1)
		EXPECT_EQ(3, v);
}

/*
 * The guest's EFER.SCE is the one the CPU runs with: VT-x without the VMCS
 * EFER controls (Core 2, vmx-shadow) switches EFER through the MSR lists.
 */
TEST_F(msr, syscall_follows_efer_sce)
{
	struct kvm_regs regs;
	uint64_t efer;

	guest_load(&self->g, syscall_guest, syscall_guest_end);
	guest_set_fault_skip(&self->g, 2);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	ASSERT_EQ(1, guest_get_msr(self->v, MSR_EFER, &efer));
	EXPECT_EQ(0, efer & 1);
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(6, regs.rbx);		/* #UD */
	EXPECT_EQ(regs.r8, regs.rdx);
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	ASSERT_EQ(1, guest_get_msr(self->v, MSR_EFER, &efer));
	EXPECT_EQ(1, efer & 1);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(regs.rdx, regs.rcx);	/* the return address */
}

/* KVM_GET/SET_MSRS stop at the first MSR they cannot handle. */
TEST_F(msr, ioctl_stops_at_unknown)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[3];
	} m = {
		.hdr.nmsrs = 3,
		.e = { { .index = MSR_STAR }, { .index = MSR_UNKNOWN },
		       { .index = MSR_LSTAR } },
	};

	EXPECT_EQ(1, modvm_ioctl(self->v->fd, KVM_GET_MSRS, (unsigned long)&m));
	EXPECT_EQ(1, modvm_ioctl(self->v->fd, KVM_SET_MSRS, (unsigned long)&m));
	/* A non-canonical LSTAR is refused. */
	m.e[0].index = MSR_LSTAR;
	m.e[0].data = 0x8000000000000000ull;
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_MSRS, (unsigned long)&m));
	/* A bad PAT memory type is refused. */
	m.e[0].index = MSR_PAT;
	m.e[0].data = 0x0007040600070402ull;
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_MSRS, (unsigned long)&m));
	/* Too many entries at once. */
	m.hdr.nmsrs = 256;
	EXPECT_EQ(-E2BIG, modvm_ioctl(self->v->fd, KVM_GET_MSRS, (unsigned long)&m));
	EXPECT_EQ(-E2BIG, modvm_ioctl(self->v->fd, KVM_SET_MSRS, (unsigned long)&m));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_GET_MSRS, 8));
}

TEST_F(msr, index_list)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	bool star = false, lstar = false, tsc = false, kgs = false;
	uint32_t n, i;

	EXPECT_EQ(-E2BIG, modvm_ioctl(self->g.dev, KVM_GET_MSR_INDEX_LIST,
				      (unsigned long)&probe));
	n = probe.nmsrs;
	ASSERT_GT(n, 8);
	list = calloc(1, sizeof(*list) + (n + 4) * sizeof(list->indices[0]));
	/* One short is still too small, and reports the size again. */
	list->nmsrs = n - 1;
	EXPECT_EQ(-E2BIG, modvm_ioctl(self->g.dev, KVM_GET_MSR_INDEX_LIST,
				      (unsigned long)list));
	EXPECT_EQ(n, list->nmsrs);
	list->nmsrs = n + 4;
	ASSERT_EQ(0, modvm_ioctl(self->g.dev, KVM_GET_MSR_INDEX_LIST,
				 (unsigned long)list));
	EXPECT_EQ(n, list->nmsrs);
	for (i = 0; i < list->nmsrs; i++) {
		star |= list->indices[i] == MSR_STAR;
		lstar |= list->indices[i] == MSR_LSTAR;
		tsc |= list->indices[i] == MSR_TSC;
		kgs |= list->indices[i] == MSR_KERNEL_GS_BASE;
	}
	EXPECT_TRUE(star);
	EXPECT_TRUE(lstar);
	EXPECT_TRUE(tsc);
	EXPECT_TRUE(kgs);
	free(list);
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->g.dev, KVM_GET_MSR_INDEX_LIST, 8));
}

TEST_HARNESS_MAIN
