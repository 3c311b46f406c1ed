// SPDX-License-Identifier: GPL-2.0
/*
 * Two-dimensional paging (AMD NPT, Intel EPT): 4-level tables that map
 * guest-physical to host-physical pages, filled on demand from memslots.
 *
 * Guest memory is ordinary host memory: a fault looks the page up through
 * the user mapping (GUP) and maps it without keeping a reference; the MMU
 * notifier takes the mapping away again when the host unmaps, migrates,
 * swaps or merges the page. Where the host maps guest memory with a huge
 * page (THP, hugetlbfs) and the memslot covers it whole, the guest gets a
 * 2 MiB or 1 GiB leaf too. The vendor backend supplies the PTE format.
 *
 * Locking: tdp.lock covers the tables, the leaf counts and the
 * invalidation state. Faults hold it across their whole walk; zaps may
 * drop it to yield and then walk again from the root, so nobody keeps a
 * pointer into the tables across a drop. Only zaps free tables (ones
 * left empty inside the zapped range), and only after every vCPU has
 * flushed its TLB, as the CPU may cache the table entries it walked.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/mm.h>
#include <linux/swap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/pgtable.h>

#include "../core/modvm.h"
#include "../uapi/modvm.h"

#define TDP_LEVELS		4
#define TDP_ENTRIES		512
#define TDP_SHIFT(level)	(PAGE_SHIFT + 9 * ((level) - 1))
#define TDP_SIZE(level)		(1ULL << TDP_SHIFT(level))
#define TDP_PAGES(level)	(1ULL << (9 * ((level) - 1)))
#define TDP_INDEX(gpa, level)	(((gpa) >> TDP_SHIFT(level)) & (TDP_ENTRIES - 1))
#define TDP_PFN_MASK		GENMASK_ULL(51, 12)
/* A 4-level table translates 48 bits; higher GPAs would alias lower ones. */
#define TDP_MAX_GPA_BITS	48

static u64 *tdp_next_table(u64 pte)
{
	return __va(pte & TDP_PFN_MASK);
}

/* A present entry that maps memory rather than pointing to a table. */
static bool tdp_is_leaf(u64 pte, int level)
{
	return level == 1 || modvm_backend->tdp->huge(pte);
}

/**
 * modvm_mmu_max_gfn() - the highest guest frame a memslot may hold.
 *
 * The host's MAXPHYADDR (which the guest's CPUID reports, so a guest
 * cannot address more) and at most what a 4-level NPT/EPT table can
 * translate. KVM refuses memslots beyond its own limit with -EINVAL, and
 * so does modvm; KVM without TDP allows up to 52 bits, which no guest
 * with the host's MAXPHYADDR can reach.
 *
 * Return: the last mappable guest frame number.
 */
u64 modvm_mmu_max_gfn(void)
{
	int bits = min_t(int, boot_cpu_data.x86_phys_bits, TDP_MAX_GPA_BITS);

	return (1ULL << (bits - PAGE_SHIFT)) - 1;
}

/* Free the table at @level and every table below it (VM teardown). */
static void tdp_free_table(u64 *table, int level)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	int i;

	if (level > 1)
		for (i = 0; i < TDP_ENTRIES; i++)
			if (fmt->present(table[i]) && !tdp_is_leaf(table[i], level))
				tdp_free_table(tdp_next_table(table[i]), level - 1);
	free_page((unsigned long)table);
}

/* One zap of [start, end) of guest-physical space. */
struct tdp_zap {
	u64 start, end;
	u64 next;		/* everything below is done */
	bool can_yield;
	bool flush;		/* a present entry was cleared */
	struct list_head freed;	/* tables to free once TLBs are flushed */
};

static bool tdp_table_empty(const u64 *table)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	int i;

	for (i = 0; i < TDP_ENTRIES; i++)
		if (fmt->present(table[i]))
			return false;
	return true;
}

/*
 * Zap what @table at @level (covering [base, base + 512 entries)) maps in
 * [z->next, z->end). Returns false when it stopped to let the caller
 * yield; z->next then says where to go on.
 */
