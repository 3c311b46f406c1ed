// SPDX-License-Identifier: GPL-2.0
/*
 * AMD-V backend: one VMCB per vCPU, guest entry with VMRUN, nested paging
 * (NPT) for guest memory, and the exits decoded into struct modvm_exit.
 */
#define pr_fmt(fmt) "modvm: svm: " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <asm/debugreg.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/processor.h>
#include <asm/svm.h>
#include <asm/traps.h>

#include "../core/modvm.h"

/* VM_CR MSR: firmware can lock SVM off with SVMDIS. */
#define SVM_VM_CR_SVMDIS	BIT(4)

/* CPUID 0x8000000A EDX */
#define SVM_FEATURE_NPT		BIT(0)
#define SVM_FEATURE_NRIP	BIT(3)

#define IOPM_SIZE		(3 * PAGE_SIZE)
#define MSRPM_SIZE		(2 * PAGE_SIZE)

/* VMCB segment attributes of the reset state. */
#define ATTR_CODE		0x9b	/* present, S, execute/read, accessed */
#define ATTR_DATA		0x93	/* present, S, read/write, accessed */
#define ATTR_LDT		0x82
#define ATTR_TSS_BUSY		0x8b

/* IOIO exit information (APM 15.10.2). */
#define IOIO_TYPE_IN		BIT(0)
#define IOIO_STR		BIT(2)
#define IOIO_REP		BIT(3)
#define IOIO_SZ8		BIT(4)
#define IOIO_SZ16		BIT(5)

/* NPF error code bits. */
#define NPF_WRITE		BIT(1)
#define NPF_FETCH		BIT(4)

/* NPT entries are user pages: the CPU walks them as user accesses. */
#define NPT_PRESENT		BIT_ULL(0)
#define NPT_WRITE		BIT_ULL(1)
#define NPT_USER		BIT_ULL(2)
#define NPT_ACCESSED		BIT_ULL(5)
#define NPT_DIRTY		BIT_ULL(6)
#define NPT_LARGE		BIT_ULL(7)	/* PS: a 2 MiB or 1 GiB leaf */

asmlinkage int modvm_svm_vmrun(unsigned long vmcb_pa, u64 *gprs,
			       unsigned long host_save_pa);

struct svm_cpu {
	void *hsave;			/* MSR_VM_HSAVE_PA: VMRUN saves host state */
	struct vmcb *host_vmcb;		/* VMSAVE/VMLOAD area for host state */
	u64 asid_generation;
	u32 next_asid;
	u64 host_tsc_aux;
	struct vmcb *last_vmcb;		/* compared only: may be freed */
};

struct svm_vcpu {
	struct vmcb *vmcb;
	unsigned long vmcb_pa;
	u64 asid_generation;
	int last_cpu;
	u64 db[4];		/* guest DR0-3, live in hardware in guest mode */
	u64 exit_rip;		/* RIP at the last exit: int_state is for it */
	/*
	 * SVM keeps no NMI blocking of its own for injected NMIs: software
	 * blocks them from injection until the handler's IRET (intercepted)
	 * has executed, i.e. until RIP moved past the IRET.
	 */
	bool nmi_masked;
	bool nmi_iret;		/* the IRET ending the handler exited */
	u64 nmi_iret_rip;
	/* Single-step over what blocks a pending NMI, with these TF/RF. */
	bool nmi_singlestep;
	u64 nmi_singlestep_flags;
	bool irq_window;
	/*
	 * The external interrupt core injects next (-1: none), and the one
	 * handed to the CPU as the virtual interrupt V_IRQ (-1: none).
	 */
	int irq_to_inject;
	int virq_vector;
};

static DEFINE_PER_CPU(struct svm_cpu, svm_cpus);
static void *svm_iopm;
static void *svm_msrpm;
static u32 svm_max_asid;
static bool svm_nrips;

/* MSRs the guest reads and writes directly: VMLOAD/VMSAVE switch them. */
static const u32 svm_passthrough_msrs[] = {
	MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR,
	MSR_CSTAR, MSR_SYSCALL_MASK, MSR_IA32_SYSENTER_CS,
	MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
};

static inline struct svm_vcpu *to_svm(struct modvm_vcpu *vcpu)
{
	return vcpu->backend;
}

/* Both fault once EFER.SVME went off under us (reboot): skip them then. */
static inline void svm_clgi(void)
{
	asm volatile("1: clgi\n2:\n\t" _ASM_EXTABLE(1b, 2b) ::: "memory");
}

static inline void svm_stgi(void)
{
	asm volatile("1: stgi\n2:\n\t" _ASM_EXTABLE(1b, 2b) ::: "memory");
}

static int svm_probe(void)
{
	u64 vm_cr;

	if (boot_cpu_data.x86_vendor != X86_VENDOR_AMD &&
	    boot_cpu_data.x86_vendor != X86_VENDOR_HYGON)
		return -EOPNOTSUPP;
	if (!(cpuid_ecx(0x80000001) & BIT(2)))
		return -EOPNOTSUPP;
	if (rdmsrl_safe(MSR_VM_CR, &vm_cr) || (vm_cr & SVM_VM_CR_SVMDIS)) {
		pr_err("AMD-V is disabled by firmware (VM_CR.SVMDIS)\n");
		return -ENODEV;
	}
	return 0;
}

static void msrpm_passthrough(u32 msr)
{
	u32 offset;

	if (msr <= 0x1fff)
		offset = 0;
	else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		offset = 0x800 * 8 - 0xc0000000 * 2;
	else
		offset = 0x1000 * 8 - 0xc0010000 * 2;
	offset += msr * 2;
	clear_bit(offset, svm_msrpm);		/* read */
	clear_bit(offset + 1, svm_msrpm);	/* write */
}

