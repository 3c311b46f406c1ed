// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_RUN: enter the guest, handle exits in the kernel where possible and
 * return to userspace only for the exits it must see.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/sched/signal.h>
#include <linux/preempt.h>
#include <asm/fpu/api.h>
#include <asm/fpu/xcr.h>
#include <asm/traps.h>

#include "modvm.h"

/* KVM's answer to an unknown hypercall (include/uapi/linux/kvm_para.h). */
#define MODVM_HC_ENOSYS		1000
#define MODVM_HC_EPERM		1

/* Exceptions that turn a second exception into #DF (SDM 6-5). */
static bool contributory(u8 vector)
{
	return vector == X86_TRAP_DE || vector == X86_TRAP_TS ||
	       vector == X86_TRAP_NP || vector == X86_TRAP_SS ||
	       vector == X86_TRAP_GP;
}

/**
 * modvm_queue_exception() - deliver an exception on the next entry.
 * @vcpu: the vCPU.
 * @vector: exception vector.
 * @has_error: whether it pushes an error code.
 * @error_code: the error code.
 *
 * A second exception while one is pending becomes #DF as the CPU would
 * make it, and a fault during #DF a triple fault.
 */
void modvm_queue_exception(struct modvm_vcpu *vcpu, u8 vector, bool has_error,
			   u32 error_code)
{
	struct modvm_exception *ex = &vcpu->exception;

	/* One being delivered again counts as much as one not yet tried. */
	if (ex->pending || ex->injected) {
		u8 first = ex->vector;

		ex->injected = false;
		if (first == X86_TRAP_DF) {
			set_bit(MODVM_REQ_TRIPLE_FAULT, &vcpu->requests);
			ex->pending = false;
			return;
		}
		if ((contributory(first) || first == X86_TRAP_PF) &&
		    (contributory(vector) || (first == X86_TRAP_PF &&
					      vector == X86_TRAP_PF))) {
			vector = X86_TRAP_DF;
			has_error = true;
			error_code = 0;
		}
	}
	ex->pending = true;
	ex->has_cr2 = false;
	ex->soft = false;
	ex->vector = vector;
	ex->has_error = has_error;
	ex->error_code = error_code;
}

/**
 * modvm_queue_page_fault() - deliver #PF with its error code and CR2.
 * @vcpu: the vCPU.
 * @cr2: the faulting linear address.
 * @error_code: the #PF error code.
 */
void modvm_queue_page_fault(struct modvm_vcpu *vcpu, u64 cr2, u32 error_code)
{
	modvm_queue_exception(vcpu, X86_TRAP_PF, true, error_code);
	if (vcpu->exception.vector == X86_TRAP_PF) {
		vcpu->exception.has_cr2 = true;
		vcpu->exception.cr2 = cr2;
	}
}

/**
 * modvm_inject_gp() - deliver #GP(0).
 * @vcpu: the vCPU.
 */
void modvm_inject_gp(struct modvm_vcpu *vcpu)
{
	modvm_queue_exception(vcpu, X86_TRAP_GP, true, 0);
}

/**
 * modvm_inject_ud() - deliver #UD.
 * @vcpu: the vCPU.
 */
void modvm_inject_ud(struct modvm_vcpu *vcpu)
{
	modvm_queue_exception(vcpu, X86_TRAP_UD, false, 0);
}

/* Move RIP past the exiting instruction. Returns 1 to re-enter, <=0 else. */
static int skip_instruction(struct modvm_vcpu *vcpu, const struct modvm_exit *exit)
{
	struct modvm_insn_prefixes p;
	int r;

	if (exit->insn_len) {
		vcpu->rip += exit->insn_len;
		return 1;
	}
	r = modvm_decode_simple(vcpu, &p);
	if (r == -EFAULT)
		return 1;	/* #PF queued: the guest handles it */
	if (r)
		return 0;
	vcpu->rip += p.length;
	return 1;
}

static void internal_error(struct modvm_vcpu *vcpu, u32 suberror, int ndata,
			   const u64 *data)
{
	struct kvm_run *run = vcpu->run;
	int i;

	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = suberror;
	run->internal.ndata = ndata;
	for (i = 0; i < ndata; i++)
		run->internal.data[i] = data[i];
}

/**
 * modvm_emulation_failure() - end KVM_RUN: an instruction modvm cannot
 * emulate (KVM_INTERNAL_ERROR_EMULATION, with its bytes when known).
 * @vcpu: the vCPU, RIP at the instruction.
 * @insn: its bytes, or NULL.
 * @len: how many.
 */
