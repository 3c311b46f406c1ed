/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel virtio devices, shared by the files of virtio/: the
 * virtio-mmio transport (mmio.c), split virtqueues in guest memory
 * (vring.c), the threads that serve them (worker.c), device creation and
 * lifetime (device.c) and the device types (blk.c, net.c, rng.c).
 *
 * Locking: dev->lock (a mutex) covers the transport state the guest
 * configures (status, features, queue setup) and the rings: the worker
 * holds it for each pass over the rings, a vCPU for each register write
 * that changes that state. InterruptStatus has its own spinlock, and
 * QueueNotify only sets a bit, so that neither waits for a pass.
 */
#ifndef MODVM_VIRTIO_VIRTIO_H
#define MODVM_VIRTIO_VIRTIO_H

#include <linux/llist.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "../core/modvm.h"
#include "../uapi/modvm.h"

#define MODVM_VIRTIO_VENDOR_ID	0x4d564d44	/* "DMVM" */
#define MODVM_VIRTIO_MMIO_SIZE	PAGE_SIZE

/* Host segments one request may have; beyond it the request fails. */
#define MODVM_VIRTIO_MAX_IOV	1024
#define MODVM_VIRTIO_INLINE_IOV	8

struct modvm_virtio_dev;

/**
 * struct modvm_vchain - one descriptor chain as host (VMM) addresses.
 * @head: the index of its head descriptor, for the used ring.
 * @nr_out: device-readable segments, first in @iov.
 * @nr_in: device-writable segments, after them.
 * @out_len: bytes readable; @in_len: bytes writable.
 * @overflow: more than MODVM_VIRTIO_MAX_IOV segments: @iov holds only
 *	the first; @out_len, @in_len and @last_in_gpa still count all.
 * @last_in_gpa: guest-physical address of the last writable byte.
 * @iov: the segments (user addresses in the VMM); @gpa: where each is
 *	in guest-physical memory.
 * @cap: room in @iov and @gpa.
 */
struct modvm_vchain {
	u16 head;
	u32 nr_out, nr_in;
	u64 out_len, in_len;
	bool overflow;
	u64 last_in_gpa;
	struct iovec *iov;
	u64 *gpa;
	u32 cap;
	struct iovec inline_iov[MODVM_VIRTIO_INLINE_IOV];
	u64 inline_gpa[MODVM_VIRTIO_INLINE_IOV];
};

/**
 * struct modvm_vq - one split virtqueue.
 * @dev: its device.
 * @index: its number.
 * @num: QueueNum, as the guest set it.
 * @desc_gpa: the descriptor table; @avail_gpa: the driver (avail) ring;
 *	@used_gpa: the device (used) ring.
 * @ready: QueueReady: the worker serves it once the device is DRIVER_OK.
 * @gen: bumped whenever the queue is reset or disabled: requests taken
 *	under an older one are dropped when they complete.
 * @last_avail: the next avail ring entry to take.
 * @used_idx: the used index as the device will publish it.
 * @published_used: the used index the guest can see.
 * @signalled_used: the used index at the last interrupt (EVENT_IDX),
 *	or 0 from QueueReady.
 * @broken: stopped on a malformed ring until a reset.
 * @inflight: requests taken and not completed.
 */
struct modvm_vq {
	struct modvm_virtio_dev *dev;
	u16 index;
	u32 num;
	u64 desc_gpa, avail_gpa, used_gpa;
	bool ready;
	u32 gen;
	u16 last_avail;
	u16 used_idx;
	u16 published_used;
	u16 signalled_used;
	bool broken;
	u32 inflight;
};

/**
 * struct modvm_vreq - one request a device took from a queue; devices
 * embed it first in their own request.
 * @vq: the queue.
 * @gen: @vq->gen when taken.
 * @chain: its buffers.
 * @used_len: bytes the device wrote into them, for the used ring.
 * @done: on the device's completion list.
 * @pool: on the device's list of blocking work.
 * @pool_fn: the blocking work a pool thread runs.
 */
struct modvm_vreq {
	struct modvm_vq *vq;
	u32 gen;
	struct modvm_vchain chain;
	u32 used_len;
	struct llist_node done;
	struct list_head pool;
	void (*pool_fn)(struct modvm_vreq *req);
};

