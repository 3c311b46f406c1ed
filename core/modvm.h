/* SPDX-License-Identifier: GPL-2.0 */
/*
 * modvm internal interfaces: the VM and vCPU objects shared by core/,
 * the MMU and the vendor backends.
 */
#ifndef MODVM_CORE_MODVM_H
#define MODVM_CORE_MODVM_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/xarray.h>
#include <linux/mmu_notifier.h>
#include <linux/kvm.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>

#include <linux/rcuwait.h>

#include "emulate.h"
#include "irqchip/irqchip.h"

/* Limits reported through KVM_CHECK_EXTENSION. */
#define MODVM_MAX_VCPUS		256
#define MODVM_MAX_VCPU_ID	1024
#define MODVM_USER_MEM_SLOTS	32764
#define MODVM_MEM_MAX_NR_PAGES	((1ULL << 31) - 1)
#define MODVM_MAX_CPUID_ENTRIES	256

/* Debug registers at RESET: DR6 reserved-as-one bits, DR7 bit 10. */
#define MODVM_DR6_INIT		0xffff0ff0ULL
#define MODVM_DR7_INIT		0x400ULL

/* CR4 bits a guest may set where the host has them (modvm_cr4_valid()). */
#define MODVM_CR4_VALID	(X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE | \
			 X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE | \
			 X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT | \
			 X86_CR4_FSGSBASE | X86_CR4_PCIDE | X86_CR4_OSXSAVE | \
			 X86_CR4_SMEP | X86_CR4_SMAP)

/* KVM's x86 reset value of RDX before userspace sets a CPUID table. */
#define MODVM_RESET_RDX		0x600

struct modvm_vm;
struct modvm_vcpu;

/* General purpose registers, in the x86 encoding order. */
enum modvm_reg {
	MODVM_RAX, MODVM_RCX, MODVM_RDX, MODVM_RBX,
	MODVM_RSP, MODVM_RBP, MODVM_RSI, MODVM_RDI,
	MODVM_R8, MODVM_R9, MODVM_R10, MODVM_R11,
	MODVM_R12, MODVM_R13, MODVM_R14, MODVM_R15,
	MODVM_NR_GPRS
};

/* What a VM exit interrupted: an event whose delivery must be repeated. */
enum modvm_event_type {
	MODVM_EVENT_NONE,
	MODVM_EVENT_EXCEPTION,
	MODVM_EVENT_SOFT_EXCEPTION,	/* INT3, INTO (and ICEBP) */
	MODVM_EVENT_NMI,
	MODVM_EVENT_INTR,
	MODVM_EVENT_SOFT_INTR,		/* INT n */
};

/**
 * struct modvm_event - an event delivery an exit interrupted.
 * @type: MODVM_EVENT_*, NONE when the exit interrupted no delivery.
 * @vector: its vector.
 * @has_error: it pushes @error_code.
 * @error_code: the error code.
 * @insn_len: soft events: length of the instruction, 0 when the hardware
 *	did not say (core decodes it then).
 */
struct modvm_event {
	u8 type;
	u8 vector;
	bool has_error;
	u32 error_code;
	u32 insn_len;
};

/* What the backend saw at a VM exit, in vendor-neutral terms. */
enum modvm_exit_type {
	MODVM_EXIT_REENTER,	/* handled (host interrupt, ...): run again */
	MODVM_EXIT_CPUID,
	MODVM_EXIT_HLT,
	MODVM_EXIT_IO,
	MODVM_EXIT_RDMSR,
	MODVM_EXIT_WRMSR,
	MODVM_EXIT_XSETBV,
	MODVM_EXIT_HYPERCALL,
	MODVM_EXIT_NOP_INSN,	/* INVD, WBINVD: complete as a no-op */
	MODVM_EXIT_SPIN,	/* PAUSE in a spin loop: let others run */
	MODVM_EXIT_UD,		/* an instruction the guest may not use */
	MODVM_EXIT_SHUTDOWN,	/* triple fault */
	MODVM_EXIT_FAIL_ENTRY,	/* the CPU refused the guest state */
	MODVM_EXIT_TDP_FAULT,	/* nested/extended page fault */
	MODVM_EXIT_TASK_SWITCH,	/* a hardware task switch, for core to carry out */
	MODVM_EXIT_RDPMC,
	MODVM_EXIT_RDTSC,	/* intercepted RDTSC for core to complete */
	MODVM_EXIT_PAGE_FAULT,	/* guest #PF, intercepted for shadow paging */
	MODVM_EXIT_CR,		/* CR0/CR3/CR4 access for core to emulate */
	/* The backend finishes it in complete_exit(), with IRQs on. */
	MODVM_EXIT_BACKEND,
	MODVM_EXIT_UNHANDLED,	/* an exit modvm does not expect */
};

