// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel virtio-net device (virtio 1.2 §5.1) over a tap interface,
 * driven by a guest whose every register access goes through the VM's
 * in-kernel MMIO bus (lib/virtio_guest.h); the host side of the wire is
 * an AF_PACKET socket on the tap's interface, which captures what the
 * guest sends and sends what the guest receives:
 * - MODVM_CREATE_VIRTIO for net: EINVAL for every fd that is not a tap
 *   with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a multicast MAC, nonzero
 *   padding, 1 or 3 queues, read-only; EBADF; nothing left behind, the
 *   tap untouched; on success the tap's vnet header is 12 bytes;
 * - the registers, the offered features with and without a MAC, the
 *   config space (MAC, status LINK_UP), FEATURES_OK refused for
 *   features not offered and for sets breaking the spec's dependencies;
 *   the tap's offloads follow the negotiated GUEST_* features;
 * - transmit: frames in any descriptor layout (indirect too) and a TSO
 *   frame reach the host byte for byte, used length 0, counted; malformed
 *   chains (writable buffer, too short, too long, a header the tap
 *   refuses) dropped, counted and completed, the queue going on;
 * - receive: header and frame bytes, used length, one chain per packet,
 *   a packet too big for the chain dropped and the chain kept; with
 *   MRG_RXBUF a packet over four chains (num_buffers 4);
 * - packets waiting in the tap while the guest has no buffers (the tap
 *   drops beyond its txqueuelen), transmit and another VM unaffected,
 *   then delivered when the guest posts buffers;
 * - 128 frames out and 32 in within one KVM_RUN (no exit to userspace);
 * - a hostile transmit ring (DEVICE_NEEDS_RESET, then a reset);
 *   hostile receive chains (DEVICE_NEEDS_RESET once a frame comes for
 *   them; transmit and another VM unaffected; after a reset the frame
 *   arrives);
 * - the tap interface deleted under the running device: LINK_UP drops
 *   with a config interrupt, transmit drops; the device holds its own
 *   reference on the tap and lets it go when closed;
 * - the VM and device fds closed, in both orders, with frames coming
 *   into the tap; processes killed with frames flowing both ways, again
 *   and again: every tap goes, kernel memory comes back, the module
 *   unloads (no hang: the test's timeout; no splat: the runner's dmesg
 *   scan).
 *
 * Needs tun: inserted through ../modules/load (tools/hostvm --module tun)
 * when /dev/net/tun is absent; skipped when that fails.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>

#include "kselftest_harness.h"
#include "virtio_guest.h"

#define F(bit)		(1ull << (bit))
#define V1		F(VIRTIO_F_VERSION_1)
#define RING_FEATURES	(F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX))
#define NF(name)	F(VIRTIO_NET_F_##name)
#define OFFLOADS	(NF(CSUM) | NF(GUEST_CSUM) | NF(GUEST_TSO4) | NF(GUEST_TSO6) | \
			 NF(GUEST_ECN) | NF(HOST_TSO4) | NF(HOST_TSO6) | NF(HOST_ECN))
#define NET_FEATURES	(V1 | RING_FEATURES | NF(MAC) | NF(STATUS) | NF(MRG_RXBUF) | \
			 OFFLOADS)
#define TAP_FLAGS	(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
#define QSIZE		64
#define RXQ		0
#define TXQ		1
#define HDR		12	/* struct virtio_net_hdr_mrg_rxbuf */
#define MAX_FRAME	(65536 + 18)
#define ETH_P_TEST	0x88b5	/* local experimental: the host stack ignores it */
#define CFG_MAC		VIRTIO_MMIO_CONFIG
#define CFG_STATUS	(VIRTIO_MMIO_CONFIG + 6)
#define S_ACKDRV	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
#define S_FOK		(S_ACKDRV | VIRTIO_CONFIG_S_FEATURES_OK)
#define S_LIVE		(S_FOK | VIRTIO_CONFIG_S_DRIVER_OK)
#define VENDOR		0x4d564d44
#define FILL		0xcc	/* receive buffers before the device writes */
#define WAIT_MS		5000	/* for what must come (bochs is slow) */
#define QUIET_MS	100	/* for what must not */
#define R(i)		vg_result(vm, i)

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* A tap interface, the test's end of it. */
struct tap {
	int fd;
	int ifindex;
	char name[IFNAMSIZ];
};

/*
 * Whether /dev/net/tun is there, after inserting tun through the emulated
 * host's ../modules/load (tools/hostvm --module tun) when it is not.
 */
static bool have_tun(void)
{
	char exe[256], cmd[600], *slash;
	ssize_t n;

	if (!access("/dev/net/tun", R_OK | W_OK))
		return true;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = 0;
	snprintf(cmd, sizeof(cmd), "[ -x %s/../modules/load ] && %s/../modules/load tun",
		 exe, exe);
	if (system(cmd))
		return false;
	return !access("/dev/net/tun", R_OK | W_OK);
}

#define NET_REQUIRE_TUN()						\
	do {								\
		if (!have_tun())					\
			SKIP(fflush(stdout); _exit(255),		\
			     "no /dev/net/tun (hostvm --module tun)");	\
	} while (0)

/* /dev/net/tun attached to a new interface "mvnetN" with @flags: 0 or -errno. */
static int tap_open(struct tap *t, int flags)
{
	struct ifreq ifr;
	int e;

	memset(t, 0, sizeof(*t));
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t->fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "mvnet%d");
	ifr.ifr_flags = flags;
	if (ioctl(t->fd, TUNSETIFF, &ifr)) {
		e = -errno;
		close(t->fd);
		t->fd = -1;
		return e;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->ifindex = if_nametoindex(t->name);
	return t->ifindex ? 0 : -ENODEV;
}

static void tap_close(struct tap *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* An SIOC* ioctl on interface @name through an AF_INET socket: 0 or -errno. */
static int if_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -errno;
	strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
	r = ioctl(s, req, ifr) ? -errno : 0;
	close(s);
	return r;
}

/*
 * Make @t carry traffic: no IPv6 on it (the host stack would send its own
 * solicitations into the guest's buffers), txqueuelen @qlen (0: the
 * default), up. 0 or -errno.
 */
static int tap_up(struct tap *t, int qlen)
{
	char path[128];
	struct ifreq ifr;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", t->name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		r = write(fd, "1", 1);
		close(fd);
		if (r != 1)
			return -EIO;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (qlen) {
		ifr.ifr_qlen = qlen;
		r = if_ioctl(t->name, SIOCSIFTXQLEN, &ifr);
		if (r)
			return r;
	}
	memset(&ifr, 0, sizeof(ifr));
	r = if_ioctl(t->name, SIOCGIFFLAGS, &ifr);
	if (r)
		return r;
	ifr.ifr_flags |= IFF_UP;
	return if_ioctl(t->name, SIOCSIFFLAGS, &ifr);
}

/* A counter of /sys/class/net/@name/statistics; -1 when unreadable. */
static long long if_stat(const char *name, const char *counter)
{
	char path[128], buf[32];
	long long v = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", name, counter);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		v = strtoll(buf, NULL, 10);
	}
	close(fd);
	return v;
}

/* ETHTOOL_G* of a boolean offload of @name: 0, 1, or -errno. */
static int if_offload(const char *name, uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_data = (void *)&ev;
	r = if_ioctl(name, SIOCETHTOOL, &ifr);
	return r ? r : !!ev.data;
}

/* RTM_DELLINK of interface @ifindex: the kernel's answer, 0 or -errno. */
static int link_del(int ifindex)
{
	struct {
		struct nlmsghdr n;
		struct ifinfomsg i;
	} req = {
		.n = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_DELLINK,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1 },
		.i = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	struct {
		struct nlmsghdr n;
		struct nlmsgerr e;
		char more[256];
	} ack;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), r;

	if (s < 0)
		return -errno;
	if (send(s, &req, sizeof(req), 0) != sizeof(req)) {
		r = -errno;
	} else {
		ssize_t n = recv(s, &ack, sizeof(ack), 0);

		r = n >= (ssize_t)(sizeof(ack.n) + sizeof(ack.e)) &&
		    ack.n.nlmsg_type == NLMSG_ERROR ? ack.e.error : -EPROTO;
	}
	close(s);
	return r;
}

