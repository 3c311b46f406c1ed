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
 * walk read as a page table is write-protected in every shadow leaf, and
 * its record (struct shadow_gfn) notes which linear range each of its
 * entries translates for the leaves built through it. A guest write to it
 * faults; modvm emulates that one instruction, and every write the
 * emulator makes to such a frame goes through modvm_shadow_write_table(),
 * which drops the leaves below each entry that was present and changed:
 * a new entry (not present before) needs nothing dropped, which is what
 * a guest building its tables does most. A frame written this way
 * FLOOD_WRITES times with no walk through it in between is no longer
 * treated as a page table (it was freed and reused, or is being filled
 * while nothing runs through it): the leaves built through it go, and the
 * next walk through it protects it again. A frame that becomes a page
 * table loses the writable leaves noted for it.
 *
 * The alternative, KVM's "unsync" pages, lets the guest write its tables
 * freely and resynchronises at INVLPG and CR3 writes; it saves the
 * emulation of each write to a live table, but needs per-table shadow
 * pages. Here the shadow is never stale, which also means a guest INVLPG
 * needs no intercept (the hardware INVLPG drops the TLB entry of the
 * shadow leaf, which already holds the current translation) and cached
 * roots stay valid across CR3 writes. Where a record overflows (a table
 * used for more linear ranges, or a frame mapped writable at more linear
 * addresses, than it holds) the whole shadow is dropped instead.
 *
 * A fault also maps the pages around it that share its guest large page
 * and are present in the host (see prefetch_lookup()).
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

/* Emulated writes to a table, with no walk through it between, to unprotect. */
#define FLOOD_WRITES	3

#define GFN_USES	4
#define GFN_WMAPS	4

/*
 * A linear range that leaves were built for through a guest table: entry
 * i of the table (at byte @first + i * @size of the frame, i < @nent)
 * translates [@base + i << @shift, @base + (i + 1) << @shift). Addresses
 * are taken modulo 2^48 (long mode) or 2^32, as the shadow indexes them.
 */
struct gfn_use {
	u64 base;
	u16 first;
	u16 nent;
	u8 shift;
	u8 size;
};

/*
 * What the shadow knows about one guest frame (vm->shadow.gfns).
 * @uses: the ranges leaves were built for through it as a page table.
 * @wmaps: linear addresses where a leaf maps it writable.
 * @pt: it is a page table: no leaf maps it writable.
 * @uses_lost, @wmaps_lost: more than the arrays hold were noted.
 * @writes: emulated writes to it since the last walk through it.
 */
struct shadow_gfn {
	struct rcu_head rcu;
	struct gfn_use uses[GFN_USES];
	u64 wmaps[GFN_WMAPS];
	u8 nr_uses, nr_wmaps, writes;
	bool pt, uses_lost, wmaps_lost;
};

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

/* Forget every frame record; modvm_shadow_is_table() may still read them. */
static void free_gfns(struct modvm_shadow *sh)
{
	struct shadow_gfn *g;
	unsigned long gfn;

	/* Erased one by one: reserve_gfns() may insert meanwhile. */
	xa_for_each(&sh->gfns, gfn, g) {
		xa_erase(&sh->gfns, gfn);
		kfree_rcu(g, rcu);
	}
}

/*
 * Drop the leaves of [@start, @end) below @table, which maps from @tbase.
 * Returns whether there were any.
 */
static bool zap_range_table(struct modvm_shadow *sh, u64 *table, int level,
			    u64 tbase, u64 start, u64 end,
			    struct list_head *freed)
{
	int shift = 12 + 9 * (level - 1), i;
	u64 span = 1ULL << shift;
	bool any = false;

	i = start > tbase ? (start - tbase) >> shift : 0;
	for (; i < 512; i++) {
		u64 lo = tbase + ((u64)i << shift), spte = table[i];

		if (lo >= end)
			break;
		if (!(spte & SPTE_P))
			continue;
		if (level > 1 && (lo < start || lo + span > end)) {
			any |= zap_range_table(sh, spte_table(spte), level - 1,
					       lo, start, end, freed);
			continue;
		}
		WRITE_ONCE(table[i], 0);
		any = true;
		if (level == 1)
			continue;
		zap_table(sh, spte_table(spte), level - 1, freed);
		list_add(&virt_to_page(spte_table(spte))->lru, freed);
		sh->nr_pages--;
	}
	return any;
}

