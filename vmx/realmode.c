// SPDX-License-Identifier: GPL-2.0
/*
 * Real mode on VT-x without unrestricted guest (shadow paging: no EPT, or
 * tdp=0). The CPU enters only protected mode there, so a guest with
 * CR0.PE=0 runs in virtual-8086 mode, as KVM does it:
 *
 * - vmx_run() swaps the VMCS into a vm86 view for the entry and back at
 *   the exit, so that outside vmx_run() the VMCS always holds what the
 *   guest sees (KVM_GET_SREGS, core's emulators and CR handling need no
 *   translation): segments base = selector << 4, limit 0xffff, AR 0xf3;
 *   RFLAGS.VM and IOPL=3 (CLI, STI, PUSHF, POPF and IRET run natively;
 *   the guest's own IOPL is kept aside, and a PUSHF shows IOPL=3: the
 *   imprecision KVM accepts too). The guest's CR0/CR4 are in the read
 *   shadows already (shadow paging owns every bit); the hardware runs
 *   with PE and PG, and paging off is the shadow MMU's identity map.
 * - The vm86 TSS has limit 0 and the IDT limit 0, so nothing of them is
 *   in guest memory (KVM_SET_TSS_ADDR stays unused): every IN/OUT fails
 *   its I/O-bitmap check and every INT n its IDT check, both with #GP,
 *   and every exception exits (all of them are in the exception bitmap).
 *   This file then does what the instruction would have done in real
 *   mode: I/O, HLT, MOV CR, LGDT/LIDT and the other privileged
 *   instructions, delivered as the exits core already handles or done
 *   here; INT n, exceptions and injected events go through the guest's
 *   IVT (FLAGS, CS, IP pushed, CS:IP from the vector).
 * - The guest's MOV to CR0 that sets PE comes through core's CR
 *   handling: the VMCS then holds the real-mode segments (selector RPL 0
 *   and DPL 0, as the guest left them) and the entry is in protected
 *   mode, until the guest's far jump loads its descriptors.
 * - A real-mode state that vm86 cannot hold (a segment base that is not
 *   selector << 4, as the reset CS at 0xffff0000) is emulated an
 *   instruction at a time until it can: the few instructions that get
 *   there (MOV immediate, MOV to a segment register, far JMP) and those
 *   above.
 *
 * Anything else ends KVM_RUN with KVM_EXIT_INTERNAL_ERROR (emulation,
 * with the instruction bytes). A real-mode #GP of the guest's own (an
 * access past a 64 KiB limit) is one of them.
 */
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include <asm/traps.h>

#include "vmx.h"

/* Segment access rights (SDM 24.4.1). */
#define AR_VM86			0xf3	/* present, DPL 3, S, read/write, accessed */
#define AR_TSS32_BUSY		0x8b

#define MAX_INSN		15

/**
 * vmx_rmode_enter() - put the VMCS in the vm86 view of a real-mode guest.
 * @rm: the vCPU's real-mode state.
 *
 * The VMCS is current and holds the guest's own state.
 *
 * Return: false, changing nothing, when a segment's base is not its
 * selector << 4: vm86 cannot run that.
 */
