// SPDX-License-Identifier: GPL-2.0
/*
 * Hardware task switches, emulated for both backends: VT-x exits on every
 * one and SVM intercepts them (a task switch loads CR3, which shadow
 * paging must see, and which NPT-less hardware would otherwise load as
 * a host-physical page-table root). They come from CALL or JMP to a TSS or task gate,
 * IRET with NT set, and an event delivered through a task gate in the
 * IDT. Only 32-bit TSSs: a 16-bit TSS ends KVM_RUN with an emulation
 * error. Long mode has no task switches.
 *
 * The order is the CPU's (SDM Vol. 3A, 7.3): the new TSS descriptor is
 * checked (faults in the old task), the old task's state is saved and
 * the busy bits updated, the new state loaded, then its LDT and segment
 * descriptors checked: a fault there is delivered in the new task, as on
 * the CPU. TSS, GDT and LDT accesses are the CPU's own (supervisor).
 */
#include <asm/desc_defs.h>
#include <asm/processor-flags.h>
#include <asm/trapnr.h>

#include "modvm.h"

#define TSS32_MIN_LIMIT		0x67
#define DESC_TYPE_BUSY		BIT_ULL(41)	/* TSS descriptor type bit 1 */
#define DESC_ACCESSED		BIT_ULL(40)

/* The fields of a 32-bit TSS the CPU reads and writes. */
struct tss32 {
	u32 prev_task;
	u32 stacks[6];		/* ESP0, SS0 .. ESP2, SS2 */
	u32 cr3;
	u32 eip;
	u32 eflags;
	u32 gprs[8];		/* EAX .. EDI, encoding order */
	u32 sel[6];		/* ES, CS, SS, DS, FS, GS */
	u32 ldt;
	u16 trap;
	u16 io_map;
} __packed;

/* Offsets of the state a task switch saves into the old TSS. */
#define TSS32_SAVED_START	offsetof(struct tss32, eip)
#define TSS32_SAVED_END		offsetof(struct tss32, ldt)

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };

/* A fault of the task switch: the exception it raises instead. */
struct ts_fault {
	u8 vector;
	u32 error;
};

static struct kvm_segment *seg_of(struct kvm_sregs *s, int i)
{
	static const size_t off[] = {
		[SEG_ES] = offsetof(struct kvm_sregs, es),
		[SEG_CS] = offsetof(struct kvm_sregs, cs),
		[SEG_SS] = offsetof(struct kvm_sregs, ss),
		[SEG_DS] = offsetof(struct kvm_sregs, ds),
		[SEG_FS] = offsetof(struct kvm_sregs, fs),
		[SEG_GS] = offsetof(struct kvm_sregs, gs),
	};

	return (struct kvm_segment *)((u8 *)s + off[i]);
}

static void desc_to_seg(u64 d, u16 sel, struct kvm_segment *s)
{
	u32 limit = (d & 0xffff) | ((d >> 32) & 0xf0000);

	s->selector = sel;
	s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	s->g = (d >> 55) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->present = (d >> 47) & 1;
	s->avl = (d >> 52) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->unusable = 0;
	s->padding = 0;
}

/*
 * Linear address of descriptor @sel in the GDT or the current LDT;
 * false when the selector is outside the table.
 */
static bool desc_addr(const struct kvm_sregs *s, u16 sel, u64 *addr)
{
	u64 base = s->gdt.base;
	u32 limit = s->gdt.limit;

	if (sel & SEGMENT_TI_MASK) {
		if (s->ldt.unusable)
			return false;
		base = s->ldt.base;
		limit = s->ldt.limit;
	}
	if ((sel | 7) > limit)
		return false;
	*addr = (u32)(base + (sel & ~7));
	return true;
}

/*
 * Read descriptor @sel. Return: 0; 1 when outside its table (@f gets
 * @vector with the selector); -EFAULT after queueing a #PF; -errno.
 */
static int read_desc(struct modvm_vcpu *vcpu, const struct kvm_sregs *s,
		     u16 sel, u64 *desc, u64 *addr, struct ts_fault *f,
		     u8 vector)
{
	if (!desc_addr(s, sel, addr)) {
		f->vector = vector;
		f->error = sel & ~3;
		return 1;
	}
	return modvm_read_gva_implicit(vcpu, *addr, desc, sizeof(*desc));
}

static int write_desc(struct modvm_vcpu *vcpu, u64 addr, u64 desc)
{
	return modvm_write_gva_implicit(vcpu, addr, &desc, sizeof(desc));
}

