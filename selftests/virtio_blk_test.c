// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel virtio-blk device (virtio 1.2: §4.2 virtio-mmio version 2,
 * §2.7 split virtqueues, §5.2 block device) over a tmpfs file, driven by a
 * guest whose every register access goes through the VM's in-kernel MMIO
 * bus (lib/virtio_guest.h):
 * - the registers and config space (every width; writes to read-only ones
 *   change nothing), the offered features of
 *   each kind of device (read-only, multiqueue, block size), FEATURES_OK
 *   for good and bad driver features, driver features frozen after it;
 * - queue setup refused for bad sizes and alignments, ignored while ready;
 * - write then read with the data checked against the backing file, in
 *   several descriptor layouts; 64 requests in flight with indirect
 *   descriptors and EVENT_IDX; flush, GET_ID, discard (a hole), write
 *   zeroes, unknown types, out-of-range and unaligned requests, a
 *   read-only device; multiqueue;
 * - the level-triggered line and InterruptACK, NO_INTERRUPT, used_event and
 *   avail_event; notifies before DRIVER_OK; reset with requests in flight;
 * - hundreds of requests in one KVM_RUN from an in-guest loop;
 * - O_DIRECT over a block device, where the host has one (/dev/ram0, or
 *   $MODVM_TEST_BLKDEV).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "virtio_guest.h"

#define F(bit)		(1ull << (bit))
#define V1		F(VIRTIO_F_VERSION_1)
#define RING_FEATURES	(F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX))
#define BLK_FEATURES	(V1 | RING_FEATURES | F(VIRTIO_BLK_F_SIZE_MAX) |	\
			 F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) |	\
			 F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_DISCARD) |	\
			 F(VIRTIO_BLK_F_WRITE_ZEROES))
#define FILE_SIZE	(1 << 20)
#define SECTORS		(FILE_SIZE / 512)
#define SEED		7
#define QSIZE		64
#define SERIAL		"modvm-blk-serial-007"	/* all 20 bytes */
#define CFG(field)	(VIRTIO_MMIO_CONFIG + offsetof(struct virtio_blk_config, field))
#define S_ACKDRV	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
#define S_FOK		(S_ACKDRV | VIRTIO_CONFIG_S_FEATURES_OK)
#define S_LIVE		(S_FOK | VIRTIO_CONFIG_S_DRIVER_OK)
#define VENDOR		0x4d564d44
#define R(i)		vg_result(vm, i)

FIXTURE(blk) {
	struct vg_vm vm;
	struct vg_dev dev;
	struct vg_queue q;
	int file;
};

FIXTURE_SETUP(blk)
{
	struct modvm_virtio_create c;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	vg_vm_create(&self->vm);
	self->file = vg_backing(FILE_SIZE, SEED, O_RDWR);
	vg_create_args(&c, MODVM_VIRTIO_BLK, 0);
	c.fd = self->file;
	memcpy(c.blk.serial, SERIAL, 20);
	ASSERT_EQ(0, vg_dev_create(&self->vm, &self->dev, &c));
	vq_init(&self->q, &self->dev, 0, QSIZE);
}

FIXTURE_TEARDOWN(blk)
{
	vg_vm_destroy(&self->vm);
	close(self->file);
}

/* Whether @len bytes of @fd at @off equal @p. */
static bool file_equals(int fd, uint64_t off, const void *p, size_t len)
{
	void *b = malloc(len);
	bool eq = b && pread(fd, b, len, off) == (ssize_t)len &&
		  !memcmp(b, p, len);

	free(b);
	return eq;
}

/* A fresh page-aligned guest buffer filled with vg_fill(@seed). */
static uint64_t buffer(struct vg_vm *vm, uint32_t len, uint32_t seed)
{
	uint64_t gpa = vg_alloc(vm, len, 4096);

	vg_fill(vg_ptr(vm, gpa), len, seed);
	return gpa;
}

/*
 * One request in the usual layout, to completion: its status byte; its
 * used length in *@used (when not NULL).
 */
static int blk_do(struct __test_metadata *_metadata, struct vg_queue *q,
		  uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		  uint32_t *used)
{
	struct vg_blk_req r;
	uint16_t from = vq_used_idx(q);
	uint32_t ulen = 0;

	vg_blk_req(q, &r, type, sector, data, len, false);
	EXPECT_EQ(GUEST_DONE, vq_run(q, &r.head, 1));
	EXPECT_EQ((uint16_t)(from + 1), vq_used_idx(q));
	EXPECT_EQ(from, vq_find_used(q, r.head, from, from + 1, &ulen));
	if (used)
		*used = ulen;
	return vg_blk_status(q->dev->vm, &r);
}

/* The payload of a discard or write-zeroes request, in fresh memory. */
static uint64_t segments(struct vg_vm *vm,
			 const struct virtio_blk_discard_write_zeroes *s, int n)
{
	uint64_t gpa = vg_alloc(vm, sizeof(*s) * n, 16);

	memcpy(vg_ptr(vm, gpa), s, sizeof(*s) * n);
	return gpa;
}

/*
 * Discard or write zeroes of the @n segments at @s: in one request where
 * the device takes @n segments (@max_seg_off: its config field), else one
 * request each. Every status must be @status.
 */
static void ranges(struct __test_metadata *_metadata, struct vg_queue *q,
		   uint32_t type, uint32_t max_seg_off,
		   const struct virtio_blk_discard_write_zeroes *s, int n,
		   int status)
{
	struct vg_vm *vm = q->dev->vm;
	uint32_t max_seg = vg_read_reg(q->dev, max_seg_off), len;
	int i;

	ASSERT_LE(1u, max_seg);
	if (max_seg >= (uint32_t)n) {
		EXPECT_EQ(status, blk_do(_metadata, q, type, 0, segments(vm, s, n),
					 sizeof(*s) * n, &len));
		EXPECT_EQ(1u, len);
		return;
	}
	for (i = 0; i < n; i++) {
		EXPECT_EQ(status, blk_do(_metadata, q, type, 0, segments(vm, &s[i], 1),
					 sizeof(*s), &len));
		EXPECT_EQ(1u, len);
	}
}

/* The file as the test expects it: vg_fill(SEED), then changes. */
static uint8_t *expected_file(void)
{
	uint8_t *e = malloc(FILE_SIZE);

	vg_fill(e, FILE_SIZE, SEED);
	return e;
}

static bool file_is(int fd, const uint8_t *e)
{
	return file_equals(fd, 0, e, FILE_SIZE);
}

static void start(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
		  uint64_t features)
{
	ASSERT_EQ(0, vg_setup(&self->dev, features, &self->q, 1));
}

/*
 * Every register of a fresh device: identity, features by selector, queue
 * sizes by QueueSel, reset values, and the config space read as a driver
 * does (4-byte halves of capacity) and in single bytes and halves.
 */
