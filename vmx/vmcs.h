/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMX instructions as inline functions. Field encodings, control bits and
 * exit reasons come from the kernel's <asm/vmx.h>.
 */
#ifndef MODVM_VMX_VMCS_H
#define MODVM_VMX_VMCS_H

#include <linux/compiler.h>
#include <linux/linkage.h>
#include <linux/printk.h>
#include <asm/asm.h>
#include <asm/vmx.h>

#include "../core/modvm.h"

/*
 * VMREAD/VMWRITE fail only without a current VMCS or with a bad field:
 * both are modvm bugs, reported without bringing the host down. They
 * fault (#UD) once VMX operation was switched off under us (reboot);
 * the exception table turns that into a read of 0 / a lost write.
 */
static __always_inline unsigned long vmcs_read(unsigned long field)
{
	unsigned long value;
	u8 fail;

	asm volatile("1: vmread %[field], %[value]\n\t"
		     "setna %[fail]\n\t"
		     "jmp 3f\n"
		     "2: movb $2, %[fail]\n"
		     "3:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : [value] "=r" (value), [fail] "=qm" (fail)
		     : [field] "r" (field)
		     : "cc");
	if (unlikely(fail)) {
		if (fail == 2)
			modvm_hw_fault("vmread");
		else
			pr_err_ratelimited("vmread 0x%lx failed\n", field);
		return 0;
	}
	return value;
}

static __always_inline void vmcs_write(unsigned long field, unsigned long value)
{
	u8 fail;

	asm volatile("1: vmwrite %[value], %[field]\n\t"
		     "setna %[fail]\n\t"
		     "jmp 3f\n"
		     "2: movb $2, %[fail]\n"
		     "3:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : [fail] "=qm" (fail)
		     : [value] "rm" (value), [field] "r" (field)
		     : "cc", "memory");
	if (unlikely(fail == 2))
		modvm_hw_fault("vmwrite");
	else if (unlikely(fail))
		pr_err_ratelimited("vmwrite 0x%lx = 0x%lx failed\n",
				   field, value);
}

static __always_inline void vmcs_set_bits(unsigned long field, u32 bits)
{
	vmcs_write(field, vmcs_read(field) | bits);
}

static __always_inline void vmcs_clear_bits(unsigned long field, u32 bits)
{
	vmcs_write(field, vmcs_read(field) & ~bits);
}

/*
 * VMXON, VMCLEAR, VMPTRLD: 0, or -EIO when the CPU refused (VMfail) or
 * faulted (#GP, #UD), which the exception table turns into a failure.
 */
#define VMX_PA_INSN(insn, pa)						\
({									\
	bool __fail;							\
									\
	asm volatile("1: " insn " %[p]\n\t"				\
		     "setna %[f]\n\t"					\
		     "jmp 3f\n"						\
		     "2: movb $1, %[f]\n"				\
		     "3:\n\t"						\
		     _ASM_EXTABLE(1b, 2b)				\
		     : [f] "=qm" (__fail)				\
		     : [p] "m" (pa)					\
		     : "cc", "memory");					\
	__fail ? -EIO : 0;						\
})

static inline int vmx_on(u64 pa)
{
	return VMX_PA_INSN("vmxon", pa);
}

static inline int vmcs_clear(u64 pa)
{
	return VMX_PA_INSN("vmclear", pa);
}

static inline int vmcs_load(u64 pa)
{
	return VMX_PA_INSN("vmptrld", pa);
}

static inline void vmx_off(void)
{
	asm volatile("1: vmxoff\n"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : : : "cc", "memory");
}

/*
 * INVEPT of @type for @eptp (the context type needs it, global ignores
 * it). A fault (VMX switched off under us) has nothing left to flush.
 */
static inline void ept_sync(unsigned long type, u64 eptp)
{
	struct {
		u64 eptp, reserved;
	} desc = { eptp, 0 };

	asm volatile("1: invept %[desc], %[type]\n"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : : [desc] "m" (desc), [type] "r" (type) : "cc", "memory");
}

/* vmenter.S */
asmlinkage int modvm_vmx_vmenter(u64 *gprs, bool launched);
extern const char modvm_vmx_vmexit[];

#endif /* MODVM_VMX_VMCS_H */
