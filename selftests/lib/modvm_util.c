// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "modvm_util.h"

const char *modvm_device_path(void)
{
	const char *path = getenv("MODVM_DEVICE");

	return path && *path ? path : MODVM_DEVICE_PATH;
}

int modvm_open_device(void)
{
	int fd = open(modvm_device_path(), O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", modvm_device_path(),
			strerror(errno));
		abort();
	}
	return fd;
}

long modvm_ioctl(int fd, unsigned long request, unsigned long arg)
{
	long r = ioctl(fd, request, arg);

	return r < 0 ? -errno : r;
}

int modvm_set_memslot(int vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		      uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return modvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region);
}

void *modvm_alloc_guest_memory(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap guest memory");
		abort();
	}
	return p;
}

const char *modvm_module_path(void)
{
	const char *path = getenv("MODVM_MODULE");

	return path && *path ? path : "/modvm/modvm.ko";
}

long modvm_meminfo_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, len) && line[len] == ':') {
			value = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return value;
}

int modvm_wait_child(int pid, int ms)
{
	int status;

	for (; ms >= 0; ms -= 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int modvm_reload_module(void)
{
	/* run-tests loads it with tdp=0 in one env. */
	const char *params = modvm_uses_tdp() ? "" : "tdp=0";
	int fd, r;

	if (syscall(SYS_delete_module, MODVM_MODULE_NAME, O_NONBLOCK))
		return -errno;
	fd = open(modvm_module_path(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return r;
}

int modvm_run_tiny_guest(int vm, int id)
{
	static const unsigned char code[] = {
		0xb0, 0x5a,		/* mov $0x5a, %al */
		0xe6, 0x80,		/* out %al, $0x80 */
		0xf4,			/* hlt */
	};
	const size_t size = 0x10000;
	unsigned char *mem = modvm_alloc_guest_memory(size);
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int vcpu, r;

	memcpy(mem + 0x1000, code, sizeof(code));
	r = modvm_set_memslot(vm, id, 0, 0x100000ul * (id + 1), size, mem);
	if (r)
		return r;
	vcpu = modvm_ioctl(vm, KVM_CREATE_VCPU, id);
	if (vcpu < 0)
		return vcpu;
	run = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return -errno;
	r = modvm_ioctl(vcpu, KVM_GET_SREGS, (unsigned long)&sregs);
	if (r)
		return r;
	/* Real mode, CS:IP = 0x1000 inside this vCPU's slot. */
	sregs.cs.selector = (0x100000ul * (id + 1)) >> 4;
	sregs.cs.base = 0x100000ul * (id + 1);
	if (!modvm_runs_real_mode()) {
		/* 32-bit protected mode instead (same code bytes), no paging. */
		sregs.cr0 |= 1;
		sregs.cs.selector = 8;
		sregs.cs.db = 1;
	}
	r = modvm_ioctl(vcpu, KVM_SET_SREGS, (unsigned long)&sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 2;
	if (!r)
		r = modvm_ioctl(vcpu, KVM_SET_REGS, (unsigned long)&regs);
	if (!r)
		r = modvm_ioctl(vcpu, KVM_RUN, 0);
	if (!r && (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80 ||
		   ((unsigned char *)run)[run->io.data_offset] != 0x5a))
		r = -EPROTO;
	if (!r)
		r = modvm_ioctl(vcpu, KVM_RUN, 0);
	if (!r)
		r = run->exit_reason;
	munmap(run, 2 * 4096);
	close(vcpu);
	munmap(mem, size);
	return r;
}

int modvm_is_modvm(void)
{
	return !strcmp(modvm_device_path(), MODVM_DEVICE_PATH);
}

int modvm_can_run_guests(void)
{
	/*
	 * modvm runs guests with NPT/EPT or with shadow paging, on both
	 * vendors, and does not load where it could not (as kvm-intel): a
	 * device that opens runs guests.
	 */
	return access(modvm_device_path(), R_OK | W_OK) == 0;
}

static int cpu_is_intel(void)
{
	char line[256];
	int intel = 0;
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	if (f) {
		while (!intel && fgets(line, sizeof(line), f))
			intel = strstr(line, "GenuineIntel") != NULL;
		fclose(f);
	}
	return intel;
}

/* A Y/N module parameter's first character; @def when unreadable. */
static char module_param(const char *path, char def)
{
	char c = def;
	FILE *f;

	f = fopen(path, "r");
	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = def;
		fclose(f);
	}
	return c;
}

int modvm_runs_real_mode(void)
{
	/* VT-x without unrestricted guest runs it in virtual-8086 mode. */
	return 1;
}

int modvm_uses_tdp(void)
{
	return module_param("/sys/module/modvm/parameters/tdp", 'Y') == 'Y';
}

int modvm_vmx_shadow(void)
{
	if (!cpu_is_intel())
		return 0;
	if (modvm_is_modvm())
		return !modvm_uses_tdp();
	return module_param("/sys/module/kvm_intel/parameters/ept", 'Y') == 'N';
}
