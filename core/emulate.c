// SPDX-License-Identifier: GPL-2.0
/*
 * The x86 instruction emulator for guest accesses to memory-mapped I/O:
 * a guest-physical address in no memslot ends in a nested page fault,
 * and the instruction at RIP is decoded and executed here.
 *
 * MMIO reads a device must answer: the instruction runs in passes. A
 * pass that needs a read nobody has answered yet stops before changing
 * any guest state and exits to userspace with KVM_EXIT_MMIO; the next
 * KVM_RUN stores the data and runs the instruction again from the start,
 * now taking its reads, in order, from vcpu->mmio.reads. Every executor
 * reads all its operands before it writes anything, so a stopped pass
 * has written nothing. MMIO writes are queued while the pass runs and
 * handed to userspace one fragment per exit once the instruction has
 * completed (RIP already advanced, as KVM does). Accesses wider than
 * 8 bytes are split into 8-byte fragments, again as KVM does.
 *
 * REP MOVS/STOS/LODS commit their registers after every element, so a
 * pass that stops in element n restarts there; an element that wrote
 * MMIO ends the pass and the guest runs the REP on from the next one.
 *
 * Not modelled: segment limit and canonical checks, alignment checks
 * (AC), single-step traps and interrupt shadows after an emulated
 * instruction, VEX encodings. Unknown instructions end KVM_RUN with
 * KVM_INTERNAL_ERROR_EMULATION and the instruction bytes.
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <asm/fpu/api.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>
#include <asm/traps.h>

#include "modvm.h"

/* Segment registers in the encoding order of the prefixes and ModRM. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };

/* The eight ALU operations of opcodes 00-3F and group 1 (80-83). */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* The four bit tests, in the order of 0F BA /4-/7. */
enum { BIT_BT, BIT_BTS, BIT_BTR, BIT_BTC };

#define FLAGS_ARITH	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
			 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

#define REX_B		0x1
#define REX_X		0x2
#define REX_R		0x4
#define REX_W		0x8

#define MAX_INSN	15
/* REP elements per pass before the guest runs again. */
#define MAX_REP_PASS	1024

/* How a step of emulation ended. */
enum {
	EMU_OK,
	EMU_EXIT,	/* an MMIO read for userspace: run->mmio is filled in */
	EMU_FAULT,	/* an exception is queued for the guest */
	EMU_UNHANDLED,	/* an instruction or case the emulator does not know */
};

/* What the memory operand of an SSE move does. */
struct sse_op {
	u8 size;
	bool store;
	bool aligned;
};

struct emu {
	struct modvm_vcpu *vcpu;
	struct kvm_sregs sregs;
	struct modvm_paging_state ps;
	bool lm64;		/* 64-bit code segment in long mode */

	u8 insn[MAX_INSN];
	int avail;		/* bytes of insn[] fetched */
	int pos;		/* decode position */
	bool fetch_fault;	/* bytes after avail are on a faulting page */
	u32 fetch_pf_error;
	u64 fetch_pf_addr;

	int asize;		/* address size: 2, 4 or 8 */
	int osize;		/* operand size of the non-byte forms */
	int seg;		/* segment override, or -1 */
	u8 rex;
	u8 rep;			/* 0, 0xf2 or 0xf3 */
	bool p66;

	u8 op;
	bool twobyte;
	u8 mod, reg, rm;	/* reg and rm extended by REX */
	bool mem;		/* the r/m operand is memory */
	bool riprel;
	int mseg;		/* its segment */
	u64 ea;			/* its effective address */
	s64 imm;
	u64 next_rip;

	bool rmw;		/* reads check write permission */
	u64 gprs[MODVM_NR_GPRS];
	u64 rflags;
	bool xmm_dirty;
	u8 xmm[16];
	u8 nread;		/* next entry of vcpu->mmio.reads */
};

static u64 size_mask(int size)
{
	return size == 8 ? ~0ULL : BIT_ULL(size * 8) - 1;
}

static s64 sign_extend(u64 v, int size)
{
	return size == 8 ? (s64)v : sign_extend64(v, size * 8 - 1);
}

/* Store an address-sized register: 16-bit keeps the rest, 32-bit clears it. */
static void write_masked(u64 *reg, u64 value, u64 mask)
{
	*reg = mask == 0xffff ? (*reg & ~mask) | (value & mask) : value & mask;
}

/*
 * Guest XMM registers. Between the two fpu_swap_kvm_fpstate() calls of
 * KVM_RUN, current's FPU state is the guest's: either live in the CPU
 * registers or, if the task was scheduled out or a softirq used the FPU,
 * saved to guest_fpu's buffer with TIF_NEED_FPU_LOAD set. fpregs_lock()
 * keeps both preemption and kernel-mode FPU users (softirqs, and hardirqs
 * that only use the FPU when softirqs are enabled) away; within it,
 * switch_fpu_return() loads the saved state back when needed, so the
 * registers we then touch with plain SSE moves are the guest's, and any
 * later save sees our change. No kernel_fpu_begin(): that would save the
 * guest state away and give us scratch registers instead.
 */
struct xmm_buf {
	u8 b[16];
};

