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
 * int modvm_svm_vmrun(unsigned long vmcb_pa, u64 *gprs,
 *		       unsigned long host_save_pa)
 *
 * Called with GIF=0. RAX and RSP of the guest live in the VMCB; the other
 * registers are loaded from and stored back to @gprs (indexed in the x86
 * register encoding). Host FS/GS/TR/LDTR and the SYSCALL/SYSENTER MSRs
 * are saved to @host_save_pa before and reloaded from it after, before
 * anything can use the host's GS base.
 *
 * Returns 0, or 1 when an SVM instruction faulted (#UD, #GP): EFER.SVME
 * was cleared under us by the reboot notifier or the kernel's emergency
 * restart. Each faulting instruction is then skipped, so the host state
 * is whatever the CPU still holds; the caller reports it.
 */
SYM_FUNC_START(modvm_svm_vmrun)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdx		/* host_save_pa: 24(%rsp) */
	push	%rsi		/* gprs: 16(%rsp) */
	push	%rdi		/* vmcb_pa: 8(%rsp) */
	push	$0		/* fault flag: (%rsp) */

	mov	%rdx, %rax
1:	vmsave	%rax
2:
	mov	%rsi, %rax
	LOAD_GUEST_GPRS %rax

	mov	8(%rsp), %rax	/* vmcb_pa */
	/* CPUs that leak host data through their buffers get them cleared. */
	VM_CLEAR_CPU_BUFFERS
3:	vmload	%rax
4:	vmrun	%rax
5:	vmsave	%rax
6:
	mov	16(%rsp), %rax	/* gprs */
	STORE_GUEST_GPRS %rax

	mov	24(%rsp), %rax	/* host_save_pa */
7:	vmload	%rax
8:
	/*
	 * Before the first RET: the guest must not steer the host's return
	 * predictions (RSB), nor, on Zen, its return target buffer (retbleed,
	 * SRSO); UNTRAIN_RET is an IBPB where the host chose that instead.
	 * No guest GPR is live here but in callee-saved registers, which are
	 * reloaded below; UNTRAIN_RET may clobber RAX, RCX, RDX.
	 */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT
	UNTRAIN_RET

	CLEAR_GUEST_GPRS

	pop	%rax		/* fault flag */
	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET

	/* A faulting SVM instruction: note it, go on after it. */
10:	movq	$1, (%rsp)
	jmp	2b
30:	movq	$1, (%rsp)
	jmp	4b
40:	movq	$1, (%rsp)
	jmp	5b
50:	movq	$1, (%rsp)
	jmp	6b
70:	movq	$1, (%rsp)
	jmp	8b

	_ASM_EXTABLE(1b, 10b)
	_ASM_EXTABLE(3b, 30b)
	_ASM_EXTABLE(4b, 40b)
	_ASM_EXTABLE(5b, 50b)
	_ASM_EXTABLE(7b, 70b)
SYM_FUNC_END(modvm_svm_vmrun)
