// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net (virtio 1.2 §5.1) on a tap device, with the data path in the
 * kernel as vhost-net has it: the worker moves frames between the guest's
 * buffers (at their user addresses in the VMM) and the tap's socket
 * (tun_get_socket()), with no copy of its own. The tap reads and writes
 * the 12-byte virtio 1 header itself (modvm sets its vnet header size),
 * so checksum and segmentation offloads pass through as the guest and the
 * tap negotiated them: TUNSETOFFLOAD follows the guest's GUEST_* features.
 *
 * Transmit chains are requests like blk's: each frame goes to the tap at
 * once and its chain completes. Receive buffers are not requests: the
 * guest posts them ahead and the worker fills them as frames come
 * (net_serve()), woken by the tap's wait queue or by the guest's notify.
 * A frame waits in the tap's queue while the guest offers no buffer for
 * it; that queue is bounded (the tap's txqueuelen) and the tap counts
 * what overflows it, so the worker never waits for the guest. A frame the
 * offered buffers cannot hold is dropped and counted, and the buffers
 * stay for the next one.
 *
 * A transmit chain that cannot be a frame (a writable buffer, no whole
 * header, more than a 64 KiB frame) or one the tap refuses is dropped,
 * counted and completed: the queue goes on. Receive chains with a
 * readable buffer or without room for the header break the ring rules,
 * as any malformed chain does (DEVICE_NEEDS_RESET).
 *
 * Link status (VIRTIO_NET_F_STATUS) follows the tap's interface: deleting
 * it detaches the tap, the link goes down and the guest gets a
 * configuration change interrupt.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/etherdevice.h>
#include <linux/file.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/if_vlan.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/netdevice.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/virtio_net.h>
#include <net/netlink.h>
#include <net/rtnetlink.h>
#include <net/sock.h>

#include "virtio.h"

#define NET_RXQ			0
#define NET_TXQ			1
#define NET_HDR_LEN		sizeof(struct virtio_net_hdr_mrg_rxbuf)
/* The largest frame: a 64 KiB GSO packet with its Ethernet and VLAN headers. */
#define NET_MAX_FRAME		(SZ_64K + VLAN_ETH_HLEN)
/* Frames received per worker pass, so that transmit gets its turn. */
#define NET_RX_BUDGET		64
/* Receive chains and segments one frame may fill (mergeable buffers). */
#define NET_RX_MAX_CHAINS	64
#define NET_RX_MAX_IOV		256

#define NET_FEATURES	(BIT_ULL(VIRTIO_NET_F_STATUS) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) | \
			 BIT_ULL(VIRTIO_NET_F_CSUM) | BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) | \
			 BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | BIT_ULL(VIRTIO_NET_F_HOST_TSO6) | \
			 BIT_ULL(VIRTIO_NET_F_HOST_ECN) | BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) | \
			 BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) | BIT_ULL(VIRTIO_NET_F_GUEST_ECN))

struct net_dev {
	struct file *tap;
	struct socket *sock;
	struct socket *(*get_socket)(struct file *file);	/* tun's, held */
	wait_queue_entry_t wait;	/* on the tap socket's wait queue */
	struct modvm_virtio_dev *dev;
	u32 offloads;		/* TUN_F_* the tap has */
	bool link_up;
	/* A frame being received: the chains it fills and their segments. */
	struct modvm_vchain *rx_chains;
	struct iovec rx_iov[NET_RX_MAX_IOV];
};

static struct net_dev *to_net(struct modvm_virtio_dev *dev)
{
	return dev->priv;
}

/* A tap ioctl that reads or writes @buf, through a page of the VMM's. */
static long tap_ioctl_buf(struct file *tap, unsigned int cmd, void *buf,
			  size_t len)
{
	unsigned long addr;
	long r = -EFAULT;

	addr = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(addr))
		return addr;
	if (!copy_to_user((void __user *)addr, buf, len)) {
		r = tap->f_op->unlocked_ioctl(tap, cmd, addr);
		if (!r && copy_from_user(buf, (void __user *)addr, len))
			r = -EFAULT;
	}
	vm_munmap(addr, PAGE_SIZE);
	return r;
}

