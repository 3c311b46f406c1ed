// SPDX-License-Identifier: GPL-2.0
/*
 * The threads that serve a device, off the vCPU threads.
 *
 * Why these threads: a queue notify is a guest MMIO write that must
 * return to the guest at once, so the rings are served elsewhere. Each
 * device has one worker, a kernel thread that adopts the VMM's address
 * space (kthread_use_mm) and joins the VMM's cgroups, as vhost's workers
 * do: it reads the rings and buffers at their user addresses in the
 * memslots, so guest memory stays ordinary, unpinned, swappable memory,
 * and the CPU time, memory and I/O it spends are charged where the VM's
 * limits are. A workqueue would serve many VMs from shared threads that
 * belong to no cgroup and no address space.
 *
 * One worker owns the rings (it alone takes requests and completes them
 * into the used ring, under dev->lock), so ring state needs no finer
 * locking. Requests must not wait on each other, though: requests that
 * can go asynchronously (direct I/O) are submitted by the worker and
 * complete from interrupt context; those that would block (buffered I/O
 * that misses the page cache, flushes, fallocate) go to a small pool of
 * threads set up the same way, so several are in flight at once. Either
 * way the completion comes back to the worker through a lock-free list.
 *
 * dev->busy counts requests whose I/O may still touch guest memory: a
 * reset waits for it to drain (modvm_virtio_quiesce()).
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/cgroup.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "virtio.h"

/**
 * modvm_virtio_kick() - have the worker look at a queue.
 * @dev: the device.
 * @queue: the queue index, below dev->nr_queues.
 *
 * From any context.
 */
void modvm_virtio_kick(struct modvm_virtio_dev *dev, u16 queue)
{
	set_bit(queue, &dev->kicks);
	wake_up_process(dev->worker);
}

/**
 * modvm_vreq_done() - a request's I/O has finished with guest memory.
 * @req: the request.
 *
 * From any context (direct I/O completes in interrupt context). The
 * worker finishes it.
 */
void modvm_vreq_done(struct modvm_vreq *req)
{
	struct modvm_virtio_dev *dev = req->vq->dev;
	unsigned long flags;

	llist_add(&req->done, &dev->done_list);
	wake_up_process(dev->worker);
	/*
	 * Last: once busy is 0 the device may be freed, and a waiter
	 * returns only after taking busy_lock, which this holds.
	 */
	spin_lock_irqsave(&dev->busy_lock, flags);
	if (atomic_dec_and_test(&dev->busy))
		wake_up(&dev->idle);
	spin_unlock_irqrestore(&dev->busy_lock, flags);
}

/**
 * modvm_vreq_punt() - run a request's blocking part in a pool thread.
 * @req: the request.
 * @fn: what to run; it ends with modvm_vreq_done().
 */
void modvm_vreq_punt(struct modvm_vreq *req, void (*fn)(struct modvm_vreq *req))
{
	struct modvm_virtio_dev *dev = req->vq->dev;

	req->pool_fn = fn;
	spin_lock(&dev->pool_lock);
	list_add_tail(&req->pool, &dev->pool_list);
	spin_unlock(&dev->pool_lock);
	wake_up(&dev->pool_wait);
}

/**
 * modvm_virtio_quiesce() - wait until no request has I/O on guest memory.
 * @dev: the device; dev->lock held, dropped while waiting.
 *
 * The worker takes no new request until modvm_virtio_unquiesce(); the
 * caller must expect other state to have changed while it waited.
 */
void modvm_virtio_quiesce(struct modvm_virtio_dev *dev)
{
	lockdep_assert_held(&dev->lock);
	dev->quiescing++;
	mutex_unlock(&dev->lock);
	spin_lock_irq(&dev->busy_lock);
	wait_event_lock_irq(dev->idle, !atomic_read(&dev->busy), dev->busy_lock);
	spin_unlock_irq(&dev->busy_lock);
	mutex_lock(&dev->lock);
}

/**
 * modvm_virtio_unquiesce() - let the worker take requests again.
 * @dev: the device; dev->lock held.
 */
void modvm_virtio_unquiesce(struct modvm_virtio_dev *dev)
{
	lockdep_assert_held(&dev->lock);
	if (!--dev->quiescing && READ_ONCE(dev->kicks))
		wake_up_process(dev->worker);
}

static void req_free(struct modvm_vreq *req)
{
	modvm_vchain_free(&req->chain);
	kfree(req);
}

