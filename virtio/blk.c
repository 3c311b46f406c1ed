// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk (virtio 1.2 §5.2) on a regular file or block device.
 *
 * A request's buffers are the guest's own memory at its user addresses
 * in the VMM, handed to the backing's read_iter/write_iter as they are:
 * no bounce copy. Direct I/O (a backing opened with O_DIRECT) is
 * submitted asynchronously by the worker and completes from interrupt
 * context, so a queue can have all its requests in flight; a direct
 * request the backing refuses for its alignment goes through the page
 * cache instead. Buffered reads first try the page cache without
 * blocking; whatever would block (buffered reads that miss, buffered
 * writes, flushes, discards) runs in the device's pool threads.
 *
 * A flush is an fsync of the backing: everything the guest saw complete
 * before it, which the backing already holds, is on stable storage when
 * the flush completes.
 *
 * The request layout is any layout (VIRTIO_F_VERSION_1): a 16-byte
 * header at the start of the readable buffers, the status byte at the
 * end of the writable ones, data in between. A chain without room for
 * both cannot be answered, and is a malformed ring; any other bad
 * request (out of range, not whole sectors, data the wrong way, a write
 * to a read-only disk) completes with VIRTIO_BLK_S_IOERR.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/blkdev.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/virtio_blk.h>

#include "virtio.h"

#define SECTOR_SHIFT_BYTES	9
#define BLK_IO_THREADS		4
/* Most sectors one discard or write-zeroes segment may cover (2 GiB). */
#define BLK_MAX_RANGE_SECTORS	BIT(22)
/* A request's segments are each at most this long (VIRTIO_BLK_F_SIZE_MAX). */
#define BLK_SIZE_MAX		SZ_1M
/* Zero pages per write of the write-zeroes fallback. */
#define BLK_ZERO_PAGES		16

struct blk_dev {
	struct file *file;
	u64 capacity;		/* sectors of 512 bytes */
	u32 blk_size;
	bool readonly;
	bool nowait;		/* buffered reads may try the page cache first */
	char serial[VIRTIO_BLK_ID_BYTES];
};

struct blk_req {
	struct modvm_vreq vreq;		/* first: the worker allocates it */
	struct blk_dev *blk;
	u32 type;
	u64 sector;
	u64 len;			/* data bytes */
	u64 done_bytes;
	struct kiocb iocb;
	struct iov_iter iter;
	bool write_held;		/* kiocb_start_write() to undo */
	u8 status;
	struct virtio_blk_discard_write_zeroes range;
};

static struct blk_req *to_blk_req(struct modvm_vreq *vreq)
{
	return container_of(vreq, struct blk_req, vreq);
}

/* The request is over: @status for the guest, @written data bytes given. */
static void blk_complete(struct blk_req *r, u8 status, u64 written)
{
	r->status = status;
	r->vreq.used_len = (status == VIRTIO_BLK_S_OK ? written : 0) + 1;
	modvm_vreq_done(&r->vreq);
}

static void complete_rw(struct blk_req *r)
{
	bool ok = r->done_bytes == r->len;

	blk_complete(r, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR,
		     r->type == VIRTIO_BLK_T_IN ? r->len : 0);
}

/* Direct I/O completion: interrupt context. */
static void aio_complete(struct kiocb *iocb, long ret)
{
	struct blk_req *r = container_of(iocb, struct blk_req, iocb);

	if (ret > 0)
		r->done_bytes += ret;
	complete_rw(r);
}

/* Pool thread: the rest of a read or write, blocking. */
static void rw_blocking(struct modvm_vreq *vreq)
{
	struct blk_req *r = to_blk_req(vreq);
	struct file *file = r->blk->file;
	ssize_t ret;

	while (r->done_bytes < r->len) {
		if (r->type == VIRTIO_BLK_T_OUT) {
			file_start_write(file);
			ret = vfs_iocb_iter_write(file, &r->iocb, &r->iter);
			file_end_write(file);
		} else {
			ret = vfs_iocb_iter_read(file, &r->iocb, &r->iter);
		}
		/* 0: the backing shrank under the disk. */
		if (ret <= 0)
			break;
		r->done_bytes += ret;
	}
	complete_rw(r);
}

