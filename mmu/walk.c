// SPDX-License-Identifier: GPL-2.0
/*
 * Guest page-table walker: translates guest-linear addresses the way the
 * guest's own MMU would (paging off, 32-bit with PSE, PAE, 4-level), with
 * reserved-bit and permission checks (SMEP, SMAP), accessed/dirty
 * updates and #PF error codes.
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

/* Levels of the deepest guest page table (4-level paging). */
#define WALK_LEVELS	4

/* #PF error code bits. */
#define PFERR_P		MODVM_PF_P
#define PFERR_W		MODVM_PF_W
#define PFERR_U		MODVM_PF_U
#define PFERR_RSVD	MODVM_PF_RSVD
#define PFERR_F		MODVM_PF_F

/* Walks redone because the guest changed a PTE under us, at the most. */
#define WALK_RETRIES	8

/* The guest's paging mode and the CPUID facts the walk depends on. */
struct walk_mode {
	bool lm, pae, pse, nx, gbpages;
	int maxphyaddr;
};

/* The guest's MAXPHYADDR: CPUID 0x80000008 EAX[7:0], else 36 (as KVM). */
static int guest_maxphyaddr(struct modvm_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = modvm_find_cpuid(vcpu, 0x80000008, 0);

	return e && (e->eax & 0xff) ? min_t(int, e->eax & 0xff, 52) : 36;
}

static bool guest_has_gbpages(struct modvm_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = modvm_find_cpuid(vcpu, 0x80000001, 0);

	return e && (e->edx & BIT(X86_FEATURE_GBPAGES & 31));
}

/* Bits of a present entry at @level that must be zero (SDM 4.3-4.5). */
static u64 walk_rsvd(const struct walk_mode *m, int level, u64 pte)
{
	u64 high = m->maxphyaddr < 52 ? GENMASK_ULL(51, m->maxphyaddr) : 0;
	u64 rsvd;

	if (!m->pae) {
		/* 32-bit paging: a 4 MiB PDE holds PA bits 39:32 in 20:13. */
		if (level == 2 && m->pse && (pte & PTE_PS))
			return GENMASK_ULL(21, 13 + min(m->maxphyaddr, 40) - 32);
		return 0;
	}
	/*
	 * PAE PDPTEs are checked when the CPU loads them with CR3 (a #GP
	 * there, never a #PF), and some CPUs set bit 5 in them.
	 */
	if (!m->lm && level == 3)
		return 0;
	rsvd = high | (m->nx ? 0 : PTE_NX);
	if (level == 4)
		rsvd |= PTE_PS;
	else if (level == 3 && (pte & PTE_PS))
		rsvd |= m->gbpages ? GENMASK_ULL(29, 13) : PTE_PS;
	else if (level == 2 && (pte & PTE_PS))
		rsvd |= GENMASK_ULL(20, 13);
	return rsvd;
}

/* The guest's paging state for a walk. */
struct walk {
	struct walk_mode m;
	u64 cr3, cr4;
	bool user, wp, ac;
};

/*
 * One walk of @gva. Returns as modvm_walk(), and -EAGAIN when the guest
 * changed an entry before its A/D bits could be set.
 */
