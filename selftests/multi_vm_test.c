// SPDX-License-Identifier: GPL-2.0
/*
 * Two VMs with four vCPU threads each, all running at once: every vCPU
 * makes a series of calls carrying values derived from its id and its
 * VM's key, then stores a result in its VM's memory.
 */
#include <pthread.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define NR_VMS		2
#define NR_VCPUS	4
#define ROUNDS		16
#define KEY		GUEST_DATA		/* u64 per VM, set by the host */
#define RESULTS		(GUEST_DATA + 0x100)	/* u64 per vCPU */

/*
 * RDI = vCPU id (set by the host). Each round reports RBX = key + id *
 * 0x100 + round; at the end stores key * 2 + id at RESULTS[id].
 */
GUEST_ASM(worker_guest,
	".code64\n"
	"mov " GUEST_XSTR(KEY) ", %r12\n"
	"xor %r13d, %r13d\n"
	"1: mov %rdi, %rbx\n shl $8, %rbx\n add %r12, %rbx\n add %r13, %rbx\n"
	G_CALL(GUEST_REPORT)
	"inc %r13\n cmp $" GUEST_XSTR(ROUNDS) ", %r13\n jne 1b\n"
	"lea (%r12, %r12), %rax\n add %rdi, %rax\n"
	"mov %rax, " GUEST_XSTR(RESULTS) "(, %rdi, 8)\n"
	G_CALL(GUEST_DONE));

struct worker {
	struct guest_vcpu *v;
	uint64_t key;
	int rounds_ok;
	int done;
	pthread_t thread;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct kvm_regs regs;
	long code;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		code = guest_call(w->v, &regs);
		if (code != GUEST_REPORT)
			return NULL;
		if (regs.rbx == w->key + w->v->id * 0x100ull + i)
			w->rounds_ok++;
	}
	w->done = guest_call(w->v, NULL) == GUEST_DONE;
	return NULL;
}

TEST(two_vms_four_vcpus)
{
	static struct guest g[NR_VMS];
	struct worker w[NR_VMS][NR_VCPUS];
	int i, j;
	GUEST_REQUIRE_RUN();

	memset(w, 0, sizeof(w));
	for (i = 0; i < NR_VMS; i++) {
		uint64_t key = 0x1000000ull * (i + 1);

		guest_create(&g[i]);
		guest_load(&g[i], worker_guest, worker_guest_end);
		memcpy(guest_ptr(&g[i], KEY), &key, 8);
		for (j = 0; j < NR_VCPUS; j++) {
			struct kvm_regs regs;

			w[i][j].v = guest_add_vcpu(&g[i]);
			w[i][j].key = key;
			ASSERT_EQ(0, guest_set_mode(w[i][j].v, GUEST_MODE_LONG64));
			guest_get_regs(w[i][j].v, &regs);
			regs.rdi = j;
			guest_set_regs(w[i][j].v, &regs);
		}
	}
	for (i = 0; i < NR_VMS; i++)
		for (j = 0; j < NR_VCPUS; j++)
			ASSERT_EQ(0, pthread_create(&w[i][j].thread, NULL, work,
						    &w[i][j]));
	for (i = 0; i < NR_VMS; i++)
		for (j = 0; j < NR_VCPUS; j++)
			pthread_join(w[i][j].thread, NULL);

	for (i = 0; i < NR_VMS; i++) {
		for (j = 0; j < NR_VCPUS; j++) {
			uint64_t result;

			EXPECT_EQ(ROUNDS, w[i][j].rounds_ok)
				TH_LOG("VM %d vCPU %d", i, j);
			EXPECT_TRUE(w[i][j].done);
			memcpy(&result, guest_ptr(&g[i], RESULTS + 8 * j), 8);
			EXPECT_EQ(w[i][j].key * 2 + j, result);
		}
		guest_destroy(&g[i]);
	}
}

TEST_HARNESS_MAIN
