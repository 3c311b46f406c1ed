// SPDX-License-Identifier: GPL-2.0
/*
 * Intercepted control-register accesses: MOV to and from CR0/CR3/CR4,
 * CLTS, LMSW and SMSW, with the checks the CPU makes (#GP otherwise).
 * With shadow paging every one of them exits; with NPT only CR4 writes
 * do (on SVM), so that the guest cannot set a CR4 bit modvm does not
 * support. The guest-visible values live in the backend and change
 * through its set_sregs; the shadow MMU picks a new paging mode up
 * before the next entry.
 */
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>

#include "modvm.h"

struct cr_insn {
	u8 cr;
	bool write;
	s8 gpr;
	u8 kind;
	bool smsw;
	bool opsize16;
	u16 lmsw;
	int len;
};

/*
 * Decode the instruction at RIP when the hardware did not say what it
 * is: the MOV CR opcodes have register operands only; LMSW and SMSW with
 * a memory operand are refused. Returns 0, -EFAULT (a #PF is queued) or
 * -EINVAL.
 */
static int cr_decode(struct modvm_vcpu *vcpu, const struct modvm_paging_state *ps,
		     bool lm64, struct cr_insn *c)
{
	struct modvm_insn_prefixes p;
	u8 modrm;
	int r;

	r = modvm_decode_simple(vcpu, &p);
	if (r)
		return r == -EFAULT ? -EFAULT : -EINVAL;
	if (p.opcode[0] != 0x0f)
		return -EINVAL;
	/* 16-bit operands: 66 in 32/64-bit code, no 66 in 16-bit code. */
	c->opsize16 = lm64 || ps->cs_db ? p.operand_size_override :
					  !p.operand_size_override;
	c->len = p.length;
	modrm = p.opcode[2];
	switch (p.opcode[1]) {
	case 0x20:
	case 0x22:
		c->kind = MODVM_CR_MOV;
		c->write = p.opcode[1] == 0x22;
		c->cr = ((modrm >> 3) & 7) | (p.rex & 4 ? 8 : 0);
		c->gpr = (modrm & 7) | (p.rex & 1 ? 8 : 0);
		return 0;
	case 0x06:
		c->kind = MODVM_CR_CLTS;
		c->cr = 0;
		c->write = true;
		return 0;
	case 0x01:
		/* modvm_decode_simple() knows only the register forms. */
		c->gpr = (modrm & 7) | (p.rex & 1 ? 8 : 0);
		c->cr = 0;
		if (((modrm >> 3) & 7) == 6) {
			c->kind = MODVM_CR_LMSW;
			c->write = true;
			c->lmsw = vcpu->gprs[c->gpr];
			return 0;
		}
		if (((modrm >> 3) & 7) == 4) {
			c->kind = MODVM_CR_MOV;
			c->smsw = true;
			c->write = false;
			if (p.rex & 8)
				c->opsize16 = false;
			return 0;
		}
		return -EINVAL;
	}
	return -EINVAL;
}

static u64 *cr_field(struct kvm_sregs *s, int cr)
{
	switch (cr) {
	case 0:
		return &s->cr0;
	case 3:
		return &s->cr3;
	case 4:
		return &s->cr4;
	}
	return NULL;
}

/*
 * The checks of MOV to CR4 (#GP otherwise): no reserved or unsupported
 * bit, PAE stays set in long mode, PCIDE turns on only in long mode with
 * CR3[11:0] clear.
 */
static bool cr4_write_valid(const struct modvm_paging_state *ps, u64 cr4)
{
	bool long_mode = ps->efer & EFER_LMA;

	if (cr4 & ~modvm_cr4_valid())
		return false;
	if (long_mode && !(cr4 & X86_CR4_PAE))
		return false;
	if ((cr4 & X86_CR4_PCIDE) && !(ps->cr4 & X86_CR4_PCIDE) &&
	    (!long_mode || (ps->cr3 & 0xfff)))
		return false;
	return true;
}

/* The CR0 checks of MOV to CR0; also switches EFER.LMA. */
static bool cr0_write(struct kvm_sregs *s, u64 val, bool lm64)
{
	if (val >> 32)
		return false;
	if ((val & X86_CR0_PG) && !(val & X86_CR0_PE))
		return false;
	if ((val & X86_CR0_NW) && !(val & X86_CR0_CD))
		return false;
	if ((val & X86_CR0_PG) && !(s->cr0 & X86_CR0_PG) &&
	    (s->efer & EFER_LME)) {
		if (!(s->cr4 & X86_CR4_PAE) || s->cs.l)
			return false;
		s->efer |= EFER_LMA;
	} else if (!(val & X86_CR0_PG) && (s->cr0 & X86_CR0_PG)) {
		/* Long mode is left from compatibility mode only. */
		if (lm64)
			return false;
		s->efer &= ~EFER_LMA;
	}
	return true;
}

