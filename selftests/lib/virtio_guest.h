/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Driving an in-kernel virtio-mmio device (MODVM_CREATE_VIRTIO) from a
 * guest, so that every register access is a real guest access through the
 * VM's in-kernel MMIO bus.
 *
 * The guest runs a small interpreter (the "proxy") over a list of commands
 * the host puts in guest memory: 1/2/4/8-byte writes and reads at any
 * guest-physical address (results stored back into the command), waits
 * until a 16-bit value in guest memory equals X or a 64-bit counter reaches
 * N (halting with interrupts on, bounded by a tick count), and a fully
 * in-guest request loop (VG_OP_BATCH). A list ends in a GUEST_DONE call
 * (GUEST_FAIL with RBX = the failing command's address on a timeout), so
 * KVM_RUN returns only when the guest calls.
 *
 * The guest's local APIC timer ticks every VG_TICK_MS (the clock of every
 * bound); each device gets an IOAPIC pin, level-triggered and active high,
 * routed to vector VG_VEC(index), whose handler reads InterruptStatus,
 * writes it to InterruptACK, counts the interrupt and records the bits.
 *
 * The host side builds descriptor tables and rings in guest memory and
 * sequences the driver's steps as command lists.
 */
#ifndef MODVM_SELFTEST_VIRTIO_GUEST_H
#define MODVM_SELFTEST_VIRTIO_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

/* Guest memory (plain numbers: pasted into guest assembly too). */
#define VG_TICKS		0x20000		/* u64: timer ticks */
#define VG_DEVS			0x20040		/* struct vg_devstate[VG_MAX_DEVS] */
#define VG_CMDS			0x21000		/* struct vg_cmd[VG_MAX_CMDS] */
#define VG_MAX_CMDS		256
#define VG_BATCH		0x23000		/* struct vg_batch */
#define VG_HEAP			0x100000	/* vg_alloc() from here to the end */

#define VG_MMIO_BASE		0x10000000	/* no memslot; identity-mapped */
#define VG_MAX_DEVS		4
#define VG_TIMER_VEC		0x30
#define VG_VEC0			0x40		/* device i: VG_VEC0 + i */
#define VG_SPURIOUS_VEC		0xff
#define VG_GSI0			16		/* device i: IOAPIC pin 16 + i */
#define VG_TICK_MS		10
#define VG_TICK_COUNT		10000000	/* APIC timer: 1 ns per count */

/* A bound for waits that must succeed: generous for bochs. */
#define VG_TIMEOUT		3000		/* ticks */

/* Commands. */
#define VG_OP_END		0
#define VG_OP_WRITE		1	/* *(size)addr = val */
#define VG_OP_READ		2	/* val = *(size)addr */
#define VG_OP_SPIN16		3	/* until *(u16)addr == val, arg ticks */
#define VG_OP_WAITGE		4	/* until *(u64)addr >= val, arg ticks */
#define VG_OP_BATCH		5	/* struct vg_batch at addr */

#define VG_VEC(i)		(VG_VEC0 + (i))
#define VG_GSI(i)		(VG_GSI0 + (i))
#define VG_MMIO(i)		(VG_MMIO_BASE + 0x1000ull * (i))

/* One command, 32 bytes. */
struct vg_cmd {
	uint32_t op;
	uint32_t size;
	uint64_t addr;
	uint64_t val;
	uint64_t arg;
};

/* What the interrupt handler of device i keeps (at VG_DEVS + 64 * i). */
struct vg_devstate {
	uint64_t base;		/* the register page (set by the host) */
	uint64_t irqs;		/* interrupts taken */
	uint64_t isr_or;	/* OR of the InterruptStatus values read */
	uint64_t isr_last;	/* the last one */
	uint64_t spurious;	/* interrupts that found InterruptStatus 0 */
	uint64_t pad[3];
};

/*
 * VG_OP_BATCH: @rounds times, put @heads into the avail ring, set
 * used_event to the last of them, publish the avail index, write @queue to
 * QueueNotify and halt until the used index catches up (at most @ticks per
 * round). @done counts the rounds completed.
 */
#define VG_BATCH_MAX		64
struct vg_batch {
	uint64_t avail;		/* GPA of the avail ring */
	uint64_t used_idx;	/* GPA of used->idx */
	uint64_t notify;	/* GPA of QueueNotify */
	uint64_t used_event;	/* GPA of the avail ring's used_event */
	uint32_t queue;
	uint32_t mask;		/* queue size - 1 */
	uint32_t k;
	uint32_t rounds;
	uint32_t ticks;
	uint32_t done;
	uint16_t heads[VG_BATCH_MAX];
};

