/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMRUN with the guest's general purpose registers loaded, and the host's
 * segment/syscall state switched with VMSAVE/VMLOAD around it.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>

#include "../core/vmenter-macros.S"

.section .noinstr.text, "ax"

/*
 * void modvm_svm_vmrun(unsigned long vmcb_pa, u64 *gprs,
 *			unsigned long host_save_pa)
 *
 * Called with GIF=0. RAX and RSP of the guest live in the VMCB; the other
 * registers are loaded from and stored back to @gprs (indexed in the x86
 * register encoding). Host FS/GS/TR/LDTR and the SYSCALL/SYSENTER MSRs
 * are saved to @host_save_pa before and reloaded from it after, before
 * anything can use the host's GS base.
 */
SYM_FUNC_START(modvm_svm_vmrun)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdx		/* host_save_pa */
	push	%rsi		/* gprs */
	push	%rdi		/* vmcb_pa */

	mov	%rdx, %rax
	vmsave	%rax

	mov	%rsi, %rax
	LOAD_GUEST_GPRS %rax

	mov	(%rsp), %rax	/* vmcb_pa */
	vmload	%rax
	vmrun	%rax
	vmsave	%rax

	mov	8(%rsp), %rax	/* gprs */
	STORE_GUEST_GPRS %rax

	mov	16(%rsp), %rax	/* host_save_pa */
	vmload	%rax

	CLEAR_GUEST_GPRS

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(modvm_svm_vmrun)
