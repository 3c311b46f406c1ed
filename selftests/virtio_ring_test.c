// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed virtqueues (virtio 1.2 §2.7) given to the in-kernel virtio-blk
 * device, one case per variant, each on a fresh device: an avail index
 * more than QueueNum ahead; a head or next index >= QueueNum; a
 * descriptor loop; a chain longer than QueueNum; descriptors outside
 * guest memory (start, end, wrapping address) or device-writable in a
 * KVM_MEM_READONLY slot; a readable descriptor after a writable one;
 * indirect tables of bad length, outside memory, nested or with NEXT;
 * descriptor, avail and used rings outside guest memory (also through
 * QueueDescHigh, over a good table 4 GiB below); a request with
 * no writable status byte or a header shorter than 16 bytes.
 *
 * Each must set DEVICE_NEEDS_RESET in Status, raise a config-change
 * interrupt (InterruptStatus bit 1), change ConfigGeneration and stop the
 * queue (stats.broken_queues; a good request after it is not completed)
 * without completing anything; a device of a second VM in the same
 * process keeps working; after a reset the device works again.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "virtio_guest.h"

#define V1		(1ull << VIRTIO_F_VERSION_1)
#define INDIRECT	(1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define QSIZE		8
#define FILE_SIZE	(256 << 10)
#define SEED		3
#define OOB		0x800000ull	/* in no memslot */
#define RO_GPA		0x1000000ull	/* the read-only slot */
#define RO_SIZE		0x10000
#define RO_SLOT		1
#define S_LIVE		(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)
#define W		VRING_DESC_F_WRITE

enum hostile {
	AVAIL_AHEAD, HEAD_OOB, NEXT_OOB, DESC_LOOP, CHAIN_LONG,
	DESC_OOB_READ, DESC_OOB_WRITE, DESC_END_OOB, DESC_WRAP, RO_SLOT_WRITE,
	READ_AFTER_WRITE, IND_LEN_ODD, IND_LEN_ZERO, IND_OOB, IND_NESTED,
	IND_NEXT, DESC_RING_OOB, DESC_RING_PARTIAL, DESC_RING_HIGH, AVAIL_RING_OOB,
	USED_RING_OOB, NO_STATUS, STATUS_READABLE, SHORT_HEADER,
};

FIXTURE(ring) {
	struct vg_vm vm, vm2;
	struct vg_dev dev, dev2;
	struct vg_queue q, q2;
	void *rom;
	int file;
	uint32_t gen0;		/* ConfigGeneration before DRIVER_OK */
};

FIXTURE_VARIANT(ring) {
	enum hostile kind;
};

