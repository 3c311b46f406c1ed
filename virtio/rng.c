// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-rng (virtio 1.2 §5.4): each writable buffer the guest offers is
 * filled from the host kernel's RNG, up to RNG_MAX_BYTES per request (the
 * used length tells the guest how much it got). No configuration, one
 * queue; the worker serves requests at once, the RNG never blocks once
 * the host is up.
 */
#include <linux/random.h>
#include <linux/uio.h>

#include "virtio.h"

#define RNG_MAX_BYTES	SZ_64K
#define RNG_CHUNK	256

static int rng_start(struct modvm_vreq *req)
{
	struct modvm_vchain *c = &req->chain;
	u64 want = min_t(u64, c->in_len, RNG_MAX_BYTES);
	struct iov_iter in;
	u8 buf[RNG_CHUNK];

	if (c->out_len || c->overflow) {
		modvm_virtio_needs_reset(req->vq, c->overflow ?
					 "request of too many segments" :
					 "request with a readable buffer");
		return -EINVAL;
	}
	modvm_vchain_iter(c, true, &in);
	req->used_len = 0;
	while (req->used_len < want) {
		size_t n = min_t(u64, want - req->used_len, sizeof(buf));

		get_random_bytes(buf, n);
		n = copy_to_iter(buf, n, &in);
		req->used_len += n;
		if (n < min_t(u64, want - (req->used_len - n), sizeof(buf)))
			break;	/* the VMM's memory went away under it */
	}
	memzero_explicit(buf, sizeof(buf));
	modvm_vreq_done(req);
	return 0;
}

static void rng_finish(struct modvm_vreq *req, bool drop)
{
	if (!drop)
		req->vq->dev->stats.read_bytes += req->used_len;
}

static int rng_create(struct modvm_virtio_dev *dev,
		      const struct modvm_virtio_create *args)
{
	static const u8 zero[sizeof(args->config)];

	/* No backing, no configuration. */
	if (args->fd != -1 || memcmp(args->config, zero, sizeof(zero)))
		return -EINVAL;
	return 0;
}

static void rng_destroy(struct modvm_virtio_dev *dev)
{
}

const struct modvm_virtio_ops modvm_virtio_rng_ops = {
	.type = MODVM_VIRTIO_RNG,
	.name = "rng",
	.req_size = sizeof(struct modvm_vreq),
	.min_queues = 1,
	.max_queues = 1,
	.create = rng_create,
	.destroy = rng_destroy,
	.start = rng_start,
	.finish = rng_finish,
};