void modvm_emulation_failure(struct modvm_vcpu *vcpu, const u8 *insn, int len)
{
	struct kvm_run *run = vcpu->run;

	len = insn ? min_t(int, len, sizeof(run->emulation_failure.insn_bytes)) : 0;
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->emulation_failure.flags =
		len ? KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES : 0;
	run->emulation_failure.insn_size = len;
	memset(run->emulation_failure.insn_bytes, 0x90,
	       sizeof(run->emulation_failure.insn_bytes));
	if (len)
		memcpy(run->emulation_failure.insn_bytes, insn, len);
	/* After flags and the 16 instruction bytes: RIP. */
	run->internal.data[3] = vcpu->rip;
	run->emulation_failure.ndata = 4;
}

static int handle_xsetbv(struct modvm_vcpu *vcpu)
{
	struct modvm_paging_state ps;
	u64 value = (u32)vcpu->gprs[MODVM_RAX] | (vcpu->gprs[MODVM_RDX] << 32);
	u64 allowed = modvm_guest_xcr0(vcpu);

	modvm_backend->get_paging(vcpu, &ps);
	if (ps.cpl || (u32)vcpu->gprs[MODVM_RCX] || (value & ~allowed) ||
	    !(value & XFEATURE_MASK_FP) ||
	    ((value & XFEATURE_MASK_YMM) && !(value & XFEATURE_MASK_SSE))) {
		modvm_inject_gp(vcpu);
		return 0;
	}
	vcpu->xcr0 = value;
	return 1;
}

/*
 * Give an exit its meaning. Returns 1 to enter the guest again, 0 to
 * return to userspace with vcpu->run filled in, or a negative errno.
 */
static int handle_exit(struct modvm_vcpu *vcpu, const struct modvm_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	u64 data;
	int r;

	switch (exit->type) {
	case MODVM_EXIT_REENTER:
		return 1;
	case MODVM_EXIT_CPUID:
		modvm_emulate_cpuid(vcpu);
		break;
	case MODVM_EXIT_HLT: {
		u64 rip = vcpu->rip;

		r = skip_instruction(vcpu, exit);
		if (r <= 0)
			break;
		/* Decoding it queued a #PF: the guest takes that, no halt. */
		if (vcpu->rip == rip)
			return 1;
		return modvm_events_halt(vcpu);
	}
	case MODVM_EXIT_IO:
		return modvm_handle_io(vcpu, exit);
	case MODVM_EXIT_RDMSR: {
		u32 index = vcpu->gprs[MODVM_RCX];

		if (modvm_get_msr(vcpu, index, &data, false)) {
			modvm_inject_gp(vcpu);
			return 1;
		}
		vcpu->gprs[MODVM_RAX] = (u32)data;
		vcpu->gprs[MODVM_RDX] = data >> 32;
		break;
	}
	case MODVM_EXIT_WRMSR:
		data = (u32)vcpu->gprs[MODVM_RAX] | (vcpu->gprs[MODVM_RDX] << 32);
		if (modvm_set_msr(vcpu, vcpu->gprs[MODVM_RCX], data, false)) {
			modvm_inject_gp(vcpu);
			return 1;
		}
		break;
	case MODVM_EXIT_XSETBV:
		if (!handle_xsetbv(vcpu))
			return 1;
		break;
	case MODVM_EXIT_HYPERCALL: {
		struct modvm_paging_state ps;

		modvm_backend->get_paging(vcpu, &ps);
		data = ps.cpl ? -MODVM_HC_EPERM : -MODVM_HC_ENOSYS;
		/* Outside 64-bit mode the result is 32 bits, zero-extended. */
		if (!(ps.efer & EFER_LMA) || !ps.cs_l)
			data = (u32)data;
		vcpu->gprs[MODVM_RAX] = data;
		break;
	}
	case MODVM_EXIT_NOP_INSN:
		break;
	case MODVM_EXIT_SPIN:
		modvm_vcpu_on_spin(vcpu);
		break;
	case MODVM_EXIT_UD:
		modvm_inject_ud(vcpu);
		return 1;
	case MODVM_EXIT_SHUTDOWN:
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		return 0;
	case MODVM_EXIT_FAIL_ENTRY:
		run->exit_reason = KVM_EXIT_FAIL_ENTRY;
		run->fail_entry.hardware_entry_failure_reason = exit->hw_reason;
		run->fail_entry.cpu = vcpu->cpu;
		return 0;
	case MODVM_EXIT_RDTSC:
		data = rdtsc() + vcpu->tsc_offset;
		vcpu->gprs[MODVM_RAX] = (u32)data;
		vcpu->gprs[MODVM_RDX] = data >> 32;
		break;
	case MODVM_EXIT_RDPMC:
		/* No PMU is offered (CPUID): the host's counters are not the guest's. */
		modvm_inject_gp(vcpu);
		return 1;
	case MODVM_EXIT_TASK_SWITCH:
		r = modvm_task_switch(vcpu, exit);
		if (r == -EOPNOTSUPP) {
			u64 info[2] = { exit->task.selector, vcpu->rip };

			internal_error(vcpu, KVM_INTERNAL_ERROR_EMULATION, 2, info);
			return 0;
		}
		return r;
	case MODVM_EXIT_TDP_FAULT:
		r = modvm_tdp_fault(vcpu, exit->tdp.gpa, exit->tdp.write);
		if (!r)
			return 1;
		if (r == -ENOENT)
			return modvm_emulate_mmio(vcpu, exit);
		return r;
	case MODVM_EXIT_PAGE_FAULT:
		return modvm_shadow_page_fault(vcpu, exit->pf.addr,
					       exit->pf.error_code);
	case MODVM_EXIT_CR:
		r = modvm_handle_cr(vcpu, exit);
		if (r == -EINVAL) {
			u64 info[1] = { vcpu->rip };

			internal_error(vcpu, KVM_INTERNAL_ERROR_EMULATION, 1, info);
			return 0;
		}
		return r;
	case MODVM_EXIT_BACKEND:
		if (modvm_backend->complete_exit) {
			struct modvm_exit next = { .type = MODVM_EXIT_REENTER };

			r = modvm_backend->complete_exit(vcpu, &next);
			if (r != MODVM_COMPLETE_NEXT)
				return r;
			if (next.type != MODVM_EXIT_BACKEND)
				return handle_exit(vcpu, &next);
		}
		fallthrough;
	default: {
		u64 info[2] = { exit->hw_reason, vcpu->rip };

		pr_warn_ratelimited("unexpected exit 0x%llx at rip 0x%llx\n",
				    exit->hw_reason, vcpu->rip);
		internal_error(vcpu, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
			       2, info);
		return 0;
	}
	}
	/* The instruction completed: step over it. */
	r = skip_instruction(vcpu, exit);
	if (!r) {
		u64 info[1] = { vcpu->rip };

		internal_error(vcpu, KVM_INTERNAL_ERROR_EMULATION, 1, info);
	}
	return r;
}

