// SPDX-License-Identifier: GPL-2.0
/*
 * Register ioctls of the vCPU fd: general purpose, segment and control,
 * FPU/SSE/AVX (through the kernel's guest fpstate), XCRs, debug.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/fpu/api.h>
#include <asm/fpu/xcr.h>
#include <asm/debugreg.h>

#include "modvm.h"

/* Offsets in the legacy (FXSAVE) region of an XSAVE image. */
#define FX_FCW		0
#define FX_FSW		2
#define FX_FTW		4
#define FX_FOP		6
#define FX_FIP		8
#define FX_FDP		16
#define FX_MXCSR	24
#define FX_ST		32
#define FX_XMM		160
#define XSAVE_HDR_BV	512

#define MODVM_MAX_XCRS	16

/**
 * modvm_efer_valid() - the EFER bits a guest may set.
 *
 * SCE, LME, LMA and NXE everywhere; FFXSR only where the host CPU has it
 * (AMD): the CPU would refuse the entry with it set elsewhere.
 *
 * Return: the mask of valid EFER bits.
 */
u64 modvm_efer_valid(void)
{
	u64 valid = EFER_SCE | EFER_LME | EFER_LMA | EFER_NX;

	if (boot_cpu_has(X86_FEATURE_FXSR_OPT))
		valid |= EFER_FFXSR;
	return valid;
}

/**
 * modvm_cr4_valid() - the CR4 bits a guest may set.
 *
 * MODVM_CR4_VALID less the features the host CPU lacks: VM entry would
 * refuse those.
 *
 * Return: the mask of valid CR4 bits.
 */
u64 modvm_cr4_valid(void)
{
	u64 valid = MODVM_CR4_VALID;

	if (!boot_cpu_has(X86_FEATURE_FSGSBASE))
		valid &= ~X86_CR4_FSGSBASE;
	if (!boot_cpu_has(X86_FEATURE_PCID))
		valid &= ~X86_CR4_PCIDE;
	if (!boot_cpu_has(X86_FEATURE_XSAVE))
		valid &= ~X86_CR4_OSXSAVE;
	if (!boot_cpu_has(X86_FEATURE_SMEP))
		valid &= ~X86_CR4_SMEP;
	if (!boot_cpu_has(X86_FEATURE_SMAP))
		valid &= ~X86_CR4_SMAP;
	return valid;
}

/* The checks KVM applies to KVM_SET_SREGS, before the backend sees it. */
static bool sregs_valid(const struct kvm_sregs *s)
{
	if ((s->efer & ~modvm_efer_valid()) || (s->cr4 & ~modvm_cr4_valid()) ||
	    (s->cr0 >> 32))
		return false;
	if ((s->cr0 & X86_CR0_PG) && !(s->cr0 & X86_CR0_PE))
		return false;
	if ((s->cr0 & X86_CR0_NW) && !(s->cr0 & X86_CR0_CD))
		return false;
	if ((s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG)) {
		if (!(s->cr4 & X86_CR4_PAE) || !(s->efer & EFER_LMA))
			return false;
		if (s->cr3 >> boot_cpu_data.x86_phys_bits)
			return false;
	} else if ((s->efer & EFER_LMA) || s->cs.l) {
		return false;
	}
	return true;
}

static void get_regs(struct modvm_vcpu *vcpu, struct kvm_regs *r)
{
	const u64 *g = vcpu->gprs;

	r->rax = g[MODVM_RAX]; r->rbx = g[MODVM_RBX];
	r->rcx = g[MODVM_RCX]; r->rdx = g[MODVM_RDX];
	r->rsi = g[MODVM_RSI]; r->rdi = g[MODVM_RDI];
	r->rsp = g[MODVM_RSP]; r->rbp = g[MODVM_RBP];
	r->r8 = g[MODVM_R8]; r->r9 = g[MODVM_R9];
	r->r10 = g[MODVM_R10]; r->r11 = g[MODVM_R11];
	r->r12 = g[MODVM_R12]; r->r13 = g[MODVM_R13];
	r->r14 = g[MODVM_R14]; r->r15 = g[MODVM_R15];
	r->rip = vcpu->rip;
	r->rflags = vcpu->rflags;
}

