// SPDX-License-Identifier: GPL-2.0
/*
 * Intel VT-x backend: VMXON per CPU while VMs exist, one VMCS per vCPU,
 * guest entry with VMLAUNCH/VMRESUME, EPT from the shared mmu/ for guest
 * memory, and the exits decoded into struct modvm_exit.
 *
 * The VMCS is the only copy of most guest state. A VMCS is "active" on at
 * most one CPU at a time: using it on another CPU first needs VMCLEAR on
 * the old one (an IPI), which flushes the CPU's cached copy to memory.
 * Every accessor therefore makes the VMCS current on its own CPU first.
 */
#define pr_fmt(fmt) "modvm: vmx: " fmt

#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/processor.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/traps.h>
#include <asm/tsc.h>

#include "../core/modvm.h"
#include "vmx.h"

/* EPT entry bits (SDM 29.3.2). */
#define EPT_READ		BIT_ULL(0)
#define EPT_WRITE		BIT_ULL(1)
#define EPT_EXEC		BIT_ULL(2)
#define EPT_MEMTYPE_WB		(6ULL << 3)
#define EPT_LARGE		BIT_ULL(7)	/* a 2 MiB or 1 GiB leaf */

/* Segment access rights of the reset state. */
#define AR_CODE			0x9b	/* present, S, execute/read, accessed */
#define AR_DATA			0x93	/* present, S, read/write, accessed */
#define AR_LDT			0x82
#define AR_TSS_BUSY		0x8b

/* Pause-loop exiting thresholds, in TSC cycles. */
#define PLE_GAP_CYCLES		128
#define PLE_WINDOW_CYCLES	4096

/* VM-instruction errors (SDM 30.4) that mean the launch state was wrong. */
#define VMXERR_VMLAUNCH_NONCLEAR	4
#define VMXERR_VMRESUME_NONLAUNCHED	5

/* Exit reasons <asm/vmx.h> has no name for. */
#define EXIT_REASON_GETSEC		11
#define EXIT_REASON_RSM			17

/* I/O exit qualification (SDM table 27-5). */
#define IO_SIZE_MASK		7
#define IO_IN			BIT(3)
#define IO_STRING		BIT(4)
#define IO_REP			BIT(5)

/* CR access exit qualification (SDM table 27-3). */
#define CR_ACCESS_MOV_TO	0
#define CR_ACCESS_MOV_FROM	1

/* The reset value of IA32_PAT. */
#define PAT_RESET		0x0007040600070406ULL

/* What the CPU offers, read once from the capability MSRs. */
static struct {
	u32 revision_id;
	u32 pin, proc, proc2, exit, entry;	/* controls we run with */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 cr0_mask, cr4_mask;		/* guest/host masks: bits we own */
	unsigned long invept_type;
	int ept_max_level;		/* largest EPT leaf: 1, 2 or 3 */
	bool vpid, pat, efer, rdtscp, ptimer;
	u32 spin_exits;			/* no ptimer: exits that bound IF=0 runs */
	bool vnmi;			/* virtual NMIs and NMI-window exits */
	bool tdp;			/* EPT with unrestricted guest */
	u32 ptimer_value;		/* one host tick */
} vmx_caps;

/*
 * Per CPU: the VMXON region, the VMCS current on the CPU, the VMCSs
 * active on it (to VMCLEAR before VMXOFF), and the host values of the
 * MSRs that VM exits do not restore.
 */
struct vmx_cpu {
	void *vmxon_region;
	struct vmx_vcpu *current_vmcs;
	struct vmx_vcpu *last_vmcs;	/* compared only: may be freed */
	struct list_head loaded;
	u64 star, lstar, cstar, sfmask, tsc_aux, efer;
};

struct vmx_vcpu {
	struct modvm_vcpu *vcpu;
	void *vmcs;
	u64 vmcs_pa;
	int cpu;		/* where the VMCS is active, -1 when clear */
	bool launched;		/* VMRESUME rather than VMLAUNCH */
	bool host_stale;	/* per-CPU host fields need writing */
	bool need_flush;	/* INVEPT before the next entry */
	bool ptimer_armed;
	bool spin_exiting;	/* vmx_caps.spin_exits are on */
	struct list_head loaded_link;
	u16 vpid;
	unsigned long host_cr3, host_cr4;
	u64 exit_rip;		/* RIP at the last exit */
	/* Event to inject on the next entry, and the windows to open. */
	u32 inject_info, inject_err, inject_len;
	bool irq_window, nmi_window;
	bool soft_nmi_masked;	/* NMI blocking without virtual NMIs */
	/* State VMX does not keep in the VMCS. */
	u64 db[4], dr6, cr2, cr8;
	u64 kernel_gs_base, star, lstar, cstar, sfmask;
	u64 pat;		/* without the VMCS PAT controls */
	u64 efer;		/* without the VMCS EFER controls */
	struct vmx_msr_lists *lists;	/* MSRs switched at entry/exit */
	struct vmx_rmode rmode;		/* real mode without unrestricted guest */
};

static DEFINE_PER_CPU(struct vmx_cpu, vmx_cpus);

/*
 * The MSRs switched through the VMCS MSR lists (see load_guest_msrs()),
 * in list order; TSC_AUX only with RDTSCP, EFER only without the VMCS
 * EFER controls (see list_msrs()).
 */
enum {
	SW_KERNEL_GS_BASE, SW_STAR, SW_LSTAR, SW_CSTAR, SW_SFMASK,
	SW_ALWAYS,	/* the five above are always switched */
	NR_SWITCHED = SW_ALWAYS + 2,
};

/* The lists in one page: entry-load, exit-store and exit-load. */
struct vmx_msr_lists {
	struct vmx_msr_entry guest[NR_SWITCHED];	/* loaded at entry */
	struct vmx_msr_entry kgs;	/* guest KERNEL_GS_BASE, stored at exit */
	struct vmx_msr_entry host[NR_SWITCHED];		/* loaded at exit */
};

static bool vmx_has_debugctl;	/* emulators may not model it */
static void *vmx_msr_bitmap;
static DEFINE_SPINLOCK(vpid_lock);
static DECLARE_BITMAP(vpid_bitmap, VMX_NR_VPIDS);

/* MSRs the guest reads and writes directly (see run for the switching). */
static const u32 vmx_passthrough_msrs[] = {
	MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_IA32_SYSENTER_CS,
	MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
};

static inline struct vmx_vcpu *to_vmx(struct modvm_vcpu *vcpu)
{
	return vcpu->backend;
}

static int vmx_probe(void)
{
	u64 feature_control;

	if (boot_cpu_data.x86_vendor != X86_VENDOR_INTEL &&
	    boot_cpu_data.x86_vendor != X86_VENDOR_CENTAUR &&
	    boot_cpu_data.x86_vendor != X86_VENDOR_ZHAOXIN)
		return -EOPNOTSUPP;
	if (!(cpuid_ecx(1) & BIT(5)))
		return -EOPNOTSUPP;
	/*
	 * VMXON faults unless the firmware (or the kernel, at boot) locked
	 * IA32_FEATURE_CONTROL with VMX-outside-SMX enabled.
	 */
	if (rdmsrl_safe(MSR_IA32_FEAT_CTL, &feature_control) ||
	    !(feature_control & FEAT_CTL_LOCKED) ||
	    !(feature_control & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX)) {
		pr_err("VT-x is disabled by firmware (IA32_FEATURE_CONTROL)\n");
		return -ENODEV;
	}
	return 0;
}

/*
 * Fold the controls we @need and @want into what capability MSR @msr
 * allows (low half: bits that must be 1, high half: bits that may be 1).
 * Returns false when a needed control is not available.
 */
static bool adjust_controls(u32 msr, u32 need, u32 want, u32 *ctl)
{
	u64 caps;
	u32 must, may;

	if (rdmsrl_safe(msr, &caps))
		return false;
	must = caps;
	may = caps >> 32;
	*ctl = ((need | want) & may) | must;
	return !(need & ~may);
}

/*
 * Read the capability MSRs; false when guests cannot run at all. Sets
 * vmx_caps.tdp when they can run with EPT and unrestricted guest; without
 * them shadow paging runs protected and long mode guests.
 */