/**
 * struct modvm_virtio_ops - what a device type provides.
 * @type: its virtio device ID.
 * @name: for thread names and log lines.
 * @req_size: bytes of its request structure (struct modvm_vreq first).
 * @flags: the MODVM_VIRTIO_* creation flags it takes.
 * @min_queues: fewest queues it can be created with (and the default);
 *	@max_queues: most.
 * @io_threads: pool threads for blocking work, 0 for none.
 * @create: check the arguments and set up the device (dev->features,
 *	dev->config, dev->priv); errno as MODVM_CREATE_VIRTIO documents.
 * @attach: optional: once the threads run, start taking work from the
 *	backing (a tap's wake-ups), which may kick queues from then on.
 * @detach: optional: undo @attach, before the threads stop.
 * @destroy: free what @create set up; no request is left.
 * @features_ok: optional: the driver asks for FEATURES_OK with @features
 *	(a subset of dev->features); 0 to accept, else it does not stick.
 *	With dev->lock held, in a vCPU thread.
 * @serve: optional: serve a notified queue in the worker, with dev->lock
 *	held, instead of modvm_virtio_serve_requests() (a queue whose
 *	buffers wait for data that comes from the backing, as net's receive
 *	queue). Returns what modvm_virtio_serve_requests() returns.
 * @start: serve a request just taken, in the worker with dev->lock held.
 *	Returns 0 after it completed (modvm_vreq_done()) or was handed on to
 *	complete later; -EINVAL when the chain is unusable for this device,
 *	which is then a malformed ring (the request is freed by the caller).
 * @finish: in the worker: write the result into guest memory (@drop:
 *	don't, the queue was reset) and release what the request holds.
 */
struct modvm_virtio_ops {
	u32 type;
	const char *name;
	size_t req_size;
	u32 flags;
	u16 min_queues, max_queues;
	u16 io_threads;
	int (*create)(struct modvm_virtio_dev *dev,
		      const struct modvm_virtio_create *args);
	void (*attach)(struct modvm_virtio_dev *dev);
	void (*detach)(struct modvm_virtio_dev *dev);
	void (*destroy)(struct modvm_virtio_dev *dev);
	int (*features_ok)(struct modvm_virtio_dev *dev, u64 features);
	bool (*serve)(struct modvm_vq *vq);
	int (*start)(struct modvm_vreq *req);
	void (*finish)(struct modvm_vreq *req, bool drop);
};

/**
 * struct modvm_virtio_dev - one in-kernel virtio-mmio device.
 * @vm: the VM (the device holds a reference).
 * @ops: its type.
 * @iodev: on the VM's MMIO bus at @base.
 * @base: guest-physical address of the register page.
 * @gsi: its interrupt line.
 * @link: in vm->virtio_devs.
 * @mm: the VMM's address space, where guest memory is mapped.
 * @lock: transport state and rings (see the top of this file).
 * @features: offered to the driver; @driver_features: what it wrote;
 *	@negotiated: accepted at FEATURES_OK.
 * @device_features_sel, @driver_features_sel, @queue_sel: selectors.
 * @status: the Status register.
 * @config_gen: ConfigGeneration.
 * @config: the device's configuration space, @config_len bytes.
 * @isr_lock: protects @isr and @line.
 * @isr: InterruptStatus; @line: the level we last put on @gsi.
 * @kicks: queues the guest notified, for the worker.
 * @done_list: completed requests, for the worker.
 * @busy: requests taken whose I/O has not finished with guest memory.
 * @quiescing: resets or queue disables waiting for @busy to drain: the
 *	worker takes no new requests meanwhile.
 * @idle: where they wait.
 * @busy_lock: held by the completion that drops @busy to 0 until it is
 *	done with the device, and by a waiter checking @busy.
 * @worker: the thread serving the rings.
 * @pool_lock: protects @pool_list.
 * @pool_list: blocking work for @pool_threads.
 * @pool_wait: where pool threads wait for it.
 * @pool_threads: @nr_pool_threads threads that do blocking I/O.
 * @stats: counters (under @lock, but @stats.notifies).
 * @notifies: QueueNotify writes.
 * @nr_queues: queues; @queue_size: QueueNumMax.
 * @priv: the device type's state.
 * @vqs: the queues.
 */
