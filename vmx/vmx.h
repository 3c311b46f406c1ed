/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What vmx.c shares with realmode.c: the VMCS segment fields and the
 * state of a real-mode guest run in virtual-8086 mode.
 */
#ifndef MODVM_VMX_VMX_H
#define MODVM_VMX_VMX_H

#include "vmcs.h"

/* VMCS segment fields are laid out in this order (SDM appendix B). */
enum {
	SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR,
	NR_SEGS
};

#define SEG_SELECTOR(s)		(GUEST_ES_SELECTOR + 2 * (s))
#define SEG_LIMIT(s)		(GUEST_ES_LIMIT + 2 * (s))
#define SEG_AR(s)		(GUEST_ES_AR_BYTES + 2 * (s))
#define SEG_BASE(s)		(GUEST_ES_BASE + 2 * (s))

/* What vmx_rmode_complete() has to do after an exit of a real-mode guest. */
enum vmx_rmode_todo {
	RMODE_EVENT,	/* deliver @event_* through the IVT */
	RMODE_INT,	/* INT n at RIP faulted on the empty IDT: deliver it */
	RMODE_GP,	/* #GP(0) in vm86: a privileged or I/O instruction */
	RMODE_STEP,	/* the state fits no vm86 entry: emulate one instruction */
};

/**
 * struct vmx_rmode - a real-mode guest without unrestricted guest.
 * @active: the VMCS holds the vm86 view (only inside vmx_run()).
 * @sel, @base, @limit, @ar: the guest's segments while it is active.
 * @idt_base, @idt_limit: the guest's IDTR (its IVT) while active.
 * @exception_bitmap: the bitmap to restore when leaving.
 * @todo: what the last MODVM_EXIT_BACKEND asks for.
 * @event_info: for RMODE_EVENT, the VM-entry interruption information of
 *	the event; @event_len the instruction length of a software one.
 */
struct vmx_rmode {
	bool active;
	u16 sel[NR_SEGS];
	u64 base[NR_SEGS];
	u32 limit[NR_SEGS], ar[NR_SEGS];
	u64 idt_base;
	u32 idt_limit;
	u32 exception_bitmap;
	u8 todo;
	u32 event_info, event_len;
};

bool vmx_rmode_enter(struct vmx_rmode *rm);
void vmx_rmode_leave(struct vmx_rmode *rm);
int vmx_rmode_complete(struct modvm_vcpu *vcpu, struct vmx_rmode *rm,
		       struct modvm_exit *next);

#endif /* MODVM_VMX_VMX_H */