/*
 * Apply a new CR value as MOV to CR would. Returns 1 when written, 0
 * after queueing #GP, or a negative errno from the backend.
 */
static int cr_write(struct modvm_vcpu *vcpu, const struct modvm_paging_state *ps,
		    struct kvm_sregs *s, int cr, u64 val, bool lm64)
{
	u64 flush_bits = 0;
	int r;

	if (!lm64)
		val = (u32)val;
	switch (cr) {
	case 0:
		/* ET is fixed to 1 on every CPU with a floating-point unit. */
		val |= X86_CR0_ET;
		if (!cr0_write(s, val, lm64))
			goto gp;
		flush_bits = X86_CR0_PG | X86_CR0_WP | X86_CR0_PE;
		break;
	case 3:
		/* Bit 63 with PCIDE only says not to flush the PCID. */
		if (s->cr4 & X86_CR4_PCIDE)
			val &= ~BIT_ULL(63);
		if ((s->efer & EFER_LMA) && (val >> boot_cpu_data.x86_phys_bits))
			goto gp;
		break;
	case 4:
		if (!cr4_write_valid(ps, val))
			goto gp;
		/* The CPU flushes the TLB when paging-structure bits change. */
		flush_bits = X86_CR4_PGE | X86_CR4_PAE | X86_CR4_PSE |
			     X86_CR4_PCIDE | X86_CR4_SMEP;
		break;
	default:
		goto gp;
	}
	flush_bits &= val ^ *cr_field(s, cr);
	*cr_field(s, cr) = val;
	r = modvm_backend->set_sregs(vcpu, s);
	if (r)
		return r;
	if (flush_bits)
		set_bit(MODVM_REQ_TLB_FLUSH, &vcpu->requests);
	return 1;
gp:
	modvm_inject_gp(vcpu);
	return 0;
}

/**
 * modvm_handle_cr() - emulate an intercepted control-register access.
 * @vcpu: the vCPU.
 * @exit: the MODVM_EXIT_CR exit.
 *
 * Return: 1 to enter the guest again (the access done and RIP moved on,
 * or an exception queued); -EINVAL when the instruction at RIP is none
 * this handles; another negative errno from the backend.
 */
int modvm_handle_cr(struct modvm_vcpu *vcpu, const struct modvm_exit *exit)
{
	struct modvm_paging_state ps;
	struct kvm_sregs s;
	struct cr_insn c = {
		.cr = exit->cr.cr, .write = exit->cr.write, .gpr = exit->cr.gpr,
		.kind = exit->cr.kind, .lmsw = exit->cr.lmsw,
		.len = exit->insn_len,
	};
	bool lm64;
	u64 *field, val;
	int r;

	modvm_backend->get_sregs(vcpu, &s);
	modvm_backend->get_paging(vcpu, &ps);
	lm64 = (ps.efer & EFER_LMA) && ps.cs_l;
	if (c.gpr < 0 || !c.len) {
		r = cr_decode(vcpu, &ps, lm64, &c);
		if (r == -EFAULT)
			return 1;
		if (r)
			return r;
		/* The exit and the instruction at RIP must agree. */
		if (c.cr != exit->cr.cr || c.write != exit->cr.write)
			return -EINVAL;
	}
	field = cr_field(&s, c.cr);
	if (!field || ps.cpl) {
		modvm_inject_gp(vcpu);
		return 1;
	}
	if (!c.write) {
		u64 *reg = &vcpu->gprs[c.gpr];

		val = *field;
		if (c.smsw && c.opsize16)
			*reg = (*reg & ~0xffffULL) | (u16)val;
		else
			*reg = lm64 ? val : (u32)val;
		vcpu->rip += c.len;
		return 1;
	}
	switch (c.kind) {
	case MODVM_CR_CLTS:
		val = s.cr0 & ~X86_CR0_TS;
		break;
	case MODVM_CR_LMSW:
		/* LMSW loads MP, EM, TS and sets, never clears, PE. */
		val = (s.cr0 & ~0xeULL) | (c.lmsw & 0xf);
		break;
	default:
		val = vcpu->gprs[c.gpr];
		break;
	}
	r = cr_write(vcpu, &ps, &s, c.cr, val, lm64);
	if (r < 0)
		return r;
	if (r)
		vcpu->rip += c.len;
	return 1;
}
