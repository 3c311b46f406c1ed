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

#endif /* _UAPI_MODVM_H */
