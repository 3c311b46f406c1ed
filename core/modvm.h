/* SPDX-License-Identifier: GPL-2.0 */
/*
 * modvm internal interfaces: the VM and vCPU objects shared by core/,
 * the MMU and the vendor backends.
 */
#ifndef MODVM_CORE_MODVM_H
#define MODVM_CORE_MODVM_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/srcu.h>
#include <linux/xarray.h>
#include <linux/kvm.h>

/* Limits reported through KVM_CHECK_EXTENSION. */
#define MODVM_MAX_VCPUS		256
#define MODVM_MAX_VCPU_ID	1024
#define MODVM_USER_MEM_SLOTS	32764
#define MODVM_MEM_MAX_NR_PAGES	((1ULL << 31) - 1)

/* KVM's x86 reset value of RDX before userspace sets a CPUID table. */
#define MODVM_RESET_RDX		0x600

struct modvm_vm;
struct modvm_vcpu;

/**
 * struct modvm_backend_ops - what a hardware vendor backend provides.
 * @name: short vendor name used in log messages ("svm", "vmx").
 * @probe: check that the CPU and firmware allow this backend. Returns 0;
 *	-EOPNOTSUPP, silently, when the CPU lacks the feature; or -ENODEV,
 *	after logging why, when firmware disabled it. Enables nothing.
 *
 * Core code never tests the vendor: everything vendor-specific goes
 * through this table, filled in by svm/ or vmx/.
 */
struct modvm_backend_ops {
	const char *name;
	int (*probe)(void);
};

extern const struct modvm_backend_ops modvm_svm_ops;
extern const struct modvm_backend_ops modvm_vmx_ops;
extern const struct modvm_backend_ops *modvm_backend;

/**
 * struct modvm_memslot - one guest-physical range backed by user memory.
 * @id: slot number as userspace gave it (address space in bits 16+).
 * @base_gfn: first guest frame number.
 * @npages: number of pages.
 * @userspace_addr: host virtual address of the first page.
 * @flags: KVM_MEM_* flags.
 */
struct modvm_memslot {
	u32 id;
	u64 base_gfn;
	u64 npages;
	unsigned long userspace_addr;
	u32 flags;
};

/**
 * struct modvm_memslots - an immutable snapshot of a VM's memslots.
 * @nr: number of slots.
 * @slots: slots sorted by base_gfn, non-overlapping.
 *
 * Readers use it under vm->srcu; writers build a new snapshot under
 * vm->slots_lock and publish it with rcu_assign_pointer().
 */
struct modvm_memslots {
	u32 nr;
	struct modvm_memslot *slots[];
};

/**
 * struct modvm_vm - one virtual machine.
 * @refs: held by the VM fd and by every vCPU fd.
 * @mm: address space of the creating process; other processes get -EIO.
 * @lock: serializes vCPU creation.
 * @slots_lock: serializes memslot updates.
 * @srcu: protects readers of @memslots.
 * @memslots: current memslot snapshot.
 * @vcpus: vCPUs indexed by vCPU id.
 * @created_vcpus: vCPUs created or being created.
 */
struct modvm_vm {
	struct kref refs;
	struct mm_struct *mm;
	struct mutex lock;		/* vCPU creation */
	struct mutex slots_lock;	/* memslot updates */
	struct srcu_struct srcu;
	struct modvm_memslots __rcu *memslots;
	struct xarray vcpus;
	u32 created_vcpus;
};

/**
 * struct modvm_vcpu - one virtual CPU.
 * @vm: owning VM (the vCPU fd holds a reference).
 * @id: vCPU id (the APIC id for x86 guests).
 * @run: the shared struct kvm_run page, mmap'ed at offset 0.
 * @pio_data: the port I/O data page, mmap'ed at offset PAGE_SIZE.
 * @mutex: serializes vCPU ioctls, as KVM does.
 * @regs: general purpose registers, RIP and RFLAGS.
 * @sregs: segment, descriptor table and control registers.
 */
struct modvm_vcpu {
	struct modvm_vm *vm;
	u32 id;
	struct kvm_run *run;
	void *pio_data;
	struct mutex mutex;		/* vCPU ioctls */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
};

/* core/vm.c */
int modvm_vm_create(unsigned long type);
void modvm_vm_get(struct modvm_vm *vm);
void modvm_vm_put(struct modvm_vm *vm);

/* core/memslot.c */
struct modvm_memslots *modvm_memslots_alloc_empty(void);
void modvm_memslots_free(struct modvm_memslots *slots);
int modvm_set_user_memory_region(struct modvm_vm *vm,
				 const struct kvm_userspace_memory_region *mem);

/* core/vcpu.c */
int modvm_vcpu_create(struct modvm_vm *vm, unsigned long id);
void modvm_vcpu_free(struct modvm_vcpu *vcpu);

/* core/dev.c */
long modvm_check_extension(struct modvm_vm *vm, unsigned long cap);
int modvm_dev_register(void);
void modvm_dev_unregister(void);

#endif /* MODVM_CORE_MODVM_H */