/* Which thread runs the vCPU, for modvm_vcpu_on_spin() of the others. */
static void note_thread(struct modvm_vcpu *vcpu)
{
	struct pid *old = rcu_access_pointer(vcpu->pid);

	if (old == task_pid(current))
		return;
	rcu_assign_pointer(vcpu->pid, get_task_pid(current, PIDTYPE_PID));
	/* Only a thread change waits for readers (the first run has none). */
	if (old) {
		synchronize_rcu();
		put_pid(old);
	}
}

/**
 * modvm_vcpu_on_spin() - the guest spins on PAUSE (pause-loop exit).
 * @vcpu: the spinning vCPU.
 *
 * It most likely waits for another vCPU that is preempted (a lock holder,
 * an IPI's target): give that one's thread this CPU (a directed yield, as
 * KVM does), starting after the vCPU helped last time. A halted vCPU
 * just woken up (an IPI's target) is one too.
 */
void modvm_vcpu_on_spin(struct modvm_vcpu *vcpu)
{
	struct modvm_vm *vm = vcpu->vm;
	unsigned long start = READ_ONCE(vm->last_boosted_vcpu), id;
	struct modvm_vcpu *other;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		xa_for_each(&vm->vcpus, id, other) {
			struct task_struct *task;
			int yielded;

			/* A sleeping thread (HLT) is refused by yield_to(). */
			if ((pass == 0 && id <= start) ||
			    (pass == 1 && id > start) || other == vcpu ||
			    READ_ONCE(other->mode) == MODVM_IN_GUEST)
				continue;
			rcu_read_lock();
			task = get_pid_task(rcu_dereference(other->pid),
					    PIDTYPE_PID);
			rcu_read_unlock();
			if (!task)
				continue;
			yielded = yield_to(task, true);
			put_task_struct(task);
			if (yielded > 0) {
				WRITE_ONCE(vm->last_boosted_vcpu, id);
				return;
			}
		}
	}
}

