// SPDX-License-Identifier: GPL-2.0
/*
 * State dump of a running guest, for a guest that hangs without a word on
 * its console: on SIGUSR1 the PICs and IOAPIC are printed, and every vCPU
 * thread leaves KVM_RUN (a signal interrupts it), prints its registers,
 * MP state, pending events, local APIC and the top of its stack to
 * stderr, then runs on. A vCPU that does not print is stuck in the
 * device's KVM_RUN, which is worth knowing too.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "launcher.h"

static volatile sig_atomic_t dump_requested;
static volatile sig_atomic_t dump_pending[MAX_CPUS];
static pthread_t threads[MAX_CPUS];
static int nthreads;
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_usr1(int sig)
{
	(void)sig;
	dump_requested = 1;
}

/* Only there to interrupt KVM_RUN: no SA_RESTART, nothing to do. */
static void on_kick(int sig)
{
	(void)sig;
}

void debug_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
}

void debug_add_thread(int id, pthread_t tid)
{
	threads[id] = tid;
	if (id >= nthreads)
		nthreads = id + 1;
}

/* The PICs and the IOAPIC pins that carry something. */
static void dump_irqchip(struct vm *vm)
{
	struct kvm_irqchip c;
	int i;

	for (i = KVM_IRQCHIP_PIC_MASTER; i <= KVM_IRQCHIP_PIC_SLAVE; i++) {
		struct kvm_pic_state *p = &c.chip.pic;

		memset(&c, 0, sizeof(c));
		c.chip_id = i;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c))
			return;
		fprintf(stderr, "modvm-run: pic %d: irr %02x imr %02x isr %02x base %02x"
			" last_irr %02x init %u aeoi %u elcr %02x\n", i, p->irr, p->imr,
			p->isr, p->irq_base, p->last_irr, p->init_state, p->auto_eoi, p->elcr);
	}
	memset(&c, 0, sizeof(c));
	c.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c))
		return;
	fprintf(stderr, "modvm-run: ioapic: irr %x", c.chip.ioapic.irr);
	for (i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		if (c.chip.ioapic.redirtbl[i].bits != 0x10000)
			fprintf(stderr, " pin%d=%llx", i,
				(unsigned long long)c.chip.ioapic.redirtbl[i].bits);
	fputc('\n', stderr);
}

void debug_poll(struct vm *vm)
{
	int i;

	if (!dump_requested)
		return;
	dump_requested = 0;
	dump_irqchip(vm);
	fprintf(stderr, "modvm-run: dump requested: kicking %d vCPU threads\n", nthreads);
	for (i = 0; i < nthreads; i++) {
		dump_pending[i] = 1;
		pthread_kill(threads[i], SIGUSR2);
	}
}

static uint32_t apic_reg(const struct kvm_lapic_state *l, unsigned int off)
{
	uint32_t v;

	memcpy(&v, l->regs + off, sizeof(v));
	return v;
}

/* The eight 32-bit words of a 256-bit APIC register (ISR, TMR, IRR). */
static void print_apic_bits(const char *name, const struct kvm_lapic_state *l,
			    unsigned int off)
{
	int i;

	fprintf(stderr, " %s", name);
	for (i = 7; i >= 0; i--)
		fprintf(stderr, "%s%08x", i == 7 ? "=" : ":", apic_reg(l, off + i * 0x10));
}

/*
 * Guest-virtual to guest-physical through the guest's 4-level page tables
 * (the dump needs no KVM_TRANSLATE from the device). ~0 when not mapped.
 */
static uint64_t walk(struct vm *vm, uint64_t cr3, uint64_t va)
{
	uint64_t table = cr3 & 0x000ffffffffff000ULL, e = 0;
	int level;

	for (level = 3; level >= 0; level--) {
		uint64_t *p = gpa_to_hva(vm, table + ((va >> (12 + 9 * level)) & 511) * 8, 8);

		if (!p || !(*p & 1))
			return ~0ULL;
		e = *p;
		if (level > 0 && level < 3 && (e & 0x80)) {
			uint64_t size = 1ULL << (12 + 9 * level);

			return (e & 0x000ffffffffff000ULL & ~(size - 1)) | (va & (size - 1));
		}
		table = e & 0x000ffffffffff000ULL;
	}
	return table | (va & 4095);
}

