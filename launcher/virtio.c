// SPDX-License-Identifier: GPL-2.0
/*
 * --disk and --rng: virtio-mmio devices that run inside modvm
 * (MODVM_CREATE_VIRTIO, uapi/modvm.h). modvm-run only places them in the
 * guest-physical map, opens the backing files and keeps the device fds
 * open; transport and data path are the module's. Disks come first, in
 * command-line order (the first --disk is the guest's /dev/vda), then the
 * RNG. Debian's kvm.ko has no such devices: these options need modvm.
 */
#define _GNU_SOURCE	/* O_DIRECT, asprintf() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"

#define DISK_SYNTAX	"FILE[,ro][,direct][,serial=S]"

static const char *type_name(uint32_t type)
{
	return type == MODVM_VIRTIO_BLK ? "virtio-blk" : "virtio-rng";
}

/* FILE[,ro][,direct][,serial=S]: FILE itself cannot hold a comma. */
void virtio_add_disk(struct vm *vm, const char *spec)
{
	struct virtio_device *dev;
	char *copy, *option, *opt, *next;
	int disk = vm->nvirtio;

	if (vm->nvirtio == VIRTIO_MAX_DEVICES)
		die("--disk %s: too many devices, at most %d disks", spec, VIRTIO_MAX_DEVICES);
	copy = strdup(spec);
	if (!copy)
		die("out of memory");
	next = strchr(copy, ',');
	if (next)
		*next++ = '\0';
	if (!*copy)
		die("--disk '%s': no file name (--disk %s)", spec, DISK_SYNTAX);
	dev = &vm->virtio[vm->nvirtio++];
	*dev = (struct virtio_device){
		.type = MODVM_VIRTIO_BLK, .path = copy,
		.backing_fd = -1, .fd = -1,
	};
	if (asprintf(&option, "--disk %s", copy) < 0)
		die("out of memory");
	dev->option = option;
	snprintf(dev->serial, sizeof(dev->serial), "modvm-disk%d", disk);
	while ((opt = next)) {
		next = strchr(opt, ',');
		if (next)
			*next++ = '\0';
		if (!strcmp(opt, "ro")) {
			dev->read_only = true;
		} else if (!strcmp(opt, "direct")) {
			dev->direct = true;
		} else if (!strncmp(opt, "serial=", 7)) {
			if (strlen(opt + 7) > VIRTIO_SERIAL_SIZE)
				die("--disk %s: serial '%s' is longer than %d bytes",
				    spec, opt + 7, VIRTIO_SERIAL_SIZE);
			strcpy(dev->serial, opt + 7);
		} else {
			die("--disk %s: unknown option '%s' (--disk %s)",
			    spec, opt, DISK_SYNTAX);
		}
	}
}

/*
 * An exclusive lock for a writable disk, a shared one for a read-only
 * disk, as QEMU takes: the same image written by two devices (or two
 * VMs) would be corrupted. The lock lives as long as modvm's reference
 * to the open file. File systems without flock() go unprotected.
 */
static void lock_backing(const struct virtio_device *dev)
{
	if (!flock(dev->backing_fd, (dev->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB))
		return;
	if (errno == EWOULDBLOCK)
		die("%s: in use%s by another disk or process (locked)",
		    dev->option, dev->read_only ? " read-write" : "");
}

static void open_backing(struct virtio_device *dev)
{
	int flags = (dev->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	if (dev->direct)
		flags |= O_DIRECT;
	dev->backing_fd = open(dev->path, flags);
	if (dev->backing_fd < 0) {
		if (errno == ENOENT)
			die("%s: no such file", dev->option);
		if (!dev->read_only && (errno == EACCES || errno == EROFS || errno == EPERM))
			die("%s: %s (add ,ro for a read-only disk)",
			    dev->option, strerror(errno));
		if (dev->direct && errno == EINVAL)
			die("%s: its file system does not support O_DIRECT (drop ,direct)",
			    dev->option);
		die_errno("%s", dev->option);
	}
	if (fstat(dev->backing_fd, &st))
		die_errno("%s: fstat", dev->option);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		die("%s: not a regular file or block device", dev->option);
	lock_backing(dev);
}

void virtio_prepare(struct vm *vm)
{
	int i;

	if (vm->want_rng) {
		if (vm->nvirtio == VIRTIO_MAX_DEVICES)
			die("--rng: too many devices: %d disks and the RNG, at most %d (pins %d-%d)",
			    vm->nvirtio, VIRTIO_MAX_DEVICES, VIRTIO_FIRST_GSI,
			    VIRTIO_FIRST_GSI + VIRTIO_MAX_DEVICES - 1);
		vm->virtio[vm->nvirtio++] = (struct virtio_device){
			.type = MODVM_VIRTIO_RNG, .option = "--rng",
			.backing_fd = -1, .fd = -1,
		};
	}
	for (i = 0; i < vm->nvirtio; i++) {
		struct virtio_device *dev = &vm->virtio[i];

		dev->mmio_base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE;
		dev->gsi = VIRTIO_FIRST_GSI + i;
		if (dev->type == MODVM_VIRTIO_BLK)
			open_backing(dev);
	}
}

/* Debian's kvm.ko answers modvm's ioctls with ENOTTY (VM fd) or EINVAL. */
static void __attribute__((noreturn)) not_served(const struct vm *vm,
						 const struct virtio_device *dev,
						 const char *why)
{
	die("%s: %s %s: in-kernel virtio needs modvm", dev->option, vm->device, why);
}

static void create_device(struct vm *vm, struct virtio_device *dev)
{
	struct modvm_virtio_create create = {
		.type = dev->type,
		.flags = dev->read_only ? MODVM_VIRTIO_RDONLY : 0,
		.mmio_base = dev->mmio_base,
		.gsi = dev->gsi,
		.fd = dev->backing_fd,
	};

	/* NUL-padded, not necessarily NUL-terminated. */
	if (dev->type == MODVM_VIRTIO_BLK)
		memcpy(create.blk.serial, dev->serial, strlen(dev->serial));
	dev->fd = ioctl(vm->vm_fd, MODVM_CREATE_VIRTIO, &create);
	if (dev->fd < 0) {
		if (errno == ENOTTY)
			not_served(vm, dev,
				   "has no in-kernel virtio devices (MODVM_CREATE_VIRTIO)");
		die_errno("%s: MODVM_CREATE_VIRTIO of a %s device", dev->option,
			  type_name(dev->type));
	}
	/* modvm holds its own reference to the backing file. */
	if (dev->backing_fd >= 0)
		close(dev->backing_fd);
	dev->backing_fd = -1;
}

void virtio_create(struct vm *vm)
{
	char why[120];
	uint64_t types;
	int i;

	if (!vm->nvirtio)
		return;
	if (ioctl(vm->sys_fd, MODVM_GET_VIRTIO_TYPES, &types) < 0) {
		snprintf(why, sizeof(why),
			 "has no in-kernel virtio devices (MODVM_GET_VIRTIO_TYPES: %s)",
			 strerror(errno));
		not_served(vm, &vm->virtio[0], why);
	}
	for (i = 0; i < vm->nvirtio; i++) {
		struct virtio_device *dev = &vm->virtio[i];

		if (!(types & (1ULL << dev->type))) {
			snprintf(why, sizeof(why), "does not serve %s devices (types 0x%llx)",
				 type_name(dev->type), (unsigned long long)types);
			not_served(vm, dev, why);
		}
		create_device(vm, dev);
	}
}
