// SPDX-License-Identifier: GPL-2.0
/*
 * Shadow paging: for CPUs without NPT/EPT (or tdp=0), the hardware walks
 * tables that modvm builds from the guest's own, mapping guest-linear
 * addresses straight to host pages.
 *
 * The shadow tables follow the linear address space, not the guest's
 * tables: every shadow leaf is one 4 KiB translation taken from a full
 * guest walk, with the rights of all guest levels folded into it, and the
 * levels above are plain links. So one structure serves every guest mode:
 * a long-mode guest gets a 4-level shadow; a guest with paging off, 32-bit
 * paging (4 KiB or 4 MiB pages) or PAE gets a PAE shadow whose PDPT lies
 * below 4 GiB (the hardware then runs with CR4.PAE set; paging off is an
 * identity map of the low 4 GiB).
 *
 * Keeping leaves in step with guest tables. Every guest frame a shadowed
 * walk read as a page table is write-protected in every shadow leaf. A
 * guest write to one faults; modvm emulates that one instruction and then
 * drops all shadow leaves. The alternative, KVM's "unsync" pages, lets
 * the guest write its tables freely and resynchronises at INVLPG and CR3
 * writes; it pays off for guests that rewrite live page tables all the
 * time (fork, mmap in a guest OS), but needs per-table shadow pages and
 * reverse maps to know what to resync. The guests modvm runs today build
 * their tables first and change them rarely, so write protection with
 * emulation is chosen: it is small, and the shadow is never stale, which
 * also means a guest INVLPG needs no intercept (the hardware INVLPG drops
 * the TLB entry of the shadow leaf, which already holds the current
 * translation) and cached roots stay valid across CR3 writes. Dropping
 * all leaves on such a write (rather than the ones derived from the
 * written table) keeps it without a reverse map; it is the first thing
 * to refine once guests write live tables often.
 *
 * Accessed and dirty bits: the walk that builds a leaf sets A in every
 * guest level; a leaf is writable only once the guest's D bit is set, so
 * the first write faults and sets it.
 *
 * CR0.WP=0: the hardware always runs with WP=1 (so write protection holds
 * in the guest kernel too); a supervisor write the guest allows only
 * because WP is clear gets a writable leaf without U, which keeps user
 * accesses to it faulting and so correct.
 *
 * Locking: vm->shadow.lock (a mutex) covers the tables, roots and gfn
 * sets. Nothing under it may fault on user memory: the MMU notifier takes
 * it with the mmap lock held. Guest walks happen before it is taken and
 * are checked again under it with page faults disabled.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/mm.h>
#include <linux/swap.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>

#include "../core/modvm.h"

#define SPTE_P		BIT_ULL(0)
#define SPTE_W		BIT_ULL(1)
#define SPTE_U		BIT_ULL(2)
#define SPTE_A		BIT_ULL(5)
#define SPTE_D		BIT_ULL(6)
#define SPTE_NX		BIT_ULL(63)
#define SPTE_ADDR	GENMASK_ULL(51, 12)
#define SPTE_LINK	(SPTE_P | SPTE_W | SPTE_U | SPTE_A)

/* Above this many table pages a VM's shadow is dropped and rebuilt. */
#define SHADOW_MAX_PAGES	8192

/* Guest paging-mode bits a root is built for (its key). */
#define KEY_PG		BIT(0)
#define KEY_PAE		BIT(1)
#define KEY_LMA		BIT(2)
#define KEY_WP		BIT(3)
#define KEY_PSE		BIT(4)
#define KEY_NX		BIT(5)
#define KEY_SMEP	BIT(6)

static void shadow_key(struct modvm_vcpu *vcpu, u64 *cr3, u32 *key)
{
	struct modvm_paging_state ps;
	u32 k = 0;

	modvm_backend->get_paging(vcpu, &ps);
	*cr3 = 0;
	if (ps.cr0 & X86_CR0_PG) {
		k = KEY_PG;
		if (ps.cr0 & X86_CR0_WP)
			k |= KEY_WP;
		if (ps.cr4 & X86_CR4_PAE)
			k |= KEY_PAE;
		if (ps.cr4 & X86_CR4_PSE)
			k |= KEY_PSE;
		if (ps.cr4 & X86_CR4_SMEP)
			k |= KEY_SMEP;
		if (ps.efer & EFER_NX)
			k |= KEY_NX;
		if (ps.efer & EFER_LMA) {
			k |= KEY_LMA;
			*cr3 = ps.cr3 & SPTE_ADDR;
		} else {
			*cr3 = ps.cr3 & (k & KEY_PAE ? GENMASK_ULL(31, 5) :
						      GENMASK_ULL(31, 12));
		}
	}
	*key = k;
}

