/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * modvm user ABI: the binary ABI of <linux/kvm.h> on /dev/modvm, plus
 * modvm's own extensions under their own ioctl type.
 */
#ifndef _UAPI_MODVM_H
#define _UAPI_MODVM_H

#include <linux/kvm.h>

#define MODVM_DEVICE_PATH	"/dev/modvm"

/* modvm's own ioctls; KVM's use KVMIO (0xAE). */
#define MODVMIO			0xA9

/**
 * struct modvm_tdp_stats - how the two-dimensional page tables (NPT/EPT)
 * map guest memory right now.
 * @leaves_4k: 4 KiB leaves present.
 * @leaves_2m: 2 MiB leaves present (guest memory backed by host huge
 *	pages: THP or hugetlbfs).
 * @leaves_1g: 1 GiB leaves present (1 GiB hugetlbfs pages).
 *
 * All zero where the VM runs on shadow paging.
 */
struct modvm_tdp_stats {
	__u64 leaves_4k;
	__u64 leaves_2m;
	__u64 leaves_1g;
};

/* VM fd: read struct modvm_tdp_stats. */
#define MODVM_GET_TDP_STATS	_IOR(MODVMIO, 0x40, struct modvm_tdp_stats)

/*
 * In-kernel virtio devices (virtio/): virtio-mmio version 2 devices whose
 * transport and data path run inside modvm (virtio 1.2 spec, §4.2).
 *
 * Device types are the virtio device IDs (virtio 1.2 §5). Each device
 * decodes one 4 KiB page of guest-physical address space on the VM's
 * in-kernel MMIO bus (so the guest's register accesses never leave
 * KVM_RUN) and signals the guest on a level-triggered GSI of the VM's
 * in-kernel irqchip (IOAPIC pins 0-23). A memslot over the page hides it.
 */
#define MODVM_VIRTIO_NET	1
#define MODVM_VIRTIO_BLK	2
#define MODVM_VIRTIO_RNG	4

/*
 * System or VM fd: write into the __u64 a mask of the device types this
 * module serves (bit N set: type N can be created).
 */
#define MODVM_GET_VIRTIO_TYPES	_IOR(MODVMIO, 0x50, __u64)

/* modvm_virtio_create.flags */
#define MODVM_VIRTIO_RDONLY	0x1	/* blk: refuse guest writes */

#define MODVM_VIRTIO_MAX_QUEUES		16
#define MODVM_VIRTIO_MAX_QUEUE_SIZE	32768
#define MODVM_VIRTIO_DEFAULT_QUEUE_SIZE	256
#define MODVM_VIRTIO_MAX_DEVICES	64	/* per VM */

/**
 * struct modvm_virtio_blk_config - what a block device is created with.
 * @serial: the answer to VIRTIO_BLK_T_GET_ID, NUL-padded (20 bytes, not
 *	necessarily NUL-terminated).
 * @blk_size: logical block size the guest is told, a power of two from
 *	512 to 4096; 0 for the backing's own (512 for a regular file).
 */
struct modvm_virtio_blk_config {
	char serial[20];
	__u32 blk_size;
};

/**
 * struct modvm_virtio_net_config - what a network device is created with.
 * @mac: the guest's MAC address (VIRTIO_NET_F_MAC), unicast; all zero to
 *	offer none (the guest driver then makes one up).
 * @pad: must be 0.
 */
struct modvm_virtio_net_config {
	__u8 mac[6];
	__u8 pad[2];
};

/**
 * struct modvm_virtio_create - MODVM_CREATE_VIRTIO.
 * @type: MODVM_VIRTIO_BLK, MODVM_VIRTIO_NET or MODVM_VIRTIO_RNG.
 * @flags: MODVM_VIRTIO_* flags.
 * @mmio_base: guest-physical address of the register page, 4 KiB aligned.
 * @gsi: the interrupt line, an IOAPIC pin (0-23) of the in-kernel irqchip;
 *	devices may share one (it is up while any of them raises it).
 * @fd: the backing: for blk a regular file or block device (opened
 *	read-write unless MODVM_VIRTIO_RDONLY; opened with O_DIRECT, guest
 *	I/O bypasses the host page cache); for net a tap attached to its
 *	interface, opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (modvm sets
 *	its vnet header size to 12, the virtio 1 header, and its offloads
 *	to what the guest negotiates); -1 for rng. modvm takes its own
 *	reference: userspace may close it afterwards.
 * @num_queues: virtqueues (blk: 1 to MODVM_VIRTIO_MAX_QUEUES, more than
 *	one offers VIRTIO_BLK_F_MQ; net: 2, one receive and one transmit
 *	queue; rng: 1); 0 for the least.
 * @queue_size: QueueNumMax of every queue, a power of two from 2 to
 *	MODVM_VIRTIO_MAX_QUEUE_SIZE; 0 for MODVM_VIRTIO_DEFAULT_QUEUE_SIZE.
 * @reserved0: must be 0.
 * @blk: blk devices: their configuration.
 * @net: net devices: their configuration.
 * @config: the room reserved for every type's configuration.
 * @reserved: must be 0.
 */