/**
 * struct modvm_exit - one VM exit, decoded by the backend.
 * @type: what happened.
 * @insn_len: length of the exiting instruction, 0 when the hardware did
 *	not say (core decodes it then).
 * @hw_reason: the vendor's raw exit code, for error reports.
 * @io: port, access size, direction and string/rep forms of an I/O exit.
 * @tdp: faulting guest-physical address and the kind of access.
 * @interrupted: the event whose delivery this exit interrupted.
 * @pf: linear address and error code of an intercepted #PF.
 * @cr: control register access: register, direction, the GPR (-1 when
 *	the hardware did not say: core decodes the instruction then) and
 *	the kind (MODVM_CR_MOV, _CLTS, _LMSW with its source in @lmsw).
 * @task: the new TSS selector and the cause of a task switch.
 */
struct modvm_exit {
	enum modvm_exit_type type;
	u32 insn_len;
	u64 hw_reason;
	struct modvm_event interrupted;
	union {
		struct {
			u16 port;
			u8 size;
			bool in;
			bool string;
			bool rep;
		} io;
		struct {
			u64 gpa;
			bool write;
			bool fetch;
		} tdp;
		struct {
			u64 addr;
			u32 error_code;
		} pf;
		struct {
			u8 cr;
			bool write;
			s8 gpr;
			u8 kind;
			u16 lmsw;
		} cr;
		struct {
			u16 selector;	/* of the new TSS */
			u8 source;	/* MODVM_TASK_SWITCH_* */
			/*
			 * An instruction at RIP (of @insn_len bytes, 0 if the
			 * hardware did not say) started it and the old task
			 * resumes after it; not for events core re-injects.
			 */
			bool insn;
		} task;
	};
};

/* exit->cr.kind */
#define MODVM_CR_MOV		0
#define MODVM_CR_CLTS		1
#define MODVM_CR_LMSW		2

/* #PF error code bits (SDM 4.7), also the walker's access bits. */
#define MODVM_PF_P		BIT(0)
#define MODVM_PF_W		BIT(1)
#define MODVM_PF_U		BIT(2)
#define MODVM_PF_RSVD		BIT(3)
#define MODVM_PF_F		BIT(4)

/* What started a task switch. */
enum modvm_task_switch_source {
	MODVM_TASK_SWITCH_CALL,
	MODVM_TASK_SWITCH_IRET,
	MODVM_TASK_SWITCH_JMP,
	MODVM_TASK_SWITCH_GATE,	/* an event through a task gate in the IDT */
};

/**
 * struct modvm_exception - an exception core wants delivered to the guest.
 * @pending: queued, not yet handed to the backend.
 * @injected: handed to the backend for the next entry, or its delivery
 *	was interrupted by an exit and must be repeated.
 * @has_error: whether it pushes an error code.
 * @has_cr2: a new #PF whose @cr2 the backend writes to CR2 on delivery
 *	(not when the delivery of an earlier #PF is only repeated).
 * @soft: INT3/INTO: @insn_len is the length of the instruction.
 * @vector: the exception vector.
 * @insn_len: instruction length for @soft.
 * @error_code: the error code.
 * @cr2: the faulting address of a #PF.
 */
struct modvm_exception {
	bool pending;
	bool injected;
	bool has_error;
	bool has_cr2;
	bool soft;
	u8 vector;
	u8 insn_len;
	u32 error_code;
	u64 cr2;
};

/**
 * struct modvm_interrupt - a maskable interrupt chosen for delivery.
 * @injected: delivered on the next entry (or re-delivered after an exit
 *	interrupted its delivery).
 * @soft: an INT n instruction's interrupt; @insn_len is its length.
 * @nr: the vector.
 * @insn_len: instruction length for @soft.
 */
struct modvm_interrupt {
	bool injected;
	bool soft;
	u8 nr;
	u8 insn_len;
};

/* Control registers and mode bits the walker and decoder need. */
struct modvm_paging_state {
	u64 cr0, cr3, cr4, efer;
	u8 cpl;
	bool cs_l, cs_db;	/* code segment: 64-bit, default 32-bit */
};