static void svm_unsetup(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sd = per_cpu_ptr(&svm_cpus, cpu);

		free_page((unsigned long)sd->hsave);
		free_page((unsigned long)sd->host_vmcb);
	}
	free_pages((unsigned long)svm_iopm, get_order(IOPM_SIZE));
	free_pages((unsigned long)svm_msrpm, get_order(MSRPM_SIZE));
}

static int svm_setup(void)
{
	u32 features = cpuid_edx(SVM_CPUID_FUNC);
	int cpu, i;

	svm_max_asid = cpuid_ebx(SVM_CPUID_FUNC) - 1;
	svm_nrips = features & SVM_FEATURE_NRIP;
	if (!(features & SVM_FEATURE_NPT) || !modvm_tdp) {
		modvm_tdp = false;
		pr_info("shadow paging (no NPT, or tdp=0)\n");
	}

	svm_iopm = (void *)__get_free_pages(GFP_KERNEL, get_order(IOPM_SIZE));
	svm_msrpm = (void *)__get_free_pages(GFP_KERNEL, get_order(MSRPM_SIZE));
	if (!svm_iopm || !svm_msrpm)
		goto nomem;
	/* Every port exits; every MSR exits but those VMLOAD switches. */
	memset(svm_iopm, 0xff, IOPM_SIZE);
	memset(svm_msrpm, 0xff, MSRPM_SIZE);
	for (i = 0; i < ARRAY_SIZE(svm_passthrough_msrs); i++)
		msrpm_passthrough(svm_passthrough_msrs[i]);

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sd = per_cpu_ptr(&svm_cpus, cpu);

		sd->hsave = (void *)get_zeroed_page(GFP_KERNEL);
		sd->host_vmcb = (void *)get_zeroed_page(GFP_KERNEL);
		if (!sd->hsave || !sd->host_vmcb)
			goto nomem;
	}
	return 0;
nomem:
	svm_unsetup();
	return -ENOMEM;
}

static int svm_cpu_enable(void)
{
	struct svm_cpu *sd = this_cpu_ptr(&svm_cpus);
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		pr_err_ratelimited("CPU %d: AMD-V is in use by another hypervisor\n",
				   smp_processor_id());
		return -EBUSY;
	}
	wrmsrl(MSR_EFER, efer | EFER_SVME);
	wrmsrl(MSR_VM_HSAVE_PA, __pa(sd->hsave));
	/* A new generation: every vCPU takes a fresh ASID here. */
	sd->asid_generation++;
	sd->next_asid = svm_max_asid + 1;
	if (rdmsrl_safe(MSR_TSC_AUX, &sd->host_tsc_aux))
		sd->host_tsc_aux = 0;
	return 0;
}

static void svm_cpu_disable(void)
{
	u64 efer;

	wrmsrl(MSR_VM_HSAVE_PA, 0);
	rdmsrl(MSR_EFER, efer);
	wrmsrl(MSR_EFER, efer & ~EFER_SVME);
}

static void set_intercept(struct vmcb *vmcb, int bit)
{
	vmcb->control.intercepts[bit / 32] |= BIT(bit % 32);
}

static void clear_intercept(struct vmcb *vmcb, int bit)
{
	vmcb->control.intercepts[bit / 32] &= ~BIT(bit % 32);
}

