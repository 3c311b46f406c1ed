// SPDX-License-Identifier: GPL-2.0
/*
 * Creating and removing in-kernel virtio devices (MODVM_CREATE_VIRTIO),
 * their file descriptors, and the questions userspace asks about them.
 *
 * A device lives as long as its fd: it holds a reference on the VM, its
 * own on the backing file and on the VMM's address space (where its
 * threads read guest memory). Closing the fd takes it off the MMIO bus
 * first, so no vCPU reaches it any more, then waits for its I/O, stops
 * its threads and drops its line.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "virtio.h"

static const struct modvm_virtio_ops *const device_types[] = {
	&modvm_virtio_blk_ops,
	&modvm_virtio_net_ops,
	&modvm_virtio_rng_ops,
};

static const struct modvm_virtio_ops *find_type(u32 type)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(device_types); i++)
		if (device_types[i]->type == type)
			return device_types[i];
	return NULL;
}

/**
 * modvm_virtio_types() - MODVM_GET_VIRTIO_TYPES.
 * @argp: where the mask goes.
 *
 * Return: 0 or -EFAULT.
 */
long modvm_virtio_types(u64 __user *argp)
{
	u64 mask = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(device_types); i++)
		mask |= BIT_ULL(device_types[i]->type);
	return put_user(mask, argp);
}

static void dev_free(struct modvm_virtio_dev *dev)
{
	if (dev->mm)
		mmput(dev->mm);
	modvm_vm_put(dev->vm);
	kfree(dev);
}

static int modvm_virtio_release(struct inode *inode, struct file *filp)
{
	struct modvm_virtio_dev *dev = filp->private_data;
	struct modvm_vm *vm = dev->vm;

	modvm_io_bus_unregister(vm, MODVM_MMIO_BUS, &dev->iodev);
	/* Never unquiesced: the worker takes nothing more. */
	mutex_lock(&dev->lock);
	modvm_virtio_quiesce(dev);
	mutex_unlock(&dev->lock);
	if (dev->ops->detach)
		dev->ops->detach(dev);
	modvm_virtio_threads_stop(dev);
	modvm_virtio_lower_line(dev);
	dev->ops->destroy(dev);
	mutex_lock(&vm->virtio_lock);
	list_del(&dev->link);
	vm->nr_virtio--;
	mutex_unlock(&vm->virtio_lock);
	dev_free(dev);
	return 0;
}

static long get_stats(struct modvm_virtio_dev *dev, void __user *argp)
{
	struct modvm_virtio_stats stats;

	mutex_lock(&dev->lock);
	stats = dev->stats;
	mutex_unlock(&dev->lock);
	stats.notifies = atomic64_read(&dev->notifies);
	stats.status = READ_ONCE(dev->status);
	return copy_to_user(argp, &stats, sizeof(stats)) ? -EFAULT : 0;
}