/**
 * struct modvm_tdp_format - TDP page-table entries in the vendor's format.
 * @make_leaf: a leaf mapping @pfn at @level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB;
 *	@pfn aligned to the level), writable or read-only.
 * @make_table: an entry pointing to the next-level table at @table_pa.
 * @present: whether an entry maps anything (table or leaf).
 * @huge: whether a present entry at level 2 or 3 is a leaf.
 * @max_level: the highest level this CPU takes leaves at (1, 2 or 3).
 */
struct modvm_tdp_format {
	u64 (*make_leaf)(u64 pfn, bool writable, int level);
	u64 (*make_table)(u64 table_pa);
	bool (*present)(u64 pte);
	bool (*huge)(u64 pte);
	int (*max_level)(void);
};

/*
 * Zeroed pages allocated where sleeping is allowed, for page tables that
 * are built under a spinlock.
 */
#define MODVM_PAGE_CACHE_SIZE	8

struct modvm_page_cache {
	int nr;
	void *pages[MODVM_PAGE_CACHE_SIZE];
};

/**
 * struct modvm_backend_ops - what a hardware vendor backend provides.
 *
 * Core code never tests the vendor: everything vendor-specific goes
 * through this table, filled in by svm/ or vmx/. Per-vCPU hooks run in
 * the vCPU's thread with vcpu->mutex held.
 *
 * @name: short vendor name used in log messages ("svm", "vmx").
 * @probe: check that the CPU and firmware allow this backend. Returns 0;
 *	-EOPNOTSUPP, silently, when the CPU lacks the feature; or -ENODEV,
 *	after logging why, when firmware disabled it. Enables nothing.
 * @setup: allocate global resources once probe succeeded.
 * @unsetup: free them.
 * @cpu_enable: switch virtualization on in this CPU; -EBUSY when another
 *	hypervisor already has it on.
 * @cpu_disable: switch it off again.
 * @vcpu_create: allocate vendor state and set the reset state.
 * @vcpu_free: free vendor state.
 * @vcpu_reset: put the vCPU in its architectural RESET state.
 * @run: with interrupts off, enter the guest once and describe the exit.
 *	Loads the vCPU on this CPU first if it last ran elsewhere.
 * @get_sregs: read segment, descriptor-table and control registers.
 * @set_sregs: write them; -EINVAL for a state KVM would refuse.
 * @get_paging: the state the guest page-table walker needs.
 * @get_msr: read an MSR the backend holds; -ENOENT if not its own.
 * @set_msr: write one; -ENOENT if not its own, -EINVAL for a bad value.
 * @get_dr: read DR6/DR7; @set_dr: write them.
 * @inject_exception: deliver an exception on the entry that follows.
 *	Like the other inject and window hooks, called with IRQs off just
 *	before @run; core calls at most one inject hook per entry.
 * @inject_nmi: deliver an NMI on the entry that follows; NMIs are then
 *	blocked until the guest's IRET.
 * @inject_irq: deliver a maskable (or INT n) interrupt on that entry.
 * @set_event_windows: make the entry that follows exit as soon as the
 *	guest can take a maskable interrupt (@irq) or an NMI (@nmi); such an
 *	exit is MODVM_EXIT_REENTER. Both false: no window exits.
 * @get_interrupt_shadow: KVM_X86_SHADOW_INT_STI/MOV_SS bits now in force.
 * @set_interrupt_shadow: set them (KVM_SET_VCPU_EVENTS).
 * @get_nmi_masked: NMIs are blocked (an NMI handler has not IRETed yet).
 * @set_nmi_masked: block or unblock them.
 * @get_cr8: the CR8 the guest last wrote or reads; @set_cr8: set it.
 * @complete_exit: finish a MODVM_EXIT_BACKEND exit (which needs guest
 *	memory or may sleep): 1 to enter the guest again, 0 with vcpu->run
 *	filled in, a negative errno, or MODVM_COMPLETE_NEXT after filling in
 *	@next, an exit (not MODVM_EXIT_BACKEND) for core to handle instead.
 *	NULL for a backend that makes no such exits.
 * @tdp: the TDP page-table format.
 */
