// SPDX-License-Identifier: GPL-2.0
/*
 * --disk, --net and --rng: virtio-mmio devices that run inside modvm
 * (MODVM_CREATE_VIRTIO, uapi/modvm.h). modvm-run only places them in the
 * guest-physical map, opens the backing files and taps and keeps the
 * device fds open; transport and data path are the module's. Disks and
 * network devices come in command-line order (the first --disk is the
 * guest's /dev/vda), then the RNG. Debian's kvm.ko has no such devices:
 * these options need modvm.
 */
#define _GNU_SOURCE	/* O_DIRECT, asprintf() */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "launcher.h"

#define DISK_SYNTAX	"FILE[,ro][,direct][,serial=S]"
#define NET_SYNTAX	"tap=NAME[,mac=MAC]"
#define TUN_PATH	"/dev/net/tun"

_Static_assert(VIRTIO_TAP_NAME_SIZE == IFNAMSIZ, "tap names are IFNAMSIZ long");

static const char *type_name(uint32_t type)
{
	switch (type) {
	case MODVM_VIRTIO_BLK:
		return "virtio-blk";
	case MODVM_VIRTIO_NET:
		return "virtio-net";
	default:
		return "virtio-rng";
	}
}

static struct virtio_device *add_device(struct vm *vm, const char *option, const char *spec)
{
	if (vm->nvirtio == VIRTIO_MAX_DEVICES)
		die("%s%s%s: too many devices, at most %d in all", option,
		    *spec ? " " : "", spec, VIRTIO_MAX_DEVICES);
	return &vm->virtio[vm->nvirtio++];
}

