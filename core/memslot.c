// SPDX-License-Identifier: GPL-2.0
/*
 * Memslots: the map from guest-physical pages to host user memory.
 *
 * A VM's slots live in an immutable snapshot sorted by guest frame, so
 * readers (the MMU fault path) look them up without locks under SRCU and
 * writers replace the whole snapshot. Updates are rare; lookups are not.
 */
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/uaccess.h>
#include <linux/overflow.h>

#include "modvm.h"

/* Flags this implementation accepts; the others get -EINVAL as in KVM. */
#define MODVM_MEM_FLAGS_SUPPORTED	KVM_MEM_READONLY

static struct modvm_memslots *memslots_alloc(u32 nr)
{
	struct modvm_memslots *slots;

	slots = kvzalloc(struct_size(slots, slots, nr), GFP_KERNEL_ACCOUNT);
	if (slots)
		slots->nr = nr;
	return slots;
}

/**
 * modvm_memslots_alloc_empty() - the snapshot of a VM without memory.
 *
 * Return: a new empty snapshot or NULL.
 */
struct modvm_memslots *modvm_memslots_alloc_empty(void)
{
	return memslots_alloc(0);
}

/**
 * modvm_memslots_free() - free a snapshot and the slots it holds.
 * @slots: the snapshot; no reader may still see it.
 */
void modvm_memslots_free(struct modvm_memslots *slots)
{
	u32 i;

	for (i = 0; i < slots->nr; i++)
		kfree(slots->slots[i]);
	kvfree(slots);
}