TEST_F_TIMEOUT(blk, registers, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	int magic, ver, id, vendor, f[4], qmax[4], qready, status, isr, gen[2];
	int cap[2], cap_b[8], cap_w[4], size_max, seg_max, blk_size;
	int dmax, dseg, dalign, wzmax, wzseg;
	static const uint32_t sels[4] = { 0, 1, 2, 0xffffffff };
	static const uint32_t qsels[4] = { 0, 1, 15, 16 };
	uint64_t capacity = 0;
	int i;

	magic = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_MAGIC_VALUE));
	ver = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_VERSION));
	id = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_ID));
	vendor = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_VENDOR_ID));
	gen[0] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	for (i = 0; i < 4; i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL), sels[i]);
		f[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES));
	}
	for (i = 0; i < 4; i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_SEL), qsels[i]);
		qmax[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_NUM_MAX));
	}
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_SEL), 0);
	qready = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_READY));
	status = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	isr = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	cap[0] = vg_r32(vm, vg_reg(d, CFG(capacity)));
	cap[1] = vg_r32(vm, vg_reg(d, CFG(capacity) + 4));
	for (i = 0; i < 8; i++)
		cap_b[i] = vg_cmd(vm, VG_OP_READ, 1, vg_reg(d, CFG(capacity) + i), 0, 0);
	for (i = 0; i < 4; i++)
		cap_w[i] = vg_cmd(vm, VG_OP_READ, 2, vg_reg(d, CFG(capacity) + 2 * i), 0, 0);
	size_max = vg_r32(vm, vg_reg(d, CFG(size_max)));
	seg_max = vg_r32(vm, vg_reg(d, CFG(seg_max)));
	blk_size = vg_r32(vm, vg_reg(d, CFG(blk_size)));
	dmax = vg_r32(vm, vg_reg(d, CFG(max_discard_sectors)));
	dseg = vg_r32(vm, vg_reg(d, CFG(max_discard_seg)));
	dalign = vg_r32(vm, vg_reg(d, CFG(discard_sector_alignment)));
	wzmax = vg_r32(vm, vg_reg(d, CFG(max_write_zeroes_sectors)));
	wzseg = vg_r32(vm, vg_reg(d, CFG(max_write_zeroes_seg)));
	gen[1] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));

	EXPECT_EQ(0x74726976u, R(magic));
	EXPECT_EQ(2u, R(ver));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_BLK, R(id));
	EXPECT_EQ((uint64_t)VENDOR, R(vendor));
	EXPECT_EQ((uint32_t)BLK_FEATURES, R(f[0]));
	EXPECT_EQ(BLK_FEATURES >> 32, R(f[1]));
	EXPECT_EQ(0u, R(f[2]));
	EXPECT_EQ(0u, R(f[3]));
	EXPECT_EQ((uint64_t)MODVM_VIRTIO_DEFAULT_QUEUE_SIZE, R(qmax[0]));
	EXPECT_EQ(0u, R(qmax[1]));
	EXPECT_EQ(0u, R(qmax[2]));
	EXPECT_EQ(0u, R(qmax[3]));
	EXPECT_EQ(0u, R(qready));
	EXPECT_EQ(0u, R(status));
	EXPECT_EQ(0u, R(isr));
	EXPECT_EQ(R(gen[0]), R(gen[1]));

	EXPECT_EQ((uint64_t)SECTORS, R(cap[0]) | R(cap[1]) << 32);
	for (i = 0; i < 8; i++)
		capacity |= R(cap_b[i]) << (8 * i);
	EXPECT_EQ((uint64_t)SECTORS, capacity);
	capacity = 0;
	for (i = 0; i < 4; i++)
		capacity |= R(cap_w[i]) << (16 * i);
	EXPECT_EQ((uint64_t)SECTORS, capacity);
	EXPECT_NE(0u, R(size_max));
	EXPECT_LE(1u, R(seg_max));
	EXPECT_GE((uint64_t)MODVM_VIRTIO_DEFAULT_QUEUE_SIZE - 2, R(seg_max));
	EXPECT_EQ(512u, R(blk_size));
	EXPECT_NE(0u, R(dmax));
	EXPECT_NE(0u, R(dseg));
	EXPECT_NE(0u, R(dalign));
	EXPECT_NE(0u, R(wzmax));
	EXPECT_NE(0u, R(wzseg));
}

/*
 * Devices created otherwise, side by side in the VM: read-only (RO
 * offered), four queues of 64 (MQ, num_queues, QueueNumMax per queue),
 * 4096-byte blocks with queues of 8 (blk_size, seg_max bound).
 */
TEST_F_TIMEOUT(blk, created_variants, 300)
{
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_create c;
	struct vg_dev ro, mq, big;
	int rofile = vg_backing(FILE_SIZE, SEED, O_RDONLY);
	int f_ro, f_mq, f_big, nq, qmax[5], bs, segs, big_qmax, cap;
	int i;

	vg_create_args(&c, MODVM_VIRTIO_BLK, 1);
	c.fd = rofile;
	c.flags = MODVM_VIRTIO_RDONLY;
	ASSERT_EQ(0, vg_dev_create(vm, &ro, &c));
	close(rofile);	/* the device holds its own reference */
	vg_create_args(&c, MODVM_VIRTIO_BLK, 2);
	c.fd = self->file;
	c.num_queues = 4;
	c.queue_size = 64;
	ASSERT_EQ(0, vg_dev_create(vm, &mq, &c));
	vg_create_args(&c, MODVM_VIRTIO_BLK, 3);
	c.fd = self->file;
	c.queue_size = 8;
	c.blk.blk_size = 4096;
	ASSERT_EQ(0, vg_dev_create(vm, &big, &c));

	vg_w32(vm, vg_reg(&ro, VIRTIO_MMIO_DEVICE_FEATURES_SEL), 0);
	f_ro = vg_r32(vm, vg_reg(&ro, VIRTIO_MMIO_DEVICE_FEATURES));
	cap = vg_r32(vm, vg_reg(&ro, CFG(capacity)));
	vg_w32(vm, vg_reg(&mq, VIRTIO_MMIO_DEVICE_FEATURES_SEL), 0);
	f_mq = vg_r32(vm, vg_reg(&mq, VIRTIO_MMIO_DEVICE_FEATURES));
	nq = vg_cmd(vm, VG_OP_READ, 2, vg_reg(&mq, CFG(num_queues)), 0, 0);
	for (i = 0; i < 5; i++) {
		vg_w32(vm, vg_reg(&mq, VIRTIO_MMIO_QUEUE_SEL), i);
		qmax[i] = vg_r32(vm, vg_reg(&mq, VIRTIO_MMIO_QUEUE_NUM_MAX));
	}
	vg_w32(vm, vg_reg(&big, VIRTIO_MMIO_DEVICE_FEATURES_SEL), 0);
	f_big = vg_r32(vm, vg_reg(&big, VIRTIO_MMIO_DEVICE_FEATURES));
	bs = vg_r32(vm, vg_reg(&big, CFG(blk_size)));
	segs = vg_r32(vm, vg_reg(&big, CFG(seg_max)));
	vg_w32(vm, vg_reg(&big, VIRTIO_MMIO_QUEUE_SEL), 0);
	big_qmax = vg_r32(vm, vg_reg(&big, VIRTIO_MMIO_QUEUE_NUM_MAX));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));

	/* No write operations on a read-only disk. */
	EXPECT_EQ((uint32_t)((BLK_FEATURES | F(VIRTIO_BLK_F_RO)) &
			     ~(F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES))),
		  R(f_ro));
	EXPECT_EQ((uint64_t)SECTORS, R(cap));
	EXPECT_EQ((uint32_t)(BLK_FEATURES | F(VIRTIO_BLK_F_MQ)), R(f_mq));
	EXPECT_EQ(4u, R(nq));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(64u, R(qmax[i]));
	EXPECT_EQ(0u, R(qmax[4]));
	EXPECT_EQ((uint32_t)BLK_FEATURES, R(f_big));
	EXPECT_EQ(4096u, R(bs));
	EXPECT_LE(1u, R(segs));
	EXPECT_GE(6u, R(segs));
	EXPECT_EQ(8u, R(big_qmax));
}

/*
 * FEATURES_OK sticks only for a subset of the offered features that
 * includes VERSION_1.
 */
