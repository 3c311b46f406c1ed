/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Included, not assembled on its own (Kbuild lists no object for it).
 * Assembler macros shared by the guest entry code of both backends
 * (svm/vmenter.S, vmx/vmenter.S): the guest's general purpose registers
 * live in a u64 array indexed in the x86 register encoding (enum
 * modvm_reg), and are loaded into and stored from the CPU around the
 * entry. The backends differ in where RAX and RSP live (VMCB, VMCS), so
 * the macros leave those two to the caller.
 */
#ifndef MODVM_CORE_VMENTER_MACROS_S
#define MODVM_CORE_VMENTER_MACROS_S

#define GPR(n)	((n) * 8)
#define RAX	0
#define RCX	1
#define RDX	2
#define RBX	3
#define RBP	5
#define RSI	6
#define RDI	7

/* Load RCX..R15 but RSP from the array at \base (which must be RAX). */
.macro LOAD_GUEST_GPRS base:req
	mov	GPR(RCX)(\base), %rcx
	mov	GPR(RDX)(\base), %rdx
	mov	GPR(RBX)(\base), %rbx
	mov	GPR(RBP)(\base), %rbp
	mov	GPR(RSI)(\base), %rsi
	mov	GPR(RDI)(\base), %rdi
	mov	GPR(8)(\base), %r8
	mov	GPR(9)(\base), %r9
	mov	GPR(10)(\base), %r10
	mov	GPR(11)(\base), %r11
	mov	GPR(12)(\base), %r12
	mov	GPR(13)(\base), %r13
	mov	GPR(14)(\base), %r14
	mov	GPR(15)(\base), %r15
.endm

/* Store RCX..R15 but RSP to the array at \base (which must be RAX). */
.macro STORE_GUEST_GPRS base:req
	mov	%rcx, GPR(RCX)(\base)
	mov	%rdx, GPR(RDX)(\base)
	mov	%rbx, GPR(RBX)(\base)
	mov	%rbp, GPR(RBP)(\base)
	mov	%rsi, GPR(RSI)(\base)
	mov	%rdi, GPR(RDI)(\base)
	mov	%r8, GPR(8)(\base)
	mov	%r9, GPR(9)(\base)
	mov	%r10, GPR(10)(\base)
	mov	%r11, GPR(11)(\base)
	mov	%r12, GPR(12)(\base)
	mov	%r13, GPR(13)(\base)
	mov	%r14, GPR(14)(\base)
	mov	%r15, GPR(15)(\base)
.endm

/*
 * Leave no guest value in a caller-saved register the host might
 * speculate on; the callee-saved ones are restored from the stack next.
 */
.macro CLEAR_GUEST_GPRS
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
.endm

#endif /* MODVM_CORE_VMENTER_MACROS_S */