struct modvm_backend_ops {
	const char *name;
	int (*probe)(void);
	int (*setup)(void);
	void (*unsetup)(void);
	int (*cpu_enable)(void);
	void (*cpu_disable)(void);
	int (*vcpu_create)(struct modvm_vcpu *vcpu);
	void (*vcpu_free)(struct modvm_vcpu *vcpu);
	void (*vcpu_reset)(struct modvm_vcpu *vcpu);
	void (*run)(struct modvm_vcpu *vcpu, struct modvm_exit *exit);
	void (*get_sregs)(struct modvm_vcpu *vcpu, struct kvm_sregs *sregs);
	int (*set_sregs)(struct modvm_vcpu *vcpu, const struct kvm_sregs *sregs);
	void (*get_paging)(struct modvm_vcpu *vcpu, struct modvm_paging_state *ps);
	int (*get_msr)(struct modvm_vcpu *vcpu, u32 index, u64 *data);
	int (*set_msr)(struct modvm_vcpu *vcpu, u32 index, u64 data, bool host);
	u64 (*get_dr)(struct modvm_vcpu *vcpu, int dr);
	void (*set_dr)(struct modvm_vcpu *vcpu, int dr, u64 value);
	void (*inject_exception)(struct modvm_vcpu *vcpu,
				 const struct modvm_exception *ex);
	void (*inject_nmi)(struct modvm_vcpu *vcpu);
	void (*inject_irq)(struct modvm_vcpu *vcpu,
			   const struct modvm_interrupt *irq);
	void (*set_event_windows)(struct modvm_vcpu *vcpu, bool irq, bool nmi);
	u32 (*get_interrupt_shadow)(struct modvm_vcpu *vcpu);
	void (*set_interrupt_shadow)(struct modvm_vcpu *vcpu, u32 mask);
	bool (*get_nmi_masked)(struct modvm_vcpu *vcpu);
	void (*set_nmi_masked)(struct modvm_vcpu *vcpu, bool masked);
	u8 (*get_cr8)(struct modvm_vcpu *vcpu);
	void (*set_cr8)(struct modvm_vcpu *vcpu, u8 cr8);
	int (*complete_exit)(struct modvm_vcpu *vcpu, struct modvm_exit *next);
	const struct modvm_tdp_format *tdp;
};

/* complete_exit(): handle @next as the exit. */
#define MODVM_COMPLETE_NEXT	2

extern const struct modvm_backend_ops modvm_svm_ops;
extern const struct modvm_backend_ops modvm_vmx_ops;
extern const struct modvm_backend_ops *modvm_backend;
extern bool modvm_tdp;

/**
 * struct modvm_memslot - one guest-physical range backed by user memory.
 * @id: slot number as userspace gave it (address space in bits 16+).
 * @base_gfn: first guest frame number.
 * @npages: number of pages.
 * @userspace_addr: host virtual address of the first page.
 * @flags: KVM_MEM_* flags.
 * @invalid: being deleted or moved: the MMU notifier still sees the slot,
 *	but nothing may map it (faults on it retry until it is gone).
 */