/* Whether interface @name is gone within @ms. */
static bool if_gone_within(const char *name, int ms)
{
	for (; ms >= 0; ms -= 10) {
		if (!if_nametoindex(name))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/*
 * An AF_PACKET socket bound to @ifindex: it sends frames out of the
 * interface (to the device's receive queue) and captures every frame the
 * interface receives (from the device's transmit queue). -1 on failure.
 */
static int packet_socket(int ifindex)
{
	struct sockaddr_ll a = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0), big = 4 << 20;

	if (s < 0)
		return -1;
	/* Room for every frame a test captures before reading them. */
	setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (bind(s, (struct sockaddr *)&a, sizeof(a))) {
		close(s);
		return -1;
	}
	return s;
}

/* Send the Ethernet frame @f out of the socket's interface: 0 or -errno. */
static int host_send(int s, const void *f, size_t len)
{
	ssize_t n = send(s, f, len, 0);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

/*
 * The next frame the interface received, into @buf: its full length (may
 * exceed @size), 0 when none came within @ms, -errno.
 */
static ssize_t host_recv(int s, void *buf, size_t size, int ms)
{
	struct timespec t0, t;
	struct sockaddr_ll from;
	socklen_t fl;
	ssize_t n;
	int left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 +
			     (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (poll(&p, 1, left > 0 ? left : 0) <= 0)
			return 0;
		fl = sizeof(from);
		n = recvfrom(s, buf, size, MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		/* Not what this socket's interface sent out itself. */
		if (from.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

/*
 * An Ethernet frame of @len bytes (>= 14) from @src to @dst of type
 * ETH_P_TEST, its payload vg_fill(@seed).
 */
static void eth_frame(uint8_t *f, uint32_t len, uint32_t seed,
		      const uint8_t *dst, const uint8_t *src)
{
	vg_fill(f, len, seed);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETH_P_TEST >> 8;
	f[13] = ETH_P_TEST & 0xff;
}

/* What the host sends to the guest: eth_frame() to the guest's MAC. */
static void rx_frame(uint8_t *f, uint32_t len, uint32_t seed)
{
	eth_frame(f, len, seed, guest_mac, peer_mac);
}

/*
 * A chain over @len bytes of guest memory at @gpa, cut into descriptors
 * of the @ncut sizes in @cut (the last descriptor takes the rest), each
 * with @flags (VRING_DESC_F_WRITE or 0); in an indirect table when
 * @indirect. Returns its head.
 */
static uint16_t chain(struct vg_queue *q, uint64_t gpa, uint32_t len,
		      const uint32_t *cut, int ncut, uint16_t flags, bool indirect)
{
	struct vg_buf b[8];
	uint32_t off = 0;
	int n = 0, i;

	for (i = 0; i < ncut && off + cut[i] < len; i++) {
		b[n++] = (struct vg_buf){ gpa + off, cut[i], flags };
		off += cut[i];
	}
	b[n++] = (struct vg_buf){ gpa + off, len - off, flags };
	if (indirect) {
		uint64_t table = vg_alloc(q->dev->vm, 16 * n, 16);
		struct vg_buf ind = { table, 16 * n, VRING_DESC_F_INDIRECT };

		vg_indirect_table(q->dev->vm, table, b, n);
		return vq_chain(q, vq_alloc(q, 1), &ind, 1);
	}
	return vq_chain(q, vq_alloc(q, n), b, n);
}

/*
 * A transmit packet in fresh guest memory: the header @h (zero when NULL)
 * then the frame eth_frame(@len, @seed) from the guest; a copy of the
 * frame in @f when not NULL. Returns its GPA (HDR + @len bytes).
 */
static uint64_t tx_packet(struct vg_vm *vm, const struct virtio_net_hdr_mrg_rxbuf *h,
			  uint32_t len, uint32_t seed, uint8_t *f)
{
	uint64_t gpa = vg_alloc(vm, HDR + len, 16);
	uint8_t *p = vg_ptr(vm, gpa);

	if (h)
		memcpy(p, h, HDR);
	if (len >= 14)
		eth_frame(p + HDR, len, seed, peer_mac, guest_mac);
	else
		vg_fill(p + HDR, len, seed);
	if (f)
		memcpy(f, p + HDR, len);
	return gpa;
}

/* A writable receive buffer of @len bytes of FILL in fresh guest memory. */
static uint64_t rx_buffer(struct vg_vm *vm, uint32_t len)
{
	uint64_t gpa = vg_alloc(vm, len, 16);

	memset(vg_ptr(vm, gpa), FILL, len);
	return gpa;
}

/*
 * Check that the received packet at @gpa (one chain, contiguous) holds a
 * header with nothing but num_buffers @nbuf set, then frame @f.
 */
static void expect_rx(struct __test_metadata *_metadata, struct vg_vm *vm,
		      uint64_t gpa, const uint8_t *f, uint32_t len, uint16_t nbuf)
{
	struct virtio_net_hdr_mrg_rxbuf h, zero;
	const uint8_t *p = vg_ptr(vm, gpa);

	memcpy(&h, p, HDR);
	memset(&zero, 0, sizeof(zero));
	EXPECT_EQ(0, memcmp(&h.hdr, &zero.hdr, sizeof(h.hdr)));
	EXPECT_EQ(nbuf, h.num_buffers);
	EXPECT_EQ(0, memcmp(f, p + HDR, len));
}

/* Check that the host captures frame @f next (within WAIT_MS). */
static void expect_captured(struct __test_metadata *_metadata, int s,
			    const uint8_t *f, uint32_t len)
{
	static uint8_t buf[MAX_FRAME + 64];
	ssize_t n = host_recv(s, buf, sizeof(buf), WAIT_MS);

	EXPECT_EQ((ssize_t)len, n);
	if (n == (ssize_t)len)
		EXPECT_EQ(0, memcmp(f, buf, len));
}

/* Check that the host captures nothing more (within QUIET_MS). */
static void expect_no_capture(struct __test_metadata *_metadata, int s)
{
	static uint8_t buf[MAX_FRAME + 64];

	EXPECT_EQ(0, host_recv(s, buf, sizeof(buf), QUIET_MS));
}

/* MODVM_CREATE_VIRTIO arguments of a net device number @index on @fd. */
static void net_args(struct modvm_virtio_create *c, int index, int fd,
		     const uint8_t *mac)
{
	vg_create_args(c, MODVM_VIRTIO_NET, index);
	c->fd = fd;
	if (mac)
		memcpy(c->net.mac, mac, 6);
}

/* Notify @q and wait in the guest until its used index is @idx. */
static long notify_wait(struct vg_queue *q, uint16_t idx)
{
	vq_notify_cmd(q);
	vg_spin16(q->dev->vm, q->used + 2, idx, VG_TIMEOUT);
	return vg_exec(q->dev->vm, NULL);
}

/*
 * Another VM, with a net device on a tap of its own, receives a frame
 * (seed @seed): header, frame, used length; all of it closed after.
 */
static void other_vm_receives(struct __test_metadata *_metadata, uint32_t seed)
{
	static uint8_t f[120];
	struct modvm_virtio_create c;
	struct vg_queue q[2];
	struct vg_dev d;
	struct vg_vm vm;
	struct tap t;
	uint32_t len;
	uint64_t gpa;
	uint16_t head;
	int pkt;

	vg_vm_create(&vm);
	ASSERT_EQ(0, tap_open(&t, TAP_FLAGS));
	ASSERT_EQ(0, tap_up(&t, 0));
	pkt = packet_socket(t.ifindex);
	ASSERT_LE(0, pkt);
	net_args(&c, 0, t.fd, guest_mac);
	ASSERT_EQ(0, vg_dev_create(&vm, &d, &c));
	vq_init(&q[RXQ], &d, RXQ, QSIZE);
	vq_init(&q[TXQ], &d, TXQ, QSIZE);
	ASSERT_EQ(0, vg_setup(&d, V1, q, 2));
	gpa = rx_buffer(&vm, HDR + 200);
	head = chain(&q[RXQ], gpa, HDR + 200, NULL, 0, VRING_DESC_F_WRITE, false);
	vq_post(&q[RXQ], head);
	rx_frame(f, sizeof(f), seed);
	ASSERT_EQ(0, host_send(pkt, f, sizeof(f)));
	EXPECT_EQ(GUEST_DONE, notify_wait(&q[RXQ], 1));
	EXPECT_EQ(0, vq_find_used(&q[RXQ], head, 0, 1, &len));
	EXPECT_EQ(HDR + sizeof(f), len);
	expect_rx(_metadata, &vm, gpa, f, sizeof(f), 1);
	vg_vm_destroy(&vm);
	close(pkt);
	tap_close(&t);
}

FIXTURE(net) {
	struct vg_vm vm;
	struct vg_dev dev;
	struct vg_queue q[2];	/* RXQ, TXQ */
	struct tap tap;
	int pkt;
};

FIXTURE_SETUP(net)
{
	struct modvm_virtio_create c;

	self->tap.fd = -1;
	self->pkt = -1;
	VG_REQUIRE_TYPE(MODVM_VIRTIO_NET);
	NET_REQUIRE_TUN();
	vg_vm_create(&self->vm);
	ASSERT_EQ(0, tap_open(&self->tap, TAP_FLAGS));
	ASSERT_EQ(0, tap_up(&self->tap, 0));
	self->pkt = packet_socket(self->tap.ifindex);
	ASSERT_LE(0, self->pkt);
	net_args(&c, 0, self->tap.fd, guest_mac);
	ASSERT_EQ(0, vg_dev_create(&self->vm, &self->dev, &c));
	vq_init(&self->q[RXQ], &self->dev, RXQ, QSIZE);
	vq_init(&self->q[TXQ], &self->dev, TXQ, QSIZE);
}

FIXTURE_TEARDOWN(net)
{
	vg_vm_destroy(&self->vm);
	if (self->pkt >= 0)
		close(self->pkt);
	tap_close(&self->tap);
}

static void start(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
		  uint64_t features)
{
	ASSERT_EQ(0, vg_setup(&self->dev, features, self->q, 2));
}

/*
 * Send the packet at @gpa (HDR + @len bytes) cut as @cut/@ncut, to
 * completion; check used length 0.
 */
static void tx_one(struct __test_metadata *_metadata, struct vg_queue *q,
		   uint64_t gpa, uint32_t len, const uint32_t *cut, int ncut,
		   bool indirect)
{
	uint16_t from = vq_used_idx(q);
	uint16_t head = chain(q, gpa, HDR + len, cut, ncut, 0, indirect);
	uint32_t ulen = 0xdead;

	EXPECT_EQ(GUEST_DONE, vq_run(q, &head, 1));
	EXPECT_EQ(from, vq_find_used(q, head, from, from + 1, &ulen));
	EXPECT_EQ(0u, ulen);
}

/*
 * MODVM_CREATE_VIRTIO refuses, with nothing created, every fd that is
 * not a tap with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, and bad net
 * arguments; the tap of a refused create keeps its 10-byte vnet header.
 * Then the same page takes a good device, whose tap's vnet header is 12.
 */
TEST_F_TIMEOUT(net, create_errors, 300)
{
	static const uint8_t multicast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct tap tun, novnet, pi, good;
	struct modvm_virtio_create c;
	struct vg_dev d;
	int vm = self->vm.g.vm, devnull, file, unattached, inet, closed, sz;
	uint64_t mask = 0;
	unsigned int i;
	struct {
		const char *what;
		int fd;
		const uint8_t *mac;
		int num_queues, flags, pad, config8, err;
	} cases[16];
	unsigned int n = 0;

	ASSERT_EQ(0, modvm_ioctl(vm, MODVM_GET_VIRTIO_TYPES, (unsigned long)&mask));
	EXPECT_TRUE(mask & (1ull << MODVM_VIRTIO_NET));

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, devnull);
	file = vg_backing(4096, 1, O_RDWR);
	unattached = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, unattached);
	inet = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, inet);
	ASSERT_EQ(0, tap_open(&tun, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR));
	ASSERT_EQ(0, tap_open(&novnet, IFF_TAP | IFF_NO_PI));
	ASSERT_EQ(0, tap_open(&pi, IFF_TAP | IFF_VNET_HDR));
	ASSERT_EQ(0, tap_open(&good, TAP_FLAGS));
	/* A number no open (the devices created meanwhile included) takes. */
	closed = 1000;
	ASSERT_EQ(-1, fcntl(closed, F_GETFD));

#define CASE(w, f, m, nq, fl, p, c8, e)					\
	cases[n++] = (typeof(cases[0])){ w, f, m, nq, fl, p, c8, e }
	CASE("/dev/null", devnull, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("regular file", file, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("AF_INET socket", inet, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("tun, not tap", tun.fd, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("tap without IFF_VNET_HDR", novnet.fd, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("tap without IFF_NO_PI", pi.fd, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("tun fd never attached", unattached, guest_mac, 0, 0, 0, 0, -EINVAL);
	CASE("multicast mac", good.fd, multicast, 0, 0, 0, 0, -EINVAL);
	CASE("broadcast mac", good.fd, broadcast, 0, 0, 0, 0, -EINVAL);
	CASE("pad", good.fd, guest_mac, 0, 0, 1, 0, -EINVAL);
	CASE("config beyond net", good.fd, guest_mac, 0, 0, 0, 1, -EINVAL);
	CASE("1 queue", good.fd, guest_mac, 1, 0, 0, 0, -EINVAL);
	CASE("3 queues", good.fd, guest_mac, 3, 0, 0, 0, -EINVAL);
	CASE("read-only", good.fd, guest_mac, 0, MODVM_VIRTIO_RDONLY, 0, 0, -EINVAL);
	CASE("fd -1", -1, guest_mac, 0, 0, 0, 0, -EBADF);
	CASE("closed fd", closed, guest_mac, 0, 0, 0, 0, -EBADF);
#undef CASE

	for (i = 0; i < n; i++) {
		long r;

		TH_LOG("case: %s", cases[i].what);
		net_args(&c, 1, cases[i].fd, cases[i].mac);
		c.num_queues = cases[i].num_queues;
		c.flags = cases[i].flags;
		c.net.pad[1] = cases[i].pad;
		c.config[8] = cases[i].config8;
		r = modvm_ioctl(vm, MODVM_CREATE_VIRTIO, (unsigned long)&c);
		EXPECT_EQ(cases[i].err, r);
		if (r >= 0)
			close(r);	/* the page stays free for the next */
	}
	/* The tap refused for its arguments is as it was. */
	ASSERT_EQ(0, ioctl(good.fd, TUNGETVNETHDRSZ, &sz));
	EXPECT_EQ(10, sz);

	/* Nothing was created: the page and pin take a good device. */
	net_args(&c, 1, good.fd, NULL);
	c.num_queues = 2;
	ASSERT_EQ(0, vg_dev_create(&self->vm, &d, &c));
	ASSERT_EQ(0, ioctl(good.fd, TUNGETVNETHDRSZ, &sz));
	EXPECT_EQ(HDR, sz);
	ASSERT_EQ(0, ioctl(self->tap.fd, TUNGETVNETHDRSZ, &sz));
	EXPECT_EQ(HDR, sz);

	close(devnull);
	close(file);
	close(unattached);
	close(inet);
	tap_close(&tun);
	tap_close(&novnet);
	tap_close(&pi);
	tap_close(&good);
}

/*
 * The registers of a fresh device with a MAC: identity, features by
 * selector, two queues, config space (the MAC in bytes, status LINK_UP
 * as a 16-bit read); a device without a MAC (num_queues 2, queues of 64)
 * offers no VIRTIO_NET_F_MAC.
 */
TEST_F_TIMEOUT(net, registers, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev, d2;
	struct modvm_virtio_create c;
	struct tap t2;
	int magic, ver, id, vendor, f[3], qmax[3], st, isr, mac[6], status;
	int gen[2], f2[2], qmax2[3], status2;
	int i;

	magic = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_MAGIC_VALUE));
	ver = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_VERSION));
	id = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_ID));
	vendor = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_VENDOR_ID));
	gen[0] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	for (i = 0; i < 3; i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL), i);
		f[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES));
	}
	for (i = 0; i < 3; i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_SEL), i);
		qmax[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_NUM_MAX));
	}
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	isr = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	for (i = 0; i < 6; i++)
		mac[i] = vg_cmd(vm, VG_OP_READ, 1, vg_reg(d, CFG_MAC + i), 0, 0);
	status = vg_cmd(vm, VG_OP_READ, 2, vg_reg(d, CFG_STATUS), 0, 0);
	gen[1] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));

	EXPECT_EQ(0x74726976u, R(magic));
	EXPECT_EQ(2u, R(ver));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_NET, R(id));
	EXPECT_EQ((uint64_t)VENDOR, R(vendor));
	EXPECT_EQ((uint32_t)NET_FEATURES, R(f[0]));
	EXPECT_EQ(NET_FEATURES >> 32, R(f[1]));
	EXPECT_EQ(0u, R(f[2]));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_DEFAULT_QUEUE_SIZE, R(qmax[0]));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_DEFAULT_QUEUE_SIZE, R(qmax[1]));
	EXPECT_EQ(0u, R(qmax[2]));
	EXPECT_EQ(0u, R(st));
	EXPECT_EQ(0u, R(isr));
	for (i = 0; i < 6; i++)
		EXPECT_EQ(guest_mac[i], R(mac[i]));
	EXPECT_EQ((uint64_t)VIRTIO_NET_S_LINK_UP, R(status));
	EXPECT_EQ(R(gen[0]), R(gen[1]));

	ASSERT_EQ(0, tap_open(&t2, TAP_FLAGS));
	net_args(&c, 1, t2.fd, NULL);
	c.num_queues = 2;
	c.queue_size = 64;
	ASSERT_EQ(0, vg_dev_create(vm, &d2, &c));
	for (i = 0; i < 2; i++) {
		vg_w32(vm, vg_reg(&d2, VIRTIO_MMIO_DEVICE_FEATURES_SEL), i);
		f2[i] = vg_r32(vm, vg_reg(&d2, VIRTIO_MMIO_DEVICE_FEATURES));
	}
	for (i = 0; i < 3; i++) {
		vg_w32(vm, vg_reg(&d2, VIRTIO_MMIO_QUEUE_SEL), i);
		qmax2[i] = vg_r32(vm, vg_reg(&d2, VIRTIO_MMIO_QUEUE_NUM_MAX));
	}
	status2 = vg_cmd(vm, VG_OP_READ, 2, vg_reg(&d2, CFG_STATUS), 0, 0);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint32_t)(NET_FEATURES & ~NF(MAC)), R(f2[0]));
	EXPECT_EQ(NET_FEATURES >> 32, R(f2[1]));
	EXPECT_EQ(64u, R(qmax2[0]));
	EXPECT_EQ(64u, R(qmax2[1]));
	EXPECT_EQ(0u, R(qmax2[2]));
	EXPECT_EQ((uint64_t)VIRTIO_NET_S_LINK_UP, R(status2));
	tap_close(&t2);
}