/* VMCB at RESET; also after a shutdown, which leaves the VMCB undefined. */
static void init_vmcb(struct modvm_vcpu *vcpu)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;
	struct vmcb_control_area *c = &vmcb->control;
	struct vmcb_save_area *s = &vmcb->save;
	static const int intercepts[] = {
		INTERCEPT_INTR, INTERCEPT_NMI, INTERCEPT_SMI, INTERCEPT_CPUID,
		INTERCEPT_INVD, INTERCEPT_HLT, INTERCEPT_INVLPGA,
		INTERCEPT_IOIO_PROT, INTERCEPT_MSR_PROT, INTERCEPT_SHUTDOWN,
		INTERCEPT_VMRUN, INTERCEPT_VMMCALL, INTERCEPT_VMLOAD,
		INTERCEPT_VMSAVE, INTERCEPT_STGI, INTERCEPT_CLGI,
		INTERCEPT_SKINIT, INTERCEPT_WBINVD, INTERCEPT_MONITOR,
		INTERCEPT_MWAIT, INTERCEPT_MWAIT_COND, INTERCEPT_XSETBV,
		/* Guests get no PMU: the host's counters are not theirs. */
		INTERCEPT_RDPMC,
		/*
		 * Otherwise the guest could set any CR4 bit the host CPU has,
		 * e.g. CR4.PKE, and its WRPKRU would then stay in force for
		 * host user tasks (modvm does not switch PKRU). Core checks
		 * and completes the write (MODVM_EXIT_CR, core/cr.c).
		 */
		INTERCEPT_CR4_WRITE,
		/*
		 * A task switch loads CR3: without NPT the CPU would take the
		 * guest's page tables for host ones. Core carries them out
		 * (MODVM_EXIT_TASK_SWITCH), with NPT too: one path for both.
		 */
		INTERCEPT_TASK_SWITCH,
	};
	/*
	 * Shadow paging: the guest's control registers are kept apart from
	 * the ones the hardware runs with (see shadow_enter()), its #PFs
	 * are the MMU's, and a hardware task switch would load a guest CR3.
	 * INVLPG runs natively: mmu/shadow.c never lets a leaf go stale.
	 */
	static const int shadow_intercepts[] = {
		INTERCEPT_CR0_READ, INTERCEPT_CR3_READ, INTERCEPT_CR4_READ,
		INTERCEPT_CR0_WRITE, INTERCEPT_CR3_WRITE, INTERCEPT_CR4_WRITE,
		INTERCEPT_EXCEPTION_OFFSET + X86_TRAP_PF, INTERCEPT_TASK_SWITCH,
	};
	static const struct vmcb_seg reset_data_seg = {
		.limit = 0xffff, .attrib = ATTR_DATA,
	};
	int i;

	memset(vmcb, 0, PAGE_SIZE);
	for (i = 0; i < ARRAY_SIZE(intercepts); i++)
		set_intercept(vmcb, intercepts[i]);
	/*
	 * #AC and #DB are reflected through event injection: a guest that
	 * makes their delivery fault again would otherwise hold the CPU in
	 * microcode forever (CVE-2015-5307, CVE-2015-8104).
	 */
	set_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + X86_TRAP_AC);
	set_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + X86_TRAP_DB);
	/* A machine check is the host's to handle, not the guest's. */
	set_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + X86_TRAP_MC);
	c->iopm_base_pa = __pa(svm_iopm);
	c->msrpm_base_pa = __pa(svm_msrpm);
	/* Guest RFLAGS.IF masks virtual interrupts only; host ones exit. */
	c->int_ctl = V_INTR_MASKING_MASK;
	if (modvm_tdp) {
		c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
		c->nested_cr3 = modvm_tdp_root_pa(vcpu->vm);
	} else {
		for (i = 0; i < ARRAY_SIZE(shadow_intercepts); i++)
			set_intercept(vmcb, shadow_intercepts[i]);
	}

	s->ds = reset_data_seg;
	s->es = reset_data_seg;
	s->fs = reset_data_seg;
	s->gs = reset_data_seg;
	s->ss = reset_data_seg;
	s->cs = reset_data_seg;
	s->cs.selector = 0xf000;
	s->cs.base = 0xffff0000;
	s->cs.attrib = ATTR_CODE;
	s->gdtr.limit = 0xffff;
	s->idtr.limit = 0xffff;
	s->ldtr.limit = 0xffff;
	s->ldtr.attrib = ATTR_LDT;
	s->tr.limit = 0xffff;
	s->tr.attrib = ATTR_TSS_BUSY;
	s->cr0 = X86_CR0_ET | X86_CR0_NW | X86_CR0_CD;
	s->efer = EFER_SVME;
	s->dr6 = MODVM_DR6_INIT;
	s->dr7 = MODVM_DR7_INIT;
	s->g_pat = 0x0007040600070406ULL;
	s->rflags = X86_EFLAGS_FIXED;
	s->rip = 0xfff0;
	to_svm(vcpu)->nmi_masked = false;
	to_svm(vcpu)->nmi_iret = false;
	to_svm(vcpu)->nmi_singlestep = false;
	to_svm(vcpu)->irq_window = false;
	to_svm(vcpu)->irq_to_inject = -1;
	to_svm(vcpu)->virq_vector = -1;
	/* The ASID was cleared with the VMCB: take a fresh one on entry. */
	to_svm(vcpu)->asid_generation = 0;
}

static int svm_vcpu_create(struct modvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = kzalloc(sizeof(*svm), GFP_KERNEL_ACCOUNT);

	if (!svm)
		return -ENOMEM;
	svm->vmcb = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!svm->vmcb) {
		kfree(svm);
		return -ENOMEM;
	}
	svm->vmcb_pa = __pa(svm->vmcb);
	svm->last_cpu = -1;
	vcpu->backend = svm;
	return 0;
}

static void svm_vcpu_free(struct modvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	free_page((unsigned long)svm->vmcb);
	kfree(svm);
	vcpu->backend = NULL;
}

static void svm_vcpu_reset(struct modvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	init_vmcb(vcpu);
	memset(svm->db, 0, sizeof(svm->db));
}

static void seg_to_kvm(const struct vmcb_seg *v, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = v->base;
	k->limit = v->limit;
	k->selector = v->selector;
	k->type = v->attrib & SVM_SELECTOR_TYPE_MASK;
	k->s = !!(v->attrib & SVM_SELECTOR_S_MASK);
	k->dpl = (v->attrib >> SVM_SELECTOR_DPL_SHIFT) & 3;
	k->present = !!(v->attrib & SVM_SELECTOR_P_MASK);
	k->avl = !!(v->attrib & SVM_SELECTOR_AVL_MASK);
	k->l = !!(v->attrib & SVM_SELECTOR_L_MASK);
	k->db = !!(v->attrib & SVM_SELECTOR_DB_MASK);
	k->g = !!(v->attrib & SVM_SELECTOR_G_MASK);
	k->unusable = !k->present;
}

static void seg_from_kvm(struct vmcb_seg *v, const struct kvm_segment *k)
{
	v->base = k->base;
	v->limit = k->limit;
	v->selector = k->selector;
	v->attrib = k->unusable ? 0 :
		(k->type & SVM_SELECTOR_TYPE_MASK) |
		(k->s << SVM_SELECTOR_S_SHIFT) |
		((k->dpl & 3) << SVM_SELECTOR_DPL_SHIFT) |
		(k->present << SVM_SELECTOR_P_SHIFT) |
		(k->avl << SVM_SELECTOR_AVL_SHIFT) |
		(k->l << SVM_SELECTOR_L_SHIFT) |
		(k->db << SVM_SELECTOR_DB_SHIFT) |
		(k->g << SVM_SELECTOR_G_SHIFT);
}