static bool setup_controls(void)
{
	u64 basic, misc, ept_vpid = 0;
	bool true_ctls, ok = true, tdp = true;
	u32 unwanted;

	rdmsrl(MSR_IA32_VMX_BASIC, basic);
	vmx_caps.revision_id = vmx_basic_vmcs_revision_id(basic);
	/* Bit 55: the TRUE_* MSRs say which default-1 controls may be 0. */
	true_ctls = basic & VMX_BASIC_TRUE_CTLS;

	ok &= adjust_controls(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS :
			      MSR_IA32_VMX_PINBASED_CTLS,
			      PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING,
			      PIN_BASED_VMX_PREEMPTION_TIMER |
			      PIN_BASED_VIRTUAL_NMIS, &vmx_caps.pin);
	/* Armed per entry, see arm_preemption_timer(). */
	vmx_caps.ptimer = vmx_caps.pin & PIN_BASED_VMX_PREEMPTION_TIMER;
	vmx_caps.pin &= ~PIN_BASED_VMX_PREEMPTION_TIMER;
	rdmsrl(MSR_IA32_VMX_MISC, misc);
	vmx_caps.ptimer_value = min_t(u64, U32_MAX,
				      ((u64)tsc_khz * (1000 / HZ)) >>
				      vmx_misc_preemption_timer_rate(misc));
	if (!vmx_caps.ptimer_value)
		vmx_caps.ptimer = false;
	ok &= adjust_controls(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
			      MSR_IA32_VMX_PROCBASED_CTLS,
			      CPU_BASED_HLT_EXITING | CPU_BASED_CR8_LOAD_EXITING |
			      CPU_BASED_CR8_STORE_EXITING |
			      CPU_BASED_UNCOND_IO_EXITING |
			      CPU_BASED_USE_TSC_OFFSETTING |
			      CPU_BASED_MWAIT_EXITING | CPU_BASED_MONITOR_EXITING |
			      CPU_BASED_RDPMC_EXITING,
			      CPU_BASED_USE_MSR_BITMAPS |
			      CPU_BASED_ACTIVATE_SECONDARY_CONTROLS, &vmx_caps.proc);
	/* The window exits are set per entry; NMI windows need virtual NMIs. */
	adjust_controls(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
			MSR_IA32_VMX_PROCBASED_CTLS, CPU_BASED_INTR_WINDOW_EXITING,
			CPU_BASED_NMI_WINDOW_EXITING, &unwanted);
	ok &= !!(unwanted & CPU_BASED_INTR_WINDOW_EXITING);
	vmx_caps.vnmi = (unwanted & CPU_BASED_NMI_WINDOW_EXITING) &&
			(vmx_caps.pin & PIN_BASED_VIRTUAL_NMIS);
	if (!vmx_caps.vnmi)
		vmx_caps.pin &= ~PIN_BASED_VIRTUAL_NMIS;
	/* Without the preemption timer, see arm_preemption_timer(). */
	adjust_controls(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
			MSR_IA32_VMX_PROCBASED_CTLS, 0,
			CPU_BASED_RDTSC_EXITING | CPU_BASED_PAUSE_EXITING,
			&unwanted);
	if (!vmx_caps.ptimer)
		vmx_caps.spin_exits = unwanted & (CPU_BASED_RDTSC_EXITING |
						  CPU_BASED_PAUSE_EXITING);
	/* Exits that run() does not handle. */
	unwanted = CPU_BASED_MOV_DR_EXITING | CPU_BASED_RDTSC_EXITING |
		   CPU_BASED_TPR_SHADOW;
	if (vmx_caps.proc & unwanted)
		ok = false;
	/* With EPT the guest owns CR3; shadow paging takes these exits. */
	if (vmx_caps.proc & (CPU_BASED_CR3_LOAD_EXITING |
			     CPU_BASED_CR3_STORE_EXITING))
		tdp = false;
	if (!(vmx_caps.proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS))
		vmx_caps.proc2 = 0;
	else if (!adjust_controls(MSR_IA32_VMX_PROCBASED_CTLS2, 0,
				  SECONDARY_EXEC_ENABLE_EPT |
				  SECONDARY_EXEC_UNRESTRICTED_GUEST |
				  SECONDARY_EXEC_ENABLE_VPID |
				  SECONDARY_EXEC_ENABLE_RDTSCP |
				  SECONDARY_EXEC_ENABLE_INVPCID |
				  SECONDARY_EXEC_WBINVD_EXITING |
				  SECONDARY_EXEC_PAUSE_LOOP_EXITING, &vmx_caps.proc2))
		ok = false;
	if ((vmx_caps.proc2 & (SECONDARY_EXEC_ENABLE_EPT |
			       SECONDARY_EXEC_UNRESTRICTED_GUEST)) !=
	    (SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST))
		tdp = false;
	ok &= adjust_controls(true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS :
			      MSR_IA32_VMX_EXIT_CTLS,
			      VM_EXIT_HOST_ADDR_SPACE_SIZE,
			      VM_EXIT_SAVE_IA32_EFER | VM_EXIT_LOAD_IA32_EFER |
			      VM_EXIT_SAVE_DEBUG_CONTROLS | VM_EXIT_SAVE_IA32_PAT |
			      VM_EXIT_LOAD_IA32_PAT, &vmx_caps.exit);
	/* Interrupts stay pending in the APIC; the host takes them itself. */
	if (vmx_caps.exit & VM_EXIT_ACK_INTR_ON_EXIT)
		ok = false;
	ok &= adjust_controls(true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS :
			      MSR_IA32_VMX_ENTRY_CTLS,
			      VM_ENTRY_IA32E_MODE,
			      VM_ENTRY_LOAD_IA32_EFER |
			      VM_ENTRY_LOAD_DEBUG_CONTROLS | VM_ENTRY_LOAD_IA32_PAT,
			      &vmx_caps.entry);
	/* Set per entry from the guest's EFER.LMA. */
	vmx_caps.entry &= ~VM_ENTRY_IA32E_MODE;

	vmx_caps.vpid = vmx_caps.proc2 & SECONDARY_EXEC_ENABLE_VPID;
	vmx_caps.rdtscp = vmx_caps.proc2 & SECONDARY_EXEC_ENABLE_RDTSCP;
	vmx_caps.pat = (vmx_caps.exit & VM_EXIT_SAVE_IA32_PAT) &&
		       (vmx_caps.exit & VM_EXIT_LOAD_IA32_PAT) &&
		       (vmx_caps.entry & VM_ENTRY_LOAD_IA32_PAT);
	if (!vmx_caps.pat)
		vmx_caps.entry &= ~VM_ENTRY_LOAD_IA32_PAT;
	vmx_caps.efer = (vmx_caps.exit & VM_EXIT_SAVE_IA32_EFER) &&
			(vmx_caps.exit & VM_EXIT_LOAD_IA32_EFER) &&
			(vmx_caps.entry & VM_ENTRY_LOAD_IA32_EFER);
	/*
	 * Without the EFER controls the MSR lists switch EFER (see
	 * load_guest_msrs()). Only shadow paging, always with paging on,
	 * is written for that (CPUs of that age, like Core 2, have no EPT).
	 */
	if (!vmx_caps.efer) {
		tdp = false;
		vmx_caps.exit &= ~(VM_EXIT_SAVE_IA32_EFER | VM_EXIT_LOAD_IA32_EFER);
		vmx_caps.entry &= ~VM_ENTRY_LOAD_IA32_EFER;
	}

	if (tdp && rdmsrl_safe(MSR_IA32_VMX_EPT_VPID_CAP, &ept_vpid))
		tdp = false;
	if (!(ept_vpid & VMX_EPT_PAGE_WALK_4_BIT) || !(ept_vpid & VMX_EPTP_WB_BIT) ||
	    !(ept_vpid & VMX_EPT_INVEPT_BIT))
		tdp = false;
	vmx_caps.ept_max_level = ept_vpid & VMX_EPT_1GB_PAGE_BIT ? 3 :
				 ept_vpid & VMX_EPT_2MB_PAGE_BIT ? 2 : 1;
	if (ept_vpid & VMX_EPT_EXTENT_CONTEXT_BIT)
		vmx_caps.invept_type = VMX_EPT_EXTENT_CONTEXT;
	else if (ept_vpid & VMX_EPT_EXTENT_GLOBAL_BIT)
		vmx_caps.invept_type = VMX_EPT_EXTENT_GLOBAL;
	else
		tdp = false;
	vmx_caps.tdp = tdp && modvm_tdp;
	if (!vmx_caps.tdp) {
		/*
		 * Shadow paging: no EPT, no VPID (every entry and exit then
		 * flushes the TLB, which root switches need), CR3 accesses
		 * exit, and the guest's CR0/CR4 live in the read shadows
		 * (every bit is ours: reads see the shadow, changes exit).
		 */
		vmx_caps.proc |= CPU_BASED_CR3_LOAD_EXITING |
				 CPU_BASED_CR3_STORE_EXITING;
		vmx_caps.proc2 &= ~(SECONDARY_EXEC_ENABLE_EPT |
				    SECONDARY_EXEC_UNRESTRICTED_GUEST |
				    SECONDARY_EXEC_ENABLE_VPID);
		vmx_caps.vpid = false;
	}

	rdmsrl(MSR_IA32_VMX_CR0_FIXED0, vmx_caps.cr0_fixed0);
	rdmsrl(MSR_IA32_VMX_CR0_FIXED1, vmx_caps.cr0_fixed1);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED0, vmx_caps.cr4_fixed0);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED1, vmx_caps.cr4_fixed1);
	/* Unrestricted guests may run with paging or protection off. */
	if (vmx_caps.tdp)
		vmx_caps.cr0_fixed0 &= ~(u64)(X86_CR0_PE | X86_CR0_PG);
	/*
	 * Bits the CPU forces (CR0.NE, CR4.VMXE) and CR4 bits the guest may
	 * not set are ours: the guest reads its own values from the read
	 * shadows, and writing a different value exits.
	 */
	vmx_caps.cr0_mask = (vmx_caps.cr0_fixed0 | ~vmx_caps.cr0_fixed1) &
			    0xffffffffULL;
	vmx_caps.cr4_mask = vmx_caps.cr4_fixed0 | ~vmx_caps.cr4_fixed1 |
			    ~(u64)MODVM_CR4_VALID;
	if (!vmx_caps.tdp) {
		vmx_caps.cr0_mask = 0xffffffffULL;
		vmx_caps.cr4_mask = ~0ULL;
	}
	return ok;
}

static void msr_passthrough(u32 msr)
{
	u32 bit = msr & 0x1fff;
	/* Read bitmaps at 0 (low MSRs) and 1K (high), write ones 2K later. */
	u32 base = msr >= 0xc0000000 ? 1024 * 8 : 0;

	clear_bit(base + bit, vmx_msr_bitmap);
	clear_bit(2048 * 8 + base + bit, vmx_msr_bitmap);
}

static void vmx_unsetup(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		free_page((unsigned long)per_cpu(vmx_cpus, cpu).vmxon_region);
	free_page((unsigned long)vmx_msr_bitmap);
}

static int vmx_setup(void)
{
	u64 debugctl;
	int cpu, i;

	/*
	 * As kvm-intel: a module that could never run a guest does not
	 * load, so that a loaded modvm always runs them (the selftests'
	 * modvm_can_run_guests() relies on it).
	 */
	if (!setup_controls()) {
		pr_err("VT-x lacks VM-execution controls modvm needs\n");
		return -ENODEV;
	}
	if (!vmx_caps.tdp) {
		modvm_tdp = false;
		pr_info("shadow paging (no EPT with unrestricted guest, or tdp=0)\n");
	}

	vmx_msr_bitmap = (void *)__get_free_page(GFP_KERNEL);
	if (!vmx_msr_bitmap)
		goto nomem;
	memset(vmx_msr_bitmap, 0xff, PAGE_SIZE);
	for (i = 0; i < ARRAY_SIZE(vmx_passthrough_msrs); i++)
		msr_passthrough(vmx_passthrough_msrs[i]);

	for_each_possible_cpu(cpu) {
		struct vmx_cpu *vc = per_cpu_ptr(&vmx_cpus, cpu);

		INIT_LIST_HEAD(&vc->loaded);
		vc->vmxon_region = (void *)get_zeroed_page(GFP_KERNEL);
		if (!vc->vmxon_region)
			goto nomem;
	}
	vmx_has_debugctl = !rdmsrl_safe(MSR_IA32_DEBUGCTLMSR, &debugctl);
	/* VPID 0 is the host's. */
	set_bit(0, vpid_bitmap);
	return 0;
nomem:
	vmx_unsetup();
	return -ENOMEM;
}

