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

#include "../core/vmenter-macros.S"

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
	LOAD_GUEST_GPRS %rax
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
	STORE_GUEST_GPRS %rax
	pop	GPR(RAX)(%rax)

	/* The guest must not steer the host's return predictions. */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, \
			   X86_FEATURE_RSB_VMEXIT_LITE

	CLEAR_GUEST_GPRS
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