struct modvm_memslot {
	u32 id;
	u64 base_gfn;
	u64 npages;
	unsigned long userspace_addr;
	u32 flags;
	bool invalid;
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
 * struct modvm_tdp - a VM's two-dimensional paging tables.
 * @root: top-level (PML4) table.
 * @lock: protects the tables and the invalidation state.
 * @invalidate_seq: bumped when an invalidation ends; a fault that began
 *	before must retry.
 * @invalidate_in_progress: invalidations between start and end.
 * @leaves: leaves present at level 1 (4 KiB), 2 (2 MiB) and 3 (1 GiB),
 *	index level - 1 (MODVM_GET_TDP_STATS).
 * @notifier: host MMU notifier on the VM's address space.
 */
struct modvm_tdp {
	u64 *root;
	spinlock_t lock;	/* tables and invalidation state */
	unsigned long invalidate_seq;
	long invalidate_in_progress;
	u64 leaves[3];
	struct mmu_notifier notifier;
};

/**
 * struct modvm_shadow - a VM's shadow-paging state (mmu/shadow.c).
 * @lock: protects everything below and the vCPUs' shadow roots.
 * @roots: every vCPU's allocated shadow roots.
 * @gfns: what the shadow knows about guest frames (struct shadow_gfn in
 *	mmu/shadow.c): which are page tables, write-protected so that a
 *	guest write to them is seen, and where leaves map them writable.
 *	Read under RCU by modvm_shadow_is_table().
 * @nr_pages: shadow table pages below the roots.
 */
struct modvm_shadow {
	struct mutex lock;	/* tables, roots and the gfn records */
	struct list_head roots;
	struct xarray gfns;
	unsigned long nr_pages;
};

#define MODVM_SHADOW_ROOTS	4

/**
 * struct modvm_shadow_root - one cached shadow address space of a vCPU.
 * @link: in vm->shadow.roots while @top is allocated.
 * @top: the PML4, or the PAE PDPT (below 4 GiB, its four PDs fixed).
 * @cr3: the guest CR3 it shadows.
 * @key: the guest paging-mode bits it was built for.
 * @last_use: the vCPU's clock when last loaded, for eviction.
 */
struct modvm_shadow_root {
	struct list_head link;
	u64 *top;
	u64 cr3;
	u32 key;
	u64 last_use;
};

/**
 * struct modvm_shadow_vcpu - a vCPU's shadow roots.
 * @roots: the current root and the previous ones, kept across CR3 writes.
 * @cur: index of the loaded root (none while its @top is NULL).
 * @clock: counts root loads.
 * @hw_cr3: the CR3 the backend loads: physical address of the root.
 * @pae: the root is in PAE format (the guest is not in long mode), so
 *	the hardware must run with CR4.PAE set and EFER.LMA clear.
 */
struct modvm_shadow_vcpu {
	struct modvm_shadow_root roots[MODVM_SHADOW_ROOTS];
	int cur;
	u64 clock;
	u64 hw_cr3;
	bool pae;
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
 * @created_vcpus: vCPUs created.
 * @last_boosted_vcpu: the vCPU id a spinning vCPU yielded to last.
 * @tdp: guest-physical page tables.
 * @shadow: shadow paging, when TDP is off.
 * @buses: in-kernel MMIO and PIO devices (core/iobus.c), NULL when none.
 * @irqchip: the in-kernel PIC, IOAPIC and routing (core/irqchip/), NULL
 *	until KVM_CREATE_IRQCHIP.
 * @pit: the in-kernel PIT, NULL until KVM_CREATE_PIT2.
 * @bsp_vcpu_id: KVM_SET_BOOT_CPU_ID, 0 by default.
 * @ioeventfds: KVM_IOEVENTFD registrations, read under @srcu.
 * @virtio_lock: protects @virtio_devs and @nr_virtio.
 * @virtio_devs: the in-kernel virtio devices (virtio/).
 * @nr_virtio: how many.
 * @virtio_line_lock: protects @virtio_lines.
 * @virtio_lines: per IOAPIC pin, the virtio devices holding it up.
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
	unsigned long last_boosted_vcpu;
	struct modvm_tdp tdp;
	struct modvm_shadow shadow;
	struct modvm_io_bus __rcu *buses[MODVM_NR_BUSES];
	struct modvm_irqchip *irqchip;
	struct modvm_pit *pit;
	u32 bsp_vcpu_id;
	struct list_head ioeventfds;
	struct mutex virtio_lock;	/* virtio_devs */
	struct list_head virtio_devs;
	u32 nr_virtio;
	spinlock_t virtio_line_lock;	/* virtio_lines */
	u16 virtio_lines[KVM_IOAPIC_NUM_PINS];
};

/* vcpu->mode: whether a kick must interrupt guest execution. */
enum modvm_vcpu_mode {
	MODVM_OUTSIDE_GUEST,
	MODVM_IN_GUEST,
};

/* vcpu->requests bits: work to do before the next entry. */
#define MODVM_REQ_TLB_FLUSH	0	/* flush the guest's TLB entries */
#define MODVM_REQ_TRIPLE_FAULT	1	/* end KVM_RUN with KVM_EXIT_SHUTDOWN */
#define MODVM_REQ_EVENT		2	/* re-evaluate pending events (a kick) */

/* vcpu->pending_events bits: INIT and SIPI from other vCPUs' local APICs. */
#define MODVM_PENDING_INIT	0
#define MODVM_PENDING_SIPI	1

/* The memory operand of an INS/OUTS, as decoded at its exit. */
struct modvm_string_op {
	u64 addr_mask;		/* address-size mask for RSI/RDI/RCX */
	u64 base;		/* segment base of the memory operand */
	int reg;		/* MODVM_RSI or MODVM_RDI */
	int step;		/* +size or -size, from RFLAGS.DF */
};

/*
 * A port I/O exit that needs completing on the next KVM_RUN. The string
 * operand is kept from the exit: completing must not decode again, as
 * the guest's code may have changed meanwhile.
 */
struct modvm_pio {
	bool pending_in;	/* IN/INS data from userspace to consume */
	bool string;
	bool rep;
	u8 size;
	u16 port;
	u32 count;
	u64 next_rip;
	struct modvm_string_op op;
};

/**
 * struct modvm_vcpu - one virtual CPU.
 * @vm: owning VM (the vCPU fd holds a reference).
 * @id: vCPU id (the APIC id for x86 guests).
 * @run: the shared struct kvm_run page, mmap'ed at offset 0.
 * @pio_data: the port I/O data page, mmap'ed at offset PAGE_SIZE.
 * @mutex: serializes vCPU ioctls, as KVM does.
 * @cpu: CPU the vCPU last ran on, -1 before its first run.
 * @mode: in guest mode or not, for kicks.
 * @requests: MODVM_REQ_* bits.
 * @gprs: general purpose registers; @rip, @rflags.
 * @xcr0: guest XCR0.
 * @guest_fpu: guest FPU/SSE/AVX state, swapped with the host's in KVM_RUN.
 * @tsc_offset: guest TSC minus host TSC.
 * @tsc_aux: guest TSC_AUX.
 * @apic_base, @misc_enable, @pat_mtrr: MSRs kept by core.
 * @mtrr_def_type, @mtrr_fixed, @mtrr_var: MTRR state (no effect with TDP).
 * @cpuid: the guest CPUID table from KVM_SET_CPUID2; @cpuid_nent entries.
 * @pio: the port I/O exit being completed.
 * @mmio: the MMIO exits of the instruction being emulated.
 * @exception: an exception to deliver on the next entry.
 * @mmu_pages: page-table pages for the next guest-physical fault.
 * @interrupt: the maskable interrupt being delivered.
 * @nmi_queued: NMIs sent from any context, not yet seen by the vCPU.
 * @nmi_pending: NMIs waiting for delivery (at most 2, as on hardware:
 *	one being handled and one latched).
 * @nmi_injected: an NMI is being delivered.
 * @mp_state: KVM_MP_STATE_*; only RUNNABLE without an in-kernel irqchip.
 * @pending_events: MODVM_PENDING_* bits; @sipi_vector of the last SIPI.
 * @wait: where the vCPU thread sleeps in HLT or waiting for SIPI.
 * @entry_cr8: CR8 as loaded from the local APIC's TPR for the last entry.
 * @lapic: the in-kernel local APIC, NULL without KVM_CREATE_IRQCHIP.
 * @shadow: shadow page-table roots, when TDP is off.
 * @backend: vendor state.
 */
struct modvm_vcpu {
	struct modvm_vm *vm;
	u32 id;
	struct kvm_run *run;
	void *pio_data;
	struct mutex mutex;		/* vCPU ioctls */
	int cpu;
	int mode;
	unsigned long requests;
	u64 gprs[MODVM_NR_GPRS];
	u64 rip;
	u64 rflags;
	u64 xcr0;
	struct fpu_guest guest_fpu;
	s64 tsc_offset;
	u64 tsc_aux;
	u64 apic_base;
	u64 misc_enable;
	u64 mtrr_def_type;
	u64 mtrr_fixed[11];
	u64 mtrr_var[16];
	struct kvm_cpuid_entry2 *cpuid;
	u32 cpuid_nent;
	struct modvm_pio pio;
	struct modvm_mmio mmio;
	struct modvm_exception exception;
	struct modvm_page_cache mmu_pages;
	struct modvm_interrupt interrupt;
	atomic_t nmi_queued;
	u8 nmi_pending;
	bool nmi_injected;
	u32 mp_state;
	unsigned long pending_events;
	u8 sipi_vector;
	struct rcuwait wait;
	u8 entry_cr8;
	struct modvm_lapic *lapic;
	struct modvm_shadow_vcpu shadow;
	struct pid __rcu *pid;		/* the thread in KVM_RUN last */
	void *backend;
};

/* core/vm.c */
int modvm_vm_create(unsigned long type);
void modvm_vm_get(struct modvm_vm *vm);
void modvm_vm_put(struct modvm_vm *vm);
void modvm_kick_all(struct modvm_vm *vm, int request);

/* core/hw.c */
extern bool modvm_rebooting;
void modvm_hw_fault(const char *insn);
int modvm_hw_init(void);
void modvm_hw_exit(void);
int modvm_hw_get(void);
void modvm_hw_put(void);

/* core/memslot.c */
struct modvm_memslots *modvm_memslots_alloc_empty(void);
void modvm_memslots_free(struct modvm_memslots *slots);
int modvm_set_user_memory_region(struct modvm_vm *vm,
				 const struct kvm_userspace_memory_region *mem);
struct modvm_memslot *modvm_find_memslot(struct modvm_memslots *slots, u64 gfn);
int modvm_read_guest(struct modvm_vcpu *vcpu, u64 gpa, void *data, int len);
int modvm_write_guest(struct modvm_vcpu *vcpu, u64 gpa, const void *data, int len);
int modvm_cmpxchg_guest(struct modvm_vcpu *vcpu, u64 gpa, u64 old, u64 new,
			int size);

/* core/vcpu.c */
int modvm_vcpu_create(struct modvm_vm *vm, unsigned long id);
void modvm_vcpu_free(struct modvm_vcpu *vcpu);
void modvm_vcpu_reset(struct modvm_vcpu *vcpu, bool init);

/* core/regs.c */
long modvm_vcpu_regs_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
			   void __user *argp);