static int vmx_cpu_enable(void)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);
	u64 feature_control;

	/*
	 * CR4.VMXE set means another hypervisor (kvm-intel with a VM, say)
	 * is in VMX operation here: a second VMXON would fail, and turning
	 * it off would pull the CPU from under the other one.
	 */
	if (cr4_read_shadow() & X86_CR4_VMXE) {
		pr_err_ratelimited("CPU %d: VT-x is in use by another hypervisor (CR4.VMXE is set)\n",
				   smp_processor_id());
		return -EBUSY;
	}
	if (rdmsrl_safe(MSR_IA32_FEAT_CTL, &feature_control) ||
	    !(feature_control & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX)) {
		pr_err_ratelimited("CPU %d: VT-x is disabled by firmware\n",
				   smp_processor_id());
		return -EIO;
	}

	*(u32 *)vc->vmxon_region = vmx_caps.revision_id;
	cr4_set_bits(X86_CR4_VMXE);
	if (vmx_on(__pa(vc->vmxon_region))) {
		cr4_clear_bits(X86_CR4_VMXE);
		pr_err_ratelimited("CPU %d: VMXON failed\n", smp_processor_id());
		return -EIO;
	}
	vc->current_vmcs = NULL;
	/* Whoever used VMX here before may have left EPT translations. */
	if (modvm_tdp)
		ept_sync(VMX_EPT_EXTENT_GLOBAL, 0);

	rdmsrl(MSR_STAR, vc->star);
	rdmsrl(MSR_LSTAR, vc->lstar);
	rdmsrl(MSR_CSTAR, vc->cstar);
	rdmsrl(MSR_SYSCALL_MASK, vc->sfmask);
	rdmsrl(MSR_EFER, vc->efer);
	if (rdmsrl_safe(MSR_TSC_AUX, &vc->tsc_aux))
		vc->tsc_aux = 0;
	return 0;
}

/* VMCLEAR @vmx on this CPU, where it is active. IRQs off. */
static void vmcs_clear_here(struct vmx_vcpu *vmx)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);

	vmcs_clear(vmx->vmcs_pa);
	if (vc->current_vmcs == vmx)
		vc->current_vmcs = NULL;
	list_del(&vmx->loaded_link);
	vmx->launched = false;
	/* The VMCS data is in memory before another CPU may load it. */
	smp_wmb();
	WRITE_ONCE(vmx->cpu, -1);
}

static void vmcs_clear_ipi(void *data)
{
	struct vmx_vcpu *vmx = data;

	/* cpu_disable() may have cleared it already. */
	if (READ_ONCE(vmx->cpu) == smp_processor_id())
		vmcs_clear_here(vmx);
}

/* VMCLEAR @vmx wherever it is active. Needs IRQs on (an IPI). */
static void vmcs_clear_anywhere(struct vmx_vcpu *vmx)
{
	int cpu = READ_ONCE(vmx->cpu);

	if (cpu >= 0)
		smp_call_function_single(cpu, vmcs_clear_ipi, vmx, 1);
	/* Pairs with the smp_wmb() in vmcs_clear_here(). */
	smp_rmb();
}

static void vmx_cpu_disable(void)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);
	struct vmx_vcpu *vmx, *tmp;
	unsigned long flags;

	/* A VMCS still active here would be lost (or written) after VMXOFF. */
	local_irq_save(flags);
	list_for_each_entry_safe(vmx, tmp, &vc->loaded, loaded_link)
		vmcs_clear_here(vmx);
	vc->current_vmcs = NULL;
	vmx_off();
	cr4_clear_bits(X86_CR4_VMXE);
	local_irq_restore(flags);
}

/* Host state that differs between CPUs; the VMCS is current. */
static void write_host_cpu_state(void)
{
	int cpu = smp_processor_id();
	struct desc_ptr dt;
	u64 v;

	vmcs_write(HOST_CR0, read_cr0());
	native_store_gdt(&dt);
	vmcs_write(HOST_GDTR_BASE, dt.address);
	store_idt(&dt);
	vmcs_write(HOST_IDTR_BASE, dt.address);
	vmcs_write(HOST_TR_BASE, (unsigned long)&get_cpu_entry_area(cpu)->tss.x86_tss);
	rdmsrl(MSR_GS_BASE, v);
	vmcs_write(HOST_GS_BASE, v);
	rdmsrl(MSR_IA32_SYSENTER_CS, v);
	vmcs_write(HOST_IA32_SYSENTER_CS, v);
	rdmsrl(MSR_IA32_SYSENTER_ESP, v);
	vmcs_write(HOST_IA32_SYSENTER_ESP, v);
	rdmsrl(MSR_IA32_SYSENTER_EIP, v);
	vmcs_write(HOST_IA32_SYSENTER_EIP, v);
	if (vmx_caps.efer) {
		rdmsrl(MSR_EFER, v);
		vmcs_write(HOST_IA32_EFER, v);
	}
	if (vmx_caps.pat) {
		rdmsrl(MSR_IA32_CR_PAT, v);
		vmcs_write(HOST_IA32_PAT, v);
	}
}

/*
 * Make the vCPU's VMCS current on this CPU. Preemption off. If the VMCS
 * is active on another CPU, IRQs must be on (VMCLEAR there by IPI).
 */
static void vmx_load(struct vmx_vcpu *vmx)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);
	int cpu = smp_processor_id();
	unsigned long flags;

	if (READ_ONCE(vmx->cpu) != cpu)
		vmcs_clear_anywhere(vmx);
	local_irq_save(flags);
	if (vmx->cpu != cpu) {
		list_add(&vmx->loaded_link, &vc->loaded);
		vmx->cpu = cpu;
		vmx->launched = false;
		vmx->host_stale = true;
		/* This CPU may hold translations from an earlier visit. */
		vmx->need_flush = true;
	}
	if (vc->current_vmcs != vmx) {
		if (vmcs_load(vmx->vmcs_pa) && !READ_ONCE(modvm_rebooting))
			pr_err_ratelimited("VMPTRLD failed\n");
		vc->current_vmcs = vmx;
		/*
		 * Another vCPU (maybe of another VM) was loaded here last:
		 * its branch predictions must not steer this guest (IBPB,
		 * where the host uses it for user processes too).
		 */
		if (vc->last_vmcs != vmx) {
			vc->last_vmcs = vmx;
			indirect_branch_prediction_barrier();
		}
	}
	if (vmx->host_stale) {
		write_host_cpu_state();
		vmx->host_stale = false;
	}
	local_irq_restore(flags);
}

/* Accessors outside run(): the VMCS is current between get and put. */
static struct vmx_vcpu *vmx_get(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	preempt_disable();
	vmx_load(vmx);
	return vmx;
}

static void vmx_put(void)
{
	preempt_enable();
}

static u64 ept_pointer(struct modvm_vcpu *vcpu)
{
	return modvm_tdp_root_pa(vcpu->vm) | VMX_EPTP_MT_WB | VMX_EPTP_PWL_4;
}

/* Controls and host state that never change; the VMCS is current. */
/* The indexes of the MSRs in the VMCS MSR lists, in list order; the count. */
static int list_msrs(u32 *msrs)
{
	int n = SW_ALWAYS;

	msrs[SW_KERNEL_GS_BASE] = MSR_KERNEL_GS_BASE;
	msrs[SW_STAR] = MSR_STAR;
	msrs[SW_LSTAR] = MSR_LSTAR;
	msrs[SW_CSTAR] = MSR_CSTAR;
	msrs[SW_SFMASK] = MSR_SYSCALL_MASK;
	if (vmx_caps.rdtscp)
		msrs[n++] = MSR_TSC_AUX;
	if (!vmx_caps.efer)
		msrs[n++] = MSR_EFER;
	return n;
}

static void init_vmcs_controls(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u32 msrs[NR_SWITCHED];
	int i, n;

	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, vmx_caps.pin);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, vmx_caps.proc);
	if (vmx_caps.proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS)
		vmcs_write(SECONDARY_VM_EXEC_CONTROL, vmx_caps.proc2);
	/*
	 * Pause-loop exiting: PAUSEs at most PLE_GAP_CYCLES apart for more
	 * than PLE_WINDOW_CYCLES are a spin loop, most likely waiting for
	 * a vCPU that does not run (KVM's defaults).
	 */
	if (vmx_caps.proc2 & SECONDARY_EXEC_PAUSE_LOOP_EXITING) {
		vmcs_write(PLE_GAP, PLE_GAP_CYCLES);
		vmcs_write(PLE_WINDOW, PLE_WINDOW_CYCLES);
	}
	if (modvm_tdp) {
		vmcs_write(EPT_POINTER, ept_pointer(vcpu));
		if (vmx_caps.vpid)
			vmcs_write(VIRTUAL_PROCESSOR_ID, vmx->vpid);
	}
	vmcs_write(VM_EXIT_CONTROLS, vmx_caps.exit);
	vmcs_write(VM_ENTRY_CONTROLS, vmx_caps.entry);
	/*
	 * #AC and #DB are reflected through event injection: a guest that
	 * makes their delivery fault again would otherwise hold the CPU in
	 * microcode forever (CVE-2015-5307, CVE-2015-8104). A machine check
	 * is the host's to handle, not the guest's.
	 */
	vmcs_write(EXCEPTION_BITMAP, BIT(X86_TRAP_AC) | BIT(X86_TRAP_DB) |
		   BIT(X86_TRAP_MC) | (modvm_tdp ? 0 : BIT(X86_TRAP_PF)));
	/* Mask and match 0: with #PF in the bitmap, every #PF exits. */
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	if (vmx_caps.proc & CPU_BASED_USE_MSR_BITMAPS)
		vmcs_write(MSR_BITMAP, __pa(vmx_msr_bitmap));
	n = list_msrs(msrs);
	for (i = 0; i < n; i++) {
		vmx->lists->guest[i].index = msrs[i];
		vmx->lists->host[i].index = msrs[i];
	}
	vmx->lists->kgs.index = MSR_KERNEL_GS_BASE;
	vmcs_write(VM_ENTRY_MSR_LOAD_ADDR, __pa(vmx->lists->guest));
	vmcs_write(VM_EXIT_MSR_STORE_ADDR, __pa(&vmx->lists->kgs));
	vmcs_write(VM_EXIT_MSR_LOAD_ADDR, __pa(vmx->lists->host));
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, n);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 1);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, n);
	vmcs_write(CR0_GUEST_HOST_MASK, vmx_caps.cr0_mask);
	vmcs_write(CR4_GUEST_HOST_MASK, vmx_caps.cr4_mask);
	vmcs_write(VMCS_LINK_POINTER, -1ULL);

	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	/* DS/ES/FS/GS are reloaded after the exit when the task had them. */
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_RIP, (unsigned long)modvm_vmx_vmexit);
}

static u16 vpid_alloc(void)
{
	unsigned long vpid;

	if (!vmx_caps.vpid)
		return 0;
	spin_lock(&vpid_lock);
	vpid = find_first_zero_bit(vpid_bitmap, VMX_NR_VPIDS);
	if (vpid < VMX_NR_VPIDS)
		__set_bit(vpid, vpid_bitmap);
	else
		vpid = 0;	/* shared with the host: flushed on every entry */
	spin_unlock(&vpid_lock);
	return vpid;
}

static void vpid_free(u16 vpid)
{
	if (!vpid)
		return;
	spin_lock(&vpid_lock);
	__clear_bit(vpid, vpid_bitmap);
	spin_unlock(&vpid_lock);
}