TEST_F_TIMEOUT(blk, feature_negotiation, 300)
{
	static const struct {
		uint64_t features;
		bool ok;
	} cases[] = {
		{ V1, true },
		{ BLK_FEATURES, true },
		{ V1 | F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_RING_F_EVENT_IDX), true },
		{ BLK_FEATURES & ~V1, false },
		{ 0, false },
		{ V1 | F(VIRTIO_BLK_F_RO), false },		/* not read-only */
		{ V1 | F(VIRTIO_BLK_F_MQ), false },		/* one queue */
		{ V1 | F(VIRTIO_BLK_F_GEOMETRY), false },
		{ V1 | F(VIRTIO_BLK_F_CONFIG_WCE), false },
		{ V1 | F(VIRTIO_BLK_F_SECURE_ERASE), false },
		{ V1 | F(VIRTIO_F_ACCESS_PLATFORM), false },
		{ V1 | F(VIRTIO_F_RING_PACKED), false },
		{ V1 | F(38) /* NOTIFICATION_DATA */, false },
		{ V1 | F(63), false },
	};
	struct vg_vm *vm = &self->vm;
	int st[sizeof(cases) / sizeof(cases[0])];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		st[i] = vg_negotiate_cmds(&self->dev, cases[i].features);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TH_LOG("features %#llx", (unsigned long long)cases[i].features);
		EXPECT_EQ((uint64_t)(cases[i].ok ? S_FOK : S_ACKDRV), R(st[i]));
	}
}

/*
 * DriverFeatures writes after FEATURES_OK change nothing: with VERSION_1
 * alone negotiated, then EVENT_IDX written, the device still honours
 * VRING_AVAIL_F_NO_INTERRUPT and leaves avail_event alone.
 */
TEST_F_TIMEOUT(blk, features_frozen_after_features_ok, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q;
	struct modvm_virtio_stats s;
	struct vg_blk_req r;
	int st, st2, rdy;
	uint32_t len;

	st = vg_negotiate_cmds(d, V1);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL), 0);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DRIVER_FEATURES), (uint32_t)RING_FEATURES);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL), 1);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DRIVER_FEATURES), 0);
	rdy = vq_setup_cmds(q);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), S_LIVE);
	st2 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)S_FOK, R(st));
	EXPECT_EQ(1u, R(rdy));
	EXPECT_EQ((uint64_t)S_LIVE, R(st2));

	*vq_avail_event(q) = 0xbeef;
	*vq_used_event(q) = 0;		/* with EVENT_IDX: interrupt now */
	q->a->flags = VRING_AVAIL_F_NO_INTERRUPT;
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, q, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &len));
	EXPECT_EQ(1u, len);
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.interrupts);
	EXPECT_EQ(0u, vg_state(d)->irqs);
	EXPECT_FALSE(vg_line_up(vm, d->gsi));
	EXPECT_EQ(0xbeef, *vq_avail_event(q));

	/* Without the flag, the interrupt comes. */
	q->a->flags = 0;
	vg_blk_req(q, &r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	vq_post(q, r.head);
	vq_notify_cmd(q);
	vg_wait_irqs(d, 1, VG_TIMEOUT);
	vg_spin16(vm, q->used + 2, 2, VG_TIMEOUT);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &r));
	vg_stats(d, &s);
	EXPECT_EQ(1u, s.interrupts);
	EXPECT_EQ(1u, vg_state(d)->irqs);
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_VRING, vg_state(d)->isr_or);
	EXPECT_EQ(0xbeef, *vq_avail_event(q));
}

/*
 * Guest writes to read-only registers change nothing, nor does a notify
 * of a queue the device does not have: the identity, features, queue
 * size, InterruptStatus and ConfigGeneration read as before, and the
 * device then works.
 */
TEST_F_TIMEOUT(blk, read_only_registers, 300)
{
	static const uint32_t ro[] = {
		VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION,
		VIRTIO_MMIO_DEVICE_ID, VIRTIO_MMIO_VENDOR_ID,
		VIRTIO_MMIO_DEVICE_FEATURES, VIRTIO_MMIO_QUEUE_NUM_MAX,
		VIRTIO_MMIO_INTERRUPT_STATUS, VIRTIO_MMIO_CONFIG_GENERATION,
		CFG(capacity), CFG(capacity) + 4, CFG(blk_size),
	};
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct modvm_virtio_stats s;
	int before[11], after[11], st;
	uint64_t data = vg_alloc(vm, 512, 512);
	unsigned int i;

	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL), 0);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_SEL), 0);
	for (i = 0; i < 11; i++)
		before[i] = vg_r32(vm, vg_reg(d, ro[i]));
	for (i = 0; i < 11; i++)
		vg_w32(vm, vg_reg(d, ro[i]), 0xa5a5a5a5);
	for (i = 0; i < 11; i++)
		after[i] = vg_r32(vm, vg_reg(d, ro[i]));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	for (i = 0; i < 11; i++) {
		TH_LOG("register %#x", ro[i]);
		EXPECT_EQ(vg_result(vm, before[i]), vg_result(vm, after[i]));
	}

	start(_metadata, self, V1);
	vg_write_reg(d, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	vg_write_reg(d, VIRTIO_MMIO_QUEUE_NOTIFY, MODVM_VIRTIO_MAX_QUEUES);
	vg_write_reg(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)S_LIVE, R(st));
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  blk_do(_metadata, &self->q, VIRTIO_BLK_T_IN, 0, data, 512, NULL));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.broken_queues);
	EXPECT_EQ(1u, s.requests);
}

/*
 * QueueReady = 1 reads back 0 for a bad size or ring alignment, and for a
 * queue the device does not have; writes to a ready queue's size and
 * addresses are ignored (the original rings keep working).
 */
TEST_F_TIMEOUT(blk, queue_setup, 300)
{
	static const struct {
		uint32_t num;
		uint32_t desc_off, avail_off, used_off;
		uint32_t sel;
	} bad[] = {
		{ 0, 0, 0, 0, 0 },
		{ 3, 0, 0, 0, 0 },
		{ 48, 0, 0, 0, 0 },
		{ 2 * MODVM_VIRTIO_DEFAULT_QUEUE_SIZE, 0, 0, 0, 0 },
		{ QSIZE, 8, 0, 0, 0 },
		{ QSIZE, 0, 1, 0, 0 },
		{ QSIZE, 0, 0, 2, 0 },
		{ QSIZE, 0, 0, 0, 1 },
	};
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q;
	int st, rd[sizeof(bad) / sizeof(bad[0])], good, after;
	uint64_t data = vg_alloc(vm, 4096, 4096);
	uint32_t len;
	unsigned int i;

	st = vg_negotiate_cmds(d, V1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_SEL), bad[i].sel);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_NUM), bad[i].num);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_DESC_LOW), q->desc + bad[i].desc_off);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_DESC_HIGH), 0);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW), q->avail + bad[i].avail_off);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH), 0);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_USED_LOW), q->used + bad[i].used_off);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_USED_HIGH), 0);
		vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_READY), 1);
		rd[i] = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_READY));
	}
	good = vq_setup_cmds(q);
	/* Ready: a smaller size and rings elsewhere are ignored. */
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_NUM), 2);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_DESC_LOW), 0x3f0000);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW), 0x3f1000);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_USED_LOW), 0x3f2000);
	after = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_READY));
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), S_LIVE);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)S_FOK, R(st));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TH_LOG("case %u", i);
		EXPECT_EQ(0u, R(rd[i]));
	}
	EXPECT_EQ(1u, R(good));
	EXPECT_EQ(1u, R(after));

	/* Descriptors beyond 2 in the original rings: size 2 was ignored. */
	q->next_desc = 8;
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, q, VIRTIO_BLK_T_IN, 4, data, 4096, &len));
	EXPECT_EQ(4097u, len);
	EXPECT_TRUE(file_equals(self->file, 4 * 512, vg_ptr(vm, data), 4096));
}

/*
 * Writes land in the file and reads return it, whatever the layout of
 * the chain: header and data in one descriptor, data split unevenly,
 * data and status byte in one descriptor. The stats count the bytes.
 */
