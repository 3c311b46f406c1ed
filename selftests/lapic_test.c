// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel local APIC timer as a guest sees it, measured with the
 * guest's own TSC: periodic (xAPIC MMIO), one-shot (x2APIC MSRs) and
 * TSC-deadline. The guest waits in HLT, so these also need the vCPU to
 * sleep and be woken by the timer.
 *
 * Rates are checked against the TSC rate the host measures for itself
 * (the guest TSC runs at the host's). No timer may fire early: the n-th
 * periodic tick and a one-shot interrupt come no sooner than n periods
 * after the timer was armed (5% allowed for the host's TSC calibration),
 * a TSC-deadline interrupt not before the deadline, exactly. Lateness is
 * bounded loosely, as emulated hosts on a loaded machine deliver late
 * (Debian's KVM under QEMU TCG was measured up to 12 ms late, and 2.3
 * times slow on a 40 ms periodic run): the periodic run may take up to
 * twice its time plus LATE_MS, the others LATE_MS more.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "apic.h"

#define S(x)		GUEST_XSTR(x)
#define VEC		0x40
#define LATE_MS		100
#define TICKS		(GUEST_DATA + 0x00)
#define TSC_A		(GUEST_DATA + 0x08)
#define TSC_B		(GUEST_DATA + 0x10)
#define PARAM		(GUEST_DATA + 0x18)
#define NTICKS		(GUEST_DATA + 0x20)
#define OUT1		(GUEST_DATA + 0x28)
#define OUT2		(GUEST_DATA + 0x30)

/* EDX:EAX of RDTSC into RAX. */
#define RDTSC64		"rdtsc\n shl $32, %rdx\n or %rdx, %rax\n"
/* Wait with interrupts on until TICKS reaches @n (STI shadows the HLT). */
#define WAIT_TICKS(n)	"1: cli\n cmpq " n ", " S(TICKS) "\n jae 2f\n" \
			"sti\n hlt\n jmp 1b\n 2:\n"

#define GUEST_BLOB periodic_guest
GUEST_ASM(periodic_guest,
	".code64\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $" S(APIC_SVR_ON) ", " S(APIC_SVR) "(%rsi)\n"
	"movl $" S(TDCR_DIV1) ", " S(APIC_TDCR) "(%rsi)\n"
	"movl $(" S(LVTT_PERIODIC) " | " S(VEC) "), " S(APIC_LVTT) "(%rsi)\n"
	RDTSC64
	"mov %rax, " S(TSC_A) "\n"
	"mov " S(PARAM) ", %eax\n"
	"mov %eax, " S(APIC_TMICT) "(%rsi)\n"
	"mov " S(NTICKS) ", %rbx\n"
	"1: cli\n cmp %rbx, " S(TICKS) "\n jae 2f\n sti\n hlt\n jmp 1b\n 2:\n"
	"movl $" S(LVT_MASKED) ", " S(APIC_LVTT) "(%rsi)\n"
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"periodic_handler:\n"
	"push %rax\n push %rdx\n push %rsi\n"
	RDTSC64
	"incq " S(TICKS) "\n"
	"mov %rax, " S(TSC_B) "\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $0, " S(APIC_EOI) "(%rsi)\n"
	"pop %rsi\n pop %rdx\n pop %rax\n"
	"iretq\n");
#undef GUEST_BLOB

#define GUEST_BLOB oneshot_guest
GUEST_ASM(oneshot_guest,
	".code64\n"
	"mov $" S(MSR_APIC_BASE) ", %ecx\n rdmsr\n"
	"or $(" S(APIC_BASE_ENABLE) " | " S(APIC_BASE_X2APIC) "), %eax\n wrmsr\n"
	"xor %edx, %edx\n"
	"mov $" S(MSR_X2APIC(APIC_SVR)) ", %ecx\n mov $" S(APIC_SVR_ON) ", %eax\n wrmsr\n"
	"mov $" S(MSR_X2APIC(APIC_TDCR)) ", %ecx\n mov $" S(TDCR_DIV1) ", %eax\n wrmsr\n"
	"mov $" S(MSR_X2APIC(APIC_LVTT)) ", %ecx\n mov $" S(VEC) ", %eax\n wrmsr\n"
	RDTSC64
	"mov %rax, " S(TSC_A) "\n"
	"xor %edx, %edx\n"
	"mov $" S(MSR_X2APIC(APIC_TMICT)) ", %ecx\n mov " S(PARAM) ", %eax\n wrmsr\n"
	"mov $" S(MSR_X2APIC(APIC_TMCCT)) ", %ecx\n rdmsr\n mov %rax, " S(OUT1) "\n"
	WAIT_TICKS("$1")
	"mov $" S(MSR_X2APIC(APIC_TMCCT)) ", %ecx\n rdmsr\n mov %rax, " S(OUT2) "\n"
	/* Wait twice as long again: a one-shot timer fires once. */
	"mov " S(TSC_B) ", %rbx\n sub " S(TSC_A) ", %rbx\n shl $1, %rbx\n"
	"add " S(TSC_B) ", %rbx\n"
	"sti\n"
	"3: " RDTSC64 " cmp %rbx, %rax\n jb 3b\n"
	"cli\n"
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"oneshot_handler:\n"
	"push %rax\n push %rdx\n push %rcx\n"
	RDTSC64
	"mov %rax, " S(TSC_B) "\n"
	"incq " S(TICKS) "\n"
	"mov $" S(MSR_X2APIC(APIC_EOI)) ", %ecx\n xor %eax, %eax\n xor %edx, %edx\n wrmsr\n"
	"pop %rcx\n pop %rdx\n pop %rax\n"
	"iretq\n");
#undef GUEST_BLOB

#define GUEST_BLOB deadline_guest
GUEST_ASM(deadline_guest,
	".code64\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $" S(APIC_SVR_ON) ", " S(APIC_SVR) "(%rsi)\n"
	"movl $(" S(LVTT_TSC_DEADLINE) " | " S(VEC) "), " S(APIC_LVTT) "(%rsi)\n"
	RDTSC64
	"add " S(PARAM) ", %rax\n"
	"mov %rax, " S(TSC_A) "\n"
	"mov %rax, %rdx\n shr $32, %rdx\n"
	"mov $" S(MSR_TSC_DEADLINE) ", %ecx\n wrmsr\n"
	WAIT_TICKS("$1")
	"mov $" S(MSR_TSC_DEADLINE) ", %ecx\n rdmsr\n"
	"shl $32, %rdx\n or %rdx, %rax\n mov %rax, " S(OUT1) "\n"
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"deadline_handler:\n"
	"push %rax\n push %rdx\n push %rsi\n"
	RDTSC64
	"mov %rax, " S(TSC_B) "\n"
	"incq " S(TICKS) "\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $0, " S(APIC_EOI) "(%rsi)\n"
	"pop %rsi\n pop %rdx\n pop %rax\n"
	"iretq\n");
#undef GUEST_BLOB

extern const unsigned char periodic_handler[], oneshot_handler[],
	deadline_handler[];

static uint64_t data(struct guest *g, uint64_t gpa)
{
	return *apic_u64(g, gpa);
}

static void set_data(struct guest *g, uint64_t gpa, uint64_t v)
{
	*apic_u64(g, gpa) = v;
}

FIXTURE(timer) {
	struct guest g;
	struct guest_vcpu *v;
	uint64_t tsc_ms;
};

FIXTURE_SETUP(timer)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
	self->v = guest_add_vcpu(&self->g);
	self->tsc_ms = apic_tsc_per_ms();
	ASSERT_LT(0u, self->tsc_ms);
}

FIXTURE_TEARDOWN(timer)
{
	guest_destroy(&self->g);
}

static void load(struct __test_metadata *_metadata, FIXTURE_DATA(timer) *self,
		 const unsigned char *blob, const unsigned char *end,
		 const unsigned char *handler)
{
	guest_load(&self->g, blob, end);
	guest_set_gate(&self->g, VEC, LABEL_GPA(blob, handler));
	ASSERT_EQ(0, apic_long_mode(self->v, GUEST_CODE));
}

TEST_F_TIMEOUT(timer, periodic, 120)
{
	const uint64_t period_ms = 5, n = 8;
	uint64_t got, want;

	load(_metadata, self, periodic_guest, periodic_guest_end, periodic_handler);
	set_data(&self->g, PARAM, period_ms * 1000000);	/* 1 ns per count */
	set_data(&self->g, NTICKS, n);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	EXPECT_EQ(n, data(&self->g, TICKS));
	got = data(&self->g, TSC_B) - data(&self->g, TSC_A);
	want = n * period_ms * self->tsc_ms;
	TH_LOG("%llu ticks of %llu ms: %llu TSC cycles, expected %llu",
	       (unsigned long long)n, (unsigned long long)period_ms,
	       (unsigned long long)got, (unsigned long long)want);
	EXPECT_LE(want * 95 / 100, got);
	EXPECT_GT(want * 2 + LATE_MS * self->tsc_ms, got);
}

TEST_F_TIMEOUT(timer, oneshot_x2apic, 120)
{
	const uint64_t ms = 3, count = ms * 1000000;
	uint64_t got;

	load(_metadata, self, oneshot_guest, oneshot_guest_end, oneshot_handler);
	set_data(&self->g, PARAM, count);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	EXPECT_EQ(1u, data(&self->g, TICKS));
	/* TMCCT counts down from TMICT while armed, 0 once it fired. */
	EXPECT_LT(0u, data(&self->g, OUT1));
	EXPECT_GE(count, data(&self->g, OUT1));
	EXPECT_EQ(0u, data(&self->g, OUT2));
	got = data(&self->g, TSC_B) - data(&self->g, TSC_A);
	TH_LOG("one-shot of %llu ms: %llu TSC cycles, %llu per ms",
	       (unsigned long long)ms, (unsigned long long)got,
	       (unsigned long long)self->tsc_ms);
	EXPECT_LE(ms * self->tsc_ms * 95 / 100, got);
	EXPECT_GT((ms + LATE_MS) * self->tsc_ms, got);
}

TEST_F_TIMEOUT(timer, tsc_deadline, 120)
{
	uint64_t delta = 3 * self->tsc_ms, late;

	apic_cpuid_tsc_deadline(self->v);
	load(_metadata, self, deadline_guest, deadline_guest_end, deadline_handler);
	set_data(&self->g, PARAM, delta);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	EXPECT_EQ(1u, data(&self->g, TICKS));
	/* Never before the deadline; the MSR reads 0 once it fired. */
	EXPECT_LE(data(&self->g, TSC_A), data(&self->g, TSC_B));
	EXPECT_EQ(0u, data(&self->g, OUT1));
	late = data(&self->g, TSC_B) - data(&self->g, TSC_A);
	TH_LOG("deadline interrupt %llu TSC cycles late", (unsigned long long)late);
	EXPECT_GT(LATE_MS * self->tsc_ms, late);
}

TEST_HARNESS_MAIN
