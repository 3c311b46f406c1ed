// SPDX-License-Identifier: GPL-2.0
/*
 * Guest page-table walker: translates guest-linear addresses the way the
 * guest's own MMU would (paging off, 32-bit with PSE, PAE, 4-level), with
 * permission checks, accessed/dirty updates and #PF error codes.
 */
#include <linux/mm.h>
#include <linux/uaccess.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>

#include "../core/modvm.h"

#define PTE_P		BIT_ULL(0)
#define PTE_W		BIT_ULL(1)
#define PTE_U		BIT_ULL(2)
#define PTE_A		BIT_ULL(5)
#define PTE_D		BIT_ULL(6)
#define PTE_PS		BIT_ULL(7)
#define PTE_NX		BIT_ULL(63)
#define PTE_ADDR	GENMASK_ULL(51, 12)

/* #PF error code bits. */
#define PFERR_P		BIT(0)
#define PFERR_W		BIT(1)
#define PFERR_U		BIT(2)
#define PFERR_RSVD	BIT(3)
#define PFERR_F		BIT(4)

/* Set A (and D on a write leaf) in a guest PTE, as the CPU would. */
static int walk_set_ad(struct modvm_vcpu *vcpu, u64 pte_gpa, u64 pte, u64 bits,
		       int size)
{
	if ((pte & bits) == bits)
		return 0;
	/* A racing guest update is harmless: it only sets bits too. */
	pte |= bits;
	return modvm_write_guest(vcpu, pte_gpa, &pte, size);
}

/**
 * modvm_gva_to_gpa() - translate a guest-linear address.
 * @vcpu: the vCPU whose paging mode and CR3 are used.
 * @gva: guest-linear address.
 * @write: the access writes.
 * @fetch: the access fetches an instruction.
 * @gpa: the translation, on success.
 * @pf_error: the #PF error code, on a page fault.
 *
 * Return: 0; -EFAULT for a guest page fault (@pf_error set); -ENOENT when a
 * page table is outside guest memory.
 */
int modvm_gva_to_gpa(struct modvm_vcpu *vcpu, u64 gva, bool write, bool fetch,
		     u64 *gpa, u32 *pf_error)
{
	struct modvm_paging_state ps;
	bool user, pae, lm, nx_on, wp;
	u64 table, pte = 0, pte_gpa, page_mask = 0;
	bool allow_w = true, allow_u = true, allow_x = true;
	int level, size, r;
	u32 err;

	modvm_backend->get_paging(vcpu, &ps);
	if (!(ps.cr0 & X86_CR0_PG)) {
		*gpa = ps.efer & EFER_LMA ? gva : (u32)gva;
		return 0;
	}
	user = ps.cpl == 3;
	pae = ps.cr4 & X86_CR4_PAE;
	lm = ps.efer & EFER_LMA;
	nx_on = pae && (ps.efer & EFER_NX);
	wp = ps.cr0 & X86_CR0_WP;
	err = (write ? PFERR_W : 0) | (user ? PFERR_U : 0) |
	      (fetch && nx_on ? PFERR_F : 0);

	if (lm) {
		level = 4;
		table = ps.cr3 & PTE_ADDR;
		size = 8;
	} else if (pae) {
		/* The four PDPTEs: level 3 without A/D or permission bits. */
		level = 3;
		table = ps.cr3 & GENMASK_ULL(31, 5);
		size = 8;
	} else {
		level = 2;
		table = ps.cr3 & GENMASK_ULL(31, 12);
		size = 4;
		gva = (u32)gva;
	}

	for (;; level--) {
		int shift = size == 8 ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
		u64 index = (gva >> shift) & (size == 8 ? 511 : 1023);

		if (pae && !lm && level == 3)
			index = (gva >> 30) & 3;
		pte_gpa = table + index * size;
		pte = 0;
		r = modvm_read_guest(vcpu, pte_gpa, &pte, size);
		if (r)
			return r;
		if (!(pte & PTE_P))
			goto fault;
		if (pae && !lm && level == 3) {
			table = pte & PTE_ADDR;
			continue;
		}
		allow_w &= !!(pte & PTE_W);
		allow_u &= !!(pte & PTE_U);
		if (nx_on && (pte & PTE_NX))
			allow_x = false;
		if (level == 1 || ((pte & PTE_PS) &&
				   (level == 2 ? (pae || (ps.cr4 & X86_CR4_PSE)) :
						 level == 3 && lm))) {
			page_mask = (1ULL << shift) - 1;
			break;
		}
		r = walk_set_ad(vcpu, pte_gpa, pte, PTE_A, size);
		if (r)
			return r;
		table = pte & PTE_ADDR;
	}

	err |= PFERR_P;
	if (user && !allow_u)
		goto fault;
	if (write && !allow_w && (user || wp))
		goto fault;
	if (fetch && !allow_x)
		goto fault;
	if (!user && fetch && allow_u && (ps.cr4 & X86_CR4_SMEP))
		goto fault;

	r = walk_set_ad(vcpu, pte_gpa, pte, PTE_A | (write ? PTE_D : 0), size);
	if (r)
		return r;
	if (size == 4 && page_mask == GENMASK_ULL(21, 0))
		/* 4 MiB page: bits 13+ of the PDE hold PA bits 32+ (PSE-36). */
		*gpa = (pte & GENMASK_ULL(31, 22)) |
		       ((pte & GENMASK_ULL(20, 13)) << 19) | (gva & page_mask);
	else
		*gpa = (pte & PTE_ADDR & ~page_mask) | (gva & page_mask);
	return 0;

fault:
	*pf_error = err;
	return -EFAULT;
}

/* Copy to or from guest-linear memory, page by page; inject #PF on faults. */
static int gva_copy(struct modvm_vcpu *vcpu, u64 gva, void *data, int len,
		    bool write, bool fetch)
{
	while (len > 0) {
		int chunk = min_t(int, len, PAGE_SIZE - offset_in_page(gva));
		u32 pf_error;
		u64 gpa;
		int r;

		r = modvm_gva_to_gpa(vcpu, gva, write, fetch, &gpa, &pf_error);
		if (r == -EFAULT) {
			modvm_queue_page_fault(vcpu, gva, pf_error);
			return r;
		}
		if (!r)
			r = write ? modvm_write_guest(vcpu, gpa, data, chunk) :
				    modvm_read_guest(vcpu, gpa, data, chunk);
		if (r)
			return r == -EFAULT ? -EIO : r;
		gva += chunk;
		data += chunk;
		len -= chunk;
	}
	return 0;
}

/**
 * modvm_read_gva() - read guest-linear memory.
 * @vcpu: the vCPU.
 * @gva: guest-linear address.
 * @data: destination.
 * @len: bytes.
 * @fetch: an instruction fetch (for NX and SMEP checks).
 *
 * Return: 0; -EFAULT after queueing a #PF for the guest; -ENOENT when the
 * memory is in no memslot (MMIO); -EIO when the host mapping is gone.
 */
int modvm_read_gva(struct modvm_vcpu *vcpu, u64 gva, void *data, int len,
		   bool fetch)
{
	return gva_copy(vcpu, gva, data, len, false, fetch);
}

/**
 * modvm_write_gva() - write guest-linear memory.
 * @vcpu: the vCPU.
 * @gva: guest-linear address.
 * @data: source.
 * @len: bytes.
 *
 * Return: as modvm_read_gva().
 */
int modvm_write_gva(struct modvm_vcpu *vcpu, u64 gva, const void *data, int len)
{
	return gva_copy(vcpu, gva, (void *)data, len, true, false);
}