static int start_rw(struct blk_req *r, struct iov_iter *out)
{
	struct modvm_vchain *c = &r->vreq.chain;
	bool write = r->type == VIRTIO_BLK_T_OUT;
	struct blk_dev *blk = r->blk;
	ssize_t ret;

	r->len = write ? c->out_len - sizeof(struct virtio_blk_outhdr) :
			 c->in_len - 1;
	/* Data goes one way: a read reads only the header, a write writes only the status. */
	if ((write && blk->readonly) ||
	    (write ? c->in_len != 1 : c->out_len != sizeof(struct virtio_blk_outhdr)) ||
	    r->len % SECTOR_SIZE || r->sector > blk->capacity ||
	    (r->len >> SECTOR_SHIFT_BYTES) > blk->capacity - r->sector) {
		blk_complete(r, VIRTIO_BLK_S_IOERR, 0);
		return 0;
	}
	if (!r->len) {
		blk_complete(r, VIRTIO_BLK_S_OK, 0);
		return 0;
	}
	if (write) {
		r->iter = *out;
	} else {
		modvm_vchain_iter(c, true, &r->iter);
		iov_iter_truncate(&r->iter, r->len);
	}
	init_sync_kiocb(&r->iocb, blk->file);
	r->iocb.ki_pos = r->sector << SECTOR_SHIFT_BYTES;
	/* The guest says where: an O_APPEND backing must not move it. */
	r->iocb.ki_flags &= ~IOCB_APPEND;
	if (write)
		r->iocb.ki_flags |= IOCB_WRITE;

	if (r->iocb.ki_flags & IOCB_DIRECT) {
		r->iocb.ki_complete = aio_complete;
		if (write && S_ISREG(file_inode(blk->file)->i_mode)) {
			kiocb_start_write(&r->iocb);
			r->write_held = true;
		}
		ret = write ? vfs_iocb_iter_write(blk->file, &r->iocb, &r->iter) :
			      vfs_iocb_iter_read(blk->file, &r->iocb, &r->iter);
		if (ret == -EIOCBQUEUED)
			return 0;
		if (ret != -EINVAL) {
			aio_complete(&r->iocb, ret);
			return 0;
		}
		/* Not aligned as direct I/O needs: through the page cache. */
		if (r->write_held) {
			kiocb_end_write(&r->iocb);
			r->write_held = false;
		}
		r->iocb.ki_complete = NULL;
		r->iocb.ki_flags &= ~IOCB_DIRECT;
	} else if (!write && blk->nowait) {
		r->iocb.ki_flags |= IOCB_NOWAIT;
		ret = vfs_iocb_iter_read(blk->file, &r->iocb, &r->iter);
		r->iocb.ki_flags &= ~IOCB_NOWAIT;
		if (ret > 0)
			r->done_bytes += ret;
		if (r->done_bytes == r->len || (ret < 0 && ret != -EAGAIN)) {
			complete_rw(r);
			return 0;
		}
	}
	modvm_vreq_punt(&r->vreq, rw_blocking);
	return 0;
}

static void flush_blocking(struct modvm_vreq *vreq)
{
	struct blk_req *r = to_blk_req(vreq);

	blk_complete(r, vfs_fsync(r->blk->file, 0) ? VIRTIO_BLK_S_IOERR :
						 VIRTIO_BLK_S_OK, 0);
}

/* Write zeroes by writing zero pages: for backings without ZERO_RANGE. */
static int write_zero_pages(struct file *file, loff_t pos, u64 len)
{
	struct bio_vec bv[BLK_ZERO_PAGES];
	struct iov_iter iter;
	struct kiocb iocb;
	ssize_t ret;
	int n;

	init_sync_kiocb(&iocb, file);
	iocb.ki_pos = pos;
	iocb.ki_flags &= ~IOCB_APPEND;
	iocb.ki_flags |= IOCB_WRITE;
	while (len) {
		u64 chunk = min_t(u64, len, BLK_ZERO_PAGES * PAGE_SIZE);

		for (n = 0; (u64)n * PAGE_SIZE < chunk; n++) {
			bv[n].bv_page = ZERO_PAGE(0);
			bv[n].bv_offset = 0;
			bv[n].bv_len = min_t(u64, PAGE_SIZE, chunk - n * PAGE_SIZE);
		}
		iov_iter_bvec(&iter, ITER_SOURCE, bv, n, chunk);
		file_start_write(file);
		ret = vfs_iocb_iter_write(file, &iocb, &iter);
		file_end_write(file);
		if (ret <= 0)
			return ret ? ret : -EIO;
		len -= ret;
		cond_resched();
	}
	return 0;
}