static int vmx_vcpu_create(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = kzalloc(sizeof(*vmx), GFP_KERNEL_ACCOUNT);

	if (!vmx)
		return -ENOMEM;
	vmx->vmcs = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	/* A page: the lists must be 16-byte aligned and contiguous. */
	vmx->lists = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vmx->vmcs || !vmx->lists) {
		free_page((unsigned long)vmx->lists);
		free_page((unsigned long)vmx->vmcs);
		kfree(vmx);
		return -ENOMEM;
	}
	vmx->vcpu = vcpu;
	vmx->vmcs_pa = __pa(vmx->vmcs);
	*(u32 *)vmx->vmcs = vmx_caps.revision_id;
	vmx->cpu = -1;
	INIT_LIST_HEAD(&vmx->loaded_link);
	vmx->vpid = vpid_alloc();
	vcpu->backend = vmx;

	/* A VM exists, so VMX is on in every CPU: initialize the VMCS. */
	preempt_disable();
	if (vmcs_clear(vmx->vmcs_pa))
		pr_err_ratelimited("VMCLEAR of a new VMCS failed\n");
	vmx_load(vmx);
	init_vmcs_controls(vcpu);
	preempt_enable();
	return 0;
}

static void vmx_vcpu_free(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	/* The CPU must not write its cached copy to the freed page later. */
	vmcs_clear_anywhere(vmx);
	vpid_free(vmx->vpid);
	free_page((unsigned long)vmx->lists);
	free_page((unsigned long)vmx->vmcs);
	kfree(vmx);
	vcpu->backend = NULL;
}

static u32 seg_ar(const struct kvm_segment *k)
{
	u32 ar = (k->type & 0xf) | (k->s << 4) | ((k->dpl & 3) << 5) |
		 (k->present << 7) | (k->avl << 12) | (k->l << 13) |
		 (k->db << 14) | (k->g << 15);

	if (k->unusable || !k->present)
		ar |= VMX_AR_UNUSABLE_MASK;
	return ar;
}

static void set_seg(int seg, const struct kvm_segment *k)
{
	vmcs_write(SEG_SELECTOR(seg), k->selector);
	vmcs_write(SEG_BASE(seg), k->base);
	vmcs_write(SEG_LIMIT(seg), k->limit);
	vmcs_write(SEG_AR(seg), seg_ar(k));
}

static void get_seg(int seg, struct kvm_segment *k)
{
	u32 ar = vmcs_read(SEG_AR(seg));

	memset(k, 0, sizeof(*k));
	k->selector = vmcs_read(SEG_SELECTOR(seg));
	k->base = vmcs_read(SEG_BASE(seg));
	k->limit = vmcs_read(SEG_LIMIT(seg));
	k->type = ar & 0xf;
	k->s = (ar >> 4) & 1;
	k->dpl = (ar >> 5) & 3;
	k->present = (ar >> 7) & 1;
	k->avl = (ar >> 12) & 1;
	k->l = (ar >> 13) & 1;
	k->db = (ar >> 14) & 1;
	k->g = (ar >> 15) & 1;
	k->unusable = !!(ar & VMX_AR_UNUSABLE_MASK);
}

/* CR0/CR4 as the guest sees them: our bits come from the read shadow. */
static u64 guest_cr0(void)
{
	return (vmcs_read(GUEST_CR0) & ~vmx_caps.cr0_mask) |
	       (vmcs_read(CR0_READ_SHADOW) & vmx_caps.cr0_mask);
}

static u64 guest_cr4(void)
{
	return (vmcs_read(GUEST_CR4) & ~vmx_caps.cr4_mask) |
	       (vmcs_read(CR4_READ_SHADOW) & vmx_caps.cr4_mask);
}

static void set_cr0(u64 cr0)
{
	vmcs_write(CR0_READ_SHADOW, cr0);
	vmcs_write(GUEST_CR0, (cr0 | vmx_caps.cr0_fixed0) & vmx_caps.cr0_fixed1);
}

static void set_cr4(u64 cr4)
{
	vmcs_write(CR4_READ_SHADOW, cr4);
	vmcs_write(GUEST_CR4, (cr4 | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1);
}

static u64 get_efer(struct vmx_vcpu *vmx)
{
	return vmx_caps.efer ? vmcs_read(GUEST_IA32_EFER) : vmx->efer;
}

/*
 * Without the VMCS EFER controls: the EFER the entry's MSR list loads. The
 * entry has already set LMA from the IA-32e mode control (set_efer() sets
 * it from @efer's LMA) and, the CPU running with paging on, LME as well; a
 * list value that changed LME would fail the entry. (Only shadow paging
 * runs there, always with paging on.) Every other bit is the guest's:
 * SCE, and NXE, which the shadow tables follow (mmu/walk.c).
 */
static u64 hw_efer(u64 efer)
{
	if (efer & EFER_LMA)
		return efer | EFER_LME;
	return efer & ~EFER_LME;
}

/* EFER and the entry control that must agree with EFER.LMA. */
static void set_efer(struct vmx_vcpu *vmx, u64 efer)
{
	vmx->efer = efer;
	if (vmx_caps.efer)
		vmcs_write(GUEST_IA32_EFER, efer);
	if (efer & EFER_LMA)
		vmcs_set_bits(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
	else
		vmcs_clear_bits(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
}

static void vmx_vcpu_reset(struct modvm_vcpu *vcpu)
{
	struct kvm_segment data_seg = {
		.limit = 0xffff, .type = AR_DATA & 0xf, .present = 1, .s = 1,
	};
	struct kvm_segment seg = data_seg;
	struct vmx_vcpu *vmx;

	vmx = vmx_get(vcpu);
	set_seg(SEG_DS, &data_seg);
	set_seg(SEG_ES, &data_seg);
	set_seg(SEG_FS, &data_seg);
	set_seg(SEG_GS, &data_seg);
	set_seg(SEG_SS, &data_seg);
	seg.type = AR_CODE & 0xf;
	seg.selector = 0xf000;
	seg.base = 0xffff0000;
	set_seg(SEG_CS, &seg);
	memset(&seg, 0, sizeof(seg));
	seg.limit = 0xffff;
	seg.present = 1;
	seg.type = AR_LDT & 0xf;
	set_seg(SEG_LDTR, &seg);
	seg.type = AR_TSS_BUSY & 0xf;
	set_seg(SEG_TR, &seg);
	vmcs_write(GUEST_GDTR_BASE, 0);
	vmcs_write(GUEST_GDTR_LIMIT, 0xffff);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0xffff);
	set_cr0(X86_CR0_ET | X86_CR0_NW | X86_CR0_CD);
	set_cr4(0);
	vmcs_write(GUEST_CR3, 0);
	set_efer(vmx, 0);
	vmcs_write(GUEST_DR7, MODVM_DR7_INIT);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	if (vmx_caps.pat)
		vmcs_write(GUEST_IA32_PAT, PAT_RESET);
	vmcs_write(GUEST_RFLAGS, X86_EFLAGS_FIXED);
	vmcs_write(GUEST_RIP, 0xfff0);
	vmcs_write(GUEST_RSP, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmx_put();

	vmx->pat = PAT_RESET;
	memset(vmx->db, 0, sizeof(vmx->db));
	vmx->dr6 = MODVM_DR6_INIT;
	vmx->cr2 = 0;
	vmx->cr8 = 0;
	vmx->kernel_gs_base = 0;
	vmx->star = 0;
	vmx->lstar = 0;
	vmx->cstar = 0;
	vmx->sfmask = 0;
	vmx->inject_info = 0;
	vmx->irq_window = false;
	vmx->nmi_window = false;
	vmx->soft_nmi_masked = false;
	vmx->need_flush = true;
}

static void vmx_get_sregs(struct modvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	struct vmx_vcpu *vmx;

	memset(sregs, 0, sizeof(*sregs));
	vmx = vmx_get(vcpu);
	get_seg(SEG_CS, &sregs->cs);
	get_seg(SEG_DS, &sregs->ds);
	get_seg(SEG_ES, &sregs->es);
	get_seg(SEG_FS, &sregs->fs);
	get_seg(SEG_GS, &sregs->gs);
	get_seg(SEG_SS, &sregs->ss);
	get_seg(SEG_TR, &sregs->tr);
	get_seg(SEG_LDTR, &sregs->ldt);
	sregs->gdt.base = vmcs_read(GUEST_GDTR_BASE);
	sregs->gdt.limit = vmcs_read(GUEST_GDTR_LIMIT);
	sregs->idt.base = vmcs_read(GUEST_IDTR_BASE);
	sregs->idt.limit = vmcs_read(GUEST_IDTR_LIMIT);
	sregs->cr0 = guest_cr0();
	sregs->cr3 = vmcs_read(GUEST_CR3);
	sregs->cr4 = guest_cr4();
	sregs->efer = get_efer(vmx);
	vmx_put();
	/* TR is always usable; only its type says more. */
	sregs->tr.unusable = 0;
	sregs->cr2 = vmx->cr2;
	sregs->cr8 = vmx->cr8;
	sregs->apic_base = vcpu->apic_base;
}

static int vmx_set_sregs(struct modvm_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 pdptrs[4] = { 0 };
	bool pae_paging;
	int i;

	/*
	 * With EPT, PAE paging (outside long mode) takes its PDPTEs from
	 * the VMCS at entry; the CPU loads them itself only when the guest
	 * writes CR0/CR3/CR4. A bad CR3 is the guest's problem, as on
	 * hardware.
	 */
	pae_paging = (sregs->cr0 & X86_CR0_PG) && (sregs->cr4 & X86_CR4_PAE) &&
		     !(sregs->efer & EFER_LMA);
	if (pae_paging &&
	    modvm_read_guest(vcpu, sregs->cr3 & ~0x1fULL, pdptrs, sizeof(pdptrs)))
		memset(pdptrs, 0, sizeof(pdptrs));

	vmx_get(vcpu);
	set_seg(SEG_CS, &sregs->cs);
	set_seg(SEG_DS, &sregs->ds);
	set_seg(SEG_ES, &sregs->es);
	set_seg(SEG_FS, &sregs->fs);
	set_seg(SEG_GS, &sregs->gs);
	set_seg(SEG_SS, &sregs->ss);
	set_seg(SEG_TR, &sregs->tr);
	set_seg(SEG_LDTR, &sregs->ldt);
	vmcs_write(GUEST_GDTR_BASE, sregs->gdt.base);
	vmcs_write(GUEST_GDTR_LIMIT, sregs->gdt.limit);
	vmcs_write(GUEST_IDTR_BASE, sregs->idt.base);
	vmcs_write(GUEST_IDTR_LIMIT, sregs->idt.limit);
	set_cr0(sregs->cr0);
	vmcs_write(GUEST_CR3, sregs->cr3);
	set_cr4(sregs->cr4);
	set_efer(vmx, sregs->efer);
	if (pae_paging)
		for (i = 0; i < 4; i++)
			vmcs_write(GUEST_PDPTR0 + 2 * i, pdptrs[i]);
	vmx_put();

	vmx->cr2 = sregs->cr2;
	vmx->cr8 = sregs->cr8 & 0xf;
	vcpu->apic_base = sregs->apic_base;
	/* Translations of the old CR3 must not survive. */
	vmx->need_flush = true;
	return 0;
}

static void vmx_get_paging(struct modvm_vcpu *vcpu, struct modvm_paging_state *ps)
{
	struct vmx_vcpu *vmx;
	u32 cs_ar;

	vmx = vmx_get(vcpu);
	ps->cr0 = guest_cr0();
	ps->cr3 = vmcs_read(GUEST_CR3);
	ps->cr4 = guest_cr4();
	ps->efer = get_efer(vmx);
	/*
	 * The CPL is SS.DPL: 0 in real mode, where the CPU keeps it so with
	 * unrestricted guest; without, real mode is 0 whatever SS says.
	 */
	ps->cpl = VMX_AR_DPL(vmcs_read(GUEST_SS_AR_BYTES));
	if (!(ps->cr0 & X86_CR0_PE))
		ps->cpl = 0;
	cs_ar = vmcs_read(GUEST_CS_AR_BYTES);
	vmx_put();
	ps->cs_l = !!(cs_ar & VMX_AR_L_MASK);
	ps->cs_db = !!(cs_ar & VMX_AR_DB_MASK);
}

/* VMCS field of an MSR the CPU switches, or 0. */
static unsigned long msr_field(u32 index)
{
	switch (index) {
	case MSR_FS_BASE: return GUEST_FS_BASE;
	case MSR_GS_BASE: return GUEST_GS_BASE;
	case MSR_IA32_SYSENTER_CS: return GUEST_SYSENTER_CS;
	case MSR_IA32_SYSENTER_ESP: return GUEST_SYSENTER_ESP;
	case MSR_IA32_SYSENTER_EIP: return GUEST_SYSENTER_EIP;
	case MSR_IA32_CR_PAT:
		if (vmx_caps.pat)
			return GUEST_IA32_PAT;
		break;
	}
	return 0;
}

/* Field of struct vmx_vcpu for an MSR switched by run(), or NULL. */
static u64 *msr_soft(struct vmx_vcpu *vmx, u32 index)
{
	switch (index) {
	case MSR_KERNEL_GS_BASE: return &vmx->kernel_gs_base;
	case MSR_STAR: return &vmx->star;
	case MSR_LSTAR: return &vmx->lstar;
	case MSR_CSTAR: return &vmx->cstar;
	case MSR_SYSCALL_MASK: return &vmx->sfmask;
	case MSR_IA32_CR_PAT: return &vmx->pat;
	}
	return NULL;
}

static int vmx_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data)
{
	unsigned long field = msr_field(index);
	u64 *soft;

	if (index == MSR_EFER) {
		*data = get_efer(vmx_get(vcpu));
		vmx_put();
		return 0;
	}
	if (field) {
		vmx_get(vcpu);
		*data = vmcs_read(field);
		vmx_put();
		return 0;
	}
	soft = msr_soft(to_vmx(vcpu), index);
	if (!soft)
		return -ENOENT;
	*data = *soft;
	return 0;
}

static int vmx_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data, bool host)
{
	unsigned long field = msr_field(index);
	u64 *soft = msr_soft(to_vmx(vcpu), index);

	/* core/msr.c checked the value; LMA is already the CPU's. */
	switch (index) {
	case MSR_EFER:
		set_efer(vmx_get(vcpu), data);
		vmx_put();
		return 0;
	case MSR_IA32_SYSENTER_CS:
		data = (u32)data;
		break;
	}
	if (field) {
		vmx_get(vcpu);
		vmcs_write(field, data);
		vmx_put();
		return 0;
	}
	if (!soft)
		return -ENOENT;
	*soft = data;
	return 0;
}

static u64 vmx_get_dr(struct modvm_vcpu *vcpu, int dr)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 v;

	if (dr < 4)
		return vmx->db[dr];
	if (dr == 6)
		return vmx->dr6;
	vmx_get(vcpu);
	v = vmcs_read(GUEST_DR7);
	vmx_put();
	return v;
}

