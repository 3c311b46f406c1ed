// SPDX-License-Identifier: GPL-2.0
/*
 * Guest x87/SSE/AVX state: KVM_GET/SET_FPU, KVM_GET/SET_XSAVE and
 * KVM_GET/SET_XCRS, with the guest's registers surviving the host's use
 * of its own and the host's surviving KVM_RUN.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "guest.h"

#define STORE		GUEST_DATA		/* guest stores xmm0-15 here */
#define LOAD		(GUEST_DATA + 0x400)	/* guest loads xmm0-15 from here */
#define CR4_OSXSAVE	(1ull << 18)

/* Store every XMM register, MXCSR and the x87 control word. */
#define STORE_XMM							\
	"mov $" GUEST_XSTR(STORE) ", %rdi\n"				\
	".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"		\
	"movdqu %xmm\\r, 16*\\r(%rdi)\n"				\
	".endr\n"							\
	"stmxcsr 0x100(%rdi)\n"						\
	"fnstcw 0x104(%rdi)\n"

GUEST_ASM(sse_guest,
	".code64\n"
	STORE_XMM
	G_CALL(GUEST_REPORT)
	"mov $" GUEST_XSTR(LOAD) ", %rsi\n"
	".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"movdqu 16*\\r(%rsi), %xmm\\r\n"
	".endr\n"
	"ldmxcsr 0x100(%rsi)\n"
	"fldcw 0x104(%rsi)\n"
	G_CALL(GUEST_REPORT)
	/* The host ran its own SSE code meanwhile: ours must be intact. */
	STORE_XMM
	G_CALL(GUEST_DONE));

/* Load xmm8 with a pattern and report, while the host holds its own xmm8. */
GUEST_ASM(xmm8_guest,
	".code64\n"
	"movdqu " GUEST_XSTR(LOAD) ", %xmm8\n"
	G_CALL(GUEST_DONE));

/*
 * AVX: report XCR0 (RBX), store ymm0 at STORE, load ymm1 from LOAD.
 *
 * No guest XSETBV here: QEMU TCG's SVM does not intercept XSETBV, so a
 * guest XSETBV changes the emulated host's XCR0 behind the hypervisor's
 * back (with kvm-amd the host then takes #UD on its next AVX instruction).
 */
GUEST_ASM(avx_guest,
	".code64\n"
	"xor %ecx, %ecx\n xgetbv\n mov %eax, %ebx\n"
	"vmovdqu %ymm0, " GUEST_XSTR(STORE) "\n"
	"vmovdqu " GUEST_XSTR(LOAD) ", %ymm1\n"
	G_CALL(GUEST_DONE));

FIXTURE(fpu) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(fpu)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(fpu)
{
	guest_destroy(&self->g);
}

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = seed + i * 7;
}

/* Use the host's SSE registers hard: what a VMM does between runs. */
static double host_sse_work(void)
{
	volatile double acc = 1.0;
	uint8_t a[512], b[512];
	int i;

	pattern(a, sizeof(a), 0x33);
	for (i = 0; i < 100; i++) {
		memcpy(b, a, sizeof(a));
		acc = acc * 1.0001 + b[i];
	}
	asm volatile("pxor %%xmm0, %%xmm0\n pcmpeqb %%xmm1, %%xmm1\n"
		     "movdqa %%xmm1, %%xmm8\n movdqa %%xmm1, %%xmm15\n"
		     ::: "xmm0", "xmm1", "xmm8", "xmm15");
	return acc;
}

#define XSAVE_MXCSR	24
#define XSAVE_XMM	160
#define XSAVE_XSTATE_BV	512
#define XSAVE_YMM_HI	576

/* KVM_GET_XSAVE, change the legacy area through @fill, KVM_SET_XSAVE. */
static int set_sse_by_xsave(int fd, const uint8_t *xmm, uint32_t mxcsr,
			    uint16_t fcw)
{
	struct kvm_xsave *xs = calloc(1, sizeof(*xs));
	uint8_t *area = (uint8_t *)xs->region;
	uint64_t bv;
	int r;

	r = modvm_ioctl(fd, KVM_GET_XSAVE, (unsigned long)xs);
	if (!r) {
		memcpy(area, &fcw, 2);
		memcpy(area + XSAVE_MXCSR, &mxcsr, 4);
		memcpy(area + XSAVE_XMM, xmm, 256);
		memcpy(&bv, area + XSAVE_XSTATE_BV, 8);
		bv |= 3;	/* x87 and SSE state in use */
		memcpy(area + XSAVE_XSTATE_BV, &bv, 8);
		r = modvm_ioctl(fd, KVM_SET_XSAVE, (unsigned long)xs);
	}
	free(xs);
	return r;
}

