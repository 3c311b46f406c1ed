// SPDX-License-Identifier: GPL-2.0
/*
 * Split virtqueues (virtio 1.2 §2.7) in guest memory, read and written by
 * the worker through the VMM's mapping of the memslots.
 *
 * Everything in a ring is the guest's to change at any moment, so each
 * value is read once, into a local, and checked before use: the avail
 * index may be at most QueueNum ahead, heads and next indices must be in
 * their table, a chain holds at most QueueNum descriptors (which also
 * ends loops), an indirect table is one level deep and a whole number of
 * descriptors, readable buffers come before writable ones, and every
 * buffer must lie in guest memory (writable ones not in read-only
 * memslots). A chain that breaks a rule puts the device in
 * DEVICE_NEEDS_RESET and stops its queue (modvm_virtio_needs_reset()).
 *
 * A memslot being deleted or moved is not the guest's doing: an access
 * that meets one returns -EAGAIN and the worker retries a moment later.
 */
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "virtio.h"

/*
 * The host address of guest-physical @gpa, and how many bytes from there
 * lie in the same memslot. Under vm->srcu.
 */
static int translate(struct modvm_virtio_dev *dev, u64 gpa, bool write,
		     unsigned long *hva, u64 *room)
{
	struct modvm_vm *vm = dev->vm;
	struct modvm_memslot *slot;

	slot = modvm_find_memslot(srcu_dereference(vm->memslots, &vm->srcu),
				  gpa >> PAGE_SHIFT);
	if (!slot)
		return -ENOENT;
	if (slot->invalid)
		return -EAGAIN;
	if (write && (slot->flags & KVM_MEM_READONLY))
		return -EROFS;
	*hva = modvm_gfn_to_hva(slot, gpa >> PAGE_SHIFT) + offset_in_page(gpa);
	*room = ((slot->base_gfn + slot->npages) << PAGE_SHIFT) - gpa;
	return 0;
}

/*
 * Guest memory the device wrote: under shadow paging a guest page table
 * among it stops being trusted (mmu/shadow.c), as the CPU's writes to
 * one would have been seen.
 */
static void written(struct modvm_virtio_dev *dev, u64 gpa, u64 len)
{
	if (modvm_tdp || !len)
		return;
	modvm_shadow_written(dev->vm, gpa >> PAGE_SHIFT,
			     ((gpa + len - 1) >> PAGE_SHIFT) + 1);
}

