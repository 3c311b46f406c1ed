// SPDX-License-Identifier: GPL-2.0
/*
 * A guest-side virtio-mmio driver for the selftests: see virtio_guest.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_blk.h>

#include "apic.h"
#include "virtio_guest.h"

#define S(x)		GUEST_XSTR(x)

/*
 * The proxy. R15 walks the command list; every device access is one plain
 * MOV (the hypervisor emulates it on the MMIO bus). Waits halt with
 * interrupts on, so the device's interrupt or the next tick wakes them,
 * and give up at a tick deadline. Between commands interrupts are off:
 * what the handler sees happens inside the waits.
 */
GUEST_ASM(vg_proxy,
	".code64\n"
	"vgp_top:\n"
	"cli\n"
	"mov $" S(VG_CMDS) ", %r15d\n"
	"vgp_loop:\n"
	"mov (%r15), %eax\n"
	"mov 4(%r15), %ecx\n"
	"mov 8(%r15), %rdi\n"
	"mov 16(%r15), %rdx\n"
	"cmp $" S(VG_OP_END) ", %eax\n je vgp_end\n"
	"cmp $" S(VG_OP_WRITE) ", %eax\n je vgp_write\n"
	"cmp $" S(VG_OP_READ) ", %eax\n je vgp_read\n"
	"cmp $" S(VG_OP_SPIN16) ", %eax\n je vgp_spin16\n"
	"cmp $" S(VG_OP_WAITGE) ", %eax\n je vgp_waitge\n"
	"cmp $" S(VG_OP_BATCH) ", %eax\n je vgp_batch\n"
	"jmp vgp_fail\n"
	"vgp_next:\n"
	"add $32, %r15\n"
	"jmp vgp_loop\n"
	"vgp_end:\n"
	G_CALL(GUEST_DONE)
	"jmp vgp_top\n"
	"vgp_fail:\n"
	"mov %r15, %rbx\n"
	G_CALL(GUEST_FAIL)
	"jmp vgp_top\n"

	"vgp_write:\n"
	"cmp $1, %ecx\n jne 1f\n mov %dl, (%rdi)\n jmp vgp_next\n"
	"1: cmp $2, %ecx\n jne 1f\n mov %dx, (%rdi)\n jmp vgp_next\n"
	"1: cmp $4, %ecx\n jne 1f\n mov %edx, (%rdi)\n jmp vgp_next\n"
	"1: mov %rdx, (%rdi)\n jmp vgp_next\n"

	"vgp_read:\n"
	"xor %edx, %edx\n"
	"cmp $1, %ecx\n jne 1f\n mov (%rdi), %dl\n jmp 2f\n"
	"1: cmp $2, %ecx\n jne 1f\n mov (%rdi), %dx\n jmp 2f\n"
	"1: cmp $4, %ecx\n jne 1f\n mov (%rdi), %edx\n jmp 2f\n"
	"1: mov (%rdi), %rdx\n"
	"2: mov %rdx, 16(%r15)\n"
	"jmp vgp_next\n"

	"vgp_spin16:\n"
	"mov " S(VG_TICKS) ", %r9\n add 24(%r15), %r9\n"
	"1: cmp %dx, (%rdi)\n je vgp_next\n"
	"cmp " S(VG_TICKS) ", %r9\n jbe vgp_fail\n"
	"sti\n hlt\n cli\n jmp 1b\n"

	"vgp_waitge:\n"
	"mov " S(VG_TICKS) ", %r9\n add 24(%r15), %r9\n"
	"1: cmp %rdx, (%rdi)\n jae vgp_next\n"
	"cmp " S(VG_TICKS) ", %r9\n jbe vgp_fail\n"
	"sti\n hlt\n cli\n jmp 1b\n"

	/* RDI: struct vg_batch (offsets as in virtio_guest.h). */
	"vgp_batch:\n"
	"movl $0, 52(%rdi)\n"
	"1: mov 52(%rdi), %eax\n cmp 44(%rdi), %eax\n jae vgp_next\n"
	"mov (%rdi), %r8\n"
	"movzwl 2(%r8), %ecx\n"
	"xor %edx, %edx\n"
	"2: cmp 40(%rdi), %edx\n jae 3f\n"
	"lea (%rcx,%rdx), %eax\n and 36(%rdi), %eax\n"
	"movzwl 56(%rdi,%rdx,2), %esi\n"
	"mov %si, 4(%r8,%rax,2)\n"
	"inc %edx\n jmp 2b\n"
	"3: add 40(%rdi), %ecx\n"
	/* One interrupt per round: when the last request is used. */
	"lea -1(%rcx), %eax\n"
	"mov 24(%rdi), %rsi\n mov %ax, (%rsi)\n"
	"mov %cx, 2(%r8)\n"
	"mov 16(%rdi), %rsi\n mov 32(%rdi), %eax\n mov %eax, (%rsi)\n"
	"mov 8(%rdi), %rsi\n"
	"mov 48(%rdi), %r9d\n add " S(VG_TICKS) ", %r9\n"
	"4: cmp %cx, (%rsi)\n je 5f\n"
	"cmp " S(VG_TICKS) ", %r9\n jbe vgp_fail\n"
	"sti\n hlt\n cli\n jmp 4b\n"
	"5: incl 52(%rdi)\n jmp 1b\n"

	"vgp_timer:\n"
	"incq " S(VG_TICKS) "\n"
	"push %rsi\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n movl $0, " S(APIC_EOI) "(%rsi)\n"
	"pop %rsi\n"
	"iretq\n"

	"vgp_spurious:\n"
	"iretq\n"

	".balign 16\n"
	"vgp_irq_stubs:\n"
	".irp i, 0,1,2,3\n"
	".balign 16\n"
	"push %rax\n mov $\\i, %eax\n jmp vgp_irq\n"
	".endr\n"
	"vgp_irq:\n"
	"push %rcx\n push %rdx\n push %rsi\n"
	"shl $6, %eax\n lea " S(VG_DEVS) "(%rax), %rsi\n"
	"mov (%rsi), %rdx\n"
	"mov " S(VIRTIO_MMIO_INTERRUPT_STATUS) "(%rdx), %ecx\n"
	"mov %ecx, " S(VIRTIO_MMIO_INTERRUPT_ACK) "(%rdx)\n"
	"incq 8(%rsi)\n or %rcx, 16(%rsi)\n mov %rcx, 24(%rsi)\n"
	"test %ecx, %ecx\n jnz 1f\n incq 32(%rsi)\n"
	"1: mov $" S(GUEST_LAPIC) ", %esi\n movl $0, " S(APIC_EOI) "(%rsi)\n"
	"pop %rsi\n pop %rdx\n pop %rcx\n pop %rax\n"
	"iretq\n");