/* Move between xmm<n> and *v; uses guest_xmm()'s v and write. */
#define XMM_MOVE(n)							\
	do {								\
		if (write)						\
			asm volatile("movdqu %0, %%xmm" #n :: "m" (*v));	\
		else							\
			asm volatile("movdqu %%xmm" #n ", %0" : "=m" (*v));	\
	} while (0)

static void guest_xmm(int reg, struct xmm_buf *v, bool write)
{
	fpregs_lock();
	if (test_thread_flag(TIF_NEED_FPU_LOAD))
		switch_fpu_return();
	switch (reg) {
	case 0:
		XMM_MOVE(0);
		break;
	case 1:
		XMM_MOVE(1);
		break;
	case 2:
		XMM_MOVE(2);
		break;
	case 3:
		XMM_MOVE(3);
		break;
	case 4:
		XMM_MOVE(4);
		break;
	case 5:
		XMM_MOVE(5);
		break;
	case 6:
		XMM_MOVE(6);
		break;
	case 7:
		XMM_MOVE(7);
		break;
	case 8:
		XMM_MOVE(8);
		break;
	case 9:
		XMM_MOVE(9);
		break;
	case 10:
		XMM_MOVE(10);
		break;
	case 11:
		XMM_MOVE(11);
		break;
	case 12:
		XMM_MOVE(12);
		break;
	case 13:
		XMM_MOVE(13);
		break;
	case 14:
		XMM_MOVE(14);
		break;
	case 15:
		XMM_MOVE(15);
		break;
	}
	fpregs_unlock();
}

/* Instruction bytes. */

static int fetch(struct emu *e)
{
	struct modvm_vcpu *vcpu = e->vcpu;
	u64 lin, gpa;
	int first, r;
	u32 pf_error;

	lin = e->lm64 ? vcpu->rip : (u32)(e->sregs.cs.base + vcpu->rip);
	first = min_t(int, MAX_INSN, PAGE_SIZE - offset_in_page(lin));
	r = modvm_read_gva(vcpu, lin, e->insn, first, true);
	if (r)
		return r == -EFAULT ? EMU_FAULT : EMU_UNHANDLED;
	e->avail = first;
	if (first == MAX_INSN)
		return EMU_OK;
	/* The next page only faults if the instruction really runs into it. */
	lin += first;
	if (!e->lm64)
		lin = (u32)lin;
	r = modvm_gva_to_gpa(vcpu, lin, false, true, &gpa, &pf_error);
	if (r == -EFAULT) {
		e->fetch_fault = true;
		e->fetch_pf_error = pf_error;
		e->fetch_pf_addr = lin;
	} else if (!r && !modvm_read_guest(vcpu, gpa, e->insn + first,
					   MAX_INSN - first)) {
		e->avail = MAX_INSN;
	}
	return EMU_OK;
}

/* The next @n instruction bytes, little-endian. */
static int get(struct emu *e, int n, u64 *v)
{
	if (e->pos + n > e->avail) {
		if (e->fetch_fault && e->pos + n <= MAX_INSN) {
			modvm_queue_page_fault(e->vcpu, e->fetch_pf_addr,
					       e->fetch_pf_error);
			return EMU_FAULT;
		}
		return EMU_UNHANDLED;
	}
	*v = 0;
	memcpy(v, e->insn + e->pos, n);
	e->pos += n;
	return EMU_OK;
}

static int get_signed(struct emu *e, int n, s64 *v)
{
	u64 u;
	int r = get(e, n, &u);

	*v = sign_extend(u, n);
	return r;
}

/* Registers. */

static u64 reg_get(struct emu *e, int reg, int size)
{
	if (size == 1 && !e->rex && reg >= 4 && reg < 8)
		return (e->gprs[reg - 4] >> 8) & 0xff;	/* AH, CH, DH, BH */
	return e->gprs[reg] & size_mask(size);
}

static void reg_set(struct emu *e, int reg, int size, u64 v)
{
	u64 *p = &e->gprs[reg];

	switch (size) {
	case 1:
		if (!e->rex && reg >= 4 && reg < 8) {
			p = &e->gprs[reg - 4];
			*p = (*p & ~0xff00ULL) | (v & 0xff) << 8;
		} else {
			*p = (*p & ~0xffULL) | (v & 0xff);
		}
		break;
	case 2:
		*p = (*p & ~0xffffULL) | (v & 0xffff);
		break;
	case 4:
		*p = (u32)v;	/* 32-bit results zero-extend */
		break;
	default:
		*p = v;
	}
}

static u64 seg_base(struct emu *e, int seg)
{
	switch (seg) {
	case SEG_ES:
		return e->sregs.es.base;
	case SEG_CS:
		return e->sregs.cs.base;
	case SEG_SS:
		return e->sregs.ss.base;
	case SEG_FS:
		return e->sregs.fs.base;
	case SEG_GS:
		return e->sregs.gs.base;
	}
	return e->sregs.ds.base;
}

static u64 linear(struct emu *e, int seg, u64 ea)
{
	if (e->lm64)
		return seg == SEG_FS || seg == SEG_GS ? ea + seg_base(e, seg) : ea;
	return (u32)(seg_base(e, seg) + ea);
}

/* Memory. */

static void fill_mmio_exit(struct modvm_vcpu *vcpu, const struct modvm_mmio_frag *f,
			   bool write)
{
	struct kvm_run *run = vcpu->run;

	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = f->gpa;
	run->mmio.len = f->len;
	run->mmio.is_write = write;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	if (write)
		memcpy(run->mmio.data, f->data, f->len);
}

/* An access to guest-physical addresses in no memslot, in 8-byte pieces. */
static int mmio_access(struct emu *e, u64 gpa, u8 *data, int len, bool write)
{
	struct modvm_mmio *m = &e->vcpu->mmio;
	struct modvm_mmio_frag *f;

	while (len) {
		int n = min(len, 8);

		if (write) {
			if (m->nr_writes == MODVM_MMIO_MAX_FRAGS)
				return EMU_UNHANDLED;
			f = &m->writes[m->nr_writes++];
			f->gpa = gpa;
			f->len = n;
			memcpy(f->data, data, n);
		} else {
			if (e->nread < m->nr_reads) {
				f = &m->reads[e->nread];
				if (f->gpa == gpa && f->len == n)
					goto answered;
				/* The instruction changed under us: ask again. */
				m->nr_reads = e->nread;
			}
			if (m->nr_reads == MODVM_MMIO_MAX_FRAGS)
				return EMU_UNHANDLED;
			f = &m->reads[m->nr_reads];
			f->gpa = gpa;
			f->len = n;
			if (modvm_io_bus_read(e->vcpu, MODVM_MMIO_BUS, gpa, n,
					      f->data)) {
				m->read_pending = true;
				fill_mmio_exit(e->vcpu, f, false);
				return EMU_EXIT;
			}
			m->nr_reads++;
answered:
			e->nread++;
			memcpy(data, f->data, n);
		}
		gpa += n;
		data += n;
		len -= n;
	}
	return EMU_OK;
}

/*
 * Read or write @len (at most 16) bytes at @seg:@ea. Every page is
 * translated first, so a #PF leaves memory untouched.
 */
static int mem_access(struct emu *e, int seg, u64 ea, void *data, int len,
		      bool write)
{
	struct modvm_vcpu *vcpu = e->vcpu;
	u64 lin = linear(e, seg, ea);
	u64 gpa[2];
	int chunk[2], nr = 0, off, i, r;

	for (off = 0; off < len; off += chunk[nr++]) {
		u64 a = e->lm64 ? lin + off : (u32)(lin + off);
		u32 pf_error;

		if (nr == ARRAY_SIZE(gpa))
			return EMU_UNHANDLED;
		chunk[nr] = min_t(int, len - off, PAGE_SIZE - offset_in_page(a));
		r = modvm_gva_to_gpa(vcpu, a, write || e->rmw, false, &gpa[nr],
				     &pf_error);
		if (r == -EFAULT) {
			modvm_queue_page_fault(vcpu, a, pf_error);
			return EMU_FAULT;
		}
		if (r)
			return EMU_UNHANDLED;	/* page tables outside memory */
	}
	for (i = 0, off = 0; i < nr; off += chunk[i++]) {
		r = write ? modvm_write_guest(vcpu, gpa[i], data + off, chunk[i]) :
			    modvm_read_guest(vcpu, gpa[i], data + off, chunk[i]);
		if (r == -ENOENT)
			r = mmio_access(e, gpa[i], data + off, chunk[i], write);
		else if (r)
			r = EMU_UNHANDLED;
		if (r)
			return r;
	}
	return EMU_OK;
}

/* The r/m operand: a register or memory. */
static int rm_read(struct emu *e, int size, u64 *v)
{
	if (!e->mem) {
		*v = reg_get(e, e->rm, size);
		return EMU_OK;
	}
	*v = 0;
	return mem_access(e, e->mseg, e->ea, v, size, false);
}

static int rm_write(struct emu *e, int size, u64 v)
{
	if (!e->mem) {
		reg_set(e, e->rm, size, v);
		return EMU_OK;
	}
	return mem_access(e, e->mseg, e->ea, &v, size, true);
}

/* Flags. */

static void set_flags(struct emu *e, u64 res, int size, bool cf, bool of, bool af)
{
	u64 f = e->rflags & ~FLAGS_ARITH;

	res &= size_mask(size);
	if (cf)
		f |= X86_EFLAGS_CF;
	if (of)
		f |= X86_EFLAGS_OF;
	if (af)
		f |= X86_EFLAGS_AF;
	if (!res)
		f |= X86_EFLAGS_ZF;
	if (res & BIT_ULL(size * 8 - 1))
		f |= X86_EFLAGS_SF;
	if (!(hweight8(res & 0xff) & 1))
		f |= X86_EFLAGS_PF;
	e->rflags = f;
}

/* @d op @s at @size bytes, setting the arithmetic flags as the CPU does. */
static u64 alu(struct emu *e, int op, u64 d, u64 s, int size)
{
	u64 mask = size_mask(size), sign = BIT_ULL(size * 8 - 1), res;
	bool c = e->rflags & X86_EFLAGS_CF;

	d &= mask;
	s &= mask;
	switch (op) {
	case ALU_ADD:
	case ALU_ADC:
		if (op == ALU_ADD)
			c = false;
		res = (d + s + c) & mask;
		set_flags(e, res, size, c ? res <= d : res < d,
			  (d ^ res) & (s ^ res) & sign, (d ^ s ^ res) & 0x10);
		return res;
	case ALU_SUB:
	case ALU_SBB:
	case ALU_CMP:
		if (op != ALU_SBB)
			c = false;
		res = (d - s - c) & mask;
		set_flags(e, res, size, c ? d <= s : d < s,
			  (d ^ s) & (d ^ res) & sign, (d ^ s ^ res) & 0x10);
		return res;
	case ALU_OR:
		res = d | s;
		break;
	case ALU_AND:
		res = d & s;
		break;
	default:
		res = d ^ s;
	}
	/* Logic: CF = OF = 0; AF is undefined, the CPUs we run on clear it. */
	set_flags(e, res, size, false, false, false);
	return res;
}

/* Decoding. */

static int decode_prefixes(struct emu *e)
{
	bool p67 = false;
	u64 b;
	int r;

	e->seg = -1;
	for (;;) {
		r = get(e, 1, &b);
		if (r)
			return r;
		switch (b) {
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			e->seg = (b >> 3) & 3;
			break;
		case 0x64: case 0x65:
			e->seg = b == 0x64 ? SEG_FS : SEG_GS;
			break;
		case 0x66:
			e->p66 = true;
			break;
		case 0x67:
			p67 = true;
			break;
		case 0xf0:
			break;	/* LOCK: the emulated access is atomic anyway */
		case 0xf2: case 0xf3:
			e->rep = b;
			break;
		default:
			if (e->lm64 && (b & 0xf0) == 0x40) {
				e->rex = b;
				continue;
			}
			e->op = b;
			goto done;
		}
		e->rex = 0;	/* REX counts only right before the opcode */
	}
done:
	if (e->lm64) {
		e->asize = p67 ? 4 : 8;
		e->osize = e->rex & REX_W ? 8 : e->p66 ? 2 : 4;
	} else if (e->ps.cs_db) {
		e->asize = p67 ? 2 : 4;
		e->osize = e->p66 ? 2 : 4;
	} else {
		e->asize = p67 ? 4 : 2;
		e->osize = e->p66 ? 4 : 2;
	}
	return EMU_OK;
}

static int decode_modrm(struct emu *e)
{
	static const u8 base16[8] = {
		MODVM_RBX, MODVM_RBX, MODVM_RBP, MODVM_RBP,
		MODVM_RSI, MODVM_RDI, MODVM_RBP, MODVM_RBX,
	};
	u64 b, ea = 0;
	s64 disp = 0;
	int r;

	r = get(e, 1, &b);
	if (r)
		return r;
	e->mod = b >> 6;
	e->reg = ((b >> 3) & 7) | (e->rex & REX_R ? 8 : 0);
	e->rm = (b & 7) | (e->rex & REX_B ? 8 : 0);
	if (e->mod == 3)
		return EMU_OK;
	e->mem = true;
	e->mseg = SEG_DS;

	if (e->asize == 2) {
		int rm = b & 7;

		if (e->mod == 0 && rm == 6) {
			r = get_signed(e, 2, &disp);
		} else {
			ea = e->gprs[base16[rm]];
			if (rm < 4)
				ea += e->gprs[rm & 1 ? MODVM_RDI : MODVM_RSI];
			if (rm == 2 || rm == 3 || rm == 6)
				e->mseg = SEG_SS;
		}
	} else if ((b & 7) == 4) {
		u64 sib;
		int index, base;

		r = get(e, 1, &sib);
		if (r)
			return r;
		index = ((sib >> 3) & 7) | (e->rex & REX_X ? 8 : 0);
		base = (sib & 7) | (e->rex & REX_B ? 8 : 0);
		if (index != 4)
			ea = e->gprs[index] << (sib >> 6);
		if ((sib & 7) == 5 && e->mod == 0) {
			r = get_signed(e, 4, &disp);
		} else {
			ea += e->gprs[base];
			if ((base & 7) == 4 || (base & 7) == 5)
				e->mseg = SEG_SS;
		}
	} else if ((b & 7) == 5 && e->mod == 0) {
		r = get_signed(e, 4, &disp);
		e->riprel = e->lm64;
	} else {
		ea = e->gprs[e->rm];
		if ((b & 7) == 5)
			e->mseg = SEG_SS;
	}
	if (r)
		return r;
	if (e->mod == 1)
		r = get_signed(e, 1, &disp);
	else if (e->mod == 2)
		r = get_signed(e, e->asize == 2 ? 2 : 4, &disp);
	e->ea = (ea + disp) & size_mask(e->asize);
	if (e->seg >= 0)
		e->mseg = e->seg;
	return r;
}

/* ModRM and immediate of the opcodes the executors know. */
static int decode_operands(struct emu *e)
{
	int modrm = 1, imm = 0, r;
	u8 op = e->op;
	u64 b;

	if (op == 0x0f) {
		r = get(e, 1, &b);
		if (r)
			return r;
		e->twobyte = true;
		e->op = b;
		op = b;
		switch (op) {
		case 0xb6: case 0xb7: case 0xbe: case 0xbf:	/* MOVZX, MOVSX */
		case 0xa3: case 0xab: case 0xb3: case 0xbb:	/* BT* Ev, Gv */
		case 0xb0: case 0xb1:				/* CMPXCHG */
		case 0xc3:					/* MOVNTI */
		case 0x10: case 0x11: case 0x28: case 0x29:	/* SSE moves */
		case 0x2b: case 0x6e: case 0x6f: case 0x7e:
		case 0x7f: case 0xd6: case 0xe7:
			break;
		case 0xba:					/* BT* Ev, Ib */
			imm = 1;
			break;
		default:
			return EMU_UNHANDLED;
		}
	} else if (op < 0x40 && (op & 7) < 4) {
		/* ALU Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev */
	} else {
		switch (op) {
		case 0x80: case 0x83: case 0xc6:
			imm = 1;
			break;
		case 0x82:
			if (e->lm64)
				return EMU_UNHANDLED;
			imm = 1;
			break;
		case 0x81: case 0xc7:
			imm = e->osize == 2 ? 2 : 4;
			break;
		case 0x84 ... 0x8b: case 0xfe: case 0xff:
			break;
		case 0xf6: case 0xf7:
			if (e->pos >= e->avail)
				return get(e, 1, &b);
			/* TEST (/0, /1) has an immediate, NOT/NEG have none. */
			if (!(e->insn[e->pos] & 0x30))
				imm = op == 0xf6 ? 1 : e->osize == 2 ? 2 : 4;
			break;
		case 0xa0 ... 0xa3:
			/* moffs: an address-sized offset, no ModRM. */
			e->mem = true;
			e->mseg = e->seg >= 0 ? e->seg : SEG_DS;
			modrm = 0;
			imm = e->asize;
			break;
		case 0xa4: case 0xa5: case 0xaa: case 0xab: case 0xac: case 0xad:
			modrm = 0;
			break;
		default:
			return EMU_UNHANDLED;
		}
	}
	if (modrm) {
		r = decode_modrm(e);
		if (r)
			return r;
	}
	if (imm) {
		r = get_signed(e, imm, &e->imm);
		if (r)
			return r;
		if (!modrm)
			e->ea = (u64)e->imm & size_mask(e->asize);
	}
	e->next_rip = e->vcpu->rip + e->pos;
	if (!e->lm64)
		e->next_rip &= e->ps.cs_db ? 0xffffffffULL : 0xffff;
	if (e->riprel)
		e->ea = (e->ea + e->next_rip) & size_mask(e->asize);
	return EMU_OK;
}

/* Execution. */

static int exec_alu(struct emu *e, int op, int size, u64 src)
{
	u64 m, res;
	int r;

	e->rmw = op != ALU_CMP;
	r = rm_read(e, size, &m);
	if (r)
		return r;
	res = alu(e, op, m, src, size);
	return op == ALU_CMP ? EMU_OK : rm_write(e, size, res);
}

static int exec_incdec(struct emu *e, int size, bool dec)
{
	u64 cf = e->rflags & X86_EFLAGS_CF, m, res;
	int r;

	e->rmw = true;
	r = rm_read(e, size, &m);
	if (r)
		return r;
	res = alu(e, dec ? ALU_SUB : ALU_ADD, m, 1, size);
	e->rflags = (e->rflags & ~X86_EFLAGS_CF) | cf;	/* CF is kept */
	return rm_write(e, size, res);
}

/* F6/F7: TEST, NOT, NEG. */
static int exec_group3(struct emu *e, int size)
{
	u64 m;
	int r;

	switch (e->reg & 7) {
	case 0: case 1:
		r = rm_read(e, size, &m);
		if (!r)
			alu(e, ALU_AND, m, e->imm, size);
		return r;
	case 2: case 3:
		e->rmw = true;
		r = rm_read(e, size, &m);
		if (r)
			return r;
		m = (e->reg & 7) == 2 ? ~m : alu(e, ALU_SUB, 0, m, size);
		return rm_write(e, size, m);
	}
	return EMU_UNHANDLED;	/* MUL, IMUL, DIV, IDIV */
}

/* BT, BTS, BTR, BTC with a register or immediate bit offset. */
static int exec_bit(struct emu *e, int kind, bool imm)
{
	int size = e->osize, bits = size * 8, r;
	s64 off;
	u64 m, bit;

	if (imm) {
		off = e->imm & (bits - 1);
	} else {
		off = sign_extend(reg_get(e, e->reg, size), size);
		/* A register offset reaches anywhere in a bit string in memory. */
		if (e->mem)
			e->ea = (e->ea + (off >> ilog2(bits)) * size) &
				size_mask(e->asize);
	}
	bit = BIT_ULL(off & (bits - 1));
	e->rmw = kind != BIT_BT;
	r = rm_read(e, size, &m);
	if (r)
		return r;
	e->rflags &= ~X86_EFLAGS_CF;
	if (m & bit)
		e->rflags |= X86_EFLAGS_CF;
	switch (kind) {
	case BIT_BTS:
		m |= bit;
		break;
	case BIT_BTR:
		m &= ~bit;
		break;
	case BIT_BTC:
		m ^= bit;
		break;
	default:
		return EMU_OK;
	}
	return rm_write(e, size, m);
}

static int exec_cmpxchg(struct emu *e, int size)
{
	u64 m;
	int r;

	e->rmw = true;
	r = rm_read(e, size, &m);
	if (r)
		return r;
	alu(e, ALU_CMP, reg_get(e, MODVM_RAX, size), m, size);
	if (e->rflags & X86_EFLAGS_ZF)
		return rm_write(e, size, reg_get(e, e->reg, size));
	/* Failure still writes the destination back, then loads RAX. */
	r = rm_write(e, size, m);
	if (!r)
		reg_set(e, MODVM_RAX, size, m);
	return r;
}

/* The SSE move with this opcode and mandatory prefix; false if none. */
static bool sse_lookup(struct emu *e, struct sse_op *s)
{
	u8 pfx = e->rep ? e->rep : e->p66 ? 0x66 : 0;
	u8 op = e->op;

	s->store = false;
	s->aligned = false;
	s->size = 16;
	switch (op) {
	case 0x10: case 0x11:	/* MOVUPS, MOVUPD, MOVSS, MOVSD */
		s->store = op == 0x11;
		if (pfx == 0xf3)
			s->size = 4;
		else if (pfx == 0xf2)
			s->size = 8;
		return true;
	case 0x28: case 0x29:	/* MOVAPS, MOVAPD */
	case 0x2b:		/* MOVNTPS, MOVNTPD */
		s->store = op != 0x28;
		s->aligned = true;
		return pfx == 0 || pfx == 0x66;
	case 0x6e:		/* MOVD/MOVQ xmm, r/m */
	case 0x7e:		/* MOVD/MOVQ r/m, xmm; F3: MOVQ xmm, m64 */
		if (pfx == 0xf3 && op == 0x7e) {
			s->size = 8;
			return true;
		}
		s->store = op == 0x7e;
		s->size = e->rex & REX_W ? 8 : 4;
		return pfx == 0x66;
	case 0x6f: case 0x7f:	/* MOVDQA (66), MOVDQU (F3) */
		s->store = op == 0x7f;
		s->aligned = pfx == 0x66;
		return pfx == 0x66 || pfx == 0xf3;
	case 0xd6:		/* MOVQ m64, xmm */
		s->store = true;
		s->size = 8;
		return pfx == 0x66;
	case 0xe7:		/* MOVNTDQ */
		s->store = true;
		s->aligned = true;
		return pfx == 0x66;
	}
	return false;
}

static int exec_sse(struct emu *e)
{
	struct xmm_buf v = {};
	struct sse_op s;
	int r;

	if (!sse_lookup(e, &s) || !e->mem)
		return EMU_UNHANDLED;
	if (s.aligned && (linear(e, e->mseg, e->ea) & 15)) {
		modvm_inject_gp(e->vcpu);
		return EMU_FAULT;
	}
	if (s.store) {
		guest_xmm(e->reg, &v, false);
		return mem_access(e, e->mseg, e->ea, v.b, s.size, true);
	}
	/* Loads from memory clear the rest of the register. */
	r = mem_access(e, e->mseg, e->ea, v.b, s.size, false);
	if (r)
		return r;
	memcpy(e->xmm, v.b, sizeof(v.b));
	e->xmm_dirty = true;
	return EMU_OK;
}

static int exec_twobyte(struct emu *e)
{
	int size = e->op & 1 ? e->osize : 1, r;
	u64 m;

	switch (e->op) {
	case 0xb6: case 0xb7: case 0xbe: case 0xbf: {
		int src = e->op & 1 ? 2 : 1;

		r = rm_read(e, src, &m);
		if (r)
			return r;
		if (e->op & 8)
			m = sign_extend(m, src);
		reg_set(e, e->reg, e->osize, m);
		return EMU_OK;
	}
	case 0xa3: case 0xab: case 0xb3: case 0xbb:
		return exec_bit(e, (e->op >> 3) & 3, false);
	case 0xba:
		if (!(e->reg & 4))
			return EMU_UNHANDLED;
		return exec_bit(e, e->reg & 3, true);
	case 0xb0: case 0xb1:
		return exec_cmpxchg(e, size);
	case 0xc3:
		if (!e->mem || e->p66 || e->rep)
			return EMU_UNHANDLED;
		size = e->rex & REX_W ? 8 : 4;
		return rm_write(e, size, reg_get(e, e->reg, size));
	}
	return exec_sse(e);
}

static int exec_one(struct emu *e)
{
	u8 op = e->op;
	int size = op & 1 ? e->osize : 1, r;
	u64 m;

	if (e->twobyte)
		return exec_twobyte(e);
	if (op < 0x40) {
		int alu_op = op >> 3;

		if (!(op & 2))
			return exec_alu(e, alu_op, size, reg_get(e, e->reg, size));
		r = rm_read(e, size, &m);
		if (r)
			return r;
		m = alu(e, alu_op, reg_get(e, e->reg, size), m, size);
		if (alu_op != ALU_CMP)
			reg_set(e, e->reg, size, m);
		return EMU_OK;
	}
	switch (op) {
	case 0x80: case 0x81: case 0x82: case 0x83:
		if (op == 0x83)
			size = e->osize;
		return exec_alu(e, e->reg & 7, size, e->imm);
	case 0x84: case 0x85:
		r = rm_read(e, size, &m);
		if (!r)
			alu(e, ALU_AND, m, reg_get(e, e->reg, size), size);
		return r;
	case 0x86: case 0x87:
		e->rmw = true;
		r = rm_read(e, size, &m);
		if (!r)
			r = rm_write(e, size, reg_get(e, e->reg, size));
		if (!r)
			reg_set(e, e->reg, size, m);
		return r;
	case 0x88: case 0x89:
		return rm_write(e, size, reg_get(e, e->reg, size));
	case 0x8a: case 0x8b:
		r = rm_read(e, size, &m);
		if (!r)
			reg_set(e, e->reg, size, m);
		return r;
	case 0xa0: case 0xa1:
		r = rm_read(e, size, &m);
		if (!r)
			reg_set(e, MODVM_RAX, size, m);
		return r;
	case 0xa2: case 0xa3:
		return rm_write(e, size, reg_get(e, MODVM_RAX, size));
	case 0xc6: case 0xc7:
		if (e->reg & 7)
			return EMU_UNHANDLED;
		return rm_write(e, size, e->imm);
	case 0xf6: case 0xf7:
		return exec_group3(e, size);
	case 0xfe: case 0xff:
		if ((e->reg & 7) > 1)
			return EMU_UNHANDLED;	/* CALL, JMP, PUSH through MMIO */
		return exec_incdec(e, size, e->reg & 1);
	}
	return EMU_UNHANDLED;
}

/*
 * MOVS, STOS, LODS, with or without REP: registers are committed after
 * every element.
 */
static int exec_string(struct emu *e)
{
	struct modvm_vcpu *vcpu = e->vcpu;
	int size = e->op & 1 ? e->osize : 1;
	u64 amask = size_mask(e->asize);
	s64 step = e->rflags & X86_EFLAGS_DF ? -size : size;
	int src_seg = e->seg >= 0 ? e->seg : SEG_DS;
	u64 *rsi = &e->gprs[MODVM_RSI], *rdi = &e->gprs[MODVM_RDI];
	u64 *rcx = &e->gprs[MODVM_RCX];
	int n, r = EMU_OK;

	for (n = 0;; n++) {
		u64 v = 0;

		if (e->rep && !(*rcx & amask)) {
			vcpu->rip = e->next_rip;
			return EMU_OK;
		}
		if (n == MAX_REP_PASS || (n && need_resched()))
			return EMU_OK;	/* the guest goes on with the REP */
		switch (e->op) {
		case 0xa4: case 0xa5:
			r = mem_access(e, src_seg, *rsi & amask, &v, size, false);
			if (!r)
				r = mem_access(e, SEG_ES, *rdi & amask, &v, size, true);
			break;
		case 0xaa: case 0xab:
			v = reg_get(e, MODVM_RAX, size);
			r = mem_access(e, SEG_ES, *rdi & amask, &v, size, true);
			break;
		default:
			r = mem_access(e, src_seg, *rsi & amask, &v, size, false);
			if (!r)
				reg_set(e, MODVM_RAX, size, v);
		}
		if (r)
			return r;
		if (e->op != 0xaa && e->op != 0xab)
			write_masked(rsi, *rsi + step, amask);
		if (e->op < 0xac)
			write_masked(rdi, *rdi + step, amask);
		if (e->rep)
			write_masked(rcx, *rcx - 1, amask);
		memcpy(vcpu->gprs, e->gprs, sizeof(vcpu->gprs));
		vcpu->mmio.nr_reads = 0;
		e->nread = 0;
		if (!e->rep || (vcpu->mmio.nr_writes && *rcx & amask)) {
			if (!e->rep)
				vcpu->rip = e->next_rip;
			return EMU_OK;
		}
	}
}

/* Decode and execute the instruction at RIP. */
static int emulate(struct emu *e)
{
	struct modvm_vcpu *vcpu = e->vcpu;
	int r;

	modvm_backend->get_sregs(vcpu, &e->sregs);
	modvm_backend->get_paging(vcpu, &e->ps);
	e->lm64 = (e->ps.efer & EFER_LMA) && e->ps.cs_l;
	memcpy(e->gprs, vcpu->gprs, sizeof(e->gprs));
	e->rflags = vcpu->rflags;
	vcpu->mmio.nr_writes = 0;
	vcpu->mmio.next_write = 0;

	r = fetch(e);
	if (!r)
		r = decode_prefixes(e);
	if (!r)
		r = decode_operands(e);
	if (r)
		return r;
	if (!e->twobyte && e->op >= 0xa4 && e->op <= 0xad)
		return exec_string(e);
	r = exec_one(e);
	if (r)
		return r;
	memcpy(vcpu->gprs, e->gprs, sizeof(vcpu->gprs));
	vcpu->rflags = e->rflags;
	vcpu->rip = e->next_rip;
	if (e->xmm_dirty)
		guest_xmm(e->reg, (struct xmm_buf *)e->xmm, true);
	return EMU_OK;
}

/**
 * modvm_task_insn_length() - length of the instruction at RIP that
 * started a task switch: far CALL or JMP, IRET, INT n, INT3 or INTO.
 * @vcpu: the vCPU.
 * @len: the length, on success.
 *
 * For exits that do not report it (SVM without NRIP-save).
 *
 * Return: 0; -EFAULT after queueing a #PF; -EINVAL for another
 * instruction or code outside guest memory.
 */
int modvm_task_insn_length(struct modvm_vcpu *vcpu, u32 *len)
{
	struct emu e = { .vcpu = vcpu };
	u64 imm;
	int r;

	modvm_backend->get_sregs(vcpu, &e.sregs);
	modvm_backend->get_paging(vcpu, &e.ps);
	e.lm64 = (e.ps.efer & EFER_LMA) && e.ps.cs_l;
	memcpy(e.gprs, vcpu->gprs, sizeof(e.gprs));
	r = fetch(&e);
	if (!r)
		r = decode_prefixes(&e);
	switch (r ? -1 : e.op) {
	case -1:
		break;
	case 0xcc: case 0xce: case 0xcf:	/* INT3, INTO, IRET */
		break;
	case 0xcd:				/* INT imm8 */
		r = get(&e, 1, &imm);
		break;
	case 0x9a: case 0xea:			/* CALL/JMP ptr16:16/32 */
		r = get(&e, e.osize == 2 ? 2 : 4, &imm);
		if (!r)
			r = get(&e, 2, &imm);
		break;
	case 0xff:				/* CALL/JMP m16:16/32 */
		r = decode_modrm(&e);
		if (!r && (!e.mem || ((e.reg & 7) != 3 && (e.reg & 7) != 5)))
			r = EMU_UNHANDLED;
		break;
	default:
		r = EMU_UNHANDLED;
	}
	if (r)
		return r == EMU_FAULT ? -EFAULT : -EINVAL;
	*len = e.pos;
	return 0;
}

/* Hand the queued MMIO writes to the bus or, one per exit, to userspace. */
static int emit_writes(struct modvm_vcpu *vcpu)
{
	struct modvm_mmio *m = &vcpu->mmio;

	while (m->next_write < m->nr_writes) {
		struct modvm_mmio_frag *f = &m->writes[m->next_write++];

		if (!modvm_io_bus_write(vcpu, MODVM_MMIO_BUS, f->gpa, f->len, f->data))
			continue;
		fill_mmio_exit(vcpu, f, true);
		return 0;
	}
	m->nr_writes = 0;
	m->next_write = 0;
	return 1;
}

/* As modvm_emulation_failure(), with the guest-physical address after RIP. */
static void emulation_failure(struct emu *e, u64 gpa)
{
	struct kvm_run *run = e->vcpu->run;

	modvm_emulation_failure(e->vcpu, e->insn, e->avail);
	run->internal.data[4] = gpa;
	run->emulation_failure.ndata = 5;
}

/* Run the instruction at RIP; returns as modvm_emulate_mmio(). */
static int run_insn(struct modvm_vcpu *vcpu, u64 gpa)
{
	struct modvm_mmio *m = &vcpu->mmio;
	struct emu e = { .vcpu = vcpu };
	int r = emulate(&e);

	switch (r) {
	case EMU_OK:
		m->nr_reads = 0;
		return emit_writes(vcpu);
	case EMU_EXIT:
		return 0;
	}
	m->nr_reads = 0;
	m->nr_writes = 0;
	m->next_write = 0;
	m->read_pending = false;
	if (r == EMU_FAULT)
		return 1;
	pr_debug_ratelimited("cannot emulate %*ph at rip 0x%llx\n", e.avail,
			     e.insn, vcpu->rip);
	emulation_failure(&e, gpa);
	return 0;
}

/**
 * modvm_emulate_mmio() - emulate the instruction that touched MMIO.
 * @vcpu: the vCPU, in KVM_RUN.
 * @exit: the nested page fault on a guest-physical address in no memslot.
 *
 * Return: 1 to enter the guest again (done, or an exception queued); 0 to
 * return to userspace with vcpu->run describing a KVM_EXIT_MMIO or an
 * emulation failure (KVM_INTERNAL_ERROR_DELIVERY_EV when an event's
 * delivery made the access).
 */
int modvm_emulate_mmio(struct modvm_vcpu *vcpu, const struct modvm_exit *exit)
{
	/*
	 * The access was an event delivery's (its stack or IDT in MMIO):
	 * there is no instruction to emulate. KVM gives up the same way.
	 */
	if (modvm_events_vectoring(vcpu)) {
		struct kvm_run *run = vcpu->run;

		run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		run->internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
		run->internal.ndata = 2;
		run->internal.data[0] = vcpu->rip;
		run->internal.data[1] = exit->tdp.gpa;
		return 0;
	}
	memset(&vcpu->mmio, 0, sizeof(vcpu->mmio));
	return run_insn(vcpu, exit->tdp.gpa);
}

/**
 * modvm_complete_mmio() - go on with an MMIO exit at the start of KVM_RUN.
 * @vcpu: the vCPU, with its guest FPU state loaded.
 *
 * Takes the data userspace put in run->mmio.data for a read and runs the
 * instruction again, or hands out the next queued write.
 *
 * Return: 1 to go on into the guest; 0 to return to userspace at once
 * with vcpu->run filled in.
 */
int modvm_complete_mmio(struct modvm_vcpu *vcpu)
{
	struct modvm_mmio *m = &vcpu->mmio;

	if (m->read_pending) {
		struct modvm_mmio_frag *f = &m->reads[m->nr_reads++];

		m->read_pending = false;
		memcpy(f->data, vcpu->run->mmio.data, f->len);
		return run_insn(vcpu, f->gpa);
	}
	if (m->next_write < m->nr_writes)
		return emit_writes(vcpu);
	return 1;
}
