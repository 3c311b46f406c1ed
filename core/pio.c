// SPDX-License-Identifier: GPL-2.0
/*
 * Port I/O exits to userspace with KVM's kvm_run layout: IN/OUT and the
 * string forms INS/OUTS, with or without REP. Data travels through the
 * PIO page mapped after struct kvm_run; IN data is consumed on the next
 * KVM_RUN.
 */
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>

#include "modvm.h"

#define PIO_DATA_OFFSET		PAGE_SIZE

static void write_masked(u64 *reg, u64 value, u64 mask)
{
	/* 32-bit results zero-extend; 16-bit ones keep the upper bits. */
	*reg = mask == 0xffff ? (*reg & ~mask) | (value & mask) : value & mask;
}

/* Address size, segment and direction of an INS/OUTS. */
static int string_setup(struct modvm_vcpu *vcpu, const struct modvm_exit *exit,
			struct modvm_string_op *op, u64 *next_rip)
{
	struct modvm_insn_prefixes p;
	struct modvm_paging_state ps;
	struct kvm_sregs sregs;
	struct kvm_segment *seg;
	int r, asize;

	r = modvm_decode_simple(vcpu, &p);
	if (r)
		return r;
	*next_rip = vcpu->rip + p.length;
	modvm_backend->get_paging(vcpu, &ps);
	modvm_backend->get_sregs(vcpu, &sregs);
	if ((ps.efer & EFER_LMA) && ps.cs_l)
		asize = p.addr_size_override ? 4 : 8;
	else if (ps.cs_db)
		asize = p.addr_size_override ? 2 : 4;
	else
		asize = p.addr_size_override ? 4 : 2;
	op->addr_mask = asize == 8 ? ~0ULL : asize == 4 ? 0xffffffffULL : 0xffff;

	if (exit->io.in) {
		seg = &sregs.es;	/* INS: ES, no override */
		op->reg = MODVM_RDI;
	} else {
		struct kvm_segment *segs[] = {
			&sregs.es, &sregs.cs, &sregs.ss, &sregs.ds, &sregs.fs, &sregs.gs,
		};

		seg = segs[p.seg < 0 ? 3 : p.seg];
		op->reg = MODVM_RSI;
	}
	op->base = seg->base;
	if ((ps.efer & EFER_LMA) && ps.cs_l && seg != &sregs.fs && seg != &sregs.gs)
		op->base = 0;
	op->step = vcpu->rflags & X86_EFLAGS_DF ? -exit->io.size : exit->io.size;
	return 0;
}

/*
 * Elements of a REP string op for one exit: what RCX asks for, at most a
 * PIO page of data, and never past the guest page RSI/RDI points into, so
 * that one exit's data go to or come from one page (a fault on the next
 * page then hits an op whose earlier elements are all done).
 */
static u32 string_count(struct modvm_vcpu *vcpu,
			const struct modvm_string_op *op, int size, u64 rcx)
{
	u64 off = offset_in_page(op->base + (vcpu->gprs[op->reg] & op->addr_mask));
	u64 n = op->step > 0 ? (PAGE_SIZE - off) / size : off / size + 1;

	n = min3(n, rcx, (u64)PAGE_SIZE / size);
	/* An element straddling the page boundary goes alone. */
	return max_t(u64, n, 1);
}

/* Copy @count elements between guest memory and the PIO page. */
static int string_copy(struct modvm_vcpu *vcpu, const struct modvm_string_op *op,
		       int size, u32 count, bool to_guest)
{
	u64 offset = vcpu->gprs[op->reg] & op->addr_mask;
	u8 *buf = vcpu->pio_data;
	u32 i;
	int r;

	if (op->step > 0) {
		u64 gva = op->base + offset;

		return to_guest ? modvm_write_gva(vcpu, gva, buf, count * size) :
				  modvm_read_gva(vcpu, gva, buf, count * size, false);
	}
	for (i = 0; i < count; i++) {
		u64 gva = op->base + ((offset - (u64)i * size) & op->addr_mask);

		r = to_guest ? modvm_write_gva(vcpu, gva, buf + i * size, size) :
			       modvm_read_gva(vcpu, gva, buf + i * size, size, false);
		if (r)
			return r;
	}
	return 0;
}

/* Advance RSI/RDI and RCX past @count elements; RIP once the op is done. */
static void string_advance(struct modvm_vcpu *vcpu, const struct modvm_string_op *op,
			   u32 count, bool rep, u64 next_rip)
{
	u64 *reg = &vcpu->gprs[op->reg];
	u64 *rcx = &vcpu->gprs[MODVM_RCX];

	write_masked(reg, *reg + (s64)op->step * count, op->addr_mask);
	if (rep)
		write_masked(rcx, *rcx - count, op->addr_mask);
	if (!rep || !(*rcx & op->addr_mask))
		vcpu->rip = next_rip;
}