static void vmx_set_dr(struct modvm_vcpu *vcpu, int dr, u64 value)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	if (dr < 4) {
		vmx->db[dr] = value;
	} else if (dr == 6) {
		vmx->dr6 = value | MODVM_DR6_INIT;
	} else {
		vmx_get(vcpu);
		vmcs_write(GUEST_DR7, value | MODVM_DR7_INIT);
		vmx_put();
	}
}

/* Called with IRQs off and the VMCS maybe elsewhere: run() writes it. */
static void vmx_inject_exception(struct modvm_vcpu *vcpu,
				 const struct modvm_exception *ex)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	vmx->inject_info = ex->vector | INTR_INFO_VALID_MASK |
			   (ex->soft ? INTR_TYPE_SOFT_EXCEPTION :
				       INTR_TYPE_HARD_EXCEPTION) |
			   (ex->has_error ? INTR_INFO_DELIVER_CODE_MASK : 0);
	vmx->inject_err = ex->error_code;
	vmx->inject_len = ex->insn_len;
	if (ex->has_cr2)
		vmx->cr2 = ex->cr2;
}

static void vmx_inject_nmi(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	vmx->inject_info = X86_TRAP_NMI | INTR_TYPE_NMI_INTR |
			   INTR_INFO_VALID_MASK;
	/* With virtual NMIs the CPU blocks the next one until IRET. */
	if (!vmx_caps.vnmi)
		vmx->soft_nmi_masked = true;
}

static void vmx_inject_irq(struct modvm_vcpu *vcpu,
			   const struct modvm_interrupt *irq)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	bool soft = irq->soft && irq->insn_len;

	vmx->inject_info = irq->nr | INTR_INFO_VALID_MASK |
			   (soft ? INTR_TYPE_SOFT_INTR : INTR_TYPE_EXT_INTR);
	vmx->inject_len = irq->insn_len;
}

static void vmx_set_event_windows(struct modvm_vcpu *vcpu, bool irq, bool nmi)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	vmx->irq_window = irq;
	/*
	 * Without virtual NMIs there is no NMI window: the next exit
	 * (a host tick at the latest) lets core look again.
	 */
	vmx->nmi_window = nmi && vmx_caps.vnmi;
}

static u32 vmx_get_interrupt_shadow(struct modvm_vcpu *vcpu)
{
	u32 intr, mask = 0;

	/* A shadow ends with the instruction after STI/MOV SS. */
	if (vcpu->rip != to_vmx(vcpu)->exit_rip)
		return 0;
	vmx_get(vcpu);
	intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	vmx_put();
	if (intr & GUEST_INTR_STATE_STI)
		mask |= KVM_X86_SHADOW_INT_STI;
	if (intr & GUEST_INTR_STATE_MOV_SS)
		mask |= KVM_X86_SHADOW_INT_MOV_SS;
	return mask;
}

static void vmx_set_interrupt_shadow(struct modvm_vcpu *vcpu, u32 mask)
{
	struct vmx_vcpu *vmx = vmx_get(vcpu);
	u32 intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		   ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);

	if (mask & KVM_X86_SHADOW_INT_STI)
		intr |= GUEST_INTR_STATE_STI;
	if (mask & KVM_X86_SHADOW_INT_MOV_SS)
		intr |= GUEST_INTR_STATE_MOV_SS;
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr);
	vmx_put();
	/* The shadow is for the instruction at the current RIP. */
	vmx->exit_rip = vcpu->rip;
}

static bool vmx_get_nmi_masked(struct modvm_vcpu *vcpu)
{
	bool masked;

	if (!vmx_caps.vnmi)
		return to_vmx(vcpu)->soft_nmi_masked;
	vmx_get(vcpu);
	masked = vmcs_read(GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_STATE_NMI;
	vmx_put();
	return masked;
}

/* The VMCS is current. */
static void write_nmi_masked(struct vmx_vcpu *vmx, bool masked)
{
	if (!vmx_caps.vnmi)
		vmx->soft_nmi_masked = masked;
	else if (masked)
		vmcs_set_bits(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
	else
		vmcs_clear_bits(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
}

static void vmx_set_nmi_masked(struct modvm_vcpu *vcpu, bool masked)
{
	write_nmi_masked(vmx_get(vcpu), masked);
	vmx_put();
}

static u8 vmx_get_cr8(struct modvm_vcpu *vcpu)
{
	return to_vmx(vcpu)->cr8;
}

static void vmx_set_cr8(struct modvm_vcpu *vcpu, u8 cr8)
{
	to_vmx(vcpu)->cr8 = cr8 & 0xf;
}

/* An IDT-vectoring (or entry) interruption field, in core's terms. */
static void info_to_event(u32 info, u32 err, u32 len, struct modvm_event *ev)
{
	ev->type = MODVM_EVENT_NONE;
	if (!(info & INTR_INFO_VALID_MASK))
		return;
	ev->vector = info & INTR_INFO_VECTOR_MASK;
	ev->has_error = info & INTR_INFO_DELIVER_CODE_MASK;
	ev->error_code = err;
	ev->insn_len = len;
	switch (info & INTR_INFO_INTR_TYPE_MASK) {
	case INTR_TYPE_EXT_INTR:
		ev->type = MODVM_EVENT_INTR;
		break;
	case INTR_TYPE_NMI_INTR:
		ev->type = MODVM_EVENT_NMI;
		break;
	case INTR_TYPE_HARD_EXCEPTION:
		ev->type = MODVM_EVENT_EXCEPTION;
		break;
	case INTR_TYPE_SOFT_INTR:
		ev->type = MODVM_EVENT_SOFT_INTR;
		break;
	default:	/* INT3, INTO, ICEBP */
		ev->type = MODVM_EVENT_SOFT_EXCEPTION;
	}
}

/* Event delivery that an exit interrupted, for core to deliver again. */
static void save_interrupted_event(struct vmx_vcpu *vmx, struct modvm_exit *exit)
{
	u32 info = vmcs_read(IDT_VECTORING_INFO_FIELD);
	u32 err = 0, len = 0;

	if (!(info & VECTORING_INFO_VALID_MASK)) {
		exit->interrupted.type = MODVM_EVENT_NONE;
		return;
	}
	if (info & VECTORING_INFO_DELIVER_CODE_MASK)
		err = vmcs_read(IDT_VECTORING_ERROR_CODE);
	/* Software events are given again with their instruction's length. */
	if ((info & INTR_INFO_INTR_TYPE_MASK) != INTR_TYPE_EXT_INTR &&
	    (info & INTR_INFO_INTR_TYPE_MASK) != INTR_TYPE_NMI_INTR &&
	    (info & INTR_INFO_INTR_TYPE_MASK) != INTR_TYPE_HARD_EXCEPTION)
		len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	info_to_event(info, err, len, &exit->interrupted);
	/* An NMI not delivered blocks nothing until it is injected again. */
	if (exit->interrupted.type == MODVM_EVENT_NMI)
		write_nmi_masked(vmx, false);
}

/* The event for this entry, and the window exits wanted. */
static void write_event(struct vmx_vcpu *vmx)
{
	u32 info = vmx->inject_info;
	u32 type = info & INTR_INFO_INTR_TYPE_MASK;

	if (vmx->irq_window)
		vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING);
	else
		vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING);
	if (vmx->nmi_window)
		vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_NMI_WINDOW_EXITING);
	else if (vmx_caps.vnmi)
		vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_NMI_WINDOW_EXITING);

	vmx->inject_info = 0;
	if (!(info & INTR_INFO_VALID_MASK)) {
		vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
		return;
	}
	/* Real mode pushes no error codes; the CPU refuses one there. */
	if (!(vmcs_read(GUEST_CR0) & X86_CR0_PE))
		info &= ~INTR_INFO_DELIVER_CODE_MASK;
	if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
	    type == INTR_TYPE_PRIV_SW_EXCEPTION)
		vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vmx->inject_len);
	vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, vmx->inject_err);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
}