bool vmx_rmode_enter(struct vmx_rmode *rm)
{
	int s;

	for (s = SEG_ES; s <= SEG_GS; s++)
		if (vmcs_read(SEG_BASE(s)) != (vmcs_read(SEG_SELECTOR(s)) & 0xffff) << 4)
			return false;
	for (s = 0; s < NR_SEGS; s++) {
		rm->sel[s] = vmcs_read(SEG_SELECTOR(s));
		rm->base[s] = vmcs_read(SEG_BASE(s));
		rm->limit[s] = vmcs_read(SEG_LIMIT(s));
		rm->ar[s] = vmcs_read(SEG_AR(s));
	}
	rm->idt_base = vmcs_read(GUEST_IDTR_BASE);
	rm->idt_limit = vmcs_read(GUEST_IDTR_LIMIT);
	rm->exception_bitmap = vmcs_read(EXCEPTION_BITMAP);

	for (s = SEG_ES; s <= SEG_GS; s++) {
		vmcs_write(SEG_LIMIT(s), 0xffff);
		vmcs_write(SEG_AR(s), AR_VM86);
	}
	/* No I/O bitmap, no IDT: I/O and INT n fault (#GP) to us. */
	vmcs_write(GUEST_TR_SELECTOR, 0);
	vmcs_write(GUEST_TR_BASE, 0);
	vmcs_write(GUEST_TR_LIMIT, 0);
	vmcs_write(GUEST_TR_AR_BYTES, AR_TSS32_BUSY);
	vmcs_write(GUEST_LDTR_SELECTOR, 0);
	vmcs_write(GUEST_LDTR_AR_BYTES, VMX_AR_UNUSABLE_MASK);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);
	vmcs_write(EXCEPTION_BITMAP, ~0u);
	rm->active = true;
	return true;
}

/**
 * vmx_rmode_leave() - back from the vm86 view to the guest's state.
 * @rm: the vCPU's real-mode state.
 *
 * Segment loads in real mode change selector and base only: limits and
 * access rights are the guest's from before the entry.
 */
void vmx_rmode_leave(struct vmx_rmode *rm)
{
	int s;

	if (!rm->active)
		return;
	for (s = 0; s < NR_SEGS; s++) {
		u32 ar = rm->ar[s];

		if (s <= SEG_GS && vmcs_read(SEG_SELECTOR(s)) != rm->sel[s]) {
			/* Loaded by the guest: usable now. */
			ar = (ar & ~VMX_AR_UNUSABLE_MASK) | 0x80;
		} else {
			vmcs_write(SEG_SELECTOR(s), rm->sel[s]);
			vmcs_write(SEG_BASE(s), rm->base[s]);
		}
		vmcs_write(SEG_LIMIT(s), rm->limit[s]);
		vmcs_write(SEG_AR(s), ar);
	}
	vmcs_write(GUEST_IDTR_BASE, rm->idt_base);
	vmcs_write(GUEST_IDTR_LIMIT, rm->idt_limit);
	vmcs_write(EXCEPTION_BITMAP, rm->exception_bitmap);
	rm->active = false;
}

/* Real-mode linear addresses: segment base plus a 16-bit offset. */
static u32 rm_linear(const struct kvm_segment *seg, u32 offset)
{
	return seg->base + offset;
}

/*
 * Deliver @vector through the IVT: push FLAGS, CS and IP (+ @len, past a
 * software interrupt's instruction), clear IF, TF, AC and RF, and go to
 * the vector's CS:IP. Returns 1, or 0 with an internal error.
 */
static int rmode_deliver(struct modvm_vcpu *vcpu, u8 vector, u32 len)
{
	struct kvm_sregs s;
	u16 words[3], sp, ivt[2];
	int i;

	modvm_backend->get_sregs(vcpu, &s);
	if (vector * 4 + 3 > s.idt.limit) {
		/* #GP, which does not fit either: the CPU shuts down. */
		set_bit(MODVM_REQ_TRIPLE_FAULT, &vcpu->requests);
		return 1;
	}
	if (modvm_read_gva_implicit(vcpu, (u32)(s.idt.base + vector * 4),
				    ivt, sizeof(ivt)))
		goto fail;
	words[0] = vcpu->rflags;
	words[1] = s.cs.selector;
	words[2] = vcpu->rip + len;
	sp = vcpu->gprs[MODVM_RSP];
	for (i = 0; i < 3; i++) {
		sp -= 2;
		if (modvm_write_gva_implicit(vcpu, rm_linear(&s.ss, sp),
					     &words[i], 2))
			goto fail;
	}
	vcpu->gprs[MODVM_RSP] = (vcpu->gprs[MODVM_RSP] & ~0xffffULL) | sp;
	s.cs.selector = ivt[1];
	s.cs.base = (u32)ivt[1] << 4;
	vcpu->rip = ivt[0];
	vcpu->rflags &= ~(X86_EFLAGS_IF | X86_EFLAGS_TF | X86_EFLAGS_AC |
			  X86_EFLAGS_RF);
	return modvm_backend->set_sregs(vcpu, &s) ? -EINVAL : 1;
fail:
	modvm_emulation_failure(vcpu, NULL, 0);
	return 0;
}