extern const unsigned char vgp_timer[], vgp_spurious[], vgp_irq_stubs[];

static void die(const char *what)
{
	fprintf(stderr, "virtio_guest: %s\n", what);
	abort();
}

void vg_vm_create(struct vg_vm *vm)
{
	struct guest *g = &vm->g;
	int i;

	memset(vm, 0, sizeof(*vm));
	guest_create(g);
	if (modvm_ioctl(g->vm, KVM_CREATE_IRQCHIP, 0))
		die("KVM_CREATE_IRQCHIP");
	vm->v = guest_add_vcpu(g);
	guest_load(g, vg_proxy, vg_proxy_end);
	guest_set_gate(g, VG_TIMER_VEC, LABEL_GPA(vg_proxy, vgp_timer));
	guest_set_gate(g, VG_SPURIOUS_VEC, LABEL_GPA(vg_proxy, vgp_spurious));
	for (i = 0; i < VG_MAX_DEVS; i++) {
		guest_set_gate(g, VG_VEC(i),
			       LABEL_GPA(vg_proxy, vgp_irq_stubs) + 16 * i);
		vm->devfd[i] = -1;
	}
	if (apic_long_mode(vm->v, GUEST_CODE))
		die("long mode");
	vm->heap = VG_HEAP;

	vg_w32(vm, GUEST_LAPIC + APIC_SVR, APIC_SVR_ON);
	/* Pins below 16 reach the PIC too: no ExtINT through LINT0. */
	vg_w32(vm, GUEST_LAPIC + APIC_LVT0, LVT_MASKED);
	vg_w32(vm, GUEST_LAPIC + APIC_TDCR, TDCR_DIV1);
	vg_w32(vm, GUEST_LAPIC + APIC_LVTT, LVTT_PERIODIC | VG_TIMER_VEC);
	vg_w32(vm, GUEST_LAPIC + APIC_TMICT, VG_TICK_COUNT);
	if (vg_exec(vm, NULL) != GUEST_DONE)
		die("guest setup");
}

