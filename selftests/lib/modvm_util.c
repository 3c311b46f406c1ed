// SPDX-License-Identifier: GPL-2.0
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

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