FIXTURE_VARIANT_ADD(ring, avail_idx_ahead) { .kind = AVAIL_AHEAD };
FIXTURE_VARIANT_ADD(ring, head_out_of_range) { .kind = HEAD_OOB };
FIXTURE_VARIANT_ADD(ring, next_out_of_range) { .kind = NEXT_OOB };
FIXTURE_VARIANT_ADD(ring, descriptor_loop) { .kind = DESC_LOOP };
FIXTURE_VARIANT_ADD(ring, chain_longer_than_queue) { .kind = CHAIN_LONG };
FIXTURE_VARIANT_ADD(ring, readable_outside_memory) { .kind = DESC_OOB_READ };
FIXTURE_VARIANT_ADD(ring, writable_outside_memory) { .kind = DESC_OOB_WRITE };
FIXTURE_VARIANT_ADD(ring, buffer_across_memory_end) { .kind = DESC_END_OOB };
FIXTURE_VARIANT_ADD(ring, buffer_address_wraps) { .kind = DESC_WRAP };
FIXTURE_VARIANT_ADD(ring, writable_in_readonly_slot) { .kind = RO_SLOT_WRITE };
FIXTURE_VARIANT_ADD(ring, readable_after_writable) { .kind = READ_AFTER_WRITE };
FIXTURE_VARIANT_ADD(ring, indirect_len_not_16n) { .kind = IND_LEN_ODD };
FIXTURE_VARIANT_ADD(ring, indirect_len_zero) { .kind = IND_LEN_ZERO };
FIXTURE_VARIANT_ADD(ring, indirect_outside_memory) { .kind = IND_OOB };
FIXTURE_VARIANT_ADD(ring, indirect_nested) { .kind = IND_NESTED };
FIXTURE_VARIANT_ADD(ring, indirect_with_next) { .kind = IND_NEXT };
FIXTURE_VARIANT_ADD(ring, desc_ring_outside_memory) { .kind = DESC_RING_OOB };
FIXTURE_VARIANT_ADD(ring, desc_ring_across_memory_end) { .kind = DESC_RING_PARTIAL };
FIXTURE_VARIANT_ADD(ring, desc_ring_above_4g) { .kind = DESC_RING_HIGH };
FIXTURE_VARIANT_ADD(ring, avail_ring_outside_memory) { .kind = AVAIL_RING_OOB };
FIXTURE_VARIANT_ADD(ring, used_ring_outside_memory) { .kind = USED_RING_OOB };
FIXTURE_VARIANT_ADD(ring, no_status_byte) { .kind = NO_STATUS };
FIXTURE_VARIANT_ADD(ring, status_byte_readable) { .kind = STATUS_READABLE };
FIXTURE_VARIANT_ADD(ring, header_short) { .kind = SHORT_HEADER };

static void blk_dev(struct __test_metadata *_metadata, struct vg_vm *vm,
		    struct vg_dev *dev, int file)
{
	struct modvm_virtio_create c;

	vg_create_args(&c, MODVM_VIRTIO_BLK, 0);
	c.fd = file;
	c.queue_size = QSIZE;
	ASSERT_EQ(0, vg_dev_create(vm, dev, &c));
}

FIXTURE_SETUP(ring)
{
	int st, rdy, gen;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	self->file = vg_backing(FILE_SIZE, SEED, O_RDWR);
	vg_vm_create(&self->vm);
	vg_vm_create(&self->vm2);
	blk_dev(_metadata, &self->vm, &self->dev, self->file);
	blk_dev(_metadata, &self->vm2, &self->dev2, self->file);

	vq_init(&self->q, &self->dev, 0, QSIZE);
	/* The rings the device is given; the host still fills the originals. */
	switch (variant->kind) {
	case DESC_RING_OOB:
		self->q.desc = OOB;
		break;
	case DESC_RING_PARTIAL:
		self->q.desc = GUEST_MEM_SIZE - 4 * 16;
		break;
	case DESC_RING_HIGH:
		/* QueueDescHigh 1: the table the host fills is 4 GiB below. */
		self->q.desc += 1ull << 32;
		break;
	case AVAIL_RING_OOB:
		self->q.avail = OOB;
		break;
	case USED_RING_OOB:
		self->q.used = OOB;
		break;
	case RO_SLOT_WRITE:
		self->rom = mmap(NULL, RO_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, self->rom);
		ASSERT_EQ(0, modvm_set_memslot(self->vm.g.vm, RO_SLOT, KVM_MEM_READONLY,
					       RO_GPA, RO_SIZE, self->rom));
		break;
	default:
		break;
	}
	/*
	 * DRIVER_OK looks at the avail ring already (one outside memory
	 * breaks the queue right there): ConfigGeneration before it.
	 */
	st = vg_negotiate_cmds(&self->dev, V1 | INDIRECT);
	rdy = vq_setup_cmds(&self->q);
	gen = vg_r32(&self->vm, vg_reg(&self->dev, VIRTIO_MMIO_CONFIG_GENERATION));
	vg_w32(&self->vm, vg_reg(&self->dev, VIRTIO_MMIO_STATUS), S_LIVE);
	ASSERT_EQ(GUEST_DONE, vg_exec(&self->vm, NULL));
	ASSERT_EQ((uint64_t)S_LIVE & ~VIRTIO_CONFIG_S_DRIVER_OK, vg_result(&self->vm, st));
	ASSERT_EQ(1u, vg_result(&self->vm, rdy));
	self->gen0 = vg_result(&self->vm, gen);
	vq_init(&self->q2, &self->dev2, 0, QSIZE);
	ASSERT_EQ(0, vg_setup(&self->dev2, V1, &self->q2, 1));
}

