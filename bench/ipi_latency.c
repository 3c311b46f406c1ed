// SPDX-License-Identifier: GPL-2.0
/*
 * IPI round trip between two vCPUs with the in-kernel local APICs, in
 * vCPU 0's guest TSC cycles: vCPU 0 sends a fixed IPI to vCPU 1, whose
 * handler sends one back; vCPU 0 waits (spinning) for its handler. Once
 * with vCPU 1 spinning with interrupts on (the IPI reaches a vCPU in
 * guest mode: an IPI to its host CPU), once with vCPU 1 in HLT (the IPI
 * must wake a sleeping vCPU thread: the halt-wakeup path). x2APIC MSRs,
 * so no MMIO emulation is in the measure. Run it once per device
 * (MODVM_DEVICE=/dev/modvm, /dev/kvm) in the same emulated host.
 *
 *   ipi_latency [ROUND_TRIPS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

#define FLAG		GUEST_DATA	/* u32 set by vCPU 0's handler */
#define B_READY		(GUEST_DATA + 4)	/* u32 set once vCPU 1's APIC is on */
#define VEC_TO_B	0x41
#define VEC_TO_A	0x42
#define ROLE_A		0
#define ROLE_B_SPIN	1
#define ROLE_B_HALT	2

/* r15: role; r14: round trips (vCPU 0). EAX/ECX/EDX saved by handlers. */
#define GUEST_BLOB ipi_guest
GUEST_ASM(ipi_guest,
	".code64\n"
	"mov $0x1b, %ecx\n"		/* IA32_APIC_BASE: enable x2APIC */
	"rdmsr\n"
	"or $0xc00, %eax\n"
	"wrmsr\n"
	"mov $0x80f, %ecx\n"		/* SVR: software enable */
	"mov $0x1ff, %eax\n"
	"xor %edx, %edx\n"
	"wrmsr\n"
	"sti\n"
	"cmp $" GUEST_XSTR(ROLE_A) ", %r15\n"
	"jne b_side\n"
	/* A software-disabled APIC drops fixed IPIs: wait for vCPU 1's. */
	"0: pause\n"
	"cmpl $0, " GUEST_XSTR(B_READY) "\n"
	"je 0b\n"
	"xor %r12, %r12\n"
	"mov %r14, %r13\n"
	"1: movl $0, " GUEST_XSTR(FLAG) "\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rax, %rdx\n"
	"mov %rdx, %r11\n"
	"mov $0x830, %ecx\n"		/* ICR: fixed, physical, to APIC 1 */
	"mov $1, %edx\n"
	"mov $" GUEST_XSTR(VEC_TO_B) ", %eax\n"
	"wrmsr\n"
	"2: pause\n"
	"cmpl $0, " GUEST_XSTR(FLAG) "\n"
	"je 2b\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rax, %rdx\n"
	"sub %r11, %rdx\n"
	"add %rdx, %r12\n"
	"dec %r13\n"
	"jnz 1b\n"
	"mov %r12, %rbx\n"
	G_CALL(GUEST_DONE)
	"b_side:\n"
	"movl $1, " GUEST_XSTR(B_READY) "\n"
	"cmp $" GUEST_XSTR(ROLE_B_HALT) ", %r15\n"
	"je 4f\n"
	"3: pause\n"
	"jmp 3b\n"
	"4: hlt\n"
	"jmp 4b\n"
	".balign 16\n"
	"handler_a:\n"
	"push %rax\n"
	"push %rcx\n"
	"push %rdx\n"
	"movl $1, " GUEST_XSTR(FLAG) "\n"
	"mov $0x80b, %ecx\n"		/* EOI */
	"xor %eax, %eax\n"
	"xor %edx, %edx\n"
	"wrmsr\n"
	"pop %rdx\n"
	"pop %rcx\n"
	"pop %rax\n"
	"iretq\n"
	".balign 16\n"
	"handler_b:\n"
	"push %rax\n"
	"push %rcx\n"
	"push %rdx\n"
	"mov $0x830, %ecx\n"		/* ICR: back to APIC 0 */
	"xor %edx, %edx\n"
	"mov $" GUEST_XSTR(VEC_TO_A) ", %eax\n"
	"wrmsr\n"
	"mov $0x80b, %ecx\n"
	"xor %eax, %eax\n"
	"wrmsr\n"
	"pop %rdx\n"
	"pop %rcx\n"
	"pop %rax\n"
	"iretq\n");
#undef GUEST_BLOB

extern const unsigned char handler_a[], handler_b[];

static void on_signal(int sig)
{
	(void)sig;
}

struct side {
	struct guest_vcpu *v;
	long code;		/* vCPU 0: its guest call */
	struct kvm_regs regs;
};