/* Have the tap hand the guest only what its features let it take. */
static int set_offloads(struct net_dev *net, u64 features)
{
	u32 offloads = 0;
	long r;

	if (features & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM))
		offloads |= TUN_F_CSUM;
	if (features & BIT_ULL(VIRTIO_NET_F_GUEST_TSO4))
		offloads |= TUN_F_TSO4;
	if (features & BIT_ULL(VIRTIO_NET_F_GUEST_TSO6))
		offloads |= TUN_F_TSO6;
	if (features & BIT_ULL(VIRTIO_NET_F_GUEST_ECN))
		offloads |= TUN_F_TSO_ECN;
	if (offloads == net->offloads)
		return 0;
	r = net->tap->f_op->unlocked_ioctl(net->tap, TUNSETOFFLOAD, offloads);
	/* No interface behind the tap (link down): nothing comes anyway. */
	if (r == -EBADFD) {
		net->offloads = U32_MAX;	/* unknown */
		return 0;
	}
	if (r)
		return r;
	net->offloads = offloads;
	return 0;
}

/* The link follows the tap's interface; tell the guest when it changes. */
static void update_link(struct modvm_virtio_dev *dev)
{
	struct net_dev *net = to_net(dev);
	bool up = !(READ_ONCE(net->sock->sk->sk_shutdown) & RCV_SHUTDOWN);
	struct virtio_net_config *cfg = (void *)dev->config;

	if (up == net->link_up)
		return;
	net->link_up = up;
	WRITE_ONCE(cfg->status, to_vio16(up ? VIRTIO_NET_S_LINK_UP : 0));
	WRITE_ONCE(dev->config_gen, dev->config_gen + 1);
	modvm_virtio_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

/* Transmit: one chain, one frame, sent at once. */
static int net_start(struct modvm_vreq *req)
{
	struct modvm_virtio_dev *dev = req->vq->dev;
	struct modvm_vchain *c = &req->chain;
	struct net_dev *net = to_net(dev);
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	int r;

	req->used_len = 0;
	if (c->nr_in || c->overflow || c->out_len < NET_HDR_LEN + ETH_HLEN ||
	    c->out_len > NET_HDR_LEN + NET_MAX_FRAME) {
		dev->stats.tx_dropped++;
		goto done;
	}
	modvm_vchain_iter(c, false, &msg.msg_iter);
	r = net->sock->ops->sendmsg(net->sock, &msg, c->out_len);
	if (r < 0) {
		dev->stats.tx_dropped++;
		if (r == -EBADFD)
			update_link(dev);
		goto done;
	}
	dev->stats.tx_packets++;
	dev->stats.tx_bytes += c->out_len - NET_HDR_LEN;
done:
	modvm_vreq_done(req);
	return 0;
}

static void net_finish(struct modvm_vreq *req, bool drop)
{
}

/* Throw away the frame at the head of the tap's queue. */
static void rx_discard(struct net_dev *net)
{
	/* The tap takes a frame off its queue only for room for a header. */
	u8 buf[NET_HDR_LEN + ETH_HLEN];
	struct kvec kv = { buf, sizeof(buf) };
	struct msghdr msg = {};

	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, sizeof(buf));
	net->sock->ops->recvmsg(net->sock, &msg, sizeof(buf),
				MSG_DONTWAIT | MSG_TRUNC);
}

/*
 * A frame of @len bytes (header included) went into the first @nr_chains
 * chains: set the header fields the tap leaves to the device
 * (num_buffers; flags without GUEST_CSUM, which the spec wants 0 then),
 * and complete the chains. Each chain holds a whole header, so the
 * header is in the first one.
 */
static int rx_complete(struct modvm_vq *vq, u32 nr_chains, u32 len)
{
	struct modvm_virtio_dev *dev = vq->dev;
	struct modvm_vchain *first = &to_net(dev)->rx_chains[0];
	__virtio16 num_buffers = to_vio16(nr_chains);
	struct iov_iter it;
	u32 i, left = len;
	u8 flags = 0;

	modvm_vchain_iter(first, true, &it);
	if (!modvm_virtio_has(dev, VIRTIO_NET_F_GUEST_CSUM) &&
	    copy_to_iter(&flags, 1, &it) != 1)
		return -EFAULT;
	modvm_vchain_iter(first, true, &it);
	iov_iter_advance(&it, offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers));
	if (copy_to_iter(&num_buffers, sizeof(num_buffers), &it) != sizeof(num_buffers))
		return -EFAULT;
	for (i = 0; i < nr_chains; i++) {
		struct modvm_vchain *c = &to_net(dev)->rx_chains[i];
		u32 n = min_t(u64, left, c->in_len);

		modvm_virtio_written(dev, c, n);
		if (modvm_vring_add_used(vq, c->head, n))
			return -EINVAL;
		dev->stats.requests++;
		left -= n;
	}
	return 0;
}

