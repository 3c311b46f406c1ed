// SPDX-License-Identifier: GPL-2.0
/*
 * Guest frame -> host page, shared by TDP and shadow paging: the memslot
 * lookup, read-only slots, and the user page lookup (GUP) with the MMU
 * notifier sequence a fault checks before it maps what it found.
 */
#include <linux/mm.h>

#include "../core/modvm.h"

/**
 * modvm_gfn_to_hva() - host-virtual address of a guest frame.
 * @slot: the memslot holding it.
 * @gfn: guest frame number.
 *
 * Return: the user address of the frame's first byte.
 */
unsigned long modvm_gfn_to_hva(const struct modvm_memslot *slot, u64 gfn)
{
	return slot->userspace_addr + (gfn - slot->base_gfn) * PAGE_SIZE;
}

/**
 * modvm_mmu_get_page() - find the host page behind a guest frame.
 * @vm: the VM; runs in its process, under vm->srcu.
 * @gfn: guest frame number.
 * @write: the guest writes the page.
 * @slotp: the memslot holding @gfn.
 * @page: the page, with a reference the caller drops once it is mapped.
 * @writable: whether the page may be mapped writable.
 * @seq: the notifier sequence before the lookup, for modvm_mmu_stale().
 *
 * A read maps the page writable if it already is, so a guest that writes
 * after reading does not fault twice; otherwise read-only, which keeps
 * zero pages and KSM pages shared. Read-only memslots never map writable.
 *
 * Return: 0; -ENOENT when @gfn is in no memslot, or @write hits a
 * read-only one (both are MMIO to the caller); -EAGAIN while the slot is
 * being deleted or moved (the guest retries); -EFAULT when the host
 * mapping is gone.
 */
int modvm_mmu_get_page(struct modvm_vm *vm, u64 gfn, bool write,
		       struct modvm_memslot **slotp, struct page **page,
		       bool *writable, unsigned long *seq)
{
	struct modvm_memslot *slot;
	unsigned long hva;
	bool rom;

	slot = modvm_find_memslot(srcu_dereference(vm->memslots, &vm->srcu), gfn);
	if (!slot)
		return -ENOENT;
	if (slot->invalid)
		return -EAGAIN;
	*slotp = slot;
	rom = slot->flags & KVM_MEM_READONLY;
	if (write && rom)
		return -ENOENT;
	hva = modvm_gfn_to_hva(slot, gfn);

	*seq = READ_ONCE(vm->tdp.invalidate_seq);
	smp_rmb();	/* read seq before looking the page up */

	*writable = write;
	if (!write && !rom && get_user_page_fast_only(hva, FOLL_WRITE, page))
		*writable = true;
	else if (get_user_pages_unlocked(hva, 1, page, write ? FOLL_WRITE : 0) != 1)
		return -EFAULT;
	return 0;
}

/**
 * modvm_mmu_stale() - did an invalidation overlap a fault's page lookup?
 * @vm: the VM; the caller holds vm->tdp.lock.
 * @seq: what modvm_mmu_get_page() returned in its @seq.
 *
 * Return: true when the page may be stale: the fault must not map it and
 * lets the guest fault again instead.
 */
bool modvm_mmu_stale(struct modvm_vm *vm, unsigned long seq)
{
	lockdep_assert_held(&vm->tdp.lock);
	return vm->tdp.invalidate_in_progress || seq != vm->tdp.invalidate_seq;
}