TEST_F_TIMEOUT(blk, write_then_read, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q;
	struct modvm_virtio_stats s;
	uint64_t wbuf = buffer(vm, 8192, 1), rbuf = vg_alloc(vm, 8192, 4096);
	uint8_t *host = malloc(8192);
	struct virtio_blk_outhdr *h;
	uint64_t one, split, status;
	struct vg_buf b[4];
	uint16_t head;
	uint32_t len;

	start(_metadata, self, V1);
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  blk_do(_metadata, q, VIRTIO_BLK_T_OUT, 8, wbuf, 8192, &len));
	EXPECT_EQ(1u, len);
	EXPECT_TRUE(file_equals(self->file, 8 * 512, vg_ptr(vm, wbuf), 8192));

	vg_fill(host, 8192, 2);
	ASSERT_EQ(8192, pwrite(self->file, host, 8192, 40 * 512));
	memset(vg_ptr(vm, rbuf), 0xcc, 8192);
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  blk_do(_metadata, q, VIRTIO_BLK_T_IN, 40, rbuf, 8192, &len));
	EXPECT_EQ(8193u, len);
	EXPECT_EQ(0, memcmp(host, vg_ptr(vm, rbuf), 8192));

	/* OUT: header and 1024 bytes of data in one readable descriptor. */
	one = vg_alloc(vm, 16 + 1024 + 1, 16);
	h = vg_ptr(vm, one);
	h->type = VIRTIO_BLK_T_OUT;
	h->ioprio = 0;
	h->sector = 100;
	vg_fill(vg_ptr(vm, one + 16), 1024, 3);
	status = one + 16 + 1024;
	*(uint8_t *)vg_ptr(vm, status) = 0xff;
	b[0] = (struct vg_buf){ one, 16 + 1024, 0 };
	b[1] = (struct vg_buf){ status, 1, VRING_DESC_F_WRITE };
	head = vq_chain(q, vq_alloc(q, 2), b, 2);
	EXPECT_EQ(GUEST_DONE, vq_run(q, &head, 1));
	EXPECT_EQ(0, *(uint8_t *)vg_ptr(vm, status));
	EXPECT_EQ(2, vq_find_used(q, head, 2, 3, &len));
	EXPECT_EQ(1u, len);
	EXPECT_TRUE(file_equals(self->file, 100 * 512, vg_ptr(vm, one + 16), 1024));

	/* IN: data in 100 + 412 + 511 bytes, the status byte after the 511. */
	split = vg_alloc(vm, 16 + 1024 + 1, 16);
	h = vg_ptr(vm, split);
	h->type = VIRTIO_BLK_T_IN;
	h->ioprio = 0;
	h->sector = 100;
	memset(vg_ptr(vm, split + 16), 0xcc, 1025);
	b[0] = (struct vg_buf){ split, 16, 0 };
	b[1] = (struct vg_buf){ split + 16, 100, VRING_DESC_F_WRITE };
	b[2] = (struct vg_buf){ split + 116, 412, VRING_DESC_F_WRITE };
	b[3] = (struct vg_buf){ split + 528, 513, VRING_DESC_F_WRITE };
	head = vq_chain(q, vq_alloc(q, 4), b, 4);
	EXPECT_EQ(GUEST_DONE, vq_run(q, &head, 1));
	EXPECT_EQ(0, *(uint8_t *)vg_ptr(vm, split + 16 + 1024));
	EXPECT_EQ(3, vq_find_used(q, head, 3, 4, &len));
	EXPECT_EQ(1025u, len);
	EXPECT_EQ(0, memcmp(vg_ptr(vm, one + 16), vg_ptr(vm, split + 16), 1024));

	vg_stats(&self->dev, &s);
	EXPECT_EQ(4u, s.requests);
	EXPECT_EQ(8192u + 1024, s.write_bytes);
	EXPECT_EQ(8192u + 1024, s.read_bytes);
	EXPECT_EQ(0u, s.errors);
	EXPECT_EQ(0u, s.unsupported);
	EXPECT_EQ(0u, s.inflight);
	EXPECT_EQ(4u, s.notifies);
	EXPECT_EQ((uint32_t)S_LIVE, s.status);
	EXPECT_EQ(0u, s.broken_queues);
	free(host);
}

#define MANY		64
#define MANY_LEN	4096

/* Post MANY requests of @type at sectors 8 * i, wait for all: 0 on time. */
static void many(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
		 uint32_t type, uint64_t *bufs, struct vg_blk_req *r)
{
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q;
	uint16_t from = vq_used_idx(q);
	uint64_t irqs = vg_state(&self->dev)->irqs;
	int i;

	for (i = 0; i < MANY; i++) {
		vg_blk_req(q, &r[i], type, 8 * i, bufs[i], MANY_LEN, true);
		vq_post(q, r[i].head);
	}
	/* One interrupt, when the last one is used. */
	*vq_used_event(q) = from + MANY - 1;
	vq_notify_cmd(q);
	vg_wait_irqs(&self->dev, irqs + 1, VG_TIMEOUT);
	vg_spin16(vm, q->used + 2, from + MANY, VG_TIMEOUT);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	for (i = 0; i < MANY; i++) {
		uint32_t len = 0;

		EXPECT_LE(0, vq_find_used(q, r[i].head, from, from + MANY, &len));
		EXPECT_EQ(type == VIRTIO_BLK_T_IN ? MANY_LEN + 1u : 1u, len);
		EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &r[i]));
	}
}

/*
 * 64 writes of 4 KiB, each through an indirect table, posted at once
 * with one notify and EVENT_IDX asking for one interrupt; then 64 reads.
 */
TEST_F_TIMEOUT(blk, many_in_flight, 300)
{
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_stats s;
	uint64_t wb[MANY], rb[MANY], interrupts;
	struct vg_blk_req r[MANY];
	int i;

	start(_metadata, self, V1 | RING_FEATURES);
	for (i = 0; i < MANY; i++) {
		wb[i] = buffer(vm, MANY_LEN, 100 + i);
		rb[i] = vg_alloc(vm, MANY_LEN, 4096);
	}
	many(_metadata, self, VIRTIO_BLK_T_OUT, wb, r);
	for (i = 0; i < MANY; i++)
		EXPECT_TRUE(file_equals(self->file, 8 * 512 * i, vg_ptr(vm, wb[i]), MANY_LEN));
	vg_stats(&self->dev, &s);
	EXPECT_EQ((uint64_t)MANY, s.requests);
	EXPECT_EQ((uint64_t)MANY * MANY_LEN, s.write_bytes);
	EXPECT_EQ(1u, s.notifies);
	EXPECT_EQ(1u, s.interrupts);
	EXPECT_EQ(0u, s.inflight);
	EXPECT_LE(1u, s.max_inflight);
	EXPECT_GE((uint64_t)MANY, s.max_inflight);
	EXPECT_EQ(1u, vg_state(&self->dev)->irqs);
	/* The device asks for the next notify at its next avail entry. */
	EXPECT_EQ(MANY, *vq_avail_event(&self->q));

	interrupts = s.interrupts;
	many(_metadata, self, VIRTIO_BLK_T_IN, rb, r);
	for (i = 0; i < MANY; i++)
		EXPECT_EQ(0, memcmp(vg_ptr(vm, rb[i]), vg_ptr(vm, wb[i]), MANY_LEN));
	vg_stats(&self->dev, &s);
	EXPECT_EQ(2u * MANY, s.requests);
	EXPECT_EQ((uint64_t)MANY * MANY_LEN, s.read_bytes);
	EXPECT_EQ(interrupts + 1, s.interrupts);
	EXPECT_EQ(0u, s.errors);
}