/*
 * The tap may have written into chains whose frame is dropped: they go
 * back to the ring for the next frame, and their pages count as written
 * (shadow paging).
 */
static void rx_give_back(struct modvm_vq *vq, u32 nr_chains)
{
	struct net_dev *net = to_net(vq->dev);
	u32 i;

	for (i = 0; i < nr_chains; i++)
		modvm_virtio_written(vq->dev, &net->rx_chains[i],
				     net->rx_chains[i].in_len);
	modvm_vring_unpop(vq, nr_chains);
}

/*
 * Receive the frame at the head of the tap's queue (@len bytes, header
 * not included) into the guest's next buffers. Returns 1 when it was
 * received or dropped, 0 when the guest has no buffers for it yet,
 * -EAGAIN to retry after a pause, -EINVAL when the ring broke.
 */
static int rx_one(struct modvm_vq *vq, u32 len)
{
	struct modvm_virtio_dev *dev = vq->dev;
	struct net_dev *net = to_net(dev);
	u32 max_chains = modvm_virtio_has(dev, VIRTIO_NET_F_MRG_RXBUF) ?
			 NET_RX_MAX_CHAINS : 1;
	u32 need = NET_HDR_LEN + len, nr_chains = 0, nr_iov = 0, used;
	struct msghdr msg = {};
	u64 have = 0;
	int r;

	while (have < need) {
		struct modvm_vchain *c = &net->rx_chains[nr_chains];

		/* The guest cannot give more than a ring's worth at once. */
		if (nr_chains == max_chains || nr_chains == vq->num)
			goto drop;
		r = modvm_vring_pop(vq, c);
		if (r <= 0) {
			if (r != -EINVAL)
				modvm_vring_unpop(vq, nr_chains);
			return r;
		}
		nr_chains++;
		if (c->out_len || c->in_len < NET_HDR_LEN || c->overflow ||
		    c->nr_in > NET_RX_MAX_IOV) {
			/* Buffers no frame could ever go into. */
			modvm_virtio_needs_reset(vq, c->out_len ?
						 "readable receive buffer" :
						 c->in_len < NET_HDR_LEN ?
						 "receive buffer without room for the header" :
						 "receive buffer of too many segments");
			return -EINVAL;
		}
		if (nr_iov + c->nr_in > NET_RX_MAX_IOV)
			goto drop;
		memcpy(net->rx_iov + nr_iov, c->iov + c->nr_out,
		       c->nr_in * sizeof(*c->iov));
		nr_iov += c->nr_in;
		have += c->in_len;
	}
	iov_iter_init(&msg.msg_iter, ITER_DEST, net->rx_iov, nr_iov, have);
	r = net->sock->ops->recvmsg(net->sock, &msg, have,
				    MSG_DONTWAIT | MSG_TRUNC);
	if (r == -EAGAIN || r == -EBADFD) {
		/* Someone else read the tap, or its interface went away. */
		modvm_vring_unpop(vq, nr_chains);
		return 1;
	}
	if (r < (int)NET_HDR_LEN || r > have) {
		/* Not what was peeked: cut short, or refused by the tap. */
		rx_give_back(vq, nr_chains);
		dev->stats.rx_dropped++;
		return 1;
	}
	/* The frame may be shorter than peeked: give back unused chains. */
	for (used = 0, have = 0; have < r; used++)
		have += net->rx_chains[used].in_len;
	modvm_vring_unpop(vq, nr_chains - used);
	len = r;
	r = rx_complete(vq, used, len);
	if (r == -EINVAL)
		return r;
	if (r) {
		/* The header could not be finished: nothing was completed. */
		rx_give_back(vq, used);
		dev->stats.rx_dropped++;
		return 1;
	}
	dev->stats.rx_packets++;
	dev->stats.rx_bytes += len - NET_HDR_LEN;
	return 1;
drop:
	/* More than the buffers the guest may give it: drop it, keep them. */
	modvm_vring_unpop(vq, nr_chains);
	rx_discard(net);
	dev->stats.rx_dropped++;
	return 1;
}