static int walk_once(struct modvm_vcpu *vcpu, const struct walk *w, u64 gva,
		     bool write, bool fetch, struct modvm_walk *out)
{
	const struct walk_mode *m = &w->m;
	u64 pte_gpa[WALK_LEVELS + 1], ptes[WALK_LEVELS + 1];
	bool allow_w = true, allow_u = true, allow_x = true;
	int top = m->lm ? 4 : m->pae ? 3 : 2, size = m->pae ? 8 : 4;
	u64 table, pte, page_mask = 0;
	u32 err = (write ? PFERR_W : 0) | (w->user ? PFERR_U : 0) |
		  (fetch && m->nx ? PFERR_F : 0);
	int level, leaf, r;

	if (m->lm)
		table = w->cr3 & PTE_ADDR;
	else if (m->pae)
		table = w->cr3 & GENMASK_ULL(31, 5);
	else
		table = w->cr3 & GENMASK_ULL(31, 12);

	for (level = top; ; level--) {
		int shift = size == 8 ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
		u64 index = (gva >> shift) & (size == 8 ? 511 : 1023);

		if (m->pae && !m->lm && level == 3)
			index = (gva >> 30) & 3;
		pte_gpa[level] = table + index * size;
		pte = 0;
		r = modvm_read_guest(vcpu, pte_gpa[level], &pte, size);
		if (r)
			return r;
		ptes[level] = pte;
		if (!(pte & PTE_P))
			goto fault;
		if (pte & walk_rsvd(m, level, pte)) {
			err |= PFERR_P | PFERR_RSVD;
			goto fault;
		}
		if (m->pae && !m->lm && level == 3) {
			table = pte & PTE_ADDR;
			continue;
		}
		allow_w &= !!(pte & PTE_W);
		allow_u &= !!(pte & PTE_U);
		if (m->nx && (pte & PTE_NX))
			allow_x = false;
		if (level == 1 || ((pte & PTE_PS) &&
				   (level == 2 ? (m->pae || m->pse) :
						 level == 3 && m->lm))) {
			page_mask = (1ULL << shift) - 1;
			break;
		}
		table = pte & PTE_ADDR;
	}
	leaf = level;

	err |= PFERR_P;
	if (w->user && !allow_u)
		goto fault;
	if (write && !allow_w && (w->user || w->wp))
		goto fault;
	if (fetch && !allow_x)
		goto fault;
	if (!w->user && fetch && allow_u && (w->cr4 & X86_CR4_SMEP))
		goto fault;
	/* SMAP: supervisor data accesses to user pages, unless RFLAGS.AC. */
	if (!w->user && !fetch && allow_u && (w->cr4 & X86_CR4_SMAP) && !w->ac)
		goto fault;

	/* As the CPU: A in every entry used, D in the leaf on a write. */
	for (level = top; level >= leaf; level--) {
		u64 bits = PTE_A | (level == leaf && write ? PTE_D : 0);

		/* PAE PDPTEs have no A bit. */
		if ((m->pae && !m->lm && level == 3) || (ptes[level] & bits) == bits)
			continue;
		r = modvm_cmpxchg_guest(vcpu, pte_gpa[level], ptes[level],
					ptes[level] | bits, size);
		if (r)
			return r;
		ptes[level] |= bits;
	}
	/* What the shadow MMU builds its leaf from, top entry first. */
	out->nr = 0;
	for (level = top; level >= leaf; level--) {
		out->pte_gpa[out->nr] = pte_gpa[level];
		out->pte[out->nr++] = ptes[level];
	}
	out->pte_size = size;
	out->allow_w = allow_w;
	out->allow_u = allow_u;
	out->allow_x = allow_x;
	out->dirty = ptes[leaf] & PTE_D;
	out->page_mask = page_mask;

	if (size == 4 && page_mask == GENMASK_ULL(21, 0))
		/* 4 MiB page: PDE bits 20:13 hold PA bits 39:32 (PSE-36). */
		out->gpa = (pte & GENMASK_ULL(31, 22)) |
			   ((pte & GENMASK_ULL(20, 13)) << 19) | (gva & page_mask);
	else
		out->gpa = (pte & PTE_ADDR & ~page_mask) | (gva & page_mask);
	return 0;

fault:
	out->pf_error = err;
	return -EFAULT;
}

/**
 * modvm_walk() - walk the guest's page tables for one access.
 * @vcpu: the vCPU whose paging mode and CR3 are used.
 * @gva: guest-linear address.
 * @access: MODVM_PF_W, MODVM_PF_U and MODVM_PF_F bits of the access (the
 *	#PF error code bits: U for a CPL 3 access, not any access at CPL 3).
 * @out: translation, entries read (with A/D as set) and effective rights.
 *
 * Checks reserved bits, permissions (with CR0.WP, EFER.NXE, CR4.SMEP and
 * CR4.SMAP with RFLAGS.AC) as the guest's MMU would, then sets the
 * accessed bits (and the dirty bit of the leaf on a write) with atomic
 * compare-exchanges on guest memory, walking again when the guest changed
 * an entry meanwhile.
 *
 * Return: 0; -EFAULT for a guest page fault (@out->pf_error set); -ENOENT
 * when a page table is outside guest memory; -EAGAIN when the guest kept
 * changing its page tables under the walk.
 */
int modvm_walk(struct modvm_vcpu *vcpu, u64 gva, u32 access,
	       struct modvm_walk *out)
{
	struct modvm_paging_state ps;
	struct walk w;
	int r, tries = 0;