u64 modvm_supported_xcr0(void);
u64 modvm_efer_valid(void);
u64 modvm_cr4_valid(void);
void modvm_host_machine_check(void);
void modvm_load_guest_db(const u64 *db);
void modvm_save_guest_db(u64 *db);

/* core/run.c */
int modvm_vcpu_run(struct modvm_vcpu *vcpu);
void modvm_vcpu_on_spin(struct modvm_vcpu *vcpu);
void modvm_queue_exception(struct modvm_vcpu *vcpu, u8 vector, bool has_error,
			   u32 error_code);
void modvm_inject_gp(struct modvm_vcpu *vcpu);
void modvm_queue_page_fault(struct modvm_vcpu *vcpu, u64 cr2, u32 error_code);
void modvm_inject_ud(struct modvm_vcpu *vcpu);
void modvm_emulation_failure(struct modvm_vcpu *vcpu, const u8 *insn, int len);

/* core/events.c */
void modvm_vcpu_kick(struct modvm_vcpu *vcpu);
void modvm_vcpu_queue_nmi(struct modvm_vcpu *vcpu);
void modvm_vcpu_deliver_init(struct modvm_vcpu *vcpu);
void modvm_vcpu_deliver_sipi(struct modvm_vcpu *vcpu, u8 vector);
void modvm_events_vcpu_init(struct modvm_vcpu *vcpu);
long modvm_events_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
			void __user *argp);