/* Virtual-8086 task: segments as the selector says, CPL 3. */
static void load_vm86_segment(struct kvm_segment *seg, u16 sel, bool code)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = sel;
	seg->base = (u32)sel << 4;
	seg->limit = 0xffff;
	seg->type = code ? 0xb : 0x3;
	seg->s = 1;
	seg->dpl = 3;
	seg->present = 1;
}

/*
 * Load segment register @i of the new task from its selector, with the
 * checks of a task switch (#TS for a bad descriptor, #NP or #SS for an
 * absent one). Return: as read_desc().
 */
static int load_segment(struct modvm_vcpu *vcpu, struct kvm_sregs *s, int i,
			u16 sel, u8 cpl, struct ts_fault *f)
{
	struct kvm_segment *seg = seg_of(s, i);
	u8 rpl = sel & 3;
	u64 d, addr;
	int r;

	if (!(sel & ~3)) {
		/* A null CS or SS is no task; the others become unusable. */
		if (i == SEG_CS || i == SEG_SS) {
			f->vector = X86_TRAP_TS;
			f->error = sel & ~3;
			return 1;
		}
		memset(seg, 0, sizeof(*seg));
		seg->selector = sel;
		seg->unusable = 1;
		return 0;
	}
	r = read_desc(vcpu, s, sel, &d, &addr, f, X86_TRAP_TS);
	if (r)
		return r;
	desc_to_seg(d, sel, seg);
	f->vector = X86_TRAP_TS;
	f->error = sel & ~3;
	if (!seg->s)
		return 1;
	switch (i) {
	case SEG_CS:
		/* Code; non-conforming at DPL == RPL, conforming at DPL <= RPL. */
		if (!(seg->type & 8) ||
		    ((seg->type & 4) ? seg->dpl > rpl : seg->dpl != rpl))
			return 1;
		break;
	case SEG_SS:
		/* Writable data at the new CPL. */
		if ((seg->type & 0xa) != 2 || rpl != cpl || seg->dpl != cpl)
			return 1;
		break;
	default:
		/* Data or readable code; the privilege check skips conforming code. */
		if ((seg->type & 0xa) == 8)
			return 1;
		if ((seg->type & 0xc) != 0xc && seg->dpl < max(cpl, rpl))
			return 1;
	}
	if (!seg->present) {
		f->vector = i == SEG_SS ? X86_TRAP_SS : X86_TRAP_NP;
		return 1;
	}
	if (!(d & DESC_ACCESSED)) {
		seg->type |= 1;
		return write_desc(vcpu, addr, d | DESC_ACCESSED);
	}
	return 0;
}

/* The new task's LDT: null, or an LDT descriptor in the GDT. */
static int load_ldt(struct modvm_vcpu *vcpu, struct kvm_sregs *s, u16 sel,
		    struct ts_fault *f)
{
	u64 d, addr;
	int r;

	memset(&s->ldt, 0, sizeof(s->ldt));
	s->ldt.selector = sel;
	if (!(sel & ~3)) {
		s->ldt.unusable = 1;
		return 0;
	}
	f->vector = X86_TRAP_TS;
	f->error = sel & ~3;
	if (sel & SEGMENT_TI_MASK)
		return 1;
	r = read_desc(vcpu, s, sel, &d, &addr, f, X86_TRAP_TS);
	if (r)
		return r;
	desc_to_seg(d, sel, &s->ldt);
	if (s->ldt.s || s->ldt.type != DESC_LDT)
		return 1;
	if (!s->ldt.present) {
		f->vector = X86_TRAP_NP;
		return 1;
	}
	return 0;
}

/*
 * The event whose delivery went through a task gate: this task switch
 * delivers it, so it is not injected again. Returns the EIP to save (past
 * a software interrupt), and the error code to push, if any.
 */
static u32 take_gate_event(struct modvm_vcpu *vcpu, bool *has_error, u32 *error)
{
	u32 eip = vcpu->rip;

	*has_error = false;
	if (vcpu->exception.injected) {
		struct modvm_exception *ex = &vcpu->exception;

		*has_error = ex->has_error;
		*error = ex->error_code;
		if (ex->soft)
			eip += ex->insn_len;
		ex->injected = false;
	} else if (vcpu->nmi_injected) {
		vcpu->nmi_injected = false;
		/* Delivered: NMIs stay blocked until the next IRET. */
		modvm_backend->set_nmi_masked(vcpu, true);
	} else if (vcpu->interrupt.injected) {
		if (vcpu->interrupt.soft)
			eip += vcpu->interrupt.insn_len;
		vcpu->interrupt.injected = false;
	}
	return eip;
}

