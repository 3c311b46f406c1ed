// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of the two commonest exits, measured inside the guest with RDTSC:
 * CPUID (handled in the kernel) and an OUT that exits to userspace and
 * back. Prints one line per run; run it once per device
 * (MODVM_DEVICE=/dev/modvm, /dev/kvm) in the same emulated host.
 *
 *   exit_cost [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "guest.h"

#define BENCH_PORT	0x70

GUEST_ASM(bench_guest,
	".code64\n"
	/* r15 = iterations (from userspace); warm up once each way. */
	"xor %eax, %eax\n"
	"cpuid\n"
	"out %al, $" GUEST_XSTR(BENCH_PORT) "\n"
	/* CPUID loop */
	"mov %r15, %r14\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rax, %rdx\n"
	"mov %rdx, %r13\n"
	"1: xor %eax, %eax\n"
	"cpuid\n"
	"dec %r14\n"
	"jnz 1b\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rax, %rdx\n"
	"sub %r13, %rdx\n"
	"mov %rdx, %r12\n"
	/* OUT loop */
	"mov %r15, %r14\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rax, %rdx\n"
	"mov %rdx, %r13\n"
	"2: out %al, $" GUEST_XSTR(BENCH_PORT) "\n"
	"dec %r14\n"
	"jnz 2b\n"
	"rdtsc\n"
	"shl $32, %rdx\n"
	"or %rax, %rdx\n"
	"sub %r13, %rdx\n"
	"mov %rdx, %rbx\n"
	"mov %r12, %rcx\n"
	G_CALL(GUEST_DONE));

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? strtol(argv[1], NULL, 0) : 10000;
	struct guest g;
	struct guest_vcpu *v;
	struct kvm_regs regs;
	long code;

	guest_create(&g);
	v = guest_add_vcpu(&g);
	guest_load(&g, bench_guest, bench_guest_end);
	if (guest_set_mode(v, GUEST_MODE_LONG64)) {
		fprintf(stderr, "exit_cost: cannot enter long mode\n");
		return 1;
	}
	guest_get_regs(v, &regs);
	regs.r15 = iterations;
	guest_set_regs(v, &regs);
	/* Exits to our own port go straight back into the guest. */
	do {
		if (guest_run(v)) {
			fprintf(stderr, "exit_cost: KVM_RUN failed\n");
			return 1;
		}
	} while (v->run->exit_reason == KVM_EXIT_IO && v->run->io.port == BENCH_PORT);
	guest_get_regs(v, &regs);
	code = v->run->exit_reason == KVM_EXIT_IO &&
	       v->run->io.port == GUEST_PORT ? (long)(uint32_t)regs.rax : -1;
	if (code != GUEST_DONE) {
		fprintf(stderr, "exit_cost: guest failed (%ld)\n", code);
		return 1;
	}
	printf("exit_cost device=%s iterations=%ld cpuid_cycles=%llu pio_user_cycles=%llu\n",
	       modvm_device_path(), iterations,
	       regs.rcx / iterations, regs.rbx / iterations);
	guest_destroy(&g);
	return 0;
}