/* A VM with the in-kernel irqchip and one vCPU running the proxy. */
struct vg_vm {
	struct guest g;
	struct guest_vcpu *v;
	uint64_t heap;
	int ncmds;
	int ndevs;
	int devfd[VG_MAX_DEVS];
};

struct vg_dev {
	struct vg_vm *vm;
	int fd;
	int index;
	uint64_t base;
	uint32_t gsi;
};

struct vg_queue {
	struct vg_dev *dev;
	uint16_t index;
	uint16_t size;
	uint64_t desc, avail, used;	/* GPAs */
	struct vring_desc *d;
	struct vring_avail *a;
	struct vring_used *u;
	uint16_t avail_idx;		/* the driver's next avail index */
	uint16_t next_desc;		/* vq_alloc() */
};

/* A buffer of a descriptor chain. */
struct vg_buf {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;		/* VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT */
};

/*
 * vg_vm_create() - a VM with GUEST_MEM_SIZE bytes, KVM_CREATE_IRQCHIP, one
 * vCPU in long mode running the proxy, its local APIC enabled and ticking.
 * Aborts on failure.
 */
void vg_vm_create(struct vg_vm *vm);

/* Close the devices created through vg_dev_create(), then the VM. */
void vg_vm_destroy(struct vg_vm *vm);

/* @size zeroed bytes of guest memory aligned to @align; aborts when full. */
uint64_t vg_alloc(struct vg_vm *vm, uint64_t size, uint64_t align);

/* Host pointer to guest-physical @gpa. */
void *vg_ptr(struct vg_vm *vm, uint64_t gpa);

/*
 * vg_create_args() - MODVM_CREATE_VIRTIO arguments of device number @index
 * of a VM: the page VG_MMIO(@index), pin VG_GSI(@index); fd -1.
 */
void vg_create_args(struct modvm_virtio_create *c, uint32_t type, int index);

/*
 * vg_dev_create() - MODVM_CREATE_VIRTIO with @c (whose mmio_base and gsi
 * must be those of vg_create_args() with the VM's next index); on success
 * the guest routes the pin to the device's vector. 0 or -errno.
 */
int vg_dev_create(struct vg_vm *vm, struct vg_dev *dev,
		  struct modvm_virtio_create *c);

/* Guest-physical address of register @off of @dev. */
static inline uint64_t vg_reg(const struct vg_dev *dev, uint32_t off)
{
	return dev->base + off;
}

/* The interrupt handler's record of @dev. */
struct vg_devstate *vg_state(const struct vg_dev *dev);

/* Timer ticks the guest counted so far. */
uint64_t vg_ticks(struct vg_vm *vm);

/* Append a command to the list; returns its index (for vg_result()). */
int vg_cmd(struct vg_vm *vm, uint32_t op, uint32_t size, uint64_t addr,
	   uint64_t val, uint64_t arg);
int vg_w32(struct vg_vm *vm, uint64_t addr, uint32_t val);
int vg_r32(struct vg_vm *vm, uint64_t addr);
/* Wait until the u16 at @gpa is @val (the used index, say). */
int vg_spin16(struct vg_vm *vm, uint64_t gpa, uint16_t val, uint64_t ticks);
/* Wait until @dev took @n interrupts in all. */
int vg_wait_irqs(struct vg_dev *dev, uint64_t n, uint64_t ticks);
/* Let @n ticks pass in the guest (interrupts on). */
int vg_wait_ticks(struct vg_vm *vm, uint64_t n);

/*
 * vg_exec() - end the list and run the guest until it calls: GUEST_DONE
 * when every command completed, GUEST_FAIL when a wait timed out (the
 * failing command's index in *@failed, if not NULL), GUEST_NOT_A_CALL for
 * any other exit (left in vm->v->run). The list is empty afterwards; the
 * results stay readable until the next vg_cmd().
 */
long vg_exec(struct vg_vm *vm, int *failed);

/* Run on after an exit vg_exec() did not expect, to the next call. */
long vg_resume(struct vg_vm *vm, int *failed);

/* The value a VG_OP_READ command read. */
uint64_t vg_result(struct vg_vm *vm, int index);

/* One register access in a list of its own; abort when the guest fails. */
uint32_t vg_read_reg(struct vg_dev *dev, uint32_t off);
void vg_write_reg(struct vg_dev *dev, uint32_t off, uint32_t val);

/*
 * vg_negotiate_cmds() - append reset, ACKNOWLEDGE, DRIVER, the driver
 * features and FEATURES_OK; returns the index of the read of Status that
 * follows.
 */
int vg_negotiate_cmds(struct vg_dev *dev, uint64_t features);

/*
 * vq_init() - rings for queue @index of @dev with @size entries, in fresh
 * guest memory (desc 4 KiB aligned, avail and used each on their pages).
 */
