// SPDX-License-Identifier: GPL-2.0
/*
 * Host CPUs coming and going while VMs exist, and vCPUs moving between
 * host CPUs: virtualization is switched on in a CPU that comes online, and
 * a vCPU keeps working wherever it runs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "guest.h"

#define CPU1_ONLINE	"/sys/devices/system/cpu/cpu1/online"

static int set_online(int online)
{
	int fd = open(CPU1_ONLINE, O_WRONLY);
	int r;

	if (fd < 0)
		return -errno;
	r = write(fd, online ? "1" : "0", 1) == 1 ? 0 : -errno;
	close(fd);
	return r;
}

static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

GUEST_ASM(count_guest,
	".code64\n"
	"1: inc %rbx\n"
	G_CALL(GUEST_REPORT)
	"jmp 1b\n");

TEST(vcpu_moves_between_cpus)
{
	struct guest g;
	struct guest_vcpu *v;
	struct kvm_regs regs;
	int i;

	GUEST_REQUIRE_RUN();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two host CPUs");
	guest_create(&g);
	v = guest_add_vcpu(&g);
	guest_load(&g, count_guest, count_guest_end);
	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));
	/* Every run on the other CPU: the guest's count goes on unbroken. */
	for (i = 1; i <= 40; i++) {
		ASSERT_EQ(0, pin_to(i % 2));
		ASSERT_EQ(GUEST_REPORT, guest_call(v, &regs));
		ASSERT_EQ(i, regs.rbx);
	}
	guest_destroy(&g);
}

TEST(cpu_offline_online_with_vm)
{
	struct guest g;
	struct guest_vcpu *v;
	struct kvm_regs regs;

	GUEST_REQUIRE_RUN();
	if (access(CPU1_ONLINE, W_OK))
		SKIP(return, "CPU 1 cannot go offline here");
	guest_create(&g);
	v = guest_add_vcpu(&g);
	guest_load(&g, count_guest, count_guest_end);
	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, pin_to(0));
	ASSERT_EQ(GUEST_REPORT, guest_call(v, &regs));

	/* With the VM alive, CPU 1 leaves and comes back... */
	ASSERT_EQ(0, set_online(0));
	ASSERT_EQ(0, set_online(1));
	/* ...and runs the guest, so it was switched on again. */
	ASSERT_EQ(0, pin_to(1));
	ASSERT_EQ(GUEST_REPORT, guest_call(v, &regs));
	EXPECT_EQ(2, regs.rbx);
	guest_destroy(&g);

	/* Without VMs, a CPU going offline and online is no concern of ours. */
	ASSERT_EQ(0, set_online(0));
	ASSERT_EQ(0, set_online(1));
	guest_create(&g);
	v = guest_add_vcpu(&g);
	guest_load(&g, count_guest, count_guest_end);
	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));
	ASSERT_EQ(0, pin_to(1));
	ASSERT_EQ(GUEST_REPORT, guest_call(v, &regs));
	EXPECT_EQ(1, regs.rbx);
	guest_destroy(&g);
}

TEST_HARNESS_MAIN
