// SPDX-License-Identifier: GPL-2.0
/*
 * Two-dimensional paging (AMD NPT, Intel EPT): 4-level tables that map
 * guest-physical to host-physical pages, filled on demand from memslots.
 *
 * Guest memory is ordinary host memory: a fault looks the page up through
 * the user mapping (GUP) and maps it without keeping a reference; the MMU
 * notifier takes the mapping away again when the host unmaps, migrates,
 * swaps or merges the page. The vendor backend supplies the PTE format.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/mm.h>
#include <linux/swap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "../core/modvm.h"

#define TDP_LEVELS		4
#define TDP_ENTRIES		512
#define TDP_SHIFT(level)	(PAGE_SHIFT + 9 * ((level) - 1))
#define TDP_INDEX(gpa, level)	(((gpa) >> TDP_SHIFT(level)) & (TDP_ENTRIES - 1))
#define TDP_PFN_MASK		GENMASK_ULL(51, 12)

static u64 *tdp_table_alloc(void)
{
	return (u64 *)get_zeroed_page(GFP_ATOMIC | __GFP_ACCOUNT);
}

static u64 *tdp_next_table(u64 pte)
{
	return __va(pte & TDP_PFN_MASK);
}

/* Free the table at @level and every table below it. */
static void tdp_free_table(u64 *table, int level)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	int i;

	if (level > 1)
		for (i = 0; i < TDP_ENTRIES; i++)
			if (fmt->present(table[i]))
				tdp_free_table(tdp_next_table(table[i]), level - 1);
	free_page((unsigned long)table);
}

/*
 * Clear the leaves for [start, end) below @table at @level whose range
 * starts at @base. Returns whether anything was present.
 */
static bool tdp_zap(u64 *table, int level, u64 base, u64 start, u64 end)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	u64 size = 1ULL << TDP_SHIFT(level);
	bool zapped = false;
	int i;

	for (i = 0; i < TDP_ENTRIES; i++) {
		u64 lo = base + i * size, hi = lo + size;

		if (hi <= start || lo >= end || !fmt->present(table[i]))
			continue;
		if (level == 1) {
			WRITE_ONCE(table[i], 0);
			zapped = true;
		} else {
			zapped |= tdp_zap(tdp_next_table(table[i]), level - 1,
					  lo, start, end);
		}
	}
	return zapped;
}

/* Zap [start, end) of guest-physical space; caller holds tdp.lock. */
static bool tdp_zap_range(struct modvm_vm *vm, u64 start, u64 end)
{
	return tdp_zap(vm->tdp.root, TDP_LEVELS, 0, start, end);
}

/**
 * modvm_tdp_zap_memslot() - unmap a memslot that is going away.
 * @vm: the VM.
 * @slot: the slot, no longer reachable by faults.
 */
void modvm_tdp_zap_memslot(struct modvm_vm *vm, const struct modvm_memslot *slot)
{
	bool zapped;

	spin_lock(&vm->tdp.lock);
	zapped = tdp_zap_range(vm, slot->base_gfn << PAGE_SHIFT,
			       (slot->base_gfn + slot->npages) << PAGE_SHIFT);
	spin_unlock(&vm->tdp.lock);
	if (zapped)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
}

/* Install a leaf; allocates missing tables. Caller holds tdp.lock. */
static int tdp_map(struct modvm_vm *vm, u64 gpa, u64 leaf)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	u64 *table = vm->tdp.root;
	int level;

	for (level = TDP_LEVELS; level > 1; level--) {
		u64 *pte = &table[TDP_INDEX(gpa, level)];

		if (!fmt->present(*pte)) {
			u64 *next = tdp_table_alloc();

			if (!next)
				return -ENOMEM;
			WRITE_ONCE(*pte, fmt->make_table(__pa(next)));
		}
		table = tdp_next_table(*pte);
	}
	WRITE_ONCE(table[TDP_INDEX(gpa, 1)], leaf);
	return 0;
}

/**
 * modvm_tdp_fault() - map the guest page a TDP violation hit.
 * @vcpu: the faulting vCPU, in its thread (whose mm is the VM's).
 * @gpa: guest-physical address.
 * @write: the access was a write.
 *
 * Return: 0 when mapped (or raced with an invalidation: the guest
 * retries); -ENOENT when @gpa is in no memslot; -EFAULT when the host
 * mapping is gone; -ENOMEM.
 */
