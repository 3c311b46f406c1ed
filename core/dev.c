// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/modvm: the system file descriptor of the KVM-compatible ABI.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/cpumask.h>

#include "modvm.h"
#include "../uapi/modvm.h"

/**
 * modvm_check_extension() - answer KVM_CHECK_EXTENSION.
 * @vm: the VM asked through a VM fd, or NULL for the system fd.
 * @cap: a KVM_CAP_* number.
 *
 * Only capabilities that work end to end are reported.
 *
 * Return: 0 when unsupported, else a positive value whose meaning is the
 * capability's (often 1, sometimes a limit).
 */
long modvm_check_extension(struct modvm_vm *vm, unsigned long cap)
{
	switch (cap) {
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_READONLY_MEM:
	case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
	case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
	case KVM_CAP_CHECK_EXTENSION_VM:
	case KVM_CAP_SET_TSS_ADDR:
	case KVM_CAP_SET_IDENTITY_MAP_ADDR:
	case KVM_CAP_EXT_CPUID:
	case KVM_CAP_XSAVE:
	case KVM_CAP_XCRS:
	case KVM_CAP_DEBUGREGS:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_VCPU_EVENTS:
	case KVM_CAP_USER_NMI:
	case KVM_CAP_MP_STATE:
	/* Host mapping changes reach the guest through the MMU notifier. */
	case KVM_CAP_SYNC_MMU:
	/* The in-kernel devices (core/irqchip/). */
	case KVM_CAP_IRQCHIP:
	case KVM_CAP_IRQ_INJECT_STATUS:
	case KVM_CAP_IRQFD:
	case KVM_CAP_IRQFD_RESAMPLE:
	case KVM_CAP_IOEVENTFD:
	case KVM_CAP_IOEVENTFD_NO_LENGTH:
	case KVM_CAP_IOEVENTFD_ANY_LENGTH:
	case KVM_CAP_SIGNAL_MSI:
	case KVM_CAP_PIT:
	case KVM_CAP_PIT2:
	case KVM_CAP_PIT_STATE2:
	case KVM_CAP_REINJECT_CONTROL:
	case KVM_CAP_SET_BOOT_CPU_ID:
	case KVM_CAP_TSC_DEADLINE_TIMER:
		return 1;
	case KVM_CAP_IRQ_ROUTING:
		return 4096;	/* KVM_MAX_IRQ_ROUTES */
	case KVM_CAP_NR_VCPUS:
		return min_t(unsigned int, num_online_cpus(), MODVM_MAX_VCPUS);
	case KVM_CAP_MAX_VCPUS:
		return MODVM_MAX_VCPUS;
	case KVM_CAP_MAX_VCPU_ID:
		return MODVM_MAX_VCPU_ID;
	case KVM_CAP_NR_MEMSLOTS:
		return MODVM_USER_MEM_SLOTS;
	default:
		return 0;
	}
}

/* Two pages: struct kvm_run, then the port I/O data page. */
#define MODVM_VCPU_MMAP_SIZE	(2 * PAGE_SIZE)

static long modvm_dev_ioctl(struct file *filp, unsigned int ioctl,
			    unsigned long arg)
{
	switch (ioctl) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : KVM_API_VERSION;
	case KVM_CREATE_VM:
		return modvm_vm_create(arg);
	case KVM_CHECK_EXTENSION:
		return modvm_check_extension(NULL, arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : MODVM_VCPU_MMAP_SIZE;
	case KVM_GET_SUPPORTED_CPUID:
		return modvm_get_supported_cpuid((void __user *)arg);
	case KVM_GET_MSR_INDEX_LIST:
		return modvm_get_msr_index_list((void __user *)arg);
	case MODVM_GET_VIRTIO_TYPES:
		return modvm_virtio_types((u64 __user *)arg);
	default:
		/* KVM answers unknown system ioctls with -EINVAL. */
		return -EINVAL;
	}
}

static const struct file_operations modvm_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = modvm_dev_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice modvm_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "modvm",
	.fops = &modvm_dev_fops,
};

/**
 * modvm_dev_register() - create /dev/modvm.
 *
 * Return: 0 or a negative errno from misc_register().
 */
int modvm_dev_register(void)
{
	return misc_register(&modvm_miscdev);
}

/**
 * modvm_dev_unregister() - remove /dev/modvm.
 */
void modvm_dev_unregister(void)
{
	misc_deregister(&modvm_miscdev);
}
