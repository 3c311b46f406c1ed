// SPDX-License-Identifier: GPL-2.0
/*
 * Guest MSRs: the architectural MSRs a Linux guest uses. Those the CPU
 * switches for us (EFER, the SYSCALL/SYSENTER MSRs, segment bases, PAT)
 * live in the backend's control block; the rest are kept here. Unknown
 * MSRs fault (#GP) in the guest and fail for userspace.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/msr-index.h>
#include <asm/tsc.h>

#include "modvm.h"

/* MTRR MSR numbers (SDM 11.11), in upper case for kernel style. */
#define MTRR_CAP		0xfe
#define MTRR_DEF_TYPE		0x2ff
#define MTRR_FIX64K_00000	0x250
#define MTRR_FIX16K_80000	0x258
#define MTRR_FIX16K_A0000	0x259
#define MTRR_FIX4K_C0000	0x268
#define MTRR_FIX4K_F8000	0x26f
#define MTRR_PHYS_BASE0		0x200

#define MTRR_CAP_VCNT		8
#define MTRR_CAP_FIX		BIT(8)
#define MTRR_CAP_WC		BIT(10)
#define MTRR_DEF_TYPE_VALID	(GENMASK_ULL(7, 0) | BIT_ULL(10) | BIT_ULL(11))
#define APIC_BASE_VALID		(GENMASK_ULL(51, 12) | BIT_ULL(11) | BIT_ULL(10) | BIT_ULL(8))

/* The MSRs userspace saves and restores (KVM_GET_MSR_INDEX_LIST). */
static const u32 msrs_to_save[] = {
	MSR_EFER, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK,
	MSR_KERNEL_GS_BASE, MSR_FS_BASE, MSR_GS_BASE,
	MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
	MSR_IA32_TSC, MSR_TSC_AUX, MSR_IA32_CR_PAT, MSR_IA32_APICBASE,
	MSR_IA32_MISC_ENABLE, MTRR_DEF_TYPE,
};

/* As KVM: TSC_AUX is saved and restored where the host has RDTSCP or RDPID. */
static bool host_has_tsc_aux(void)
{
	return boot_cpu_has(X86_FEATURE_RDTSCP) || boot_cpu_has(X86_FEATURE_RDPID);
}

/*
 * Whether @vcpu may access TSC_AUX, as KVM: not where the host CPU has no
 * such MSR (Core 2; bochs' model of it has one), and the guest only where
 * its CPUID lists RDTSCP or RDPID (#GP otherwise).
 */
static bool tsc_aux_allowed(struct modvm_vcpu *vcpu, bool host)
{
	struct kvm_cpuid_entry2 *e;
	u64 v;

	if (rdmsrl_safe(MSR_TSC_AUX, &v))
		return false;
	if (host)
		return true;
	e = modvm_find_cpuid(vcpu, 0x80000001, 0);
	if (e && (e->edx & BIT(X86_FEATURE_RDTSCP & 31)))
		return true;
	e = modvm_find_cpuid(vcpu, 7, 0);
	return e && (e->ecx & BIT(X86_FEATURE_RDPID & 31));
}

static int fixed_mtrr_index(u32 index)
{
	switch (index) {
	case MTRR_FIX64K_00000:
		return 0;
	case MTRR_FIX16K_80000:
	case MTRR_FIX16K_A0000:
		return 1 + index - MTRR_FIX16K_80000;
	case MTRR_FIX4K_C0000 ... MTRR_FIX4K_F8000:
		return 3 + index - MTRR_FIX4K_C0000;
	}
	return -1;
}

/**
 * modvm_get_msr() - read a guest MSR.
 * @vcpu: the vCPU.
 * @index: MSR number.
 * @data: the value.
 * @host: read by userspace rather than by the guest.
 *
 * Return: 0, or non-zero when the MSR does not exist (#GP for a guest).
 */