/* Pool thread: discard or write zeroes. */
static void range_blocking(struct modvm_vreq *vreq)
{
	struct blk_req *r = to_blk_req(vreq);
	struct file *file = r->blk->file;
	loff_t pos = le64_to_cpu(r->range.sector) << SECTOR_SHIFT_BYTES;
	u64 len = (u64)le32_to_cpu(r->range.num_sectors) << SECTOR_SHIFT_BYTES;
	bool unmap = le32_to_cpu(r->range.flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	int ret;

	if (r->type == VIRTIO_BLK_T_DISCARD) {
		ret = vfs_fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    pos, len);
		/* A discard is a hint the backing may not take. */
		if (ret == -EOPNOTSUPP)
			ret = 0;
	} else {
		ret = vfs_fallocate(file, (unmap ? FALLOC_FL_PUNCH_HOLE :
					   FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE,
				    pos, len);
		if (ret == -EOPNOTSUPP)
			ret = write_zero_pages(file, pos, len);
	}
	blk_complete(r, ret ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, 0);
}

static void start_range(struct blk_req *r, struct iov_iter *out)
{
	struct modvm_virtio_dev *dev = r->vreq.vq->dev;
	struct modvm_vchain *c = &r->vreq.chain;
	u32 flags, num;
	u64 sector;

	if (!modvm_virtio_has(dev, r->type == VIRTIO_BLK_T_DISCARD ?
			      VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)) {
		blk_complete(r, VIRTIO_BLK_S_UNSUPP, 0);
		return;
	}
	/* One segment (max_discard_seg, max_write_zeroes_seg). */
	if (r->blk->readonly || c->in_len != 1 ||
	    c->out_len != sizeof(struct virtio_blk_outhdr) + sizeof(r->range) ||
	    copy_from_iter(&r->range, sizeof(r->range), out) != sizeof(r->range)) {
		blk_complete(r, VIRTIO_BLK_S_IOERR, 0);
		return;
	}
	flags = le32_to_cpu(r->range.flags);
	num = le32_to_cpu(r->range.num_sectors);
	sector = le64_to_cpu(r->range.sector);
	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
	    (r->type == VIRTIO_BLK_T_DISCARD && flags)) {
		blk_complete(r, VIRTIO_BLK_S_UNSUPP, 0);
		return;
	}
	if (num > BLK_MAX_RANGE_SECTORS || sector > r->blk->capacity ||
	    num > r->blk->capacity - sector) {
		blk_complete(r, VIRTIO_BLK_S_IOERR, 0);
		return;
	}
	if (!num) {
		blk_complete(r, VIRTIO_BLK_S_OK, 0);
		return;
	}
	modvm_vreq_punt(&r->vreq, range_blocking);
}

static void get_id(struct blk_req *r)
{
	struct modvm_vchain *c = &r->vreq.chain;
	struct iov_iter in;
	size_t n = min_t(u64, c->in_len - 1, VIRTIO_BLK_ID_BYTES);

	modvm_vchain_iter(c, true, &in);
	if (copy_to_iter(r->blk->serial, n, &in) != n)
		blk_complete(r, VIRTIO_BLK_S_IOERR, 0);
	else
		blk_complete(r, VIRTIO_BLK_S_OK, n);
}

static int blk_start(struct modvm_vreq *vreq)
{
	struct blk_req *r = to_blk_req(vreq);
	struct modvm_vchain *c = &vreq->chain;
	struct virtio_blk_outhdr hdr;
	struct iov_iter out;

	r->blk = vreq->vq->dev->priv;
	if (c->out_len < sizeof(hdr) || !c->in_len) {
		modvm_virtio_needs_reset(vreq->vq, "request without header or status");
		return -EINVAL;
	}
	if (c->overflow) {
		blk_complete(r, VIRTIO_BLK_S_IOERR, 0);
		return 0;
	}
	modvm_vchain_iter(c, false, &out);
	if (copy_from_iter(&hdr, sizeof(hdr), &out) != sizeof(hdr)) {
		blk_complete(r, VIRTIO_BLK_S_IOERR, 0);
		return 0;
	}
	r->type = vio32(hdr.type);
	r->sector = vio64(hdr.sector);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return start_rw(r, &out);
	case VIRTIO_BLK_T_FLUSH:
		modvm_vreq_punt(vreq, flush_blocking);
		return 0;
	case VIRTIO_BLK_T_GET_ID:
		get_id(r);
		return 0;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		start_range(r, &out);
		return 0;
	default:
		blk_complete(r, VIRTIO_BLK_S_UNSUPP, 0);
		return 0;
	}
}

static void blk_finish(struct modvm_vreq *vreq, bool drop)
{
	struct modvm_virtio_dev *dev = vreq->vq->dev;
	struct blk_req *r = to_blk_req(vreq);

	if (r->write_held) {
		kiocb_end_write(&r->iocb);
		r->write_held = false;
	}
	if (drop)
		return;
	/* Checked at pop: only a memslot removed since can refuse it. */
	modvm_virtio_write_guest(dev, vreq->chain.last_in_gpa, &r->status, 1);
	switch (r->status) {
	case VIRTIO_BLK_S_OK:
		if (r->type == VIRTIO_BLK_T_IN)
			dev->stats.read_bytes += r->len;
		else if (r->type == VIRTIO_BLK_T_OUT)
			dev->stats.write_bytes += r->len;
		break;
	case VIRTIO_BLK_S_IOERR:
		dev->stats.errors++;
		break;
	default:
		dev->stats.unsupported++;
	}
}