/* Words on the guest's stack: return addresses to look up in System.map. */
static void print_stack(struct vm *vm, int id, uint64_t cr3, uint64_t rsp)
{
	uint64_t gpa = walk(vm, cr3, rsp), *p;
	int i, n = (4096 - (gpa & 4095)) / 8;

	if (n > 32)
		n = 32;
	p = gpa == ~0ULL ? NULL : gpa_to_hva(vm, gpa, n * 8);
	if (!p)
		return;
	fprintf(stderr, "modvm-run: vCPU %d: stack", id);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %llx", (unsigned long long)p[i]);
	fputc('\n', stderr);
}

void debug_dump_vcpu(struct vm *vm, int id)
{
	int fd = vm->vcpu_fd[id];
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events ev;
	struct kvm_lapic_state l;

	if (id >= MAX_CPUS || !dump_pending[id])
		return;
	dump_pending[id] = 0;
	pthread_mutex_lock(&dump_lock);
	if (ioctl(fd, KVM_GET_REGS, &r) || ioctl(fd, KVM_GET_SREGS, &s) ||
	    ioctl(fd, KVM_GET_MP_STATE, &mp) || ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) ||
	    ioctl(fd, KVM_GET_LAPIC, &l)) {
		fprintf(stderr, "modvm-run: vCPU %d: state: %s\n", id, strerror(errno));
		pthread_mutex_unlock(&dump_lock);
		return;
	}
	fprintf(stderr,
		"modvm-run: vCPU %d: mp_state %u rip %llx rsp %llx rflags %llx rax %llx rcx %llx rdx %llx\n"
		"modvm-run: vCPU %d: cs %x/%llx cr0 %llx cr3 %llx cr4 %llx efer %llx cr8 %llx apic_base %llx\n"
		"modvm-run: vCPU %d: exc inj %u pend %u nr %u; irq inj %u nr %u soft %u shadow %u;"
		" nmi inj %u pend %u masked %u; sipi %u\n",
		id, mp.mp_state, r.rip, r.rsp, r.rflags, r.rax, r.rcx, r.rdx,
		id, s.cs.selector, s.cs.base, s.cr0, s.cr3, s.cr4, s.efer, s.cr8, s.apic_base,
		id, ev.exception.injected, ev.exception.pending, ev.exception.nr,
		ev.interrupt.injected, ev.interrupt.nr, ev.interrupt.soft, ev.interrupt.shadow,
		ev.nmi.injected, ev.nmi.pending, ev.nmi.masked, ev.sipi_vector);
	fprintf(stderr, "modvm-run: vCPU %d: apic id %x tpr %x ppr %x svr %x ldr %x dfr %x"
		" icr %x:%08x lvtt %x tmict %x tmcct %x tdcr %x lint0 %x lint1 %x err %x\n",
		id, apic_reg(&l, 0x20) >> 24, apic_reg(&l, 0x80), apic_reg(&l, 0xa0),
		apic_reg(&l, 0xf0), apic_reg(&l, 0xd0), apic_reg(&l, 0xe0),
		apic_reg(&l, 0x310), apic_reg(&l, 0x300), apic_reg(&l, 0x320),
		apic_reg(&l, 0x380), apic_reg(&l, 0x390), apic_reg(&l, 0x3e0),
		apic_reg(&l, 0x350), apic_reg(&l, 0x360), apic_reg(&l, 0x280));
	if (s.cr0 & 0x80000000)
		print_stack(vm, id, s.cr3, r.rsp);
	fprintf(stderr, "modvm-run: vCPU %d:", id);
	print_apic_bits("isr", &l, 0x100);
	print_apic_bits("irr", &l, 0x200);
	print_apic_bits("tmr", &l, 0x180);
	fputc('\n', stderr);
	pthread_mutex_unlock(&dump_lock);
}
