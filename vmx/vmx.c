// SPDX-License-Identifier: GPL-2.0
/*
 * Intel VT-x backend. Detection and the vCPU register state are here;
 * guest entry (VMXON, VMCS, VMLAUNCH) is not written yet, so KVM_RUN
 * reports an internal error rather than pretending.
 */
#define pr_fmt(fmt) "modvm: vmx: " fmt

#include <linux/kernel.h>
#include <linux/slab.h>
#include <asm/processor.h>
#include <asm/msr.h>

#include "../core/modvm.h"

/* EPT entry bits (SDM 29.3.2). */
#define EPT_READ		BIT_ULL(0)
#define EPT_WRITE		BIT_ULL(1)
#define EPT_EXEC		BIT_ULL(2)
#define EPT_MEMTYPE_WB		(6ULL << 3)

struct vmx_vcpu {
	struct kvm_sregs sregs;
	u64 dr[8];
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

static int vmx_setup(void)
{
	/* Guests cannot run here yet: say so through the tdp parameter. */
	modvm_tdp = false;
	return 0;
}

static void vmx_unsetup(void)
{
}

/* VMXON comes with guest entry; until then the CPU is left alone. */
static int vmx_cpu_enable(void)
{
	return 0;
}

static void vmx_cpu_disable(void)
{
}

static int vmx_vcpu_create(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = kzalloc(sizeof(*vmx), GFP_KERNEL_ACCOUNT);

	vcpu->backend = vmx;
	return vmx ? 0 : -ENOMEM;
}

static void vmx_vcpu_free(struct modvm_vcpu *vcpu)
{
	kfree(vcpu->backend);
	vcpu->backend = NULL;
}

static void vmx_vcpu_reset(struct modvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	struct kvm_sregs *s = &vmx->sregs;
	struct kvm_segment data_seg = {
		.limit = 0xffff, .type = 3, .present = 1, .s = 1,
	};

	memset(s, 0, sizeof(*s));
	s->cs = data_seg;
	s->cs.type = 0xb;
	s->cs.selector = 0xf000;
	s->cs.base = 0xffff0000;
	s->ds = data_seg;
	s->es = data_seg;
	s->fs = data_seg;
	s->gs = data_seg;
	s->ss = data_seg;
	s->tr.limit = 0xffff;
	s->tr.type = 0xb;
	s->tr.present = 1;
	s->ldt.limit = 0xffff;
	s->ldt.type = 2;
	s->ldt.present = 1;
	s->gdt.limit = 0xffff;
	s->idt.limit = 0xffff;
	s->cr0 = X86_CR0_ET | X86_CR0_NW | X86_CR0_CD;
	memset(vmx->dr, 0, sizeof(vmx->dr));
	vmx->dr[6] = MODVM_DR6_INIT;
	vmx->dr[7] = MODVM_DR7_INIT;
}

static void vmx_run(struct modvm_vcpu *vcpu, struct modvm_exit *exit)
{
	exit->type = MODVM_EXIT_UNHANDLED;
	exit->hw_reason = 0;
}

static void vmx_get_sregs(struct modvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	*sregs = to_vmx(vcpu)->sregs;
	sregs->apic_base = vcpu->apic_base;
}

static int vmx_set_sregs(struct modvm_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	to_vmx(vcpu)->sregs = *sregs;
	vcpu->apic_base = sregs->apic_base;
	return 0;
}

static void vmx_get_paging(struct modvm_vcpu *vcpu, struct modvm_paging_state *ps)
{
	const struct kvm_sregs *s = &to_vmx(vcpu)->sregs;

	ps->cr0 = s->cr0;
	ps->cr3 = s->cr3;
	ps->cr4 = s->cr4;
	ps->efer = s->efer;
	ps->cpl = s->ss.dpl;
	ps->cs_l = s->cs.l;
	ps->cs_db = s->cs.db;
}

static int vmx_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data)
{
	return -ENOENT;
}

static int vmx_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data, bool host)
{
	return -ENOENT;
}

static u64 vmx_get_dr(struct modvm_vcpu *vcpu, int dr)
{
	return to_vmx(vcpu)->dr[dr];
}

static void vmx_set_dr(struct modvm_vcpu *vcpu, int dr, u64 value)
{
	to_vmx(vcpu)->dr[dr] = value;
}

static void vmx_inject_exception(struct modvm_vcpu *vcpu,
				 const struct modvm_exception *ex)
{
}

static u64 ept_make_leaf(u64 pfn, bool writable)
{
	return (pfn << PAGE_SHIFT) | EPT_READ | EPT_EXEC | EPT_MEMTYPE_WB |
	       (writable ? EPT_WRITE : 0);
}

static u64 ept_make_table(u64 table_pa)
{
	return table_pa | EPT_READ | EPT_WRITE | EPT_EXEC;
}

static bool ept_present(u64 pte)
{
	return pte & (EPT_READ | EPT_WRITE | EPT_EXEC);
}

static const struct modvm_tdp_format ept_format = {
	.make_leaf = ept_make_leaf,
	.make_table = ept_make_table,
	.present = ept_present,
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
	.tdp = &ept_format,
};