/* Index of the first slot whose range ends after @gfn. */
static u32 memslots_lower_bound(const struct modvm_memslots *slots, u64 gfn)
{
	u32 lo = 0, hi = slots->nr;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct modvm_memslot *s = slots->slots[mid];

		if (s->base_gfn + s->npages <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * modvm_find_memslot() - the slot holding a guest frame.
 * @slots: a snapshot, read under vm->srcu.
 * @gfn: guest frame number.
 *
 * Return: the slot, or NULL when @gfn is in no slot. The slot may be
 * invalid (being deleted or moved): nothing may map or access it then.
 */
struct modvm_memslot *modvm_find_memslot(struct modvm_memslots *slots, u64 gfn)
{
	u32 i = memslots_lower_bound(slots, gfn);

	if (i < slots->nr && slots->slots[i]->base_gfn <= gfn)
		return slots->slots[i];
	return NULL;
}

/*
 * Copy between guest-physical memory and a kernel buffer through the
 * user mapping of the current (VM-owning) process, page by page.
 */
static int guest_copy(struct modvm_vcpu *vcpu, u64 gpa, void *data, int len,
		      bool write)
{
	struct modvm_vm *vm = vcpu->vm;
	int idx, r = 0;

	idx = srcu_read_lock(&vm->srcu);
	while (len > 0) {
		struct modvm_memslot *slot;
		int chunk = min_t(int, len, PAGE_SIZE - offset_in_page(gpa));
		void __user *hva;

		slot = modvm_find_memslot(srcu_dereference(vm->memslots, &vm->srcu),
					  gpa >> PAGE_SHIFT);
		/* Writes to ROM are MMIO: the caller makes them exits. */
		if (!slot || (write && (slot->flags & KVM_MEM_READONLY))) {
			r = -ENOENT;
			break;
		}
		/* Being deleted or moved: as KVM, its memory is unusable. */
		if (slot->invalid) {
			r = -EFAULT;
			break;
		}
		hva = (void __user *)(slot->userspace_addr +
				      ((gpa >> PAGE_SHIFT) - slot->base_gfn) * PAGE_SIZE +
				      offset_in_page(gpa));
		/* Shadow paging must see writes to the guest's page tables. */
		if (write && !modvm_tdp &&
		    modvm_shadow_is_table(vm, gpa >> PAGE_SHIFT)) {
			r = modvm_shadow_write_table(vm, gpa, hva, data, chunk);
			if (r)
				break;
		} else if (write ? copy_to_user(hva, data, chunk) :
				   copy_from_user(data, hva, chunk)) {
			r = -EFAULT;
			break;
		}
		gpa += chunk;
		data += chunk;
		len -= chunk;
	}
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/**
 * modvm_read_guest() - read guest-physical memory.
 * @vcpu: a vCPU of the VM, in its own thread.
 * @gpa: guest-physical address.
 * @data: destination.
 * @len: bytes.
 *
 * Return: 0, -ENOENT when part of the range is in no memslot (or, for
 * writes, in a read-only one), -EFAULT when the host mapping is gone.
 */
int modvm_read_guest(struct modvm_vcpu *vcpu, u64 gpa, void *data, int len)
{
	return guest_copy(vcpu, gpa, data, len, false);
}

/**
 * modvm_write_guest() - write guest-physical memory.
 * @vcpu: a vCPU of the VM, in its own thread.
 * @gpa: guest-physical address.
 * @data: source.
 * @len: bytes.
 *
 * Return: as modvm_read_guest().
 */
int modvm_write_guest(struct modvm_vcpu *vcpu, u64 gpa, const void *data, int len)
{
	return guest_copy(vcpu, gpa, (void *)data, len, true);
}

/* Compare-exchange @size bytes at a user address; -EAGAIN if not @old. */
static int cmpxchg_user(void __user *p, u64 old, u64 new, int size)
{
	int r;

	if (!access_ok(p, size))
		return -EFAULT;
	/* 0 when exchanged, 1 when the value differed, -EFAULT. */
	if (size == 8) {
		u64 cur = old;

		r = __try_cmpxchg_user((u64 __user *)p, &cur, new, efault64);
	} else {
		u32 cur = old;

		r = __try_cmpxchg_user((u32 __user *)p, &cur, (u32)new, efault32);
	}
	return r > 0 ? -EAGAIN : r;
}

/**
 * modvm_cmpxchg_guest() - atomically replace a value in guest memory.
 * @vcpu: a vCPU of the VM, in its own thread.
 * @gpa: guest-physical address, aligned to @size.
 * @old: the value expected there.
 * @new: the value to store.
 * @size: 4 or 8.
 *
 * For the page-table walker's A/D updates, which must not undo what
 * other vCPUs write to the same entry meanwhile.
 *
 * Return: 0 when stored; -EAGAIN when the memory did not hold @old;
 * -ENOENT when @gpa is in no memslot; -EFAULT when it cannot be accessed.
 */
int modvm_cmpxchg_guest(struct modvm_vcpu *vcpu, u64 gpa, u64 old, u64 new,
			int size)
{
	struct modvm_vm *vm = vcpu->vm;
	struct modvm_memslot *slot;
	int idx, r;

	if ((size != 4 && size != 8) || !IS_ALIGNED(gpa, size))
		return -EINVAL;
	idx = srcu_read_lock(&vm->srcu);
	slot = modvm_find_memslot(srcu_dereference(vm->memslots, &vm->srcu),
				  gpa >> PAGE_SHIFT);
	if (!slot)
		r = -ENOENT;
	else if (slot->invalid)
		r = -EFAULT;
	else
		r = cmpxchg_user((void __user *)(slot->userspace_addr +
			((gpa >> PAGE_SHIFT) - slot->base_gfn) * PAGE_SIZE +
			offset_in_page(gpa)), old, new, size);
	srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/* Does [gfn, gfn + npages) overlap any slot other than @except? */
static bool memslots_overlap(const struct modvm_memslots *slots, u64 gfn,
			     u64 npages, const struct modvm_memslot *except)
{
	u32 i;

	for (i = memslots_lower_bound(slots, gfn); i < slots->nr; i++) {
		const struct modvm_memslot *s = slots->slots[i];

		if (s->base_gfn >= gfn + npages)
			return false;
		if (s != except)
			return true;
	}
	return false;
}

static struct modvm_memslot *memslots_find_id(const struct modvm_memslots *slots,
					      u32 id)
{
	u32 i;

	for (i = 0; i < slots->nr; i++)
		if (slots->slots[i]->id == id)
			return slots->slots[i];
	return NULL;
}

/*
 * Fill @new (sized for it) from @old: @remove taken out (if any), @add put
 * in (if any), order kept.
 */
static void memslots_fill(struct modvm_memslots *new,
			  const struct modvm_memslots *old,
			  const struct modvm_memslot *remove,
			  struct modvm_memslot *add)
{
	u32 i, n = 0;

	for (i = 0; i < old->nr; i++) {
		struct modvm_memslot *s = old->slots[i];

		if (s == remove)
			continue;
		if (add && add->base_gfn < s->base_gfn) {
			new->slots[n++] = add;
			add = NULL;
		}
		new->slots[n++] = s;
	}
	if (add)
		new->slots[n++] = add;
}

/* Publish @new, wait for readers of the old snapshot, free its array. */
static void memslots_publish(struct modvm_vm *vm, struct modvm_memslots *new)
{
	struct modvm_memslots *old;

	old = rcu_replace_pointer(vm->memslots, new,
				  lockdep_is_held(&vm->slots_lock));
	synchronize_srcu(&vm->srcu);
	kvfree(old);
}

static int memslot_check(const struct kvm_userspace_memory_region *mem)
{
	if (mem->flags & ~MODVM_MEM_FLAGS_SUPPORTED)
		return -EINVAL;
	/* One address space: no SMM. */
	if ((mem->slot >> 16) || (u16)mem->slot >= MODVM_USER_MEM_SLOTS)
		return -EINVAL;
	if (!PAGE_ALIGNED(mem->memory_size) ||
	    !PAGE_ALIGNED(mem->guest_phys_addr) ||
	    !PAGE_ALIGNED(mem->userspace_addr))
		return -EINVAL;
	if (mem->guest_phys_addr + mem->memory_size < mem->guest_phys_addr)
		return -EINVAL;
	if ((mem->memory_size >> PAGE_SHIFT) > MODVM_MEM_MAX_NR_PAGES)
		return -EINVAL;
	/*
	 * Beyond what the MMU can map, a GPA would alias a lower one (or
	 * never be reachable): KVM refuses such slots with EINVAL.
	 */
	if (mem->memory_size &&
	    ((mem->guest_phys_addr + mem->memory_size - 1) >> PAGE_SHIFT) >
	    modvm_mmu_max_gfn())
		return -EINVAL;
	if (mem->memory_size &&
	    !access_ok((void __user *)(unsigned long)mem->userspace_addr,
		       mem->memory_size))
		return -EINVAL;
	return 0;
}

/*
 * Delete or move a slot, or change its flags. The MMU notifier must see
 * the old slot until its mappings are gone, or a munmap racing with the
 * update could leave the guest mapping freed pages; and no fault may map
 * it again once they are gone. So the slot is replaced in two steps:
 * first by an invalid copy (faults on it retry, the notifier still zaps
 * through it), whose mappings are zapped once no fault that saw the
 * valid slot is left; then by @slot (NULL to delete) in the final
 * snapshot. Allocates everything before the first step, so that it
 * cannot fail half-way.
 */
static int memslot_change(struct modvm_vm *vm, struct modvm_memslot *old,
			  struct modvm_memslot *slot)
{
	struct modvm_memslots *slots, *tmp, *final;
	struct modvm_memslot *inv;

	slots = rcu_dereference_protected(vm->memslots,
					  lockdep_is_held(&vm->slots_lock));
	inv = kmemdup(old, sizeof(*old), GFP_KERNEL_ACCOUNT);
	tmp = memslots_alloc(slots->nr);
	final = memslots_alloc(slots->nr - 1 + !!slot);
	if (!inv || !tmp || !final) {
		kfree(inv);
		kvfree(tmp);
		kvfree(final);
		return -ENOMEM;
	}
	inv->invalid = true;
	memslots_fill(tmp, slots, old, inv);
	memslots_publish(vm, tmp);
	/* No fault holds the valid slot any more: nothing re-maps it. */
	kfree(old);
	modvm_tdp_zap_memslot(vm, inv);

	memslots_fill(final, tmp, inv, slot);
	memslots_publish(vm, final);
	kfree(inv);
	return 0;
}

static int memslot_update(struct modvm_vm *vm,
			  const struct kvm_userspace_memory_region *mem)
{
	struct modvm_memslots *slots, *new;
	struct modvm_memslot *old, *slot = NULL;
	u64 gfn = mem->guest_phys_addr >> PAGE_SHIFT;
	u64 npages = mem->memory_size >> PAGE_SHIFT;
	int r;

	slots = rcu_dereference_protected(vm->memslots,
					  lockdep_is_held(&vm->slots_lock));
	old = memslots_find_id(slots, mem->slot);

	if (!npages) {
		/* Deleting a slot that does not exist is an error in KVM. */
		if (!old)
			return -EINVAL;
	} else if (old) {
		/* Only the guest address and the flags of a slot can change. */
		if (old->userspace_addr != mem->userspace_addr ||
		    old->npages != npages)
			return -EINVAL;
		/* As in KVM, a slot cannot become or stop being ROM. */
		if ((old->flags ^ mem->flags) & KVM_MEM_READONLY)
			return -EINVAL;
		if (old->base_gfn == gfn && old->flags == mem->flags)
			return 0;
	}

	if (npages) {
		if (memslots_overlap(slots, gfn, npages, old))
			return -EEXIST;
		slot = kzalloc(sizeof(*slot), GFP_KERNEL_ACCOUNT);
		if (!slot)
			return -ENOMEM;
		slot->id = mem->slot;
		slot->base_gfn = gfn;
		slot->npages = npages;
		slot->userspace_addr = mem->userspace_addr;
		slot->flags = mem->flags;
	}

	if (old) {
		r = memslot_change(vm, old, slot);
		if (r)
			kfree(slot);
		return r;
	}
	/* A new slot: nothing maps its range yet. */
	new = memslots_alloc(slots->nr + 1);
	if (!new) {
		kfree(slot);
		return -ENOMEM;
	}
	memslots_fill(new, slots, NULL, slot);
	memslots_publish(vm, new);
	return 0;
}

/**
 * modvm_set_user_memory_region() - KVM_SET_USER_MEMORY_REGION.
 * @vm: the VM.
 * @mem: the region as userspace passed it.
 *
 * Creates, moves, or deletes (size 0) one slot with KVM's semantics.
 *
 * Return: 0; -EINVAL for a malformed region, an unknown flag, a resize,
 * a delete of a missing slot or guest addresses beyond
 * modvm_mmu_max_gfn(); -EEXIST for an overlap; -ENOMEM.
 */
int modvm_set_user_memory_region(struct modvm_vm *vm,
				 const struct kvm_userspace_memory_region *mem)
{
	int r = memslot_check(mem);

	if (r)
		return r;
	mutex_lock(&vm->slots_lock);
	r = memslot_update(vm, mem);
	mutex_unlock(&vm->slots_lock);
	return r;
}