/*
 * FEATURES_OK sticks for subsets of the offered features with VERSION_1
 * that keep the dependencies of §5.1.3.1, and for no other set.
 */
TEST_F_TIMEOUT(net, feature_negotiation, 300)
{
	static const struct {
		uint64_t features;
		bool ok;
	} cases[] = {
		{ V1, true },
		{ NET_FEATURES, true },
		{ V1 | NF(MAC) | NF(STATUS) | NF(MRG_RXBUF), true },
		{ V1 | NF(GUEST_CSUM) | NF(GUEST_TSO4), true },
		{ V1 | NF(GUEST_CSUM) | NF(GUEST_TSO6) | NF(GUEST_ECN), true },
		{ V1 | NF(CSUM) | NF(HOST_TSO6), true },
		{ V1 | NF(CSUM) | NF(HOST_TSO4) | NF(HOST_ECN), true },
		{ NET_FEATURES & ~V1, false },
		{ 0, false },
		{ V1 | NF(GUEST_TSO4), false },
		{ V1 | NF(GUEST_TSO6), false },
		{ V1 | NF(GUEST_CSUM) | NF(GUEST_ECN), false },
		{ V1 | NF(GUEST_ECN), false },
		{ V1 | NF(HOST_TSO4), false },
		{ V1 | NF(HOST_TSO6) | NF(GUEST_CSUM), false },
		{ V1 | NF(CSUM) | NF(HOST_ECN), false },
		{ V1 | NF(CSUM) | NF(HOST_ECN) | NF(GUEST_TSO4) | NF(GUEST_CSUM), false },
		{ V1 | NF(CTRL_GUEST_OFFLOADS), false },
		{ V1 | NF(MTU), false },
		{ V1 | NF(GUEST_UFO), false },
		{ V1 | NF(HOST_UFO), false },
		{ V1 | NF(CTRL_VQ), false },
		{ V1 | NF(MQ), false },
		{ V1 | NF(SPEED_DUPLEX), false },
		{ V1 | F(VIRTIO_F_RING_PACKED), false },
		{ V1 | F(VIRTIO_F_ACCESS_PLATFORM), false },
	};
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_create c;
	struct tap t2;
	struct vg_dev d2;
	int st[sizeof(cases) / sizeof(cases[0])], st2[2];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		st[i] = vg_negotiate_cmds(&self->dev, cases[i].features);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TH_LOG("features %#llx", (unsigned long long)cases[i].features);
		EXPECT_EQ((uint64_t)(cases[i].ok ? S_FOK : S_ACKDRV), R(st[i]));
	}

	/* Without a MAC, VIRTIO_NET_F_MAC is not offered. */
	ASSERT_EQ(0, tap_open(&t2, TAP_FLAGS));
	net_args(&c, 1, t2.fd, NULL);
	ASSERT_EQ(0, vg_dev_create(vm, &d2, &c));
	st2[0] = vg_negotiate_cmds(&d2, V1 | NF(MAC));
	st2[1] = vg_negotiate_cmds(&d2, NET_FEATURES & ~NF(MAC));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)S_ACKDRV, R(st2[0]));
	EXPECT_EQ((uint64_t)S_FOK, R(st2[1]));
	tap_close(&t2);
}