FIXTURE_TEARDOWN(ring)
{
	vg_vm_destroy(&self->vm);
	vg_vm_destroy(&self->vm2);
	close(self->file);
	if (self->rom)
		munmap(self->rom, RO_SIZE);
}

/* A 16-byte request header of @type in fresh memory. */
static uint64_t header(struct vg_vm *vm, uint32_t type)
{
	uint64_t gpa = vg_alloc(vm, 16, 16);
	struct virtio_blk_outhdr *h = vg_ptr(vm, gpa);

	h->type = type;
	h->sector = 0;
	return gpa;
}

/* A status byte in fresh memory, 0xff. */
static uint64_t status_byte(struct vg_vm *vm)
{
	uint64_t gpa = vg_alloc(vm, 1, 1);

	*(uint8_t *)vg_ptr(vm, gpa) = 0xff;
	return gpa;
}

/* An indirect table of @n entries in fresh memory; returns its GPA. */
static uint64_t table(struct vg_vm *vm, const struct vg_buf *b, int n)
{
	uint64_t gpa = vg_alloc(vm, 16 * n, 16);

	vg_indirect_table(vm, gpa, b, n);
	return gpa;
}

/* Build and post the malformed request of @kind (the device not told). */
static void post_hostile(FIXTURE_DATA(ring) *self, enum hostile kind)
{
	struct vg_vm *vm = &self->vm;
	struct vg_queue *q = &self->q;
	uint64_t in = header(vm, VIRTIO_BLK_T_IN);
	uint64_t out = header(vm, VIRTIO_BLK_T_OUT);
	uint64_t flush = header(vm, VIRTIO_BLK_T_FLUSH);
	uint64_t st = status_byte(vm);
	uint64_t data = vg_alloc(vm, 4096, 4096);
	struct vg_buf b[QSIZE + 1], ind;
	uint16_t h;
	int i;

	switch (kind) {
	case AVAIL_AHEAD:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		b[1] = (struct vg_buf){ st, 1, W };
		h = vq_chain(q, vq_alloc(q, 2), b, 2);
		for (i = 0; i < QSIZE; i++)
			q->a->ring[i] = h;
		q->avail_idx = QSIZE + 1;
		q->a->idx = q->avail_idx;
		return;
	case HEAD_OOB:
		vq_post(q, QSIZE);
		return;
	case NEXT_OOB:
		h = vq_alloc(q, 1);
		q->d[h] = (struct vring_desc){ flush, 16, VRING_DESC_F_NEXT, QSIZE };
		break;
	case DESC_LOOP:
		h = vq_alloc(q, 2);
		q->d[h] = (struct vring_desc){ in, 16, VRING_DESC_F_NEXT, h + 1 };
		q->d[h + 1] = (struct vring_desc){ data, 512, W | VRING_DESC_F_NEXT, h };
		break;
	case CHAIN_LONG:
		/* QSIZE + 1 descriptors in an indirect table, no loop. */
		b[0] = (struct vg_buf){ out, 16, 0 };
		for (i = 1; i < QSIZE; i++)
			b[i] = (struct vg_buf){ data, 512, 0 };
		b[QSIZE] = (struct vg_buf){ st, 1, W };
		ind = (struct vg_buf){ table(vm, b, QSIZE + 1), 16 * (QSIZE + 1),
				       VRING_DESC_F_INDIRECT };
		h = vq_chain(q, vq_alloc(q, 1), &ind, 1);
		break;
	case DESC_OOB_READ:
	case DESC_OOB_WRITE:
	case DESC_END_OOB:
	case DESC_WRAP:
	case RO_SLOT_WRITE:
		b[0] = (struct vg_buf){ kind == DESC_OOB_READ ? out : in, 16, 0 };
		b[1] = (struct vg_buf){ OOB, 512, kind == DESC_OOB_READ ? 0 : W };
		if (kind == DESC_END_OOB)
			b[1] = (struct vg_buf){ GUEST_MEM_SIZE - 512, 1024, W };
		if (kind == DESC_WRAP)
			b[1] = (struct vg_buf){ ~0ull - 511, 1024, W };
		if (kind == RO_SLOT_WRITE)
			b[1] = (struct vg_buf){ RO_GPA, 512, W };
		b[2] = (struct vg_buf){ st, 1, W };
		h = vq_chain(q, vq_alloc(q, 3), b, 3);
		break;
	case READ_AFTER_WRITE:
		b[0] = (struct vg_buf){ in, 16, 0 };
		b[1] = (struct vg_buf){ data, 512, W };
		b[2] = (struct vg_buf){ data + 512, 512, 0 };
		b[3] = (struct vg_buf){ st, 1, W };
		h = vq_chain(q, vq_alloc(q, 4), b, 4);
		break;
	case IND_LEN_ODD:
	case IND_LEN_ZERO:
	case IND_OOB:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		b[1] = (struct vg_buf){ st, 1, W };
		ind = (struct vg_buf){ table(vm, b, 2), 32, VRING_DESC_F_INDIRECT };
		if (kind == IND_LEN_ODD)
			ind.len = 24;
		if (kind == IND_LEN_ZERO)
			ind.len = 0;
		if (kind == IND_OOB)
			ind.addr = OOB;
		h = vq_chain(q, vq_alloc(q, 1), &ind, 1);
		break;
	case IND_NESTED:
		b[0] = (struct vg_buf){ data, 512, W };
		b[1] = (struct vg_buf){ table(vm, b, 1), 16, VRING_DESC_F_INDIRECT };
		b[0] = (struct vg_buf){ in, 16, 0 };
		b[2] = (struct vg_buf){ st, 1, W };
		ind = (struct vg_buf){ table(vm, b, 3), 48, VRING_DESC_F_INDIRECT };
		h = vq_chain(q, vq_alloc(q, 1), &ind, 1);
		break;
	case IND_NEXT:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		b[1] = (struct vg_buf){ st, 1, W };
		h = vq_alloc(q, 2);
		q->d[h] = (struct vring_desc){ table(vm, b, 2), 32,
					       VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
					       h + 1 };
		q->d[h + 1] = (struct vring_desc){ status_byte(vm), 1, W, 0 };
		break;
	case DESC_RING_OOB:
		h = 0;
		break;
	case DESC_RING_HIGH:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		b[1] = (struct vg_buf){ st, 1, W };
		h = vq_chain(q, vq_alloc(q, 2), b, 2);
		break;
	case DESC_RING_PARTIAL:
		h = QSIZE - 1;		/* the 4 last descriptors lie beyond */
		break;
	case AVAIL_RING_OOB:
		return;
	case USED_RING_OOB:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		b[1] = (struct vg_buf){ st, 1, W };
		h = vq_chain(q, vq_alloc(q, 2), b, 2);
		break;
	case NO_STATUS:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		h = vq_chain(q, vq_alloc(q, 1), b, 1);
		break;
	case STATUS_READABLE:
		b[0] = (struct vg_buf){ flush, 16, 0 };
		b[1] = (struct vg_buf){ st, 1, 0 };
		h = vq_chain(q, vq_alloc(q, 2), b, 2);
		break;
	case SHORT_HEADER:
		b[0] = (struct vg_buf){ flush, 8, 0 };
		b[1] = (struct vg_buf){ st, 1, W };
		h = vq_chain(q, vq_alloc(q, 2), b, 2);
		break;
	default:
		return;
	}
	vq_post(q, h);
}

