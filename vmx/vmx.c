// SPDX-License-Identifier: GPL-2.0
/*
 * Intel VT-x backend.
 */
#define pr_fmt(fmt) "modvm: vmx: " fmt

#include <linux/kernel.h>
#include <asm/processor.h>
#include <asm/msr.h>

#include "../core/modvm.h"

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

const struct modvm_backend_ops modvm_vmx_ops = {
	.name = "vmx",
	.probe = vmx_probe,
};