struct modvm_virtio_dev {
	struct modvm_vm *vm;
	const struct modvm_virtio_ops *ops;
	struct modvm_iodev iodev;
	u64 base;
	u32 gsi;
	struct list_head link;
	struct mm_struct *mm;
	struct mutex lock;	/* transport state and rings */
	u64 features;
	u64 driver_features;
	u64 negotiated;
	u32 device_features_sel, driver_features_sel, queue_sel;
	u32 status;
	u32 config_gen;
	u8 config[64];
	u32 config_len;
	spinlock_t isr_lock;	/* isr and line */
	u32 isr;
	bool line;
	unsigned long kicks;
	struct llist_head done_list;
	atomic_t busy;
	u32 quiescing;
	wait_queue_head_t idle;
	spinlock_t busy_lock;	/* the last completion's end, see @busy */
	struct task_struct *worker;
	spinlock_t pool_lock;	/* pool_list */
	struct list_head pool_list;
	wait_queue_head_t pool_wait;
	struct task_struct **pool_threads;
	u16 nr_pool_threads;
	struct modvm_virtio_stats stats;
	atomic64_t notifies;
	u16 nr_queues;
	u16 queue_size;
	void *priv;
	struct modvm_vq vqs[];
};

/* Ring and configuration fields: little endian (VIRTIO_F_VERSION_1 only). */
#define vio16(v)	__virtio16_to_cpu(true, v)
#define vio32(v)	__virtio32_to_cpu(true, v)
#define vio64(v)	__virtio64_to_cpu(true, v)
#define to_vio16(v)	__cpu_to_virtio16(true, v)
#define to_vio32(v)	__cpu_to_virtio32(true, v)
#define to_vio64(v)	__cpu_to_virtio64(true, v)

static inline bool modvm_virtio_has(struct modvm_virtio_dev *dev, int bit)
{
	return dev->negotiated & BIT_ULL(bit);
}

/* device.c */
extern const struct modvm_virtio_ops modvm_virtio_blk_ops;
extern const struct modvm_virtio_ops modvm_virtio_net_ops;
extern const struct modvm_virtio_ops modvm_virtio_rng_ops;

void modvm_virtio_set_line(struct modvm_virtio_dev *dev, bool level);

/* mmio.c */
extern const struct modvm_iodev_ops modvm_virtio_mmio_ops;
void modvm_virtio_interrupt(struct modvm_virtio_dev *dev, u32 bits);
void modvm_virtio_lower_line(struct modvm_virtio_dev *dev);
void modvm_virtio_needs_reset(struct modvm_vq *vq, const char *why);

/* vring.c */
int modvm_vring_pop(struct modvm_vq *vq, struct modvm_vchain *chain);
void modvm_vring_unpop(struct modvm_vq *vq, u16 n);
int modvm_vring_add_used(struct modvm_vq *vq, u16 head, u32 len);
int modvm_vring_publish_used(struct modvm_vq *vq);
int modvm_vring_should_signal(struct modvm_vq *vq, bool *signal);
void modvm_vchain_init(struct modvm_vchain *chain);
void modvm_vchain_free(struct modvm_vchain *chain);
int modvm_virtio_write_guest(struct modvm_virtio_dev *dev, u64 gpa,
			     const void *data, u32 len);
void modvm_virtio_written(struct modvm_virtio_dev *dev,
			  const struct modvm_vchain *chain, u64 len);
void modvm_vchain_iter(const struct modvm_vchain *chain, bool in,
		       struct iov_iter *iter);

/* worker.c */
int modvm_virtio_threads_start(struct modvm_virtio_dev *dev);
void modvm_virtio_threads_stop(struct modvm_virtio_dev *dev);
void modvm_virtio_kick(struct modvm_virtio_dev *dev, u16 queue);
bool modvm_virtio_serve_requests(struct modvm_vq *vq);
void modvm_virtio_publish(struct modvm_virtio_dev *dev, unsigned long queues);
void modvm_vreq_done(struct modvm_vreq *req);
void modvm_vreq_punt(struct modvm_vreq *req,
		     void (*fn)(struct modvm_vreq *req));
void modvm_virtio_quiesce(struct modvm_virtio_dev *dev);
void modvm_virtio_unquiesce(struct modvm_virtio_dev *dev);

#endif /* MODVM_VIRTIO_VIRTIO_H */
