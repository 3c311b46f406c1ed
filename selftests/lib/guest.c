// SPDX-License-Identifier: GPL-2.0
/*
 * The selftests' guest builder: see guest.h for the memory layout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "guest.h"

#define PTE_P		0x1ull
#define PTE_RW		0x2ull
#define PTE_PS		0x80ull

#define CR0_PE		(1ull << 0)
#define CR0_MP		(1ull << 1)
#define CR0_ET		(1ull << 4)
#define CR0_NE		(1ull << 5)
#define CR0_PG		(1ull << 31)
#define CR4_PAE		(1ull << 5)
#define CR4_OSFXSR	(1ull << 9)
#define CR4_OSXMMEXCPT	(1ull << 10)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)

/*
 * Exception stubs for vectors 0-31, 16 bytes apart: push a zero error code
 * where the CPU pushes none, push the vector, then report it with a
 * GUEST_EXCEPTION call and resume GUEST_SKIP bytes after the faulting RIP.
 * The RFLAGS image the exception pushed is left at GUEST_EXC_RFLAGS.
 */
GUEST_ASM(guest_stubs64,
	".code64\n"
	".irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	".balign 16, 0xcc\n"
	".if (\\v == 8) || ((\\v >= 10) && (\\v <= 14)) || (\\v == 17) || (\\v == 21) || (\\v == 29) || (\\v == 30)\n"
	".else\n"
	"push $0\n"
	".endif\n"
	"push $\\v\n"
	"jmp 1f\n"
	".endr\n"
	"1:\n"
	"mov 32(%rsp), %rax\n"
	"mov %rax, " GUEST_XSTR(GUEST_EXC_RFLAGS) "\n"
	"mov (%rsp), %rbx\n"
	"mov 8(%rsp), %rcx\n"
	"mov 16(%rsp), %rdx\n"
	G_CALL(GUEST_EXCEPTION)
	"add $16, %rsp\n"
	"mov " GUEST_XSTR(GUEST_SKIP) ", %rax\n"
	"add %rax, (%rsp)\n"
	"iretq\n");

static void die(const char *what, long err)
{
	fprintf(stderr, "guest: %s: %s\n", what, strerror((int)-err));
	abort();
}

/* Flat descriptors; limits are 4G with G=1 unless noted. */
static const uint64_t gdt_entries[] = {
	[GUEST_SEL_CODE64 / 8] = 0x00af9b000000ffffull,
	[GUEST_SEL_DATA / 8] = 0x00cf93000000ffffull,
	[GUEST_SEL_CODE32 / 8] = 0x00cf9b000000ffffull,
	[GUEST_SEL_CODE16 / 8] = 0x00009b000000ffffull,	/* 64K, D=0 */
	[GUEST_SEL_DATA16 / 8] = 0x000093000000ffffull,	/* 64K, B=0 */
};

static void set_gate(uint64_t *idt, int vector, uint64_t handler)
{
	idt[2 * vector] = (handler & 0xffff) |
			  (uint64_t)GUEST_SEL_CODE64 << 16 |
			  0x8eull << 40 | (handler >> 16 & 0xffff) << 48;
	idt[2 * vector + 1] = handler >> 32;
}

void guest_set_gate(struct guest *g, int vector, uint64_t handler)
{
	set_gate(guest_ptr(g, GUEST_IDT), vector, handler);
}

