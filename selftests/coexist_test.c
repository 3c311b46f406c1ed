// SPDX-License-Identifier: GPL-2.0
/*
 * modvm and Debian's kvm.ko side by side: either may be loaded while the
 * other runs VMs, but only one can own the CPUs' virtualization at a time;
 * the other's VM creation fails with EBUSY, never with corruption.
 */
#include <fcntl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "guest.h"

#define KVM_LOADER	"/modvm/kvm/load"

FIXTURE(coexist) {
	int modvm, kvm;
};

FIXTURE_SETUP(coexist)
{
	GUEST_REQUIRE_RUN();
	if (access("/dev/kvm", F_OK)) {
		if (access(KVM_LOADER, X_OK))
			SKIP(fflush(stdout); _exit(255), "no kvm.ko in this host");
		ASSERT_EQ(0, system(KVM_LOADER " >/dev/null 2>&1"));
	}
	self->modvm = modvm_open_device();
	self->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->kvm, 0);
}

FIXTURE_TEARDOWN(coexist)
{
	close(self->kvm);
	close(self->modvm);
}

TEST_F(coexist, both_loaded_idle)
{
	int vm = modvm_ioctl(self->modvm, KVM_CREATE_VM, 0);

	ASSERT_GE(vm, 0);
	EXPECT_EQ(KVM_EXIT_HLT, modvm_run_tiny_guest(vm, 0));
	close(vm);

	vm = modvm_ioctl(self->kvm, KVM_CREATE_VM, 0);
	ASSERT_GE(vm, 0);
	EXPECT_EQ(KVM_EXIT_HLT, modvm_run_tiny_guest(vm, 0));
	close(vm);
}

TEST_F(coexist, kvm_busy_while_modvm_runs_vms)
{
	int vm = modvm_ioctl(self->modvm, KVM_CREATE_VM, 0);

	ASSERT_GE(vm, 0);
	EXPECT_EQ(-EBUSY, modvm_ioctl(self->kvm, KVM_CREATE_VM, 0));
	/* modvm's VM is unharmed. */
	EXPECT_EQ(KVM_EXIT_HLT, modvm_run_tiny_guest(vm, 0));
	close(vm);
	/* The hardware is free again once modvm's last VM is gone. */
	vm = modvm_ioctl(self->kvm, KVM_CREATE_VM, 0);
	EXPECT_GE(vm, 0);
	close(vm);
}

TEST_F(coexist, modvm_busy_while_kvm_runs_vms)
{
	int kvm_vm = modvm_ioctl(self->kvm, KVM_CREATE_VM, 0);
	int vm;

	ASSERT_GE(kvm_vm, 0);
	EXPECT_EQ(-EBUSY, modvm_ioctl(self->modvm, KVM_CREATE_VM, 0));
	EXPECT_EQ(KVM_EXIT_HLT, modvm_run_tiny_guest(kvm_vm, 0));
	close(kvm_vm);
	vm = modvm_ioctl(self->modvm, KVM_CREATE_VM, 0);
	ASSERT_GE(vm, 0);
	EXPECT_EQ(KVM_EXIT_HLT, modvm_run_tiny_guest(vm, 1));
	close(vm);
}

TEST_HARNESS_MAIN