/* vCPU 0: the measure, until its guest call or the watchdog's signal. */
static void *run_a(void *arg)
{
	struct side *a = arg;

	a->code = guest_call(a->v, &a->regs);
	return NULL;
}

static void *run_b(void *arg)
{
	struct side *b = arg;

	/* Until the signal; any other exit is a failure of the bench. */
	while (!guest_run(b->v) && b->v->run->exit_reason != KVM_EXIT_INTR)
		fprintf(stderr, "ipi_latency: vCPU 1 exit %s\n",
			guest_exit_name(b->v->run->exit_reason));
	return NULL;
}

static void setup_vcpu(struct guest_vcpu *v, uint64_t role, uint64_t trips)
{
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (guest_set_mode(v, GUEST_MODE_LONG64) ||
	    modvm_ioctl(v->fd, KVM_SET_MP_STATE, (unsigned long)&mp)) {
		fprintf(stderr, "ipi_latency: cannot set up vCPU %d\n", v->id);
		exit(1);
	}
	guest_get_sregs(v, &sregs);
	sregs.idt.limit = GUEST_IDT_LIMIT_ALL;
	if (modvm_ioctl(v->fd, KVM_SET_SREGS, (unsigned long)&sregs))
		exit(1);
	guest_get_regs(v, &regs);
	regs.r15 = role;
	regs.r14 = trips;
	guest_set_regs(v, &regs);
}

/* A measure that takes longer than this has lost an IPI. */
#define WATCHDOG_SECONDS	120

static void report_stuck(struct side *side)
{
	struct kvm_regs regs;

	guest_get_regs(side->v, &regs);
	fprintf(stderr, "ipi_latency: vCPU %d stuck at rip %#llx rflags %#llx, %llu round trips left\n",
		side->v->id, regs.rip, regs.rflags, regs.r13);
}

/* One measure; returns the average round trip in cycles, 0 on failure. */
static unsigned long long measure(uint64_t b_role, long trips)
{
	struct side a = { .code = GUEST_NOT_A_CALL }, b = { 0 };
	struct timespec deadline;
	pthread_t ta, tb;
	struct guest g;
	bool stuck;

	guest_create(&g);
	if (modvm_ioctl(g.vm, KVM_CREATE_IRQCHIP, 0)) {
		fprintf(stderr, "ipi_latency: KVM_CREATE_IRQCHIP failed\n");
		exit(1);
	}
	a.v = guest_add_vcpu(&g);
	b.v = guest_add_vcpu(&g);
	guest_load(&g, ipi_guest, ipi_guest_end);
	guest_set_gate(&g, VEC_TO_B, GUEST_CODE + (handler_b - ipi_guest));
	guest_set_gate(&g, VEC_TO_A, GUEST_CODE + (handler_a - ipi_guest));
	setup_vcpu(a.v, ROLE_A, trips);
	setup_vcpu(b.v, b_role, 0);

	if (pthread_create(&tb, NULL, run_b, &b) ||
	    pthread_create(&ta, NULL, run_a, &a))
		exit(1);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WATCHDOG_SECONDS;
	stuck = pthread_timedjoin_np(ta, NULL, &deadline) != 0;
	if (stuck) {
		pthread_kill(ta, SIGUSR1);
		pthread_join(ta, NULL);
	}
	pthread_kill(tb, SIGUSR1);
	pthread_join(tb, NULL);
	if (stuck) {
		report_stuck(&a);
		report_stuck(&b);
	}
	guest_destroy(&g);
	if (a.code != GUEST_DONE) {
		fprintf(stderr, "ipi_latency: vCPU 0 failed (%ld)\n", a.code);
		return 0;
	}
	return a.regs.rbx / trips;
}

int main(int argc, char **argv)
{
	long trips = argc > 1 ? strtol(argv[1], NULL, 0) : 1000;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long long spin, halt;
	int dev;

	if (trips < 1)
		trips = 1;
	dev = modvm_open_device();
	if (dev < 0 || modvm_ioctl(dev, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0) {
		printf("ipi_latency device=%s skipped: no in-kernel irqchip\n",
		       modvm_device_path());
		return 0;
	}
	close(dev);
	sigaction(SIGUSR1, &sa, NULL);
	spin = measure(ROLE_B_SPIN, trips);
	halt = measure(ROLE_B_HALT, trips);
	if (!spin || !halt)
		return 1;
	printf("ipi_latency device=%s round_trips=%ld ipi_roundtrip_cycles=%llu halt_wakeup_roundtrip_cycles=%llu\n",
	       modvm_device_path(), trips, spin, halt);
	return 0;
}