/* FLUSH, and GET_ID of a 20-byte serial and of a short one. */
TEST_F_TIMEOUT(blk, flush_and_get_id, 300)
{
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_create c;
	struct vg_dev d2;
	struct vg_queue q2;
	uint64_t id = vg_alloc(vm, 20, 4096), id2 = vg_alloc(vm, 20, 4096);
	uint32_t len;

	start(_metadata, self, V1 | F(VIRTIO_BLK_F_FLUSH));
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  blk_do(_metadata, &self->q, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &len));
	EXPECT_EQ(1u, len);
	memset(vg_ptr(vm, id), 0xaa, 20);
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  blk_do(_metadata, &self->q, VIRTIO_BLK_T_GET_ID, 0, id, 20, &len));
	EXPECT_EQ(21u, len);
	EXPECT_EQ(0, memcmp(SERIAL, vg_ptr(vm, id), 20));

	vg_create_args(&c, MODVM_VIRTIO_BLK, 1);
	c.fd = self->file;
	strcpy(c.blk.serial, "ab");
	ASSERT_EQ(0, vg_dev_create(vm, &d2, &c));
	vq_init(&q2, &d2, 0, 8);
	ASSERT_EQ(0, vg_setup(&d2, V1, &q2, 1));
	memset(vg_ptr(vm, id2), 0xaa, 20);
	EXPECT_EQ(VIRTIO_BLK_S_OK,
		  blk_do(_metadata, &q2, VIRTIO_BLK_T_GET_ID, 0, id2, 20, &len));
	EXPECT_EQ(0, memcmp("ab", vg_ptr(vm, id2), 3));
	EXPECT_LE(4u, len);
	EXPECT_GE(21u, len);
}

/*
 * DISCARD of two segments punches holes (the file's blocks go down) that
 * read as zeroes; the rest of the file is untouched. Per the spec
 * (§5.2.6.2), the unmap flag on a discard and unknown flags are UNSUPP.
 */
TEST_F_TIMEOUT(blk, discard, 300)
{
	struct virtio_blk_discard_write_zeroes seg[2] = {
		{ .sector = 64, .num_sectors = 64 },
		{ .sector = 256, .num_sectors = 8 },
	};
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_stats s;
	uint8_t *e = expected_file();
	struct stat before, after;
	uint32_t align;
	uint64_t p;

	start(_metadata, self, V1 | F(VIRTIO_BLK_F_DISCARD));
	/* The segments fit the device's limits. */
	ASSERT_LE(64u, vg_read_reg(&self->dev, CFG(max_discard_sectors)));
	align = vg_read_reg(&self->dev, CFG(discard_sector_alignment));
	ASSERT_NE(0u, align);
	ASSERT_EQ(0u, 8 % align);
	ASSERT_EQ(0, fstat(self->file, &before));
	ranges(_metadata, &self->q, VIRTIO_BLK_T_DISCARD, CFG(max_discard_seg),
	       seg, 2, VIRTIO_BLK_S_OK);
	memset(e + 64 * 512, 0, 64 * 512);
	memset(e + 256 * 512, 0, 8 * 512);
	EXPECT_TRUE(file_is(self->file, e));
	ASSERT_EQ(0, fstat(self->file, &after));
	EXPECT_EQ(before.st_size, after.st_size);
	EXPECT_GE(before.st_blocks - 72, after.st_blocks);

	seg[0] = (struct virtio_blk_discard_write_zeroes){
		.sector = 512, .num_sectors = 8,
		.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	p = segments(vm, seg, 1);
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP,
		  blk_do(_metadata, &self->q, VIRTIO_BLK_T_DISCARD, 0, p, 16, NULL));
	seg[0].flags = 2;
	p = segments(vm, seg, 1);
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP,
		  blk_do(_metadata, &self->q, VIRTIO_BLK_T_DISCARD, 0, p, 16, NULL));
	EXPECT_TRUE(file_is(self->file, e));
	vg_stats(&self->dev, &s);
	EXPECT_EQ(2u, s.unsupported);
	EXPECT_EQ(0u, s.errors);
	free(e);
}

/* WRITE_ZEROES, with and without the unmap flag; unknown flags: UNSUPP. */
TEST_F_TIMEOUT(blk, write_zeroes, 300)
{
	struct virtio_blk_discard_write_zeroes seg[2] = {
		{ .sector = 3, .num_sectors = 5 },
		{ .sector = 1000, .num_sectors = 40,
		  .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
	};
	struct vg_vm *vm = &self->vm;
	uint8_t *e = expected_file();
	uint64_t p;

	start(_metadata, self, V1 | F(VIRTIO_BLK_F_WRITE_ZEROES));
	ASSERT_LE(40u, vg_read_reg(&self->dev, CFG(max_write_zeroes_sectors)));
	ranges(_metadata, &self->q, VIRTIO_BLK_T_WRITE_ZEROES, CFG(max_write_zeroes_seg),
	       seg, 2, VIRTIO_BLK_S_OK);
	memset(e + 3 * 512, 0, 5 * 512);
	memset(e + 1000 * 512, 0, 40 * 512);
	EXPECT_TRUE(file_is(self->file, e));

	seg[0].flags = 2;
	p = segments(vm, seg, 1);
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP,
		  blk_do(_metadata, &self->q, VIRTIO_BLK_T_WRITE_ZEROES, 0, p, 16, NULL));
	EXPECT_TRUE(file_is(self->file, e));
	free(e);
}

/* Types the device does not know: UNSUPP, counted, nothing else. */
TEST_F_TIMEOUT(blk, unsupported_types, 300)
{
	static const uint32_t types[] = {
		0x55, VIRTIO_BLK_T_SECURE_ERASE, 10 /* GET_LIFETIME */,
		VIRTIO_BLK_T_SCSI_CMD, 0x80000001,
	};
	struct modvm_virtio_stats s;
	uint8_t *e = expected_file();
	uint32_t len;
	unsigned int i;

	start(_metadata, self, V1);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		TH_LOG("type %#x", types[i]);
		EXPECT_EQ(VIRTIO_BLK_S_UNSUPP,
			  blk_do(_metadata, &self->q, types[i], 0, 0, 0, &len));
		EXPECT_EQ(1u, len);
	}
	vg_stats(&self->dev, &s);
	EXPECT_EQ((uint64_t)i, s.unsupported);
	EXPECT_EQ(0u, s.errors);
	EXPECT_EQ((uint64_t)i, s.requests);
	EXPECT_TRUE(file_is(self->file, e));
	free(e);
}

/*
 * IOERR for sectors beyond the capacity (also at the edge, and where
 * sector * 512 overflows), for data not a multiple of 512, and for
 * discard and write-zeroes segments beyond the capacity; the file neither
 * grows nor changes.
 */
TEST_F_TIMEOUT(blk, out_of_range, 300)
{
	static const struct {
		uint32_t type;
		uint64_t sector;
		uint32_t len;
	} bad[] = {
		{ VIRTIO_BLK_T_IN, SECTORS, 512 },
		{ VIRTIO_BLK_T_IN, SECTORS - 1, 1024 },
		{ VIRTIO_BLK_T_IN, 1ull << 55, 512 },
		{ VIRTIO_BLK_T_IN, ~0ull, 512 },
		{ VIRTIO_BLK_T_OUT, SECTORS, 512 },
		{ VIRTIO_BLK_T_OUT, SECTORS - 1, 1024 },
		{ VIRTIO_BLK_T_OUT, ~0ull - 1, 1024 },
		{ VIRTIO_BLK_T_IN, 0, 100 },
		{ VIRTIO_BLK_T_OUT, 0, 700 },
	};
	struct virtio_blk_discard_write_zeroes seg[] = {
		{ .sector = SECTORS - 8, .num_sectors = 16 },
		{ .sector = ~0ull - 7, .num_sectors = 16 },
	};
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_stats s;
	uint8_t *e = expected_file();
	uint64_t data = buffer(vm, 1024, 9), p;
	struct stat st;
	uint32_t len;
	unsigned int i;

	start(_metadata, self, V1 | F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TH_LOG("case %u", i);
		EXPECT_EQ(VIRTIO_BLK_S_IOERR,
			  blk_do(_metadata, &self->q, bad[i].type, bad[i].sector,
				 data, bad[i].len, &len));
		EXPECT_EQ(1u, len);
	}
	for (i = 0; i < 2; i++) {
		p = segments(vm, &seg[i], 1);
		EXPECT_EQ(VIRTIO_BLK_S_IOERR,
			  blk_do(_metadata, &self->q, VIRTIO_BLK_T_DISCARD, 0, p, 16, NULL));
		EXPECT_EQ(VIRTIO_BLK_S_IOERR,
			  blk_do(_metadata, &self->q, VIRTIO_BLK_T_WRITE_ZEROES, 0, p, 16, NULL));
	}
	ASSERT_EQ(0, fstat(self->file, &st));
	EXPECT_EQ(FILE_SIZE, st.st_size);
	EXPECT_TRUE(file_is(self->file, e));
	vg_stats(&self->dev, &s);
	EXPECT_EQ(sizeof(bad) / sizeof(bad[0]) + 4, s.errors);
	EXPECT_EQ(0u, s.write_bytes);
	free(e);
}

