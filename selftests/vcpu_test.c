// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_CREATE_VCPU limits, the kvm_run mapping and the reset register state.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "modvm_util.h"

FIXTURE(vcpu) {
	int dev, vm;
};

FIXTURE_SETUP(vcpu)
{
	self->dev = modvm_open_device();
	self->vm = modvm_ioctl(self->dev, KVM_CREATE_VM, 0);
	ASSERT_GE(self->vm, 0);
}

FIXTURE_TEARDOWN(vcpu)
{
	close(self->vm);
	close(self->dev);
}

TEST_F(vcpu, create)
{
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);

	ASSERT_GE(vcpu, 0);
	EXPECT_TRUE(fcntl(vcpu, F_GETFD) & FD_CLOEXEC);
	/* The same id twice is EEXIST, even while the first fd is open. */
	EXPECT_EQ(-EEXIST, modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0));
	close(vcpu);
	/* ...and after it closed: the vCPU lives as long as the VM. */
	EXPECT_EQ(-EEXIST, modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0));
}

TEST_F(vcpu, id_limits)
{
	long max_id = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	int vcpu;

	ASSERT_GT(max_id, 0);
	vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, max_id - 1);
	EXPECT_GE(vcpu, 0);
	close(vcpu);
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->vm, KVM_CREATE_VCPU, max_id));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0xffffffffu));
}

TEST_F_TIMEOUT(vcpu, count_limit, 120)
{
	long max = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	long max_id = modvm_ioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	long i;

	ASSERT_GT(max, 0);
	ASSERT_GT(max_id, max);
	for (i = 0; i < max; i++) {
		int fd = modvm_ioctl(self->vm, KVM_CREATE_VCPU, i);

		ASSERT_GE(fd, 0);
		close(fd);
	}
	/* One more than the maximum, with a free id: EINVAL. */
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->vm, KVM_CREATE_VCPU, max));
}

TEST_F(vcpu, run_mapping)
{
	long size = modvm_ioctl(self->dev, KVM_GET_VCPU_MMAP_SIZE, 0);
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);
	unsigned char *run;
	long i;

	ASSERT_GE(vcpu, 0);
	ASSERT_GT(size, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	ASSERT_NE(MAP_FAILED, run);
	/* A new vCPU's kvm_run and PIO page are zeroed. */
	for (i = 0; i < size; i++)
		ASSERT_EQ(0, run[i]);
	/* The mapping is shared: a second mapping sees writes to the first. */
	{
		unsigned char *again = mmap(NULL, size, PROT_READ, MAP_SHARED,
					    vcpu, 0);

		ASSERT_NE(MAP_FAILED, again);
		run[offsetof(struct kvm_run, immediate_exit)] = 1;
		EXPECT_EQ(1, again[offsetof(struct kvm_run, immediate_exit)]);
		munmap(again, size);
	}
	close(vcpu);
	/* The mapping outlives the fd. */
	EXPECT_EQ(1, run[offsetof(struct kvm_run, immediate_exit)]);
	munmap(run, size);
}

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(sigbus_jmp, 1);
}

TEST_F(vcpu, mapping_past_the_end_faults)
{
	long size = modvm_ioctl(self->dev, KVM_GET_VCPU_MMAP_SIZE, 0);
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);
	volatile unsigned char *p;
	long page = sysconf(_SC_PAGESIZE);

	ASSERT_GE(vcpu, 0);
	/* Map one page past KVM_GET_VCPU_MMAP_SIZE: touching it is SIGBUS. */
	p = mmap(NULL, size + page, PROT_READ, MAP_SHARED, vcpu, 0);
	ASSERT_NE(MAP_FAILED, p);
	signal(SIGBUS, on_sigbus);
	if (!sigsetjmp(sigbus_jmp, 1)) {
		(void)p[size];
		TH_LOG("reading past the vCPU mapping did not fault");
		EXPECT_TRUE(0);
	}
	signal(SIGBUS, SIG_DFL);
	munmap((void *)p, size + page);
	close(vcpu);
}