bool modvm_events_before_run(struct modvm_vcpu *vcpu);
void modvm_events_prepare(struct modvm_vcpu *vcpu, bool *irq_window,
			  bool *nmi_window);
void modvm_events_inject(struct modvm_vcpu *vcpu, bool irq_window,
			 bool nmi_window);
void modvm_events_after_exit(struct modvm_vcpu *vcpu,
			     const struct modvm_exit *exit);
int modvm_events_halt(struct modvm_vcpu *vcpu);
bool modvm_events_vectoring(struct modvm_vcpu *vcpu);
void modvm_events_exit_to_user(struct modvm_vcpu *vcpu);
bool modvm_events_irq_window_open(struct modvm_vcpu *vcpu);

/* core/cpuid.c */
long modvm_get_supported_cpuid(struct kvm_cpuid2 __user *argp);
long modvm_set_cpuid2(struct modvm_vcpu *vcpu, struct kvm_cpuid2 __user *argp);
long modvm_get_cpuid2(struct modvm_vcpu *vcpu, struct kvm_cpuid2 __user *argp);
void modvm_emulate_cpuid(struct modvm_vcpu *vcpu);
struct kvm_cpuid_entry2 *modvm_find_cpuid(struct modvm_vcpu *vcpu, u32 function,
					  u32 index);
u64 modvm_guest_xcr0(struct modvm_vcpu *vcpu);

/* core/msr.c */
int modvm_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data, bool host);
int modvm_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data, bool host);
long modvm_get_msr_index_list(struct kvm_msr_list __user *argp);
long modvm_msrs_ioctl(struct modvm_vcpu *vcpu, struct kvm_msrs __user *argp,
		      bool set);

/* core/pio.c */
int modvm_handle_io(struct modvm_vcpu *vcpu, const struct modvm_exit *exit);
int modvm_complete_pio(struct modvm_vcpu *vcpu);

/* core/decode.c */
struct modvm_insn_prefixes {
	int length;		/* whole instruction */
	int seg;		/* segment override, or -1 */
	bool addr_size_override;
	bool operand_size_override;
	u8 rex;			/* REX prefix, 0 if none */
	u8 opcode[3];		/* opcode bytes (and ModRM) after the prefixes */
};

int modvm_decode_simple(struct modvm_vcpu *vcpu, struct modvm_insn_prefixes *p);

/* core/cr.c */
int modvm_handle_cr(struct modvm_vcpu *vcpu, const struct modvm_exit *exit);