/* Copy between guest memory and @buf, across memslots. Under vm->srcu. */
static int guest_rw(struct modvm_virtio_dev *dev, u64 gpa, void *buf, u32 len,
		    bool write)
{
	while (len) {
		unsigned long hva;
		u64 room;
		u32 n;
		int r;

		r = translate(dev, gpa, write, &hva, &room);
		if (r)
			return r;
		n = min_t(u64, len, room);
		if (write ? copy_to_user((void __user *)hva, buf, n) :
			    copy_from_user(buf, (void __user *)hva, n))
			return -EFAULT;
		if (write)
			written(dev, gpa, n);
		gpa += n;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * A result the device must not lose (a used entry, a status byte): when
 * a memslot is being changed, wait for the change to end, outside
 * vm->srcu, which the change waits for.
 */
static int write_waiting(struct modvm_virtio_dev *dev, u64 gpa,
			 const void *data, u32 len)
{
	int idx, r;

	for (;;) {
		idx = srcu_read_lock(&dev->vm->srcu);
		r = guest_rw(dev, gpa, (void *)data, len, true);
		srcu_read_unlock(&dev->vm->srcu, idx);
		if (r != -EAGAIN)
			return r;
		usleep_range(20, 100);
	}
}

/* A malformed ring: log it, stop the queue; -EINVAL for the caller. */
static __printf(2, 3) int bad(struct modvm_vq *vq, const char *fmt, ...)
{
	char why[96];
	va_list args;

	va_start(args, fmt);
	vsnprintf(why, sizeof(why), fmt, args);
	va_end(args);
	modvm_virtio_needs_reset(vq, why);
	return -EINVAL;
}

/* What a failed guest access means for the ring. */
static int access_error(struct modvm_vq *vq, int r, const char *what)
{
	switch (r) {
	case -EAGAIN:
		return r;
	case -ENOENT:
		return bad(vq, "%s outside guest memory", what);
	case -EROFS:
		return bad(vq, "%s in read-only guest memory", what);
	default:
		return bad(vq, "%s unreachable in the VMM's memory", what);
	}
}

static int read_u16(struct modvm_vq *vq, u64 gpa, u16 *val, const char *what)
{
	__le16 v;
	int r = guest_rw(vq->dev, gpa, &v, sizeof(v), false);

	if (r)
		return access_error(vq, r, what);
	*val = le16_to_cpu(v);
	return 0;
}

static int write_u16(struct modvm_vq *vq, u64 gpa, u16 val, const char *what)
{
	__le16 v = cpu_to_le16(val);
	int r = guest_rw(vq->dev, gpa, &v, sizeof(v), true);

	return r ? access_error(vq, r, what) : 0;
}

/* Ring layout (virtio 1.2 §2.7.6, §2.7.8). */
static u64 avail_idx_gpa(struct modvm_vq *vq)
{
	return vq->avail_gpa + 2;
}

static u64 avail_ring_gpa(struct modvm_vq *vq, u16 i)
{
	return vq->avail_gpa + 4 + 2 * (u64)(i & (vq->num - 1));
}

static u64 used_event_gpa(struct modvm_vq *vq)
{
	return vq->avail_gpa + 4 + 2 * (u64)vq->num;
}

static u64 used_elem_gpa(struct modvm_vq *vq, u16 i)
{
	return vq->used_gpa + 4 + 8 * (u64)(i & (vq->num - 1));
}

static u64 avail_event_gpa(struct modvm_vq *vq)
{
	return vq->used_gpa + 4 + 8 * (u64)vq->num;
}

/**
 * modvm_vchain_init() - an empty chain using its inline segments.
 * @chain: the chain.
 */
void modvm_vchain_init(struct modvm_vchain *chain)
{
	chain->iov = chain->inline_iov;
	chain->gpa = chain->inline_gpa;
	chain->cap = MODVM_VIRTIO_INLINE_IOV;
}

/**
 * modvm_vchain_free() - free segment arrays a chain grew.
 * @chain: the chain.
 */
void modvm_vchain_free(struct modvm_vchain *chain)
{
	if (chain->iov != chain->inline_iov) {
		kfree(chain->iov);
		kfree(chain->gpa);
	}
	modvm_vchain_init(chain);
}

static void chain_reset(struct modvm_vchain *c, u16 head)
{
	c->head = head;
	c->nr_out = 0;
	c->nr_in = 0;
	c->out_len = 0;
	c->in_len = 0;
	c->overflow = false;
	c->last_in_gpa = 0;
}

/* Room for one more segment; false when there is none to be had. */
static bool chain_grow(struct modvm_vchain *c)
{
	u32 nr = c->nr_out + c->nr_in, cap;
	struct iovec *iov;
	u64 *gpa;

	if (nr < c->cap)
		return true;
	if (c->cap >= MODVM_VIRTIO_MAX_IOV)
		return false;
	cap = min_t(u32, c->cap * 4, MODVM_VIRTIO_MAX_IOV);
	iov = kmalloc_array(cap, sizeof(*iov), GFP_KERNEL_ACCOUNT);
	gpa = kmalloc_array(cap, sizeof(*gpa), GFP_KERNEL_ACCOUNT);
	if (!iov || !gpa) {
		kfree(iov);
		kfree(gpa);
		return false;
	}
	memcpy(iov, c->iov, nr * sizeof(*iov));
	memcpy(gpa, c->gpa, nr * sizeof(*gpa));
	modvm_vchain_free(c);
	c->iov = iov;
	c->gpa = gpa;
	c->cap = cap;
	return true;
}

/* Append the buffer [@gpa, @gpa + @len) as host segments. */
static int chain_add(struct modvm_vq *vq, struct modvm_vchain *c, u64 gpa,
		     u32 len, bool write)
{
	while (len) {
		unsigned long hva;
		u64 room;
		u32 n;
		int r;

		r = translate(vq->dev, gpa, write, &hva, &room);
		if (r)
			return access_error(vq, r, write ? "writable buffer" :
						   "readable buffer");
		n = min_t(u64, len, room);
		if (write) {
			c->in_len += n;
			c->last_in_gpa = gpa + n - 1;
		} else {
			c->out_len += n;
		}
		/* Past the limit the chain is still checked, only not kept. */
		if (!c->overflow && !chain_grow(c))
			c->overflow = true;
		if (!c->overflow) {
			u32 i = c->nr_out + c->nr_in;

			c->iov[i].iov_base = (void __user *)hva;
			c->iov[i].iov_len = n;
			c->gpa[i] = gpa;
			if (write)
				c->nr_in++;
			else
				c->nr_out++;
		}
		gpa += n;
		len -= n;
	}
	return 0;
}

/* Descriptors read ahead: chains mostly run through consecutive ones. */
#define DESC_AHEAD	16

struct desc_cache {
	u64 table;		/* guest-physical address of the table */
	u32 size;		/* its entries */
	u32 first, nr;		/* entries held: [first, first + nr) */
	struct vring_desc d[DESC_AHEAD];
};

static void desc_cache_init(struct desc_cache *dc, u64 table, u32 size)
{
	dc->table = table;
	dc->size = size;
	dc->first = 0;
	dc->nr = 0;
}

/*
 * Descriptor @i (below dc->size) of the table, each read from guest
 * memory once per walk. Under vm->srcu.
 */
static int read_desc(struct modvm_virtio_dev *dev, struct desc_cache *dc,
		     u32 i, struct vring_desc *d)
{
	u32 n = min_t(u32, DESC_AHEAD, dc->size - i);
	int r;

	if (i < dc->first || i >= dc->first + dc->nr) {
		r = guest_rw(dev, dc->table + sizeof(*d) * (u64)i, dc->d,
			     n * sizeof(*d), false);
		/* What lies beyond @i may be outside memory: just @i then. */
		if (r && n > 1) {
			n = 1;
			r = guest_rw(dev, dc->table + sizeof(*d) * (u64)i, dc->d,
				     sizeof(*d), false);
		}
		if (r)
			return r;
		dc->first = i;
		dc->nr = n;
	}
	*d = dc->d[i - dc->first];
	return 0;
}

/* Follow the chain at @head into @c. Under vm->srcu. */
static int walk_chain(struct modvm_vq *vq, u16 head, struct modvm_vchain *c)
{
	bool indirect = false, in_seen = false;
	struct desc_cache dc;
	u32 count = 0;
	u16 i = head;
	int r;

	chain_reset(c, head);
	desc_cache_init(&dc, vq->desc_gpa, vq->num);
	for (;;) {
		struct vring_desc d;
		u16 flags;
		u64 addr;
		u32 len;

		if (++count > vq->num)
			return bad(vq, "chain at %u longer than the queue", head);
		r = read_desc(vq->dev, &dc, i, &d);
		if (r)
			return access_error(vq, r, indirect ? "indirect table" :
							      "descriptor table");
		flags = vio16(d.flags);
		addr = vio64(d.addr);
		len = vio32(d.len);
		if (flags & VRING_DESC_F_INDIRECT) {
			if (!modvm_virtio_has(vq->dev, VIRTIO_RING_F_INDIRECT_DESC))
				return bad(vq, "indirect descriptor not negotiated");
			if (indirect)
				return bad(vq, "indirect descriptor in an indirect table");
			if (flags & VRING_DESC_F_NEXT)
				return bad(vq, "indirect descriptor with a next");
			if (!len || len % sizeof(d) || addr + len < addr)
				return bad(vq, "indirect table of %u bytes", len);
			desc_cache_init(&dc, addr, len / sizeof(d));
			indirect = true;
			i = 0;
			count--;	/* it only points at the chain */
			continue;
		}
		if (flags & VRING_DESC_F_WRITE)
			in_seen = true;
		else if (in_seen)
			return bad(vq, "readable buffer after a writable one");
		if (len && addr + len - 1 < addr)
			return bad(vq, "buffer wraps around");
		if (len) {
			r = chain_add(vq, c, addr, len, flags & VRING_DESC_F_WRITE);
			if (r)
				return r;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = vio16(d.next);
		if (i >= dc.size)
			return bad(vq, "next index %u beyond its table", i);
	}
}

/**
 * modvm_vring_pop() - take the next available chain of a queue.
 * @vq: the queue; dev->lock held.
 * @chain: filled with its buffers.
 *
 * With VIRTIO_RING_F_EVENT_IDX, finding the ring empty asks the guest for
 * a notification at its next request.
 *
 * Return: 1 with a chain; 0 when the ring is empty; -EINVAL when it is
 * malformed (the queue is stopped); -EAGAIN to try again later.
 */
int modvm_vring_pop(struct modvm_vq *vq, struct modvm_vchain *chain)
{
	struct modvm_vm *vm = vq->dev->vm;
	u16 avail, head;
	int idx, r;

	idx = srcu_read_lock(&vm->srcu);
	r = read_u16(vq, avail_idx_gpa(vq), &avail, "avail ring");
	if (r || avail == vq->last_avail) {
		if (r || !modvm_virtio_has(vq->dev, VIRTIO_RING_F_EVENT_IDX))
			goto out;
		/* A request may come before the guest sees avail_event. */
		r = write_u16(vq, avail_event_gpa(vq), vq->last_avail, "used ring");
		smp_mb();	/* write avail_event, then read the index */
		if (!r)
			r = read_u16(vq, avail_idx_gpa(vq), &avail, "avail ring");
		if (r || avail == vq->last_avail)
			goto out;
	}
	if ((u16)(avail - vq->last_avail) > vq->num) {
		r = bad(vq, "avail index %u is %u ahead of %u", avail,
			(u16)(avail - vq->last_avail), vq->last_avail);
		goto out;
	}
	smp_rmb();	/* the index, then the entries it covers */
	r = read_u16(vq, avail_ring_gpa(vq, vq->last_avail), &head, "avail ring");
	if (r)
		goto out;
	if (head >= vq->num) {
		r = bad(vq, "head %u beyond the queue", head);
		goto out;
	}
	r = walk_chain(vq, head, chain);
	if (!r) {
		vq->last_avail++;
		r = 1;
	}
out:
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/**
 * modvm_vring_unpop() - give back the chains taken last.
 * @vq: the queue; dev->lock held.
 * @n: how many: the next modvm_vring_pop() takes them again.
 *
 * For a device that took buffers for data that did not come after all.
 */
void modvm_vring_unpop(struct modvm_vq *vq, u16 n)
{
	vq->last_avail -= n;
}

/**
 * modvm_vring_add_used() - put a completed chain in the used ring.
 * @vq: the queue; dev->lock held.
 * @head: its head index.
 * @len: bytes the device wrote into it.
 *
 * The guest sees it at the next modvm_vring_publish_used().
 *
 * Return: 0, or -EINVAL (malformed ring).
 */
int modvm_vring_add_used(struct modvm_vq *vq, u16 head, u32 len)
{
	struct vring_used_elem e = {
		.id = to_vio32(head),
		.len = to_vio32(len),
	};
	int r;

	r = write_waiting(vq->dev, used_elem_gpa(vq, vq->used_idx), &e, sizeof(e));
	if (r)
		return access_error(vq, r, "used ring");
	vq->used_idx++;
	return 0;
}

/**
 * modvm_vring_publish_used() - let the guest see the used entries added.
 * @vq: the queue; dev->lock held.
 *
 * Return: 0, or -EINVAL (malformed ring).
 */
int modvm_vring_publish_used(struct modvm_vq *vq)
{
	__le16 v = cpu_to_le16(vq->used_idx);
	int r;

	if (vq->used_idx == vq->published_used)
		return 0;
	smp_wmb();	/* the entries, then the index */
	r = write_waiting(vq->dev, vq->used_gpa + 2, &v, sizeof(v));
	if (r)
		return access_error(vq, r, "used ring");
	vq->published_used = vq->used_idx;
	return 0;
}

/**
 * modvm_vring_should_signal() - does the guest want an interrupt for the
 * used entries published since the last one?
 * @vq: the queue; dev->lock held.
 * @signal: the answer.
 *
 * VRING_AVAIL_F_NO_INTERRUPT, or used_event with VIRTIO_RING_F_EVENT_IDX.
 *
 * Return: 0, or -EINVAL (malformed ring).
 */
int modvm_vring_should_signal(struct modvm_vq *vq, bool *signal)
{
	struct modvm_vm *vm = vq->dev->vm;
	u16 old = vq->signalled_used, val;
	int idx, r;

	*signal = false;
	smp_mb();	/* the used index, then the guest's wishes */
	idx = srcu_read_lock(&vm->srcu);
	if (modvm_virtio_has(vq->dev, VIRTIO_RING_F_EVENT_IDX)) {
		r = read_u16(vq, used_event_gpa(vq), &val, "avail ring");
		if (!r) {
			*signal = vring_need_event(val, vq->published_used, old);
			vq->signalled_used = vq->published_used;
		}
	} else {
		r = read_u16(vq, vq->avail_gpa, &val, "avail ring");
		if (!r)
			*signal = !(val & VRING_AVAIL_F_NO_INTERRUPT);
	}
	srcu_read_unlock(&vm->srcu, idx);
	/* Memslots changing: an interrupt too many does no harm. */
	if (r == -EAGAIN) {
		*signal = true;
		r = 0;
	}
	return r;
}

/**
 * modvm_virtio_write_guest() - write a device result into guest memory.
 * @dev: the device.
 * @gpa: guest-physical address.
 * @data: the bytes.
 * @len: how many.
 *
 * Waits out a memslot change.
 *
 * Return: 0; -ENOENT outside guest memory or in read-only memory;
 * -EFAULT.
 */
int modvm_virtio_write_guest(struct modvm_virtio_dev *dev, u64 gpa,
			     const void *data, u32 len)
{
	int r = write_waiting(dev, gpa, data, len);

	return r == -EROFS ? -ENOENT : r;
}

/**
 * modvm_virtio_written() - a device wrote into a chain's writable buffers.
 * @dev: the device.
 * @chain: the chain.
 * @len: bytes from the start of its writable buffers.
 */
void modvm_virtio_written(struct modvm_virtio_dev *dev,
			  const struct modvm_vchain *chain, u64 len)
{
	u32 i;

	for (i = 0; i < chain->nr_in && len; i++) {
		const struct iovec *iov = &chain->iov[chain->nr_out + i];
		u64 n = min_t(u64, len, iov->iov_len);

		written(dev, chain->gpa[chain->nr_out + i], n);
		len -= n;
	}
}

/**
 * modvm_vchain_iter() - an iterator over a chain's buffers.
 * @chain: the chain, not overflowed.
 * @in: its writable buffers (the device's results), else its readable ones.
 * @iter: the iterator, for the worker or a pool thread (user addresses).
 */
void modvm_vchain_iter(const struct modvm_vchain *chain, bool in,
		       struct iov_iter *iter)
{
	if (in)
		iov_iter_init(iter, ITER_DEST, chain->iov + chain->nr_out,
			      chain->nr_in, chain->in_len);
	else
		iov_iter_init(iter, ITER_SOURCE, chain->iov, chain->nr_out,
			      chain->out_len);
}
