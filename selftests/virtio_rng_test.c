// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel virtio entropy device (virtio 1.2 §5.4) driven by a guest
 * (lib/virtio_guest.h): its registers and features, buffers filled with
 * random bytes (used length the bytes given, data not constant, two reads
 * different), chained and indirect buffers, many requests in flight with
 * EVENT_IDX, a malformed ring (NEEDS_RESET, then a reset), and two
 * devices sharing one interrupt line.
 */
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "virtio_guest.h"

#define F(bit)		(1ull << (bit))
#define V1		F(VIRTIO_F_VERSION_1)
#define RING_FEATURES	(F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX))
#define QSIZE		16
#define S_FOK		(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_FEATURES_OK)
#define S_LIVE		(S_FOK | VIRTIO_CONFIG_S_DRIVER_OK)
#define FILLER		0x5a
#define R(i)		vg_result(vm, i)

FIXTURE(rng) {
	struct vg_vm vm;
	struct vg_dev dev;
	struct vg_queue q;
};

FIXTURE_SETUP(rng)
{
	struct modvm_virtio_create c;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_RNG);
	vg_vm_create(&self->vm);
	vg_create_args(&c, MODVM_VIRTIO_RNG, 0);
	ASSERT_EQ(0, vg_dev_create(&self->vm, &self->dev, &c));
	vq_init(&self->q, &self->dev, 0, QSIZE);
}

FIXTURE_TEARDOWN(rng)
{
	vg_vm_destroy(&self->vm);
}

/* Whether @len bytes at @p are not all the same. */
static bool varied(const uint8_t *p, uint32_t len)
{
	uint32_t i;

	for (i = 1; i < len; i++)
		if (p[i] != p[0])
			return true;
	return false;
}

/* A writable buffer of @len bytes of FILLER in fresh guest memory. */
static uint64_t buffer(struct vg_vm *vm, uint32_t len)
{
	uint64_t gpa = vg_alloc(vm, len, 16);

	memset(vg_ptr(vm, gpa), FILLER, len);
	return gpa;
}

/* Run the chain @b of @n buffers; its used length. */
static uint32_t fill(struct __test_metadata *_metadata, struct vg_queue *q,
		     const struct vg_buf *b, int n)
{
	uint16_t from = vq_used_idx(q), head = vq_chain(q, vq_alloc(q, n), b, n);
	uint32_t len = 0;

	EXPECT_EQ(GUEST_DONE, vq_run(q, &head, 1));
	EXPECT_EQ(from, vq_find_used(q, head, from, from + 1, &len));
	return len;
}

TEST_F_TIMEOUT(rng, registers_and_features, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	int magic, ver, id, vendor, f[3], qmax[2], status, ok[4], i;
	static const uint64_t feats[4] = {
		V1, V1 | RING_FEATURES, V1 | F(5), RING_FEATURES,
	};

	magic = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_MAGIC_VALUE));
	ver = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_VERSION));
	id = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_ID));
	vendor = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_VENDOR_ID));
	for (i = 0; i < 3; i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL), i);
		f[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES));
	}
	for (i = 0; i < 2; i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_SEL), i);
		qmax[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_NUM_MAX));
	}
	status = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	for (i = 0; i < 4; i++)
		ok[i] = vg_negotiate_cmds(d, feats[i]);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0x74726976u, R(magic));
	EXPECT_EQ(2u, R(ver));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_RNG, R(id));
	EXPECT_EQ(0x4d564d44u, R(vendor));
	EXPECT_EQ((uint32_t)RING_FEATURES, R(f[0]));
	EXPECT_EQ(1u, R(f[1]));
	EXPECT_EQ(0u, R(f[2]));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_DEFAULT_QUEUE_SIZE, R(qmax[0]));
	EXPECT_EQ(0u, R(qmax[1]));
	EXPECT_EQ(0u, R(status));
	EXPECT_EQ((uint64_t)S_FOK, R(ok[0]));
	EXPECT_EQ((uint64_t)S_FOK, R(ok[1]));
	EXPECT_EQ((uint64_t)S_FOK & ~VIRTIO_CONFIG_S_FEATURES_OK, R(ok[2]));
	EXPECT_EQ((uint64_t)S_FOK & ~VIRTIO_CONFIG_S_FEATURES_OK, R(ok[3]));
}