/*
 * MOV to/from CR0, CR4 or CR8 that exited (the others do not).
 *
 * CR0: only the bits the CPU forces (CR0.NE) make a write exit. The read
 * shadow takes the guest's value and the guest executes the MOV again;
 * now nothing differs from the shadow, so the CPU completes it natively,
 * with its own checks, paging-mode switch and PDPTE loads.
 *
 * CR4: the bits we own are VMXE and those the guest may not set, so a
 * write that exits sets a reserved bit: #GP.
 *
 * CR8: without an in-kernel local APIC, the TPR is a plain register.
 */
static void handle_cr(struct modvm_vcpu *vcpu, struct modvm_exit *exit)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	int cr = q & CONTROL_REG_ACCESS_NUM;
	int type = (q & CONTROL_REG_ACCESS_TYPE) >> 4;
	int reg = (q >> 8) & 0xf;
	u64 val = vcpu->gprs[reg];

	exit->type = MODVM_EXIT_REENTER;
	if (!modvm_tdp && cr != 8) {
		/* Shadow paging: every CR0/CR3/CR4 access is core's. */
		exit->type = MODVM_EXIT_CR;
		exit->cr.cr = cr;
		exit->cr.write = type != CR_ACCESS_MOV_FROM;
		exit->cr.gpr = reg;
		exit->cr.kind = type == 2 ? MODVM_CR_CLTS :
				type == 3 ? MODVM_CR_LMSW : MODVM_CR_MOV;
		exit->cr.lmsw = q >> 16;
		exit->insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		return;
	}
	if (type == CR_ACCESS_MOV_TO && cr == 0) {
		if (val >> 32) {
			modvm_inject_gp(vcpu);
			return;
		}
		vmcs_write(CR0_READ_SHADOW,
			   (vmcs_read(CR0_READ_SHADOW) & ~vmx_caps.cr0_mask) |
			   (val & vmx_caps.cr0_mask));
	} else if (type == CR_ACCESS_MOV_TO && cr == 4) {
		modvm_inject_gp(vcpu);
	} else if (type == CR_ACCESS_MOV_TO && cr == 8) {
		if (val & ~0xfULL) {
			modvm_inject_gp(vcpu);
			return;
		}
		vmx->cr8 = val;
		exit->type = MODVM_EXIT_NOP_INSN;
	} else if (type == CR_ACCESS_MOV_FROM && cr == 8) {
		vcpu->gprs[reg] = vmx->cr8;
		exit->type = MODVM_EXIT_NOP_INSN;
	} else {
		exit->type = MODVM_EXIT_UNHANDLED;
	}
}

/*
 * An exception in vm86 mode, where every one exits (realmode.c): #GP is
 * an instruction to emulate, or an INT n that met the empty IDT; the
 * others are the guest's, delivered through its IVT.
 */
static void rmode_exception(struct modvm_vcpu *vcpu, struct modvm_exit *exit,
			    u8 vector, u32 type)
{
	struct vmx_rmode *rm = &to_vmx(vcpu)->rmode;

	if (vector == X86_TRAP_GP) {
		/* Error code bit 1: the IDT entry of an INT n. */
		if (vmcs_read(VM_EXIT_INTR_ERROR_CODE) & 2) {
			/* Being delivered: core injects it again (the IVT). */
			if (exit->interrupted.type != MODVM_EVENT_NONE)
				return;
			rm->todo = RMODE_INT;
		} else {
			rm->todo = RMODE_GP;
		}
		exit->type = MODVM_EXIT_BACKEND;
		return;
	}
	/* INT3, INTO: traps, the guest resumes after them. */
	if (type == INTR_TYPE_SOFT_EXCEPTION)
		vcpu->rip += vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	modvm_queue_exception(vcpu, vector, false, 0);
}

/*
 * An exception or NMI exit: NMIs, #MC, #AC, #DB, (shadow paging) #PF and
 * (@rmode: a real-mode guest in vm86) every other exception.
 */
static void handle_exception(struct modvm_vcpu *vcpu, struct modvm_exit *exit,
			     bool rmode)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u32 info = vmcs_read(VM_EXIT_INTR_INFO);
	u32 type = info & INTR_INFO_INTR_TYPE_MASK;
	u8 vector = info & INTR_INFO_VECTOR_MASK;

	exit->type = MODVM_EXIT_REENTER;
	if (type == INTR_TYPE_NMI_INTR) {
		/* The host's NMI: hand it to the host's handler now. */
		asm volatile("int $2");
		return;
	}
	switch (vector) {
	case X86_TRAP_MC:
		modvm_host_machine_check();
		return;
	case X86_TRAP_PF:
		exit->type = MODVM_EXIT_PAGE_FAULT;
		exit->pf.addr = vmcs_read(EXIT_QUALIFICATION);
		exit->pf.error_code = vmcs_read(VM_EXIT_INTR_ERROR_CODE);
		return;
	case X86_TRAP_AC:
		modvm_queue_exception(vcpu, X86_TRAP_AC, true, 0);
		return;
	case X86_TRAP_DB:
		/* The exit left DR6 alone; the qualification has its bits. */
		vmx->dr6 = (vmx->dr6 & ~(DR_TRAP_BITS | DR_STEP)) |
			   (vmcs_read(EXIT_QUALIFICATION) & (DR_TRAP_BITS | DR_STEP));
		/* ICEBP is a trap: the guest resumes after it. */
		if (type == INTR_TYPE_PRIV_SW_EXCEPTION)
			vcpu->rip += vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		modvm_queue_exception(vcpu, X86_TRAP_DB, false, 0);
		return;
	}
	if (rmode) {
		rmode_exception(vcpu, exit, vector, type);
		return;
	}
	exit->type = MODVM_EXIT_UNHANDLED;
}

static void decode_exit(struct modvm_vcpu *vcpu, struct modvm_exit *exit,
			u32 reason, bool rmode)
{
	u64 q;

	exit->hw_reason = reason;
	exit->insn_len = 0;
	/* The machine check hit the entry: the host handles it first. */
	if ((reason & 0xffff) == EXIT_REASON_MCE_DURING_VMENTRY)
		modvm_host_machine_check();
	if (reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		/* KVM reports the whole exit reason, bit 31 included. */
		exit->type = MODVM_EXIT_FAIL_ENTRY;
		return;
	}
	switch (reason & 0xffff) {
	case EXIT_REASON_EXTERNAL_INTERRUPT:
	case EXIT_REASON_PREEMPTION_TIMER:
	case EXIT_REASON_INTERRUPT_WINDOW:
	case EXIT_REASON_NMI_WINDOW:
		/* Still pending in the APIC: taken once core enables IRQs. */
		exit->type = MODVM_EXIT_REENTER;
		return;
	case EXIT_REASON_EXCEPTION_NMI:
		handle_exception(vcpu, exit, rmode);
		return;
	case EXIT_REASON_TRIPLE_FAULT:
		exit->type = MODVM_EXIT_SHUTDOWN;
		exit->interrupted.type = MODVM_EVENT_NONE;
		return;
	case EXIT_REASON_CPUID:
		exit->type = MODVM_EXIT_CPUID;
		break;
	case EXIT_REASON_HLT:
		exit->type = MODVM_EXIT_HLT;
		break;
	case EXIT_REASON_MSR_READ:
		exit->type = MODVM_EXIT_RDMSR;
		break;
	case EXIT_REASON_MSR_WRITE:
		exit->type = MODVM_EXIT_WRMSR;
		break;
	case EXIT_REASON_IO_INSTRUCTION:
		q = vmcs_read(EXIT_QUALIFICATION);
		exit->type = MODVM_EXIT_IO;
		exit->io.port = q >> 16;
		exit->io.size = (q & IO_SIZE_MASK) + 1;
		exit->io.in = q & IO_IN;
		exit->io.string = q & IO_STRING;
		exit->io.rep = q & IO_REP;
		break;
	case EXIT_REASON_XSETBV:
		exit->type = MODVM_EXIT_XSETBV;
		break;
	case EXIT_REASON_RDPMC:
		exit->type = MODVM_EXIT_RDPMC;
		return;
	case EXIT_REASON_RDTSC:
		exit->type = MODVM_EXIT_RDTSC;
		break;
	case EXIT_REASON_PAUSE_INSTRUCTION:
		/*
		 * PAUSE exiting, for an entry with IF=0 on a CPU without the
		 * preemption timer, only lets the host in: every PAUSE exits,
		 * and yielding on each would slow the guest. Pause-loop
		 * exiting says the guest is stuck in a loop.
		 */
		exit->type = to_vmx(vcpu)->spin_exiting ? MODVM_EXIT_NOP_INSN :
							  MODVM_EXIT_SPIN;
		break;
	case EXIT_REASON_VMCALL:
		exit->type = MODVM_EXIT_HYPERCALL;
		break;
	case EXIT_REASON_INVD:
	case EXIT_REASON_WBINVD:
	/*
	 * Where INVLPG exiting cannot be turned off: the shadow is never
	 * stale, and without VPID the entry flushes the TLB anyway.
	 */
	case EXIT_REASON_INVLPG:
		exit->type = MODVM_EXIT_NOP_INSN;
		break;
	case EXIT_REASON_CR_ACCESS:
		handle_cr(vcpu, exit);
		if (exit->type != MODVM_EXIT_NOP_INSN)
			return;
		break;
	case EXIT_REASON_VMCLEAR: case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD: case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMREAD: case EXIT_REASON_VMRESUME:
	case EXIT_REASON_VMWRITE: case EXIT_REASON_VMOFF:
	case EXIT_REASON_VMON: case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID: case EXIT_REASON_VMFUNC:
	case EXIT_REASON_MONITOR_INSTRUCTION:
	case EXIT_REASON_MWAIT_INSTRUCTION:
	case EXIT_REASON_GETSEC: case EXIT_REASON_RSM:
		exit->type = MODVM_EXIT_UD;
		return;
	case EXIT_REASON_TASK_SWITCH:
		/* Unconditional: core carries it out (IDT gate: the event too). */
		q = vmcs_read(EXIT_QUALIFICATION);
		exit->type = MODVM_EXIT_TASK_SWITCH;
		exit->task.selector = q & 0xffff;
		/* Bits 31:30 are CALL, IRET, JMP, IDT gate: modvm's order. */
		exit->task.source = (q >> 30) & 3;
		/* Events through a gate, soft ones too, are re-injected ones. */
		exit->task.insn = exit->task.source != MODVM_TASK_SWITCH_GATE;
		break;
	case EXIT_REASON_EPT_VIOLATION:
		q = vmcs_read(EXIT_QUALIFICATION);
		exit->type = MODVM_EXIT_TDP_FAULT;
		exit->tdp.gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
		exit->tdp.write = q & EPT_VIOLATION_ACC_WRITE;
		exit->tdp.fetch = q & EPT_VIOLATION_ACC_INSTR;
		return;
	default:
		/* EPT misconfiguration included: our tables are never wrong. */
		exit->type = MODVM_EXIT_UNHANDLED;
		return;
	}
	exit->insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
}