/*
 * The tap's offloads (what the host may hand the guest) follow the
 * GUEST_* features negotiated: checksum with GUEST_CSUM, TSO with
 * GUEST_TSO4; none with VERSION_1 alone.
 */
TEST_F_TIMEOUT(net, tap_offloads, 300)
{
	start(_metadata, self, V1 | NF(GUEST_CSUM) | NF(GUEST_TSO4) | NF(GUEST_TSO6));
	EXPECT_EQ(1, if_offload(self->tap.name, ETHTOOL_GTXCSUM));
	EXPECT_EQ(1, if_offload(self->tap.name, ETHTOOL_GTSO));
	start(_metadata, self, V1 | NF(GUEST_CSUM));
	EXPECT_EQ(1, if_offload(self->tap.name, ETHTOOL_GTXCSUM));
	EXPECT_EQ(0, if_offload(self->tap.name, ETHTOOL_GTSO));
	start(_metadata, self, V1);
	EXPECT_EQ(0, if_offload(self->tap.name, ETHTOOL_GTXCSUM));
	EXPECT_EQ(0, if_offload(self->tap.name, ETHTOOL_GTSO));
}

/*
 * Frames the guest sends reach the host byte for byte, whatever the
 * layout: header and frame in one descriptor, header apart, the frame cut
 * in uneven pieces (the Ethernet header too), an indirect table; the
 * smallest (14 bytes) and largest (65554) frames; a TSO frame with its
 * GSO header (HOST_TSO4). Used length 0; the stats count frames and
 * their bytes.
 */