/*
 * A read-only device (slot 1) over a read-only file, set up with
 * @features: the file, for checks.
 */
static int read_only_dev(struct __test_metadata *_metadata,
			 FIXTURE_DATA(blk) *self, struct vg_dev *ro,
			 struct vg_queue *q, uint64_t features)
{
	struct modvm_virtio_create c;

	vg_create_args(&c, MODVM_VIRTIO_BLK, 1);
	c.fd = vg_backing(FILE_SIZE, SEED, O_RDONLY);
	c.flags = MODVM_VIRTIO_RDONLY;
	EXPECT_EQ(0, vg_dev_create(&self->vm, ro, &c));
	vq_init(q, ro, 0, 16);
	EXPECT_EQ(0, vg_setup(ro, features, q, 1));
	return c.fd;
}

/* Read-only: reads work, writes fail with IOERR, the file stays. */
TEST_F_TIMEOUT(blk, read_only, 300)
{
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_stats s;
	uint8_t *e = expected_file();
	uint64_t w = buffer(vm, 4096, 5), rd = vg_alloc(vm, 4096, 4096);
	struct vg_dev ro;
	struct vg_queue q;
	uint32_t len;
	int fd;

	fd = read_only_dev(_metadata, self, &ro, &q, V1 | F(VIRTIO_BLK_F_RO));
	ASSERT_TRUE(_metadata->passed);
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, blk_do(_metadata, &q, VIRTIO_BLK_T_OUT, 0, w, 4096, &len));
	EXPECT_EQ(1u, len);
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q, VIRTIO_BLK_T_IN, 0, rd, 4096, &len));
	EXPECT_EQ(4097u, len);
	EXPECT_EQ(0, memcmp(e, vg_ptr(vm, rd), 4096));
	EXPECT_TRUE(file_is(fd, e));
	vg_stats(&ro, &s);
	EXPECT_EQ(1u, s.errors);
	EXPECT_EQ(0u, s.write_bytes);
	EXPECT_EQ(4096u, s.read_bytes);
	close(fd);
	free(e);
}

/*
 * A read-only disk does not offer DISCARD or WRITE_ZEROES, so a driver
 * cannot negotiate them; sent anyway, they are UNSUPP and leave the file
 * as it was.
 */
TEST_F_TIMEOUT(blk, read_only_discard_write_zeroes, 300)
{
	struct virtio_blk_discard_write_zeroes seg = { .sector = 0, .num_sectors = 8 };
	struct modvm_virtio_stats s;
	uint8_t *e = expected_file();
	struct vg_dev ro;
	struct vg_queue q;
	int fd;

	fd = read_only_dev(_metadata, self, &ro, &q, V1 | F(VIRTIO_BLK_F_RO));
	ASSERT_TRUE(_metadata->passed);
	ranges(_metadata, &q, VIRTIO_BLK_T_DISCARD, CFG(max_discard_seg), &seg, 1,
	       VIRTIO_BLK_S_UNSUPP);
	ranges(_metadata, &q, VIRTIO_BLK_T_WRITE_ZEROES, CFG(max_write_zeroes_seg),
	       &seg, 1, VIRTIO_BLK_S_UNSUPP);
	EXPECT_TRUE(file_is(fd, e));
	vg_stats(&ro, &s);
	EXPECT_EQ(2u, s.unsupported);
	EXPECT_EQ(0u, s.errors);
	EXPECT_EQ(0u, s.write_bytes);
	close(fd);
	free(e);
}

/*
 * The line is level: up from the completion until InterruptACK clears
 * InterruptStatus (reading it clears nothing; acking another bit neither).
 * The guest keeps interrupts off here, so only the IOAPIC sees the line.
 */
TEST_F_TIMEOUT(blk, level_interrupt_and_ack, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct modvm_virtio_stats s;
	struct vg_blk_req r;
	int i1, i2, i3, i4;

	start(_metadata, self, V1);
	EXPECT_FALSE(vg_line_up(vm, d->gsi));
	vg_blk_req(&self->q, &r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	vq_post(&self->q, r.head);
	vq_notify_cmd(&self->q);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	ASSERT_TRUE(vq_host_wait(&self->q, 1, 10000));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &r));
	/* The interrupt follows the used index: give it a moment. */
	vg_stats(d, &s);
	for (i1 = 0; i1 < 1000 && !s.interrupts; i1++) {
		usleep(1000);
		vg_stats(d, &s);
	}
	EXPECT_EQ(1u, s.interrupts);
	EXPECT_TRUE(vg_line_up(vm, d->gsi));

	i1 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	i2 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_ACK), VIRTIO_MMIO_INT_CONFIG);
	i3 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(1u, vg_result(vm, i1));
	EXPECT_EQ(1u, vg_result(vm, i2));
	EXPECT_EQ(1u, vg_result(vm, i3));
	EXPECT_TRUE(vg_line_up(vm, d->gsi));

	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_ACK), VIRTIO_MMIO_INT_VRING);
	i4 = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0u, vg_result(vm, i4));
	EXPECT_FALSE(vg_line_up(vm, d->gsi));
}

/*
 * Without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT suppresses the interrupt.
 * With it: no interrupt until used_event is passed, the flag is ignored,
 * and the device keeps avail_event at its next avail entry.
 */
TEST_F_TIMEOUT(blk, interrupt_suppression, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q, q2;
	struct modvm_virtio_stats s;
	uint64_t irqs, interrupts;
	struct vg_blk_req r;

	start(_metadata, self, V1);
	q->a->flags = VRING_AVAIL_F_NO_INTERRUPT;
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, q, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.interrupts);
	EXPECT_EQ(0u, vg_state(d)->irqs);
	EXPECT_EQ(0u, vg_read_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));

	/* EVENT_IDX, on fresh rings after a reset. */
	vq_init(&q2, d, 0, QSIZE);
	ASSERT_EQ(0, vg_setup(d, V1 | F(VIRTIO_RING_F_EVENT_IDX), &q2, 1));
	*vq_avail_event(&q2) = 0xbeef;
	*vq_used_event(&q2) = 5;
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q2, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.interrupts);
	EXPECT_EQ(0u, vg_state(d)->irqs);
	EXPECT_FALSE(vg_line_up(vm, d->gsi));
	EXPECT_EQ(1, *vq_avail_event(&q2));

	/* used_event 1: the second completion (used idx 1 -> 2) interrupts. */
	irqs = vg_state(d)->irqs;
	interrupts = s.interrupts;
	*vq_used_event(&q2) = 1;
	q2.a->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vg_blk_req(&q2, &r, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	vq_post(&q2, r.head);
	vq_notify_cmd(&q2);
	vg_wait_irqs(d, irqs + 1, VG_TIMEOUT);
	vg_spin16(vm, q2.used + 2, 2, VG_TIMEOUT);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &r));
	vg_stats(d, &s);
	EXPECT_EQ(interrupts + 1, s.interrupts);
	EXPECT_EQ(irqs + 1, vg_state(d)->irqs);
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_VRING, vg_state(d)->isr_last);
	EXPECT_EQ(2, *vq_avail_event(&q2));
}