static void set_config(struct modvm_virtio_dev *dev, struct blk_dev *blk)
{
	struct virtio_blk_config cfg = {
		.capacity = to_vio64(blk->capacity),
		.size_max = to_vio32(BLK_SIZE_MAX),
		/* Header and status need two of a chain's QueueNum descriptors. */
		.seg_max = to_vio32(dev->queue_size - 2),
		.blk_size = to_vio32(blk->blk_size),
		.num_queues = to_vio16(dev->nr_queues),
		.max_discard_sectors = to_vio32(BLK_MAX_RANGE_SECTORS),
		.max_discard_seg = to_vio32(1),
		.discard_sector_alignment = to_vio32(blk->blk_size >> SECTOR_SHIFT_BYTES),
		.max_write_zeroes_sectors = to_vio32(BLK_MAX_RANGE_SECTORS),
		.max_write_zeroes_seg = to_vio32(1),
		.write_zeroes_may_unmap = 1,
	};

	/* Up to the fields of features modvm does not offer. */
	dev->config_len = offsetof(struct virtio_blk_config, max_secure_erase_sectors);
	BUILD_BUG_ON(offsetof(struct virtio_blk_config, max_secure_erase_sectors) >
		     sizeof(dev->config));
	memcpy(dev->config, &cfg, dev->config_len);
}

static int blk_create(struct modvm_virtio_dev *dev,
		      const struct modvm_virtio_create *args)
{
	struct inode *inode;
	struct blk_dev *blk;
	struct file *file;
	umode_t mode;
	int r;

	/* Chains need a header, a status and room for data. */
	if (dev->queue_size < 4)
		return -EINVAL;
	if (args->blk.blk_size && (!is_power_of_2(args->blk.blk_size) ||
				   args->blk.blk_size < SECTOR_SIZE ||
				   args->blk.blk_size > PAGE_SIZE))
		return -EINVAL;
	file = fget(args->fd);
	if (!file)
		return -EBADF;
	inode = file->f_mapping->host;
	mode = file_inode(file)->i_mode;
	r = -ENOTBLK;
	if (!S_ISREG(mode) && !S_ISBLK(mode))
		goto put;
	r = -EBADF;
	if (!(file->f_mode & FMODE_READ) ||
	    (!(args->flags & MODVM_VIRTIO_RDONLY) && !(file->f_mode & FMODE_WRITE)))
		goto put;
	r = -ENOMEM;
	blk = kzalloc(sizeof(*blk), GFP_KERNEL_ACCOUNT);
	if (!blk)
		goto put;
	blk->file = file;
	blk->readonly = args->flags & MODVM_VIRTIO_RDONLY;
	blk->capacity = i_size_read(inode) >> SECTOR_SHIFT_BYTES;
	blk->blk_size = args->blk.blk_size;
	if (!blk->blk_size)
		blk->blk_size = S_ISBLK(mode) ?
			bdev_logical_block_size(I_BDEV(inode)) : SECTOR_SIZE;
	blk->nowait = S_ISREG(mode) && (file->f_mode & FMODE_NOWAIT) &&
		      !(file->f_flags & O_DIRECT);
	memcpy(blk->serial, args->blk.serial, sizeof(blk->serial));

	dev->features |= BIT_ULL(VIRTIO_BLK_F_SIZE_MAX) |
			 BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |
			 BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) |
			 BIT_ULL(VIRTIO_BLK_F_FLUSH);
	if (blk->readonly)
		dev->features |= BIT_ULL(VIRTIO_BLK_F_RO);
	else
		dev->features |= BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES);
	if (!blk->readonly && file->f_op->fallocate)
		dev->features |= BIT_ULL(VIRTIO_BLK_F_DISCARD);
	if (dev->nr_queues > 1)
		dev->features |= BIT_ULL(VIRTIO_BLK_F_MQ);
	dev->priv = blk;
	set_config(dev, blk);
	return 0;
put:
	fput(file);
	return r;
}

static void blk_destroy(struct modvm_virtio_dev *dev)
{
	struct blk_dev *blk = dev->priv;

	fput(blk->file);
	kfree(blk);
}

const struct modvm_virtio_ops modvm_virtio_blk_ops = {
	.type = MODVM_VIRTIO_BLK,
	.name = "blk",
	.req_size = sizeof(struct blk_req),
	.flags = MODVM_VIRTIO_RDONLY,
	.min_queues = 1,
	.max_queues = MODVM_VIRTIO_MAX_QUEUES,
	.io_threads = BLK_IO_THREADS,
	.create = blk_create,
	.destroy = blk_destroy,
	.start = blk_start,
	.finish = blk_finish,
};
