/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMLAUNCH/VMRESUME with the guest's general purpose registers loaded.
 * Everything else the CPU switches from the VMCS; the MSRs it does not
 * switch are handled in C around this call (see vmx.c).
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/unwind_hints.h>
#include <asm/msr-index.h>
#include <asm/nospec-branch.h>
#include <asm/percpu.h>

#include "../core/vmenter-macros.S"

/* VMCS field encoding of HOST_RSP (SDM appendix B.4.4). */
#define VMCS_HOST_RSP	0x6c14

.section .noinstr.text, "ax"

/*
 * int modvm_vmx_vmenter(u64 *gprs, bool launched)
 *
 * Called with interrupts off and the vCPU's VMCS current. RSP and RIP of
 * the guest live in the VMCS; the other registers are loaded from and
 * stored back to @gprs (indexed in the x86 register encoding). HOST_RIP
 * of the VMCS is modvm_vmx_vmexit; HOST_RSP is written here, so the exit
 * finds @gprs on top of the stack.
 *
 * Returns 0 after a VM exit (including a VM-entry failure reported as an
 * exit); 1 when VMLAUNCH/VMRESUME itself failed (VMfail: nothing was
 * loaded, VM_INSTRUCTION_ERROR says why); 2 when a VMX instruction
 * faulted because VMX operation was switched off under us (reboot).
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
1:	vmwrite	%rsp, %rax
	jbe	.Lvmfail

	/* CF = @launched: the MOVs and VERW below leave CF alone. */
	bt	$0, %esi

	mov	%rdi, %rax
	LOAD_GUEST_GPRS %rax
	mov	GPR(RAX)(%rax), %rax

	/* CPUs that leak host data through their buffers get them cleared. */
	VM_CLEAR_CPU_BUFFERS

	UNWIND_HINT_SAVE
	jnc	.Llaunch
2:	vmresume
	jmp	.Lvmfail
.Llaunch:
3:	vmlaunch
	jmp	.Lvmfail

	_ASM_EXTABLE(1b, .Lfault)
	_ASM_EXTABLE(2b, .Lfault)
	_ASM_EXTABLE(3b, .Lfault)

	/* The VM exit lands here with RSP = HOST_RSP, RIP = HOST_RIP. */
SYM_INNER_LABEL(modvm_vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	push	%rax
	mov	8(%rsp), %rax	/* gprs */
	STORE_GUEST_GPRS %rax
	pop	GPR(RAX)(%rax)

	/*
	 * Before the first RET: the guest must not steer the host's return
	 * predictions (RSB). With legacy IBRS the host's SPEC_CTRL must be
	 * written again after every exit, same value or not (the exit came
	 * from a less privileged predictor mode); the guest cannot change
	 * SPEC_CTRL itself (modvm offers no SPEC_CTRL: the MSR exits and
	 * #GPs), so that is the only switching there is to do. The
	 * branch-history clearing sequence is for hosts affected by BHI.
	 */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, \
			   X86_FEATURE_RSB_VMEXIT_LITE
	ALTERNATIVE "jmp .Lspec_ctrl_done", "", X86_FEATURE_KERNEL_IBRS
	mov	$MSR_IA32_SPEC_CTRL, %ecx
	mov	PER_CPU_VAR(x86_spec_ctrl_current), %eax
	mov	PER_CPU_VAR(x86_spec_ctrl_current + 4), %edx
	wrmsr
.Lspec_ctrl_done:
	CLEAR_BRANCH_HISTORY_VMEXIT

	xor	%ebx, %ebx
	jmp	.Lout

.Lvmfail:
	mov	$1, %ebx
	jmp	.Lout
.Lfault:
	mov	$2, %ebx
.Lout:
	CLEAR_GUEST_GPRS
	mov	%ebx, %eax
	add	$8, %rsp	/* gprs */
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(modvm_vmx_vmenter)