/* An instruction being emulated. */
struct rm_insn {
	struct kvm_sregs s;
	u8 b[MAX_INSN];
	int avail, pos;
	int seg;		/* segment prefix, or -1 */
	bool p66, p67, rep;
	u8 op;
	u8 mod, reg, rm;
	u64 ea;
	int mseg;
};

static int next_byte(struct rm_insn *in, u8 *v)
{
	if (in->pos >= in->avail)
		return -EINVAL;
	*v = in->b[in->pos++];
	return 0;
}

static int next_bytes(struct rm_insn *in, int n, u32 *v)
{
	u8 b;
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (next_byte(in, &b))
			return -EINVAL;
		*v |= (u32)b << (8 * i);
	}
	return 0;
}

static int fetch_insn(struct modvm_vcpu *vcpu, struct rm_insn *in)
{
	u32 lin = rm_linear(&in->s.cs, (u16)vcpu->rip);
	int first = min_t(int, MAX_INSN, PAGE_SIZE - offset_in_page(lin));

	if (modvm_read_gva(vcpu, lin, in->b, first, true))
		return -EFAULT;
	in->avail = first;
	if (first < MAX_INSN &&
	    !modvm_read_gva(vcpu, lin + first, in->b + first, MAX_INSN - first,
			    true))
		in->avail = MAX_INSN;
	return 0;
}

static int decode_prefixes(struct rm_insn *in)
{
	u8 b;

	in->seg = -1;
	for (;;) {
		if (next_byte(in, &b))
			return -EINVAL;
		switch (b) {
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			in->seg = (b >> 3) & 3;
			break;
		case 0x64: case 0x65:
			in->seg = b == 0x64 ? SEG_FS : SEG_GS;
			break;
		case 0x66:
			in->p66 = true;
			break;
		case 0x67:
			in->p67 = true;
			break;
		case 0xf2: case 0xf3:
			in->rep = true;
			break;
		case 0xf0:
			break;
		default:
			in->op = b;
			return 0;
		}
	}
}

static u64 gpr(struct modvm_vcpu *vcpu, int reg)
{
	return vcpu->gprs[reg];
}