TEST_F_TIMEOUT(ring, breaks_only_its_queue, 300)
{
	struct vg_vm *vm = &self->vm;
	struct vg_dev *d = &self->dev;
	struct vg_queue *q = &self->q, q3;
	struct modvm_virtio_stats s;
	struct vg_blk_req good, good2, good3;
	uint64_t buf, buf2, buf3;
	uint8_t expect[512];
	int st, gen, isr;
	uint32_t len;

	vg_fill(expect, 512, SEED);
	post_hostile(self, variant->kind);
	vq_notify_cmd(q);
	vg_wait_irqs(d, 1, VG_TIMEOUT);
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	gen = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_CONFIG_GENERATION));
	isr = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	EXPECT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET, vg_result(vm, st));
	EXPECT_NE(self->gen0, vg_result(vm, gen));
	EXPECT_EQ(1u, vg_state(d)->irqs);
	EXPECT_EQ((uint64_t)VIRTIO_MMIO_INT_CONFIG, vg_state(d)->isr_or);
	EXPECT_EQ(0u, vg_result(vm, isr));	/* the handler acked it */
	vg_stats(d, &s);
	EXPECT_EQ(1u, s.broken_queues);
	EXPECT_EQ(S_LIVE | VIRTIO_CONFIG_S_NEEDS_RESET, s.status);
	EXPECT_EQ(0u, s.requests);
	EXPECT_EQ(0, vq_used_idx(q));

	/* The queue stays stopped: a good request is not completed. */
	buf = vg_alloc(vm, 512, 512);
	vg_blk_req(q, &good, VIRTIO_BLK_T_IN, 0, buf, 512, false);
	vq_post(q, good.head);
	vq_notify_cmd(q);
	vg_wait_ticks(vm, 20);
	EXPECT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0, vq_used_idx(q));
	EXPECT_EQ(0xff, vg_blk_status(vm, &good));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.requests);
	EXPECT_EQ(1u, s.broken_queues);

	/* The other VM's device is fine. */
	buf2 = vg_alloc(&self->vm2, 512, 512);
	vg_blk_req(&self->q2, &good2, VIRTIO_BLK_T_IN, 0, buf2, 512, false);
	EXPECT_EQ(GUEST_DONE, vq_run(&self->q2, &good2.head, 1));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(&self->vm2, &good2));
	EXPECT_EQ(0, memcmp(expect, vg_ptr(&self->vm2, buf2), 512));

	/* A reset clears it all; the device works again on good rings. */
	vg_w32(vm, vg_reg(d, VIRTIO_MMIO_STATUS), 0);
	st = vg_r32(vm, vg_reg(d, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(GUEST_DONE, vg_exec(vm, NULL));
	EXPECT_EQ(0u, vg_result(vm, st));
	vg_stats(d, &s);
	EXPECT_EQ(0u, s.broken_queues);
	EXPECT_EQ(0u, s.status);
	vq_init(&q3, d, 0, QSIZE);
	ASSERT_EQ(0, vg_setup(d, V1, &q3, 1));
	buf3 = vg_alloc(vm, 512, 512);
	vg_blk_req(&q3, &good3, VIRTIO_BLK_T_IN, 0, buf3, 512, false);
	EXPECT_EQ(GUEST_DONE, vq_run(&q3, &good3.head, 1));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(vm, &good3));
	EXPECT_EQ(0, vq_find_used(&q3, good3.head, 0, 1, &len));
	EXPECT_EQ(513u, len);
	EXPECT_EQ(0, memcmp(expect, vg_ptr(vm, buf3), 512));
}

TEST_HARNESS_MAIN