/* Two 64-byte buffers: filled, each varied, different from each other. */
TEST_F_TIMEOUT(rng, entropy, 300)
{
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_stats s;
	struct vg_buf b[2];
	uint8_t *p[2];
	uint32_t len[2];
	int i;

	ASSERT_EQ(0, vg_setup(&self->dev, V1, &self->q, 1));
	for (i = 0; i < 2; i++) {
		b[i] = (struct vg_buf){ buffer(vm, 64), 64, VRING_DESC_F_WRITE };
		p[i] = vg_ptr(vm, b[i].addr);
		len[i] = fill(_metadata, &self->q, &b[i], 1);
		EXPECT_EQ(64u, len[i]);
		EXPECT_TRUE(varied(p[i], 64));
	}
	EXPECT_NE(0, memcmp(p[0], p[1], 64));
	vg_stats(&self->dev, &s);
	EXPECT_EQ(2u, s.requests);
	EXPECT_EQ(128u, s.read_bytes);
	EXPECT_EQ(2u, s.notifies);
	EXPECT_EQ(0u, s.inflight);
	EXPECT_EQ(0u, s.broken_queues);
}

/*
 * A chain of three writable buffers of uneven sizes, an indirect table
 * of two, and 12 requests in flight with EVENT_IDX (one interrupt).
 */
TEST_F_TIMEOUT(rng, chains_indirect_and_many, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q;
	struct modvm_virtio_stats s;
	struct vg_buf b[3], ind;
	uint64_t irqs, interrupts, table;
	uint16_t heads[12];
	uint32_t len;
	int i, j;

	ASSERT_EQ(0, vg_setup(&self->dev, V1 | RING_FEATURES, q, 1));
	b[0] = (struct vg_buf){ buffer(vm, 16), 16, VRING_DESC_F_WRITE };
	b[1] = (struct vg_buf){ buffer(vm, 4000), 4000, VRING_DESC_F_WRITE };
	b[2] = (struct vg_buf){ buffer(vm, 80), 80, VRING_DESC_F_WRITE };
	EXPECT_EQ(4096u, fill(_metadata, q, b, 3));
	for (i = 0; i < 3; i++)
		EXPECT_TRUE(varied(vg_ptr(vm, b[i].addr), b[i].len));

	b[0] = (struct vg_buf){ buffer(vm, 64), 64, VRING_DESC_F_WRITE };
	b[1] = (struct vg_buf){ buffer(vm, 64), 64, VRING_DESC_F_WRITE };
	table = vg_alloc(vm, 32, 16);
	vg_indirect_table(vm, table, b, 2);
	ind = (struct vg_buf){ table, 32, VRING_DESC_F_INDIRECT };
	EXPECT_EQ(128u, fill(_metadata, q, &ind, 1));
	EXPECT_TRUE(varied(vg_ptr(vm, b[0].addr), 64));
	EXPECT_TRUE(varied(vg_ptr(vm, b[1].addr), 64));

	irqs = vg_state(&self->dev)->irqs;
	vg_stats(&self->dev, &s);
	interrupts = s.interrupts;
	*vq_used_event(q) = vq_used_idx(q) + 11;
	for (i = 0; i < 12; i++) {
		b[0] = (struct vg_buf){ buffer(vm, 256), 256, VRING_DESC_F_WRITE };
		heads[i] = vq_chain(q, vq_alloc(q, 1), b, 1);
	}
	EXPECT_EQ(GUEST_DONE, vq_run(q, heads, 12));
	for (i = 0; i < 12; i++) {
		const uint8_t *pi = vg_ptr(vm, q->d[heads[i]].addr);

		EXPECT_LE(0, vq_find_used(q, heads[i], 2, 14, &len));
		EXPECT_EQ(256u, len);
		EXPECT_TRUE(varied(pi, 256));
		for (j = 0; j < i; j++)
			EXPECT_NE(0, memcmp(pi, vg_ptr(vm, q->d[heads[j]].addr), 256));
	}
	vg_stats(&self->dev, &s);
	EXPECT_EQ(14u, s.requests);
	EXPECT_EQ(4096u + 128 + 12 * 256, s.read_bytes);
	EXPECT_GE((uint64_t)12, s.max_inflight);
	/* One interrupt for the twelve (the guest may not have taken it yet). */
	EXPECT_EQ(interrupts + 1, s.interrupts);
	EXPECT_GE(irqs + 1, vg_state(&self->dev)->irqs);
}