static void svm_get_sregs(struct modvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	struct vmcb_save_area *s = &to_svm(vcpu)->vmcb->save;

	memset(sregs, 0, sizeof(*sregs));
	seg_to_kvm(&s->cs, &sregs->cs);
	seg_to_kvm(&s->ds, &sregs->ds);
	seg_to_kvm(&s->es, &sregs->es);
	seg_to_kvm(&s->fs, &sregs->fs);
	seg_to_kvm(&s->gs, &sregs->gs);
	seg_to_kvm(&s->ss, &sregs->ss);
	seg_to_kvm(&s->tr, &sregs->tr);
	seg_to_kvm(&s->ldtr, &sregs->ldt);
	/* TR is always usable; only its type says more. */
	sregs->tr.unusable = 0;
	sregs->gdt.base = s->gdtr.base;
	sregs->gdt.limit = s->gdtr.limit;
	sregs->idt.base = s->idtr.base;
	sregs->idt.limit = s->idtr.limit;
	sregs->cr0 = s->cr0;
	sregs->cr2 = s->cr2;
	sregs->cr3 = s->cr3;
	sregs->cr4 = s->cr4;
	sregs->efer = s->efer & ~EFER_SVME;
	sregs->cr8 = to_svm(vcpu)->vmcb->control.int_ctl & V_TPR_MASK;
	sregs->apic_base = vcpu->apic_base;
}

static int svm_set_sregs(struct modvm_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_save_area *s = &svm->vmcb->save;

	seg_from_kvm(&s->cs, &sregs->cs);
	seg_from_kvm(&s->ds, &sregs->ds);
	seg_from_kvm(&s->es, &sregs->es);
	seg_from_kvm(&s->fs, &sregs->fs);
	seg_from_kvm(&s->gs, &sregs->gs);
	seg_from_kvm(&s->ss, &sregs->ss);
	seg_from_kvm(&s->tr, &sregs->tr);
	seg_from_kvm(&s->ldtr, &sregs->ldt);
	s->gdtr.base = sregs->gdt.base;
	s->gdtr.limit = sregs->gdt.limit;
	s->idtr.base = sregs->idt.base;
	s->idtr.limit = sregs->idt.limit;
	s->cpl = sregs->ss.dpl & 3;
	s->cr0 = sregs->cr0;
	s->cr2 = sregs->cr2;
	s->cr3 = sregs->cr3;
	s->cr4 = sregs->cr4;
	s->efer = sregs->efer | EFER_SVME;
	/* Without a local APIC, CR8 is the VMCB's virtual TPR. */
	svm->vmcb->control.int_ctl = (svm->vmcb->control.int_ctl & ~V_TPR_MASK) |
				     (sregs->cr8 & V_TPR_MASK);
	vcpu->apic_base = sregs->apic_base;
	/* Translations of the old CR3 must not survive. */
	svm->asid_generation = 0;
	return 0;
}

static void svm_get_paging(struct modvm_vcpu *vcpu, struct modvm_paging_state *ps)
{
	struct vmcb_save_area *s = &to_svm(vcpu)->vmcb->save;

	ps->cr0 = s->cr0;
	ps->cr3 = s->cr3;
	ps->cr4 = s->cr4;
	ps->efer = s->efer & ~EFER_SVME;
	ps->cpl = s->cpl;
	ps->cs_l = !!(s->cs.attrib & SVM_SELECTOR_L_MASK);
	ps->cs_db = !!(s->cs.attrib & SVM_SELECTOR_DB_MASK);
}

static u64 *vmcb_msr(struct vmcb_save_area *s, u32 index)
{
	switch (index) {
	case MSR_FS_BASE: return &s->fs.base;
	case MSR_GS_BASE: return &s->gs.base;
	case MSR_KERNEL_GS_BASE: return &s->kernel_gs_base;
	case MSR_STAR: return &s->star;
	case MSR_LSTAR: return &s->lstar;
	case MSR_CSTAR: return &s->cstar;
	case MSR_SYSCALL_MASK: return &s->sfmask;
	case MSR_IA32_SYSENTER_CS: return &s->sysenter_cs;
	case MSR_IA32_SYSENTER_ESP: return &s->sysenter_esp;
	case MSR_IA32_SYSENTER_EIP: return &s->sysenter_eip;
	case MSR_IA32_CR_PAT: return &s->g_pat;
	}
	return NULL;
}

static int svm_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data)
{
	struct vmcb_save_area *s = &to_svm(vcpu)->vmcb->save;
	u64 *field = vmcb_msr(s, index);

	if (index == MSR_EFER) {
		*data = s->efer & ~EFER_SVME;
		return 0;
	}
	if (!field)
		return -ENOENT;
	*data = *field;
	return 0;
}

static int svm_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data, bool host)
{
	struct vmcb_save_area *s = &to_svm(vcpu)->vmcb->save;
	u64 *field = vmcb_msr(s, index);

	/* core/msr.c checked the value; LMA is already the CPU's. */
	switch (index) {
	case MSR_EFER:
		s->efer = data | EFER_SVME;
		return 0;
	case MSR_IA32_SYSENTER_CS:
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		/* AMD CPUs keep only 32 bits of these (the VMCB as well). */
		data = (u32)data;
		break;
	}
	if (!field)
		return -ENOENT;
	*field = data;
	return 0;
}

static u64 svm_get_dr(struct modvm_vcpu *vcpu, int dr)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	if (dr < 4)
		return svm->db[dr];
	return dr == 6 ? svm->vmcb->save.dr6 : svm->vmcb->save.dr7;
}

static void svm_set_dr(struct modvm_vcpu *vcpu, int dr, u64 value)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	if (dr < 4)
		svm->db[dr] = value;
	else if (dr == 6)
		svm->vmcb->save.dr6 = value | MODVM_DR6_INIT;
	else
		svm->vmcb->save.dr7 = value | MODVM_DR7_INIT;
}

static void svm_inject_exception(struct modvm_vcpu *vcpu,
				 const struct modvm_exception *ex)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;

	vmcb->control.event_inj = ex->vector | SVM_EVTINJ_TYPE_EXEPT |
				  SVM_EVTINJ_VALID |
				  (ex->has_error ? SVM_EVTINJ_VALID_ERR : 0);
	vmcb->control.event_inj_err = ex->error_code;
	if (ex->has_cr2)
		vmcb->save.cr2 = ex->cr2;
}