/* ModRM and its memory operand, 16- or 32-bit addressing. */
static int decode_modrm(struct modvm_vcpu *vcpu, struct rm_insn *in)
{
	static const u8 base16[8] = {
		MODVM_RBX, MODVM_RBX, MODVM_RBP, MODVM_RBP,
		MODVM_RSI, MODVM_RDI, MODVM_RBP, MODVM_RBX,
	};
	u32 disp = 0;
	u64 ea = 0;
	u8 b, sib;

	if (next_byte(in, &b))
		return -EINVAL;
	in->mod = b >> 6;
	in->reg = (b >> 3) & 7;
	in->rm = b & 7;
	if (in->mod == 3)
		return 0;
	in->mseg = SEG_DS;
	if (!in->p67) {
		if (in->mod == 0 && in->rm == 6) {
			if (next_bytes(in, 2, &disp))
				return -EINVAL;
		} else {
			ea = gpr(vcpu, base16[in->rm]);
			if (in->rm < 4)
				ea += gpr(vcpu, in->rm & 1 ? MODVM_RDI : MODVM_RSI);
			if (in->rm == 2 || in->rm == 3 || in->rm == 6)
				in->mseg = SEG_SS;
		}
		if (in->mod == 1 && !next_bytes(in, 1, &disp))
			disp = (s8)disp;
		else if (in->mod == 2 && next_bytes(in, 2, &disp))
			return -EINVAL;
		in->ea = (ea + disp) & 0xffff;
	} else {
		if (in->rm == 4) {
			if (next_byte(in, &sib))
				return -EINVAL;
			if (((sib >> 3) & 7) != 4)
				ea = (u32)gpr(vcpu, (sib >> 3) & 7) << (sib >> 6);
			if ((sib & 7) == 5 && in->mod == 0) {
				if (next_bytes(in, 4, &disp))
					return -EINVAL;
			} else {
				ea += (u32)gpr(vcpu, sib & 7);
				if ((sib & 7) == 4 || (sib & 7) == 5)
					in->mseg = SEG_SS;
			}
		} else if (in->rm == 5 && in->mod == 0) {
			if (next_bytes(in, 4, &disp))
				return -EINVAL;
		} else {
			ea = (u32)gpr(vcpu, in->rm);
			if (in->rm == 5)
				in->mseg = SEG_SS;
		}
		if (in->mod == 1 && !next_bytes(in, 1, &disp))
			disp = (s8)disp;
		else if (in->mod == 2 && next_bytes(in, 4, &disp))
			return -EINVAL;
		in->ea = (u32)(ea + disp);
	}
	if (in->seg >= 0)
		in->mseg = in->seg;
	return 0;
}

static struct kvm_segment *sreg(struct kvm_sregs *s, int seg)
{
	switch (seg) {
	case SEG_ES: return &s->es;
	case SEG_CS: return &s->cs;
	case SEG_SS: return &s->ss;
	case SEG_FS: return &s->fs;
	case SEG_GS: return &s->gs;
	}
	return &s->ds;
}

static int read_mem(struct modvm_vcpu *vcpu, struct rm_insn *in, void *data,
		    int len)
{
	return modvm_read_gva(vcpu, rm_linear(sreg(&in->s, in->mseg), in->ea),
			      data, len, false);
}

/* 0F 01: LGDT, LIDT (done here), LMSW (core's), INVLPG (a no-op). */
static int group7(struct modvm_vcpu *vcpu, struct rm_insn *in,
		  struct modvm_exit *next)
{
	struct kvm_dtable *dt;
	u8 desc[6];
	u16 msw;

	if (decode_modrm(vcpu, in))
		return -EINVAL;
	switch (in->reg) {
	case 2: case 3:
		if (in->mod == 3)
			return -EINVAL;
		if (read_mem(vcpu, in, desc, sizeof(desc)))
			return -EFAULT;
		dt = in->reg == 2 ? &in->s.gdt : &in->s.idt;
		dt->limit = desc[0] | desc[1] << 8;
		/* A 16-bit operand loads 24 bits of base. */
		dt->base = desc[2] | desc[3] << 8 | desc[4] << 16 |
			   (in->p66 ? (u32)desc[5] << 24 : 0);
		if (modvm_backend->set_sregs(vcpu, &in->s))
			return -EINVAL;
		vcpu->rip = (u16)(vcpu->rip + in->pos);
		return 1;
	case 6:
		if (in->mod == 3)
			msw = gpr(vcpu, in->rm);
		else if (read_mem(vcpu, in, &msw, 2))
			return -EFAULT;
		next->type = MODVM_EXIT_CR;
		next->cr.cr = 0;
		next->cr.write = true;
		next->cr.gpr = 0;
		next->cr.kind = MODVM_CR_LMSW;
		next->cr.lmsw = msw;
		return MODVM_COMPLETE_NEXT;
	case 7:
		if (in->mod == 3)
			return -EINVAL;
		next->type = MODVM_EXIT_NOP_INSN;
		return MODVM_COMPLETE_NEXT;
	}
	return -EINVAL;
}