/**
 * struct modvm_walk - a guest page-table walk (mmu/walk.c).
 * @gpa: the translation.
 * @page_mask: the offset bits of the guest's page (4 GiB without paging).
 * @nr: page-table entries read, top first.
 * @pte_gpa: where they are; @pte: their values, with A/D as now set.
 * @pte_size: 4 or 8 bytes.
 * @allow_w: writable at every level; @allow_u: user at every level;
 * @allow_x: executable (no NX on the way, or NX off).
 * @dirty: the leaf's dirty bit (true without paging).
 * @pf_error: #PF error code when the walk faults.
 */
struct modvm_walk {
	u64 gpa;
	u64 page_mask;
	int nr;
	u64 pte_gpa[5];
	u64 pte[5];
	u8 pte_size;
	bool allow_w, allow_u, allow_x, dirty;
	u32 pf_error;
};

/* mmu/walk.c */
int modvm_walk(struct modvm_vcpu *vcpu, u64 gva, u32 access,
	       struct modvm_walk *w);
int modvm_gva_to_gpa(struct modvm_vcpu *vcpu, u64 gva, bool write, bool fetch,
		     u64 *gpa, u32 *pf_error);
int modvm_read_gva(struct modvm_vcpu *vcpu, u64 gva, void *data, int len,
		   bool fetch);
int modvm_write_gva(struct modvm_vcpu *vcpu, u64 gva, const void *data, int len);
int modvm_read_gva_implicit(struct modvm_vcpu *vcpu, u64 gva, void *data,
			    int len);
int modvm_write_gva_implicit(struct modvm_vcpu *vcpu, u64 gva,
			     const void *data, int len);

int modvm_task_insn_length(struct modvm_vcpu *vcpu, u32 *len);

/* task_switch.c */
int modvm_task_switch(struct modvm_vcpu *vcpu, const struct modvm_exit *exit);

/* mmu/page_cache.c */
int modvm_page_cache_topup(struct modvm_page_cache *cache, int min);
void *modvm_page_cache_alloc(struct modvm_page_cache *cache);
void modvm_page_cache_free(struct modvm_page_cache *cache);

/* mmu/tdp.c */
int modvm_tdp_init(struct modvm_vm *vm);
void modvm_tdp_destroy(struct modvm_vm *vm);
int modvm_tdp_fault(struct modvm_vcpu *vcpu, u64 gpa, bool write);
void modvm_tdp_zap_memslot(struct modvm_vm *vm, const struct modvm_memslot *slot);
u64 modvm_tdp_root_pa(struct modvm_vm *vm);
u64 modvm_mmu_max_gfn(void);
long modvm_tdp_get_stats(struct modvm_vm *vm, void __user *argp);

/* mmu/hostpage.c */
unsigned long modvm_gfn_to_hva(const struct modvm_memslot *slot, u64 gfn);
int modvm_mmu_get_page(struct modvm_vm *vm, u64 gfn, bool write,
		       struct modvm_memslot **slotp, struct page **page,
		       bool *writable, unsigned long *seq);
bool modvm_mmu_stale(struct modvm_vm *vm, unsigned long seq);

/* mmu/shadow.c */
void modvm_shadow_init(struct modvm_vm *vm);
void modvm_shadow_destroy(struct modvm_vm *vm);
void modvm_shadow_vcpu_free(struct modvm_vcpu *vcpu);
int modvm_shadow_load(struct modvm_vcpu *vcpu);
int modvm_shadow_page_fault(struct modvm_vcpu *vcpu, u64 addr, u32 error_code);
void modvm_shadow_zap_all(struct modvm_vm *vm);
bool modvm_shadow_is_table(struct modvm_vm *vm, u64 gfn);
int modvm_shadow_write_table(struct modvm_vm *vm, u64 gpa, void __user *hva,
			     const void *data, int len);
void modvm_shadow_written(struct modvm_vm *vm, u64 gfn, u64 end);
int modvm_shadow_invalidate(struct modvm_vm *vm, unsigned long start,
			    unsigned long end, bool blockable);

/* virtio/device.c */
long modvm_virtio_create(struct modvm_vm *vm, void __user *argp);
long modvm_virtio_types(u64 __user *argp);

/* core/dev.c */
long modvm_check_extension(struct modvm_vm *vm, unsigned long cap);
int modvm_dev_register(void);
void modvm_dev_unregister(void);

#endif /* MODVM_CORE_MODVM_H */
