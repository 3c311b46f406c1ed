/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMRUN with the guest's general purpose registers loaded, and the host's
 * segment/syscall state switched with VMSAVE/VMLOAD around it.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>

#define GPR(n)	((n) * 8)
#define RAX	0
#define RCX	1
#define RDX	2
#define RBX	3
#define RBP	5
#define RSI	6
#define RDI	7

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
	mov	GPR(RCX)(%rax), %rcx
	mov	GPR(RDX)(%rax), %rdx
	mov	GPR(RBX)(%rax), %rbx
	mov	GPR(RBP)(%rax), %rbp
	mov	GPR(RSI)(%rax), %rsi
	mov	GPR(RDI)(%rax), %rdi
	mov	GPR(8)(%rax), %r8
	mov	GPR(9)(%rax), %r9
	mov	GPR(10)(%rax), %r10
	mov	GPR(11)(%rax), %r11
	mov	GPR(12)(%rax), %r12
	mov	GPR(13)(%rax), %r13
	mov	GPR(14)(%rax), %r14
	mov	GPR(15)(%rax), %r15

	mov	(%rsp), %rax	/* vmcb_pa */
	vmload	%rax
	vmrun	%rax
	vmsave	%rax

	mov	8(%rsp), %rax	/* gprs */
	mov	%rcx, GPR(RCX)(%rax)
	mov	%rdx, GPR(RDX)(%rax)
	mov	%rbx, GPR(RBX)(%rax)
	mov	%rbp, GPR(RBP)(%rax)
	mov	%rsi, GPR(RSI)(%rax)
	mov	%rdi, GPR(RDI)(%rax)
	mov	%r8, GPR(8)(%rax)
	mov	%r9, GPR(9)(%rax)
	mov	%r10, GPR(10)(%rax)
	mov	%r11, GPR(11)(%rax)
	mov	%r12, GPR(12)(%rax)
	mov	%r13, GPR(13)(%rax)
	mov	%r14, GPR(14)(%rax)
	mov	%r15, GPR(15)(%rax)

	mov	16(%rsp), %rax	/* host_save_pa */
	vmload	%rax

	/* Leave no guest value in a register the host might speculate on. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(modvm_svm_vmrun)