void vq_init(struct vg_queue *q, struct vg_dev *dev, uint16_t index,
	     uint16_t size);

/*
 * vq_setup_cmds() - append QueueSel, QueueNum, the ring addresses and
 * QueueReady = 1; returns the index of the read of QueueReady that follows.
 */
int vq_setup_cmds(struct vg_queue *q);

/*
 * vg_setup() - reset the device, negotiate @features, set up @nq queues
 * (already vq_init()ed) and DRIVER_OK, in one list. 0, or -1 when
 * FEATURES_OK or a QueueReady did not read back set.
 */
int vg_setup(struct vg_dev *dev, uint64_t features, struct vg_queue *qs,
	     int nq);

/* Append a QueueNotify of @q. */
int vq_notify_cmd(struct vg_queue *q);

/* @n consecutive free descriptors (wrapping to 0); returns the first. */
uint16_t vq_alloc(struct vg_queue *q, uint16_t n);

/* Write descriptors @head.. chained over @bufs; returns @head. */
uint16_t vq_chain(struct vg_queue *q, uint16_t head, const struct vg_buf *bufs,
		  int n);

/* Descriptor chain in an indirect table at @table (16-aligned GPA). */
void vg_indirect_table(struct vg_vm *vm, uint64_t table,
		       const struct vg_buf *bufs, int n);

/* Put @head into the avail ring and publish the new index. */
void vq_post(struct vg_queue *q, uint16_t head);

/* The used index and the @i-th used element (host reads). */
uint16_t vq_used_idx(struct vg_queue *q);
struct vring_used_elem vq_used(struct vg_queue *q, uint16_t i);

/*
 * vq_find_used() - the used element for @head among used entries
 * [@from, @to): its index, with its length in *@len; -1 when absent.
 */
int vq_find_used(struct vg_queue *q, uint16_t head, uint16_t from, uint16_t to,
		 uint32_t *len);

/*
 * vq_run() - post @n heads, notify once and wait in the guest until the
 * used index catches up with the avail index: vg_exec()'s result.
 */
long vq_run(struct vg_queue *q, const uint16_t *heads, int n);

/* The avail ring's used_event and the used ring's avail_event. */
uint16_t *vq_used_event(struct vg_queue *q);
uint16_t *vq_avail_event(struct vg_queue *q);

/*
 * vq_host_wait() - poll the used index from the host (the guest not
 * running) until it is @idx; true on time, false after @ms.
 */
bool vq_host_wait(struct vg_queue *q, uint16_t idx, int ms);

/* MODVM_VIRTIO_GET_STATS; aborts on failure. */
void vg_stats(struct vg_dev *dev, struct modvm_virtio_stats *s);

/* Whether the IOAPIC sees @gsi's line up now (KVM_GET_IRQCHIP irr). */
bool vg_line_up(struct vg_vm *vm, uint32_t gsi);

/*
 * A block request in the usual layout: a 16-byte header (readable), the
 * data (readable for OUT, writable otherwise, absent when @len is 0) and
 * the status byte (writable), in three consecutive descriptors or, with
 * @indirect, in an indirect table. The status byte starts as 0xff.
 */
struct vg_blk_req {
	uint16_t head;
	uint64_t hdr;		/* GPA of struct virtio_blk_outhdr */
	uint64_t data;
	uint32_t len;
	uint64_t status;	/* GPA of the status byte */
};
void vg_blk_req(struct vg_queue *q, struct vg_blk_req *r, uint32_t type,
		uint64_t sector, uint64_t data, uint32_t len, bool indirect);

/* The status byte of @r. */
uint8_t vg_blk_status(struct vg_vm *vm, const struct vg_blk_req *r);

/*
 * vg_backing() - a file of @size bytes in $TMPDIR (else /tmp), already
 * unlinked, filled with vg_fill(@seed); opened with @flags (O_RDWR...).
 */
int vg_backing(uint64_t size, uint32_t seed, int flags);

/* Deterministic pseudo-random bytes: the same @seed gives the same data. */
void vg_fill(void *buf, uint64_t len, uint32_t seed);

/*
 * Whether the device under test serves virtio @type: modvm must (so a
 * missing type fails); another device (KVM) is skipped by the caller.
 */
int vg_types(uint64_t *mask);

#define VG_REQUIRE_TYPE(type)						\
	do {								\
		uint64_t __mask = 0;					\
		GUEST_REQUIRE_RUN();					\
		if (!modvm_is_modvm())					\
			SKIP(fflush(stdout); _exit(255),		\
			     "in-kernel virtio is modvm's");		\
		ASSERT_EQ(0, vg_types(&__mask));			\
		ASSERT_TRUE(__mask & (1ull << (type)));			\
	} while (0)

#endif /* MODVM_SELFTEST_VIRTIO_GUEST_H */