TEST_F_TIMEOUT(net, transmit, 300)
{
	static const uint32_t one[] = { 0 }, apart[] = { HDR };
	static const uint32_t uneven[] = { 5, 7 + 3, 100, 1 };
	static const uint32_t lens[] = { 60, 1514, 1000, 777, 14, MAX_FRAME };
	static uint8_t f[MAX_FRAME];
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q[TXQ];
	struct virtio_net_hdr_mrg_rxbuf gso;
	struct modvm_virtio_stats s;
	uint64_t bytes = 0, gpa;
	uint8_t *p;
	int i;

	start(_metadata, self, V1 | RING_FEATURES | NF(CSUM) | NF(HOST_TSO4));
	for (i = 0; i < 6; i++) {
		TH_LOG("frame %d, %u bytes", i, lens[i]);
		gpa = tx_packet(vm, NULL, lens[i], 10 + i, f);
		switch (i) {
		case 0:
			tx_one(_metadata, q, gpa, lens[i], one, 0, false);
			break;
		case 1:
			tx_one(_metadata, q, gpa, lens[i], apart, 1, false);
			break;
		case 2:
			tx_one(_metadata, q, gpa, lens[i], uneven, 4, false);
			break;
		case 3:
			tx_one(_metadata, q, gpa, lens[i], uneven, 4, true);
			break;
		default:
			tx_one(_metadata, q, gpa, lens[i], apart, 1, false);
			break;
		}
		expect_captured(_metadata, self->pkt, f, lens[i]);
		bytes += lens[i];
	}

	/* TSO: IPv4/TCP, 3000 bytes, segments of 1448, checksum partial. */
	memset(&gso, 0, sizeof(gso));
	gso.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	gso.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	gso.hdr.hdr_len = 14 + 20 + 20;
	gso.hdr.gso_size = 1448;
	gso.hdr.csum_start = 14 + 20;
	gso.hdr.csum_offset = 16;
	gpa = tx_packet(vm, &gso, 3000, 20, NULL);
	p = vg_ptr(vm, gpa + HDR);
	p[12] = 0x08;				/* ETH_P_IP */
	p[13] = 0x00;
	memset(p + 14, 0, 40);
	p[14] = 0x45;				/* IPv4, 20 bytes */
	p[16] = (3000 - 14) >> 8;
	p[17] = (3000 - 14) & 0xff;
	p[22] = 64;				/* TTL */
	p[23] = 6;				/* TCP */
	memcpy(p + 26, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
	p[14 + 20 + 12] = 5 << 4;		/* TCP, 20 bytes */
	p[14 + 20 + 13] = 0x10;			/* ACK */
	memcpy(f, p, 3000);
	tx_one(_metadata, q, gpa, 3000, apart, 1, false);
	expect_captured(_metadata, self->pkt, f, 3000);
	bytes += 3000;
	expect_no_capture(_metadata, self->pkt);

	vg_stats(&self->dev, &s);
	EXPECT_EQ(7u, s.tx_packets);
	EXPECT_EQ(bytes, s.tx_bytes);
	EXPECT_EQ(0u, s.tx_dropped);
	EXPECT_EQ(0u, s.rx_packets);
	EXPECT_EQ(7u, s.requests);
	EXPECT_EQ(0u, s.broken_queues);
	EXPECT_EQ((uint32_t)S_LIVE, s.status);
}

/*
 * Malformed transmit chains, posted with a good frame after them: each
 * completed with used length 0 and counted in tx_dropped, nothing of
 * them reaches the host, the good frame does, the queue goes on.
 */
TEST_F_TIMEOUT(net, transmit_malformed, 300)
{
	enum { WRITABLE, ALL_WRITABLE, SHORT, HEADER_ONLY, TOO_LONG, GSO_BAD_TYPE,
	       GSO_SIZE_ZERO, NBAD };
	static const uint32_t apart[] = { HDR };
	static uint8_t f[MAX_FRAME + 1];
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q[TXQ];
	struct virtio_net_hdr_mrg_rxbuf h;
	struct modvm_virtio_stats s;
	struct vg_buf b[2];
	uint16_t heads[NBAD + 1];
	uint32_t len;
	uint64_t gpa;
	int i;

	start(_metadata, self, V1 | NF(CSUM) | NF(HOST_TSO4));
	for (i = 0; i < NBAD; i++) {
		memset(&h, 0, sizeof(h));
		switch (i) {
		case WRITABLE:
			gpa = tx_packet(vm, NULL, 100, i, NULL);
			b[0] = (struct vg_buf){ gpa, HDR + 100, 0 };
			b[1] = (struct vg_buf){ vg_alloc(vm, 64, 16), 64, VRING_DESC_F_WRITE };
			heads[i] = vq_chain(q, vq_alloc(q, 2), b, 2);
			break;
		case ALL_WRITABLE:
			gpa = tx_packet(vm, NULL, 100, i, NULL);
			heads[i] = chain(q, gpa, HDR + 100, apart, 1, VRING_DESC_F_WRITE, false);
			break;
		case SHORT:		/* 13 bytes of frame */
			gpa = tx_packet(vm, NULL, 13, i, NULL);
			heads[i] = chain(q, gpa, HDR + 13, apart, 1, 0, false);
			break;
		case HEADER_ONLY:
			gpa = tx_packet(vm, NULL, 0, i, NULL);
			heads[i] = chain(q, gpa, HDR, NULL, 0, 0, false);
			break;
		case TOO_LONG:
			gpa = tx_packet(vm, NULL, MAX_FRAME + 1, i, NULL);
			heads[i] = chain(q, gpa, HDR + MAX_FRAME + 1, apart, 1, 0, false);
			break;
		case GSO_BAD_TYPE:
			h.hdr.gso_type = 7;
			h.hdr.gso_size = 100;
			gpa = tx_packet(vm, &h, 300, i, NULL);
			heads[i] = chain(q, gpa, HDR + 300, apart, 1, 0, false);
			break;
		case GSO_SIZE_ZERO:
			h.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
			gpa = tx_packet(vm, &h, 300, i, NULL);
			heads[i] = chain(q, gpa, HDR + 300, apart, 1, 0, false);
			break;
		}
	}
	gpa = tx_packet(vm, NULL, 200, 99, f);
	heads[NBAD] = chain(q, gpa, HDR + 200, apart, 1, 0, false);
	EXPECT_EQ(GUEST_DONE, vq_run(q, heads, NBAD + 1));
	for (i = 0; i <= NBAD; i++) {
		TH_LOG("case %d", i);
		len = 0xdead;
		EXPECT_LE(0, vq_find_used(q, heads[i], 0, NBAD + 1, &len));
		EXPECT_EQ(0u, len);
	}
	expect_captured(_metadata, self->pkt, f, 200);
	expect_no_capture(_metadata, self->pkt);
	vg_stats(&self->dev, &s);
	EXPECT_EQ((uint64_t)NBAD, s.tx_dropped);
	EXPECT_EQ(1u, s.tx_packets);
	EXPECT_EQ(200u, s.tx_bytes);
	EXPECT_EQ(0u, s.broken_queues);
	EXPECT_EQ((uint32_t)S_LIVE, s.status);

	/* The queue goes on. */
	gpa = tx_packet(vm, NULL, 64, 100, f);
	tx_one(_metadata, q, gpa, 64, apart, 1, false);
	expect_captured(_metadata, self->pkt, f, 64);
	vg_stats(&self->dev, &s);
	EXPECT_EQ(2u, s.tx_packets);
	EXPECT_EQ((uint64_t)NBAD, s.tx_dropped);
}

/*
 * Frames the host sends land in the guest's buffers, one chain each
 * (no MRG_RXBUF): a zero header with num_buffers 1, the frame, used
 * length 12 + frame, whatever the chain's layout (one buffer, header
 * apart, uneven pieces, indirect). Frames sent before the buffers were
 * posted wait in the tap for them.
 */
TEST_F_TIMEOUT(net, receive, 300)
{
	static const uint32_t one[] = { 0 }, apart[] = { HDR };
	static const uint32_t uneven[] = { 4, 8 + 50, 1 };
	static const uint32_t lens[] = { 60, 1514, 1000, 333, 14 };
	static uint8_t f[5][1514];
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q[RXQ];
	struct modvm_virtio_stats s;
	uint64_t gpa[5], bytes = 0;
	uint16_t heads[5];
	uint32_t len;
	int i;

	start(_metadata, self, V1 | RING_FEATURES);
	/* Two frames before any buffer: they wait. */
	for (i = 0; i < 2; i++) {
		rx_frame(f[i], lens[i], 30 + i);
		ASSERT_EQ(0, host_send(self->pkt, f[i], lens[i]));
	}
	for (i = 0; i < 5; i++) {
		gpa[i] = rx_buffer(vm, HDR + 1514);
		heads[i] = chain(q, gpa[i], HDR + 1514,
				 i == 0 || i == 4 ? one : i == 1 ? apart : uneven,
				 i == 0 || i == 4 ? 0 : i == 1 ? 1 : 3,
				 VRING_DESC_F_WRITE, i == 3);
		vq_post(q, heads[i]);
	}
	ASSERT_EQ(GUEST_DONE, notify_wait(q, 2));
	/* Three more, the buffers already there. */
	for (i = 2; i < 5; i++) {
		rx_frame(f[i], lens[i], 30 + i);
		ASSERT_EQ(0, host_send(self->pkt, f[i], lens[i]));
	}
	vg_spin16(vm, q->used + 2, 5, VG_TIMEOUT);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	for (i = 0; i < 5; i++) {
		TH_LOG("frame %d", i);
		EXPECT_EQ(i, vq_find_used(q, heads[i], 0, 5, &len));
		EXPECT_EQ(HDR + lens[i], len);
		expect_rx(_metadata, vm, gpa[i], f[i], lens[i], 1);
		/* Nothing written beyond. */
		if (lens[i] < 1514)
			EXPECT_EQ(FILL, *(uint8_t *)vg_ptr(vm, gpa[i] + HDR + lens[i]));
		bytes += lens[i];
	}
	vg_stats(&self->dev, &s);
	EXPECT_EQ(5u, s.rx_packets);
	EXPECT_EQ(bytes, s.rx_bytes);
	EXPECT_EQ(0u, s.rx_dropped);
	EXPECT_EQ(0u, s.tx_packets);
	EXPECT_EQ(0u, s.broken_queues);
}

/*
 * Without MRG_RXBUF a frame larger than the chain is dropped (rx_dropped)
 * and the chain kept: the next frame, which fits, takes it.
 */
TEST_F_TIMEOUT(net, receive_too_big_for_chain, 300)
{
	static uint8_t big[1000], small[100];
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q[RXQ];
	struct modvm_virtio_stats s;
	uint16_t head;
	uint32_t len;
	uint64_t gpa;

	start(_metadata, self, V1);
	gpa = rx_buffer(vm, 256);
	head = chain(q, gpa, 256, NULL, 0, VRING_DESC_F_WRITE, false);
	vq_post(q, head);
	rx_frame(big, sizeof(big), 40);
	rx_frame(small, sizeof(small), 41);
	ASSERT_EQ(0, host_send(self->pkt, big, sizeof(big)));
	ASSERT_EQ(0, host_send(self->pkt, small, sizeof(small)));
	ASSERT_EQ(GUEST_DONE, notify_wait(q, 1));
	EXPECT_EQ(0, vq_find_used(q, head, 0, 1, &len));
	EXPECT_EQ(HDR + sizeof(small), len);
	expect_rx(_metadata, vm, gpa, small, sizeof(small), 1);
	vg_stats(&self->dev, &s);
	EXPECT_EQ(1u, s.rx_dropped);
	EXPECT_EQ(1u, s.rx_packets);
	EXPECT_EQ(sizeof(small), s.rx_bytes);
	EXPECT_EQ(0u, s.broken_queues);
}

/*
 * MRG_RXBUF: a 1000-byte frame over 256-byte chains takes four, used
 * lengths 256, 256, 256, 244, num_buffers 4 in the first header only, the
 * bytes in order across them; then a small frame takes one chain
 * (num_buffers 1).
 */
TEST_F_TIMEOUT(net, receive_mergeable, 300)
{
	static uint8_t big[1000], small[100];
	static const uint32_t want[4] = { 256, 256, 256, 244 };
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q[RXQ];
	struct virtio_net_hdr_mrg_rxbuf h, zero;
	struct modvm_virtio_stats s;
	uint8_t got[HDR + 1000];
	uint64_t gpa[8];
	uint16_t heads[8];
	uint32_t len, off = 0;
	int i;

	start(_metadata, self, V1 | NF(MRG_RXBUF));
	for (i = 0; i < 8; i++) {
		gpa[i] = rx_buffer(vm, 256);
		heads[i] = chain(q, gpa[i], 256, NULL, 0, VRING_DESC_F_WRITE, false);
		vq_post(q, heads[i]);
	}
	rx_frame(big, sizeof(big), 50);
	rx_frame(small, sizeof(small), 51);
	ASSERT_EQ(0, host_send(self->pkt, big, sizeof(big)));
	ASSERT_EQ(GUEST_DONE, notify_wait(q, 4));
	for (i = 0; i < 4; i++) {
		TH_LOG("chain %d", i);
		EXPECT_EQ(i, vq_find_used(q, heads[i], 0, 4, &len));
		EXPECT_EQ(want[i], len);
		memcpy(got + off, vg_ptr(vm, gpa[i]), want[i]);
		off += want[i];
	}
	memcpy(&h, got, HDR);
	memset(&zero, 0, sizeof(zero));
	EXPECT_EQ(0, memcmp(&h.hdr, &zero.hdr, sizeof(h.hdr)));
	EXPECT_EQ(4, h.num_buffers);
	EXPECT_EQ(0, memcmp(big, got + HDR, sizeof(big)));
	EXPECT_EQ(FILL, *(uint8_t *)vg_ptr(vm, gpa[3] + 244));

	ASSERT_EQ(0, host_send(self->pkt, small, sizeof(small)));
	vg_spin16(vm, q->used + 2, 5, VG_TIMEOUT);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(4, vq_find_used(q, heads[4], 4, 5, &len));
	EXPECT_EQ(HDR + sizeof(small), len);
	expect_rx(_metadata, vm, gpa[4], small, sizeof(small), 1);
	vg_stats(&self->dev, &s);
	EXPECT_EQ(2u, s.rx_packets);
	EXPECT_EQ(sizeof(big) + sizeof(small), s.rx_bytes);
	EXPECT_EQ(0u, s.rx_dropped);
}

/*
 * No receive buffers: frames wait in the tap, whose queue (txqueuelen 8)
 * drops the four beyond it (the tap's tx_dropped); nothing blocks:
 * transmit works, and another VM's net device receives. Once the guest
 * posts buffers and notifies, the eight waiting frames arrive in order
 * and no more.
 */
TEST_F_TIMEOUT(net, receive_waits_in_tap, 300)
{
	static const uint32_t apart[] = { HDR };
	static uint8_t f[12][200], tf[100];
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q[RXQ];
	struct modvm_virtio_stats s;
	long long dropped0, dropped = -1;
	uint64_t gpa[12];
	uint16_t heads[12];
	uint32_t len;
	int i, ms;

	ASSERT_EQ(0, tap_up(&self->tap, 8));
	start(_metadata, self, V1);
	dropped0 = if_stat(self->tap.name, "tx_dropped");
	ASSERT_LE(0, dropped0);
	for (i = 0; i < 12; i++) {
		rx_frame(f[i], 100 + i, 60 + i);
		host_send(self->pkt, f[i], 100 + i);	/* the last may be refused */
	}
	for (ms = 0; ms < WAIT_MS; ms += 10) {
		dropped = if_stat(self->tap.name, "tx_dropped");
		if (dropped >= dropped0 + 4)
			break;
		usleep(10 * 1000);
	}
	EXPECT_EQ(dropped0 + 4, dropped);
	vg_stats(&self->dev, &s);
	EXPECT_EQ(0u, s.rx_packets);
	EXPECT_EQ(0u, s.rx_dropped);

	/* Transmit goes on. */
	tx_one(_metadata, &self->q[TXQ], tx_packet(vm, NULL, 100, 70, tf), 100,
	       apart, 1, false);
	expect_captured(_metadata, self->pkt, tf, 100);

	/* Another VM's device receives. */
	other_vm_receives(_metadata, 71);

	/* Buffers: the eight that waited come, in order, and no more. */
	for (i = 0; i < 12; i++) {
		gpa[i] = rx_buffer(vm, HDR + 200);
		heads[i] = chain(q, gpa[i], HDR + 200, NULL, 0, VRING_DESC_F_WRITE, false);
		vq_post(q, heads[i]);
	}
	ASSERT_EQ(GUEST_DONE, notify_wait(q, 8));
	vg_wait_ticks(vm, 10);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(8, vq_used_idx(q));
	for (i = 0; i < 8; i++) {
		TH_LOG("frame %d", i);
		EXPECT_EQ(i, vq_find_used(q, heads[i], 0, 8, &len));
		EXPECT_EQ(HDR + 100u + i, len);
		expect_rx(_metadata, vm, gpa[i], f[i], 100 + i, 1);
	}
	vg_stats(&self->dev, &s);
	EXPECT_EQ(8u, s.rx_packets);
	EXPECT_EQ(8 * 100u + 28, s.rx_bytes);
	EXPECT_EQ(0u, s.rx_dropped);
	EXPECT_EQ(1u, s.tx_packets);
}

#define ZX_K		8	/* frames per transmit round */
#define ZX_ROUNDS	16
#define ZX_RX		32

struct sender {
	int s;
	uint8_t (*f)[600];
	int n;
	int err;
};

/* Send the frames a little after the guest started. */
static void *send_frames(void *arg)
{
	struct sender *sd = arg;
	int i;

	usleep(20 * 1000);
	for (i = 0; i < sd->n; i++) {
		int r = host_send(sd->s, sd->f[i], 60 + 16 * i);

		if (r && !sd->err)
			sd->err = r;
	}
	return NULL;
}

/*
 * One KVM_RUN, no exit to userspace: the guest sends 128 frames (8 per
 * notify, 16 rounds, from an in-guest loop) while the host sends it 32,
 * which it receives. The host captured the 128 in order; the guest's
 * buffers hold the 32; the stats agree.
 */
TEST_F_TIMEOUT(net, zero_exit_traffic, 300)
{
	static const uint32_t apart[] = { HDR };
	static uint8_t tf[ZX_K][600], rf[ZX_RX][600], got[700];
	struct vg_vm *vm = &self->vm;
	struct vg_queue *tq = &self->q[TXQ], *rq = &self->q[RXQ];
	struct vg_batch *b = vg_ptr(vm, VG_BATCH);
	struct sender sd = { .s = self->pkt, .f = rf, .n = ZX_RX };
	struct modvm_virtio_stats s;
	uint64_t rgpa[ZX_RX], bytes = 0;
	uint16_t rheads[ZX_RX];
	pthread_t th;
	uint32_t len;
	ssize_t n;
	int i, k;

	start(_metadata, self, V1 | F(VIRTIO_RING_F_EVENT_IDX));
	memset(b, 0, sizeof(*b));
	for (i = 0; i < ZX_K; i++) {
		uint64_t gpa = tx_packet(vm, NULL, 60 + 64 * i, 80 + i, tf[i]);

		b->heads[i] = chain(tq, gpa, HDR + 60 + 64 * i, apart, 1, 0, false);
		bytes += 60 + 64 * i;
	}
	b->avail = tq->avail;
	b->used_idx = tq->used + 2;
	b->notify = vg_reg(&self->dev, VIRTIO_MMIO_QUEUE_NOTIFY);
	b->used_event = tq->avail + 4 + 2 * QSIZE;
	b->queue = TXQ;
	b->mask = QSIZE - 1;
	b->k = ZX_K;
	b->rounds = ZX_ROUNDS;
	b->ticks = VG_TIMEOUT;
	for (i = 0; i < ZX_RX; i++) {
		rx_frame(rf[i], 60 + 16 * i, 90 + i);
		rgpa[i] = rx_buffer(vm, HDR + 600);
		rheads[i] = chain(rq, rgpa[i], HDR + 600, NULL, 0, VRING_DESC_F_WRITE, false);
		vq_post(rq, rheads[i]);
	}
	*vq_used_event(rq) = ZX_RX - 1;
	vq_notify_cmd(rq);
	vg_cmd(vm, VG_OP_BATCH, 0, VG_BATCH, 0, 0);
	vg_spin16(vm, rq->used + 2, ZX_RX, VG_TIMEOUT);
	ASSERT_EQ(0, pthread_create(&th, NULL, send_frames, &sd));
	EXPECT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	pthread_join(th, NULL);
	EXPECT_EQ(0, sd.err);

	EXPECT_EQ((uint32_t)ZX_ROUNDS, b->done);
	EXPECT_EQ(ZX_K * ZX_ROUNDS, vq_used_idx(tq));
	for (k = 0; k < ZX_ROUNDS; k++) {
		for (i = 0; i < ZX_K; i++) {
			n = host_recv(self->pkt, got, sizeof(got), WAIT_MS);
			if (n != 60 + 64 * i || memcmp(got, tf[i], n)) {
				TH_LOG("round %d frame %d: %zd bytes", k, i, n);
				EXPECT_EQ(60 + 64 * i, n);
				EXPECT_EQ(0, memcmp(got, tf[i], 60 + 64 * i));
				break;
			}
		}
	}
	expect_no_capture(_metadata, self->pkt);
	EXPECT_EQ(ZX_RX, vq_used_idx(rq));
	for (i = 0; i < ZX_RX; i++) {
		EXPECT_EQ(i, vq_find_used(rq, rheads[i], 0, ZX_RX, &len));
		EXPECT_EQ(HDR + 60u + 16 * i, len);
		expect_rx(_metadata, vm, rgpa[i], rf[i], 60 + 16 * i, 1);
	}
	vg_stats(&self->dev, &s);
	EXPECT_EQ((uint64_t)ZX_K * ZX_ROUNDS, s.tx_packets);
	EXPECT_EQ(bytes * ZX_ROUNDS, s.tx_bytes);
	EXPECT_EQ((uint64_t)ZX_RX, s.rx_packets);
	EXPECT_EQ(ZX_RX * 60u + 16 * (ZX_RX - 1) * ZX_RX / 2, s.rx_bytes);
	EXPECT_EQ(0u, s.tx_dropped);
	EXPECT_EQ(0u, s.rx_dropped);
	EXPECT_EQ((uint64_t)ZX_ROUNDS + 1, s.notifies);
}

/*
 * A transmit head beyond the queue: DEVICE_NEEDS_RESET, a config
 * interrupt, the transmit queue broken (stats bit 1), nothing sent; a
 * reset brings the device back.
 */
TEST_F_TIMEOUT(net, transmit_ring_hostile, 300)
{
	static const uint32_t apart[] = { HDR };
	static uint8_t f[80];
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct modvm_virtio_stats s;
	struct vg_queue q2[2];
	int st, st2;

	start(_metadata, self, V1);
	vq_post(&self->q[TXQ], QSIZE + 3);
	vq_notify_cmd(&self->q[TXQ]);
	vg_wait_irqs(d, 1, VG_TIMEOUT);
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)(S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET), R(st));
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_CONFIG, vg_state(d)->isr_or);
	vg_stats(d, &s);
	EXPECT_EQ(1u << TXQ, s.broken_queues);
	EXPECT_EQ(0u, s.tx_packets);
	EXPECT_EQ(0u, s.tx_dropped);
	expect_no_capture(_metadata, self->pkt);

	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), 0);
	st2 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0u, R(st2));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.broken_queues);
	vq_init(&q2[RXQ], d, RXQ, QSIZE);
	vq_init(&q2[TXQ], d, TXQ, QSIZE);
	ASSERT_EQ(0, vg_setup(d, V1, q2, 2));
	tx_one(_metadata, &q2[TXQ], tx_packet(vm, NULL, sizeof(f), 110, f),
	       sizeof(f), apart, 1, false);
	expect_captured(_metadata, self->pkt, f, sizeof(f));
}