TEST_F(fpu, sse_both_ways)
{
	uint8_t *store = guest_ptr(&self->g, STORE);
	uint8_t *load = guest_ptr(&self->g, LOAD);
	uint8_t xmm[256];
	struct kvm_fpu fpu;
	uint32_t mxcsr;
	uint16_t fcw;

	guest_load(&self->g, sse_guest, sse_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	memset(&fpu, 0xff, sizeof(fpu));

	/* Userspace -> guest: KVM_SET_XSAVE of the legacy area. */
	pattern(xmm, sizeof(xmm), 0x10);
	ASSERT_EQ(0, set_sse_by_xsave(self->v->fd, xmm, 0x7f80, 0x27f));
	host_sse_work();
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, NULL));
	EXPECT_EQ(0, memcmp(store, xmm, sizeof(xmm)));
	memcpy(&mxcsr, store + 0x100, 4);
	memcpy(&fcw, store + 0x104, 2);
	EXPECT_EQ(0x7f80, mxcsr);	/* round toward zero */
	EXPECT_EQ(0x27f, fcw);		/* 53-bit precision */

	/* Guest -> userspace: KVM_GET_FPU, across host SSE use. */
	pattern(load, 256, 0x80);
	mxcsr = 0x3f80;
	fcw = 0x7f;
	memcpy(load + 0x100, &mxcsr, 4);
	memcpy(load + 0x104, &fcw, 2);
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, NULL));
	host_sse_work();
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_FPU, (unsigned long)&fpu));
	EXPECT_EQ(0, memcmp(fpu.xmm, load, 256));
	EXPECT_EQ(0x7f, fpu.fcw);
	/*
	 * KVM's KVM_GET_FPU leaves MXCSR out (it reads as 0) and its
	 * KVM_SET_FPU ignores it; modvm transfers it both ways.
	 */
	EXPECT_EQ(modvm_is_modvm() ? 0x3f80 : 0, fpu.mxcsr);

	/* KVM_SET_FPU of live state -> the guest, which stores it again. */
	pattern(&fpu.xmm[0][0], sizeof(fpu.xmm), 0x23);
	fpu.mxcsr = 0x5f80;
	fpu.fcw = 0x37f;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_FPU, (unsigned long)&fpu));
	host_sse_work();
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	EXPECT_EQ(0, memcmp(store, fpu.xmm, 256));
	memcpy(&mxcsr, store + 0x100, 4);
	memcpy(&fcw, store + 0x104, 2);
	EXPECT_EQ(modvm_is_modvm() ? 0x5f80 : 0x3f80, mxcsr);
	EXPECT_EQ(0x37f, fcw);
}

/* The host's xmm8 across a KVM_RUN in which the guest changes its own. */
TEST_F(fpu, host_registers_survive_run)
{
	uint8_t mine[16], after[16];
	struct kvm_fpu fpu;
	long ret;

	pattern(mine, 16, 0x42);
	pattern(guest_ptr(&self->g, LOAD), 16, 0x99);
	guest_load(&self->g, xmm8_guest, xmm8_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	asm volatile("movdqu %[in], %%xmm8\n"
		     "syscall\n"
		     "movdqu %%xmm8, %[out]\n"
		     : "=a"(ret), [out] "=m"(after)
		     : "a"((long)SYS_ioctl), "D"((long)self->v->fd),
		       "S"((long)KVM_RUN), "d"(0L), [in] "m"(mine)
		     : "rcx", "r11", "xmm8", "memory");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(KVM_EXIT_IO, self->v->run->exit_reason);
	EXPECT_EQ(0, memcmp(mine, after, 16));
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_FPU, (unsigned long)&fpu));
	EXPECT_EQ(0, memcmp(fpu.xmm[8], guest_ptr(&self->g, LOAD), 16));
}

static bool has_avx(int dev)
{
	struct kvm_cpuid2 *c = guest_supported_cpuid(dev);
	struct kvm_cpuid_entry2 *e = c ? guest_cpuid_entry(c, 1, 0) : NULL;
	bool r = e && (e->ecx & (1u << 26)) && (e->ecx & (1u << 28));

	free(c);
	return r;
}