static void svm_set_nmi_masked(struct modvm_vcpu *vcpu, bool masked)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	svm->nmi_masked = masked;
	svm->nmi_iret = false;
	if (masked)
		set_intercept(svm->vmcb, INTERCEPT_IRET);
	else
		clear_intercept(svm->vmcb, INTERCEPT_IRET);
}

static bool svm_get_nmi_masked(struct modvm_vcpu *vcpu)
{
	return to_svm(vcpu)->nmi_masked;
}

static void svm_inject_nmi(struct modvm_vcpu *vcpu)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;

	vmcb->control.event_inj = X86_TRAP_NMI | SVM_EVTINJ_TYPE_NMI |
				  SVM_EVTINJ_VALID;
	svm_set_nmi_masked(vcpu, true);
}

/*
 * Software interrupts are never given back by the exit (the guest runs
 * INT n again), so every interrupt core injects is an external one. How
 * it goes to the CPU is chosen with the interrupt window, which core
 * sets right after (svm_set_event_windows()).
 */
static void svm_inject_irq(struct modvm_vcpu *vcpu,
			   const struct modvm_interrupt *irq)
{
	to_svm(vcpu)->irq_to_inject = irq->nr;
}

/* STI and MOV SS shadows are one bit in the VMCB, valid at exit_rip only. */
static u32 svm_get_interrupt_shadow(struct modvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	if (vcpu->rip != svm->exit_rip ||
	    !(svm->vmcb->control.int_state & SVM_INTERRUPT_SHADOW_MASK))
		return 0;
	return KVM_X86_SHADOW_INT_STI | KVM_X86_SHADOW_INT_MOV_SS;
}

static void svm_set_interrupt_shadow(struct modvm_vcpu *vcpu, u32 mask)
{
	struct svm_vcpu *svm = to_svm(vcpu);

	svm->exit_rip = vcpu->rip;
	if (mask)
		svm->vmcb->control.int_state |= SVM_INTERRUPT_SHADOW_MASK;
	else
		svm->vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW_MASK;
}

/*
 * An interrupt core injects: core does so only when the guest can take it
 * at once (RFLAGS.IF set, no interrupt shadow), so the virtual interrupt
 * V_IRQ, above any V_TPR, is taken at the first instruction boundary, as
 * EVENTINJ would deliver it. V_IRQ is preferred: QEMU's model of AMD-V
 * (7.2) delivers an EVENTINJ interrupt at VMRUN but keeps its vector as
 * a pending exception, which it may deliver a second time before the
 * next exit (then with IF=0). V_IRQ serves the interrupt window too, so
 * with a window wanted as well the interrupt goes by EVENTINJ.
 */
static void inject_pending_irq(struct svm_vcpu *svm, bool irq_window)
{
	struct vmcb_control_area *c = &svm->vmcb->control;
	int nr = svm->irq_to_inject;

	svm->irq_to_inject = -1;
	if (nr < 0)
		return;
	if (irq_window) {
		c->event_inj = nr | SVM_EVTINJ_TYPE_INTR | SVM_EVTINJ_VALID;
		return;
	}
	c->int_ctl |= V_IRQ_MASK | V_IGN_TPR_MASK | (0xf << V_INTR_PRIO_SHIFT);
	c->int_vector = nr;
	svm->virq_vector = nr;
}

/*
 * Interrupt window: a virtual interrupt (V_IRQ) the guest takes as soon
 * as RFLAGS.IF and the interrupt shadow let it, intercepted (VINTR).
 * NMI window: the IRET intercept ends an NMI handler; what remains (the
 * IRET itself, an interrupt shadow) is single-stepped.
 */
static void svm_set_event_windows(struct modvm_vcpu *vcpu, bool irq, bool nmi)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb *vmcb = svm->vmcb;

	svm->irq_window = irq;
	vmcb->control.int_ctl &= ~(V_IRQ_MASK | V_INTR_PRIO_MASK | V_IGN_TPR_MASK);
	clear_intercept(vmcb, INTERCEPT_VINTR);
	inject_pending_irq(svm, irq);
	if (irq) {
		vmcb->control.int_ctl |= V_IRQ_MASK | V_IGN_TPR_MASK |
					 (0xf << V_INTR_PRIO_SHIFT);
		vmcb->control.int_vector = 0;
		set_intercept(vmcb, INTERCEPT_VINTR);
	}
	svm->nmi_singlestep = nmi && (!svm->nmi_masked || svm->nmi_iret);
}

static u8 svm_get_cr8(struct modvm_vcpu *vcpu)
{
	return to_svm(vcpu)->vmcb->control.int_ctl & V_TPR_MASK;
}

static void svm_set_cr8(struct modvm_vcpu *vcpu, u8 cr8)
{
	struct vmcb_control_area *c = &to_svm(vcpu)->vmcb->control;

	c->int_ctl = (c->int_ctl & ~V_TPR_MASK) | (cr8 & V_TPR_MASK);
}

/* A fresh ASID on this CPU; flushes all ASIDs when they run out. */
static void new_asid(struct svm_vcpu *svm, struct svm_cpu *sd)
{
	if (sd->next_asid > svm_max_asid) {
		sd->asid_generation++;
		sd->next_asid = 1;
		svm->vmcb->control.tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	}
	svm->vmcb->control.asid = sd->next_asid++;
	svm->asid_generation = sd->asid_generation;
}