/*
 * A notify before DRIVER_OK is not processed; DRIVER_OK then processes
 * what is in the avail ring without another notify.
 */
TEST_F_TIMEOUT(blk, notify_before_driver_ok, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q;
	struct modvm_virtio_stats s;
	uint64_t data = vg_alloc(vm, 4096, 4096);
	struct vg_blk_req r;
	int st;

	st = vg_negotiate_cmds(d, V1);
	vq_setup_cmds(q);
	vg_blk_req(q, &r, VIRTIO_BLK_T_IN, 16, data, 4096, false);
	vq_post(q, r.head);
	vq_notify_cmd(q);
	vg_wait_ticks(vm, 20);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ((uint64_t)S_FOK, R(st));
	EXPECT_EQ(0, vq_used_idx(q));
	EXPECT_EQ(0xff, vg_blk_status(vm, &r));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.requests);
	EXPECT_EQ(0u, s.read_bytes);

	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), S_LIVE);
	vg_spin16(vm, q->used + 2, 1, VG_TIMEOUT);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &r));
	EXPECT_TRUE(file_equals(self->file, 16 * 512, vg_ptr(vm, data), 4096));
}

/*
 * Reset (Status 0) with 64 requests in flight, writes of 16 KiB and
 * write-zeroes of as much in turn (the device may serve them on different
 * paths): when the guest's write returns, Status, QueueReady and
 * InterruptStatus read 0, the line is down, and from then on neither
 * guest memory (used ring, status bytes) nor the file changes; every
 * request in the used ring is complete. The device then works again.
 */
#define RESET_LEN	(16 << 10)
TEST_F_TIMEOUT(blk, reset_with_requests_in_flight, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q, q2;
	struct modvm_virtio_stats s0, s;
	uint64_t wb[MANY], rd = vg_alloc(vm, 4096, 4096), zero = vg_alloc(vm, RESET_LEN, 4096);
	struct vg_blk_req r[MANY];
	uint8_t *file0 = malloc(FILE_SIZE), *file1 = malloc(FILE_SIZE);
	uint8_t st0[MANY], used0[6 + 8 * QSIZE];
	int st, rdy, isr, i;
	uint16_t n;
	uint32_t len;

	start(_metadata, self, V1 | F(VIRTIO_RING_F_INDIRECT_DESC) |
	      F(VIRTIO_BLK_F_WRITE_ZEROES));
	ASSERT_LE(RESET_LEN / 512u, vg_read_reg(d, CFG(max_write_zeroes_sectors)));
	vg_stats(d, &s0);
	for (i = 0; i < MANY; i++) {
		struct virtio_blk_discard_write_zeroes seg = {
			.sector = RESET_LEN / 512 * i, .num_sectors = RESET_LEN / 512,
		};

		if (i % 2) {
			wb[i] = zero;
			vg_blk_req(q, &r[i], VIRTIO_BLK_T_WRITE_ZEROES, 0,
				   segments(vm, &seg, 1), sizeof(seg), true);
		} else {
			wb[i] = buffer(vm, RESET_LEN, 200 + i);
			vg_blk_req(q, &r[i], VIRTIO_BLK_T_OUT, seg.sector, wb[i],
				   RESET_LEN, true);
		}
		vq_post(q, r[i].head);
	}
	vq_notify_cmd(q);
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), 0);
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	rdy = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_QUEUE_READY));
	isr = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0u, R(st));
	EXPECT_EQ(0u, R(rdy));
	EXPECT_EQ(0u, R(isr));
	EXPECT_FALSE(vg_line_up(vm, d->gsi));

	/* The state right after the reset. */
	n = vq_used_idx(q);
	memcpy(used0, q->u, sizeof(used0));
	for (i = 0; i < MANY; i++)
		st0[i] = vg_blk_status(vm, &r[i]);
	ASSERT_EQ(FILE_SIZE, pread(self->file, file0, FILE_SIZE, 0));
	vg_stats(d, &s);
	EXPECT_EQ(s0.resets + 1, s.resets);
	EXPECT_EQ(0u, s.inflight);
	EXPECT_EQ(0u, s.status);
	TH_LOG("%u of %d in the used ring at the reset; max_inflight %llu",
	       n, MANY, (unsigned long long)s.max_inflight);
	EXPECT_GE(MANY, n);
	for (i = 0; i < n; i++) {
		struct vring_used_elem e = vq_used(q, i);
		int j;

		for (j = 0; j < MANY && r[j].head != e.id; j++)
			;
		ASSERT_GT(MANY, j);
		EXPECT_EQ(1u, e.len);
		EXPECT_EQ(VIRTIO_BLK_S_OK, st0[j]);
		EXPECT_TRUE(file_equals(self->file, RESET_LEN * j, vg_ptr(vm, wb[j]), RESET_LEN));
	}

	/* Nothing moves afterwards, the guest running or not. */
	vg_wait_ticks(vm, 20);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	usleep(100 * 1000);
	EXPECT_EQ(0, memcmp(used0, q->u, sizeof(used0)));
	for (i = 0; i < MANY; i++)
		EXPECT_EQ(st0[i], vg_blk_status(vm, &r[i]));
	ASSERT_EQ(FILE_SIZE, pread(self->file, file1, FILE_SIZE, 0));
	EXPECT_EQ(0, memcmp(file0, file1, FILE_SIZE));
	/*
	 * The local APIC may hold a vector latched before the reset; taken
	 * now, it must find InterruptStatus 0.
	 */
	EXPECT_EQ(vg_state(d)->spurious, vg_state(d)->irqs);
	EXPECT_EQ(0u, vg_state(d)->isr_or);

	vq_init(&q2, d, 0, QSIZE);
	ASSERT_EQ(0, vg_setup(d, V1, &q2, 1));
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q2, VIRTIO_BLK_T_IN, 1024, rd, 4096, &len));
	EXPECT_EQ(4097u, len);
	EXPECT_EQ(0, memcmp(file1 + 1024 * 512, vg_ptr(vm, rd), 4096));
	free(file0);
	free(file1);
}

/* Four queues: each request completes into its own queue's used ring. */
TEST_F_TIMEOUT(blk, multiqueue, 300)
{
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_create c;
	uint8_t *e = expected_file();
	struct vg_queue q[4];
	struct vg_dev mq;
	uint64_t buf[4];
	uint32_t len;
	int i;

	vg_create_args(&c, MODVM_VIRTIO_BLK, 1);
	c.fd = self->file;
	c.num_queues = 4;
	ASSERT_EQ(0, vg_dev_create(vm, &mq, &c));
	for (i = 0; i < 4; i++) {
		vq_init(&q[i], &mq, i, 16);
		buf[i] = vg_alloc(vm, 4096, 4096);
	}
	ASSERT_EQ(0, vg_setup(&mq, V1 | F(VIRTIO_BLK_F_MQ), q, 4));
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q[3], VIRTIO_BLK_T_IN, 80, buf[3], 4096, &len));
	EXPECT_EQ(4097u, len);
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q[1], VIRTIO_BLK_T_IN, 88, buf[1], 4096, &len));
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q[1], VIRTIO_BLK_T_IN, 96, buf[2], 4096, &len));
	EXPECT_EQ(0, vq_used_idx(&q[0]));
	EXPECT_EQ(2, vq_used_idx(&q[1]));
	EXPECT_EQ(0, vq_used_idx(&q[2]));
	EXPECT_EQ(1, vq_used_idx(&q[3]));
	EXPECT_EQ(0, memcmp(e + 80 * 512, vg_ptr(vm, buf[3]), 4096));
	EXPECT_EQ(0, memcmp(e + 88 * 512, vg_ptr(vm, buf[1]), 4096));
	EXPECT_EQ(0, memcmp(e + 96 * 512, vg_ptr(vm, buf[2]), 4096));
	free(e);
}