/* Check and save: everything before the new task's state is loaded. */
static int switch_out(struct modvm_vcpu *vcpu, struct kvm_sregs *s,
		      const struct modvm_exit *exit, u64 *new_desc,
		      struct tss32 *next, struct ts_fault *f, bool *has_error,
		      u32 *error)
{
	u16 sel = exit->task.selector;
	int source = exit->task.source;
	u32 eip = vcpu->rip, len = exit->insn_len;
	struct tss32 prev;
	u64 addr, old_desc, old_addr;
	bool busy, nested_return = source == MODVM_TASK_SWITCH_IRET;
	int r, i;

	*has_error = false;
	if (source == MODVM_TASK_SWITCH_GATE)
		eip = take_gate_event(vcpu, has_error, error);
	if (exit->task.insn) {
		if (!len) {
			r = modvm_task_insn_length(vcpu, &len);
			if (r)
				return r == -EFAULT ? r : -EOPNOTSUPP;
		}
		eip += len;
	}
	/* The new TSS: in the GDT, a 32-bit TSS, busy only for IRET, present. */
	f->error = sel & ~3;
	f->vector = nested_return ? X86_TRAP_TS : X86_TRAP_GP;
	if (sel & SEGMENT_TI_MASK)
		return 1;
	r = read_desc(vcpu, s, sel, new_desc, &addr, f, f->vector);
	if (r)
		return r;
	switch ((*new_desc >> 40) & 0x1f) {	/* S and type */
	case DESC_TSS:
		busy = false;
		break;
	case DESC_TSS | 2:
		busy = true;
		break;
	case 1: case 3:
		return -EOPNOTSUPP;	/* 16-bit TSS */
	default:
		return 1;
	}
	/* IRET returns to a nested, busy task; the others enter a free one. */
	if (busy != nested_return)
		return 1;
	if (!(*new_desc & BIT_ULL(47))) {
		f->vector = X86_TRAP_NP;
		return 1;
	}
	f->vector = X86_TRAP_TS;
	if (((*new_desc & 0xffff) | ((*new_desc >> 32) & 0xf0000)) < TSS32_MIN_LIMIT &&
	    !(*new_desc & BIT_ULL(55)))
		return 1;
	if (s->tr.limit < TSS32_MIN_LIMIT) {
		f->error = s->tr.selector & ~3;
		return 1;
	}

	/* Save the old task. */
	r = modvm_read_gva_implicit(vcpu, s->tr.base, &prev, sizeof(prev));
	if (r)
		return r;
	prev.eip = eip;
	prev.eflags = vcpu->rflags;
	if (source == MODVM_TASK_SWITCH_IRET)
		prev.eflags &= ~X86_EFLAGS_NT;
	for (i = 0; i < 8; i++)
		prev.gprs[i] = vcpu->gprs[i];
	for (i = 0; i < 6; i++)
		prev.sel[i] = seg_of(s, i)->selector;
	r = modvm_write_gva_implicit(vcpu, s->tr.base + TSS32_SAVED_START,
				     (u8 *)&prev + TSS32_SAVED_START,
				     TSS32_SAVED_END - TSS32_SAVED_START);
	if (r)
		return r;
	/* JMP and IRET leave the old task: it is no longer busy. */
	if (source == MODVM_TASK_SWITCH_JMP || source == MODVM_TASK_SWITCH_IRET) {
		r = read_desc(vcpu, s, s->tr.selector, &old_desc, &old_addr, f,
			      X86_TRAP_TS);
		if (!r)
			r = write_desc(vcpu, old_addr, old_desc & ~DESC_TYPE_BUSY);
		if (r)
			return r;
	}

	r = modvm_read_gva_implicit(vcpu, (u32)((*new_desc >> 16) & 0xffffff) |
				    (u32)((*new_desc >> 56) << 24),
				    next, sizeof(*next));
	if (r)
		return r;
	/* CALL and gates nest: the new task links back to the old one. */
	if (source == MODVM_TASK_SWITCH_CALL || source == MODVM_TASK_SWITCH_GATE) {
		u16 link = s->tr.selector;
		u64 base = (u32)((*new_desc >> 16) & 0xffffff) |
			   (u32)((*new_desc >> 56) << 24);

		next->prev_task = link;
		next->eflags |= X86_EFLAGS_NT;
		r = modvm_write_gva_implicit(vcpu, base, &link, sizeof(link));
		if (r)
			return r;
	}
	if (source != MODVM_TASK_SWITCH_IRET) {
		*new_desc |= DESC_TYPE_BUSY;
		r = write_desc(vcpu, addr, *new_desc);
	}
	return r;
}