/* Event delivery that an exit interrupted, for core to deliver again. */
static void save_interrupted_event(struct modvm_vcpu *vcpu,
				   struct modvm_exit *exit)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	u32 info = svm->vmcb->control.exit_int_info;
	u32 type = info & SVM_EXITINTINFO_TYPE_MASK;
	u8 vector = info & SVM_EXITINTINFO_VEC_MASK;
	struct modvm_event *ev = &exit->interrupted;
	int virq = svm->virq_vector;

	ev->type = MODVM_EVENT_NONE;
	if (virq >= 0) {
		struct vmcb_control_area *c = &svm->vmcb->control;

		svm->virq_vector = -1;
		/* Still V_IRQ: the exit came first, the guest did not take it. */
		if (c->int_ctl & V_IRQ_MASK) {
			c->int_ctl &= ~(V_IRQ_MASK | V_INTR_PRIO_MASK |
					V_IGN_TPR_MASK);
			ev->type = MODVM_EVENT_INTR;
			ev->vector = virq;
			return;
		}
	}
	if (!(info & SVM_EXITINTINFO_VALID))
		return;
	/* QEMU reports an interrupted V_IRQ delivery as an exception. */
	if (type == SVM_EXITINTINFO_TYPE_EXEPT && vector >= FIRST_EXTERNAL_VECTOR)
		type = SVM_EXITINTINFO_TYPE_INTR;
	/*
	 * Software interrupts and #BP/#OF: RIP is still at their
	 * instruction, which the guest executes again.
	 */
	if (type == SVM_EXITINTINFO_TYPE_SOFT ||
	    (type == SVM_EXITINTINFO_TYPE_EXEPT &&
	     (vector == X86_TRAP_BP || vector == X86_TRAP_OF)))
		return;
	ev->vector = vector;
	switch (type) {
	case SVM_EXITINTINFO_TYPE_NMI:
		ev->type = MODVM_EVENT_NMI;
		/* Not delivered: not blocking either, until injected again. */
		svm_set_nmi_masked(vcpu, false);
		break;
	case SVM_EXITINTINFO_TYPE_INTR:
		ev->type = MODVM_EVENT_INTR;
		break;
	default:
		ev->type = MODVM_EVENT_EXCEPTION;
		ev->has_error = info & SVM_EXITINTINFO_VALID_ERR;
		ev->error_code = svm->vmcb->control.exit_int_info_err;
	}
}

static u32 insn_len(struct svm_vcpu *svm, u64 rip)
{
	u64 next = svm->vmcb->control.next_rip;

	/*
	 * Without NRIP-save (QEMU's model), or where the CPU saves none
	 * (0: some intercepts, e.g. task switches), core decodes it.
	 */
	return svm_nrips && next && next - rip <= 15 ? next - rip : 0;
}

static void decode_exit(struct modvm_vcpu *vcpu, struct modvm_exit *exit, u64 rip)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_control_area *c = &svm->vmcb->control;
	u32 code = c->exit_code;

	exit->hw_reason = code;
	exit->insn_len = 0;
	switch (code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
	case SVM_EXIT_VINTR:
		exit->type = MODVM_EXIT_REENTER;
		return;
	case SVM_EXIT_IRET:
		/* NMIs stay blocked until this IRET has executed. */
		svm->nmi_iret = true;
		svm->nmi_iret_rip = rip;
		clear_intercept(svm->vmcb, INTERCEPT_IRET);
		exit->type = MODVM_EXIT_REENTER;
		return;
	case SVM_EXIT_CPUID:
		exit->type = MODVM_EXIT_CPUID;
		break;
	case SVM_EXIT_HLT:
		exit->type = MODVM_EXIT_HLT;
		break;
	case SVM_EXIT_MSR:
		exit->type = c->exit_info_1 ? MODVM_EXIT_WRMSR : MODVM_EXIT_RDMSR;
		break;
	case SVM_EXIT_IOIO: {
		u64 info = c->exit_info_1;

		exit->type = MODVM_EXIT_IO;
		exit->io.port = info >> 16;
		exit->io.in = info & IOIO_TYPE_IN;
		exit->io.string = info & IOIO_STR;
		exit->io.rep = info & IOIO_REP;
		exit->io.size = info & IOIO_SZ8 ? 1 : info & IOIO_SZ16 ? 2 : 4;
		/* EXITINFO2 holds the next RIP for I/O, NRIP-save or not. */
		exit->insn_len = c->exit_info_2 - rip;
		return;
	}
	case SVM_EXIT_XSETBV:
		exit->type = MODVM_EXIT_XSETBV;
		break;
	case SVM_EXIT_VMMCALL:
		exit->type = MODVM_EXIT_HYPERCALL;
		break;
	case SVM_EXIT_INVD:
	case SVM_EXIT_WBINVD:
		exit->type = MODVM_EXIT_NOP_INSN;
		break;
	case SVM_EXIT_VMRUN: case SVM_EXIT_VMLOAD: case SVM_EXIT_VMSAVE:
	case SVM_EXIT_STGI: case SVM_EXIT_CLGI: case SVM_EXIT_SKINIT:
	case SVM_EXIT_INVLPGA: case SVM_EXIT_MONITOR: case SVM_EXIT_MWAIT:
	case SVM_EXIT_MWAIT_COND:
		exit->type = MODVM_EXIT_UD;
		return;
	case SVM_EXIT_SHUTDOWN:
		exit->type = MODVM_EXIT_SHUTDOWN;
		exit->interrupted.type = MODVM_EVENT_NONE;
		init_vmcb(vcpu);
		return;
	case SVM_EXIT_NPF:
		exit->type = MODVM_EXIT_TDP_FAULT;
		exit->tdp.gpa = c->exit_info_2;
		exit->tdp.write = c->exit_info_1 & NPF_WRITE;
		exit->tdp.fetch = c->exit_info_1 & NPF_FETCH;
		return;
	case SVM_EXIT_READ_CR0: case SVM_EXIT_READ_CR3: case SVM_EXIT_READ_CR4:
	case SVM_EXIT_WRITE_CR0: case SVM_EXIT_WRITE_CR3: case SVM_EXIT_WRITE_CR4:
		/*
		 * All of them with shadow paging, only CR4 writes otherwise.
		 * Without decode assists core decodes the instruction.
		 */
		exit->type = MODVM_EXIT_CR;
		exit->cr.cr = (code - SVM_EXIT_READ_CR0) & 15;
		exit->cr.write = code >= SVM_EXIT_WRITE_CR0;
		exit->cr.gpr = -1;
		return;
	case SVM_EXIT_TASK_SWITCH: {
		u32 type = c->exit_int_info & SVM_EXITINTINFO_TYPE_MASK;
		u8 vector = c->exit_int_info & SVM_EXITINTINFO_VEC_MASK;
		bool gate = c->exit_int_info & SVM_EXITINTINFO_VALID;

		exit->type = MODVM_EXIT_TASK_SWITCH;
		exit->task.selector = c->exit_info_1 & 0xffff;
		if (c->exit_info_2 & BIT_ULL(SVM_EXITINFOSHIFT_TS_REASON_IRET))
			exit->task.source = MODVM_TASK_SWITCH_IRET;
		else if (c->exit_info_2 & BIT_ULL(SVM_EXITINFOSHIFT_TS_REASON_JMP))
			exit->task.source = MODVM_TASK_SWITCH_JMP;
		else
			exit->task.source = gate ? MODVM_TASK_SWITCH_GATE :
						   MODVM_TASK_SWITCH_CALL;
		/*
		 * INT n, INT3 and INTO are not re-injected (RIP stays at them,
		 * see save_interrupted_event()): the old task resumes past them.
		 */
		exit->task.insn = !gate || type == SVM_EXITINTINFO_TYPE_SOFT ||
				  (type == SVM_EXITINTINFO_TYPE_EXEPT &&
				   (vector == X86_TRAP_BP || vector == X86_TRAP_OF));
		break;
	}
	case SVM_EXIT_EXCP_BASE + X86_TRAP_PF:
		exit->type = MODVM_EXIT_PAGE_FAULT;
		exit->pf.addr = c->exit_info_2;
		exit->pf.error_code = c->exit_info_1;
		return;
	case SVM_EXIT_EXCP_BASE + X86_TRAP_AC:
		modvm_queue_exception(vcpu, X86_TRAP_AC, true, 0);
		exit->type = MODVM_EXIT_REENTER;
		return;
	case SVM_EXIT_EXCP_BASE + X86_TRAP_DB:
		exit->type = MODVM_EXIT_REENTER;
		/* Our own single-step toward an NMI window is not the guest's. */
		if (svm->nmi_singlestep &&
		    !(svm->nmi_singlestep_flags & X86_EFLAGS_TF)) {
			svm->vmcb->save.dr6 &= ~DR_STEP;
			return;
		}
		modvm_queue_exception(vcpu, X86_TRAP_DB, false, 0);
		return;
	case SVM_EXIT_EXCP_BASE + X86_TRAP_MC:
		modvm_host_machine_check();
		exit->type = MODVM_EXIT_REENTER;
		return;
	case SVM_EXIT_RDPMC:
		exit->type = MODVM_EXIT_RDPMC;
		return;
	case SVM_EXIT_ERR:
		exit->type = MODVM_EXIT_FAIL_ENTRY;
		return;
	default:
		exit->type = MODVM_EXIT_UNHANDLED;
		return;
	}
	exit->insn_len = insn_len(svm, rip);
}