TEST_F(fpu, avx_xsave_xcrs)
{
	uint8_t *store = guest_ptr(&self->g, STORE);
	uint8_t *load = guest_ptr(&self->g, LOAD);
	struct kvm_xsave *xs = calloc(1, sizeof(*xs));
	uint8_t *area = (uint8_t *)xs->region;
	struct kvm_xcrs xcrs;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t bv;

	if (!has_avx(self->g.dev))
		SKIP(return, "no AVX");
	guest_load(&self->g, avx_guest, avx_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	guest_get_sregs(self->v, &sregs);
	sregs.cr4 |= CR4_OSXSAVE;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&sregs));

	/* XCR0 starts as x87 only; userspace sets x87|SSE|AVX. */
	memset(&xcrs, 0, sizeof(xcrs));
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_XCRS, (unsigned long)&xcrs));
	EXPECT_EQ(1, xcrs.nr_xcrs);
	EXPECT_EQ(0, xcrs.xcrs[0].xcr);
	EXPECT_EQ(1, xcrs.xcrs[0].value);
	xcrs.xcrs[0].value = 7;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_XCRS, (unsigned long)&xcrs));
	/* AVX without SSE is not a valid XCR0. */
	xcrs.xcrs[0].value = 5;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_XCRS, (unsigned long)&xcrs));

	/* ymm0 = two halves through KVM_SET_XSAVE. */
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_XSAVE, (unsigned long)xs));
	pattern(area + 160, 16, 0x01);			/* xmm0 */
	pattern(area + XSAVE_YMM_HI, 16, 0x61);		/* ymm0[255:128] */
	memcpy(&bv, area + XSAVE_XSTATE_BV, 8);
	bv |= 6;
	memcpy(area + XSAVE_XSTATE_BV, &bv, 8);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_XSAVE, (unsigned long)xs));
	pattern(load, 32, 0xc0);
	host_sse_work();

	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(7, regs.rbx);				/* XCR0 */
	EXPECT_EQ(0, memcmp(store, area + 160, 16));
	EXPECT_EQ(0, memcmp(store + 16, area + XSAVE_YMM_HI, 16));

	/* ymm1 as loaded by the guest, through KVM_GET_XSAVE. */
	host_sse_work();
	memset(xs, 0, sizeof(*xs));
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_XSAVE, (unsigned long)xs));
	EXPECT_EQ(0, memcmp(area + 160 + 16, load, 16));
	EXPECT_EQ(0, memcmp(area + XSAVE_YMM_HI + 16, load + 16, 16));
	memcpy(&bv, area + XSAVE_XSTATE_BV, 8);
	EXPECT_EQ(6, bv & 6);

	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_XCRS, (unsigned long)&xcrs));
	EXPECT_EQ(7, xcrs.xcrs[0].value);
	free(xs);
}

/*
 * KVM_SET_XCRS accepts only what the guest's CPUID leaf 0xD allows (and
 * x87 alone before any CPUID is set), as XSETBV in the guest.
 */
TEST_F(fpu, xcrs_follow_guest_cpuid)
{
	struct kvm_cpuid2 *cpuid = guest_supported_cpuid(self->g.dev);
	struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
	struct kvm_cpuid_entry2 *d;
	int raw;

	ASSERT_NE(NULL, cpuid);
	if (!has_avx(self->g.dev))
		SKIP(return, "no AVX");
	/* A vCPU without CPUID: x87 only. */
	raw = modvm_ioctl(self->g.vm, KVM_CREATE_VCPU, 7);
	ASSERT_GE(raw, 0);
	xcrs.xcrs[0].value = 3;
	EXPECT_EQ(-EINVAL, modvm_ioctl(raw, KVM_SET_XCRS, (unsigned long)&xcrs));
	xcrs.xcrs[0].value = 1;
	EXPECT_EQ(0, modvm_ioctl(raw, KVM_SET_XCRS, (unsigned long)&xcrs));
	close(raw);

	/* CPUID that lists x87 and SSE, not AVX. */
	d = guest_cpuid_entry(cpuid, 0xd, 0);
	ASSERT_NE(NULL, d);
	d->eax = 3;
	d->edx = 0;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_CPUID2, (unsigned long)cpuid));
	xcrs.xcrs[0].value = 7;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_XCRS, (unsigned long)&xcrs));
	xcrs.xcrs[0].value = 3;
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_XCRS, (unsigned long)&xcrs));
	free(cpuid);
}

TEST_HARNESS_MAIN