static void build_tables(struct guest *g)
{
	uint64_t *gdt = guest_ptr(g, GUEST_GDT);
	uint64_t *idt = guest_ptr(g, GUEST_IDT);
	uint64_t *pml4 = guest_ptr(g, GUEST_PML4);
	uint64_t *pdpt = guest_ptr(g, GUEST_PDPT);
	uint64_t *pd64 = guest_ptr(g, GUEST_PD64);
	uint32_t *pd32 = guest_ptr(g, GUEST_PD32);
	uint32_t *pt32 = guest_ptr(g, GUEST_PT32);
	uint64_t *pae_pdpt = guest_ptr(g, GUEST_PAE_PDPT);
	uint64_t *pae_pd = guest_ptr(g, GUEST_PAE_PD);
	uint64_t *alias_pd = guest_ptr(g, GUEST_ALIAS_PD);
	uint64_t *apic_pd = guest_ptr(g, GUEST_APIC_PD);
	uint64_t tss = GUEST_TSS;
	int i;

	memcpy(gdt, gdt_entries, sizeof(gdt_entries));
	/* 64-bit busy TSS descriptor, 16 bytes. */
	gdt[GUEST_SEL_TSS / 8] = 0x67 | (tss & 0xffffff) << 16 |
				 0x8bull << 40 | (tss >> 24 & 0xff) << 56;
	gdt[GUEST_SEL_TSS / 8 + 1] = tss >> 32;

	memcpy(guest_ptr(g, GUEST_STUBS), guest_stubs64,
	       guest_stubs64_end - guest_stubs64);
	for (i = 0; i < 32; i++)
		set_gate(idt, i, GUEST_STUBS + 16 * i);

	/* Long mode: 1 GiB identity in 2 MiB pages; 1 GiB alias -> 0. */
	pml4[0] = GUEST_PDPT | PTE_P | PTE_RW;
	pdpt[0] = GUEST_PD64 | PTE_P | PTE_RW;
	pdpt[GUEST_ALIAS_VA >> 30] = GUEST_ALIAS_PD | PTE_P | PTE_RW;
	for (i = 0; i < 512; i++) {
		pd64[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
		pae_pd[i] = pd64[i];
	}
	alias_pd[0] = PTE_P | PTE_RW | PTE_PS;
	/* Long mode: the 2 MiB pages of the IOAPIC and local APIC. */
	pdpt[3] = GUEST_APIC_PD | PTE_P | PTE_RW;
	apic_pd[(GUEST_IOAPIC >> 21) & 511] = GUEST_IOAPIC | PTE_P | PTE_RW | PTE_PS;
	apic_pd[(GUEST_LAPIC >> 21) & 511] = GUEST_LAPIC | PTE_P | PTE_RW | PTE_PS;

	/* PAE: PDPTEs have no RW/US bits. */
	pae_pdpt[0] = GUEST_PAE_PD | PTE_P;
	pae_pdpt[GUEST_ALIAS_VA >> 30] = GUEST_ALIAS_PD | PTE_P;

	/* 32-bit: the first 4 MiB in 4 KiB pages, seen again at the alias. */
	pd32[0] = GUEST_PT32 | PTE_P | PTE_RW;
	pd32[GUEST_ALIAS_VA >> 22] = GUEST_PT32 | PTE_P | PTE_RW;
	for (i = 0; i < 1024; i++)
		pt32[i] = (i << 12) | PTE_P | PTE_RW;
}

void guest_create(struct guest *g)
{
	long r;

	memset(g, 0, sizeof(*g));
	g->dev = modvm_open_device();
	g->vm = modvm_ioctl(g->dev, KVM_CREATE_VM, 0);
	if (g->vm < 0)
		die("KVM_CREATE_VM", g->vm);
	g->run_size = modvm_ioctl(g->dev, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (g->run_size < 0)
		die("KVM_GET_VCPU_MMAP_SIZE", g->run_size);
	/* Needed by VT-x for real mode; accepted (and unused) by AMD-V. */
	modvm_ioctl(g->vm, KVM_SET_TSS_ADDR, 0xfffbd000);
	g->mem_size = GUEST_MEM_SIZE;
	g->mem = modvm_alloc_guest_memory(g->mem_size);
	build_tables(g);
	r = modvm_set_memslot(g->vm, 0, 0, 0, g->mem_size, g->mem);
	if (r)
		die("KVM_SET_USER_MEMORY_REGION", r);
}

void guest_destroy(struct guest *g)
{
	int i;

	for (i = 0; i < g->nr_vcpus; i++) {
		munmap(g->vcpus[i].run, g->run_size);
		close(g->vcpus[i].fd);
	}
	close(g->vm);
	close(g->dev);
	munmap(g->mem, g->mem_size);
}

struct kvm_cpuid2 *guest_supported_cpuid(int dev)
{
	int nent = 256;
	struct kvm_cpuid2 *cpuid;

	cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return NULL;
	cpuid->nent = nent;
	if (modvm_ioctl(dev, KVM_GET_SUPPORTED_CPUID, (unsigned long)cpuid)) {
		free(cpuid);
		return NULL;
	}
	return cpuid;
}

struct kvm_cpuid_entry2 *guest_cpuid_entry(struct kvm_cpuid2 *cpuid,
					   uint32_t function, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     e->index == index))
			return e;
	}
	return NULL;
}

