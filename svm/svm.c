// SPDX-License-Identifier: GPL-2.0
/*
 * AMD-V backend.
 */
#define pr_fmt(fmt) "modvm: svm: " fmt

#include <linux/kernel.h>
#include <asm/processor.h>
#include <asm/msr.h>
#include <asm/svm.h>

#include "../core/modvm.h"

/* VM_CR MSR: firmware can lock SVM off with SVMDIS. */
#define SVM_VM_CR_SVMDIS	BIT(4)

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

const struct modvm_backend_ops modvm_svm_ops = {
	.name = "svm",
	.probe = svm_probe,
};
