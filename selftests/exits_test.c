// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_RUN endings other than port I/O: HLT without an in-kernel irqchip,
 * triple fault, invalid guest state, a signal interrupting a spinning guest
 * and kvm_run->immediate_exit.
 */
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "guest.h"

GUEST_ASM(hlt_guest,
	".code64\n"
	"hlt\n"
	"mov $0x1234, %ebx\n"
	G_CALL(GUEST_REPORT)
	"hlt\n"
	G_CALL(GUEST_DONE));

GUEST_ASM(ud2_guest,
	".code64\n"
	"ud2\n"
	G_CALL(GUEST_DONE));

GUEST_ASM(ud2_guest32,
	".code32\n"
	"ud2\n"
	G_CALL(GUEST_DONE));

GUEST_ASM(in_guest,
	".code64\n"
	"in $0x20, %al\n"
	"mov %eax, %ebx\n"
	G_CALL(GUEST_DONE));

/* INS into an unmapped page: the write faults when the IN completes. */
GUEST_ASM(ins_fault_guest,
	".code64\n"
	"mov $0x80000000, %edi\n"
	"mov $0x72, %dx\n"
	"insb\n"
	G_CALL(GUEST_FAIL)
	".globl ins_fault_resume\n"
	"ins_fault_resume:\n"
	G_CALL(GUEST_DONE));
extern const unsigned char ins_fault_resume[];

/* An unknown hypercall in 32-bit and in 64-bit code, each then HLT. */
GUEST_ASM(hypercall_vmx32, ".code32\n vmcall\n hlt\n");
GUEST_ASM(hypercall_svm32, ".code32\n vmmcall\n hlt\n");
GUEST_ASM(hypercall_vmx64, ".code64\n vmcall\n hlt\n");
GUEST_ASM(hypercall_svm64, ".code64\n vmmcall\n hlt\n");

/*
 * Spins with interrupts enabled: bochs delivers host interrupts to a guest
 * with IF=0 only through the VMX-preemption timer (see vmx/vmx.c), which
 * its Core 2 model (vmx-shadow) lacks; with no irqchip IF=1 changes
 * nothing else for the guest.
 */
GUEST_ASM(spin_guest,
	".code64\n"
	"sti\n"
	"1: inc %rbx\n"
	"jmp 1b\n");

FIXTURE(exits) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(exits)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(exits)
{
	guest_destroy(&self->g);
}

TEST_F(exits, hlt)
{
	struct kvm_regs regs;

	guest_load(&self->g, hlt_guest, hlt_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_HLT, self->v->run->exit_reason);
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(GUEST_CODE + 1, regs.rip);	/* after the HLT */
	/* KVM_RUN again resumes after the HLT. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x1234, regs.rbx);
	ASSERT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_HLT, self->v->run->exit_reason);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

/*
 * #UD with an empty IDT: #GP, then #DF, then shutdown.
 *
 * Protected mode only: the same triple fault from 64-bit mode, with
 * kvm-amd under QEMU TCG, wedged the emulated host (soft lockups on both
 * CPUs) in about one run in ten.
 */
TEST_F(exits, triple_fault_protected_mode)
{
	guest_load(&self->g, ud2_guest32, ud2_guest32_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_PROT32));
	ASSERT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_SHUTDOWN, self->v->run->exit_reason)
		TH_LOG("exit %s", guest_exit_name(self->v->run->exit_reason));
}

/* With the IDT in place the same #UD is an ordinary exception. */
TEST_F(exits, ud2_with_idt)
{
	struct kvm_regs regs;

	guest_load(&self->g, ud2_guest, ud2_guest_end);
	guest_set_fault_skip(&self->g, 2);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(6, regs.rbx);
	EXPECT_EQ(GUEST_CODE, regs.rdx);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

/*
 * 64-bit mode with CS.L and CS.D both set: KVM_SET_SREGS accepts it, VMRUN
 * refuses it (SVM consistency check), and KVM_RUN reports
 * KVM_EXIT_FAIL_ENTRY. (Where RIP ends up is the emulator's business.)
 */
TEST_F(exits, invalid_guest_state)
{
	struct kvm_sregs sregs;
	struct kvm_run *run = self->v->run;
	bool amd = guest_host_is_amd(self->g.dev);

	guest_load(&self->g, hlt_guest, hlt_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	guest_get_sregs(self->v, &sregs);
	sregs.cs.db = 1;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS, (unsigned long)&sregs));
	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_FAIL_ENTRY, run->exit_reason)
		TH_LOG("exit %s", guest_exit_name(run->exit_reason));
	if (amd) {	/* SVM_EXIT_ERR, as KVM's 32-bit exit code */
		EXPECT_EQ(0xffffffffull, run->fail_entry.hardware_entry_failure_reason);
	} else {	/* VM-entry failure: invalid guest state */
		EXPECT_EQ(0x80000021ull, run->fail_entry.hardware_entry_failure_reason);
	}
	/* Entering again fails the same way. */
	ASSERT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_FAIL_ENTRY, run->exit_reason);
	/* A valid state makes the vCPU usable again. */
	guest_load(&self->g, hlt_guest, hlt_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_HLT, run->exit_reason);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * A periodic timer, so that a signal which lands before KVM_RUN (a busy
 * host) is followed by another one instead of leaving the guest spinning.
 */