void vg_vm_destroy(struct vg_vm *vm)
{
	int i;

	for (i = 0; i < VG_MAX_DEVS; i++)
		if (vm->devfd[i] >= 0)
			close(vm->devfd[i]);
	guest_destroy(&vm->g);
}

uint64_t vg_alloc(struct vg_vm *vm, uint64_t size, uint64_t align)
{
	uint64_t gpa = (vm->heap + align - 1) & ~(align - 1);

	if (gpa + size > vm->g.mem_size)
		die("guest heap full");
	vm->heap = gpa + size;
	memset(vg_ptr(vm, gpa), 0, size);
	return gpa;
}

void *vg_ptr(struct vg_vm *vm, uint64_t gpa)
{
	return guest_ptr(&vm->g, gpa);
}

void vg_create_args(struct modvm_virtio_create *c, uint32_t type, int index)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->mmio_base = VG_MMIO(index);
	c->gsi = VG_GSI(index);
	c->fd = -1;
}

struct vg_devstate *vg_state(const struct vg_dev *dev)
{
	return vg_ptr(dev->vm, VG_DEVS + sizeof(struct vg_devstate) * dev->index);
}

uint64_t vg_ticks(struct vg_vm *vm)
{
	return __atomic_load_n((uint64_t *)vg_ptr(vm, VG_TICKS), __ATOMIC_RELAXED);
}

int vg_dev_create(struct vg_vm *vm, struct vg_dev *dev,
		  struct modvm_virtio_create *c)
{
	int idx = vm->ndevs;
	long fd;

	if (idx == VG_MAX_DEVS)
		die("too many devices");
	fd = modvm_ioctl(vm->g.vm, MODVM_CREATE_VIRTIO, (unsigned long)c);
	if (fd < 0)
		return fd;
	dev->vm = vm;
	dev->fd = fd;
	dev->index = idx;
	dev->base = c->mmio_base;
	dev->gsi = c->gsi;
	vm->devfd[idx] = fd;
	vm->ndevs++;
	memset(vg_state(dev), 0, sizeof(struct vg_devstate));
	vg_state(dev)->base = dev->base;
	/* The pin: level-triggered, active high, fixed to APIC 0. */
	vg_w32(vm, GUEST_IOAPIC, 0x10 + 2 * c->gsi);
	vg_w32(vm, GUEST_IOAPIC + 0x10, VG_VEC(idx) | 1u << 15);
	vg_w32(vm, GUEST_IOAPIC, 0x11 + 2 * c->gsi);
	vg_w32(vm, GUEST_IOAPIC + 0x10, 0);
	if (vg_exec(vm, NULL) != GUEST_DONE)
		die("routing the device's pin");
	return 0;
}

int vg_cmd(struct vg_vm *vm, uint32_t op, uint32_t size, uint64_t addr,
	   uint64_t val, uint64_t arg)
{
	struct vg_cmd *c;

	/* One slot stays for VG_OP_END. */
	if (vm->ncmds == VG_MAX_CMDS - (op == VG_OP_END ? 0 : 1))
		die("command list full");
	c = (struct vg_cmd *)vg_ptr(vm, VG_CMDS) + vm->ncmds;
	c->op = op;
	c->size = size;
	c->addr = addr;
	c->val = val;
	c->arg = arg;
	return vm->ncmds++;
}

int vg_w32(struct vg_vm *vm, uint64_t addr, uint32_t val)
{
	return vg_cmd(vm, VG_OP_WRITE, 4, addr, val, 0);
}

int vg_r32(struct vg_vm *vm, uint64_t addr)
{
	return vg_cmd(vm, VG_OP_READ, 4, addr, 0, 0);
}