/* FILE[,ro][,direct][,serial=S]: FILE itself cannot hold a comma. */
void virtio_add_disk(struct vm *vm, const char *spec)
{
	struct virtio_device *dev;
	char *copy, *option, *opt, *next;
	int i, disk = 0;

	for (i = 0; i < vm->nvirtio; i++)
		disk += vm->virtio[i].type == MODVM_VIRTIO_BLK;
	dev = add_device(vm, "--disk", spec);
	copy = strdup(spec);
	if (!copy)
		die("out of memory");
	next = strchr(copy, ',');
	if (next)
		*next++ = '\0';
	if (!*copy)
		die("--disk '%s': no file name (--disk %s)", spec, DISK_SYNTAX);
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

/* MAC: six hex bytes separated by colons, as 02:00:00:00:00:01. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	int i;

	for (i = 0; i < 6; i++) {
		int hi, lo;

		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return false;
		hi = isdigit((unsigned char)s[0]) ? s[0] - '0' : (tolower(s[0]) - 'a' + 10);
		lo = isdigit((unsigned char)s[1]) ? s[1] - '0' : (tolower(s[1]) - 'a' + 10);
		mac[i] = hi << 4 | lo;
		s += 2;
		if (*s != (i == 5 ? '\0' : ':'))
			return false;
		s++;
	}
	return true;
}

/*
 * The MAC of a NIC without mac=: 02:6d:H (0x02: locally administered,
 * unicast; 0x6d: 'm'), H the 32-bit FNV-1a hash of the tap's name,
 * most significant byte first. The same tap gets the same MAC on every
 * boot; modvm-run(1) gives the formula.
 */
static void derive_mac(const char *name, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (; *name; name++) {
		h ^= (uint8_t)*name;
		h *= 16777619u;
	}
	mac[0] = 0x02;
	mac[1] = 0x6d;
	mac[2] = h >> 24;
	mac[3] = h >> 16;
	mac[4] = h >> 8;
	mac[5] = h;
}

/* tap=NAME[,mac=MAC], in any order. */
void virtio_add_net(struct vm *vm, const char *spec)
{
	struct virtio_device *dev;
	char *copy, *option, *opt, *next;
	const char *tap = NULL, *mac = NULL;
	int i;

	dev = add_device(vm, "--net", spec);
	copy = strdup(spec);
	if (!copy)
		die("out of memory");
	for (next = copy; (opt = next);) {
		next = strchr(opt, ',');
		if (next)
			*next++ = '\0';
		if (!strncmp(opt, "tap=", 4) && !tap)
			tap = opt + 4;
		else if (!strncmp(opt, "mac=", 4) && !mac)
			mac = opt + 4;
		else if (!strncmp(opt, "tap=", 4) || !strncmp(opt, "mac=", 4))
			die("--net %s: '%.3s=' given twice (--net %s)", spec, opt, NET_SYNTAX);
		else
			die("--net %s: unknown option '%s' (--net %s)", spec, opt, NET_SYNTAX);
	}
	if (!tap)
		die("--net %s: no tap= (--net %s)", spec, NET_SYNTAX);
	if (!*tap)
		die("--net %s: empty tap name", spec);
	if (strlen(tap) >= VIRTIO_TAP_NAME_SIZE)
		die("--net %s: tap name '%s' is longer than %d bytes", spec, tap,
		    VIRTIO_TAP_NAME_SIZE - 1);
	/* What the kernel's dev_valid_name() takes. */
	if (!strcmp(tap, ".") || !strcmp(tap, "..") || strpbrk(tap, "/: \t\n\v\f\r"))
		die("--net %s: '%s' is not a valid interface name", spec, tap);
	for (i = 0; i < vm->nvirtio - 1; i++)
		if (vm->virtio[i].type == MODVM_VIRTIO_NET && !strcmp(vm->virtio[i].tap, tap))
			die("--net %s: tap %s is given twice", spec, tap);
	*dev = (struct virtio_device){
		.type = MODVM_VIRTIO_NET, .backing_fd = -1, .fd = -1,
	};
	strcpy(dev->tap, tap);
	if (asprintf(&option, "--net tap=%s", tap) < 0)
		die("out of memory");
	dev->option = option;
	if (mac) {
		static const uint8_t zero[6];

		if (!parse_mac(mac, dev->mac))
			die("--net %s: bad MAC address '%s' (six hex bytes: 02:00:00:00:00:01)",
			    spec, mac);
		if (dev->mac[0] & 1)
			die("--net %s: MAC %s is a multicast address (its first byte is odd)",
			    spec, mac);
		if (!memcmp(dev->mac, zero, sizeof(zero)))
			die("--net %s: MAC %s is all zeros", spec, mac);
	} else {
		derive_mac(tap, dev->mac);
	}
	free(copy);
}

/*
 * TUNSETIFF refused an existing interface (EINVAL): say why from its
 * tun_flags in sysfs where sysfs shows our network namespace.
 */
static void __attribute__((noreturn)) not_a_tap(const struct virtio_device *dev)
{
	unsigned int flags = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", dev->tap);
	f = fopen(path, "r");
	if (f && fscanf(f, "%x", &flags) == 1) {
		fclose(f);
		if (!(flags & IFF_TAP))
			die("%s: %s is a tun device (IP packets), not a tap", dev->option, dev->tap);
		if (flags & IFF_MULTI_QUEUE)
			die("%s: %s is a multi-queue tap; modvm-run attaches one queue",
			    dev->option, dev->tap);
	} else if (f) {
		fclose(f);
	}
	die("%s: %s is an interface but not a single-queue tap (TUNSETIFF: %s)",
	    dev->option, dev->tap, strerror(EINVAL));
}

/*
 * Attach to tap dev->tap, or create it (then it lasts as long as the
 * device holds it), for modvm's virtio-net: IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, one queue. modvm sets the header size and offloads.
 */
static void open_tap(struct virtio_device *dev)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };

	dev->backing_fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
	if (dev->backing_fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			die("%s: no %s (is the tun module loaded?)", dev->option, TUN_PATH);
		die_errno("%s: %s", dev->option, TUN_PATH);
	}
	memcpy(ifr.ifr_name, dev->tap, sizeof(dev->tap));
	if (!ioctl(dev->backing_fd, TUNSETIFF, &ifr))
		return;
	switch (errno) {
	case EBUSY:
		die("%s: tap %s is in use (another process has it open)",
		    dev->option, dev->tap);
	case EINVAL:
		not_a_tap(dev);
	case EPERM:
		die("%s: not allowed to attach to or create tap %s (needs CAP_NET_ADMIN, or a tap owned by this user)",
		    dev->option, dev->tap);
	default:
		die_errno("%s: TUNSETIFF on %s", dev->option, dev->tap);
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
		struct virtio_device *dev = add_device(vm, "--rng", "");

		*dev = (struct virtio_device){
			.type = MODVM_VIRTIO_RNG, .option = "--rng",
			.backing_fd = -1, .fd = -1,
		};
	}
	for (i = 0; i < vm->nvirtio; i++) {
		struct virtio_device *dev = &vm->virtio[i];

		dev->mmio_base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE;
		dev->gsi = VIRTIO_FIRST_GSI + i % VIRTIO_GSI_COUNT;
		dev->shared_gsi = i % VIRTIO_GSI_COUNT + VIRTIO_GSI_COUNT < vm->nvirtio;
		if (dev->type == MODVM_VIRTIO_BLK)
			open_backing(dev);
		else if (dev->type == MODVM_VIRTIO_NET)
			open_tap(dev);
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
	if (dev->type == MODVM_VIRTIO_NET) {
		create.num_queues = 2;	/* receive, transmit */
		memcpy(create.net.mac, dev->mac, sizeof(dev->mac));
	}
	dev->fd = ioctl(vm->vm_fd, MODVM_CREATE_VIRTIO, &create);
	if (dev->fd < 0) {
		if (errno == ENOTTY)
			not_served(vm, dev,
				   "has no in-kernel virtio devices (MODVM_CREATE_VIRTIO)");
		die_errno("%s: MODVM_CREATE_VIRTIO of a %s device", dev->option,
			  type_name(dev->type));
	}
	/* modvm holds its own reference to the backing file or tap. */
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
