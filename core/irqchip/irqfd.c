// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_IRQFD: an eventfd that raises a GSI when signalled. Edge irqfds
 * pulse the line; with KVM_IRQFD_FLAG_RESAMPLE the line stays up (as its
 * own source) until the guest acknowledges the interrupt, then drops and
 * the resample eventfd tells userspace to check its device again.
 *
 * The injection runs in the eventfd's wake-up callback, in atomic
 * context: every lock on the delivery path is an irq-safe spinlock.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "devices.h"

struct modvm_irqfd {
	struct list_head list;		/* chip->irqfds */
	struct modvm_irqchip *chip;
	struct eventfd_ctx *eventfd;
	struct eventfd_ctx *resamplefd;	/* NULL for an edge irqfd */
	u32 gsi;
	wait_queue_entry_t wait;
	poll_table pt;
	bool queued;			/* on the eventfd's wait queue */
};

static void inject(struct modvm_irqfd *f)
{
	struct modvm_vm *vm = f->chip->vm;

	if (f->resamplefd) {
		modvm_irq_set(vm, MODVM_SRC_RESAMPLE, f->gsi, true);
		return;
	}
	modvm_irq_set(vm, MODVM_SRC_USER, f->gsi, true);
	modvm_irq_set(vm, MODVM_SRC_USER, f->gsi, false);
}

static int irqfd_wakeup(wait_queue_entry_t *wait, unsigned int mode, int sync,
			void *key)
{
	struct modvm_irqfd *f = container_of(wait, struct modvm_irqfd, wait);
	__poll_t flags = key_to_poll(key);
	u64 cnt;

	if (flags & EPOLLIN) {
		/* Consume the count: one interrupt per signalling burst. */
		eventfd_ctx_do_read(f->eventfd, &cnt);
		inject(f);
	}
	return 0;
}

static void irqfd_queue(struct file *file, wait_queue_head_t *wqh,
			poll_table *pt)
{
	struct modvm_irqfd *f = container_of(pt, struct modvm_irqfd, pt);

	add_wait_queue_priority(wqh, &f->wait);
	f->queued = true;
}

/* Has another resampling irqfd the same GSI? irqfd_lock held. */
static bool gsi_resampled(struct modvm_irqchip *chip, struct modvm_irqfd *except,
			  u32 gsi)
{
	struct modvm_irqfd *f;

	list_for_each_entry(f, &chip->irqfds, list)
		if (f != except && f->resamplefd && f->gsi == gsi)
			return true;
	return false;
}

/* Unhook and free one irqfd; chip->lock held. */
static void irqfd_free(struct modvm_irqchip *chip, struct modvm_irqfd *f)
{
	bool lower;
	u64 cnt;

	if (f->queued)
		eventfd_ctx_remove_wait_queue(f->eventfd, &f->wait, &cnt);
	spin_lock_irq(&chip->irqfd_lock);
	lower = f->resamplefd && !gsi_resampled(chip, f, f->gsi);
	list_del(&f->list);
	spin_unlock_irq(&chip->irqfd_lock);
	/* The last resampler of a GSI takes its level with it. */
	if (lower)
		modvm_irq_set(chip->vm, MODVM_SRC_RESAMPLE, f->gsi, false);
	if (f->resamplefd)
		eventfd_ctx_put(f->resamplefd);
	eventfd_ctx_put(f->eventfd);
	kfree(f);
}