	modvm_backend->get_paging(vcpu, &ps);
	out->pf_error = 0;
	out->nr = 0;
	out->allow_w = true;
	out->allow_u = true;
	out->allow_x = true;
	out->dirty = true;
	if (!(ps.cr0 & X86_CR0_PG)) {
		out->gpa = ps.efer & EFER_LMA ? gva : (u32)gva;
		out->page_mask = GENMASK_ULL(31, 0);
		return 0;
	}
	w.user = access & MODVM_PF_U;
	w.wp = ps.cr0 & X86_CR0_WP;
	w.ac = vcpu->rflags & X86_EFLAGS_AC;
	w.cr3 = ps.cr3;
	w.cr4 = ps.cr4;
	w.m.pae = ps.cr4 & X86_CR4_PAE;
	w.m.lm = ps.efer & EFER_LMA;
	w.m.pse = ps.cr4 & X86_CR4_PSE;
	w.m.nx = w.m.pae && (ps.efer & EFER_NX);
	w.m.gbpages = guest_has_gbpages(vcpu);
	w.m.maxphyaddr = guest_maxphyaddr(vcpu);
	if (!w.m.pae)
		gva = (u32)gva;

	do {
		r = walk_once(vcpu, &w, gva, access & MODVM_PF_W,
			      access & MODVM_PF_F, out);
	} while (r == -EAGAIN && ++tries < WALK_RETRIES);
	return r;
}

/**
 * modvm_gva_to_gpa() - translate a guest-linear address at the vCPU's CPL.
 * @vcpu: the vCPU whose paging mode and CR3 are used.
 * @gva: guest-linear address.
 * @write: the access writes.
 * @fetch: the access fetches an instruction.
 * @gpa: the translation, on success.
 * @pf_error: the #PF error code, on a page fault.
 *
 * Return: as modvm_walk().
 */
int modvm_gva_to_gpa(struct modvm_vcpu *vcpu, u64 gva, bool write, bool fetch,
		     u64 *gpa, u32 *pf_error)
{
	struct modvm_paging_state ps;
	struct modvm_walk w;
	int r;

	modvm_backend->get_paging(vcpu, &ps);
	r = modvm_walk(vcpu, gva, (write ? MODVM_PF_W : 0) |
		       (ps.cpl == 3 ? MODVM_PF_U : 0) | (fetch ? MODVM_PF_F : 0),
		       &w);
	if (!r)
		*gpa = w.gpa;
	else if (r == -EFAULT)
		*pf_error = w.pf_error;
	return r;
}

/* MODVM_PF_U for an access at the vCPU's CPL 3. */
static u32 cpl_access(struct modvm_vcpu *vcpu)
{
	struct modvm_paging_state ps;

	modvm_backend->get_paging(vcpu, &ps);
	return ps.cpl == 3 ? MODVM_PF_U : 0;
}

/*
 * Copy to or from guest-linear memory, page by page; inject #PF on faults.
 * @access: MODVM_PF_* bits of the access; MODVM_PF_W is implied by @write.
 */
static int gva_copy(struct modvm_vcpu *vcpu, u64 gva, void *data, int len,
		    bool write, u32 access)
{
	if (write)
		access |= MODVM_PF_W;
	while (len > 0) {
		int chunk = min_t(int, len, PAGE_SIZE - offset_in_page(gva));
		struct modvm_walk w;
		int r;

		r = modvm_walk(vcpu, gva, access, &w);
		if (r == -EFAULT) {
			modvm_queue_page_fault(vcpu, gva, w.pf_error);
			return r;
		}
		if (!r)
			r = write ? modvm_write_guest(vcpu, w.gpa, data, chunk) :
				    modvm_read_guest(vcpu, w.gpa, data, chunk);
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
	return gva_copy(vcpu, gva, data, len, false,
			cpl_access(vcpu) | (fetch ? MODVM_PF_F : 0));
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
	return gva_copy(vcpu, gva, (void *)data, len, true, cpl_access(vcpu));
}

/**
 * modvm_read_gva_implicit() - read guest-linear memory as the CPU does
 * for its own structures (descriptor tables, TSS): a supervisor access.
 * @vcpu: the vCPU.
 * @gva: guest-linear address.
 * @data: destination.
 * @len: bytes.
 *
 * Return: as modvm_read_gva().
 */
int modvm_read_gva_implicit(struct modvm_vcpu *vcpu, u64 gva, void *data,
			    int len)
{
	return gva_copy(vcpu, gva, data, len, false, 0);
}

/**
 * modvm_write_gva_implicit() - write guest-linear memory as the CPU does
 * for its own structures: a supervisor access.
 * @vcpu: the vCPU.
 * @gva: guest-linear address.
 * @data: source.
 * @len: bytes.
 *
 * Return: as modvm_read_gva().
 */
int modvm_write_gva_implicit(struct modvm_vcpu *vcpu, u64 gva,
			     const void *data, int len)
{
	return gva_copy(vcpu, gva, (void *)data, len, true, 0);
}