bool guest_host_is_amd(int dev)
{
	struct kvm_cpuid2 *cpuid = guest_supported_cpuid(dev);
	struct kvm_cpuid_entry2 *e;
	bool amd = false;

	if (!cpuid)
		return false;
	e = guest_cpuid_entry(cpuid, 0, 0);
	/* "AuthenticAMD": EBX "Auth", EDX "enti", ECX "cAMD". */
	if (e && e->ebx == 0x68747541 && e->ecx == 0x444d4163)
		amd = true;
	free(cpuid);
	return amd;
}

struct guest_vcpu *guest_add_vcpu(struct guest *g)
{
	struct guest_vcpu *v = &g->vcpus[g->nr_vcpus];
	struct kvm_cpuid2 *cpuid;
	long r;

	if (g->nr_vcpus == GUEST_MAX_VCPUS)
		die("too many vCPUs", -EINVAL);
	v->guest = g;
	v->id = g->nr_vcpus;
	v->fd = modvm_ioctl(g->vm, KVM_CREATE_VCPU, v->id);
	if (v->fd < 0)
		die("KVM_CREATE_VCPU", v->fd);
	v->run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED)
		die("mmap kvm_run", -errno);
	cpuid = guest_supported_cpuid(g->dev);
	if (!cpuid)
		die("KVM_GET_SUPPORTED_CPUID", -EINVAL);
	r = modvm_ioctl(v->fd, KVM_SET_CPUID2, (unsigned long)cpuid);
	free(cpuid);
	if (r)
		die("KVM_SET_CPUID2", r);
	g->nr_vcpus++;
	return v;
}

void guest_load(struct guest *g, const unsigned char *start,
		const unsigned char *end)
{
	if (end - start > GUEST_CODE_MAX)
		die("guest code too large", -E2BIG);
	memcpy(guest_ptr(g, GUEST_CODE), start, end - start);
}

void *guest_ptr(struct guest *g, uint64_t gpa)
{
	if (gpa >= g->mem_size)
		die("guest_ptr outside guest memory", -EINVAL);
	return g->mem + gpa;
}