/* The guest's view of the registers shadow paging runs differently. */
struct svm_guest_crs {
	u64 cr0, cr3, cr4, efer;
};

/*
 * Between VMRUN and the exit the VMCB holds what the hardware runs with:
 * the shadow root in CR3, paging and write protection always on (AMD-V
 * allows paging without protection, so real mode runs paged on an
 * identity shadow), PAE for every shadow that is not 4-level, no global
 * pages (each root switch flushes the ASID), and long mode only when the
 * guest has it. Every guest access to these is intercepted, so the
 * guest's values are put back right after the exit.
 */
static void shadow_enter(struct modvm_vcpu *vcpu, struct vmcb_save_area *s,
			 struct svm_guest_crs *g)
{
	g->cr0 = s->cr0;
	g->cr3 = s->cr3;
	g->cr4 = s->cr4;
	g->efer = s->efer;
	s->cr0 |= X86_CR0_PG | X86_CR0_WP;
	s->cr3 = vcpu->shadow.hw_cr3;
	s->cr4 = (s->cr4 | X86_CR4_PAE) & ~X86_CR4_PGE;
	if (vcpu->shadow.pae)
		s->efer &= ~(EFER_LME | EFER_LMA);
}

static void shadow_exit(struct vmcb_save_area *s, const struct svm_guest_crs *g)
{
	s->cr0 = g->cr0;
	s->cr3 = g->cr3;
	s->cr4 = g->cr4;
	s->efer = g->efer;
}