/*
 * A head beyond the queue: NEEDS_RESET and a config interrupt; a reset
 * brings the device back.
 */
TEST_F_TIMEOUT(rng, bad_head_then_reset, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct modvm_virtio_stats s;
	struct vg_queue q2;
	struct vg_buf b;
	int st, st2;

	ASSERT_EQ(0, vg_setup(d, V1, &self->q, 1));
	vq_post(&self->q, QSIZE + 3);
	vq_notify_cmd(&self->q);
	vg_wait_irqs(d, 1, VG_TIMEOUT);
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), 0);
	st2 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)(S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET), R(st));
	EXPECT_EQ(0u, R(st2));
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_CONFIG, vg_state(d)->isr_or);
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.broken_queues);
	EXPECT_EQ(0u, s.requests);

	vq_init(&q2, d, 0, QSIZE);
	ASSERT_EQ(0, vg_setup(d, V1, &q2, 1));
	b = (struct vg_buf){ buffer(vm, 32), 32, VRING_DESC_F_WRITE };
	EXPECT_EQ(32u, fill(_metadata, &q2, &b, 1));
	EXPECT_TRUE(varied(vg_ptr(vm, b.addr), 32));
}

/*
 * Two devices on one GSI: the line is up while either has InterruptStatus
 * bits set, and goes down only when both are acknowledged.
 */
TEST_F_TIMEOUT(rng, shared_line, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d0 = &self->dev, d1;
	struct modvm_virtio_create c;
	struct vg_queue *q0 = &self->q, q1;
	struct vg_buf b0 = { .len = 32, .flags = VRING_DESC_F_WRITE };
	struct vg_buf b1 = b0;
	int isr0, isr1;

	vg_create_args(&c, MODVM_VIRTIO_RNG, 1);
	c.gsi = d0->gsi;
	ASSERT_EQ(0, vg_dev_create(vm, &d1, &c));
	vq_init(&q1, &d1, 0, QSIZE);
	ASSERT_EQ(0, vg_setup(d0, V1, q0, 1));
	ASSERT_EQ(0, vg_setup(&d1, V1, &q1, 1));
	b0.addr = buffer(vm, b0.len);
	b1.addr = buffer(vm, b1.len);
	EXPECT_FALSE(vg_line_up(vm, d0->gsi));

	/* Device 0 completes: the line goes up. */
	vq_post(q0, vq_chain(q0, vq_alloc(q0, 1), &b0, 1));
	vq_notify_cmd(q0);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	ASSERT_TRUE(vq_host_wait(q0, 1, 10000));
	/* The interrupt follows the used index by a moment. */
	for (isr0 = 0; isr0 < 1000 && !vg_line_up(vm, d0->gsi); isr0++)
		usleep(1000);
	EXPECT_TRUE(vg_line_up(vm, d0->gsi));

	/* Device 1 too; acknowledging device 0 leaves it up. */
	vq_post(&q1, vq_chain(&q1, vq_alloc(&q1, 1), &b1, 1));
	vq_notify_cmd(&q1);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	ASSERT_TRUE(vq_host_wait(&q1, 1, 10000));
	for (isr1 = 0; isr1 < 1000; isr1++) {
		struct modvm_virtio_stats s;

		vg_stats(&d1, &s);
		if (s.interrupts)
			break;
		usleep(1000);
	}
	isr0 = vg_r32(vm, vg_reg(d0, VIRTIO_MMIO_INTERRUPT_STATUS));
	vg_w32(vm, vg_reg(d0, VIRTIO_MMIO_INTERRUPT_ACK), VIRTIO_MMIO_INT_VRING);
	isr1 = vg_r32(vm, vg_reg(&d1, VIRTIO_MMIO_INTERRUPT_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_VRING, R(isr0));
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_VRING, R(isr1));
	EXPECT_TRUE(vg_line_up(vm, d0->gsi));

	/* Both acknowledged: down. */
	vg_w32(vm, vg_reg(&d1, VIRTIO_MMIO_INTERRUPT_ACK), VIRTIO_MMIO_INT_VRING);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_FALSE(vg_line_up(vm, d0->gsi));
	EXPECT_TRUE(varied(vg_ptr(vm, b0.addr), b0.len));
	EXPECT_TRUE(varied(vg_ptr(vm, b1.addr), b1.len));
}

TEST_HARNESS_MAIN