static long irqfd_assign(struct modvm_vm *vm, const struct kvm_irqfd *args)
{
	struct modvm_irqchip *chip = irqchip_of(vm);
	struct eventfd_ctx *ctx;
	struct modvm_irqfd *f, *t;
	struct fd file;
	__poll_t events;
	long r;

	/* As KVM on x86: irqfds need the in-kernel irqchip. */
	if (!chip)
		return -EINVAL;
	f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return -ENOMEM;
	f->chip = chip;
	f->gsi = args->gsi;
	INIT_LIST_HEAD(&f->list);
	file = fdget(args->fd);
	if (!file.file) {
		kfree(f);
		return -EBADF;
	}
	ctx = eventfd_ctx_fileget(file.file);
	if (IS_ERR(ctx)) {
		r = PTR_ERR(ctx);
		goto fail;
	}
	f->eventfd = ctx;
	if (args->flags & KVM_IRQFD_FLAG_RESAMPLE) {
		ctx = eventfd_ctx_fdget(args->resamplefd);
		if (IS_ERR(ctx)) {
			r = PTR_ERR(ctx);
			goto fail;
		}
		f->resamplefd = ctx;
	}
	init_waitqueue_func_entry(&f->wait, irqfd_wakeup);
	init_poll_funcptr(&f->pt, irqfd_queue);

	mutex_lock(&chip->lock);
	spin_lock_irq(&chip->irqfd_lock);
	list_for_each_entry(t, &chip->irqfds, list) {
		if (t->eventfd == f->eventfd) {
			/* One eventfd drives one GSI at most. */
			spin_unlock_irq(&chip->irqfd_lock);
			mutex_unlock(&chip->lock);
			r = -EBUSY;
			goto fail;
		}
	}
	list_add_tail(&f->list, &chip->irqfds);
	spin_unlock_irq(&chip->irqfd_lock);
	/* A signal that came before we listened still counts. */
	events = vfs_poll(file.file, &f->pt);
	if (events & EPOLLIN)
		inject(f);
	mutex_unlock(&chip->lock);
	fdput(file);
	return 0;
fail:
	if (f->resamplefd)
		eventfd_ctx_put(f->resamplefd);
	if (f->eventfd)
		eventfd_ctx_put(f->eventfd);
	fdput(file);
	kfree(f);
	return r;
}

static long irqfd_deassign(struct modvm_vm *vm, const struct kvm_irqfd *args)
{
	struct modvm_irqchip *chip = irqchip_of(vm);
	struct modvm_irqfd *f, *t;
	struct eventfd_ctx *ctx;

	ctx = eventfd_ctx_fdget(args->fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	if (chip) {
		mutex_lock(&chip->lock);
		list_for_each_entry_safe(f, t, &chip->irqfds, list)
			if (f->eventfd == ctx && f->gsi == args->gsi)
				irqfd_free(chip, f);
		mutex_unlock(&chip->lock);
	}
	eventfd_ctx_put(ctx);
	return 0;
}

/**
 * modvm_irqfd() - KVM_IRQFD.
 * @vm: the VM.
 * @argp: struct kvm_irqfd.
 *
 * Return: 0; -EINVAL for unknown flags or without an in-kernel irqchip;
 * -EBADF or -EINVAL for a bad fd; -EBUSY for an eventfd already
 * in use; -EFAULT; -ENOMEM.
 */
long modvm_irqfd(struct modvm_vm *vm, struct kvm_irqfd __user *argp)
{
	struct kvm_irqfd args;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
		return -EINVAL;
	if (args.flags & KVM_IRQFD_FLAG_DEASSIGN)
		return irqfd_deassign(vm, &args);
	return irqfd_assign(vm, &args);
}

/**
 * modvm_irqfd_resample() - the guest acknowledged @gsi: drop the level of
 * its resampling irqfds and signal their resample eventfds.
 * @chip: the irqchip.
 * @gsi: the GSI.
 */
void modvm_irqfd_resample(struct modvm_irqchip *chip, u32 gsi)
{
	struct modvm_irqfd *f;
	unsigned long flags;
	bool any;

	spin_lock_irqsave(&chip->irqfd_lock, flags);
	any = gsi_resampled(chip, NULL, gsi);
	spin_unlock_irqrestore(&chip->irqfd_lock, flags);
	if (!any)
		return;
	modvm_irq_set(chip->vm, MODVM_SRC_RESAMPLE, gsi, false);
	spin_lock_irqsave(&chip->irqfd_lock, flags);
	list_for_each_entry(f, &chip->irqfds, list)
		if (f->resamplefd && f->gsi == gsi)
			eventfd_signal(f->resamplefd, 1);
	spin_unlock_irqrestore(&chip->irqfd_lock, flags);
}

/**
 * modvm_irqfd_destroy() - free every irqfd of a dying VM.
 * @chip: the irqchip.
 */
void modvm_irqfd_destroy(struct modvm_irqchip *chip)
{
	struct modvm_irqfd *f, *t;

	mutex_lock(&chip->lock);
	list_for_each_entry_safe(f, t, &chip->irqfds, list)
		irqfd_free(chip, f);
	mutex_unlock(&chip->lock);
}