/*
 * Receive chains that break the ring rules: a readable buffer (before a
 * writable one with room for any frame), a writable chain of 11 bytes
 * (less than the header), a head beyond the queue. The device takes
 * receive buffers only for a frame: posted and notified, they change
 * nothing; the frame that comes finds the bad chain: DEVICE_NEEDS_RESET,
 * ConfigGeneration + 1, a config interrupt and no other, the receive
 * queue broken (stats bit 0), nothing received or dropped. Only that
 * queue stops: transmit reaches the host, and (the first time) another
 * VM's device receives. A reset clears it; after a new setup the frame,
 * which the device never took from the tap, arrives, then a new one.
 */
TEST_F_TIMEOUT(net, receive_ring_hostile, 300)
{
	enum { READABLE, SHORT, HEAD_BEYOND, NCASES };
	static const char *const what[NCASES] = {
		"readable buffer", "11 writable bytes", "head beyond the queue",
	};
	static const uint32_t apart[] = { HDR };
	static uint8_t f[NCASES][150], f2[NCASES][160], tf[NCASES][90];
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q[RXQ];
	struct modvm_virtio_stats s;
	uint64_t rx_packets = 0, rx_bytes = 0, gpa[2];
	uint16_t head, heads[2];
	struct vg_buf b[2];
	int i, k, st, gen0, gen;
	uint32_t len;

	for (i = 0; i < NCASES; i++) {
		TH_LOG("case: %s", what[i]);
		/* A driver from scratch: reset, new rings. */
		memset(&vg_state(d)->irqs, 0, 4 * sizeof(uint64_t));
		vq_init(&self->q[RXQ], d, RXQ, QSIZE);
		vq_init(&self->q[TXQ], d, TXQ, QSIZE);
		start(_metadata, self, V1);
		switch (i) {
		case READABLE:
			b[0] = (struct vg_buf){ vg_alloc(vm, 64, 16), 64, 0 };
			b[1] = (struct vg_buf){ rx_buffer(vm, HDR + 1514), HDR + 1514,
						VRING_DESC_F_WRITE };
			head = vq_chain(q, vq_alloc(q, 2), b, 2);
			break;
		case SHORT:
			head = chain(q, rx_buffer(vm, HDR - 1), HDR - 1, NULL, 0,
				     VRING_DESC_F_WRITE, false);
			break;
		default:
			head = QSIZE + 3;
			break;
		}
		vq_post(q, head);
		vq_notify_cmd(q);
		vg_wait_ticks(vm, 10);
		st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
		gen0 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
		ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
		EXPECT_EQ((uint64_t)S_LIVE, R(st));
		/* Only what the last case left pending, found after the reset. */
		EXPECT_EQ(vg_state(d)->spurious, vg_state(d)->irqs);
		vg_stats(d, &s);
		EXPECT_EQ(0u, s.broken_queues);
		gen0 = R(gen0);
		vg_state(d)->irqs = 0;
		vg_state(d)->isr_or = 0;
		vg_state(d)->spurious = 0;

		/* A frame: the device takes the chain and finds it bad. */
		rx_frame(f[i], sizeof(f[i]), 140 + i);
		ASSERT_EQ(0, host_send(self->pkt, f[i], sizeof(f[i])));
		vg_wait_irqs(d, 1, VG_TIMEOUT);
		vg_wait_ticks(vm, 2);
		st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
		gen = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
		ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
		EXPECT_EQ((uint64_t)(S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET), R(st));
		EXPECT_EQ(gen0 + 1u, R(gen));
		EXPECT_EQ(1u, vg_state(d)->irqs);
		EXPECT_EQ(0u, vg_state(d)->spurious);
		EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_CONFIG, vg_state(d)->isr_or);
		EXPECT_EQ(0, vq_used_idx(q));
		vg_stats(d, &s);
		EXPECT_EQ(1u << RXQ, s.broken_queues);
		EXPECT_EQ(rx_packets, s.rx_packets);
		EXPECT_EQ(0u, s.rx_dropped);
		EXPECT_EQ((uint32_t)(S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET), s.status);

		/* Transmit goes on; so does another VM's device. */
		tx_one(_metadata, &self->q[TXQ],
		       tx_packet(vm, NULL, sizeof(tf[i]), 150 + i, tf[i]),
		       sizeof(tf[i]), apart, 1, false);
		expect_captured(_metadata, self->pkt, tf[i], sizeof(tf[i]));
		vg_stats(d, &s);
		EXPECT_EQ(i + 1u, s.tx_packets);
		EXPECT_EQ(0u, s.tx_dropped);
		EXPECT_EQ(1u << RXQ, s.broken_queues);
		EXPECT_EQ(0, vq_used_idx(q));
		if (i == READABLE)
			other_vm_receives(_metadata, 143);

		/* A reset; a new setup receives the frame, then another. */
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), 0);
		st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
		ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
		EXPECT_EQ(0u, R(st));
		vg_stats(d, &s);
		EXPECT_EQ(0u, s.broken_queues);
		vq_init(&self->q[RXQ], d, RXQ, QSIZE);
		vq_init(&self->q[TXQ], d, TXQ, QSIZE);
		start(_metadata, self, V1);
		for (k = 0; k < 2; k++) {
			gpa[k] = rx_buffer(vm, HDR + 200);
			heads[k] = chain(q, gpa[k], HDR + 200, NULL, 0,
					 VRING_DESC_F_WRITE, false);
			vq_post(q, heads[k]);
		}
		ASSERT_EQ(GUEST_DONE, notify_wait(q, 1));
		EXPECT_EQ(0, vq_find_used(q, heads[0], 0, 1, &len));
		EXPECT_EQ(HDR + sizeof(f[i]), len);
		expect_rx(_metadata, vm, gpa[0], f[i], sizeof(f[i]), 1);
		rx_frame(f2[i], sizeof(f2[i]), 145 + i);
		ASSERT_EQ(0, host_send(self->pkt, f2[i], sizeof(f2[i])));
		vg_spin16(vm, q->used + 2, 2, VG_TIMEOUT);
		ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
		EXPECT_EQ(1, vq_find_used(q, heads[1], 1, 2, &len));
		EXPECT_EQ(HDR + sizeof(f2[i]), len);
		expect_rx(_metadata, vm, gpa[1], f2[i], sizeof(f2[i]), 1);
		rx_packets += 2;
		rx_bytes += sizeof(f[i]) + sizeof(f2[i]);
		vg_stats(d, &s);
		EXPECT_EQ(rx_packets, s.rx_packets);
		EXPECT_EQ(rx_bytes, s.rx_bytes);
		EXPECT_EQ(0u, s.rx_dropped);
		EXPECT_EQ(0u, s.broken_queues);
		EXPECT_EQ((uint32_t)S_LIVE, s.status);
	}
}