static bool root_pae(const struct modvm_shadow_root *root)
{
	return !(root->key & KEY_LMA);
}

static u64 *spte_table(u64 spte)
{
	return __va(spte & SPTE_ADDR);
}

/* Clear @table at @level; tables below it go on @freed. */
static void zap_table(struct modvm_shadow *sh, u64 *table, int level,
		      struct list_head *freed)
{
	int i;

	for (i = 0; i < 512; i++) {
		u64 spte = table[i];

		if (!(spte & SPTE_P))
			continue;
		WRITE_ONCE(table[i], 0);
		if (level == 1)
			continue;
		zap_table(sh, spte_table(spte), level - 1, freed);
		list_add(&virt_to_page(spte_table(spte))->lru, freed);
		sh->nr_pages--;
	}
}

/* Empty a root; a PAE root keeps its four page directories. */
static void zap_root(struct modvm_shadow *sh, struct modvm_shadow_root *root,
		     struct list_head *freed)
{
	int i;

	if (!root_pae(root)) {
		zap_table(sh, root->top, 4, freed);
		return;
	}
	for (i = 0; i < 4; i++)
		zap_table(sh, spte_table(root->top[i]), 2, freed);
}

static void free_list(struct list_head *freed)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, freed, lru)
		__free_page(page);
}

/*
 * Drop every shadow leaf of the VM. Returns once no vCPU can still use
 * them (each was kicked out of guest mode and flushes before it enters).
 */
static void zap_all_locked(struct modvm_vm *vm)
{
	struct modvm_shadow *sh = &vm->shadow;
	struct modvm_shadow_root *root;
	LIST_HEAD(freed);

	lockdep_assert_held(&sh->lock);
	list_for_each_entry(root, &sh->roots, link)
		zap_root(sh, root, &freed);
	xa_destroy(&sh->pt_gfns);
	xa_destroy(&sh->writable_gfns);
	modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
	free_list(&freed);
}

/**
 * modvm_shadow_zap_all() - drop every shadow translation of a VM.
 * @vm: the VM.
 *
 * For memslot changes, host unmaps and register state set by userspace.
 */
void modvm_shadow_zap_all(struct modvm_vm *vm)
{
	mutex_lock(&vm->shadow.lock);
	zap_all_locked(vm);
	mutex_unlock(&vm->shadow.lock);
}

/**
 * modvm_shadow_invalidate() - the host is unmapping user memory.
 * @vm: the VM.
 * @start: first host-virtual address.
 * @end: end of the range.
 * @blockable: whether this may sleep.
 *
 * Shadow leaves hold no guest frame numbers, so a range that touches
 * guest memory drops all of them.
 *
 * Return: 0, or -EAGAIN when it must sleep but may not.
 */
int modvm_shadow_invalidate(struct modvm_vm *vm, unsigned long start,
			    unsigned long end, bool blockable)
{
	struct modvm_memslots *slots;
	bool hit = false;
	int idx;
	u32 i;

	idx = srcu_read_lock(&vm->srcu);
	slots = srcu_dereference(vm->memslots, &vm->srcu);
	for (i = 0; i < slots->nr && !hit; i++) {
		struct modvm_memslot *s = slots->slots[i];

		hit = start < s->userspace_addr + s->npages * PAGE_SIZE &&
		      end > s->userspace_addr;
	}
	srcu_read_unlock(&vm->srcu, idx);
	if (!hit)
		return 0;
	if (!blockable) {
		if (!mutex_trylock(&vm->shadow.lock))
			return -EAGAIN;
	} else {
		mutex_lock(&vm->shadow.lock);
	}
	zap_all_locked(vm);
	mutex_unlock(&vm->shadow.lock);
	return 0;
}