/*
 * Bochs (2.7) re-evaluates interrupt masking only when RFLAGS.IF changes,
 * and VM entry into a guest with IF=0 from a host with IF=0 changes
 * nothing: host interrupts then stay masked until the guest sets IF, so
 * a guest spinning with IF=0 would hold the CPU forever (no tick, no
 * signal). The VMX-preemption timer, armed only for entries with IF=0,
 * bounds such a stretch to one host tick; the interrupts are then taken
 * as usual once core enables IRQs. On hardware it costs one exit per tick
 * of a guest that runs with interrupts off.
 *
 * CPUs without the timer (bochs' Core 2 in vmx-shadow) get PAUSE and
 * RDTSC exiting for those entries instead: a guest that waits with
 * interrupts off spins with PAUSE (spinlocks, polling another vCPU) or
 * polls the TSC (Linux's delay loops, calibrations), and each such
 * instruction then gives the host its interrupts and scheduler. A loop
 * with neither and no other exit is not bounded there.
 */
static void arm_preemption_timer(struct modvm_vcpu *vcpu, struct vmx_vcpu *vmx)
{
	bool arm = vmx_caps.ptimer && !(vcpu->rflags & X86_EFLAGS_IF);
	bool spin = vmx_caps.spin_exits && !(vcpu->rflags & X86_EFLAGS_IF);

	if (spin != vmx->spin_exiting) {
		if (spin)
			vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL,
				      vmx_caps.spin_exits);
		else
			vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL,
					vmx_caps.spin_exits);
		vmx->spin_exiting = spin;
	}

	if (arm)
		vmcs_write(VMX_PREEMPTION_TIMER_VALUE, vmx_caps.ptimer_value);
	if (arm == vmx->ptimer_armed)
		return;
	if (arm)
		vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL,
			      PIN_BASED_VMX_PREEMPTION_TIMER);
	else
		vmcs_clear_bits(PIN_BASED_VM_EXEC_CONTROL,
				PIN_BASED_VMX_PREEMPTION_TIMER);
	vmx->ptimer_armed = arm;
}

/* Guest state that run() writes into the VMCS before each entry. */
static void write_guest_state(struct modvm_vcpu *vcpu, struct vmx_vcpu *vmx)
{
	u32 intr;

	vmcs_write(GUEST_RIP, vcpu->rip);
	vmcs_write(GUEST_RSP, vcpu->gprs[MODVM_RSP]);
	vmcs_write(GUEST_RFLAGS, vcpu->rflags);
	vmcs_write(TSC_OFFSET, vcpu->tsc_offset);

	intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) {
		/*
		 * An STI/MOV SS shadow ends with the next instruction: after
		 * core stepped over one (or userspace moved RIP), it is gone.
		 * The CPU refuses STI blocking with IF clear, and wants a
		 * pending single-step #DB noted when TF is set in a shadow.
		 */
		if (vcpu->rip != vmx->exit_rip)
			intr &= ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);
		if (!(vcpu->rflags & X86_EFLAGS_IF))
			intr &= ~GUEST_INTR_STATE_STI;
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr);
		if ((intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) &&
		    (vcpu->rflags & X86_EFLAGS_TF))
			vmcs_set_bits(GUEST_PENDING_DBG_EXCEPTIONS, DR_STEP);
	}
	write_event(vmx);
	arm_preemption_timer(vcpu, vmx);
}

/* Host state of this task that the next exit must restore. */
struct host_state {
	u16 ds, es, fs, gs, ldt;
	unsigned long fs_base, kernel_gs_base, debugctl;
	struct desc_ptr gdt, idt;
};

static void write_host_task_state(struct vmx_vcpu *vmx, struct host_state *h)
{
	unsigned long cr3 = __read_cr3(), cr4 = cr4_read_shadow();

	/* CR3 changes with the process (and its PCID on this CPU). */
	if (cr3 != vmx->host_cr3) {
		vmcs_write(HOST_CR3, cr3);
		vmx->host_cr3 = cr3;
	}
	if (cr4 != vmx->host_cr4) {
		vmcs_write(HOST_CR4, cr4);
		vmx->host_cr4 = cr4;
	}
	savesegment(ds, h->ds);
	savesegment(es, h->es);
	savesegment(fs, h->fs);
	savesegment(gs, h->gs);
	asm volatile("sldt %0" : "=g" (h->ldt));
	rdmsrl(MSR_FS_BASE, h->fs_base);
	vmcs_write(HOST_FS_BASE, h->fs_base);
	native_store_gdt(&h->gdt);
	store_idt(&h->idt);
	/* The exit clears IA32_DEBUGCTL. */
	h->debugctl = vmx_has_debugctl ? get_debugctlmsr() : 0;
}

/*
 * The VM exit left segment registers, descriptor-table limits, TR and
 * LDTR in a state of its own (SDM 28.5.2): put the host's back.
 */
static void restore_host_task_state(struct host_state *h)
{
	if (h->gdt.size != 0xffff)
		native_load_gdt(&h->gdt);
	if (h->idt.size != 0xffff)
		native_load_idt(&h->idt);
	/* TR's limit is now 0x67; Linux reloads it when an I/O bitmap needs it. */
	invalidate_tss_limit();
	if (h->ldt)
		asm volatile("lldt %0" : : "rm" (h->ldt));
	if (h->ds)
		loadsegment(ds, h->ds);
	if (h->es)
		loadsegment(es, h->es);
	if (h->fs) {
		loadsegment(fs, h->fs);
		wrmsrl(MSR_FS_BASE, h->fs_base);
	}
	/* This clobbers KERNEL_GS_BASE (the task's user GS base). */
	if (h->gs) {
		load_gs_index(h->gs);
		wrmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	}
	if (h->debugctl)
		update_debugctlmsr(h->debugctl);
}

/* DR7 is in the VMCS; DR6 is not, and VM exits leave it alone. */
static void load_guest_debug(struct vmx_vcpu *vmx)
{
	modvm_load_guest_db(vmx->db);
	set_debugreg(vmx->dr6, 6);
}

static void save_guest_debug(struct vmx_vcpu *vmx)
{
	get_debugreg(vmx->dr6, 6);
	set_debugreg(DR6_RESERVED, 6);
	modvm_save_guest_db(vmx->db);
}

/*
 * MSRs a VM exit does not restore: KERNEL_GS_BASE, STAR, LSTAR, CSTAR,
 * SFMASK and TSC_AUX, and EFER on CPUs without the VMCS EFER controls
 * (there a VM exit sets only EFER.LMA/LME, leaving the guest's SCE and
 * NXE). (FS/GS base, EFER, PAT and SYSENTER_* the CPU otherwise
 * switches through VMCS fields.) They go through the VMCS MSR lists: the
 * entry loads the guest's values, the exit stores the guest's
 * KERNEL_GS_BASE (the only one that changes without an exit: SWAPGS and
 * the pass-through WRMSR) and loads the host's values.
 *
 * Measured against the earlier scheme, RDMSR/WRMSR in C around the entry
 * (KERNEL_GS_BASE always, the others when guest and host differ, which
 * they do for a Linux guest), with bench/exit_cost 2000 in vmx-ept,
 * three alternating runs in one boot, guest TSC cycles per exit:
 *	CPUID exit:		WRMSR 1059-1075, lists 947-952 (-11%)
 *	port I/O to userspace:	WRMSR 2165-2173, lists 2054-2058 (-5%)
 * Bochs' time follows the instruction count, so the lists' microcode is
 * nearly free there, and the C scheme pays for its instructions; on
 * hardware each list entry costs about a WRMSR. The lists are kept as
 * the faster measured; neither is lazy (KVM restores most of these only
 * on return to userspace), which would be the next step for exit-heavy
 * guests.
 */
static void load_guest_msrs(struct vmx_vcpu *vmx, struct vmx_cpu *vc,
			    struct host_state *h)
{
	struct vmx_msr_lists *l = vmx->lists;
	int i;

	l->guest[SW_KERNEL_GS_BASE].value = vmx->kernel_gs_base;
	l->guest[SW_STAR].value = vmx->star;
	l->guest[SW_LSTAR].value = vmx->lstar;
	l->guest[SW_CSTAR].value = vmx->cstar;
	l->guest[SW_SFMASK].value = vmx->sfmask;
	/* The task's user GS base: it changes with the task. */
	rdmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	l->host[SW_KERNEL_GS_BASE].value = h->kernel_gs_base;
	l->host[SW_STAR].value = vc->star;
	l->host[SW_LSTAR].value = vc->lstar;
	l->host[SW_CSTAR].value = vc->cstar;
	l->host[SW_SFMASK].value = vc->sfmask;
	i = SW_ALWAYS;
	if (vmx_caps.rdtscp) {
		l->guest[i].value = vmx->vcpu->tsc_aux;
		l->host[i++].value = vc->tsc_aux;
	}
	if (!vmx_caps.efer) {
		l->guest[i].value = hw_efer(vmx->efer);
		l->host[i].value = vc->efer;
	}
}

static void flush_guest_tlb(struct modvm_vcpu *vcpu)
{
	/* Shadow paging runs without VPID: every entry flushes. */
	if (!modvm_tdp)
		return;
	/*
	 * Single-context INVEPT drops the guest-physical and combined
	 * (linear) translations of this EPTP, whatever their VPID.
	 */
	ept_sync(vmx_caps.invept_type, ept_pointer(vcpu));
}

