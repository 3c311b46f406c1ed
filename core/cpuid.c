// SPDX-License-Identifier: GPL-2.0
/*
 * Guest CPUID: what modvm can virtualize (KVM_GET_SUPPORTED_CPUID), the
 * table userspace chooses (KVM_SET_CPUID2) and the CPUID exit served from
 * it, with the bits that follow guest state (OSXSAVE, APIC, XSAVE size)
 * kept current.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/processor.h>
#include <asm/fpu/xcr.h>

#include "modvm.h"

#define B(n)	BIT(n)

/* Feature bits modvm virtualizes, per leaf and register. */
#define LEAF1_EDX (GENMASK(9, 0) | GENMASK(17, 11) | B(19) | \
		   B(23) | B(24) | B(25) | B(26) | B(27))
#define LEAF1_ECX (B(0) | B(1) | B(9) | B(12) | B(13) | B(17) | B(19) | \
		   B(20) | B(22) | B(23) | B(25) | B(26) | B(28) | B(29) | B(30))
#define LEAF1_ECX_OSXSAVE	B(27)
#define LEAF1_ECX_HYPERVISOR	B(31)
/*
 * x2APIC is emulated by the in-kernel LAPIC whatever the host has, as
 * KVM does; TSC-deadline, as in KVM, is for userspace to set when
 * KVM_CAP_TSC_DEADLINE_TIMER is reported.
 */
#define LEAF1_ECX_EMULATED	B(21)
#define LEAF1_EDX_APIC		B(9)
#define LEAF7_EBX (B(0) | B(3) | B(5) | B(7) | B(8) | B(9) | B(10) | B(18) | \
		   B(19) | B(20) | B(23) | B(24) | B(29))
#define LEAFD1_EAX (B(0) | B(1) | B(2))
#define EXT1_ECX (B(0) | B(5) | B(6) | B(7) | B(8))
#define EXT1_EDX (GENMASK(9, 0) | GENMASK(17, 11) | B(20) | B(22) | B(23) | \
		  B(24) | B(26) | B(27) | B(29))
#define EXT7_EDX_INVARIANT_TSC	B(8)

/**
 * modvm_supported_xcr0() - XSAVE components a guest may enable.
 *
 * Return: x87, SSE and AVX state, as far as the host has them enabled.
 */
u64 modvm_supported_xcr0(void)
{
	if (!boot_cpu_has(X86_FEATURE_XSAVE))
		return XFEATURE_MASK_FPSSE;
	return xgetbv(XCR_XFEATURE_ENABLED_MASK) &
	       (XFEATURE_MASK_FPSSE | XFEATURE_MASK_YMM);
}

/* Bytes of XSAVE area for the components in @xcr0. */
static u32 xsave_size(u64 xcr0)
{
	u32 size = 512 + 64, eax, ebx, ecx, edx;
	int i;

	for (i = 2; i < 63; i++) {
		if (!(xcr0 & BIT_ULL(i)))
			continue;
		cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx);
		size = max(size, eax + ebx);
	}
	return size;
}

static bool add_entry(struct kvm_cpuid_entry2 *e, u32 *n, u32 max, u32 func,
		      u32 index, bool indexed)
{
	struct kvm_cpuid_entry2 *x;

	if (*n >= max)
		return false;
	x = &e[(*n)++];
	memset(x, 0, sizeof(*x));
	x->function = func;
	x->index = index;
	x->flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	cpuid_count(func, index, &x->eax, &x->ebx, &x->ecx, &x->edx);

	switch (func) {
	case 0:
		x->eax = min(x->eax, 0xdu);
		break;
	case 1:
		x->ecx = (x->ecx & LEAF1_ECX) | LEAF1_ECX_HYPERVISOR |
			 LEAF1_ECX_EMULATED;
		x->edx &= LEAF1_EDX;
		break;
	case 7:
		x->eax = 0;
		x->ebx &= LEAF7_EBX;
		x->ecx = 0;
		x->edx = 0;
		break;
	case 0xd:
		if (index == 0) {
			u64 xcr0 = modvm_supported_xcr0();

			x->eax = (u32)xcr0;
			x->edx = xcr0 >> 32;
			x->ecx = xsave_size(xcr0);
			x->ebx = x->ecx;
		} else if (index == 1) {
			x->eax &= LEAFD1_EAX;
			x->ebx = 0;
			x->ecx = 0;
			x->edx = 0;
		}
		break;
	case 0x80000000:
		x->eax = min(x->eax, 0x80000008u);
		break;
	case 0x80000001:
		x->ecx &= EXT1_ECX;
		x->edx &= EXT1_EDX;
		break;
	case 0x80000007:
		x->eax = 0;
		x->ebx = 0;
		x->ecx = 0;
		x->edx &= EXT7_EDX_INVARIANT_TSC;
		break;
	case 0x80000008:
		x->ebx = 0;
		x->ecx = 0;
		x->edx = 0;
		break;
	}
	return true;
}