/* Finish a completed request: used ring, or dropped. dev->lock held. */
static void finish(struct modvm_virtio_dev *dev, struct modvm_vreq *req,
		   unsigned long *published)
{
	struct modvm_vq *vq = req->vq;
	bool drop = req->gen != vq->gen || vq->broken;

	dev->ops->finish(req, drop);
	if (!drop) {
		modvm_virtio_written(dev, &req->chain, req->used_len);
		/* A failure here stopped the queue: the rest is dropped. */
		if (!modvm_vring_add_used(vq, req->chain.head, req->used_len)) {
			dev->stats.requests++;
			__set_bit(vq->index, published);
		}
	}
	/* A queue that was full takes requests again. */
	if (vq->inflight-- == vq->num)
		set_bit(vq->index, &dev->kicks);
	dev->stats.inflight--;
	req_free(req);
}

/**
 * modvm_virtio_publish() - let the guest see new used entries, and
 * interrupt it if it wants.
 * @dev: the device; dev->lock held.
 * @published: bit N set: queue N has new used entries.
 */
void modvm_virtio_publish(struct modvm_virtio_dev *dev, unsigned long published)
{
	bool irq = false, signal;
	unsigned int i;

	for_each_set_bit(i, &published, dev->nr_queues) {
		struct modvm_vq *vq = &dev->vqs[i];

		if (vq->broken || modvm_vring_publish_used(vq))
			continue;
		if (!modvm_vring_should_signal(vq, &signal) && signal)
			irq = true;
	}
	if (irq) {
		dev->stats.interrupts++;
		modvm_virtio_interrupt(dev, VIRTIO_MMIO_INT_VRING);
	}
}

/**
 * modvm_virtio_serve_requests() - take requests from a queue and start
 * them, at most a queue's worth per pass so that other queues and
 * completions get their turn.
 * @vq: the queue, notified; dev->lock held.
 *
 * Return: true when it must be tried again after a pause.
 */
bool modvm_virtio_serve_requests(struct modvm_vq *vq)
{
	struct modvm_virtio_dev *dev = vq->dev;
	u32 budget = vq->num;

	if (!vq->ready || vq->broken)
		return false;
	while (vq->inflight < vq->num) {
		struct modvm_vreq *req;
		int r;

		if (!budget--) {
			set_bit(vq->index, &dev->kicks);
			return false;
		}
		req = kzalloc(dev->ops->req_size, GFP_KERNEL_ACCOUNT);
		if (!req)
			goto retry;
		modvm_vchain_init(&req->chain);
		r = modvm_vring_pop(vq, &req->chain);
		if (r <= 0) {
			req_free(req);
			if (r == -EAGAIN)
				goto retry;
			return false;
		}
		req->vq = vq;
		req->gen = vq->gen;
		vq->inflight++;
		dev->stats.inflight++;
		dev->stats.max_inflight = max(dev->stats.max_inflight,
					      dev->stats.inflight);
		atomic_inc(&dev->busy);
		r = dev->ops->start(req);
		if (r) {
			/* Unusable for the device, which stopped the queue. */
			vq->inflight--;
			dev->stats.inflight--;
			atomic_dec(&dev->busy);
			req_free(req);
			return false;
		}
	}
	return false;
retry:
	set_bit(vq->index, &dev->kicks);
	return true;
}