#define BATCH_K		16	/* 8 writes and 8 reads per round */
#define BATCH_ROUNDS	32

/*
 * 512 requests from a loop inside the guest (VG_OP_BATCH): it re-posts
 * the same 16 heads, notifies and halts until they are used, 32 times,
 * all in one KVM_RUN. The stats, the used ring and the data agree.
 */
TEST_F_TIMEOUT(blk, zero_exit_batch, 600)
{
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q;
	struct vg_batch *b = vg_ptr(vm, VG_BATCH);
	struct vg_blk_req r[BATCH_K];
	struct modvm_virtio_stats s;
	uint64_t buf[BATCH_K];
	uint8_t *e = expected_file();
	uint64_t irqs;
	int i, k;

	start(_metadata, self, V1 | F(VIRTIO_RING_F_EVENT_IDX));
	memset(b, 0, sizeof(*b));
	for (i = 0; i < BATCH_K; i++) {
		bool wr = i < BATCH_K / 2;

		buf[i] = wr ? buffer(vm, 4096, 300 + i) : vg_alloc(vm, 4096, 4096);
		/* Writes to sectors 0.., reads from 512.. (never written). */
		vg_blk_req(q, &r[i], wr ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
			   wr ? 8 * i : 512 + 8 * i, buf[i], 4096, false);
		b->heads[i] = r[i].head;
	}
	b->avail = q->avail;
	b->used_idx = q->used + 2;
	b->notify = vg_reg(&self->dev, VIRTIO_MMIO_QUEUE_NOTIFY);
	b->used_event = q->avail + 4 + 2 * QSIZE;
	b->queue = 0;
	b->mask = QSIZE - 1;
	b->k = BATCH_K;
	b->rounds = BATCH_ROUNDS;
	b->ticks = VG_TIMEOUT;
	vg_cmd(vm, VG_OP_BATCH, 0, VG_BATCH, 0, 0);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));

	EXPECT_EQ((uint32_t)BATCH_ROUNDS, b->done);
	EXPECT_EQ(BATCH_K * BATCH_ROUNDS, vq_used_idx(q));
	EXPECT_EQ(BATCH_K * BATCH_ROUNDS, q->a->idx);
	vg_stats(&self->dev, &s);
	EXPECT_EQ((uint64_t)BATCH_K * BATCH_ROUNDS, s.requests);
	EXPECT_EQ((uint64_t)BATCH_ROUNDS, s.notifies);
	EXPECT_EQ((uint64_t)BATCH_ROUNDS, s.interrupts);
	EXPECT_EQ(BATCH_ROUNDS * BATCH_K / 2 * 4096ull, s.write_bytes);
	EXPECT_EQ(BATCH_ROUNDS * BATCH_K / 2 * 4096ull, s.read_bytes);
	EXPECT_EQ(0u, s.errors);
	EXPECT_EQ(0u, s.inflight);
	irqs = vg_state(&self->dev)->irqs;
	EXPECT_LE(1u, irqs);
	EXPECT_GE((uint64_t)BATCH_ROUNDS, irqs);
	/* The whole used ring holds the last rounds: every head, right len. */
	for (k = 0; k < QSIZE; k++) {
		struct vring_used_elem u = vq_used(q, k);

		for (i = 0; i < BATCH_K && r[i].head != u.id; i++)
			;
		ASSERT_GT(BATCH_K, i);
		EXPECT_EQ(i < BATCH_K / 2 ? 1u : 4097u, u.len);
	}
	for (i = 0; i < BATCH_K; i++) {
		EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &r[i]));
		if (i < BATCH_K / 2) {
			EXPECT_TRUE(file_equals(self->file, 8 * 512 * i, vg_ptr(vm, buf[i]), 4096));
		} else {
			EXPECT_EQ(0, memcmp(e + (512 + 8 * i) * 512, vg_ptr(vm, buf[i]), 4096));
		}
	}
	free(e);
}

/*
 * O_DIRECT over a host block device (a brd ramdisk: /dev/ram0, or the
 * device $MODVM_TEST_BLKDEV names): capacity from the device's size,
 * writes reach the device past the page cache, reads return what was
 * written there, from page-aligned and 512-aligned guest buffers; the
 * block device's page cache holds none of it.
 */
TEST_F_TIMEOUT(blk, blkdev_o_direct, 300)
{
	const char *path = getenv("MODVM_TEST_BLKDEV");
	struct vg_vm *vm = &self->vm;
	struct modvm_virtio_create c;
	uint64_t size = 0, cap_lo, cap_hi, w, rd, odd;
	struct vg_queue q;
	struct vg_dev bd;
	unsigned char resident[256 * 512 / 4096];
	uint8_t *host;
	void *cache;
	uint32_t len;
	int fd, i;

	if (!path || !*path)
		path = "/dev/ram0";
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, "no block device at %s (modprobe brd)", path);
	ASSERT_EQ(0, ioctl(fd, BLKGETSIZE64, &size));
	ASSERT_LE(1u << 20, size);
	ASSERT_EQ(0, posix_memalign((void **)&host, 4096, 8192));

	vg_create_args(&c, MODVM_VIRTIO_BLK, 1);
	c.fd = fd;
	ASSERT_EQ(0, vg_dev_create(vm, &bd, &c));
	vq_init(&q, &bd, 0, 16);
	ASSERT_EQ(0, vg_setup(&bd, V1, &q, 1));
	i = vg_r32(vm, vg_reg(&bd, CFG(capacity)));
	vg_r32(vm, vg_reg(&bd, CFG(capacity) + 4));
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	cap_lo = vg_result(vm, i);
	cap_hi = vg_result(vm, i + 1);
	EXPECT_EQ(size / 512, cap_lo | cap_hi << 32);

	w = buffer(vm, 8192, 11);
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q, VIRTIO_BLK_T_OUT, 16, w, 8192, &len));
	EXPECT_EQ(1u, len);
	ASSERT_EQ(8192, pread(fd, host, 8192, 16 * 512));
	EXPECT_EQ(0, memcmp(host, vg_ptr(vm, w), 8192));

	vg_fill(host, 8192, 12);
	ASSERT_EQ(8192, pwrite(fd, host, 8192, 64 * 512));
	rd = vg_alloc(vm, 8192, 4096);
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q, VIRTIO_BLK_T_IN, 64, rd, 8192, &len));
	EXPECT_EQ(8193u, len);
	EXPECT_EQ(0, memcmp(host, vg_ptr(vm, rd), 8192));
	/* A guest buffer aligned to 512 only, crossing a page. */
	odd = vg_alloc(vm, 8192, 4096) + 512;
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q, VIRTIO_BLK_T_IN, 64, odd, 4096, &len));
	EXPECT_EQ(0, memcmp(host, vg_ptr(vm, odd), 4096));
	EXPECT_EQ(VIRTIO_BLK_S_OK, blk_do(_metadata, &q, VIRTIO_BLK_T_OUT, 200, odd, 4096, &len));
	ASSERT_EQ(4096, pread(fd, host, 4096, 200 * 512));
	EXPECT_EQ(0, memcmp(host, vg_ptr(vm, odd), 4096));

	/* None of it went through the device's page cache. */
	cache = mmap(NULL, 256 * 512, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, cache);
	ASSERT_EQ(0, mincore(cache, 256 * 512, resident));
	for (i = 0, len = 0; i < 256 * 512 / 4096; i++)
		len += resident[i] & 1;
	EXPECT_EQ(0u, len);
	munmap(cache, 256 * 512);
	free(host);
	close(fd);
}

TEST_HARNESS_MAIN