int vg_spin16(struct vg_vm *vm, uint64_t gpa, uint16_t val, uint64_t ticks)
{
	return vg_cmd(vm, VG_OP_SPIN16, 2, gpa, val, ticks);
}

int vg_wait_irqs(struct vg_dev *dev, uint64_t n, uint64_t ticks)
{
	uint64_t gpa = VG_DEVS + sizeof(struct vg_devstate) * dev->index +
		       offsetof(struct vg_devstate, irqs);

	return vg_cmd(dev->vm, VG_OP_WAITGE, 8, gpa, n, ticks);
}

int vg_wait_ticks(struct vg_vm *vm, uint64_t n)
{
	return vg_cmd(vm, VG_OP_WAITGE, 8, VG_TICKS, vg_ticks(vm) + n,
		      n + VG_TIMEOUT);
}

long vg_resume(struct vg_vm *vm, int *failed)
{
	struct kvm_run *run = vm->v->run;
	struct kvm_regs regs;
	uint32_t code;

	if (guest_run(vm->v))
		return GUEST_NOT_A_CALL;
	if (run->exit_reason != KVM_EXIT_IO ||
	    run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.port != GUEST_PORT || run->io.size != 4 ||
	    run->io.count != 1)
		return GUEST_NOT_A_CALL;
	memcpy(&code, guest_io_data(vm->v), 4);
	guest_get_regs(vm->v, &regs);
	if (code == GUEST_FAIL) {
		int index = (regs.rbx - VG_CMDS) / sizeof(struct vg_cmd);

		if (failed)
			*failed = index;
		fprintf(stderr, "virtio_guest: command %d (op %u) timed out\n",
			index, ((struct vg_cmd *)vg_ptr(vm, VG_CMDS))[index].op);
	}
	if (code == GUEST_EXCEPTION)
		fprintf(stderr, "virtio_guest: exception %llu error %#llx at %#llx\n",
			regs.rbx, regs.rcx, regs.rdx);
	return code;
}

long vg_exec(struct vg_vm *vm, int *failed)
{
	vg_cmd(vm, VG_OP_END, 0, 0, 0, 0);
	vm->ncmds = 0;
	return vg_resume(vm, failed);
}

uint64_t vg_result(struct vg_vm *vm, int index)
{
	return ((struct vg_cmd *)vg_ptr(vm, VG_CMDS))[index].val;
}

uint32_t vg_read_reg(struct vg_dev *dev, uint32_t off)
{
	int i = vg_r32(dev->vm, vg_reg(dev, off));

	if (vg_exec(dev->vm, NULL) != GUEST_DONE)
		die("register read");
	return vg_result(dev->vm, i);
}

void vg_write_reg(struct vg_dev *dev, uint32_t off, uint32_t val)
{
	vg_w32(dev->vm, vg_reg(dev, off), val);
	if (vg_exec(dev->vm, NULL) != GUEST_DONE)
		die("register write");
}

int vg_negotiate_cmds(struct vg_dev *dev, uint64_t features)
{
	struct vg_vm *vm = dev->vm;
	uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE;

	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_STATUS), 0);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_STATUS), s);
	s |= VIRTIO_CONFIG_S_DRIVER;
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_STATUS), s);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL), 0);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_DRIVER_FEATURES), (uint32_t)features);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL), 1);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_DRIVER_FEATURES), features >> 32);
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_STATUS), s);
	return vg_r32(vm, vg_reg(dev, VIRTIO_MMIO_STATUS));
}

void vq_init(struct vg_queue *q, struct vg_dev *dev, uint16_t index,
	     uint16_t size)
{
	struct vg_vm *vm = dev->vm;

	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->index = index;
	q->size = size;
	q->desc = vg_alloc(vm, 16ull * size, 4096);
	q->avail = vg_alloc(vm, 6 + 2ull * size, 4096);
	q->used = vg_alloc(vm, 6 + 8ull * size, 4096);
	q->d = vg_ptr(vm, q->desc);
	q->a = vg_ptr(vm, q->avail);
	q->u = vg_ptr(vm, q->used);
}