struct modvm_virtio_create {
	__u32 type;
	__u32 flags;
	__u64 mmio_base;
	__u32 gsi;
	__s32 fd;
	__u16 num_queues;
	__u16 queue_size;
	__u32 reserved0;
	union {
		struct modvm_virtio_blk_config blk;
		struct modvm_virtio_net_config net;
		__u8 config[64];
	};
	__u64 reserved[4];
};

/*
 * VM fd: create a device; returns its file descriptor (close-on-exec).
 * Closing it removes the device: the guest's accesses to its page go to
 * userspace again once requests in flight have completed. The device
 * holds a reference on the VM. Errors, with nothing changed:
 *   EFAULT  the argument cannot be read
 *   ENODEV  @type is not served (see MODVM_GET_VIRTIO_TYPES)
 *   EINVAL  unknown @flags, nonzero reserved fields, @mmio_base not 4 KiB
 *           aligned or beyond guest-physical addresses, @gsi above 23,
 *           @num_queues or @queue_size out of range, a bad @blk.blk_size,
 *           configuration bytes the type does not have, a multicast
 *           @net.mac, an @fd for rng, or for net an @fd that is not a tap
 *           attached to an interface with IFF_TAP | IFF_NO_PI |
 *           IFF_VNET_HDR
 *   EBADF   @fd is not an open file descriptor, or blk without
 *           MODVM_VIRTIO_RDONLY on one not open for writing
 *   ENOTBLK @fd is neither a regular file nor a block device
 *   ENXIO   the VM has no in-kernel irqchip (KVM_CREATE_IRQCHIP)
 *   EEXIST  the page overlaps another in-kernel device (virtio, IOAPIC...)
 *   ENOSPC  the VM has MODVM_VIRTIO_MAX_DEVICES devices already
 *   ENOMEM  out of memory
 *   EIO     (as every VM ioctl) called from a process other than the VM's
 */
#define MODVM_CREATE_VIRTIO	_IOW(MODVMIO, 0x51, struct modvm_virtio_create)

/**
 * struct modvm_virtio_stats - counters of one device, since its creation.
 * @notifies: QueueNotify writes by the guest.
 * @requests: requests completed into a used ring.
 * @interrupts: used-buffer interrupts raised (not suppressed).
 * @read_bytes: blk: bytes read from the backing into the guest; rng:
 *	bytes of entropy given.
 * @write_bytes: blk: bytes written to the backing.
 * @errors: blk requests completed with VIRTIO_BLK_S_IOERR.
 * @unsupported: blk requests completed with VIRTIO_BLK_S_UNSUPP.
 * @inflight: requests taken from an avail ring and not yet completed.
 * @max_inflight: the most there ever were at once.
 * @resets: device resets (Status 0) by the guest.
 * @status: the Status register now (DEVICE_NEEDS_RESET included).
 * @broken_queues: bit N set: queue N stopped on a malformed ring.
 * @rx_packets: net: packets from the tap put in the guest's buffers.
 * @rx_bytes: net: their bytes (without the virtio-net header).
 * @rx_dropped: net: packets from the tap dropped because the guest's
 *	buffers could not hold them (packets that wait while the guest
 *	offers no buffers are bounded by the tap's queue: its own counter
 *	tx_dropped counts what overflows it).
 * @tx_packets: net: packets the guest sent that the tap took.
 * @tx_bytes: net: their bytes (without the virtio-net header).
 * @tx_dropped: net: packets the guest sent that were dropped: a chain
 *	without a whole header or frame, with a writable buffer, larger
 *	than 64 KiB, a header the tap refused, or no interface behind it.
 * @reserved: 0.
 */
struct modvm_virtio_stats {
	__u64 notifies;
	__u64 requests;
	__u64 interrupts;
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 errors;
	__u64 unsupported;
	__u64 inflight;
	__u64 max_inflight;
	__u64 resets;
	__u32 status;
	__u32 broken_queues;
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 rx_dropped;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 tx_dropped;
	__u64 reserved[6];
};

/* Device fd: read struct modvm_virtio_stats. */
#define MODVM_VIRTIO_GET_STATS	_IOR(MODVMIO, 0x52, struct modvm_virtio_stats)

#endif /* _UAPI_MODVM_H */