static void free_root(struct modvm_shadow *sh, struct modvm_shadow_root *root)
{
	LIST_HEAD(freed);
	int i;

	if (!root->top)
		return;
	zap_root(sh, root, &freed);
	free_list(&freed);
	if (root_pae(root))
		for (i = 0; i < 4; i++)
			free_page((unsigned long)spte_table(root->top[i]));
	free_page((unsigned long)root->top);
	root->top = NULL;
	list_del(&root->link);
}

static int alloc_root(struct modvm_shadow *sh, struct modvm_shadow_root *root,
		      u64 cr3, u32 key)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO;
	int i;

	root->key = key;
	root->cr3 = cr3;
	if (!root_pae(root)) {
		root->top = (u64 *)__get_free_page(gfp);
		if (!root->top)
			return -ENOMEM;
		list_add(&root->link, &sh->roots);
		return 0;
	}
	/* PAE CR3 holds 32 bits: the PDPT must lie below 4 GiB. */
	root->top = (u64 *)__get_free_page(gfp | GFP_DMA32);
	if (!root->top)
		return -ENOMEM;
	/*
	 * All four directories stay for the root's life: the CPU loads the
	 * PDPTEs with CR3, so they must never change under a loaded root.
	 */
	for (i = 0; i < 4; i++) {
		u64 *pd = (u64 *)__get_free_page(gfp);

		if (!pd) {
			while (i--)
				free_page((unsigned long)spte_table(root->top[i]));
			free_page((unsigned long)root->top);
			root->top = NULL;
			return -ENOMEM;
		}
		root->top[i] = __pa(pd) | SPTE_P;
	}
	list_add(&root->link, &sh->roots);
	return 0;
}

/**
 * modvm_shadow_load() - pick the shadow root for the guest's paging state.
 * @vcpu: the vCPU, before it enters the guest.
 *
 * Reuses a cached root when the guest returns to a CR3 it used before;
 * otherwise builds an empty one in place of the least recently used.
 * Sets vcpu->shadow.hw_cr3 and .pae for the backend.
 *
 * Return: 0 or -ENOMEM.
 */
int modvm_shadow_load(struct modvm_vcpu *vcpu)
{
	struct modvm_shadow_vcpu *sv = &vcpu->shadow;
	struct modvm_shadow *sh = &vcpu->vm->shadow;
	struct modvm_shadow_root *root;
	int i, pick = 0, r = 0;
	u64 cr3;
	u32 key;

	shadow_key(vcpu, &cr3, &key);
	root = &sv->roots[sv->cur];
	if (root->top && root->cr3 == cr3 && root->key == key)
		return 0;

	mutex_lock(&sh->lock);
	for (i = 0; i < MODVM_SHADOW_ROOTS; i++) {
		root = &sv->roots[i];
		if (root->top && root->cr3 == cr3 && root->key == key)
			break;
		if (!root->top ||
		    (sv->roots[pick].top && root->last_use < sv->roots[pick].last_use))
			pick = i;
	}
	if (i == MODVM_SHADOW_ROOTS) {
		i = pick;
		root = &sv->roots[i];
		/* No CPU runs this vCPU now, and it flushes before it does. */
		free_root(sh, root);
		r = alloc_root(sh, root, cr3, key);
	}
	mutex_unlock(&sh->lock);
	if (r)
		return r;
	sv->cur = i;
	root->last_use = ++sv->clock;
	sv->hw_cr3 = __pa(root->top);
	sv->pae = root_pae(root);
	/* The TLB is tagged by ASID/VPID, not by CR3: flush on a switch. */
	set_bit(MODVM_REQ_TLB_FLUSH, &vcpu->requests);
	return 0;
}

/* The leaf slot of @addr in the vCPU's root, linking missing tables. */
static u64 *leaf_slot(struct modvm_shadow *sh, struct modvm_vcpu *vcpu,
		      u64 addr)
{
	struct modvm_shadow_vcpu *sv = &vcpu->shadow;
	struct modvm_shadow_root *root = &sv->roots[sv->cur];
	u64 *table;
	int level;

	if (root_pae(root)) {
		table = spte_table(root->top[(addr >> 30) & 3]);
		level = 2;
	} else {
		table = root->top;
		level = 4;
	}
	for (; level > 1; level--) {
		u64 *spte = &table[(addr >> (12 + 9 * (level - 1))) & 511];

		if (!(*spte & SPTE_P)) {
			void *page = modvm_page_cache_alloc(&vcpu->mmu_pages);

			if (!page)
				return NULL;	/* warned; the guest faults again */
			sh->nr_pages++;
			WRITE_ONCE(*spte, __pa(page) | SPTE_LINK);
		}
		table = spte_table(*spte);
	}
	return &table[(addr >> 12) & 511];
}