/* Load the new task; faults from here on belong to it. */
static int switch_in(struct modvm_vcpu *vcpu, struct kvm_sregs *s,
		     u16 sel, u64 desc, const struct tss32 *next,
		     struct ts_fault *f)
{
	bool vm86 = next->eflags & X86_EFLAGS_VM;
	u8 cpl = vm86 ? 3 : next->sel[SEG_CS] & 3;
	int r, i;

	desc_to_seg(desc, sel, &s->tr);
	s->cr0 |= X86_CR0_TS;
	if (s->cr0 & X86_CR0_PG)
		s->cr3 = next->cr3;
	vcpu->rip = next->eip;
	vcpu->rflags = (next->eflags & 0x3f7fd5) | X86_EFLAGS_FIXED;
	for (i = 0; i < 8; i++)
		vcpu->gprs[i] = next->gprs[i];
	/* The selectors first, so that a faulting descriptor leaves them. */
	for (i = 0; i < 6; i++) {
		struct kvm_segment *seg = seg_of(s, i);

		memset(seg, 0, sizeof(*seg));
		seg->selector = next->sel[i];
		seg->unusable = 1;
		seg->dpl = cpl;
	}
	if (vm86) {
		for (i = 0; i < 6; i++)
			load_vm86_segment(seg_of(s, i), next->sel[i], i == SEG_CS);
		return load_ldt(vcpu, s, next->ldt, f);
	}
	r = load_ldt(vcpu, s, next->ldt, f);
	if (r)
		return r;
	/* CS first: it sets the CPL the other checks use. */
	r = load_segment(vcpu, s, SEG_CS, next->sel[SEG_CS], cpl, f);
	for (i = 0; !r && i < 6; i++)
		if (i != SEG_CS)
			r = load_segment(vcpu, s, i, next->sel[i], cpl, f);
	return r;
}

/* Push the error code of the event that went through the task gate. */
static int push_error(struct modvm_vcpu *vcpu, const struct kvm_sregs *s,
		      u32 error)
{
	u32 size = s->cs.db ? 4 : 2;
	u32 esp = vcpu->gprs[MODVM_RSP] - size;

	if (!s->ss.db)
		esp = (vcpu->gprs[MODVM_RSP] & ~0xffffu) | (u16)esp;
	vcpu->gprs[MODVM_RSP] = esp;
	return modvm_write_gva_implicit(vcpu, (u32)(s->ss.base +
					(s->ss.db ? esp : (u16)esp)), &error, size);
}

/**
 * modvm_task_switch() - carry out the task switch an exit reported.
 * @vcpu: the vCPU, its registers read from the backend.
 * @exit: MODVM_EXIT_TASK_SWITCH with the new TSS selector and its cause;
 *	for a task gate in the IDT, the event it delivers is the one
 *	modvm_events_after_exit() marked for re-injection.
 *
 * Return: 1 to enter the guest again (switched, or an exception queued);
 * -EOPNOTSUPP for a 16-bit TSS or long mode; -errno when guest memory
 * could not be reached.
 */
int modvm_task_switch(struct modvm_vcpu *vcpu, const struct modvm_exit *exit)
{
	struct modvm_paging_state ps;
	struct ts_fault f = {};
	struct kvm_sregs s;
	struct tss32 next;
	bool has_error;
	u32 error;
	u64 desc;
	int r;

	modvm_backend->get_paging(vcpu, &ps);
	if (ps.efer & EFER_LMA)
		return -EOPNOTSUPP;
	modvm_backend->get_sregs(vcpu, &s);
	r = switch_out(vcpu, &s, exit, &desc, &next, &f, &has_error, &error);
	if (r)
		goto fault;
	r = switch_in(vcpu, &s, exit->task.selector, desc, &next, &f);
	if (r < 0)
		return r == -EFAULT ? 1 : r;
	r = modvm_backend->set_sregs(vcpu, &s) ?: r;
	if (r)
		goto fault;
	if (s.cr0 & X86_CR0_PG)
		set_bit(MODVM_REQ_TLB_FLUSH, &vcpu->requests);
	if (has_error) {
		r = push_error(vcpu, &s, error);
		if (r)
			goto fault;
	}
	/* The new task's T bit: a debug trap before its first instruction. */
	if (next.trap & 1) {
		modvm_backend->set_dr(vcpu, 6, modvm_backend->get_dr(vcpu, 6) |
				      BIT(15));
		modvm_queue_exception(vcpu, X86_TRAP_DB, false, 0);
	}
	if (vcpu->rip > s.cs.limit)
		modvm_queue_exception(vcpu, X86_TRAP_GP, true, 0);
	return 1;
fault:
	if (r == -EFAULT)
		return 1;	/* a #PF is queued */
	if (r < 0)
		return r;
	modvm_queue_exception(vcpu, f.vector, true, f.error);
	return 1;
}