/* One pass: completions, then the notified queues. */
static bool worker_pass(struct modvm_virtio_dev *dev)
{
	unsigned long published = 0, kicks;
	struct llist_node *list;
	struct modvm_vreq *req, *next;
	bool retry = false;
	unsigned int i;

	mutex_lock(&dev->lock);
	list = llist_reverse_order(llist_del_all(&dev->done_list));
	llist_for_each_entry_safe(req, next, list, done)
		finish(dev, req, &published);
	modvm_virtio_publish(dev, published);
	if ((dev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !dev->quiescing) {
		kicks = xchg(&dev->kicks, 0);
		for_each_set_bit(i, &kicks, dev->nr_queues)
			retry |= dev->ops->serve ?
				 dev->ops->serve(&dev->vqs[i]) :
				 modvm_virtio_serve_requests(&dev->vqs[i]);
	}
	mutex_unlock(&dev->lock);
	return retry;
}

static bool worker_has_work(struct modvm_virtio_dev *dev)
{
	if (!llist_empty(&dev->done_list))
		return true;
	/* Kicks wait for DRIVER_OK and for the end of a reset. */
	return READ_ONCE(dev->kicks) && !READ_ONCE(dev->quiescing) &&
	       (READ_ONCE(dev->status) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static int worker_fn(void *data)
{
	struct modvm_virtio_dev *dev = data;

	kthread_use_mm(dev->mm);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		if (!worker_has_work(dev)) {
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		/* A memslot in the middle of a change: try again shortly. */
		if (worker_pass(dev))
			schedule_timeout_interruptible(1);
		cond_resched();
	}
	kthread_unuse_mm(dev->mm);
	return 0;
}

static struct modvm_vreq *pool_take(struct modvm_virtio_dev *dev)
{
	struct modvm_vreq *req;

	spin_lock(&dev->pool_lock);
	req = list_first_entry_or_null(&dev->pool_list, struct modvm_vreq, pool);
	if (req)
		list_del(&req->pool);
	spin_unlock(&dev->pool_lock);
	return req;
}

static int pool_fn(void *data)
{
	struct modvm_virtio_dev *dev = data;
	struct modvm_vreq *req;

	kthread_use_mm(dev->mm);
	while (!kthread_should_stop()) {
		req = pool_take(dev);
		if (req) {
			req->pool_fn(req);
			cond_resched();
			continue;
		}
		wait_event_interruptible(dev->pool_wait,
					 !list_empty_careful(&dev->pool_list) ||
					 kthread_should_stop());
	}
	kthread_unuse_mm(dev->mm);
	return 0;
}

/* A thread in the caller's (the VMM's) cgroups, not yet running. */
static struct task_struct *thread_create(struct modvm_virtio_dev *dev,
					 int (*fn)(void *), int nr)
{
	struct task_struct *task;
	int r;

	if (nr < 0)
		task = kthread_create(fn, dev, "modvm-%s-%d", dev->ops->name,
				      task_tgid_nr(current));
	else
		task = kthread_create(fn, dev, "modvm-%s-%d/%d", dev->ops->name,
				      task_tgid_nr(current), nr);
	if (IS_ERR(task))
		return task;
	r = cgroup_attach_task_all(current, task);
	if (r) {
		kthread_stop(task);
		return ERR_PTR(r);
	}
	return task;
}

/**
 * modvm_virtio_threads_start() - start a new device's worker and pool.
 * @dev: the device, not yet on the bus; dev->mm set.
 *
 * In the VMM's thread: the threads join its cgroups.
 *
 * Return: 0, or a negative errno with no thread left.
 */
int modvm_virtio_threads_start(struct modvm_virtio_dev *dev)
{
	struct task_struct *task;
	int i;

	dev->pool_threads = kcalloc(dev->ops->io_threads,
				    sizeof(*dev->pool_threads), GFP_KERNEL_ACCOUNT);
	if (dev->ops->io_threads && !dev->pool_threads)
		return -ENOMEM;
	task = thread_create(dev, worker_fn, -1);
	if (IS_ERR(task)) {
		kfree(dev->pool_threads);
		return PTR_ERR(task);
	}
	dev->worker = task;
	for (i = 0; i < dev->ops->io_threads; i++) {
		task = thread_create(dev, pool_fn, i);
		if (IS_ERR(task)) {
			modvm_virtio_threads_stop(dev);
			return PTR_ERR(task);
		}
		dev->pool_threads[dev->nr_pool_threads++] = task;
	}
	wake_up_process(dev->worker);
	for (i = 0; i < dev->nr_pool_threads; i++)
		wake_up_process(dev->pool_threads[i]);
	return 0;
}

/**
 * modvm_virtio_threads_stop() - stop a device's threads.
 * @dev: the device, off the bus and quiesced: no request is busy.
 *
 * Requests that completed and were not finished yet are dropped.
 */
void modvm_virtio_threads_stop(struct modvm_virtio_dev *dev)
{
	struct modvm_vreq *req, *next;
	struct llist_node *list;
	int i;

	for (i = 0; i < dev->nr_pool_threads; i++)
		kthread_stop(dev->pool_threads[i]);
	kfree(dev->pool_threads);
	dev->pool_threads = NULL;
	dev->nr_pool_threads = 0;
	kthread_stop(dev->worker);
	list = llist_del_all(&dev->done_list);
	llist_for_each_entry_safe(req, next, list, done) {
		dev->ops->finish(req, true);
		req_free(req);
	}
}