static bool tdp_zap_table(struct modvm_tdp *tdp, struct tdp_zap *z,
			  u64 *table, int level, u64 base)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	u64 size = TDP_SIZE(level);
	int i = (max(z->next, base) - base) >> TDP_SHIFT(level);

	for (; i < TDP_ENTRIES; i++) {
		u64 lo = base + i * size, hi = lo + size;
		u64 pte = table[i];

		if (lo >= z->end)
			break;
		if (fmt->present(pte)) {
			if (tdp_is_leaf(pte, level)) {
				/* A huge leaf goes whole; the rest refaults. */
				WRITE_ONCE(table[i], 0);
				tdp->leaves[level - 1]--;
				z->flush = true;
			} else {
				u64 *next = tdp_next_table(pte);

				if (!tdp_zap_table(tdp, z, next, level - 1, lo))
					return false;
				/*
				 * A table wholly inside the range goes too, so
				 * that a huge leaf can take its place later.
				 */
				if (lo >= z->start && hi <= z->end &&
				    tdp_table_empty(next)) {
					WRITE_ONCE(table[i], 0);
					list_add(&virt_to_page(next)->lru, &z->freed);
					z->flush = true;
				}
			}
		}
		z->next = hi;
		if (z->can_yield && (need_resched() || spin_needbreak(&tdp->lock)))
			return false;
	}
	return true;
}

/*
 * Zap [start, end) with tdp.lock held; drops and retakes it to yield when
 * @can_yield. Returns whether a TLB flush is due.
 */
static bool tdp_zap_locked(struct modvm_tdp *tdp, u64 start, u64 end,
			   bool can_yield, struct list_head *freed)
{
	struct tdp_zap z = {
		.start = start, .end = end, .next = start, .can_yield = can_yield,
	};

	INIT_LIST_HEAD(&z.freed);
	while (!tdp_zap_table(tdp, &z, tdp->root, TDP_LEVELS, 0) &&
	       z.next < z.end)
		cond_resched_lock(&tdp->lock);
	list_splice(&z.freed, freed);
	return z.flush;
}

/*
 * After a zap: make every vCPU drop what its TLB holds of the old entries
 * (the host may free the pages once we return), then free the tables
 * that no CPU can walk any more.
 */
static void tdp_zap_finish(struct modvm_vm *vm, bool flush,
			   struct list_head *freed)
{
	struct page *page, *tmp;

	if (flush)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
	list_for_each_entry_safe(page, tmp, freed, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
}

/**
 * modvm_tdp_zap_memslot() - unmap a memslot that is going away.
 * @vm: the VM.
 * @slot: the slot, marked invalid so that no fault maps it again.
 *
 * Context: process context; may sleep.
 */
void modvm_tdp_zap_memslot(struct modvm_vm *vm, const struct modvm_memslot *slot)
{
	LIST_HEAD(freed);
	bool flush;

	spin_lock(&vm->tdp.lock);
	flush = tdp_zap_locked(&vm->tdp, slot->base_gfn << PAGE_SHIFT,
			       (slot->base_gfn + slot->npages) << PAGE_SHIFT,
			       true, &freed);
	spin_unlock(&vm->tdp.lock);
	tdp_zap_finish(vm, flush, &freed);
	if (!modvm_tdp)
		modvm_shadow_zap_all(vm);
}

/*
 * The level at which the host maps @hva: 3 for a 1 GiB leaf, 2 for a
 * 2 MiB leaf (THP, hugetlbfs), else 1. Called under tdp.lock with no
 * invalidation in progress since the page was looked up, so the host
 * mapping cannot change meanwhile (changing it starts an invalidation,
 * which waits for tdp.lock); interrupts are off so that the host page
 * tables cannot be freed while we read them.
 */
static int host_mapping_level(struct mm_struct *mm, unsigned long hva)
{
	unsigned long flags;
	p4d_t p4d, *p4dp;
	pud_t pud;
	pmd_t pmd;
	int level = 1;

	local_irq_save(flags);
	p4dp = p4d_offset(pgd_offset(mm, hva), hva);
	p4d = READ_ONCE(*p4dp);
	if (p4d_none(p4d) || !p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, hva));
	if (pud_none(pud) || !pud_present(pud))
		goto out;
	if (pud_large(pud)) {
		level = 3;
		goto out;
	}
	pmd = READ_ONCE(*pmd_offset(&pud, hva));
	if (pmd_present(pmd) && pmd_large(pmd))
		level = 2;
out:
	local_irq_restore(flags);
	return level;
}

