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

#endif /* _UAPI_MODVM_H */
