// SPDX-License-Identifier: GPL-2.0
/*
 * The system fd: API version, capabilities, mmap size, VM creation and
 * the errno of every bad argument.
 */
#include <fcntl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "modvm_util.h"

FIXTURE(sys) {
	int dev;
};

FIXTURE_SETUP(sys)
{
	self->dev = modvm_open_device();
}

FIXTURE_TEARDOWN(sys)
{
	close(self->dev);
}

TEST_F(sys, api_version)
{
	EXPECT_EQ(12, modvm_ioctl(self->dev, KVM_GET_API_VERSION, 0));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, KVM_GET_API_VERSION, 1));
}

TEST_F(sys, vcpu_mmap_size)
{
	long size = modvm_ioctl(self->dev, KVM_GET_VCPU_MMAP_SIZE, 0);
	long page = sysconf(_SC_PAGESIZE);

	/* At least kvm_run and the PIO data page, in whole pages. */
	EXPECT_GE(size, 2 * page);
	EXPECT_EQ(0, size % page);
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, KVM_GET_VCPU_MMAP_SIZE, 1));
}

TEST_F(sys, check_extension_basics)
{
	EXPECT_EQ(1, modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY));
	EXPECT_EQ(1, modvm_ioctl(self->dev, KVM_CHECK_EXTENSION,
				 KVM_CAP_CHECK_EXTENSION_VM));
	/* Host unmaps and remaps reach the guest (QEMU requires it). */
	EXPECT_EQ(1, modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_MMU));
	/* Unknown capability numbers are simply unsupported. */
	EXPECT_EQ(0, modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, 0x7fffffff));
}

TEST_F(sys, check_extension_limits)
{
	long nr = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	long max = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	long max_id = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	long slots = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);

	EXPECT_GE(nr, 1);
	EXPECT_LE(nr, max);
	EXPECT_GE(max_id, max);
	EXPECT_GE(slots, 32);
}

TEST_F(sys, check_extension_vm_fd_agrees)
{
	int vm = modvm_ioctl(self->dev, KVM_CREATE_VM, 0);
	const long caps[] = {
		KVM_CAP_USER_MEMORY, KVM_CAP_NR_VCPUS, KVM_CAP_MAX_VCPUS,
		KVM_CAP_NR_MEMSLOTS, KVM_CAP_IRQCHIP, KVM_CAP_READONLY_MEM,
	};
	unsigned int i;

	ASSERT_GE(vm, 0);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		EXPECT_EQ(modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, caps[i]),
			  modvm_ioctl(vm, KVM_CHECK_EXTENSION, caps[i]));
	close(vm);
}

TEST_F(sys, create_vm)
{
	int vm = modvm_ioctl(self->dev, KVM_CREATE_VM, 0);
	int flags;

	ASSERT_GE(vm, 0);
	/* VM fds are close-on-exec, as KVM's. */
	flags = fcntl(vm, F_GETFD);
	EXPECT_TRUE(flags & FD_CLOEXEC);
	EXPECT_EQ(0, close(vm));
}

TEST_F(sys, create_vm_bad_type)
{
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, KVM_CREATE_VM, 1));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, KVM_CREATE_VM, 0x80000000ul));
}

TEST_F(sys, unknown_ioctl)
{
	/* KVM answers unknown system ioctls with EINVAL... */
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, _IO(KVMIO, 0x3f), 0));
	/* ...and VM/vCPU ioctls on the system fd are unknown there. */
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, KVM_CREATE_VCPU, 0));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->dev, KVM_GET_REGS, 0));
}

TEST_F(sys, many_vms_at_once)
{
	int vms[64];
	unsigned int i;

	for (i = 0; i < 64; i++) {
		vms[i] = modvm_ioctl(self->dev, KVM_CREATE_VM, 0);
		ASSERT_GE(vms[i], 0);
	}
	for (i = 0; i < 64; i++)
		EXPECT_EQ(0, close(vms[i]));
}

TEST_HARNESS_MAIN
