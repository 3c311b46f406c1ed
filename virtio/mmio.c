// SPDX-License-Identifier: GPL-2.0
/*
 * The virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): the register
 * page a vCPU reads and writes on the in-kernel MMIO bus, the device
 * status state machine, feature negotiation, queue setup, reset, and the
 * interrupt line.
 *
 * Registers below 0x100 are 32-bit and aligned; other accesses to them
 * read 0 and are ignored, as the spec lets a device do. Write-only
 * registers read 0; read-only ones ignore writes. The configuration space
 * from 0x100 takes any width; a device that changes it (net's link
 * status) bumps ConfigGeneration.
 *
 * Interrupts: InterruptStatus bits (used buffer, configuration change)
 * hold the GSI up while any is set: the line is level-triggered, so the
 * IOAPIC delivers again after the guest's EOI until InterruptACK clears
 * them.
 *
 * Reset (Status 0) and disabling a queue (QueueReady 0) are synchronous:
 * the write returns once no request of the device has I/O on guest
 * memory left, so a guest that frees its rings right after (as Linux
 * does) finds nothing written into them later. Results of the requests
 * it cut short are dropped.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/ratelimit.h>

#include "virtio.h"

#define MAGIC		0x74726976	/* "virt" */
#define VERSION		2

/* Status bits the driver may set; NEEDS_RESET is the device's. */
#define DRIVER_STATUS_BITS	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
				 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
				 VIRTIO_CONFIG_S_FAILED)

static struct modvm_virtio_dev *to_dev(struct modvm_iodev *iodev)
{
	return container_of(iodev, struct modvm_virtio_dev, iodev);
}

static struct modvm_vq *selected_vq(struct modvm_virtio_dev *dev)
{
	u32 sel = READ_ONCE(dev->queue_sel);

	return sel < dev->nr_queues ? &dev->vqs[sel] : NULL;
}

static void set_line(struct modvm_virtio_dev *dev, bool level)
{
	lockdep_assert_held(&dev->isr_lock);
	if (dev->line == level)
		return;
	dev->line = level;
	modvm_virtio_set_line(dev, level);
}

/**
 * modvm_virtio_interrupt() - set InterruptStatus bits and raise the line.
 * @dev: the device.
 * @bits: VIRTIO_MMIO_INT_VRING and/or VIRTIO_MMIO_INT_CONFIG.
 */
void modvm_virtio_interrupt(struct modvm_virtio_dev *dev, u32 bits)
{
	spin_lock(&dev->isr_lock);
	dev->isr |= bits;
	set_line(dev, true);
	spin_unlock(&dev->isr_lock);
}

/* The guest acknowledged @bits. */
static void interrupt_ack(struct modvm_virtio_dev *dev, u32 bits)
{
	spin_lock(&dev->isr_lock);
	dev->isr &= ~bits;
	if (!dev->isr)
		set_line(dev, false);
	spin_unlock(&dev->isr_lock);
}

/**
 * modvm_virtio_lower_line() - clear InterruptStatus and drop the line.
 * @dev: the device.
 */
void modvm_virtio_lower_line(struct modvm_virtio_dev *dev)
{
	interrupt_ack(dev, ~0U);
}

/**
 * modvm_virtio_needs_reset() - a queue's ring is malformed.
 * @vq: the queue; dev->lock held.
 * @why: what was wrong, for the log.
 *
 * The queue stops until the next reset; the device sets
 * DEVICE_NEEDS_RESET and tells the guest with a configuration change
 * interrupt. One rate-limited log line.
 */