/*
 * The level of the leaf that maps @gfn: as large as the host mapping, the
 * vendor format and the memslot allow (the huge page must sit wholly in
 * the slot, at the same offset in guest and host).
 */
static int tdp_map_level(struct modvm_vm *vm, const struct modvm_memslot *slot,
			 u64 gfn, unsigned long hva)
{
	int level = min(host_mapping_level(vm->mm, hva),
			modvm_backend->tdp->max_level());

	for (; level > 1; level--) {
		u64 n = TDP_PAGES(level), base = gfn & ~(n - 1);

		if (!((gfn ^ (hva >> PAGE_SHIFT)) & (n - 1)) &&
		    base >= slot->base_gfn &&
		    base + n <= slot->base_gfn + slot->npages)
			break;
	}
	return level;
}

/*
 * Install the leaf for @gpa at @level, or lower where tables already
 * exist; allocates missing tables from @cache. Caller holds tdp.lock.
 * Sets *@flush when a huge leaf had to make way for a table.
 */
static void tdp_map(struct modvm_tdp *tdp, struct modvm_page_cache *cache,
		    u64 gpa, u64 pfn, bool writable, int level, bool *flush)
{
	const struct modvm_tdp_format *fmt = modvm_backend->tdp;
	u64 *table = tdp->root;
	int l;

	for (l = TDP_LEVELS; ; l--) {
		u64 *pte = &table[TDP_INDEX(gpa, l)];
		u64 old = *pte;

		if (fmt->present(old) && tdp_is_leaf(old, l)) {
			if (l <= level) {
				/* Same leaf level: an upgrade to writable. */
				WRITE_ONCE(*pte, fmt->make_leaf(pfn & ~(TDP_PAGES(l) - 1),
								writable, l));
				return;
			}
			/* A bigger leaf than the host mapping allows now. */
			WRITE_ONCE(*pte, 0);
			tdp->leaves[l - 1]--;
			*flush = true;
			old = 0;
		}
		/* A table where a huge leaf would fit: map below it. */
		if (!fmt->present(old) && l <= level) {
			WRITE_ONCE(*pte, fmt->make_leaf(pfn & ~(TDP_PAGES(l) - 1),
							writable, l));
			tdp->leaves[l - 1]++;
			return;
		}
		if (!fmt->present(old)) {
			u64 *next = modvm_page_cache_alloc(cache);

			if (!next)
				return;	/* warned; the guest faults again */
			WRITE_ONCE(*pte, fmt->make_table(__pa(next)));
		}
		table = tdp_next_table(*pte);
	}
}

/**
 * modvm_tdp_fault() - map the guest page a TDP violation hit.
 * @vcpu: the faulting vCPU, in its thread (whose mm is the VM's).
 * @gpa: guest-physical address.
 * @write: the access was a write.
 *
 * Return: 0 when mapped (or raced with an invalidation or a memslot
 * change: the guest retries); -ENOENT when @gpa is in no memslot or a
 * write hits a read-only one (MMIO); -EFAULT when the host mapping is
 * gone; -ENOMEM.
 */
