// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of a guest's first touch of a page: the guest writes one byte to
 * each page of a fresh memslot, timing the loop with RDTSC, then once more
 * (all mapped) to subtract the cost of the loop itself. Every first touch
 * is a nested/extended page fault with TDP, or a shadow page fault without
 * it. Prints one line per run; run it once per device and paging mode in
 * the same emulated host.
 *
 *   fault_cost [PAGES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "guest.h"

#define BENCH_BASE	0x1000000	/* identity-mapped in 2 MiB pages */
#define BENCH_SLOT	1

/* r15 = pages; rbx = cycles of the first pass, rcx of the second. */
GUEST_ASM(fault_guest,
	".code64\n"
	"mov $2, %r12d\n"
	"3: mov $" GUEST_XSTR(BENCH_BASE) ", %rdi\n"
	"mov %r15, %r14\n"
	"rdtsc\n shl $32, %rdx\n or %rax, %rdx\n mov %rdx, %r13\n"
	"1: movb $1, (%rdi)\n add $0x1000, %rdi\n dec %r14\n jnz 1b\n"
	"rdtsc\n shl $32, %rdx\n or %rax, %rdx\n sub %r13, %rdx\n"
	"mov %rcx, %rbx\n mov %rdx, %rcx\n"
	"dec %r12d\n jnz 3b\n"
	G_CALL(GUEST_DONE));

/* "tdp" or "shadow", from modvm's tdp or kvm-amd/kvm-intel's npt/ept. */
static const char *paging_mode(void)
{
	static const char *const params[] = {
		"/sys/module/modvm/parameters/tdp",
		"/sys/module/kvm_amd/parameters/npt",
		"/sys/module/kvm_intel/parameters/ept",
	};
	int i = modvm_is_modvm() ? 0 : 1;
	char c = '?';

	for (; i < 3 && c == '?'; i++) {
		FILE *f = fopen(params[i], "r");

		if (f) {
			if (fread(&c, 1, 1, f) != 1)
				c = '?';
			fclose(f);
		}
		if (!i)
			break;
	}
	return c == 'Y' || c == '1' ? "tdp" : "shadow";
}

int main(int argc, char **argv)
{
	long pages = argc > 1 ? strtol(argv[1], NULL, 0) : 4096;
	size_t size = (size_t)pages << 12;
	struct kvm_userspace_memory_region region = {
		.slot = BENCH_SLOT,
		.guest_phys_addr = BENCH_BASE,
		.memory_size = size,
	};
	struct guest g;
	struct guest_vcpu *v;
	struct kvm_regs regs;
	void *mem;

	if (pages < 1 || pages > 65536) {
		fprintf(stderr, "fault_cost: 1 to 65536 pages\n");
		return 1;
	}
	guest_create(&g);
	v = guest_add_vcpu(&g);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		perror("fault_cost: mmap");
		return 1;
	}
	/* Populated: the host's own page faults are not what is measured. */
	region.userspace_addr = (uintptr_t)mem;
	if (modvm_ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region)) {
		fprintf(stderr, "fault_cost: KVM_SET_USER_MEMORY_REGION failed\n");
		return 1;
	}
	guest_load(&g, fault_guest, fault_guest_end);
	if (guest_set_mode(v, GUEST_MODE_LONG64)) {
		fprintf(stderr, "fault_cost: cannot enter long mode\n");
		return 1;
	}
	guest_get_regs(v, &regs);
	regs.r15 = pages;
	guest_set_regs(v, &regs);
	if (guest_call(v, &regs) != GUEST_DONE) {
		fprintf(stderr, "fault_cost: guest failed\n");
		return 1;
	}
	printf("fault_cost device=%s paging=%s pages=%ld first_touch_cycles=%llu\n",
	       modvm_device_path(), paging_mode(), pages,
	       regs.rbx > regs.rcx ? (regs.rbx - regs.rcx) / pages : 0);
	guest_destroy(&g);
	munmap(mem, size);
	return 0;
}