/*
 * VMLAUNCH or VMRESUME; retries once if the launch state was wrong.
 * Returns as modvm_vmx_vmenter(): 0 after an exit, 1 VMfail, 2 fault.
 */
static int enter_guest(struct modvm_vcpu *vcpu, struct vmx_vcpu *vmx)
{
	int tries, r = 1;
	u32 err;

	for (tries = 0; tries < 2; tries++) {
		r = modvm_vmx_vmenter(vcpu->gprs, vmx->launched);
		if (r != 1)
			return r;
		err = vmcs_read(VM_INSTRUCTION_ERROR);
		if (err == VMXERR_VMLAUNCH_NONCLEAR)
			vmx->launched = true;
		else if (err == VMXERR_VMRESUME_NONLAUNCHED)
			vmx->launched = false;
		else
			break;
	}
	return r;
}

/*
 * Shadow paging: from here to the exit the VMCS holds what the hardware
 * runs with (the guest's CR0/CR4 stay in the read shadows, its CR3 is put
 * back after the exit): the shadow root, paging and write protection
 * always on, PAE for every shadow that is not 4-level, no global pages,
 * and long mode only when the guest has it.
 */
static void shadow_enter(struct modvm_vcpu *vcpu, struct vmx_vcpu *vmx,
			 u64 *guest_cr3, u64 *guest_efer)
{
	u64 cr0 = vmcs_read(CR0_READ_SHADOW) | X86_CR0_PG | X86_CR0_WP;
	u64 cr4 = (vmcs_read(CR4_READ_SHADOW) | X86_CR4_PAE) & ~X86_CR4_PGE;

	*guest_cr3 = vmcs_read(GUEST_CR3);
	*guest_efer = vmx->efer;
	vmcs_write(GUEST_CR3, vcpu->shadow.hw_cr3);
	vmcs_write(GUEST_CR0, (cr0 | vmx_caps.cr0_fixed0) & vmx_caps.cr0_fixed1);
	vmcs_write(GUEST_CR4, (cr4 | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1);
	if (vcpu->shadow.pae)
		set_efer(vmx, vmx->efer & ~(EFER_LME | EFER_LMA));
}

static void shadow_exit(struct vmx_vcpu *vmx, u64 guest_cr3, u64 guest_efer)
{
	vmcs_write(GUEST_CR3, guest_cr3);
	set_efer(vmx, guest_efer);
}

/*
 * Real mode without unrestricted guest (realmode.c): true to enter in
 * vm86 mode. False, not entering, for an event to deliver through the
 * IVT or a state vm86 cannot hold: MODVM_EXIT_BACKEND has
 * vmx_rmode_complete() do it.
 */
static bool rmode_prepare(struct vmx_vcpu *vmx, struct modvm_exit *exit)
{
	struct vmx_rmode *rm = &vmx->rmode;

	if (vmx->inject_info & INTR_INFO_VALID_MASK) {
		rm->todo = RMODE_EVENT;
		rm->event_info = vmx->inject_info;
		rm->event_len = vmx->inject_len;
		vmx->inject_info = 0;
	} else if (!vmx_rmode_enter(rm)) {
		rm->todo = RMODE_STEP;
	} else {
		return true;
	}
	exit->type = MODVM_EXIT_BACKEND;
	return false;
}

static int vmx_complete_exit(struct modvm_vcpu *vcpu, struct modvm_exit *next)
{
	return vmx_rmode_complete(vcpu, &to_vmx(vcpu)->rmode, next);
}

static void vmx_run(struct modvm_vcpu *vcpu, struct modvm_exit *exit)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	struct vmx_cpu *vc;
	struct host_state h;
	int cpu = smp_processor_id();
	u64 guest_cr3 = 0, guest_efer = 0, iopl = 0;
	bool rmode;
	u32 reason;
	int r;

	exit->insn_len = 0;
	exit->hw_reason = 0;
	if (READ_ONCE(vmx->cpu) >= 0 && READ_ONCE(vmx->cpu) != cpu) {
		/*
		 * The VMCS is active on the CPU this vCPU last ran on: VMCLEAR
		 * it there, by IPI, which needs IRQs. Preemption stays off,
		 * so we stay here; whatever arrived meanwhile is handled
		 * before entering.
		 */
		local_irq_enable();
		vmcs_clear_anywhere(vmx);
		local_irq_disable();
		if (need_resched() || signal_pending(current) ||
		    (READ_ONCE(vcpu->requests) & ~BIT(MODVM_REQ_TLB_FLUSH))) {
			/* Not entered: core gets its event back for later. */
			info_to_event(vmx->inject_info, vmx->inject_err,
				      vmx->inject_len, &exit->interrupted);
			vmx->inject_info = 0;
			exit->type = MODVM_EXIT_REENTER;
			return;
		}
	}
	vmx_load(vmx);
	vc = this_cpu_ptr(&vmx_cpus);
	/* Without unrestricted guest the CPU runs real mode as vm86. */
	rmode = !vmx_caps.tdp && !(vmcs_read(CR0_READ_SHADOW) & X86_CR0_PE);
	if (rmode && !rmode_prepare(vmx, exit))
		return;

	if (test_and_clear_bit(MODVM_REQ_TLB_FLUSH, &vcpu->requests))
		vmx->need_flush = true;
	if (vmx->need_flush) {
		flush_guest_tlb(vcpu);
		vmx->need_flush = false;
	}

	if (!modvm_tdp)
		shadow_enter(vcpu, vmx, &guest_cr3, &guest_efer);
	write_guest_state(vcpu, vmx);
	if (rmode) {
		/* IOPL 3: CLI, STI, PUSHF, POPF, IRET run natively. */
		iopl = vcpu->rflags & X86_EFLAGS_IOPL;
		vmcs_write(GUEST_RFLAGS, vcpu->rflags | X86_EFLAGS_VM |
			   X86_EFLAGS_IOPL);
		/* No VME: INT n and CLI/STI behave as with IOPL 3 alone. */
		vmcs_write(GUEST_CR4, vmcs_read(GUEST_CR4) &
			   ~(X86_CR4_VME | X86_CR4_PVI));
	}
	write_host_task_state(vmx, &h);
	load_guest_debug(vmx);
	load_guest_msrs(vmx, vc, &h);
	/* The host may take no #PF between here and the entry. */
	if (native_read_cr2() != vmx->cr2)
		native_write_cr2(vmx->cr2);

	r = enter_guest(vcpu, vmx);
	if (r) {
		u32 err = r == 1 ? vmcs_read(VM_INSTRUCTION_ERROR) : 0;

		/* VMfail or fault: no list was processed. */
		if (!modvm_tdp)
			shadow_exit(vmx, guest_cr3, guest_efer);
		if (rmode)
			vmx_rmode_leave(&vmx->rmode);
		save_guest_debug(vmx);
		/* Nothing was loaded: a bug in our controls or host state. */
		if (r == 1)
			pr_err_ratelimited("VM entry failed: VM-instruction error %u\n",
					   err);
		else
			modvm_hw_fault("vmlaunch/vmresume");
		exit->type = MODVM_EXIT_FAIL_ENTRY;
		exit->hw_reason = err;
		return;
	}

	vmx->cr2 = native_read_cr2();
	restore_host_task_state(&h);
	vmx->kernel_gs_base = vmx->lists->kgs.value;
	save_guest_debug(vmx);
	if (!modvm_tdp)
		shadow_exit(vmx, guest_cr3, guest_efer);
	if (rmode)
		vmx_rmode_leave(&vmx->rmode);

	reason = vmcs_read(VM_EXIT_REASON);
	if (!(reason & VMX_EXIT_REASONS_FAILED_VMENTRY)) {
		vmx->launched = true;
		vcpu->rip = vmcs_read(GUEST_RIP);
		vcpu->gprs[MODVM_RSP] = vmcs_read(GUEST_RSP);
		vcpu->rflags = vmcs_read(GUEST_RFLAGS);
		if (rmode)
			vcpu->rflags = (vcpu->rflags & ~(X86_EFLAGS_VM |
							 X86_EFLAGS_IOPL)) | iopl;
		save_interrupted_event(vmx, exit);
		/* Without virtual NMIs, an exit is as close to IRET as we see. */
		if (!vmx_caps.vnmi && exit->interrupted.type != MODVM_EVENT_NMI)
			vmx->soft_nmi_masked = false;
	}
	vmx->exit_rip = vcpu->rip;
	decode_exit(vcpu, exit, reason, rmode);
}

static u64 ept_make_leaf(u64 pfn, bool writable, int level)
{
	return (pfn << PAGE_SHIFT) | EPT_READ | EPT_EXEC | EPT_MEMTYPE_WB |
	       (writable ? EPT_WRITE : 0) | (level > 1 ? EPT_LARGE : 0);
}

static u64 ept_make_table(u64 table_pa)
{
	return table_pa | EPT_READ | EPT_WRITE | EPT_EXEC;
}

static bool ept_present(u64 pte)
{
	return pte & (EPT_READ | EPT_WRITE | EPT_EXEC);
}

static bool ept_huge(u64 pte)
{
	return pte & EPT_LARGE;
}

static int ept_max_level(void)
{
	return vmx_caps.ept_max_level;
}

static const struct modvm_tdp_format ept_format = {
	.make_leaf = ept_make_leaf,
	.make_table = ept_make_table,
	.present = ept_present,
	.huge = ept_huge,
	.max_level = ept_max_level,
};

const struct modvm_backend_ops modvm_vmx_ops = {
	.name = "vmx",
	.probe = vmx_probe,
	.setup = vmx_setup,
	.unsetup = vmx_unsetup,
	.cpu_enable = vmx_cpu_enable,
	.cpu_disable = vmx_cpu_disable,
	.vcpu_create = vmx_vcpu_create,
	.vcpu_free = vmx_vcpu_free,
	.vcpu_reset = vmx_vcpu_reset,
	.run = vmx_run,
	.get_sregs = vmx_get_sregs,
	.set_sregs = vmx_set_sregs,
	.get_paging = vmx_get_paging,
	.get_msr = vmx_get_msr,
	.set_msr = vmx_set_msr,
	.get_dr = vmx_get_dr,
	.set_dr = vmx_set_dr,
	.inject_exception = vmx_inject_exception,
	.inject_nmi = vmx_inject_nmi,
	.inject_irq = vmx_inject_irq,
	.set_event_windows = vmx_set_event_windows,
	.get_interrupt_shadow = vmx_get_interrupt_shadow,
	.set_interrupt_shadow = vmx_set_interrupt_shadow,
	.get_nmi_masked = vmx_get_nmi_masked,
	.set_nmi_masked = vmx_set_nmi_masked,
	.get_cr8 = vmx_get_cr8,
	.set_cr8 = vmx_set_cr8,
	.complete_exit = vmx_complete_exit,
	.tdp = &ept_format,
};
