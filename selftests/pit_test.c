// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel PIT (KVM_CREATE_PIT2) and 8259 PIC as a guest programs
 * them: channel 0 in rate-generator mode raises IRQ0, the master PIC
 * turns it into vector 0x20 through the BSP's LINT0 (ExtINT), the guest
 * EOIs at the PIC. The ticks come at the programmed rate, counted with
 * the guest TSC (no tick early: the n-th not before n periods, 5% for
 * the host's TSC calibration; at most twice as slow plus 100 ms, as
 * emulated hosts deliver late). Port 0x61 gives channel 2's gate and the
 * speaker bit, and channel 2 counts down, read through a latch.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "apic.h"

#define S(x)		GUEST_XSTR(x)
#define TICKS		(GUEST_DATA + 0x00)
#define TSC_A		(GUEST_DATA + 0x08)
#define TSC_B		(GUEST_DATA + 0x10)
#define NTICKS		(GUEST_DATA + 0x18)
#define PORT61		(GUEST_DATA + 0x20)
#define LATCH1		(GUEST_DATA + 0x28)
#define LATCH2		(GUEST_DATA + 0x30)
#define PIT_HZ		1193182
#define COUNT		5966			/* 5 ms */
#define LATE_MS		100

#define OUTB(v, port)	"mov $" #v ", %al\n out %al, $" #port "\n"

/* Read channel 2's latched count into @dst. */
#define LATCH2_READ(dst) OUTB(0x80, 0x43) \
	"in $0x42, %al\n mov %al, %bl\n in $0x42, %al\n mov %al, %bh\n" \
	"movzwl %bx, %ebx\n mov %rbx, " dst "\n"

#define GUEST_BLOB pit_guest
GUEST_ASM(pit_guest,
	".code64\n"
	/* PICs: vectors 0x20 and 0x28, cascade on IRQ2, only IRQ0 open. */
	OUTB(0x11, 0x20) OUTB(0x20, 0x21) OUTB(0x04, 0x21) OUTB(0x01, 0x21)
	OUTB(0x11, 0xa0) OUTB(0x28, 0xa1) OUTB(0x02, 0xa1) OUTB(0x01, 0xa1)
	OUTB(0xfe, 0x21) OUTB(0xff, 0xa1)
	"rdtsc\n shl $32, %rdx\n or %rdx, %rax\n mov %rax, " S(TSC_A) "\n"
	/* Channel 0: lobyte/hibyte, mode 2. */
	OUTB(0x34, 0x43)
	"mov $" S(COUNT) ", %eax\n out %al, $0x40\n mov %ah, %al\n out %al, $0x40\n"
	"mov " S(NTICKS) ", %rcx\n"
	"1: cli\n cmp %rcx, " S(TICKS) "\n jae 2f\n sti\n hlt\n jmp 1b\n"
	"2: " OUTB(0xff, 0x21)
	/* Gate and speaker on; channel 2 counts down in mode 0. */
	OUTB(0x03, 0x61)
	"in $0x61, %al\n movzbl %al, %eax\n mov %rax, " S(PORT61) "\n"
	OUTB(0xb0, 0x43) OUTB(0xff, 0x42) OUTB(0xff, 0x42)
	LATCH2_READ(S(LATCH1))
	"mov $20000, %ecx\n 3: pause\n loop 3b\n"
	LATCH2_READ(S(LATCH2))
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"pit_handler:\n"
	"push %rax\n push %rdx\n"
	"rdtsc\n shl $32, %rdx\n or %rdx, %rax\n mov %rax, " S(TSC_B) "\n"
	"incq " S(TICKS) "\n"
	OUTB(0x20, 0x20)
	"pop %rdx\n pop %rax\n"
	"iretq\n");
#undef GUEST_BLOB

extern const unsigned char pit_handler[];

static uint64_t data(struct guest *g, uint64_t gpa)
{
	return *apic_u64(g, gpa);
}

/* Only for TEST_F_TIMEOUT: guests take long under bochs. */
FIXTURE(pit) {
	int unused;
};

FIXTURE_SETUP(pit)
{
}

FIXTURE_TEARDOWN(pit)
{
}

TEST_F_TIMEOUT(pit, irq0_through_pic, 120)
{
	struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };
	const uint64_t n = 6;
	uint64_t tsc_ms, got, want, p61;
	struct kvm_pit_state2 st;
	struct guest_vcpu *v;
	struct guest g;

	GUEST_REQUIRE_RUN();
	tsc_ms = apic_tsc_per_ms();
	guest_create(&g);
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, 0));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_CREATE_PIT2, (unsigned long)&cfg));
	v = guest_add_vcpu(&g);
	guest_load(&g, pit_guest, pit_guest_end);
	guest_set_gate(&g, 0x20, LABEL_GPA(pit_guest, pit_handler));
	*(uint64_t *)guest_ptr(&g, NTICKS) = n;
	ASSERT_EQ(0, apic_long_mode(v, GUEST_CODE));
	ASSERT_EQ(GUEST_DONE, guest_call(v, NULL));

	EXPECT_LE(n, data(&g, TICKS));
	got = data(&g, TSC_B) - data(&g, TSC_A);
	want = n * COUNT * 1000ull * tsc_ms / PIT_HZ;
	TH_LOG("%llu PIT ticks: %llu TSC cycles, expected %llu",
	       (unsigned long long)n, (unsigned long long)got,
	       (unsigned long long)want);
	EXPECT_LE(want * 95 / 100, got);
	EXPECT_GT(want * 2 + LATE_MS * tsc_ms, got);

	p61 = data(&g, PORT61);
	EXPECT_EQ(3u, p61 & 3);			/* gate 2, speaker data */
	EXPECT_GT(data(&g, LATCH1), data(&g, LATCH2));	/* counts down */

	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_GET_PIT2, (unsigned long)&st));
	EXPECT_EQ(2, st.channels[0].mode);
	EXPECT_EQ((uint32_t)COUNT, st.channels[0].count);
	EXPECT_EQ(0, st.channels[2].mode);
	EXPECT_EQ(1, st.channels[2].gate);
	EXPECT_TRUE(st.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON);
	guest_destroy(&g);
}

TEST_HARNESS_MAIN