/* Fill @e with the supported table; returns the count or -E2BIG. */
static int build_supported(struct kvm_cpuid_entry2 *e, u32 max)
{
	u32 n = 0, basic_max = min(cpuid_eax(0), 0xdu);
	u32 ext_max = min(cpuid_eax(0x80000000), 0x80000008u);
	u32 f, i;
	bool ok = true;

	for (f = 0; f <= basic_max && ok; f++) {
		switch (f) {
		case 4:
			for (i = 0; i < 16 && ok; i++) {
				u32 eax, ebx, ecx, edx;

				cpuid_count(4, i, &eax, &ebx, &ecx, &edx);
				if (!(eax & 0x1f))	/* no more cache levels */
					break;
				ok = add_entry(e, &n, max, f, i, true);
			}
			break;
		case 7:
			ok = add_entry(e, &n, max, f, 0, true);
			break;
		case 0xd:
			for (i = 0; i < 3 && ok; i++)
				ok = add_entry(e, &n, max, f, i, true);
			break;
		case 3: case 5: case 6: case 8: case 9: case 0xa: case 0xb: case 0xc:
			break;	/* serial number, MONITOR, power, PMU, topology */
		default:
			ok = add_entry(e, &n, max, f, 0, false);
		}
	}
	for (f = 0x80000000; f <= ext_max && ok; f++)
		ok = add_entry(e, &n, max, f, 0, false);
	return ok ? n : -E2BIG;
}

/**
 * modvm_get_supported_cpuid() - KVM_GET_SUPPORTED_CPUID.
 * @argp: struct kvm_cpuid2 from userspace, nent = room for entries.
 *
 * Return: 0 with nent and entries written; -E2BIG when nent is too small;
 * -EFAULT; -ENOMEM.
 */
long modvm_get_supported_cpuid(struct kvm_cpuid2 __user *argp)
{
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 *e;
	int n;
	long r = 0;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent < 1)
		return -E2BIG;
	hdr.nent = min_t(u32, hdr.nent, MODVM_MAX_CPUID_ENTRIES);
	e = kvcalloc(hdr.nent, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	n = build_supported(e, hdr.nent);
	if (n < 0) {
		r = n;
		goto out;
	}
	hdr.nent = n;
	if (copy_to_user(argp, &hdr, sizeof(hdr)) ||
	    copy_to_user(argp->entries, e, n * sizeof(*e)))
		r = -EFAULT;
out:
	kvfree(e);
	return r;
}

/**
 * modvm_set_cpuid2() - KVM_SET_CPUID2: the guest's CPUID table.
 * @vcpu: the vCPU.
 * @argp: struct kvm_cpuid2 from userspace.
 *
 * Once the vCPU has run, only the same table may be set again (as KVM).
 *
 * Return: 0; -E2BIG for more than 256 entries; -EINVAL for a different
 * table after KVM_RUN; -EFAULT; -ENOMEM.
 */
long modvm_set_cpuid2(struct modvm_vcpu *vcpu, struct kvm_cpuid2 __user *argp)
{
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 *e;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent > MODVM_MAX_CPUID_ENTRIES)
		return -E2BIG;
	e = hdr.nent ? vmemdup_user(argp->entries, hdr.nent * sizeof(*e)) : NULL;
	if (IS_ERR(e))
		return PTR_ERR(e);
	if (vcpu->cpu != -1) {
		bool same = hdr.nent == vcpu->cpuid_nent &&
			    (!hdr.nent || !memcmp(e, vcpu->cpuid, hdr.nent * sizeof(*e)));

		kvfree(e);
		return same ? 0 : -EINVAL;
	}
	kvfree(vcpu->cpuid);
	vcpu->cpuid = e;
	vcpu->cpuid_nent = hdr.nent;
	return 0;
}

/**
 * modvm_get_cpuid2() - KVM_GET_CPUID2: the table set before.
 * @vcpu: the vCPU.
 * @argp: struct kvm_cpuid2, nent = room for entries.
 *
 * Return: 0; -E2BIG when nent is too small; -EFAULT.
 */
