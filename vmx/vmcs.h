/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMX instructions as inline functions. Field encodings, control bits and
 * exit reasons come from the kernel's <asm/vmx.h>.
 */
#ifndef MODVM_VMX_VMCS_H
#define MODVM_VMX_VMCS_H

#include <linux/printk.h>
#include <asm/asm.h>
#include <asm/vmx.h>

/*
 * VMREAD/VMWRITE fail only without a current VMCS or with a bad field:
 * both are modvm bugs, reported without bringing the host down.
 */
static __always_inline unsigned long vmcs_read(unsigned long field)
{
	unsigned long value;
	bool fail;

	asm volatile("vmread %[field], %[value]"
		     CC_SET(na)
		     : [value] "=rm" (value), CC_OUT(na) (fail)
		     : [field] "r" (field)
		     : "cc");
	if (unlikely(fail)) {
		pr_err_ratelimited("modvm: vmx: vmread 0x%lx failed\n", field);
		return 0;
	}
	return value;
}

static __always_inline void vmcs_write(unsigned long field, unsigned long value)
{
	bool fail;

	asm volatile("vmwrite %[value], %[field]"
		     CC_SET(na)
		     : CC_OUT(na) (fail)
		     : [value] "rm" (value), [field] "r" (field)
		     : "cc", "memory");
	if (unlikely(fail))
		pr_err_ratelimited("modvm: vmx: vmwrite 0x%lx = 0x%lx failed\n",
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

/* VMXON, VMCLEAR, VMPTRLD: 0, or -EIO when the CPU refused (or faulted). */
static inline int vmxon(u64 pa)
{
	asm_volatile_goto("1: vmxon %[pa]\n\t"
			  "jbe %l[fail]\n\t"
			  _ASM_EXTABLE(1b, %l[fail])
			  : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
}

static inline int vmclear(u64 pa)
{
	asm_volatile_goto("1: vmclear %[pa]\n\t"
			  "jbe %l[fail]\n\t"
			  _ASM_EXTABLE(1b, %l[fail])
			  : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
}

static inline int vmptrld(u64 pa)
{
	asm_volatile_goto("1: vmptrld %[pa]\n\t"
			  "jbe %l[fail]\n\t"
			  _ASM_EXTABLE(1b, %l[fail])
			  : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
}

static inline void vmxoff(void)
{
	asm_volatile_goto("1: vmxoff\n\t"
			  _ASM_EXTABLE(1b, %l[fault])
			  : : : "cc", "memory" : fault);
fault:
	return;
}

/* INVEPT of @type for @eptp (the context type needs it, global ignores it). */
static inline void invept(unsigned long type, u64 eptp)
{
	struct {
		u64 eptp, reserved;
	} desc = { eptp, 0 };

	asm volatile("invept %[desc], %[type]"
		     : : [desc] "m" (desc), [type] "r" (type) : "cc", "memory");
}

#endif /* MODVM_VMX_VMCS_H */