int modvm_get_msr(struct modvm_vcpu *vcpu, u32 index, u64 *data, bool host)
{
	int r = modvm_backend->get_msr(vcpu, index, data);
	int i;

	if (r == -ENOENT)
		r = modvm_irqchip_get_msr(vcpu, index, data, host);
	if (r != -ENOENT)
		return r;
	switch (index) {
	case MSR_IA32_TSC:
		*data = rdtsc() + vcpu->tsc_offset;
		return 0;
	case MSR_TSC_AUX:
		if (!tsc_aux_allowed(vcpu, host))
			return 1;
		*data = vcpu->tsc_aux;
		return 0;
	case MSR_IA32_APICBASE:
		*data = vcpu->apic_base;
		return 0;
	case MSR_IA32_MISC_ENABLE:
		*data = vcpu->misc_enable;
		return 0;
	case MTRR_CAP:
		*data = MTRR_CAP_VCNT | MTRR_CAP_FIX | MTRR_CAP_WC;
		return 0;
	case MTRR_DEF_TYPE:
		*data = vcpu->mtrr_def_type;
		return 0;
	case MTRR_FIX64K_00000 ... MTRR_FIX4K_F8000:
		i = fixed_mtrr_index(index);
		if (i < 0)
			return 1;
		*data = vcpu->mtrr_fixed[i];
		return 0;
	case MTRR_PHYS_BASE0 ... MTRR_PHYS_BASE0 + 2 * MTRR_CAP_VCNT - 1:
		*data = vcpu->mtrr_var[index - MTRR_PHYS_BASE0];
		return 0;
	case MSR_IA32_UCODE_REV:
	case MSR_IA32_MCG_CAP:
	case MSR_IA32_MCG_STATUS:
	case MSR_IA32_PLATFORM_ID:
		*data = 0;
		return 0;
	}
	return 1;
}

static bool pat_valid(u64 pat)
{
	int i;

	for (i = 0; i < 8; i++) {
		u8 type = pat >> (8 * i);

		/* 2 and 3 are reserved memory types, as is everything above 7. */
		if (type > 7 || type == 2 || type == 3)
			return false;
	}
	return true;
}

/*
 * The architectural checks of the MSRs the backends hold, shared by both
 * vendors so that they refuse the same values. A guest write of EFER
 * keeps LMA (the CPU's) and may not toggle LME with paging on. Returns
 * false for a value that must fail (#GP for the guest).
 */
static bool backend_msr_valid(struct modvm_vcpu *vcpu, u32 index, u64 *data,
			      bool host)
{
	struct modvm_paging_state ps;

	switch (index) {
	case MSR_EFER:
		if (*data & ~modvm_efer_valid())
			return false;
		if (host)
			return true;
		modvm_backend->get_paging(vcpu, &ps);
		if ((ps.cr0 & X86_CR0_PG) && ((*data ^ ps.efer) & EFER_LME))
			return false;
		*data = (*data & ~EFER_LMA) | (ps.efer & EFER_LMA);
		return true;
	case MSR_IA32_CR_PAT:
		return pat_valid(*data);
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_LSTAR:
	case MSR_CSTAR:
		return __is_canonical_address(*data, 48);
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		/*
		 * Never refused, as on AMD (which ignores the high half); made
		 * canonical, so that Intel's VM entry, which checks them,
		 * cannot fail on a value the guest was allowed to write.
		 */
		*data = __canonical_address(*data, 48);
		return true;
	}
	return true;
}

/**
 * modvm_set_msr() - write a guest MSR.
 * @vcpu: the vCPU.
 * @index: MSR number.
 * @data: the value.
 * @host: written by userspace rather than by the guest.
 *
 * Return: 0, or non-zero for an unknown MSR or a reserved value (#GP).
 */