/* Fill receive buffers with the frames waiting in the tap. */
static bool rx_serve(struct modvm_vq *vq)
{
	struct modvm_virtio_dev *dev = vq->dev;
	struct net_dev *net = to_net(dev);
	int budget = NET_RX_BUDGET, len, r;
	u16 used_idx = vq->used_idx;
	bool retry = false;

	if (!vq->ready || vq->broken)
		return false;
	while ((len = net->sock->ops->peek_len(net->sock)) > 0) {
		if (!budget--) {
			/* More next pass, after the other queues. */
			set_bit(vq->index, &dev->kicks);
			break;
		}
		r = rx_one(vq, len);
		if (r == 1)
			continue;
		if (r == -EAGAIN) {
			set_bit(vq->index, &dev->kicks);
			retry = true;
		}
		break;
	}
	if (vq->used_idx != used_idx)
		modvm_virtio_publish(dev, BIT(vq->index));
	return retry;
}

static bool net_serve(struct modvm_vq *vq)
{
	update_link(vq->dev);
	if (vq->index == NET_RXQ)
		return rx_serve(vq);
	return modvm_virtio_serve_requests(vq);
}

/* The tap has a frame for us, or its interface went away. Any context. */
static int tap_wake(wait_queue_entry_t *wait, unsigned int mode, int sync,
		    void *key)
{
	struct net_dev *net = container_of(wait, struct net_dev, wait);

	if (key && !(key_to_poll(key) & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return 0;
	modvm_virtio_kick(net->dev, NET_RXQ);
	return 0;
}

/*
 * On the wait queue of the tap's socket, where it signals frames and its
 * detachment; the queue lives as long as the tap's file, attached or not
 * (polling the file would skip it while detached).
 */
static void net_attach(struct modvm_virtio_dev *dev)
{
	struct net_dev *net = to_net(dev);

	init_waitqueue_func_entry(&net->wait, tap_wake);
	add_wait_queue(sk_sleep(net->sock->sk), &net->wait);
	/* Frames that came before. */
	modvm_virtio_kick(dev, NET_RXQ);
}

static void net_detach(struct modvm_virtio_dev *dev)
{
	struct net_dev *net = to_net(dev);

	remove_wait_queue(sk_sleep(net->sock->sk), &net->wait);
}

static int net_features_ok(struct modvm_virtio_dev *dev, u64 f)
{
	/* The dependencies of virtio 1.2 §5.1.3.1. */
#define HAS(bit)	(f & BIT_ULL(VIRTIO_NET_F_##bit))
	if (((HAS(GUEST_TSO4) || HAS(GUEST_TSO6) || HAS(GUEST_ECN)) &&
	     !HAS(GUEST_CSUM)) ||
	    (HAS(GUEST_ECN) && !HAS(GUEST_TSO4) && !HAS(GUEST_TSO6)) ||
	    ((HAS(HOST_TSO4) || HAS(HOST_TSO6) || HAS(HOST_ECN)) && !HAS(CSUM)) ||
	    (HAS(HOST_ECN) && !HAS(HOST_TSO4) && !HAS(HOST_TSO6)))
		return -EINVAL;
#undef HAS
	return set_offloads(to_net(dev), f);
}

static void net_free(struct net_dev *net)
{
	int i;

	if (net->rx_chains)
		for (i = 0; i < NET_RX_MAX_CHAINS; i++)
			modvm_vchain_free(&net->rx_chains[i]);
	kvfree(net->rx_chains);
	if (net->tap)
		fput(net->tap);
	if (net->get_socket)
		symbol_put(tun_get_socket);
	kfree(net);
}

/*
 * Is the tap's interface, @name, a tap with the virtio-net header and no
 * packet information in front of frames? TUNGETIFF cannot say: it reports
 * IFF_NOFILTER in the bit of IFF_NO_PI. The interface's link attributes
 * can; the interface is the tap's if its MAC address is the one the tap
 * reports (same name, same namespace).
 */
static int tap_check_link(struct net_dev *net, const char *name)
{
	struct nlattr *type, *pi, *vnet_hdr;
	struct net_device *nd;
	struct ifreq hw = {};
	struct sk_buff *skb;
	int r = -EINVAL;

	if (tap_ioctl_buf(net->tap, SIOCGIFHWADDR, &hw, sizeof(hw)))
		return -EINVAL;
	nd = dev_get_by_name(sock_net(net->sock->sk), name);
	if (!nd)
		return -EINVAL;
	skb = alloc_skb(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb) {
		dev_put(nd);
		return -ENOMEM;
	}
	rtnl_lock();
	if (nd->rtnl_link_ops && !strcmp(nd->rtnl_link_ops->kind, "tun") &&
	    nd->rtnl_link_ops->fill_info &&
	    ether_addr_equal(nd->dev_addr, hw.ifr_hwaddr.sa_data) &&
	    !nd->rtnl_link_ops->fill_info(skb, nd))
		r = 0;
	rtnl_unlock();
	dev_put(nd);
	if (!r) {
		type = nla_find((void *)skb->data, skb->len, IFLA_TUN_TYPE);
		pi = nla_find((void *)skb->data, skb->len, IFLA_TUN_PI);
		vnet_hdr = nla_find((void *)skb->data, skb->len, IFLA_TUN_VNET_HDR);
		if (!type || !pi || !vnet_hdr || nla_get_u8(type) != IFF_TAP ||
		    nla_get_u8(pi) || !nla_get_u8(vnet_hdr))
			r = -EINVAL;
	}
	kfree_skb(skb);
	return r;
}

/*
 * Is @tap a tap attached to its interface, opened the way the header must
 * be read? Then make its header the virtio 1 one and turn its offloads
 * off until the guest negotiates them.
 */
static int tap_setup(struct net_dev *net)
{
	int hdr_len = NET_HDR_LEN, r;
	struct ifreq ifr = {};

	if (tap_ioctl_buf(net->tap, TUNGETIFF, &ifr, sizeof(ifr)))
		return -EINVAL;
	ifr.ifr_name[IFNAMSIZ - 1] = 0;
	r = tap_check_link(net, ifr.ifr_name);
	if (r)
		return r;
	if (tap_ioctl_buf(net->tap, TUNSETVNETHDRSZ, &hdr_len, sizeof(hdr_len)))
		return -EINVAL;
	net->offloads = U32_MAX;
	return set_offloads(net, 0) ? -EINVAL : 0;
}

static int net_create(struct modvm_virtio_dev *dev,
		      const struct modvm_virtio_create *args)
{
	const struct modvm_virtio_net_config *nc = &args->net;
	struct virtio_net_config *cfg = (void *)dev->config;
	struct net_dev *net;
	int i, r;

	/* Nothing beyond the MAC address. */
	if (memchr_inv(nc->pad, 0, sizeof(nc->pad)) ||
	    memchr_inv(args->config + sizeof(*nc), 0,
		       sizeof(args->config) - sizeof(*nc)) ||
	    is_multicast_ether_addr(nc->mac))
		return -EINVAL;
	net = kzalloc(sizeof(*net), GFP_KERNEL_ACCOUNT);
	if (!net)
		return -ENOMEM;
	net->dev = dev;
	net->tap = fget(args->fd);
	if (!net->tap) {
		r = -EBADF;
		goto fail;
	}
	/* tun.ko is loaded if the VMM has a tap open at all. */
	r = -EINVAL;
	net->get_socket = symbol_get(tun_get_socket);
	if (!net->get_socket)
		goto fail;
	net->sock = net->get_socket(net->tap);
	if (IS_ERR(net->sock))
		goto fail;
	r = tap_setup(net);
	if (r)
		goto fail;
	r = -ENOMEM;
	net->rx_chains = kvcalloc(NET_RX_MAX_CHAINS, sizeof(*net->rx_chains),
				  GFP_KERNEL_ACCOUNT);
	if (!net->rx_chains)
		goto fail;
	for (i = 0; i < NET_RX_MAX_CHAINS; i++)
		modvm_vchain_init(&net->rx_chains[i]);
	dev->features |= NET_FEATURES;
	if (!is_zero_ether_addr(nc->mac)) {
		dev->features |= BIT_ULL(VIRTIO_NET_F_MAC);
		ether_addr_copy(cfg->mac, nc->mac);
	}
	net->link_up = !(READ_ONCE(net->sock->sk->sk_shutdown) & RCV_SHUTDOWN);
	cfg->status = to_vio16(net->link_up ? VIRTIO_NET_S_LINK_UP : 0);
	dev->config_len = offsetofend(struct virtio_net_config, status);
	dev->priv = net;
	return 0;
fail:
	net_free(net);
	return r;
}

static void net_destroy(struct modvm_virtio_dev *dev)
{
	net_free(to_net(dev));
}

const struct modvm_virtio_ops modvm_virtio_net_ops = {
	.type = MODVM_VIRTIO_NET,
	.name = "net",
	.req_size = sizeof(struct modvm_vreq),
	.min_queues = 2,
	.max_queues = 2,
	.create = net_create,
	.attach = net_attach,
	.detach = net_detach,
	.destroy = net_destroy,
	.features_ok = net_features_ok,
	.serve = net_serve,
	.start = net_start,
	.finish = net_finish,
};