static void set_regs(struct modvm_vcpu *vcpu, const struct kvm_regs *r)
{
	u64 *g = vcpu->gprs;

	g[MODVM_RAX] = r->rax; g[MODVM_RBX] = r->rbx;
	g[MODVM_RCX] = r->rcx; g[MODVM_RDX] = r->rdx;
	g[MODVM_RSI] = r->rsi; g[MODVM_RDI] = r->rdi;
	g[MODVM_RSP] = r->rsp; g[MODVM_RBP] = r->rbp;
	g[MODVM_R8] = r->r8; g[MODVM_R9] = r->r9;
	g[MODVM_R10] = r->r10; g[MODVM_R11] = r->r11;
	g[MODVM_R12] = r->r12; g[MODVM_R13] = r->r13;
	g[MODVM_R14] = r->r14; g[MODVM_R15] = r->r15;
	vcpu->rip = r->rip;
	/* Bit 1 is always set; the CPU refuses anything else. */
	vcpu->rflags = r->rflags | X86_EFLAGS_FIXED;
	/*
	 * As KVM: new registers drop an exception queued by the last exit
	 * (it belonged to the state userspace just replaced).
	 */
	vcpu->exception.pending = false;
}

static void get_fpu(struct modvm_vcpu *vcpu, u8 *xsave, struct kvm_fpu *fpu)
{
	u32 pkru = 0;
	int i;

	fpu_copy_guest_fpstate_to_uabi(&vcpu->guest_fpu, xsave,
				       sizeof(struct kvm_xsave),
				       modvm_supported_xcr0(), pkru);
	memset(fpu, 0, sizeof(*fpu));
	for (i = 0; i < 8; i++)
		memcpy(fpu->fpr[i], xsave + FX_ST + 16 * i, 16);
	fpu->fcw = *(u16 *)(xsave + FX_FCW);
	fpu->fsw = *(u16 *)(xsave + FX_FSW);
	fpu->ftwx = *(u8 *)(xsave + FX_FTW);
	fpu->last_opcode = *(u16 *)(xsave + FX_FOP);
	fpu->last_ip = *(u64 *)(xsave + FX_FIP);
	fpu->last_dp = *(u64 *)(xsave + FX_FDP);
	memcpy(fpu->xmm, xsave + FX_XMM, sizeof(fpu->xmm));
	fpu->mxcsr = *(u32 *)(xsave + FX_MXCSR);
}

static int set_fpu(struct modvm_vcpu *vcpu, u8 *xsave, const struct kvm_fpu *fpu)
{
	u32 pkru = 0;
	int i;

	fpu_copy_guest_fpstate_to_uabi(&vcpu->guest_fpu, xsave,
				       sizeof(struct kvm_xsave),
				       modvm_supported_xcr0(), pkru);
	for (i = 0; i < 8; i++)
		memcpy(xsave + FX_ST + 16 * i, fpu->fpr[i], 16);
	*(u16 *)(xsave + FX_FCW) = fpu->fcw;
	*(u16 *)(xsave + FX_FSW) = fpu->fsw;
	*(u8 *)(xsave + FX_FTW) = fpu->ftwx;
	*(u16 *)(xsave + FX_FOP) = fpu->last_opcode;
	*(u64 *)(xsave + FX_FIP) = fpu->last_ip;
	*(u64 *)(xsave + FX_FDP) = fpu->last_dp;
	memcpy(xsave + FX_XMM, fpu->xmm, sizeof(fpu->xmm));
	*(u32 *)(xsave + FX_MXCSR) = fpu->mxcsr;
	*(u64 *)(xsave + XSAVE_HDR_BV) |= XFEATURE_MASK_FPSSE;
	return fpu_copy_uabi_to_guest_fpstate(&vcpu->guest_fpu, xsave,
					      modvm_supported_xcr0(), &pkru);
}