/* One entry into the guest. Returns as handle_exit(). */
static int enter_guest(struct modvm_vcpu *vcpu)
{
	struct modvm_exit exit = { .type = MODVM_EXIT_REENTER };
	u64 host_xcr0 = 0;
	bool xsave = boot_cpu_has(X86_FEATURE_XSAVE);
	bool irq_window, nmi_window;

	if (!modvm_tdp) {
		int r = modvm_shadow_load(vcpu);

		if (r)
			return r;
	}
	modvm_events_prepare(vcpu, &irq_window, &nmi_window);
	preempt_disable();
	local_irq_disable();
	/*
	 * The scheduler or a softirq using the FPU may have saved the guest
	 * state: reload it, with interrupts off so nothing can take it again.
	 */
	if (test_thread_flag(TIF_NEED_FPU_LOAD))
		switch_fpu_return();

	WRITE_ONCE(vcpu->cpu, smp_processor_id());
	/*
	 * Publish the mode before reading requests; a kicker sets a request
	 * before reading the mode (modvm_kick_all()), so one of us sees the
	 * other's write.
	 */
	smp_store_mb(vcpu->mode, MODVM_IN_GUEST);
	if (READ_ONCE(vcpu->requests) & ~BIT(MODVM_REQ_TLB_FLUSH) ||
	    need_resched() || signal_pending(current) ||
	    READ_ONCE(modvm_rebooting)) {
		WRITE_ONCE(vcpu->mode, MODVM_OUTSIDE_GUEST);
		local_irq_enable();
		preempt_enable();
		return 1;
	}
	modvm_events_inject(vcpu, irq_window, nmi_window);
	if (xsave) {
		host_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
		if (vcpu->xcr0 != host_xcr0)
			xsetbv(XCR_XFEATURE_ENABLED_MASK, vcpu->xcr0);
	}

	modvm_backend->run(vcpu, &exit);

	if (xsave) {
		/*
		 * Read the guest's XCR0 back: a CPU model that lets XSETBV
		 * through (QEMU's SVM) changed it in hardware, not via an exit.
		 */
		vcpu->xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
		if (vcpu->xcr0 != host_xcr0)
			xsetbv(XCR_XFEATURE_ENABLED_MASK, host_xcr0);
	}
	WRITE_ONCE(vcpu->mode, MODVM_OUTSIDE_GUEST);
	/* Host interrupts that made the guest exit are taken here. */
	local_irq_enable();
	preempt_enable();

	modvm_events_after_exit(vcpu, &exit);
	return handle_exit(vcpu, &exit);
}

/**
 * modvm_vcpu_run() - KVM_RUN.
 * @vcpu: the vCPU, its mutex held, in the VM's process.
 *
 * Return: 0 with vcpu->run describing the exit; -EINTR for a signal
 * (exit_reason KVM_EXIT_INTR) or immediate_exit; another negative errno.
 */
int modvm_vcpu_run(struct modvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	int r;

	run->flags = 0;
	note_thread(vcpu);
	fpu_swap_kvm_fpstate(&vcpu->guest_fpu, true);

	r = modvm_complete_pio(vcpu);
	if (r > 0)
		r = modvm_complete_mmio(vcpu);
	if (r <= 0)
		goto out;
	if (READ_ONCE(run->immediate_exit)) {
		r = -EINTR;
		goto out;
	}

	for (;;) {
		/* Virtualization is going off for a reboot (core/hw.c). */
		if (READ_ONCE(modvm_rebooting)) {
			r = -EIO;
			break;
		}
		if (signal_pending(current)) {
			run->exit_reason = KVM_EXIT_INTR;
			r = -EINTR;
			break;
		}
		cond_resched();
		if (test_and_clear_bit(MODVM_REQ_TRIPLE_FAULT, &vcpu->requests)) {
			run->exit_reason = KVM_EXIT_SHUTDOWN;
			r = 0;
			break;
		}
		if (!modvm_events_before_run(vcpu))
			continue;
		r = enter_guest(vcpu);
		if (r <= 0)
			break;
		if (modvm_events_irq_window_open(vcpu)) {
			r = 0;
			break;
		}
	}
out:
	modvm_events_exit_to_user(vcpu);
	fpu_swap_kvm_fpstate(&vcpu->guest_fpu, false);
	return r < 0 ? r : 0;
}