/* Drop the leaves of linear [@start, @end) in every root; any there? */
static bool zap_range(struct modvm_shadow *sh, u64 start, u64 end,
		      struct list_head *freed)
{
	struct modvm_shadow_root *root;
	bool any = false;
	int i;

	list_for_each_entry(root, &sh->roots, link) {
		if (!root_pae(root)) {
			any |= zap_range_table(sh, root->top, 4, 0, start,
					       min(end, 1ULL << 48), freed);
			continue;
		}
		for (i = 0; i < 4; i++)
			any |= zap_range_table(sh, spte_table(root->top[i]), 2,
					       (u64)i << 30, start,
					       min(end, 1ULL << 32), freed);
	}
	return any;
}

/* The leaf slot of @addr in @root if its tables exist, else NULL. */
static u64 *find_leaf(const struct modvm_shadow_root *root, u64 addr)
{
	u64 *table = root->top;
	int level = 4;

	if (root_pae(root)) {
		table = spte_table(root->top[(addr >> 30) & 3]);
		level = 2;
	}
	for (; level > 1; level--) {
		u64 spte = table[(addr >> (12 + 9 * (level - 1))) & 511];

		if (!(spte & SPTE_P))
			return NULL;
		table = spte_table(spte);
	}
	return &table[(addr >> 12) & 511];
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
	free_gfns(sh);
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
 * Take away write access to @g's frame wherever a leaf grants it (the
 * leaf at a noted address may map another frame by now: it only faults
 * once more). False when that is not known everywhere.
 */
static bool unmap_writable(struct modvm_shadow *sh, struct shadow_gfn *g)
{
	struct modvm_shadow_root *root;
	int i;

	if (g->wmaps_lost)
		return false;
	list_for_each_entry(root, &sh->roots, link) {
		for (i = 0; i < g->nr_wmaps; i++) {
			u64 *leaf = find_leaf(root, g->wmaps[i]);

			if (leaf && (*leaf & SPTE_W))
				WRITE_ONCE(*leaf, *leaf & ~SPTE_W);
		}
	}
	g->nr_wmaps = 0;
	return true;
}

/* Note that a leaf at @addr maps @g's frame writable. */
static void note_wmap(struct modvm_shadow *sh, struct shadow_gfn *g, u64 addr)
{
	struct modvm_shadow_root *root;
	int i, j, n = 0;

	addr &= PAGE_MASK;
	for (i = 0; i < g->nr_wmaps; i++)
		if (g->wmaps[i] == addr)
			return;
	if (g->nr_wmaps == GFN_WMAPS) {
		/* Keep the addresses where some leaf is still writable. */
		for (i = 0; i < g->nr_wmaps; i++) {
			bool live = false;

			list_for_each_entry(root, &sh->roots, link) {
				u64 *leaf = find_leaf(root, g->wmaps[i]);

				live |= leaf && (*leaf & SPTE_W);
			}
			if (live)
				g->wmaps[n++] = g->wmaps[i];
		}
		g->nr_wmaps = n;
	}
	if (g->nr_wmaps == GFN_WMAPS) {
		g->wmaps_lost = true;
		return;
	}
	j = g->nr_wmaps++;
	g->wmaps[j] = addr;
}

static void note_use(struct shadow_gfn *g, const struct gfn_use *u)
{
	int i;

	for (i = 0; i < g->nr_uses; i++) {
		const struct gfn_use *o = &g->uses[i];

		if (o->base == u->base && o->first == u->first &&
		    o->nent == u->nent && o->shift == u->shift &&
		    o->size == u->size)
			return;
	}
	if (g->nr_uses == GFN_USES)
		g->uses_lost = true;
	else
		g->uses[g->nr_uses++] = *u;
}

/*
 * The linear range entry @i (top first) of walk @w translates, for a
 * walk of @addr in a root of paging mode @key.
 */
static void walk_use(const struct modvm_walk *w, int i, u64 addr, u32 key,
		     struct gfn_use *u)
{
	int top = key & KEY_LMA ? 4 : key & KEY_PAE ? 3 : 2;
	int level = top - i, idx;