int modvm_tdp_fault(struct modvm_vcpu *vcpu, u64 gpa, bool write)
{
	struct modvm_vm *vm = vcpu->vm;
	struct modvm_tdp *tdp = &vm->tdp;
	struct modvm_memslot *slot;
	unsigned long seq;
	bool writable, flush = false;
	struct page *page;
	int idx, r;

	/* Up to one table per level below the root, taken under the lock. */
	r = modvm_page_cache_topup(&vcpu->mmu_pages, TDP_LEVELS - 1);
	if (r)
		return r;

	/*
	 * Hold SRCU until the leaf is in: a memslot deletion waits for us
	 * before it zaps, so no mapping of a deleted slot can survive.
	 */
	idx = srcu_read_lock(&vm->srcu);
	r = modvm_mmu_get_page(vm, gpa >> PAGE_SHIFT, write, &slot, &page,
			       &writable, &seq);
	if (r == -EAGAIN)
		r = 0;	/* slot being deleted or moved: retry until it is done */
	if (r)
		goto out;

	spin_lock(&tdp->lock);
	if (modvm_mmu_stale(vm, seq)) {
		r = 0;	/* the page may be stale: let the guest fault again */
	} else {
		int level = tdp_map_level(vm, slot, gpa >> PAGE_SHIFT,
					  modvm_gfn_to_hva(slot, gpa >> PAGE_SHIFT));

		tdp_map(tdp, &vcpu->mmu_pages, gpa, page_to_pfn(page),
			writable, level, &flush);
		if (writable)
			set_page_dirty(page);
		mark_page_accessed(page);
	}
	spin_unlock(&tdp->lock);
	put_page(page);
	if (flush)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
out:
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/* Zap what [start, end) of the host address space maps into the guest. */
static bool tdp_zap_hva_range(struct modvm_vm *vm, unsigned long start,
			      unsigned long end, bool can_yield,
			      struct list_head *freed)
{
	struct modvm_memslots *slots;
	bool flush = false;
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
		flush |= tdp_zap_locked(&vm->tdp, gpa & PAGE_MASK,
					PAGE_ALIGN(gpa + (hi - lo)), can_yield,
					freed);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return flush;
}

static struct modvm_vm *notifier_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct modvm_vm, tdp.notifier);
}

static void tdp_invalidate_end(struct mmu_notifier *mn,
			       const struct mmu_notifier_range *range);

static int tdp_invalidate_start(struct mmu_notifier *mn,
				const struct mmu_notifier_range *range)
{
	struct modvm_vm *vm = notifier_vm(mn);
	LIST_HEAD(freed);
	bool flush;

	spin_lock(&vm->tdp.lock);
	vm->tdp.invalidate_in_progress++;
	/* A large munmap may yield; faults wait for the end meanwhile. */
	flush = tdp_zap_hva_range(vm, range->start, range->end,
				  mmu_notifier_range_blockable(range), &freed);
	spin_unlock(&vm->tdp.lock);
	/* The host may free the pages once this returns: no stale TLBs. */
	tdp_zap_finish(vm, flush, &freed);
	/*
	 * Shadow faults check the count raised above under the shadow lock
	 * before they map, so zapping after it cannot miss one.
	 */
	if (!modvm_tdp &&
	    modvm_shadow_invalidate(vm, range->start, range->end,
				    mmu_notifier_range_blockable(range))) {
		/* Failed: no invalidate_range_end() follows, undo the start. */
		tdp_invalidate_end(mn, range);
		return -EAGAIN;
	}
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
	LIST_HEAD(freed);
	bool flush;

	spin_lock(&vm->tdp.lock);
	flush = tdp_zap_locked(&vm->tdp, 0, 1ULL << TDP_MAX_GPA_BITS, true,
			       &freed);
	spin_unlock(&vm->tdp.lock);
	tdp_zap_finish(vm, flush, &freed);
	if (!modvm_tdp)
		modvm_shadow_zap_all(vm);
}

static const struct mmu_notifier_ops tdp_notifier_ops = {
	.invalidate_range_start = tdp_invalidate_start,
	.invalidate_range_end = tdp_invalidate_end,
	.release = tdp_release,
};

/**
 * modvm_tdp_get_stats() - MODVM_GET_TDP_STATS: the leaves mapped now.
 * @vm: the VM.
 * @argp: a struct modvm_tdp_stats to fill.
 *
 * Return: 0 or -EFAULT.
 */
long modvm_tdp_get_stats(struct modvm_vm *vm, void __user *argp)
{
	struct modvm_tdp_stats st = {};

	spin_lock(&vm->tdp.lock);
	st.leaves_4k = vm->tdp.leaves[0];
	st.leaves_2m = vm->tdp.leaves[1];
	st.leaves_1g = vm->tdp.leaves[2];
	spin_unlock(&vm->tdp.lock);
	return copy_to_user(argp, &st, sizeof(st)) ? -EFAULT : 0;
}

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
	vm->tdp.root = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
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