void modvm_virtio_needs_reset(struct modvm_vq *vq, const char *why)
{
	struct modvm_virtio_dev *dev = vq->dev;

	lockdep_assert_held(&dev->lock);
	pr_warn_ratelimited("virtio-%s at %#llx, queue %u: %s: device needs reset\n",
			    dev->ops->name, dev->base, vq->index, why);
	vq->broken = true;
	dev->stats.broken_queues |= BIT(vq->index);
	if (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	WRITE_ONCE(dev->status, dev->status | VIRTIO_CONFIG_S_NEEDS_RESET);
	WRITE_ONCE(dev->config_gen, dev->config_gen + 1);
	modvm_virtio_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

/* Forget a queue's setup and position; dev->lock held. */
static void vq_reset(struct modvm_vq *vq)
{
	vq->ready = false;
	vq->gen++;
	vq->num = 0;
	vq->desc_gpa = 0;
	vq->avail_gpa = 0;
	vq->used_gpa = 0;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->published_used = 0;
	vq->signalled_used = 0;
	vq->broken = false;
}

/* Status 0: back to the state at creation, with nothing in flight. */
static void device_reset(struct modvm_virtio_dev *dev)
{
	u16 i;

	modvm_virtio_quiesce(dev);
	for (i = 0; i < dev->nr_queues; i++)
		vq_reset(&dev->vqs[i]);
	dev->kicks = 0;
	dev->driver_features = 0;
	dev->negotiated = 0;
	dev->device_features_sel = 0;
	dev->driver_features_sel = 0;
	dev->queue_sel = 0;
	dev->stats.broken_queues = 0;
	dev->stats.resets++;
	WRITE_ONCE(dev->status, 0);
	modvm_virtio_lower_line(dev);
	modvm_virtio_unquiesce(dev);
}

/* A valid setup for QueueReady 1 (virtio 1.2 §2.7: alignments, size). */
static bool vq_setup_valid(struct modvm_virtio_dev *dev, struct modvm_vq *vq)
{
	return vq->num && is_power_of_2(vq->num) && vq->num <= dev->queue_size &&
	       IS_ALIGNED(vq->desc_gpa, 16) && IS_ALIGNED(vq->avail_gpa, 2) &&
	       IS_ALIGNED(vq->used_gpa, 4);
}

static void write_queue_ready(struct modvm_virtio_dev *dev, u32 val)
{
	struct modvm_vq *vq = selected_vq(dev);

	if (!vq)
		return;
	if (val == 1 && !vq->ready) {
		if (!vq_setup_valid(dev, vq))
			return;
		vq->gen++;
		vq->last_avail = 0;
		vq->used_idx = 0;
		vq->published_used = 0;
		/* The guest has seen used index 0: used_event counts from it. */
		vq->signalled_used = 0;
		vq->ready = true;
		if (dev->status & VIRTIO_CONFIG_S_DRIVER_OK)
			modvm_virtio_kick(dev, vq->index);
	} else if (!val && vq->ready) {
		modvm_virtio_quiesce(dev);
		vq->ready = false;
		vq->gen++;
		modvm_virtio_unquiesce(dev);
	}
}

static void write_status(struct modvm_virtio_dev *dev, u32 val)
{
	u32 old = dev->status;
	u16 i;

	if (!val) {
		device_reset(dev);
		return;
	}
	val &= DRIVER_STATUS_BITS;
	/* FEATURES_OK sticks only for a subset of ours that has VERSION_1. */
	if ((val & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if ((dev->driver_features & ~dev->features) ||
		    !(dev->driver_features & BIT_ULL(VIRTIO_F_VERSION_1)) ||
		    (dev->ops->features_ok &&
		     dev->ops->features_ok(dev, dev->driver_features)))
			val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		else
			dev->negotiated = dev->driver_features;
	}
	/* Only a reset takes FEATURES_OK back. */
	val |= old & VIRTIO_CONFIG_S_FEATURES_OK;
	/* No DRIVER_OK without negotiated features. */
	if (!(val & VIRTIO_CONFIG_S_FEATURES_OK))
		val &= ~VIRTIO_CONFIG_S_DRIVER_OK;
	WRITE_ONCE(dev->status, val | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
	/* Requests the guest made ready before DRIVER_OK are served now. */
	if ((val & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		for (i = 0; i < dev->nr_queues; i++)
			if (dev->vqs[i].ready)
				modvm_virtio_kick(dev, i);
}

static void write_driver_features(struct modvm_virtio_dev *dev, u32 val)
{
	u32 sel = dev->driver_features_sel;

	if (sel > 1 || (dev->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return;
	dev->driver_features &= ~((u64)U32_MAX << (32 * sel));
	dev->driver_features |= (u64)val << (32 * sel);
}

/* Set half of a 64-bit queue address while the queue is not ready. */
static void write_queue_addr(struct modvm_virtio_dev *dev, u64 *addr,
			     bool high, u32 val)
{
	if (high)
		*addr = (*addr & U32_MAX) | (u64)val << 32;
	else
		*addr = (*addr & ~(u64)U32_MAX) | val;
}

/* Registers that change transport state; dev->lock held. */
static void write_locked(struct modvm_virtio_dev *dev, u32 off, u32 val)
{
	struct modvm_vq *vq = selected_vq(dev);
	bool idle = vq && !vq->ready;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->device_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->driver_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(dev, val);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		WRITE_ONCE(dev->queue_sel, val);
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (idle)
			vq->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		write_queue_ready(dev, val);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(dev, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (idle)
			write_queue_addr(dev, &vq->desc_gpa,
					 off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (idle)
			write_queue_addr(dev, &vq->avail_gpa,
					 off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (idle)
			write_queue_addr(dev, &vq->used_gpa,
					 off == VIRTIO_MMIO_QUEUE_USED_HIGH, val);
		break;
	}
}

static int mmio_write(struct modvm_vcpu *vcpu, struct modvm_iodev *iodev,
		      u64 addr, int len, const void *data)
{
	struct modvm_virtio_dev *dev = to_dev(iodev);
	u32 off = addr - dev->base, val;

	/* The configuration spaces modvm serves are read-only. */
	if (off >= VIRTIO_MMIO_CONFIG || len != 4 || off % 4)
		return 0;
	val = *(const u32 *)data;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* No lock: a notify never waits for the worker. */
		atomic64_inc(&dev->notifies);
		if (val < dev->nr_queues)
			modvm_virtio_kick(dev, val);
		return 0;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		interrupt_ack(dev, val);
		return 0;
	}
	mutex_lock(&dev->lock);
	write_locked(dev, off, val);
	mutex_unlock(&dev->lock);
	return 0;
}

static u32 read_reg(struct modvm_virtio_dev *dev, u32 off)
{
	struct modvm_vq *vq = selected_vq(dev);
	u32 sel;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->type;
	case VIRTIO_MMIO_VENDOR_ID:
		return MODVM_VIRTIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		sel = READ_ONCE(dev->device_features_sel);
		return sel > 1 ? 0 : dev->features >> (32 * sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? dev->queue_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? READ_ONCE(vq->ready) : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return READ_ONCE(dev->isr);
	case VIRTIO_MMIO_STATUS:
		return READ_ONCE(dev->status);
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return READ_ONCE(dev->config_gen);
	/* No shared memory regions: their length reads as all ones. */
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return U32_MAX;
	default:
		return 0;
	}
}

static int mmio_read(struct modvm_vcpu *vcpu, struct modvm_iodev *iodev,
		     u64 addr, int len, void *data)
{
	struct modvm_virtio_dev *dev = to_dev(iodev);
	u32 off = addr - dev->base, val = 0;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG) {
		off -= VIRTIO_MMIO_CONFIG;
		/* Bytes the worker may change (net's link): no lock. */
		if (off < dev->config_len)
			memcpy(data, dev->config + off,
			       min_t(u32, len, dev->config_len - off));
		return 0;
	}
	if (len == 4 && !(off % 4))
		val = read_reg(dev, off);
	memcpy(data, &val, min(len, 4));
	return 0;
}

const struct modvm_iodev_ops modvm_virtio_mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};