/*
 * Write-protect the guest tables @w went through. A frame that becomes a
 * page table while some leaf maps it writable costs a full zap.
 */
static int protect_tables(struct modvm_vm *vm, const struct modvm_walk *w)
{
	struct modvm_shadow *sh = &vm->shadow;
	int i;

again:
	for (i = 0; i < w->nr; i++) {
		unsigned long gfn = w->pte_gpa[i] >> PAGE_SHIFT;
		int r;

		if (xa_load(&sh->pt_gfns, gfn))
			continue;
		if (xa_load(&sh->writable_gfns, gfn)) {
			zap_all_locked(vm);
			goto again;
		}
		r = xa_err(xa_store(&sh->pt_gfns, gfn, xa_mk_value(1),
				    GFP_KERNEL_ACCOUNT));
		if (r)
			return r;
	}
	return 0;
}

/*
 * Are the guest entries @w read still what it saw? Read with page faults
 * off (see the locking rule above); a page that is not present fails.
 */
static bool walk_unchanged(struct modvm_vm *vm, const struct modvm_walk *w)
{
	struct modvm_memslots *slots = srcu_dereference(vm->memslots, &vm->srcu);
	int i;

	for (i = 0; i < w->nr; i++) {
		u64 gfn = w->pte_gpa[i] >> PAGE_SHIFT, v = 0;
		struct modvm_memslot *s = modvm_find_memslot(slots, gfn);
		unsigned long hva;
		int left;

		if (!s)
			return false;
		hva = modvm_gfn_to_hva(s, gfn) + offset_in_page(w->pte_gpa[i]);
		pagefault_disable();
		left = __copy_from_user_inatomic(&v, (void __user *)hva,
						 w->pte_size);
		pagefault_enable();
		if (left || v != w->pte[i])
			return false;
	}
	return true;
}

/* The emulator completes accesses the shadow cannot map; zap after. */
static int emulate(struct modvm_vcpu *vcpu, u64 gpa, bool zap)
{
	struct modvm_exit exit = { .type = MODVM_EXIT_TDP_FAULT };
	int r;

	exit.tdp.gpa = gpa;
	r = modvm_emulate_mmio(vcpu, &exit);
	if (zap)
		modvm_shadow_zap_all(vcpu->vm);
	return r;
}

static u64 make_leaf(const struct modvm_walk *w, struct page *page,
		     bool write, bool writable)
{
	bool w_ok = w->allow_w, u_ok = w->allow_u;
	u64 spte;

	if (write && !w_ok) {
		/* A supervisor write that only CR0.WP=0 allows. */
		w_ok = true;
		u_ok = false;
	}
	spte = page_to_pfn(page) << PAGE_SHIFT | SPTE_P | SPTE_A;
	if (w_ok && writable && (write || w->dirty))
		spte |= SPTE_W | SPTE_D;
	if (u_ok)
		spte |= SPTE_U;
	if (!w->allow_x)
		spte |= SPTE_NX;
	return spte;
}

static int internal_error(struct modvm_vcpu *vcpu)
{
	vcpu->run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	vcpu->run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	vcpu->run->internal.ndata = 0;
	return 0;
}

/**
 * modvm_shadow_page_fault() - handle a #PF the guest took under shadow paging.
 * @vcpu: the vCPU, in its thread.
 * @addr: the faulting linear address.
 * @error_code: the hardware's #PF error code.
 *
 * Either the guest's own tables forbid the access (the #PF goes to the
 * guest with the error code its tables give and CR2 = @addr), or the
 * shadow lacks the translation (it is added, the guest retries), or the
 * access hits MMIO, ROM or a write-protected guest page table (the
 * instruction is emulated).
 *
 * Return: 1 to enter the guest again; 0 to return to userspace with
 * vcpu->run filled in; a negative errno.
 */