static long modvm_virtio_ioctl(struct file *filp, unsigned int ioctl,
			       unsigned long arg)
{
	struct modvm_virtio_dev *dev = filp->private_data;

	switch (ioctl) {
	case MODVM_VIRTIO_GET_STATS:
		return get_stats(dev, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations modvm_virtio_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = modvm_virtio_ioctl,
	.release = modvm_virtio_release,
	.llseek = noop_llseek,
};

/* Arguments every device type shares; errno as uapi/modvm.h documents. */
static int check_args(struct modvm_vm *vm, const struct modvm_virtio_create *a,
		      const struct modvm_virtio_ops *ops)
{
	int i;

	if (a->flags & ~ops->flags || a->reserved0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return -EINVAL;
	if (!PAGE_ALIGNED(a->mmio_base) ||
	    (a->mmio_base >> PAGE_SHIFT) > modvm_mmu_max_gfn())
		return -EINVAL;
	if (a->gsi >= KVM_IOAPIC_NUM_PINS)
		return -EINVAL;
	if (a->num_queues &&
	    (a->num_queues < ops->min_queues || a->num_queues > ops->max_queues))
		return -EINVAL;
	if (a->queue_size && (!is_power_of_2(a->queue_size) || a->queue_size < 2 ||
			      a->queue_size > MODVM_VIRTIO_MAX_QUEUE_SIZE))
		return -EINVAL;
	return 0;
}

/**
 * modvm_virtio_set_line() - what a device drives on its GSI.
 * @dev: the device.
 * @level: up or down; a change from what it drove before.
 *
 * Devices may share a line, as PCI INTx pins are shared: it is up while
 * any of them holds it up.
 */
void modvm_virtio_set_line(struct modvm_virtio_dev *dev, bool level)
{
	struct modvm_vm *vm = dev->vm;
	u16 *up = &vm->virtio_lines[dev->gsi];

	spin_lock(&vm->virtio_line_lock);
	if (level ? !(*up)++ : !--(*up))
		modvm_irq_set_device_line(vm, dev->gsi, level);
	spin_unlock(&vm->virtio_line_lock);
}

/* Take one of the VM's device slots. */
static int claim(struct modvm_vm *vm, struct modvm_virtio_dev *dev)
{
	lockdep_assert_held(&vm->virtio_lock);
	if (vm->nr_virtio >= MODVM_VIRTIO_MAX_DEVICES)
		return -ENOSPC;
	list_add(&dev->link, &vm->virtio_devs);
	vm->nr_virtio++;
	return 0;
}

static void unclaim(struct modvm_vm *vm, struct modvm_virtio_dev *dev)
{
	mutex_lock(&vm->virtio_lock);
	list_del(&dev->link);
	vm->nr_virtio--;
	mutex_unlock(&vm->virtio_lock);
}

static struct modvm_virtio_dev *dev_alloc(struct modvm_vm *vm,
					  const struct modvm_virtio_ops *ops,
					  const struct modvm_virtio_create *a)
{
	u16 nr_queues = a->num_queues ?: ops->min_queues, i;
	struct modvm_virtio_dev *dev;

	dev = kzalloc(struct_size(dev, vqs, nr_queues), GFP_KERNEL_ACCOUNT);
	if (!dev)
		return NULL;
	dev->vm = vm;
	dev->ops = ops;
	dev->iodev.ops = &modvm_virtio_mmio_ops;
	dev->base = a->mmio_base;
	dev->gsi = a->gsi;
	INIT_LIST_HEAD(&dev->link);
	mutex_init(&dev->lock);
	spin_lock_init(&dev->isr_lock);
	init_llist_head(&dev->done_list);
	init_waitqueue_head(&dev->idle);
	spin_lock_init(&dev->busy_lock);
	spin_lock_init(&dev->pool_lock);
	INIT_LIST_HEAD(&dev->pool_list);
	init_waitqueue_head(&dev->pool_wait);
	dev->nr_queues = nr_queues;
	dev->queue_size = a->queue_size ?: MODVM_VIRTIO_DEFAULT_QUEUE_SIZE;
	dev->features = BIT_ULL(VIRTIO_F_VERSION_1) |
			BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |
			BIT_ULL(VIRTIO_RING_F_EVENT_IDX);
	for (i = 0; i < nr_queues; i++) {
		dev->vqs[i].dev = dev;
		dev->vqs[i].index = i;
	}
	return dev;
}

/**
 * modvm_virtio_create() - MODVM_CREATE_VIRTIO: a device and its fd.
 * @vm: the VM.
 * @argp: struct modvm_virtio_create.
 *
 * Return: the device's fd, or a negative errno (uapi/modvm.h) with
 * nothing changed.
 */
long modvm_virtio_create(struct modvm_vm *vm, void __user *argp)
{
	const struct modvm_virtio_ops *ops;
	struct modvm_virtio_create args;
	struct modvm_virtio_dev *dev;
	struct file *file;
	int fd, r;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	ops = find_type(args.type);
	if (!ops)
		return -ENODEV;
	r = check_args(vm, &args, ops);
	if (r)
		return r;
	if (!modvm_irqchip_in_kernel(vm))
		return -ENXIO;
	dev = dev_alloc(vm, ops, &args);
	if (!dev)
		return -ENOMEM;
	modvm_vm_get(vm);
	dev->mm = get_task_mm(current);
	if (!dev->mm) {
		dev_free(dev);
		return -EIO;
	}
	r = ops->create(dev, &args);
	if (r) {
		dev_free(dev);
		return r;
	}
	mutex_lock(&vm->virtio_lock);
	r = claim(vm, dev);
	mutex_unlock(&vm->virtio_lock);
	if (r)
		goto destroy;
	r = modvm_virtio_threads_start(dev);
	if (r)
		goto unclaim;
	if (ops->attach)
		ops->attach(dev);
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto detach;
	}
	file = anon_inode_getfile("modvm-virtio", &modvm_virtio_fops, dev, O_RDWR);
	if (IS_ERR(file)) {
		r = PTR_ERR(file);
		goto put_fd;
	}
	/* Last: from here the guest can reach it. */
	r = modvm_io_bus_register(vm, MODVM_MMIO_BUS, dev->base,
				  MODVM_VIRTIO_MMIO_SIZE, &dev->iodev);
	if (r) {
		/* fput() runs the release, which undoes everything. */
		put_unused_fd(fd);
		fput(file);
		return r;
	}
	fd_install(fd, file);
	return fd;

put_fd:
	put_unused_fd(fd);
detach:
	if (ops->detach)
		ops->detach(dev);
	modvm_virtio_threads_stop(dev);
unclaim:
	unclaim(vm, dev);
destroy:
	ops->destroy(dev);
	dev_free(dev);
	return r;
}