/* Two-byte opcodes that fault in vm86 (CPL 3) but run in real mode. */
static int twobyte(struct modvm_vcpu *vcpu, struct rm_insn *in,
		   struct modvm_exit *next)
{
	u8 op;

	if (next_byte(in, &op))
		return -EINVAL;
	switch (op) {
	case 0x01:
		return group7(vcpu, in, next);
	case 0x06:	/* CLTS */
		next->type = MODVM_EXIT_CR;
		next->cr.cr = 0;
		next->cr.write = true;
		next->cr.gpr = 0;
		next->cr.kind = MODVM_CR_CLTS;
		return MODVM_COMPLETE_NEXT;
	case 0x08: case 0x09:	/* INVD, WBINVD */
		next->type = MODVM_EXIT_NOP_INSN;
		return MODVM_COMPLETE_NEXT;
	case 0x20: case 0x22:	/* MOV from/to CR: always register operands */
		if (decode_modrm(vcpu, in) || in->mod != 3)
			return -EINVAL;
		next->type = MODVM_EXIT_CR;
		next->cr.cr = in->reg;
		next->cr.write = op == 0x22;
		next->cr.gpr = in->rm;
		next->cr.kind = MODVM_CR_MOV;
		return MODVM_COMPLETE_NEXT;
	case 0x30:
		next->type = MODVM_EXIT_WRMSR;
		return MODVM_COMPLETE_NEXT;
	case 0x32:
		next->type = MODVM_EXIT_RDMSR;
		return MODVM_COMPLETE_NEXT;
	}
	return -EINVAL;
}

/* IN, OUT, INS, OUTS: the I/O exit the instruction would have made. */
static int port_io(struct modvm_vcpu *vcpu, struct rm_insn *in,
		   struct modvm_exit *next)
{
	u8 op = in->op, port8;

	next->type = MODVM_EXIT_IO;
	next->io.size = op & 1 ? (in->p66 ? 4 : 2) : 1;
	next->io.string = op < 0x70;
	next->io.rep = next->io.string && in->rep;
	next->io.in = !(op & 2);
	if (op == 0xe4 || op == 0xe5 || op == 0xe6 || op == 0xe7) {
		if (next_byte(in, &port8))
			return -EINVAL;
		next->io.port = port8;
	} else {
		next->io.port = vcpu->gprs[MODVM_RDX];
	}
	return MODVM_COMPLETE_NEXT;
}

/*
 * What a state vm86 cannot hold needs until it can: MOV immediate to a
 * register, MOV to a segment register, far JMP.
 */
static int step_only(struct modvm_vcpu *vcpu, struct rm_insn *in)
{
	u32 imm, sel;
	u64 *reg;
	int size;

	switch (in->op) {
	case 0xb0 ... 0xb7:
		if (next_bytes(in, 1, &imm))
			return -EINVAL;
		reg = &vcpu->gprs[in->op & 3];
		if (in->op & 4)
			*reg = (*reg & ~0xff00ULL) | imm << 8;
		else
			*reg = (*reg & ~0xffULL) | imm;
		break;
	case 0xb8 ... 0xbf:
		size = in->p66 ? 4 : 2;
		if (next_bytes(in, size, &imm))
			return -EINVAL;
		reg = &vcpu->gprs[in->op & 7];
		*reg = size == 4 ? imm : (*reg & ~0xffffULL) | imm;
		break;
	case 0x8e:
		if (decode_modrm(vcpu, in) || in->mod != 3 ||
		    in->reg == SEG_CS || in->reg > SEG_GS)
			return -EINVAL;
		sel = (u16)gpr(vcpu, in->rm);
		sreg(&in->s, in->reg)->selector = sel;
		sreg(&in->s, in->reg)->base = sel << 4;
		if (modvm_backend->set_sregs(vcpu, &in->s))
			return -EINVAL;
		break;
	case 0xea:
		if (next_bytes(in, in->p66 ? 4 : 2, &imm) ||
		    next_bytes(in, 2, &sel))
			return -EINVAL;
		in->s.cs.selector = sel;
		in->s.cs.base = sel << 4;
		if (modvm_backend->set_sregs(vcpu, &in->s))
			return -EINVAL;
		vcpu->rip = imm;
		return 1;
	default:
		return -EINVAL;
	}
	vcpu->rip = (u16)(vcpu->rip + in->pos);
	return 1;
}