int modvm_shadow_page_fault(struct modvm_vcpu *vcpu, u64 addr, u32 error_code)
{
	struct modvm_vm *vm = vcpu->vm;
	struct modvm_shadow *sh = &vm->shadow;
	struct modvm_shadow_vcpu *sv = &vcpu->shadow;
	bool write = error_code & MODVM_PF_W;
	bool writable, pt_write = false;
	unsigned long seq;
	struct modvm_walk w;
	struct page *page;
	u64 gfn, spte, *leaf;
	struct modvm_memslot *slot;
	int idx, r;

	r = modvm_walk(vcpu, addr, error_code &
		       (MODVM_PF_W | MODVM_PF_U | MODVM_PF_F), &w);
	if (r == -EFAULT) {
		modvm_queue_page_fault(vcpu, addr, w.pf_error);
		return 1;
	}
	if (r == -EAGAIN)	/* the guest keeps changing them: retry */
		return 1;
	if (r)		/* page tables outside RAM */
		return internal_error(vcpu);
	gfn = w.gpa >> PAGE_SHIFT;

	/* One table per level below the root, taken under the lock. */
	r = modvm_page_cache_topup(&vcpu->mmu_pages, 3);
	if (r)
		return r;
	idx = srcu_read_lock(&vm->srcu);
	r = modvm_mmu_get_page(vm, gfn, write, &slot, &page, &writable, &seq);
	if (r) {
		srcu_read_unlock(&vm->srcu, idx);
		if (r == -EAGAIN)
			return 1;
		return r == -ENOENT ? emulate(vcpu, w.gpa, false) : r;
	}

	mutex_lock(&sh->lock);
	if (sh->nr_pages > SHADOW_MAX_PAGES)
		zap_all_locked(vm);
	r = protect_tables(vm, &w);
	if (r || !walk_unchanged(vm, &w) || !sv->roots[sv->cur].top)
		goto unlock;	/* r = 0: the guest faults again */
	if (xa_load(&sh->pt_gfns, gfn)) {
		if (write) {
			pt_write = true;
			goto unlock;
		}
		writable = false;
	}
	spte = make_leaf(&w, page, write, writable);
	if (spte & SPTE_W) {
		r = xa_err(xa_store(&sh->writable_gfns, gfn, xa_mk_value(1),
				    GFP_KERNEL_ACCOUNT));
		if (r)
			goto unlock;
	}
	spin_lock(&vm->tdp.lock);
	leaf = modvm_mmu_stale(vm, seq) ? NULL : leaf_slot(sh, vcpu, addr);
	if (leaf) {
		WRITE_ONCE(*leaf, spte);
		if (spte & SPTE_W)
			set_page_dirty(page);
		mark_page_accessed(page);
	}
	spin_unlock(&vm->tdp.lock);
unlock:
	mutex_unlock(&sh->lock);
	put_page(page);
	srcu_read_unlock(&vm->srcu, idx);
	if (r)
		return r;
	return pt_write ? emulate(vcpu, w.gpa, true) : 1;
}

/**
 * modvm_shadow_init() - empty shadow state for a new VM.
 * @vm: the VM.
 */
void modvm_shadow_init(struct modvm_vm *vm)
{
	mutex_init(&vm->shadow.lock);
	INIT_LIST_HEAD(&vm->shadow.roots);
	xa_init(&vm->shadow.pt_gfns);
	xa_init(&vm->shadow.writable_gfns);
}

/**
 * modvm_shadow_vcpu_free() - free a vCPU's shadow roots.
 * @vcpu: the vCPU, never to run again.
 */
void modvm_shadow_vcpu_free(struct modvm_vcpu *vcpu)
{
	struct modvm_shadow_vcpu *sv = &vcpu->shadow;
	int i;

	mutex_lock(&vcpu->vm->shadow.lock);
	for (i = 0; i < MODVM_SHADOW_ROOTS; i++)
		free_root(&vcpu->vm->shadow, &sv->roots[i]);
	mutex_unlock(&vcpu->vm->shadow.lock);
}

/**
 * modvm_shadow_destroy() - free what is left once every vCPU is freed.
 * @vm: the VM.
 */
void modvm_shadow_destroy(struct modvm_vm *vm)
{
	xa_destroy(&vm->shadow.pt_gfns);
	xa_destroy(&vm->shadow.writable_gfns);
}
