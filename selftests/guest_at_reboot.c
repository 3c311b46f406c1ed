// SPDX-License-Identifier: GPL-2.0
/*
 * Not a test the suite runs: tools/run-tests starts it in the background
 * just before the emulated host powers off, so that modvm's reboot
 * notifier switches virtualization off while a vCPU is in guest mode.
 * KVM_RUN must then stop with EIO instead of entering again, and the
 * host must not oops on the way down (the runner scans the console to
 * the very end).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "guest.h"

/*
 * The PAUSE matters in vmx-shadow only: bochs delivers no host interrupt
 * to a VMX guest entered with interrupts off, and its Core 2 has no
 * preemption timer, so a spin without exits would hold the host's only
 * CPU and the poweroff would never come; modvm makes PAUSE exit there.
 */
GUEST_ASM(spin_guest,
	".code64\n"
	"1: inc %rbx\n"
	"pause\n"
	"jmp 1b\n");

TEST(run_until_reboot)
{
	struct guest g;
	struct guest_vcpu *v;
	int r;

	GUEST_REQUIRE_RUN();
	guest_create(&g);
	v = guest_add_vcpu(&g);
	guest_load(&g, spin_guest, spin_guest_end);
	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));
	/* Host interrupts end guest mode inside KVM_RUN only. */
	do
		r = ioctl(v->fd, KVM_RUN, 0);
	while (r == 0 || errno == EINTR);
	printf("# guest_at_reboot: KVM_RUN stopped: %s\n", strerror(errno));
	EXPECT_EQ(EIO, errno);
	guest_destroy(&g);
}

TEST_HARNESS_MAIN