/*
 * Emulate the instruction at CS:IP, or say which exit it makes (MODVM_COMPLETE_NEXT, with
 * @next filled in). Returns as vmx_rmode_complete().
 */
static int rmode_emulate(struct modvm_vcpu *vcpu, struct vmx_rmode *rm,
			 struct modvm_exit *next)
{
	struct rm_insn in = { };
	u8 vector;
	int r;

	modvm_backend->get_sregs(vcpu, &in.s);
	if (fetch_insn(vcpu, &in)) {
		modvm_emulation_failure(vcpu, NULL, 0);
		return 0;
	}
	r = decode_prefixes(&in);
	if (r)
		goto fail;
	memset(next, 0, sizeof(*next));
	switch (in.op) {
	case 0x0f:
		r = rm->todo == RMODE_INT ? -EINVAL : twobyte(vcpu, &in, next);
		break;
	case 0xf4:
		next->type = MODVM_EXIT_HLT;
		r = rm->todo == RMODE_INT ? -EINVAL : MODVM_COMPLETE_NEXT;
		break;
	case 0xe4 ... 0xe7: case 0xec ... 0xef: case 0x6c ... 0x6f:
		r = rm->todo == RMODE_INT ? -EINVAL : port_io(vcpu, &in, next);
		break;
	case 0xcd:
		r = next_byte(&in, &vector);
		if (r)
			break;
		return rmode_deliver(vcpu, vector, in.pos);
	default:
		r = rm->todo == RMODE_STEP ? step_only(vcpu, &in) : -EINVAL;
	}
	if (r == MODVM_COMPLETE_NEXT)
		next->insn_len = in.pos;
	if (r >= 0)
		return r;
	if (r == -EFAULT) {
		modvm_emulation_failure(vcpu, NULL, 0);
		return 0;
	}
fail:
	pr_debug_ratelimited("modvm: vmx: cannot emulate real-mode %*ph at %llx:%llx\n",
			     in.avail, in.b, in.s.cs.base, vcpu->rip);
	modvm_emulation_failure(vcpu, in.b, in.avail);
	return 0;
}

/**
 * vmx_rmode_complete() - finish an exit of a real-mode guest.
 * @vcpu: the vCPU, IRQs on, the VMCS holding the guest's own state.
 * @rm: its real-mode state; @rm->todo says what the exit left to do.
 * @next: an exit for core to handle instead, when this returns MODVM_COMPLETE_NEXT.
 *
 * Return: 1 to enter the guest again; MODVM_COMPLETE_NEXT with @next; 0 with
 * vcpu->run describing an internal error; or a negative errno.
 */
int vmx_rmode_complete(struct modvm_vcpu *vcpu, struct vmx_rmode *rm,
		       struct modvm_exit *next)
{
	u32 info = rm->event_info;
	u32 len = 0;
	int r;

	if (rm->todo != RMODE_EVENT)
		return rmode_emulate(vcpu, rm, next);

	switch (info & INTR_INFO_INTR_TYPE_MASK) {
	case INTR_TYPE_SOFT_INTR:
	case INTR_TYPE_SOFT_EXCEPTION:
	case INTR_TYPE_PRIV_SW_EXCEPTION:
		len = rm->event_len;
		break;
	}
	r = rmode_deliver(vcpu, info & INTR_INFO_VECTOR_MASK, len);
	/* As on delivery through the IDT: blocked until the guest's IRET. */
	if (r == 1 && (info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR)
		modvm_backend->set_nmi_masked(vcpu, true);
	return r;
}
