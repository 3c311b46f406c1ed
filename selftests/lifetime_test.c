// SPDX-License-Identifier: GPL-2.0
/*
 * Object lifetimes: a VM lives while any fd or mapping references it, the
 * module cannot be removed while one does, and create/destroy cycles leak
 * nothing.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "modvm_util.h"

TEST(vm_outlives_system_fd)
{
	int dev = modvm_open_device();
	int vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	int vcpu;

	ASSERT_GE(vm, 0);
	close(dev);
	vcpu = modvm_ioctl(vm, KVM_CREATE_VCPU, 0);
	EXPECT_GE(vcpu, 0);
	close(vcpu);
	close(vm);
}

TEST(vcpu_keeps_vm_alive)
{
	int dev = modvm_open_device();
	int vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	int vcpu = modvm_ioctl(vm, KVM_CREATE_VCPU, 3);
	struct kvm_regs regs;

	ASSERT_GE(vcpu, 0);
	close(vm);
	close(dev);
	memset(&regs, 0xa5, sizeof(regs));
	EXPECT_EQ(0, modvm_ioctl(vcpu, KVM_GET_REGS, (unsigned long)&regs));
	EXPECT_EQ(0xfff0, regs.rip);
	close(vcpu);
}

static long delete_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

static long load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long r;

	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return r;
}

/*
 * rmmod is refused while any fd or mapping is open and works after.
 * delete_module(O_NONBLOCK) reports a module in use as EWOULDBLOCK.
 */
TEST(module_pinned_by_users)
{
	int dev, vm, vcpu;
	long size;
	void *run;

	if (strcmp(modvm_device_path(), MODVM_DEVICE_PATH))
		SKIP(return, "only for modvm's own module");

	dev = modvm_open_device();
	size = modvm_ioctl(dev, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	ASSERT_GE(vm, 0);
	vcpu = modvm_ioctl(vm, KVM_CREATE_VCPU, 0);
	ASSERT_GE(vcpu, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	ASSERT_NE(MAP_FAILED, run);

	EXPECT_EQ(-EWOULDBLOCK, delete_module(MODVM_MODULE_NAME));
	close(dev);
	EXPECT_EQ(-EWOULDBLOCK, delete_module(MODVM_MODULE_NAME));
	close(vm);
	EXPECT_EQ(-EWOULDBLOCK, delete_module(MODVM_MODULE_NAME));
	close(vcpu);
	/* Only the mapping is left, and it still pins the module. */
	EXPECT_EQ(-EWOULDBLOCK, delete_module(MODVM_MODULE_NAME));
	munmap(run, size);

	ASSERT_EQ(0, delete_module(MODVM_MODULE_NAME));
	EXPECT_NE(0, access(MODVM_DEVICE_PATH, F_OK));
	ASSERT_EQ(0, load_module(modvm_module_path()));
	dev = modvm_open_device();
	EXPECT_EQ(12, modvm_ioctl(dev, KVM_GET_API_VERSION, 0));
	close(dev);
}

static void create_destroy_cycle(struct __test_metadata *_metadata, long size)
{
	static char mem[4 * 4096] __attribute__((aligned(4096)));
	int dev = modvm_open_device();
	int vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	int vcpu0, vcpu1;
	void *run;

	ASSERT_GE(vm, 0);
	ASSERT_EQ(0, modvm_set_memslot(vm, 0, 0, 0, sizeof(mem), mem));
	ASSERT_EQ(0, modvm_set_memslot(vm, 1, 0, 0x100000, sizeof(mem), mem));
	vcpu0 = modvm_ioctl(vm, KVM_CREATE_VCPU, 0);
	vcpu1 = modvm_ioctl(vm, KVM_CREATE_VCPU, 1);
	ASSERT_GE(vcpu0, 0);
	ASSERT_GE(vcpu1, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu0, 0);
	ASSERT_NE(MAP_FAILED, run);
	*(volatile char *)run = 0;	/* fault the page in */
	munmap(run, size);
	close(vcpu1);
	close(vcpu0);
	close(vm);
	close(dev);
}

/*
 * 1000 VMs, each with memslots, two vCPUs and a mapping, created and
 * destroyed: kernel memory must come back. A leak of even one page per
 * cycle would show as 4 MiB.
 */
FIXTURE(cycles) {
	int unused;
};

FIXTURE_SETUP(cycles)
{
}

FIXTURE_TEARDOWN(cycles)
{
}

TEST_F_TIMEOUT(cycles, create_destroy_no_leak, 600)
{
	int dev = modvm_open_device();
	long size = modvm_ioctl(dev, KVM_GET_VCPU_MMAP_SIZE, 0);
	long slab0, free0, slab1, free1;
	int i;

	close(dev);
	for (i = 0; i < 100; i++)	/* warm caches up */
		create_destroy_cycle(_metadata, size);
	slab0 = modvm_meminfo_kb("Slab");
	free0 = modvm_meminfo_kb("MemFree");
	for (i = 0; i < 1000; i++)
		create_destroy_cycle(_metadata, size);
	slab1 = modvm_meminfo_kb("Slab");
	free1 = modvm_meminfo_kb("MemFree");
	TH_LOG("after 1000 cycles: Slab %+ld KiB, MemFree %+ld KiB",
	       slab1 - slab0, free1 - free0);
	EXPECT_LT(slab1 - slab0, 512);
	EXPECT_GT(free1 - free0, -2048);
}

TEST_HARNESS_MAIN