int modvm_set_msr(struct modvm_vcpu *vcpu, u32 index, u64 data, bool host)
{
	int r, i;

	if (!backend_msr_valid(vcpu, index, &data, host))
		return 1;
	r = modvm_backend->set_msr(vcpu, index, data, host);
	if (r == -ENOENT)
		r = modvm_irqchip_set_msr(vcpu, index, data, host);
	if (r != -ENOENT)
		return r;
	switch (index) {
	case MSR_IA32_TSC:
		vcpu->tsc_offset = data - rdtsc();
		return 0;
	case MSR_TSC_AUX:
		if (!tsc_aux_allowed(vcpu, host) || data >> 32)
			return 1;
		vcpu->tsc_aux = data;
		return 0;
	case MSR_IA32_APICBASE:
		if (data & ~APIC_BASE_VALID)
			return 1;
		vcpu->apic_base = data;
		return 0;
	case MSR_IA32_MISC_ENABLE:
		vcpu->misc_enable = data;
		return 0;
	case MTRR_DEF_TYPE:
		if (data & ~MTRR_DEF_TYPE_VALID)
			return 1;
		vcpu->mtrr_def_type = data;
		return 0;
	case MTRR_FIX64K_00000 ... MTRR_FIX4K_F8000:
		i = fixed_mtrr_index(index);
		if (i < 0)
			return 1;
		vcpu->mtrr_fixed[i] = data;
		return 0;
	case MTRR_PHYS_BASE0 ... MTRR_PHYS_BASE0 + 2 * MTRR_CAP_VCNT - 1:
		vcpu->mtrr_var[index - MTRR_PHYS_BASE0] = data;
		return 0;
	case MSR_IA32_UCODE_REV:
	case MSR_IA32_MCG_STATUS:
		return 0;
	case MSR_IA32_MCG_CAP:
		return host ? 0 : 1;
	}
	return 1;
}

/**
 * modvm_get_msr_index_list() - KVM_GET_MSR_INDEX_LIST.
 * @argp: struct kvm_msr_list; nmsrs = room.
 *
 * Return: 0; -E2BIG (with nmsrs set to the count) when the room is too
 * small; -EFAULT.
 */
long modvm_get_msr_index_list(struct kvm_msr_list __user *argp)
{
	u32 indices[ARRAY_SIZE(msrs_to_save)];
	struct kvm_msr_list list;
	u32 i, n = 0;

	for (i = 0; i < ARRAY_SIZE(msrs_to_save); i++) {
		if (msrs_to_save[i] != MSR_TSC_AUX || host_has_tsc_aux())
			indices[n++] = msrs_to_save[i];
	}
	if (copy_from_user(&list, argp, sizeof(list)))
		return -EFAULT;
	if (put_user(n, &argp->nmsrs))
		return -EFAULT;
	if (list.nmsrs < n)
		return -E2BIG;
	if (copy_to_user(argp->indices, indices, n * sizeof(indices[0])))
		return -EFAULT;
	return 0;
}

/**
 * modvm_msrs_ioctl() - KVM_GET_MSRS / KVM_SET_MSRS.
 * @vcpu: the vCPU.
 * @argp: struct kvm_msrs with nmsrs entries.
 * @set: KVM_SET_MSRS.
 *
 * Return: the number of MSRs processed before the first that failed;
 * -E2BIG for too many; -EFAULT; -ENOMEM.
 */
long modvm_msrs_ioctl(struct modvm_vcpu *vcpu, struct kvm_msrs __user *argp,
		      bool set)
{
	struct kvm_msr_entry *entries;
	struct kvm_msrs msrs;
	u32 i;
	long r;

	if (copy_from_user(&msrs, argp, sizeof(msrs)))
		return -EFAULT;
	if (msrs.nmsrs >= 256)	/* KVM's MAX_IO_MSRS */
		return -E2BIG;
	entries = memdup_user(argp->entries, msrs.nmsrs * sizeof(*entries));
	if (IS_ERR(entries))
		return PTR_ERR(entries);
	for (i = 0; i < msrs.nmsrs; i++) {
		if (set ? modvm_set_msr(vcpu, entries[i].index, entries[i].data, true) :
			  modvm_get_msr(vcpu, entries[i].index, &entries[i].data, true))
			break;
	}
	r = i;
	if (!set && copy_to_user(argp->entries, entries, i * sizeof(*entries)))
		r = -EFAULT;
	kfree(entries);
	return r;
}