static int set_xcrs(struct modvm_vcpu *vcpu, const struct kvm_xcrs *xcrs)
{
	u64 allowed = modvm_guest_xcr0(vcpu);
	u32 i;

	if (xcrs->nr_xcrs > MODVM_MAX_XCRS || xcrs->flags)
		return -EINVAL;
	for (i = 0; i < xcrs->nr_xcrs; i++) {
		u64 v = xcrs->xcrs[i].value;

		if (xcrs->xcrs[i].xcr != XCR_XFEATURE_ENABLED_MASK)
			continue;
		if (!(v & XFEATURE_MASK_FP) || (v & ~allowed) ||
		    ((v & XFEATURE_MASK_YMM) && !(v & XFEATURE_MASK_SSE)))
			return -EINVAL;
		vcpu->xcr0 = v;
	}
	return 0;
}

static void get_debugregs(struct modvm_vcpu *vcpu, struct kvm_debugregs *d)
{
	int i;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < 4; i++)
		d->db[i] = modvm_backend->get_dr(vcpu, i);
	d->dr6 = modvm_backend->get_dr(vcpu, 6);
	d->dr7 = modvm_backend->get_dr(vcpu, 7);
}

static int set_debugregs(struct modvm_vcpu *vcpu, const struct kvm_debugregs *d)
{
	int i;

	if (d->flags || (d->dr6 >> 32) || (d->dr7 >> 32))
		return -EINVAL;
	for (i = 0; i < 4; i++)
		modvm_backend->set_dr(vcpu, i, d->db[i]);
	modvm_backend->set_dr(vcpu, 6, d->dr6);
	modvm_backend->set_dr(vcpu, 7, d->dr7);
	return 0;
}

/**
 * modvm_load_guest_db() - put the guest's DR0-3 in the CPU before entry.
 * @db: the guest's DR0-3.
 *
 * Interrupts off. Host breakpoints (perf, ptrace) are disarmed first:
 * armed with the guest's addresses, they would fire in the host, between
 * here and the entry and after the exit.
 */
void modvm_load_guest_db(const u64 *db)
{
	if (hw_breakpoint_active())
		set_debugreg(0, 7);
	set_debugreg(db[0], 0);
	set_debugreg(db[1], 1);
	set_debugreg(db[2], 2);
	set_debugreg(db[3], 3);
}

/**
 * modvm_save_guest_db() - read the guest's DR0-3 back after the exit.
 * @db: the guest's DR0-3.
 *
 * Interrupts off. The host's breakpoints, if any, are armed again.
 */
void modvm_save_guest_db(u64 *db)
{
	get_debugreg(db[0], 0);
	get_debugreg(db[1], 1);
	get_debugreg(db[2], 2);
	get_debugreg(db[3], 3);
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
}

/**
 * modvm_vcpu_regs_ioctl() - the register ioctls of a vCPU.
 * @vcpu: the vCPU, its mutex held.
 * @ioctl: KVM_GET/SET_REGS, _SREGS, _FPU, _XSAVE, _XCRS or _DEBUGREGS.
 * @argp: the user buffer.
 *
 * Return: 0; -EFAULT; -EINVAL for a state KVM refuses; -ENOTTY when
 * @ioctl is not a register ioctl.
 */