int guest_real_mode_refused(struct guest_vcpu *v)
{
	if (modvm_runs_real_mode())
		return 0;
	if (guest_run(v) || v->run->exit_reason != KVM_EXIT_INTERNAL_ERROR ||
	    v->run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
		return -1;
	return 1;
}

void guest_set_fault_skip(struct guest *g, uint64_t len)
{
	*(uint64_t *)guest_ptr(g, GUEST_SKIP) = len;
}

/* A kvm_segment from one of our GDT descriptors. */
static void segment(struct kvm_segment *s, uint16_t sel)
{
	uint64_t d = gdt_entries[sel / 8];

	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = (d >> 16 & 0xffffff) | (d >> 56) << 24;
	s->limit = (d & 0xffff) | (d >> 48 & 0xf) << 16;
	s->type = d >> 40 & 0xf;
	s->s = d >> 44 & 1;
	s->dpl = d >> 45 & 3;
	s->present = d >> 47 & 1;
	s->avl = d >> 52 & 1;
	s->l = d >> 53 & 1;
	s->db = d >> 54 & 1;
	s->g = d >> 55 & 1;
	if (s->g)
		s->limit = s->limit << 12 | 0xfff;
}

static void real_segment(struct kvm_segment *s, uint16_t sel, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->limit = 0xffff;
	s->type = code ? 0xb : 0x3;
	s->s = 1;
	s->present = 1;
}

void guest_mode_sregs(struct guest_vcpu *v, enum guest_mode mode,
		      struct kvm_sregs *sregs)
{
	uint16_t code, data;

	guest_get_sregs(v, sregs);
	sregs->tr.selector = GUEST_SEL_TSS;
	sregs->tr.base = GUEST_TSS;
	sregs->tr.limit = 0x67;
	sregs->tr.type = 0xb;
	sregs->tr.s = 0;
	sregs->tr.present = 1;
	sregs->tr.unusable = 0;
	sregs->efer = 0;
	sregs->cr3 = 0;
	sregs->cr4 = 0;

	if (mode == GUEST_MODE_REAL) {
		real_segment(&sregs->cs, 0, true);
		real_segment(&sregs->ds, 0, false);
		real_segment(&sregs->es, 0, false);
		real_segment(&sregs->fs, 0, false);
		real_segment(&sregs->gs, 0, false);
		real_segment(&sregs->ss, (GUEST_STACK - 0x10000) >> 4, false);
		sregs->cr0 = CR0_ET | CR0_NE;
		sregs->idt.base = 0;
		sregs->idt.limit = 0x3ff;
		sregs->gdt.base = GUEST_GDT;
		sregs->gdt.limit = GUEST_GDT_LIMIT;
		return;
	}

	sregs->gdt.base = GUEST_GDT;
	sregs->gdt.limit = GUEST_GDT_LIMIT;
	sregs->idt.base = GUEST_IDT;
	sregs->idt.limit = 32 * 16 - 1;
	sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
	sregs->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
	code = GUEST_SEL_CODE32;
	data = GUEST_SEL_DATA;

	switch (mode) {
	case GUEST_MODE_PROT16:
		code = GUEST_SEL_CODE16;
		data = GUEST_SEL_DATA16;
		/* Our IDT holds 64-bit gates only. */
		sregs->idt.limit = 0;
		break;
	case GUEST_MODE_PROT32:
		sregs->idt.limit = 0;
		break;
	case GUEST_MODE_PROT32_PAGING:
		sregs->idt.limit = 0;
		sregs->cr0 |= CR0_PG;
		sregs->cr3 = GUEST_PD32;
		break;
	case GUEST_MODE_PAE:
		sregs->idt.limit = 0;
		sregs->cr0 |= CR0_PG;
		sregs->cr3 = GUEST_PAE_PDPT;
		sregs->cr4 |= CR4_PAE;
		break;
	case GUEST_MODE_LONG64:
		code = GUEST_SEL_CODE64;
		sregs->cr0 |= CR0_PG;
		sregs->cr3 = GUEST_PML4;
		sregs->cr4 |= CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
		break;
	default:
		break;
	}
	segment(&sregs->cs, code);
	segment(&sregs->ds, data);
	segment(&sregs->es, data);
	segment(&sregs->fs, data);
	segment(&sregs->gs, data);
	segment(&sregs->ss, data);
}

int guest_set_mode(struct guest_vcpu *v, enum guest_mode mode)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	long r;

	guest_mode_sregs(v, mode, &sregs);
	r = modvm_ioctl(v->fd, KVM_SET_SREGS, (unsigned long)&sregs);
	if (r)
		return r;
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE;
	regs.rflags = 2;
	if (mode == GUEST_MODE_REAL)
		regs.rsp = 0xfff0 - v->id * 0x800;
	else if (mode == GUEST_MODE_PROT16)	/* 16-bit SS: below 64K */
		regs.rsp = GUEST_STACK16 - v->id * 0x100;
	else
		regs.rsp = GUEST_STACK - v->id * GUEST_STACK_SIZE;
	return modvm_ioctl(v->fd, KVM_SET_REGS, (unsigned long)&regs);
}