/*
 * The tap's interface deleted (RTM_DELLINK) under the running device:
 * status loses LINK_UP, ConfigGeneration changes, InterruptStatus gets
 * the config bit with the line up; transmit completes and drops
 * (tx_dropped), receive buffers stay unused, the device is not broken;
 * a driver binding again (with offloads) finds the link down. Closing all
 * of it afterwards leaves no splat (the runner's dmesg check).
 */
TEST_F_TIMEOUT(net, tap_deleted, 300)
{
	static const uint32_t apart[] = { HDR };
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct modvm_virtio_stats s;
	struct vg_queue q2[2];
	int gen0, gen, status, isr, st, ms;

	start(_metadata, self, V1 | NF(STATUS));
	gen0 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	status = vg_cmd(vm, VG_OP_READ, 2, vg_reg(d, CFG_STATUS), 0, 0);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	gen0 = R(gen0);
	EXPECT_EQ((uint64_t)VIRTIO_NET_S_LINK_UP, R(status));
	EXPECT_FALSE(vg_line_up(vm, d->gsi));

	ASSERT_EQ(0, link_del(self->tap.ifindex));
	EXPECT_TRUE(if_gone_within(self->tap.name, WAIT_MS));
	for (ms = 0; ms < WAIT_MS && !vg_line_up(vm, d->gsi); ms++)
		usleep(1000);
	EXPECT_TRUE(vg_line_up(vm, d->gsi));

	vg_wait_irqs(d, 1, VG_TIMEOUT);
	status = vg_cmd(vm, VG_OP_READ, 2, vg_reg(d, CFG_STATUS), 0, 0);
	gen = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	isr = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0u, R(status));
	EXPECT_NE((uint64_t)gen0, R(gen));
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_CONFIG, vg_state(d)->isr_or);
	EXPECT_EQ(0u, R(isr));		/* the handler acked it */
	EXPECT_EQ((uint64_t)S_LIVE, R(st));
	EXPECT_FALSE(vg_line_up(vm, d->gsi));

	tx_one(_metadata, &self->q[TXQ], tx_packet(vm, NULL, 100, 120, NULL), 100,
	       apart, 1, false);
	/* Receive buffers stay unused; nothing breaks. */
	vq_post(&self->q[RXQ], chain(&self->q[RXQ], rx_buffer(vm, HDR + 1514),
				     HDR + 1514, NULL, 0, VRING_DESC_F_WRITE, false));
	vq_notify_cmd(&self->q[RXQ]);
	vg_wait_ticks(vm, 10);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0, vq_used_idx(&self->q[RXQ]));
	vg_stats(d, &s);
	EXPECT_EQ(1u, s.tx_dropped);
	EXPECT_EQ(0u, s.tx_packets);
	EXPECT_EQ(0u, s.rx_packets);
	EXPECT_EQ(0u, s.broken_queues);
	EXPECT_EQ((uint32_t)S_LIVE, s.status);

	/* A driver that binds again (offloads too) finds the link down. */
	vq_init(&q2[RXQ], d, RXQ, QSIZE);
	vq_init(&q2[TXQ], d, TXQ, QSIZE);
	ASSERT_EQ(0, vg_setup(d, V1 | NF(STATUS) | NF(GUEST_CSUM) | NF(GUEST_TSO4), q2, 2));
	status = vg_cmd(vm, VG_OP_READ, 2, vg_reg(d, CFG_STATUS), 0, 0);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0u, R(status));
	tx_one(_metadata, &q2[TXQ], tx_packet(vm, NULL, 100, 121, NULL), 100,
	       apart, 1, false);
	vg_stats(d, &s);
	EXPECT_EQ(2u, s.tx_dropped);
	EXPECT_EQ(0u, s.broken_queues);
}

/*
 * The device holds its own reference on the tap: with the test's fd
 * closed the interface stays and carries frames both ways; closing the
 * device lets it go (a non-persistent tap's interface then disappears).
 */
TEST_F_TIMEOUT(net, device_holds_tap, 300)
{
	static const uint32_t apart[] = { HDR };
	static uint8_t f[90], rf[110];
	struct vg_vm *vm = &self->vm;
	uint16_t head;
	uint32_t len;
	uint64_t gpa;

	tap_close(&self->tap);
	usleep(50 * 1000);
	EXPECT_EQ((unsigned int)self->tap.ifindex, if_nametoindex(self->tap.name));
	start(_metadata, self, V1);
	tx_one(_metadata, &self->q[TXQ], tx_packet(vm, NULL, sizeof(f), 130, f),
	       sizeof(f), apart, 1, false);
	expect_captured(_metadata, self->pkt, f, sizeof(f));
	gpa = rx_buffer(vm, HDR + 200);
	head = chain(&self->q[RXQ], gpa, HDR + 200, NULL, 0, VRING_DESC_F_WRITE, false);
	vq_post(&self->q[RXQ], head);
	rx_frame(rf, sizeof(rf), 131);
	ASSERT_EQ(0, host_send(self->pkt, rf, sizeof(rf)));
	ASSERT_EQ(GUEST_DONE, notify_wait(&self->q[RXQ], 1));
	EXPECT_EQ(0, vq_find_used(&self->q[RXQ], head, 0, 1, &len));
	EXPECT_EQ(HDR + sizeof(rf), len);
	expect_rx(_metadata, vm, gpa, rf, sizeof(rf), 1);

	close(vm->devfd[self->dev.index]);
	vm->devfd[self->dev.index] = -1;
	EXPECT_TRUE(if_gone_within(self->tap.name, WAIT_MS));
}

/* For the tests that make their own VMs, and may unload the module. */
FIXTURE(net_life) {
	int unused;
};

FIXTURE_SETUP(net_life)
{
	VG_REQUIRE_TYPE(MODVM_VIRTIO_NET);
	NET_REQUIRE_TUN();
}

FIXTURE_TEARDOWN(net_life)
{
}

/* An AF_PACKET socket that sends out of @ifindex and captures nothing. */
static int send_socket(int ifindex)
{
	struct sockaddr_ll a = {
		.sll_family = AF_PACKET,
		.sll_ifindex = ifindex,
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	if (bind(s, (struct sockaddr *)&a, sizeof(a))) {
		close(s);
		return -1;
	}
	return s;
}

/*
 * The host side of traffic into a guest: a thread that sends frames into
 * the tap in bursts until @stop and gives every receive buffer the device
 * used back to the avail ring of @q, with no notify (a frame coming makes
 * the device look at the ring). Once @recycled reached READY_RX (and,
 * with @batch, the guest's transmit loop did two rounds), it writes
 * @name to @ready_fd if that is not -1.
 */
#define BURST		8
#define READY_RX	16

struct traffic {
	int s;
	struct vg_queue *q;
	struct vg_batch *batch;
	int ready_fd;
	char name[IFNAMSIZ];
	bool stop;
	uint64_t sent, recycled;
};

static void *traffic_fn(void *arg)
{
	struct traffic *t = arg;
	bool ready = false;
	uint16_t next = 0, used;
	uint8_t f[200];
	int i;

	rx_frame(f, sizeof(f), 160);
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < BURST; i++)
			if (!host_send(t->s, f, sizeof(f)))
				__atomic_add_fetch(&t->sent, 1, __ATOMIC_RELAXED);
		for (used = vq_used_idx(t->q); next != used; next++) {
			vq_post(t->q, vq_used(t->q, next).id);
			__atomic_add_fetch(&t->recycled, 1, __ATOMIC_RELEASE);
		}
		if (!ready && t->ready_fd >= 0 && t->recycled >= READY_RX &&
		    (!t->batch ||
		     __atomic_load_n(&t->batch->done, __ATOMIC_ACQUIRE) >= 2)) {
			ready = write(t->ready_fd, t->name, IFNAMSIZ) == IFNAMSIZ;
		}
		usleep(1000);
	}
	return NULL;
}

/*
 * A VM with a net device on a new tap that only the device holds, both
 * queues set up, QSIZE receive buffers of a full frame posted and
 * notified; @t ready to run traffic_fn() on it. 0 or -1.
 */
static int traffic_vm(struct vg_vm *vm, struct vg_dev *d, struct vg_queue *q,
		      struct traffic *t)
{
	struct modvm_virtio_create c;
	struct tap tap;
	int i;