long modvm_vcpu_regs_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
			   void __user *argp)
{
	union {
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_fpu fpu;
		struct kvm_xcrs xcrs;
		struct kvm_debugregs dregs;
	} *u;
	struct kvm_xsave *xsave = NULL;
	long r = 0;

	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		return -ENOMEM;
	if (ioctl == KVM_GET_FPU || ioctl == KVM_SET_FPU ||
	    ioctl == KVM_GET_XSAVE || ioctl == KVM_SET_XSAVE) {
		xsave = kzalloc(sizeof(*xsave), GFP_KERNEL);
		if (!xsave) {
			kfree(u);
			return -ENOMEM;
		}
	}

	switch (ioctl) {
	case KVM_GET_REGS:
		get_regs(vcpu, &u->regs);
		if (copy_to_user(argp, &u->regs, sizeof(u->regs)))
			r = -EFAULT;
		break;
	case KVM_SET_REGS:
		if (copy_from_user(&u->regs, argp, sizeof(u->regs)))
			r = -EFAULT;
		else
			set_regs(vcpu, &u->regs);
		break;
	case KVM_GET_SREGS:
		modvm_backend->get_sregs(vcpu, &u->sregs);
		/* With a local APIC in the kernel, CR8 is its TPR. */
		if (modvm_irqchip_in_kernel(vcpu->vm))
			u->sregs.cr8 = modvm_irqchip_get_cr8(vcpu);
		if (copy_to_user(argp, &u->sregs, sizeof(u->sregs)))
			r = -EFAULT;
		break;
	case KVM_SET_SREGS:
		if (copy_from_user(&u->sregs, argp, sizeof(u->sregs)))
			r = -EFAULT;
		else if (!sregs_valid(&u->sregs))
			r = -EINVAL;
		/* The in-kernel APIC follows its base (x2APIC ID, LDR, ...). */
		else if (modvm_irqchip_in_kernel(vcpu->vm) &&
			 modvm_set_msr(vcpu, MSR_IA32_APICBASE,
				       u->sregs.apic_base, true))
			r = -EINVAL;
		else
			r = modvm_backend->set_sregs(vcpu, &u->sregs);
		if (!r && modvm_irqchip_in_kernel(vcpu->vm))
			modvm_irqchip_set_cr8(vcpu, u->sregs.cr8);
		break;
	case KVM_GET_FPU:
		get_fpu(vcpu, (u8 *)xsave->region, &u->fpu);
		if (copy_to_user(argp, &u->fpu, sizeof(u->fpu)))
			r = -EFAULT;
		break;
	case KVM_SET_FPU:
		if (copy_from_user(&u->fpu, argp, sizeof(u->fpu)))
			r = -EFAULT;
		else
			r = set_fpu(vcpu, (u8 *)xsave->region, &u->fpu);
		break;
	case KVM_GET_XSAVE:
		fpu_copy_guest_fpstate_to_uabi(&vcpu->guest_fpu, xsave->region,
					       sizeof(xsave->region),
					       modvm_supported_xcr0(), 0);
		if (copy_to_user(argp, xsave, sizeof(*xsave)))
			r = -EFAULT;
		break;
	case KVM_SET_XSAVE: {
		u32 pkru = 0;

		if (copy_from_user(xsave, argp, sizeof(*xsave)))
			r = -EFAULT;
		else
			r = fpu_copy_uabi_to_guest_fpstate(&vcpu->guest_fpu,
							   xsave->region,
							   modvm_supported_xcr0(),
							   &pkru);
		break;
	}
	case KVM_GET_XCRS:
		u->xcrs.nr_xcrs = 1;
		u->xcrs.xcrs[0].xcr = XCR_XFEATURE_ENABLED_MASK;
		u->xcrs.xcrs[0].value = vcpu->xcr0;
		if (copy_to_user(argp, &u->xcrs, sizeof(u->xcrs)))
			r = -EFAULT;
		break;
	case KVM_SET_XCRS:
		if (copy_from_user(&u->xcrs, argp, sizeof(u->xcrs)))
			r = -EFAULT;
		else
			r = set_xcrs(vcpu, &u->xcrs);
		break;
	case KVM_GET_DEBUGREGS:
		get_debugregs(vcpu, &u->dregs);
		if (copy_to_user(argp, &u->dregs, sizeof(u->dregs)))
			r = -EFAULT;
		break;
	case KVM_SET_DEBUGREGS:
		if (copy_from_user(&u->dregs, argp, sizeof(u->dregs)))
			r = -EFAULT;
		else
			r = set_debugregs(vcpu, &u->dregs);
		break;
	default:
		r = -ENOTTY;
	}
	kfree(xsave);
	kfree(u);
	return r;
}