long modvm_get_cpuid2(struct modvm_vcpu *vcpu, struct kvm_cpuid2 __user *argp)
{
	struct kvm_cpuid2 hdr;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent < vcpu->cpuid_nent)
		return -E2BIG;
	hdr.nent = vcpu->cpuid_nent;
	if (copy_to_user(argp, &hdr, sizeof(hdr)) ||
	    copy_to_user(argp->entries, vcpu->cpuid,
			 vcpu->cpuid_nent * sizeof(*vcpu->cpuid)))
		return -EFAULT;
	return 0;
}

/**
 * modvm_find_cpuid() - the guest's entry for a leaf.
 * @vcpu: the vCPU.
 * @function: leaf (EAX).
 * @index: subleaf (ECX), for indexed leaves.
 *
 * Return: the entry, or NULL.
 */
struct kvm_cpuid_entry2 *modvm_find_cpuid(struct modvm_vcpu *vcpu, u32 function,
					  u32 index)
{
	u32 i;

	for (i = 0; i < vcpu->cpuid_nent; i++) {
		struct kvm_cpuid_entry2 *e = &vcpu->cpuid[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

/**
 * modvm_guest_xcr0() - the XCR0 bits the guest's CPUID allows.
 * @vcpu: the vCPU.
 *
 * As KVM: the features leaf 0xD.0 lists in EDX:EAX that the host
 * supports, and x87 always (x87 alone without a leaf 0xD). Both XSETBV
 * and KVM_SET_XCRS are held to it.
 *
 * Return: the allowed XCR0 bits.
 */
u64 modvm_guest_xcr0(struct modvm_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = modvm_find_cpuid(vcpu, 0xd, 0);
	u64 bits = e ? e->eax | ((u64)e->edx << 32) : 0;

	return (bits & modvm_supported_xcr0()) | XFEATURE_MASK_FP;
}

/*
 * A leaf beyond the guest's range: Intel CPUs answer with the highest
 * basic leaf, AMD ones with zeros (as KVM models them).
 */
static struct kvm_cpuid_entry2 *out_of_range_entry(struct modvm_vcpu *vcpu,
						   u32 function, u32 index)
{
	struct kvm_cpuid_entry2 *basic = modvm_find_cpuid(vcpu, 0, 0), *class;
	u32 class_leaf;

	/* "GenuineIntel" in EBX, EDX, ECX. */
	if (!basic || basic->ebx != 0x756e6547 || basic->edx != 0x49656e69 ||
	    basic->ecx != 0x6c65746e)
		return NULL;
	if (function >= 0x40000000 && function <= 0x4fffffff)
		class_leaf = function & 0xffffff00;
	else if (function >= 0xc0000000)
		class_leaf = 0xc0000000;
	else
		class_leaf = function & 0x80000000;
	class = modvm_find_cpuid(vcpu, class_leaf, 0);
	if (class && function <= class->eax)
		return NULL;
	return modvm_find_cpuid(vcpu, basic->eax, index);
}

/**
 * modvm_emulate_cpuid() - execute CPUID for the guest.
 * @vcpu: the vCPU; EAX and ECX hold the leaf and subleaf.
 *
 * Leaves missing from the table read as zero, or on an Intel guest past
 * the end of a range as the highest basic leaf.
 */
void modvm_emulate_cpuid(struct modvm_vcpu *vcpu)
{
	u32 function = vcpu->gprs[MODVM_RAX], index = vcpu->gprs[MODVM_RCX];
	struct kvm_cpuid_entry2 *e = modvm_find_cpuid(vcpu, function, index);
	u32 eax = 0, ebx = 0, ecx = 0, edx = 0;

	if (!e)
		e = out_of_range_entry(vcpu, function, index);
	if (e) {
		eax = e->eax;
		ebx = e->ebx;
		ecx = e->ecx;
		edx = e->edx;
	}
	if (function == 1) {
		struct modvm_paging_state ps;

		modvm_backend->get_paging(vcpu, &ps);
		ecx &= ~LEAF1_ECX_OSXSAVE;
		if (ps.cr4 & X86_CR4_OSXSAVE)
			ecx |= LEAF1_ECX_OSXSAVE;
		if (!(vcpu->apic_base & MSR_IA32_APICBASE_ENABLE))
			edx &= ~LEAF1_EDX_APIC;
	} else if (function == 0xd && index == 0 && e) {
		ebx = xsave_size(vcpu->xcr0);
	}
	vcpu->gprs[MODVM_RAX] = eax;
	vcpu->gprs[MODVM_RBX] = ebx;
	vcpu->gprs[MODVM_RCX] = ecx;
	vcpu->gprs[MODVM_RDX] = edx;
}