static void start_timer(void)
{
	struct itimerval it = {
		.it_value.tv_usec = 20000,
		.it_interval.tv_usec = 20000,
	};

	setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_timer(void)
{
	struct itimerval it = { 0 };

	setitimer(ITIMER_REAL, &it, NULL);
}

TEST_F(exits, signal_interrupts_guest)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct kvm_regs regs;
	uint64_t before;
	int r;

	guest_load(&self->g, spin_guest, spin_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	start_timer();
	r = guest_run(self->v);
	stop_timer();
	EXPECT_EQ(-EINTR, r);
	EXPECT_GE(alarms, 1);
	EXPECT_EQ(KVM_EXIT_INTR, self->v->run->exit_reason);
	guest_get_regs(self->v, &regs);
	EXPECT_GT(regs.rbx, 0);			/* the guest ran... */
	EXPECT_GE(regs.rip, GUEST_CODE);	/* ...inside its loop */
	EXPECT_LT(regs.rip, GUEST_CODE + 5);

	/* It can be resumed, and stopped again. */
	before = regs.rbx;
	alarms = 0;
	self->v->run->exit_reason = 0;
	start_timer();
	r = guest_run(self->v);
	stop_timer();
	EXPECT_EQ(-EINTR, r);
	EXPECT_GE(alarms, 1);
	EXPECT_EQ(KVM_EXIT_INTR, self->v->run->exit_reason);
	guest_get_regs(self->v, &regs);
	EXPECT_GT(regs.rbx, before);
	signal(SIGALRM, SIG_DFL);
}

TEST_F(exits, immediate_exit)
{
	struct kvm_run *run = self->v->run;
	struct kvm_regs regs;

	guest_load(&self->g, hlt_guest, hlt_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	/* KVM returns -EINTR and leaves exit_reason alone. */
	run->immediate_exit = 1;
	run->exit_reason = 0x5eed;
	EXPECT_EQ(-EINTR, guest_run(self->v));
	EXPECT_EQ(0x5eed, run->exit_reason);
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(GUEST_CODE, regs.rip);	/* the guest did not run */
	/* Still set: still no entry. */
	EXPECT_EQ(-EINTR, guest_run(self->v));
	run->immediate_exit = 0;
	ASSERT_EQ(0, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_HLT, run->exit_reason);
}

/*
 * immediate_exit set while an IN is pending: KVM_RUN completes the IN
 * (how a VMM flushes pending I/O before saving state) and returns -EINTR
 * without entering the guest.
 */
TEST_F(exits, immediate_exit_completes_pending_in)
{
	struct kvm_run *run = self->v->run;
	struct kvm_regs regs;

	ASSERT_EQ(0, guest_start(self->v, in_guest, in_guest_end,
				 GUEST_MODE_LONG64));
	ASSERT_EQ(KVM_EXIT_IO, run->exit_reason);
	ASSERT_EQ(KVM_EXIT_IO_IN, run->io.direction);
	*(uint8_t *)guest_io_data(self->v) = 0x5a;
	run->immediate_exit = 1;
	EXPECT_EQ(-EINTR, guest_run(self->v));
	EXPECT_EQ(KVM_EXIT_IO, run->exit_reason);	/* untouched */
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(0x5a, regs.rax & 0xff);
	EXPECT_EQ(GUEST_CODE + 2, regs.rip);
	run->immediate_exit = 0;
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(0x5a, regs.rbx & 0xff);
}

/*
 * KVM_SET_REGS drops an exception the last KVM_RUN queued: here the #PF of
 * an INS whose IN completed (immediate_exit) into an unmapped page. The
 * guest goes on at the new RIP without taking it, as on KVM.
 */
TEST_F(exits, set_regs_drops_pending_exception)
{
	struct kvm_run *run = self->v->run;
	struct kvm_regs regs;

	ASSERT_EQ(0, guest_start(self->v, ins_fault_guest, ins_fault_guest_end,
				 GUEST_MODE_LONG64));
	ASSERT_EQ(KVM_EXIT_IO, run->exit_reason);
	ASSERT_EQ(KVM_EXIT_IO_IN, run->io.direction);
	ASSERT_EQ(0x72, run->io.port);
	run->immediate_exit = 1;
	EXPECT_EQ(-EINTR, guest_run(self->v));
	run->immediate_exit = 0;
	guest_get_regs(self->v, &regs);
	regs.rip = GUEST_CODE + (ins_fault_resume - ins_fault_guest);
	guest_set_regs(self->v, &regs);
	EXPECT_EQ(GUEST_DONE, guest_call(self->v, &regs));
}

/* The result of an unknown hypercall: -KVM_ENOSYS, 32 bits outside long mode. */
static void hypercall_result(struct __test_metadata *_metadata,
			     FIXTURE_DATA(exits) *self, bool amd,
			     enum guest_mode mode, uint64_t expect)
{
	struct kvm_regs regs;
	bool l = mode == GUEST_MODE_LONG64;
	const unsigned char *start = amd ? (l ? hypercall_svm64 : hypercall_svm32) :
				     (l ? hypercall_vmx64 : hypercall_vmx32);
	const unsigned char *end = amd ? (l ? hypercall_svm64_end : hypercall_svm32_end) :
				   (l ? hypercall_vmx64_end : hypercall_vmx32_end);

	ASSERT_EQ(0, guest_start(self->v, start, end, mode));
	ASSERT_EQ(KVM_EXIT_HLT, self->v->run->exit_reason)
		TH_LOG("exit %s", guest_exit_name(self->v->run->exit_reason));
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(expect, regs.rax);
}

TEST_F(exits, hypercall_result_width)
{
	bool amd = guest_host_is_amd(self->g.dev);

	hypercall_result(_metadata, self, amd, GUEST_MODE_LONG64, (uint64_t)-1000);
	hypercall_result(_metadata, self, amd, GUEST_MODE_PROT32,
			 (uint32_t)-1000);
}

TEST_HARNESS_MAIN