int vq_setup_cmds(struct vg_queue *q)
{
	struct vg_dev *dev = q->dev;
	struct vg_vm *vm = dev->vm;

	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_SEL), q->index);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_NUM), q->size);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_DESC_LOW), (uint32_t)q->desc);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_DESC_HIGH), q->desc >> 32);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_AVAIL_LOW), (uint32_t)q->avail);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_AVAIL_HIGH), q->avail >> 32);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_USED_LOW), (uint32_t)q->used);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_USED_HIGH), q->used >> 32);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_READY), 1);
	return vg_r32(vm, vg_reg(dev, VIRTIO_MMIO_QUEUE_READY));
}

int vg_setup(struct vg_dev *dev, uint64_t features, struct vg_queue *qs,
	     int nq)
{
	struct vg_vm *vm = dev->vm;
	int ready[MODVM_VIRTIO_MAX_QUEUES];
	int status, i;

	status = vg_negotiate_cmds(dev, features);
	for (i = 0; i < nq; i++)
		ready[i] = vq_setup_cmds(&qs[i]);
	vg_w32(vm, vg_reg(dev, VIRTIO_MMIO_STATUS),
	       VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	if (vg_exec(vm, NULL) != GUEST_DONE)
		return -1;
	if (!(vg_result(vm, status) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		fprintf(stderr, "virtio_guest: FEATURES_OK refused (status %#lx)\n",
			(unsigned long)vg_result(vm, status));
		return -1;
	}
	for (i = 0; i < nq; i++) {
		if (vg_result(vm, ready[i]) != 1) {
			fprintf(stderr, "virtio_guest: queue %d not ready\n", i);
			return -1;
		}
	}
	return 0;
}

int vq_notify_cmd(struct vg_queue *q)
{
	return vg_w32(q->dev->vm, vg_reg(q->dev, VIRTIO_MMIO_QUEUE_NOTIFY),
		      q->index);
}

uint16_t vq_alloc(struct vg_queue *q, uint16_t n)
{
	uint16_t first;

	if (n > q->size)
		die("chain longer than the queue");
	if (q->next_desc + n > q->size)
		q->next_desc = 0;
	first = q->next_desc;
	q->next_desc += n;
	return first;
}

static void fill_descs(struct vring_desc *d, uint16_t first,
		       const struct vg_buf *bufs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		d[first + i].addr = bufs[i].addr;
		d[first + i].len = bufs[i].len;
		d[first + i].flags = bufs[i].flags |
				     (i < n - 1 ? VRING_DESC_F_NEXT : 0);
		d[first + i].next = i < n - 1 ? first + i + 1 : 0;
	}
}

uint16_t vq_chain(struct vg_queue *q, uint16_t head, const struct vg_buf *bufs,
		  int n)
{
	fill_descs(q->d, head, bufs, n);
	return head;
}

void vg_indirect_table(struct vg_vm *vm, uint64_t table,
		       const struct vg_buf *bufs, int n)
{
	fill_descs(vg_ptr(vm, table), 0, bufs, n);
}

void vq_post(struct vg_queue *q, uint16_t head)
{
	q->a->ring[q->avail_idx % q->size] = head;
	q->avail_idx++;
	__atomic_store_n(&q->a->idx, q->avail_idx, __ATOMIC_RELEASE);
}

uint16_t vq_used_idx(struct vg_queue *q)
{
	return __atomic_load_n(&q->u->idx, __ATOMIC_ACQUIRE);
}

struct vring_used_elem vq_used(struct vg_queue *q, uint16_t i)
{
	return q->u->ring[i % q->size];
}

int vq_find_used(struct vg_queue *q, uint16_t head, uint16_t from, uint16_t to,
		 uint32_t *len)
{
	uint16_t i;

	for (i = from; i != to; i++) {
		struct vring_used_elem e = vq_used(q, i);

		if (e.id == head) {
			if (len)
				*len = e.len;
			return i;
		}
	}
	return -1;
}

long vq_run(struct vg_queue *q, const uint16_t *heads, int n)
{
	struct vg_vm *vm = q->dev->vm;
	int i;

	for (i = 0; i < n; i++)
		vq_post(q, heads[i]);
	vq_notify_cmd(q);
	vg_spin16(vm, q->used + 2, q->avail_idx, VG_TIMEOUT);
	return vg_exec(vm, NULL);
}

uint16_t *vq_used_event(struct vg_queue *q)
{
	return &q->a->ring[q->size];
}

uint16_t *vq_avail_event(struct vg_queue *q)
{
	return (uint16_t *)&q->u->ring[q->size];
}

bool vq_host_wait(struct vg_queue *q, uint16_t idx, int ms)
{
	struct timespec d = { .tv_nsec = 1000 * 1000 };

	for (; ms >= 0; ms--) {
		if (vq_used_idx(q) == idx)
			return true;
		nanosleep(&d, NULL);
	}
	return false;
}

void vg_stats(struct vg_dev *dev, struct modvm_virtio_stats *s)
{
	memset(s, 0xa5, sizeof(*s));
	if (modvm_ioctl(dev->fd, MODVM_VIRTIO_GET_STATS, (unsigned long)s))
		die("MODVM_VIRTIO_GET_STATS");
}

bool vg_line_up(struct vg_vm *vm, uint32_t gsi)
{
	struct kvm_irqchip c = { .chip_id = KVM_IRQCHIP_IOAPIC };

	if (modvm_ioctl(vm->g.vm, KVM_GET_IRQCHIP, (unsigned long)&c))
		die("KVM_GET_IRQCHIP");
	return c.chip.ioapic.irr & (1u << gsi);
}

void vg_blk_req(struct vg_queue *q, struct vg_blk_req *r, uint32_t type,
		uint64_t sector, uint64_t data, uint32_t len, bool indirect)
{
	struct vg_vm *vm = q->dev->vm;
	struct virtio_blk_outhdr *h;
	struct vg_buf b[3];
	int n = 0;

	r->hdr = vg_alloc(vm, 32, 16);
	r->status = r->hdr + 16;
	r->data = data;
	r->len = len;
	h = vg_ptr(vm, r->hdr);
	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*(uint8_t *)vg_ptr(vm, r->status) = 0xff;

	b[n++] = (struct vg_buf){ r->hdr, 16, 0 };
	if (len)
		b[n++] = (struct vg_buf){ data, len,
			type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ?
			VRING_DESC_F_WRITE : 0 };
	b[n++] = (struct vg_buf){ r->status, 1, VRING_DESC_F_WRITE };
	if (indirect) {
		uint64_t table = vg_alloc(vm, 16 * n, 16);
		struct vg_buf ind = { table, 16 * n, VRING_DESC_F_INDIRECT };

		vg_indirect_table(vm, table, b, n);
		r->head = vq_chain(q, vq_alloc(q, 1), &ind, 1);
	} else {
		r->head = vq_chain(q, vq_alloc(q, n), b, n);
	}
}

uint8_t vg_blk_status(struct vg_vm *vm, const struct vg_blk_req *r)
{
	return __atomic_load_n((uint8_t *)vg_ptr(vm, r->status), __ATOMIC_ACQUIRE);
}

void vg_fill(void *buf, uint64_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	uint8_t *p = buf;
	uint64_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = x >> 7;
	}
}

int vg_backing(uint64_t size, uint32_t seed, int flags)
{
	const char *dir = getenv("TMPDIR");
	char path[256];
	uint8_t *buf;
	int fd, rfd;

	snprintf(path, sizeof(path), "%s/vg-backing-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	buf = malloc(size);
	if (!buf)
		die("malloc");
	vg_fill(buf, size, seed);
	if (pwrite(fd, buf, size, 0) != (ssize_t)size)
		die("pwrite backing");
	free(buf);
	rfd = open(path, flags | O_CLOEXEC);
	unlink(path);
	close(fd);
	if (rfd < 0)
		die("open backing");
	return rfd;
}

int vg_types(uint64_t *mask)
{
	int dev = modvm_open_device();
	long r = modvm_ioctl(dev, MODVM_GET_VIRTIO_TYPES, (unsigned long)mask);

	close(dev);
	return r;
}

_Static_assert(offsetof(struct vg_batch, queue) == 32 &&
	       offsetof(struct vg_batch, done) == 52 &&
	       offsetof(struct vg_batch, heads) == 56,
	       "vg_batch offsets are used by the guest");
_Static_assert(sizeof(struct vg_cmd) == 32 && sizeof(struct vg_devstate) == 64,
	       "the guest walks these");
