/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMLAUNCH/VMRESUME with the guest's general purpose registers loaded.
 * Everything else the CPU switches from the VMCS; the MSRs it does not
 * switch are handled in C around this call (see vmx.c).
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/unwind_hints.h>
#include <asm/nospec-branch.h>

#define GPR(n)	((n) * 8)
#define RAX	0
#define RCX	1
#define RDX	2
#define RBX	3
#define RBP	5
#define RSI	6
#define RDI	7

/* VMCS field encoding of HOST_RSP (SDM appendix B.4.4). */
#define VMCS_HOST_RSP	0x6c14

.section .noinstr.text, "ax"

/*
 * bool modvm_vmx_vmenter(u64 *gprs, bool launched)
 *
 * Called with interrupts off and the vCPU's VMCS current. RSP and RIP of
 * the guest live in the VMCS; the other registers are loaded from and
 * stored back to @gprs (indexed in the x86 register encoding). HOST_RIP
 * of the VMCS is modvm_vmx_vmexit; HOST_RSP is written here, so the exit
 * finds @gprs on top of the stack.
 *
 * Returns false after a VM exit (including a VM-entry failure reported as
 * an exit), true when VMLAUNCH/VMRESUME itself failed (VMfail: nothing
 * was loaded, VM_INSTRUCTION_ERROR says why).
 */
SYM_FUNC_START(modvm_vmx_vmenter)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdi		/* gprs: (%rsp) at the VM exit */

	mov	$VMCS_HOST_RSP, %rax
	vmwrite	%rsp, %rax
	jbe	.Lvmfail

	/* The flags of this test survive the MOVs below. */
	cmpb	$0, %sil

	mov	%rdi, %rax
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
	mov	GPR(RAX)(%rax), %rax

	UNWIND_HINT_SAVE
	je	.Llaunch
	vmresume
	jmp	.Lvmfail
.Llaunch:
	vmlaunch
	jmp	.Lvmfail

	/* The VM exit lands here with RSP = HOST_RSP, RIP = HOST_RIP. */
SYM_INNER_LABEL(modvm_vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	push	%rax
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
	pop	GPR(RAX)(%rax)

	/* The guest must not steer the host's return predictions. */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, \
			   X86_FEATURE_RSB_VMEXIT_LITE

	/* Leave no guest value in a register the host might speculate on. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%eax, %eax
	jmp	.Lout

.Lvmfail:
	mov	$1, %eax
.Lout:
	add	$8, %rsp	/* gprs */
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(modvm_vmx_vmenter)
