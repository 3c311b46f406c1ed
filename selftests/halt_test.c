// SPDX-License-Identifier: GPL-2.0
/*
 * HLT with an in-kernel irqchip: the vCPU thread sleeps in KVM_RUN (it
 * does not spin: its CPU time, read from the host, stays near zero over
 * a second), a signal ends the sleep with KVM_EXIT_INTR and the vCPU
 * stays halted (KVM_GET_MP_STATE), and a halted vCPU made runnable with
 * KVM_SET_MP_STATE goes on after its HLT.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "guest.h"

/* Interrupts off: only NMI, INIT or a signal can end this HLT. */
#define GUEST_BLOB halt_guest
GUEST_ASM(halt_guest,
	".code64\n"
	"cli\n"
	"hlt\n"
	"halt_after:\n"
	G_CALL(GUEST_DONE));
#undef GUEST_BLOB

extern const unsigned char halt_after[];

struct runner {
	struct guest_vcpu *v;
	pid_t tid;
	int result;
	volatile int started;
};

static int modvm_check_cap(long cap)
{
	int dev = modvm_open_device();
	long r;

	if (dev < 0)
		return 0;
	r = modvm_ioctl(dev, KVM_CHECK_EXTENSION, cap);
	close(dev);
	return r > 0;
}

static void on_signal(int sig)
{
	(void)sig;
}

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;

	r->tid = syscall(SYS_gettid);
	__atomic_store_n(&r->started, 1, __ATOMIC_SEQ_CST);
	r->result = guest_run(r->v);
	return NULL;
}

/* utime + stime of one thread of ours, in clock ticks. */
static long thread_ticks(pid_t tid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the command name: state is 3rd, utime 14th, stime 15th. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &utime, &stime) != 2)
		return -1;
	return utime + stime;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

FIXTURE(halt) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(halt)
{
	struct sigaction sa = { .sa_handler = on_signal };

	GUEST_REQUIRE_RUN();
	if (!modvm_check_cap(KVM_CAP_IRQCHIP))
		SKIP(fflush(stdout); _exit(255),
		     "no in-kernel irqchip (KVM_CAP_IRQCHIP not reported)");
	guest_create(&self->g);
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
	self->v = guest_add_vcpu(&self->g);
	guest_load(&self->g, halt_guest, halt_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	sigaction(SIGUSR1, &sa, NULL);
}

FIXTURE_TEARDOWN(halt)
{
	guest_destroy(&self->g);
}

/*
 * The halted vCPU thread uses (almost) no CPU: at most 5 of the ~100
 * ticks of the measured second (a spinning thread would use them all).
 */
TEST_F(halt, sleeps_while_idle)
{
	struct runner r = { .v = self->v };
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	pthread_t thread;
	long hz = sysconf(_SC_CLK_TCK), before, after;

	ASSERT_EQ(0, pthread_create(&thread, NULL, run_vcpu, &r));
	while (!__atomic_load_n(&r.started, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	/* Let it reach the HLT, then measure one second. */
	sleep_ms(300);
	before = thread_ticks(r.tid);
	sleep_ms(1000);
	after = thread_ticks(r.tid);
	ASSERT_LE(0, before);
	TH_LOG("halted vCPU thread: %ld of %ld ticks in 1 s", after - before, hz);
	EXPECT_GE(hz / 20, after - before);

	/* A signal ends KVM_RUN; the vCPU is still halted after its HLT. */
	pthread_kill(thread, SIGUSR1);
	pthread_join(thread, NULL);
	EXPECT_EQ(-EINTR, r.result);
	EXPECT_EQ(KVM_EXIT_INTR, self->v->run->exit_reason);
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(GUEST_CODE + (halt_after - halt_guest), regs.rip);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_MP_STATE, (unsigned long)&mp));
	EXPECT_EQ(KVM_MP_STATE_HALTED, mp.mp_state);

	/* Runnable again by userspace: it goes on after the HLT. */
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_MP_STATE, (unsigned long)&mp));
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

/* An NMI ends HLT even with interrupts off. */
TEST_F(halt, nmi_wakes)
{
	struct runner r = { .v = self->v };
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	pthread_t thread;

	ASSERT_EQ(0, pthread_create(&thread, NULL, run_vcpu, &r));
	sleep_ms(300);
	pthread_kill(thread, SIGUSR1);
	pthread_join(thread, NULL);
	ASSERT_EQ(-EINTR, r.result);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_MP_STATE, (unsigned long)&mp));
	ASSERT_EQ(KVM_MP_STATE_HALTED, mp.mp_state);

	/* The NMI stub of the guest library reports vector 2 after the HLT. */
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_NMI, 0));
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(2, regs.rbx);
	EXPECT_EQ(GUEST_CODE + (halt_after - halt_guest), regs.rdx);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_MP_STATE, (unsigned long)&mp));
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp.mp_state);
}

TEST_HARNESS_MAIN
