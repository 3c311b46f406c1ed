// SPDX-License-Identifier: GPL-2.0
/*
 * Just enough decoding for instructions that exit unconditionally: their
 * length (when the CPU does not report the next RIP, as QEMU's SVM model
 * without NRIP-save) and the prefixes that change their operands.
 */
#include <linux/mm.h>
#include <asm/processor-flags.h>

#include "modvm.h"

/* The segment registers in the order of struct kvm_sregs. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };

/* Length of the opcode (and ModRM-less operands) after the prefixes. */
static int opcode_length(const u8 *op, int avail)
{
	if (avail < 1)
		return -EAGAIN;
	switch (op[0]) {
	case 0xf4:			/* HLT */
	case 0xe4: case 0xe5:		/* IN imm8: one more byte */
	case 0xe6: case 0xe7:		/* OUT imm8 */
		return op[0] == 0xf4 ? 1 : 2;
	case 0xec: case 0xed: case 0xee: case 0xef:	/* IN/OUT DX */
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:	/* INS/OUTS */
		return 1;
	case 0x0f:
		if (avail < 2)
			return -EAGAIN;
		switch (op[1]) {
		case 0xa2:		/* CPUID */
		case 0x30: case 0x32:	/* WRMSR, RDMSR */
		case 0x08: case 0x09:	/* INVD, WBINVD */
		case 0x06:		/* CLTS */
			return 2;
		case 0x20: case 0x22:	/* MOV from/to CR: ModRM, always a GPR */
			if (avail < 3)
				return -EAGAIN;
			return 3;
		case 0x01:		/* VMMCALL, XSETBV, MONITOR, MWAIT, ... */
			if (avail < 3)
				return -EAGAIN;
			return op[2] >= 0xc0 ? 3 : -EINVAL;
		}
	}
	return -EINVAL;
}

/* The segment a prefix byte selects, or -1 if it is no segment prefix. */
static int segment_prefix(u8 b)
{
	switch (b) {
	case 0x26:
		return SEG_ES;
	case 0x2e:
		return SEG_CS;
	case 0x36:
		return SEG_SS;
	case 0x3e:
		return SEG_DS;
	case 0x64:
		return SEG_FS;
	case 0x65:
		return SEG_GS;
	}
	return -1;
}

static int decode(const u8 *insn, int avail, bool long_mode,
		  struct modvm_insn_prefixes *p)
{
	int i, r;

	p->seg = -1;
	p->addr_size_override = false;
	p->operand_size_override = false;
	p->rex = 0;
	for (i = 0; i < avail; i++) {
		int seg = segment_prefix(insn[i]);

		/* A REX prefix counts only right before the opcode. */
		if (long_mode && (insn[i] & 0xf0) == 0x40) {
			p->rex = insn[i];
			continue;
		}
		if (seg >= 0)
			p->seg = seg;
		else if (insn[i] == 0x66)
			p->operand_size_override = true;
		else if (insn[i] == 0x67)
			p->addr_size_override = true;
		else if (insn[i] != 0xf0 && insn[i] != 0xf2 && insn[i] != 0xf3)
			break;
		p->rex = 0;
	}
	r = opcode_length(insn + i, avail - i);
	if (r < 0)
		return r;
	memcpy(p->opcode, insn + i, min_t(int, r, sizeof(p->opcode)));
	p->length = i + r;
	return p->length <= 15 ? 0 : -EINVAL;
}

/**
 * modvm_decode_simple() - decode the instruction at the guest's RIP.
 * @vcpu: the vCPU.
 * @p: the length and the prefixes that matter.
 *
 * Only instructions without memory operands are known (those that exit:
 * CPUID, RDMSR, WRMSR, HLT, IN, OUT, INS, OUTS, INVD, WBINVD, the
 * 0F 01 group's register forms, CLTS and MOV to/from a control register).
 *
 * Return: 0; -EFAULT after queueing a #PF; -EINVAL for an instruction
 * this decoder does not know; another negative errno when the code is
 * outside guest memory.
 */
int modvm_decode_simple(struct modvm_vcpu *vcpu, struct modvm_insn_prefixes *p)
{
	struct modvm_paging_state ps;
	struct kvm_sregs sregs;
	u8 insn[15];
	u64 lin;
	int r, avail;
	bool long_mode;

	modvm_backend->get_sregs(vcpu, &sregs);
	modvm_backend->get_paging(vcpu, &ps);
	long_mode = (ps.efer & EFER_LMA) && ps.cs_l;
	lin = (long_mode ? 0 : sregs.cs.base) + vcpu->rip;
	if (!long_mode)
		lin = (u32)lin;
	/* Read the next page only if the instruction runs into it. */
	avail = min_t(int, sizeof(insn), PAGE_SIZE - offset_in_page(lin));
	r = modvm_read_gva(vcpu, lin, insn, avail, true);
	if (r)
		return r;
	r = decode(insn, avail, long_mode, p);
	if (r == -EAGAIN && avail < (int)sizeof(insn)) {
		r = modvm_read_gva(vcpu, lin + avail, insn + avail,
				   sizeof(insn) - avail, true);
		if (r)
			return r;
		r = decode(insn, sizeof(insn), long_mode, p);
	}
	return r == -EAGAIN ? -EINVAL : r;
}