static int string_fail(struct modvm_vcpu *vcpu, int r)
{
	struct kvm_run *run = vcpu->run;

	if (r == -EFAULT)
		return 1;	/* #PF queued for the guest */
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->internal.ndata = 1;
	run->internal.data[0] = vcpu->rip;
	return 0;
}

/*
 * Offer the access in the PIO page to the in-kernel devices; 0 when one
 * took it (the first element decides for a string).
 */
static int pio_bus(struct modvm_vcpu *vcpu, u16 port, int size, u32 count,
		   bool in)
{
	u8 *data = vcpu->pio_data;
	u32 i;

	for (i = 0; i < count; i++) {
		int r = in ? modvm_io_bus_read(vcpu, MODVM_PIO_BUS, port, size,
					       data + i * size) :
			     modvm_io_bus_write(vcpu, MODVM_PIO_BUS, port, size,
						data + i * size);

		if (r && !i)
			return r;
	}
	return 0;
}

/**
 * modvm_handle_io() - a port I/O exit: fill kvm_run for userspace.
 * @vcpu: the vCPU.
 * @exit: the decoded exit.
 *
 * Return: 0 to return to userspace; 1 to re-enter (a guest fault or a
 * REP with RCX = 0).
 */
int modvm_handle_io(struct modvm_vcpu *vcpu, const struct modvm_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	struct modvm_pio *pio = &vcpu->pio;
	u32 count = 1;
	u64 next_rip = vcpu->rip + exit->insn_len;

	pio->string = exit->io.string;
	pio->rep = exit->io.rep;
	pio->size = exit->io.size;
	pio->port = exit->io.port;

	if (exit->io.string) {
		struct modvm_string_op op;
		int r = string_setup(vcpu, exit, &op, &next_rip);

		if (r)
			return string_fail(vcpu, r);
		if (exit->io.rep) {
			u64 rcx = vcpu->gprs[MODVM_RCX] & op.addr_mask;

			if (!rcx) {
				vcpu->rip = next_rip;
				return 1;
			}
			count = string_count(vcpu, &op, exit->io.size, rcx);
		}
		pio->op = op;
		if (!exit->io.in) {
			r = string_copy(vcpu, &op, exit->io.size, count, false);
			if (r)
				return string_fail(vcpu, r);
			string_advance(vcpu, &op, count, exit->io.rep, next_rip);
		}
	} else if (!exit->io.in) {
		memcpy(vcpu->pio_data, &vcpu->gprs[MODVM_RAX], exit->io.size);
		vcpu->rip = next_rip;
	}

	pio->pending_in = exit->io.in;
	pio->count = count;
	pio->next_rip = next_rip;
	if (!pio_bus(vcpu, exit->io.port, exit->io.size, count, exit->io.in))
		return exit->io.in ? modvm_complete_pio(vcpu) : 1;
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = exit->io.in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
	run->io.size = exit->io.size;
	run->io.port = exit->io.port;
	run->io.count = count;
	run->io.data_offset = PIO_DATA_OFFSET;
	return 0;
}

/**
 * modvm_complete_pio() - consume the data userspace gave an IN or INS.
 * @vcpu: the vCPU, at the start of KVM_RUN.
 *
 * Return: 1 to go on into the guest; 0 to return to userspace at once
 * with vcpu->run describing why.
 */
int modvm_complete_pio(struct modvm_vcpu *vcpu)
{
	struct modvm_pio *pio = &vcpu->pio;
	u64 *rax = &vcpu->gprs[MODVM_RAX];

	if (!pio->pending_in)
		return 1;
	pio->pending_in = false;

	if (pio->string) {
		int r = string_copy(vcpu, &pio->op, pio->size, pio->count, true);

		if (r)
			return string_fail(vcpu, r);
		string_advance(vcpu, &pio->op, pio->count, pio->rep,
			       pio->next_rip);
		return 1;
	}

	switch (pio->size) {
	case 1:
		*rax = (*rax & ~0xffULL) | *(u8 *)vcpu->pio_data;
		break;
	case 2:
		*rax = (*rax & ~0xffffULL) | *(u16 *)vcpu->pio_data;
		break;
	default:
		*rax = *(u32 *)vcpu->pio_data;
	}
	vcpu->rip = pio->next_rip;
	return 1;
}