TEST_F(vcpu, reset_state)
{
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	ASSERT_GE(vcpu, 0);
	ASSERT_EQ(0, modvm_ioctl(vcpu, KVM_GET_REGS, (unsigned long)&regs));
	EXPECT_EQ(0xfff0, regs.rip);
	EXPECT_EQ(0x2, regs.rflags);
	EXPECT_EQ(0, regs.rax);
	EXPECT_EQ(0, regs.rsp);

	ASSERT_EQ(0, modvm_ioctl(vcpu, KVM_GET_SREGS, (unsigned long)&sregs));
	EXPECT_EQ(0xf000, sregs.cs.selector);
	EXPECT_EQ(0xffff0000, sregs.cs.base);
	EXPECT_EQ(0xffff, sregs.cs.limit);
	EXPECT_EQ(1, sregs.cs.present);
	EXPECT_EQ(1, sregs.cs.s);
	EXPECT_TRUE(sregs.cs.type & 8);		/* code */
	EXPECT_EQ(0, sregs.ds.base);
	EXPECT_EQ(0xffff, sregs.ds.limit);
	EXPECT_EQ(0, sregs.ss.selector);
	EXPECT_EQ(0x60000010, sregs.cr0);
	EXPECT_EQ(0, sregs.cr3);
	EXPECT_EQ(0, sregs.cr4);
	EXPECT_EQ(0, sregs.efer);
	EXPECT_EQ(0xffff, sregs.gdt.limit);
	EXPECT_EQ(0xffff, sregs.idt.limit);
	close(vcpu);
}

TEST_F(vcpu, bad_pointers)
{
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);

	ASSERT_GE(vcpu, 0);
	EXPECT_EQ(-EFAULT, modvm_ioctl(vcpu, KVM_GET_REGS, 8));
	EXPECT_EQ(-EFAULT, modvm_ioctl(vcpu, KVM_GET_SREGS, 8));
	close(vcpu);
}

TEST_F(vcpu, unknown_ioctls)
{
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);

	ASSERT_GE(vcpu, 0);
	/* KVM: unknown vCPU ioctls are EINVAL, unknown VM ioctls ENOTTY. */
	EXPECT_EQ(-EINVAL, modvm_ioctl(vcpu, _IO(KVMIO, 0x3f), 0));
	EXPECT_EQ(-ENOTTY, modvm_ioctl(self->vm, _IO(KVMIO, 0x3f), 0));
	/* A system ioctl is not a VM ioctl. */
	EXPECT_EQ(-ENOTTY, modvm_ioctl(self->vm, KVM_GET_VCPU_MMAP_SIZE, 0));
	close(vcpu);
}

TEST_F(vcpu, other_process_gets_eio)
{
	int vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);
	struct kvm_regs regs;
	pid_t pid;
	int status;

	ASSERT_GE(vcpu, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* A child has another mm: the VM is not its own. */
		int bad = 0;

		bad |= modvm_ioctl(self->vm, KVM_CREATE_VCPU, 1) != -EIO;
		bad |= modvm_ioctl(vcpu, KVM_GET_REGS, (unsigned long)&regs) != -EIO;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(vcpu);
}

/*
 * Out of file descriptors: KVM_CREATE_VCPU fails with EMFILE and leaves
 * nothing behind, so the same id can be created once fds are free.
 */
TEST_F(vcpu, no_free_fd)
{
	struct rlimit old, tight;
	int free_fd = dup(0), vcpu;

	ASSERT_GE(free_fd, 0);
	close(free_fd);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	tight = old;
	tight.rlim_cur = free_fd;	/* no fd at or above the lowest free one */
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &tight));
	vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 3);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	EXPECT_EQ(-EMFILE, vcpu);
	vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 3);
	EXPECT_GE(vcpu, 0);
	close(vcpu);
}

/* KVM_SET_IDENTITY_MAP_ADDR only before the first vCPU, as KVM. */
TEST_F(vcpu, identity_map_addr_before_vcpus)
{
	uint64_t addr = 0xfeffc000;
	int vcpu;

	EXPECT_EQ(-EFAULT, modvm_ioctl(self->vm, KVM_SET_IDENTITY_MAP_ADDR, 8));
	EXPECT_EQ(0, modvm_ioctl(self->vm, KVM_SET_IDENTITY_MAP_ADDR,
				 (unsigned long)&addr));
	vcpu = modvm_ioctl(self->vm, KVM_CREATE_VCPU, 0);
	ASSERT_GE(vcpu, 0);
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->vm, KVM_SET_IDENTITY_MAP_ADDR,
				       (unsigned long)&addr));
	close(vcpu);
}

/* KVM_SET_TSS_ADDR: the three TSS pages must end below 4 GiB. */
TEST_F(vcpu, tss_addr_limit)
{
	EXPECT_EQ(0, modvm_ioctl(self->vm, KVM_SET_TSS_ADDR, 0xfffbd000));
	EXPECT_EQ(0, modvm_ioctl(self->vm, KVM_SET_TSS_ADDR, 0xffffd000));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->vm, KVM_SET_TSS_ADDR, 0xffffe000));
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->vm, KVM_SET_TSS_ADDR, 0x100000000ul));
}

TEST_HARNESS_MAIN