static void svm_run(struct modvm_vcpu *vcpu, struct modvm_exit *exit)
{
	struct svm_guest_crs guest_crs;
	struct svm_vcpu *svm = to_svm(vcpu);
	struct svm_cpu *sd = this_cpu_ptr(&svm_cpus);
	struct vmcb *vmcb = svm->vmcb;
	int cpu = smp_processor_id();
	bool swap_tsc_aux;
	u64 rip = vcpu->rip;
	int fault;

	/* A new CPU or a flush request: a fresh ASID drops old translations. */
	if (svm->last_cpu != cpu || svm->asid_generation != sd->asid_generation ||
	    test_and_clear_bit(MODVM_REQ_TLB_FLUSH, &vcpu->requests)) {
		clear_bit(MODVM_REQ_TLB_FLUSH, &vcpu->requests);
		new_asid(svm, sd);
		svm->last_cpu = cpu;
	}

	/*
	 * Another vCPU (maybe of another VM) ran here last: its branch
	 * predictions must not steer this guest (IBPB, where the host uses
	 * it for user processes too).
	 */
	if (sd->last_vmcb != vmcb) {
		sd->last_vmcb = vmcb;
		indirect_branch_prediction_barrier();
	}

	vmcb->save.rax = vcpu->gprs[MODVM_RAX];
	vmcb->save.rsp = vcpu->gprs[MODVM_RSP];
	vmcb->save.rip = rip;
	vmcb->save.rflags = vcpu->rflags;
	if (svm->nmi_singlestep) {
		svm->nmi_singlestep_flags = vcpu->rflags &
					    (X86_EFLAGS_TF | X86_EFLAGS_RF);
		vmcb->save.rflags |= X86_EFLAGS_TF | X86_EFLAGS_RF;
	}
	/* The shadow of an STI or MOV SS ends once RIP moved past it. */
	if (rip != svm->exit_rip)
		vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW_MASK;
	vmcb->control.tsc_offset = vcpu->tsc_offset;
	vmcb->control.clean = 0;

	/* VMRUN loads the guest's DR7 and DR6; the exit resets DR7. */
	modvm_load_guest_db(svm->db);
	swap_tsc_aux = vcpu->tsc_aux != sd->host_tsc_aux &&
		       boot_cpu_has(X86_FEATURE_RDTSCP);
	if (swap_tsc_aux)
		wrmsrl(MSR_TSC_AUX, vcpu->tsc_aux);

	if (!modvm_tdp)
		shadow_enter(vcpu, &vmcb->save, &guest_crs);
	/* GIF=0 holds host interrupts until VMRUN; then they make it exit. */
	svm_clgi();
	raw_local_irq_enable();
	fault = modvm_svm_vmrun(svm->vmcb_pa, vcpu->gprs, __pa(sd->host_vmcb));
	raw_local_irq_disable();
	svm_stgi();
	if (!modvm_tdp)
		shadow_exit(&vmcb->save, &guest_crs);

	modvm_save_guest_db(svm->db);
	if (swap_tsc_aux)
		wrmsrl(MSR_TSC_AUX, sd->host_tsc_aux);

	vcpu->gprs[MODVM_RAX] = vmcb->save.rax;
	vcpu->gprs[MODVM_RSP] = vmcb->save.rsp;
	vcpu->rip = vmcb->save.rip;
	vcpu->rflags = vmcb->save.rflags;
	if (svm->nmi_singlestep) {
		vcpu->rflags &= ~(X86_EFLAGS_TF | X86_EFLAGS_RF);
		vcpu->rflags |= svm->nmi_singlestep_flags;
	}
	svm->exit_rip = vcpu->rip;
	vmcb->control.tlb_ctl = TLB_CONTROL_DO_NOTHING;
	vmcb->control.event_inj = 0;
	if (svm->nmi_iret && vcpu->rip != svm->nmi_iret_rip)
		svm_set_nmi_masked(vcpu, false);

	if (unlikely(fault)) {
		/* SVME went off under us: the guest did not run. */
		modvm_hw_fault("vmrun");
		exit->type = MODVM_EXIT_FAIL_ENTRY;
		exit->hw_reason = SVM_EXIT_ERR;
		return;
	}
	save_interrupted_event(vcpu, exit);
	decode_exit(vcpu, exit, vcpu->rip);
	svm->nmi_singlestep = false;
}

static u64 npt_make_leaf(u64 pfn, bool writable, int level)
{
	return (pfn << PAGE_SHIFT) | NPT_PRESENT | NPT_USER | NPT_ACCESSED |
	       (writable ? NPT_WRITE | NPT_DIRTY : 0) |
	       (level > 1 ? NPT_LARGE : 0);
}

static u64 npt_make_table(u64 table_pa)
{
	return table_pa | NPT_PRESENT | NPT_WRITE | NPT_USER | NPT_ACCESSED;
}

static bool npt_present(u64 pte)
{
	return pte & NPT_PRESENT;
}

static bool npt_huge(u64 pte)
{
	return pte & NPT_LARGE;
}

/* Nested tables take the leaf sizes of the host's own paging. */
static int npt_max_level(void)
{
	return boot_cpu_has(X86_FEATURE_GBPAGES) ? 3 : 2;
}

static const struct modvm_tdp_format npt_format = {
	.make_leaf = npt_make_leaf,
	.make_table = npt_make_table,
	.present = npt_present,
	.huge = npt_huge,
	.max_level = npt_max_level,
};

const struct modvm_backend_ops modvm_svm_ops = {
	.name = "svm",
	.probe = svm_probe,
	.setup = svm_setup,
	.unsetup = svm_unsetup,
	.cpu_enable = svm_cpu_enable,
	.cpu_disable = svm_cpu_disable,
	.vcpu_create = svm_vcpu_create,
	.vcpu_free = svm_vcpu_free,
	.vcpu_reset = svm_vcpu_reset,
	.run = svm_run,
	.get_sregs = svm_get_sregs,
	.set_sregs = svm_set_sregs,
	.get_paging = svm_get_paging,
	.get_msr = svm_get_msr,
	.set_msr = svm_set_msr,
	.get_dr = svm_get_dr,
	.set_dr = svm_set_dr,
	.inject_exception = svm_inject_exception,
	.inject_nmi = svm_inject_nmi,
	.inject_irq = svm_inject_irq,
	.set_event_windows = svm_set_event_windows,
	.get_interrupt_shadow = svm_get_interrupt_shadow,
	.set_interrupt_shadow = svm_set_interrupt_shadow,
	.get_nmi_masked = svm_get_nmi_masked,
	.set_nmi_masked = svm_set_nmi_masked,
	.get_cr8 = svm_get_cr8,
	.set_cr8 = svm_set_cr8,
	.tdp = &npt_format,
};