int modvm_tdp_fault(struct modvm_vcpu *vcpu, u64 gpa, bool write)
{
	struct modvm_vm *vm = vcpu->vm;
	struct modvm_tdp *tdp = &vm->tdp;
	struct modvm_memslot *slot;
	unsigned long hva, seq;
	struct page *page;
	bool writable;
	int idx, r;

	/*
	 * Hold SRCU until the leaf is in: a memslot deletion waits for us
	 * before it zaps, so no mapping of a deleted slot can survive.
	 */
	idx = srcu_read_lock(&vm->srcu);
	slot = modvm_find_memslot(srcu_dereference(vm->memslots, &vm->srcu),
				  gpa >> PAGE_SHIFT);
	if (!slot) {
		r = -ENOENT;
		goto out;
	}
	hva = slot->userspace_addr +
	      ((gpa >> PAGE_SHIFT) - slot->base_gfn) * PAGE_SIZE;

	seq = READ_ONCE(tdp->invalidate_seq);
	smp_rmb();	/* read seq before looking the page up */

	/*
	 * A read maps the page writable if it already is, so a guest that
	 * writes after reading does not fault twice; otherwise read-only,
	 * which keeps zero pages and KSM pages shared.
	 */
	writable = write;
	if (!write && get_user_page_fast_only(hva, FOLL_WRITE, &page)) {
		writable = true;
	} else if (get_user_pages_unlocked(hva, 1, &page,
					   write ? FOLL_WRITE : 0) != 1) {
		r = -EFAULT;
		goto out;
	}

	spin_lock(&tdp->lock);
	if (tdp->invalidate_in_progress || seq != tdp->invalidate_seq) {
		r = 0;	/* the page may be stale: let the guest fault again */
	} else {
		r = tdp_map(vm, gpa & PAGE_MASK,
			    modvm_backend->tdp->make_leaf(page_to_pfn(page), writable));
		if (writable)
			set_page_dirty(page);
		mark_page_accessed(page);
	}
	spin_unlock(&tdp->lock);
	put_page(page);
out:
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/* Zap what [start, end) of the host address space maps into the guest. */
static bool tdp_zap_hva_range(struct modvm_vm *vm, unsigned long start,
			      unsigned long end)
{
	struct modvm_memslots *slots;
	bool zapped = false;
	int idx;
	u32 i;

	idx = srcu_read_lock(&vm->srcu);
	slots = srcu_dereference(vm->memslots, &vm->srcu);
	for (i = 0; i < slots->nr; i++) {
		struct modvm_memslot *s = slots->slots[i];
		unsigned long s_end = s->userspace_addr + s->npages * PAGE_SIZE;
		unsigned long lo = max(start, s->userspace_addr);
		unsigned long hi = min(end, s_end);
		u64 gpa;

		if (lo >= hi)
			continue;
		gpa = (s->base_gfn << PAGE_SHIFT) + (lo - s->userspace_addr);
		zapped |= tdp_zap_range(vm, gpa & PAGE_MASK,
					PAGE_ALIGN(gpa + (hi - lo)));
	}
	srcu_read_unlock(&vm->srcu, idx);
	return zapped;
}

static struct modvm_vm *notifier_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct modvm_vm, tdp.notifier);
}

static int tdp_invalidate_start(struct mmu_notifier *mn,
				const struct mmu_notifier_range *range)
{
	struct modvm_vm *vm = notifier_vm(mn);
	bool zapped;

	spin_lock(&vm->tdp.lock);
	vm->tdp.invalidate_in_progress++;
	zapped = tdp_zap_hva_range(vm, range->start, range->end);
	spin_unlock(&vm->tdp.lock);
	/* The host may free the pages once this returns: no stale TLBs. */
	if (zapped)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
	return 0;
}

static void tdp_invalidate_end(struct mmu_notifier *mn,
			       const struct mmu_notifier_range *range)
{
	struct modvm_vm *vm = notifier_vm(mn);

	spin_lock(&vm->tdp.lock);
	vm->tdp.invalidate_seq++;
	vm->tdp.invalidate_in_progress--;
	spin_unlock(&vm->tdp.lock);
}

static void tdp_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct modvm_vm *vm = notifier_vm(mn);
	bool zapped;

	spin_lock(&vm->tdp.lock);
	zapped = tdp_zap_range(vm, 0, ~0ULL);
	spin_unlock(&vm->tdp.lock);
	if (zapped)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
}

static const struct mmu_notifier_ops tdp_notifier_ops = {
	.invalidate_range_start = tdp_invalidate_start,
	.invalidate_range_end = tdp_invalidate_end,
	.release = tdp_release,
};

/**
 * modvm_tdp_init() - empty tables and the MMU notifier for a new VM.
 * @vm: the VM; vm->mm is the current process's.
 *
 * Return: 0 or a negative errno.
 */
int modvm_tdp_init(struct modvm_vm *vm)
{
	int r;

	spin_lock_init(&vm->tdp.lock);
	vm->tdp.root = tdp_table_alloc();
	if (!vm->tdp.root)
		return -ENOMEM;
	vm->tdp.notifier.ops = &tdp_notifier_ops;
	r = mmu_notifier_register(&vm->tdp.notifier, vm->mm);
	if (r) {
		free_page((unsigned long)vm->tdp.root);
		vm->tdp.root = NULL;
	}
	return r;
}

/**
 * modvm_tdp_destroy() - free the tables of a VM that no vCPU runs.
 * @vm: the VM.
 */
void modvm_tdp_destroy(struct modvm_vm *vm)
{
	mmu_notifier_unregister(&vm->tdp.notifier, vm->mm);
	tdp_free_table(vm->tdp.root, TDP_LEVELS);
}

/**
 * modvm_tdp_root_pa() - physical address of the top-level table.
 * @vm: the VM.
 *
 * Return: the address the backend loads into nCR3 or the EPT pointer.
 */
u64 modvm_tdp_root_pa(struct modvm_vm *vm)
{
	return __pa(vm->tdp.root);
}