	u->size = w->pte_size;
	if (w->pte_size == 4) {
		u->shift = 12 + 10 * (level - 1);
		u->nent = 1024;
	} else {
		u->shift = 12 + 9 * (level - 1);
		u->nent = level == 3 && !(key & KEY_LMA) ? 4 : 512;
	}
	addr &= key & KEY_LMA ? GENMASK_ULL(47, 0) : GENMASK_ULL(31, 0);
	idx = (addr >> u->shift) & (u->nent - 1);
	u->first = offset_in_page(w->pte_gpa[i]) - idx * u->size;
	u->base = addr & ~((((u64)u->nent) << u->shift) - 1);
}

/*
 * @gfn's record, made if it has none; NULL when memory is short. Under
 * sh->lock @gfp must not reclaim: that could enter the MMU notifier,
 * which takes the lock. The xarray has its own lock.
 */
static struct shadow_gfn *get_record(struct modvm_shadow *sh, u64 gfn,
				     gfp_t gfp)
{
	struct shadow_gfn *g = xa_load(&sh->gfns, gfn);
	int r;

	if (g)
		return g;
	g = kzalloc(sizeof(*g), gfp);
	if (!g)
		return NULL;
	r = xa_insert(&sh->gfns, gfn, g, gfp);
	if (!r)
		return g;
	kfree(g);
	/* -EBUSY: another fault made it first. */
	return r == -EBUSY ? xa_load(&sh->gfns, gfn) : NULL;
}

/*
 * A record for each frame in @gfns, made before the lock is taken; false
 * when memory ran out (a record found missing later: the guest faults
 * again).
 */
static bool reserve_gfns(struct modvm_shadow *sh, const u64 *gfns, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!get_record(sh, gfns[i], GFP_KERNEL_ACCOUNT))
			return false;
	return true;
}

/*
 * Write-protect the guest tables @w went through for @addr and note the
 * range each translates; *@flush when a writable leaf lost its W bit.
 * -EAGAIN: a record is missing (freed by a zap since reserve_gfns()),
 * the guest faults again.
 */