int guest_run(struct guest_vcpu *v)
{
	return modvm_ioctl(v->fd, KVM_RUN, 0);
}

int guest_start(struct guest_vcpu *v, const unsigned char *start,
		const unsigned char *end, enum guest_mode mode)
{
	int r;

	guest_load(v->guest, start, end);
	r = guest_set_mode(v, mode);
	return r ? r : guest_run(v);
}

void *guest_io_data(struct guest_vcpu *v)
{
	return (uint8_t *)v->run + v->run->io.data_offset;
}

static const char *const exit_names[] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN",
	[KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO",
	[KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG",
	[KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR",
	[KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
};

const char *guest_exit_name(uint32_t reason)
{
	if (reason < sizeof(exit_names) / sizeof(exit_names[0]) &&
	    exit_names[reason])
		return exit_names[reason];
	return "?";
}

long guest_call(struct guest_vcpu *v, struct kvm_regs *regs)
{
	struct kvm_run *run = v->run;
	struct kvm_regs tmp;
	int r = guest_run(v);

	if (r) {
		fprintf(stderr, "guest: KVM_RUN: %s\n", strerror(-r));
		return GUEST_NOT_A_CALL;
	}
	if (!regs)
		regs = &tmp;
	guest_get_regs(v, regs);
	if (run->exit_reason == KVM_EXIT_IO &&
	    run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == GUEST_PORT && run->io.size == 4 &&
	    run->io.count == 1) {
		uint32_t code;

		memcpy(&code, guest_io_data(v), 4);
		if (code == GUEST_EXCEPTION)
			fprintf(stderr, "guest: exception %llu error %#llx at %#llx\n",
				regs->rbx, regs->rcx, regs->rdx);
		if (code == GUEST_FAIL)
			fprintf(stderr, "guest: check %llu failed\n", regs->rbx);
		return code;
	}
	fprintf(stderr, "guest: exit %u (%s) at rip %#llx", run->exit_reason,
		guest_exit_name(run->exit_reason), regs->rip);
	if (run->exit_reason == KVM_EXIT_IO)
		fprintf(stderr, ": io %s port %#x size %u count %u",
			run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			run->io.port, run->io.size, run->io.count);
	if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		fprintf(stderr, ": reason %#llx",
			run->fail_entry.hardware_entry_failure_reason);
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		fprintf(stderr, ": suberror %u", run->internal.suberror);
	fprintf(stderr, "\n");
	return GUEST_NOT_A_CALL;
}

void guest_get_regs(struct guest_vcpu *v, struct kvm_regs *regs)
{
	long r = modvm_ioctl(v->fd, KVM_GET_REGS, (unsigned long)regs);

	if (r)
		die("KVM_GET_REGS", r);
}

void guest_set_regs(struct guest_vcpu *v, const struct kvm_regs *regs)
{
	long r = modvm_ioctl(v->fd, KVM_SET_REGS, (unsigned long)regs);

	if (r)
		die("KVM_SET_REGS", r);
}

void guest_get_sregs(struct guest_vcpu *v, struct kvm_sregs *sregs)
{
	long r = modvm_ioctl(v->fd, KVM_GET_SREGS, (unsigned long)sregs);

	if (r)
		die("KVM_GET_SREGS", r);
}

int guest_get_msr(struct guest_vcpu *v, uint32_t index, uint64_t *value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e.index = index };
	long r = modvm_ioctl(v->fd, KVM_GET_MSRS, (unsigned long)&m);

	if (r == 1)
		*value = m.e.data;
	return r;
}

int guest_set_msr(struct guest_vcpu *v, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e.index = index, .e.data = value };

	return modvm_ioctl(v->fd, KVM_SET_MSRS, (unsigned long)&m);
}