	vg_vm_create(vm);
	memset(t, 0, sizeof(*t));
	t->ready_fd = -1;
	if (tap_open(&tap, TAP_FLAGS) || tap_up(&tap, 0))
		return -1;
	memcpy(t->name, tap.name, IFNAMSIZ);
	t->s = send_socket(tap.ifindex);
	net_args(&c, 0, tap.fd, guest_mac);
	if (t->s < 0 || vg_dev_create(vm, d, &c))
		return -1;
	tap_close(&tap);
	vq_init(&q[RXQ], d, RXQ, QSIZE);
	vq_init(&q[TXQ], d, TXQ, QSIZE);
	if (vg_setup(d, V1, q, 2))
		return -1;
	for (i = 0; i < QSIZE; i++)
		vq_post(&q[RXQ], chain(&q[RXQ], rx_buffer(vm, HDR + 1514), HDR + 1514,
				       NULL, 0, VRING_DESC_F_WRITE, false));
	vq_notify_cmd(&q[RXQ]);
	if (vg_exec(vm, NULL) != GUEST_DONE)
		return -1;
	t->q = &q[RXQ];
	return 0;
}

/* Milliseconds on CLOCK_MONOTONIC. */
static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* Wait at most @ms for @t to have recycled @n buffers. */
static bool recycled_within(struct traffic *t, uint64_t n, int ms)
{
	for (; ms >= 0; ms -= 1) {
		if (__atomic_load_n(&t->recycled, __ATOMIC_ACQUIRE) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * vg_exec() in a VM whose device @d was closed: its page exits to
 * userspace now, as KVM_EXIT_MMIO, which is answered as a VMM with
 * nothing there might: reads ANSWER, writes ignored. Such exits come
 * from the list and from the interrupt handler (the device may have
 * raised its line before it went). Their number in *@exits.
 */
#define ANSWER		0x12345678u

static long exec_without_device(struct vg_vm *vm, const struct vg_dev *d,
				int *exits)
{
	struct kvm_run *run = vm->v->run;
	uint32_t answer = ANSWER;
	long r = vg_exec(vm, NULL);

	for (*exits = 0; r == GUEST_NOT_A_CALL && *exits < 64; ++*exits) {
		if (run->exit_reason != KVM_EXIT_MMIO ||
		    run->mmio.phys_addr - d->base >= 4096 || run->mmio.len != 4)
			return r;
		if (!run->mmio.is_write)
			memcpy(run->mmio.data, &answer, 4);
		r = vg_resume(vm, NULL);
	}
	return r;
}

/*
 * A live process closes the VM (its vCPU, VM and /dev/modvm fds) and the
 * net device's fd, in both orders, while a host thread keeps sending
 * into the tap and recycling the receive buffers the device fills. The
 * VM first: the device, which holds the VM, keeps receiving. Each close
 * returns at once (within WAIT_MS, though it is milliseconds), and the
 * tap, of which the device held the last reference, is gone once the
 * device's fd is closed. The device first: the VM runs on, its page
 * exiting to userspace.
 */
TEST_F_TIMEOUT(net_life, destroy_vm_with_traffic, 300)
{
	struct vg_queue q[2];
	struct traffic t;
	struct vg_dev d;
	struct vg_vm vm;
	pthread_t th;
	long long t0, ms;
	int vm_first, i, magic, exits;
	uint64_t n;

	for (vm_first = 1; vm_first >= 0; vm_first--) {
		TH_LOG("%s fd first", vm_first ? "the VM's" : "the device's");
		ASSERT_EQ(0, traffic_vm(&vm, &d, q, &t));
		ASSERT_EQ(0, pthread_create(&th, NULL, traffic_fn, &t));
		EXPECT_TRUE(recycled_within(&t, READY_RX, WAIT_MS));
		if (vm_first) {
			t0 = now_ms();
			for (i = 0; i < vm.g.nr_vcpus; i++) {
				munmap(vm.g.vcpus[i].run, vm.g.run_size);
				EXPECT_EQ(0, close(vm.g.vcpus[i].fd));
			}
			EXPECT_EQ(0, close(vm.g.vm));
			EXPECT_EQ(0, close(vm.g.dev));
			ms = now_ms() - t0;
			TH_LOG("closing the VM took %lld ms", ms);
			EXPECT_GT(WAIT_MS, ms);
			/* The device lives on: the tap is there, frames arrive. */
			n = __atomic_load_n(&t.recycled, __ATOMIC_ACQUIRE);
			EXPECT_TRUE(recycled_within(&t, n + READY_RX, WAIT_MS));
			EXPECT_NE(0u, if_nametoindex(t.name));
		}
		t0 = now_ms();
		EXPECT_EQ(0, close(d.fd));
		ms = now_ms() - t0;
		TH_LOG("closing the device took %lld ms", ms);
		EXPECT_GT(WAIT_MS, ms);
		vm.devfd[d.index] = -1;
		EXPECT_TRUE(if_gone_within(t.name, WAIT_MS));
		if (!vm_first) {
			vg_wait_ticks(&vm, 2);
			magic = vg_r32(&vm, vg_reg(&d, VIRTIO_MMIO_MAGIC_VALUE));
			EXPECT_EQ(GUEST_DONE, exec_without_device(&vm, &d, &exits));
			EXPECT_EQ(ANSWER, vg_result(&vm, magic));
			EXPECT_LE(1, exits);
		}
		__atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		close(t.s);
		TH_LOG("%llu frames sent, %llu received",
		       (unsigned long long)t.sent, (unsigned long long)t.recycled);
		if (vm_first)
			munmap(vm.g.mem, vm.g.mem_size);
		else
			vg_vm_destroy(&vm);
	}
}

/* read() of @len bytes that waits at most @ms: what it read, or -1. */
static ssize_t read_within(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return read(fd, buf, len);
}

/*
 * The child of unload_with_traffic: a VM with a net device on its own
 * tap (the device holding it alone), guest memory all touched, frames
 * both ways: traffic_fn() sends and recycles receive buffers, the guest
 * transmits in a loop (VG_OP_BATCH, 8 frames a round, without end).
 * traffic_fn() writes the tap's name to @ready_fd once both flow.
 */
static void __attribute__((noreturn)) traffic_child(int ready_fd)
{
	static const uint32_t apart[] = { HDR };
	struct vg_queue q[2];
	struct vg_batch *b;
	struct traffic t;
	struct vg_dev d;
	struct vg_vm vm;
	pthread_t th;
	int i;

	if (traffic_vm(&vm, &d, q, &t))
		_exit(1);
	b = vg_ptr(&vm, VG_BATCH);
	memset(b, 0, sizeof(*b));
	for (i = 0; i < 8; i++)
		b->heads[i] = chain(&q[TXQ], tx_packet(&vm, NULL, 60 + 64 * i, 170 + i, NULL),
				    HDR + 60 + 64 * i, apart, 1, 0, false);
	b->avail = q[TXQ].avail;
	b->used_idx = q[TXQ].used + 2;
	b->notify = vg_reg(&d, VIRTIO_MMIO_QUEUE_NOTIFY);
	b->used_event = q[TXQ].avail + 4 + 2 * QSIZE;
	b->queue = TXQ;
	b->mask = QSIZE - 1;
	b->k = 8;
	b->rounds = UINT32_MAX;
	b->ticks = VG_TIMEOUT;
	/* What a leaked device would pin: all of guest memory. */
	memset(vg_ptr(&vm, vm.heap), 0x5a, vm.g.mem_size - vm.heap);
	t.batch = b;
	t.ready_fd = ready_fd;
	if (pthread_create(&th, NULL, traffic_fn, &t))
		_exit(1);
	vg_cmd(&vm, VG_OP_BATCH, 0, VG_BATCH, 0, 0);
	vg_exec(&vm, NULL);
	_exit(2);
}

/*
 * Processes killed (SIGKILL) with frames flowing both ways through their
 * net device, again and again: each tap interface goes with its process
 * (its device held the last reference), kernel memory comes back as in
 * virtio_dev_test's unload_after_kills_with_io_in_flight (Slab within
 * 256 KiB; MemFree, noisy, only for what a leaked device pins: the VMM's
 * address space, all of guest memory), and the module unloads (nothing
 * holds it) and loads again, with the tdp it had.
 */
#define KILLS		10
#define KILLED_GUEST_KB	((long)KILLS * GUEST_MEM_SIZE / 1024)

TEST_F_TIMEOUT(net_life, unload_with_traffic, 600)
{
	long slab0, slab1 = 0, free0, free1 = 0;
	char name[IFNAMSIZ];
	int ready[2], status, i;
	ssize_t n;
	pid_t pid;

	if (!modvm_is_modvm())
		SKIP(return, "only for modvm's own module");
	slab0 = modvm_meminfo_kb("Slab");
	free0 = modvm_meminfo_kb("MemFree");
	for (i = 0; i < KILLS; i++) {
		ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(ready[0]);
			traffic_child(ready[1]);
		}
		close(ready[1]);
		n = read_within(ready[0], name, IFNAMSIZ, 60000);
		close(ready[0]);
		/* At different points of the traffic. */
		usleep(i % 4 * 3000);
		kill(pid, SIGKILL);
		status = modvm_wait_child(pid, 60000);
		if (n != IFNAMSIZ)
			TH_LOG("kill %d: the child was not ready", i);
		ASSERT_EQ(IFNAMSIZ, n);
		ASSERT_NE(-1, status);
		EXPECT_TRUE(WIFSIGNALED(status));
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
		EXPECT_TRUE(if_gone_within(name, WAIT_MS));
	}
	for (i = 0; i < 50; i++) {
		slab1 = modvm_meminfo_kb("Slab");
		free1 = modvm_meminfo_kb("MemFree");
		if (slab1 - slab0 < 256 && free1 - free0 > -KILLED_GUEST_KB / 2)
			break;
		usleep(100 * 1000);
	}
	TH_LOG("after %d kills: Slab %+ld KiB, MemFree %+ld KiB", KILLS,
	       slab1 - slab0, free1 - free0);
	EXPECT_LT(slab1 - slab0, 256);
	EXPECT_GT(free1 - free0, -KILLED_GUEST_KB / 2);

	ASSERT_EQ(0, modvm_reload_module());
}

TEST_HARNESS_MAIN