static int protect_tables(struct modvm_vm *vm, u64 addr, u32 key,
			  const struct modvm_walk *w, bool *flush)
{
	struct modvm_shadow *sh = &vm->shadow;
	struct gfn_use u;
	int i;

again:
	for (i = 0; i < w->nr; i++) {
		struct shadow_gfn *g = xa_load(&sh->gfns, w->pte_gpa[i] >> PAGE_SHIFT);

		if (!g)
			return -EAGAIN;
		if (!g->pt) {
			if (!unmap_writable(sh, g)) {
				zap_all_locked(vm);
				goto again;
			}
			g->pt = true;
			*flush = true;
		}
		walk_use(w, i, addr, key, &u);
		note_use(g, &u);
		g->writes = 0;
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

/*
 * @g is no page table any more: drop the leaves built through it (*@zapped
 * if any). False when that needs the whole shadow dropped.
 */
static bool unprotect(struct modvm_shadow *sh, struct shadow_gfn *g,
		      struct list_head *freed, bool *zapped)
{
	bool lost;
	int k;

	for (k = 0; k < g->nr_uses; k++) {
		const struct gfn_use *u = &g->uses[k];

		*zapped |= zap_range(sh, u->base,
				     u->base + ((u64)u->nent << u->shift),
				     freed);
	}
	lost = g->uses_lost;
	g->pt = false;
	g->uses_lost = false;
	g->nr_uses = 0;
	g->writes = 0;
	return !lost;
}

/*
 * After leaves went (*@zapped): no vCPU may use them through its TLB, and
 * only then are their tables freed; !@ok drops the whole shadow.
 */
static void finish_zap(struct modvm_vm *vm, bool ok, bool zapped,
		       struct list_head *freed)
{
	if (zapped)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
	free_list(freed);
	if (!ok)
		zap_all_locked(vm);
}

/* Under the lock: @g is no page table any more. */
static void drop_table_locked(struct modvm_vm *vm, struct shadow_gfn *g)
{
	bool zapped = false;
	LIST_HEAD(freed);

	finish_zap(vm, unprotect(&vm->shadow, g, &freed, &zapped), zapped,
		   &freed);
}

/* The emulator completes accesses the shadow cannot map. */
static int emulate(struct modvm_vcpu *vcpu, u64 gpa)
{
	struct modvm_exit exit = { .type = MODVM_EXIT_TDP_FAULT };

	exit.tdp.gpa = gpa;
	return modvm_emulate_mmio(vcpu, &exit);
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

/* A fault maps the present pages of its aligned block of this many. */
#define PREFETCH_PAGES	16

struct prefetch {
	u64 gfn;		/* the block's first frame */
	int self;		/* the faulting page's index in the block */
	struct page *pages[PREFETCH_PAGES];
	bool writable[PREFETCH_PAGES];
};

/*
 * First touches come in runs (a guest zeroing or copying memory), and a
 * fault costs an exit: with the faulting page, map the other pages of its
 * aligned 64 KiB block where they share its guest translation (a guest
 * large page, or paging off). The guest's accessed bit is set there and
 * their rights are the fault's, so nothing the guest sees changes. Only
 * pages the shadow lacks and the host has present are taken: they are
 * looked up without faulting (as KVM, which maps its neighbours only if
 * their pages exist), under sh->lock so that the leaves already there
 * are known. After the fault's own lookup: modvm_mmu_stale() covers them.
 */
static void prefetch_lookup(struct modvm_shadow *sh,
			    const struct modvm_shadow_root *root,
			    const struct modvm_walk *w, u64 addr,
			    const struct modvm_memslot *slot, struct prefetch *pf)
{
	/* Only a dirty, writable guest page can get writable leaves. */
	bool want_w = w->allow_w && w->dirty &&
		      !(slot->flags & KVM_MEM_READONLY);
	u64 *leaf;
	int j;

	if (w->page_mask < PREFETCH_PAGES * PAGE_SIZE - 1)
		return;
	pf->self = (addr >> PAGE_SHIFT) % PREFETCH_PAGES;
	pf->gfn = (w->gpa >> PAGE_SHIFT) - pf->self;
	/* A 64 KiB block lies within one leaf table. */
	leaf = find_leaf(root, addr);
	for (j = 0; j < PREFETCH_PAGES; j++) {
		u64 gfn = pf->gfn + j;
		unsigned long hva;

		if (j == pf->self || gfn < slot->base_gfn ||
		    gfn >= slot->base_gfn + slot->npages ||
		    (leaf && (leaf[j - pf->self] & SPTE_P)))
			continue;
		hva = modvm_gfn_to_hva(slot, gfn);
		pf->writable[j] = want_w &&
			get_user_page_fast_only(hva, FOLL_WRITE, &pf->pages[j]);
		if (!pf->writable[j] &&
		    !get_user_page_fast_only(hva, 0, &pf->pages[j]))
			continue;
		if (!get_record(sh, gfn,
				GFP_NOWAIT | __GFP_ACCOUNT | __GFP_NOWARN)) {
			put_page(pf->pages[j]);
			pf->pages[j] = NULL;
		}
	}
}

/* Under both locks, with @leaf the fault's new leaf: map the block. */
static void prefetch_map(struct modvm_shadow *sh, const struct modvm_walk *w,
			 u64 addr, u64 *leaf, const struct prefetch *pf)
{
	int j;

	for (j = 0; j < PREFETCH_PAGES; j++) {
		u64 *spte_p = leaf - pf->self + j, spte;
		struct page *page = pf->pages[j];
		struct shadow_gfn *g;

		if (!page || (*spte_p & SPTE_P))
			continue;
		g = xa_load(&sh->gfns, pf->gfn + j);
		if (!g)
			continue;
		spte = make_leaf(w, page, false, pf->writable[j] && !g->pt);
		WRITE_ONCE(*spte_p, spte);
		if (spte & SPTE_W) {
			note_wmap(sh, g, addr + (j - pf->self) * PAGE_SIZE);
			set_page_dirty(page);
		}
		/* Not accessed yet: the host's LRU is not told it was. */
	}
}

static void prefetch_put(struct prefetch *pf)
{
	int j;

	for (j = 0; j < PREFETCH_PAGES; j++)
		if (pf->pages[j])
			put_page(pf->pages[j]);
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
	struct modvm_walk w;
	struct modvm_vm *vm = vcpu->vm;
	struct modvm_shadow *sh = &vm->shadow;
	struct modvm_shadow_vcpu *sv = &vcpu->shadow;
	bool write = error_code & MODVM_PF_W;
	bool writable, pt_write = false, flush = false;
	struct modvm_shadow_root *root;
	u64 gfn, spte, *leaf, gfns[ARRAY_SIZE(w.pte_gpa) + 1];
	struct modvm_memslot *slot;
	struct prefetch pf = {};
	struct shadow_gfn *g;
	unsigned long seq;
	struct page *page;
	int i, idx, r;

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
	for (i = 0; i < w.nr; i++)
		gfns[i] = w.pte_gpa[i] >> PAGE_SHIFT;
	gfns[i] = gfn;
	if (!reserve_gfns(sh, gfns, w.nr + 1))
		return -ENOMEM;
	idx = srcu_read_lock(&vm->srcu);
	r = modvm_mmu_get_page(vm, gfn, write, &slot, &page, &writable, &seq);
	if (r) {
		srcu_read_unlock(&vm->srcu, idx);
		if (r == -EAGAIN)
			return 1;
		return r == -ENOENT ? emulate(vcpu, w.gpa) : r;
	}

	mutex_lock(&sh->lock);
	if (sh->nr_pages > SHADOW_MAX_PAGES)
		zap_all_locked(vm);
	root = &sv->roots[sv->cur];
	if (!root->top)
		goto unlock;
	r = protect_tables(vm, addr, root->key, &w, &flush);
	/* No vCPU may write a table through an old TLB entry from here. */
	if (flush)
		modvm_kick_all(vm, MODVM_REQ_TLB_FLUSH);
	g = xa_load(&sh->gfns, gfn);
	if (r || !g || !walk_unchanged(vm, &w)) {
		r = 0;		/* the guest faults again */
		goto unlock;
	}
	if (g->pt) {
		if (write && modvm_events_vectoring(vcpu)) {
			/*
			 * An event's delivery writes its frame there: no
			 * instruction is to be emulated (the one at RIP has
			 * not run), and a stack is no page table (any more).
			 */
			drop_table_locked(vm, g);
			goto unlock;
		}
		if (write) {
			pt_write = true;
			goto unlock;
		}
		writable = false;
	}
	spte = make_leaf(&w, page, write, writable);
	prefetch_lookup(sh, root, &w, addr, slot, &pf);
	spin_lock(&vm->tdp.lock);
	leaf = modvm_mmu_stale(vm, seq) ? NULL : leaf_slot(sh, vcpu, addr);
	if (leaf) {
		WRITE_ONCE(*leaf, spte);
		if (spte & SPTE_W) {
			note_wmap(sh, g, addr);
			set_page_dirty(page);
		}
		mark_page_accessed(page);
		prefetch_map(sh, &w, addr, leaf, &pf);
	}
	spin_unlock(&vm->tdp.lock);
unlock:
	mutex_unlock(&sh->lock);
	put_page(page);
	prefetch_put(&pf);
	srcu_read_unlock(&vm->srcu, idx);
	if (r)
		return r;
	/* The emulator's writes go through modvm_shadow_write_table(). */
	return pt_write ? emulate(vcpu, w.gpa) : 1;
}

/**
 * modvm_shadow_is_table() - is a guest frame write-protected as a table?
 * @vm: the VM, with shadow paging.
 * @gfn: the guest frame.
 *
 * Return: true when writes to it must go through
 * modvm_shadow_write_table().
 */
bool modvm_shadow_is_table(struct modvm_vm *vm, u64 gfn)
{
	struct shadow_gfn *g;
	bool pt;

	rcu_read_lock();
	g = xa_load(&vm->shadow.gfns, gfn);
	pt = g && READ_ONCE(g->pt);
	rcu_read_unlock();
	return pt;
}

/**
 * modvm_shadow_written() - a device wrote guest frames behind the CPU.
 * @vm: the VM, with shadow paging.
 * @gfn: the first frame written.
 * @end: the frame after the last.
 *
 * For in-kernel devices, which write guest memory through the VMM's
 * mapping (virtio/): a guest page table among the frames stops being
 * trusted, as if the guest had rewritten it, and is protected again at
 * the next walk through it.
 */
void modvm_shadow_written(struct modvm_vm *vm, u64 gfn, u64 end)
{
	struct modvm_shadow *sh = &vm->shadow;
	struct shadow_gfn *g;

	for (; gfn < end; gfn++) {
		if (!modvm_shadow_is_table(vm, gfn))
			continue;
		mutex_lock(&sh->lock);
		g = xa_load(&sh->gfns, gfn);
		if (g && g->pt)
			drop_table_locked(vm, g);
		mutex_unlock(&sh->lock);
	}
}

/*
 * Drop the leaves below each entry of @g that a write of @len bytes at
 * page offset @off changed (@old before, @new after) while it was present;
 * *@zapped if there were any. False when that needs the whole shadow
 * dropped (uses were lost).
 */
static bool zap_written(struct modvm_shadow *sh, const struct shadow_gfn *g,
			int off, const u8 *old, const u8 *new, int len,
			struct list_head *freed, bool *zapped)
{
	bool changed = false;

	int k, i;

	for (k = 0; k < g->nr_uses; k++) {
		const struct gfn_use *u = &g->uses[k];
		int lo, hi;

		if (off + len <= u->first)
			continue;
		lo = off > u->first ? (off - u->first) / u->size : 0;
		hi = min((off + len - 1 - u->first) / u->size, u->nent - 1);
		for (i = lo; i <= hi; i++) {
			int e = u->first + i * u->size;
			int a = max(e, off), b = min(e + u->size, off + len);

			if (!memcmp(old + a - off, new + a - off, b - a))
				continue;
			/* P is bit 0: a write that left byte 0 alone kept it. */
			if (e >= off && !(old[e - off] & 1))
				continue;
			changed = true;
			*zapped |= zap_range(sh, u->base + ((u64)i << u->shift),
					     u->base + ((u64)(i + 1) << u->shift),
					     freed);
		}
	}
	return !(changed && g->uses_lost);
}

/**
 * modvm_shadow_write_table() - write guest memory modvm protects as a table.
 * @vm: the VM, with shadow paging.
 * @gpa: guest-physical address.
 * @hva: where it is in the VMM's memory.
 * @data: the bytes.
 * @len: how many, within one page.
 *
 * For writes modvm makes for the guest (the emulated instruction that
 * faulted on the write-protected table, string I/O): the shadow leaves
 * built through the entries changed go, so no stale translation stays.
 *
 * Return: 0, or -EFAULT when the memory cannot be accessed.
 */
int modvm_shadow_write_table(struct modvm_vm *vm, u64 gpa, void __user *hva,
			     const void *data, int len)
{
	struct modvm_shadow *sh = &vm->shadow;
	u8 old[64];

	while (len > 0) {
		int n = min_t(int, len, sizeof(old));
		bool ok = true, zapped = false;
		struct shadow_gfn *g;
		LIST_HEAD(freed);

		if (copy_from_user(old, hva, n) || copy_to_user(hva, data, n))
			return -EFAULT;
		mutex_lock(&sh->lock);
		g = xa_load(&sh->gfns, gpa >> PAGE_SHIFT);
		if (g && g->pt) {
			if (++g->writes > FLOOD_WRITES)
				ok = unprotect(sh, g, &freed, &zapped);
			else
				ok = zap_written(sh, g, offset_in_page(gpa), old,
						 data, n, &freed, &zapped);
		}
		finish_zap(vm, ok, zapped, &freed);
		mutex_unlock(&sh->lock);
		gpa += n;
		hva += n;
		data += n;
		len -= n;
	}
	return 0;
}

/**
 * modvm_shadow_init() - empty shadow state for a new VM.
 * @vm: the VM.
 */
void modvm_shadow_init(struct modvm_vm *vm)
{
	mutex_init(&vm->shadow.lock);
	INIT_LIST_HEAD(&vm->shadow.roots);
	xa_init(&vm->shadow.gfns);
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
	free_gfns(&vm->shadow);
}
