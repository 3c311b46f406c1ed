// SPDX-License-Identifier: GPL-2.0
/*
 * Event injection: exceptions, NMIs and maskable interrupts delivered to
 * the guest in the architectural priority order, the interrupt and NMI
 * windows, re-delivery of an event an exit interrupted, HLT and the
 * multiprocessor state machine (INIT/SIPI), kicks, and the vCPU ioctls
 * that move this state to and from userspace.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/uaccess.h>
#include <asm/msr-index.h>
#include <asm/traps.h>

#include "modvm.h"

/**
 * modvm_events_vcpu_init() - event state of a new vCPU.
 * @vcpu: the vCPU, after its RESET state is set.
 *
 * With an in-kernel irqchip, application processors wait for INIT/SIPI;
 * the bootstrap processor (APIC base BSP bit) runs.
 */
void modvm_events_vcpu_init(struct modvm_vcpu *vcpu)
{
	rcuwait_init(&vcpu->wait);
	if (modvm_irqchip_in_kernel(vcpu->vm) &&
	    !(vcpu->apic_base & MSR_IA32_APICBASE_BSP))
		vcpu->mp_state = KVM_MP_STATE_UNINITIALIZED;
	else
		vcpu->mp_state = KVM_MP_STATE_RUNNABLE;
}

/**
 * modvm_vcpu_kick() - make a vCPU re-evaluate its pending events soon.
 * @vcpu: the vCPU.
 *
 * Wakes it when it sleeps in HLT or waits for SIPI; interrupts its CPU
 * when it runs the guest. Any context, spinlocks held or not.
 */
void modvm_vcpu_kick(struct modvm_vcpu *vcpu)
{
	int cpu, me;

	set_bit(MODVM_REQ_EVENT, &vcpu->requests);
	/* Pairs with the barrier between mode and requests in run. */
	smp_mb__after_atomic();
	if (rcuwait_wake_up(&vcpu->wait))
		return;
	me = get_cpu();
	cpu = READ_ONCE(vcpu->cpu);
	/*
	 * On our own CPU the vCPU is not in the guest now: it sees the
	 * request before it enters again.
	 */
	if (READ_ONCE(vcpu->mode) == MODVM_IN_GUEST && cpu != me &&
	    cpu >= 0 && cpu_online(cpu))
		smp_send_reschedule(cpu);
	put_cpu();
}

/**
 * modvm_vcpu_queue_nmi() - send an NMI to a vCPU, then kick it.
 * @vcpu: the vCPU.
 */
void modvm_vcpu_queue_nmi(struct modvm_vcpu *vcpu)
{
	atomic_inc(&vcpu->nmi_queued);
	modvm_vcpu_kick(vcpu);
}

/**
 * modvm_vcpu_deliver_init() - an INIT signal for a vCPU.
 * @vcpu: the vCPU.
 *
 * The vCPU resets itself (INIT state) in its own thread and then waits
 * for SIPI, unless it is the bootstrap processor.
 */
void modvm_vcpu_deliver_init(struct modvm_vcpu *vcpu)
{
	set_bit(MODVM_PENDING_INIT, &vcpu->pending_events);
	modvm_vcpu_kick(vcpu);
}

/**
 * modvm_vcpu_deliver_sipi() - a startup IPI for a vCPU.
 * @vcpu: the vCPU.
 * @vector: the SIPI vector: the AP starts at @vector << 12.
 *
 * Ignored unless the vCPU waits for SIPI when it sees it.
 */
void modvm_vcpu_deliver_sipi(struct modvm_vcpu *vcpu, u8 vector)
{
	WRITE_ONCE(vcpu->sipi_vector, vector);
	/* The vector is visible before the bit that says it is there. */
	smp_mb__before_atomic();
	set_bit(MODVM_PENDING_SIPI, &vcpu->pending_events);
	modvm_vcpu_kick(vcpu);
}

/* Move NMIs sent from other contexts to the pending count. */
static void process_nmi(struct modvm_vcpu *vcpu)
{
	unsigned int limit = 2, pending;

	if (!atomic_read(&vcpu->nmi_queued))
		return;
	/*
	 * Hardware latches one NMI while another is being handled: with one
	 * in progress (blocked or being delivered), one more can wait.
	 */
	if (vcpu->nmi_injected || modvm_backend->get_nmi_masked(vcpu))
		limit = 1;
	pending = vcpu->nmi_pending + atomic_xchg(&vcpu->nmi_queued, 0);
	vcpu->nmi_pending = min(pending, limit);
}

/* SIPI: the AP starts in real mode at vector << 12. */
static void start_at_sipi(struct modvm_vcpu *vcpu, u8 vector)
{
	struct kvm_sregs sregs;

	modvm_backend->get_sregs(vcpu, &sregs);
	sregs.cs.selector = vector << 8;
	sregs.cs.base = (u64)vector << 12;
	modvm_backend->set_sregs(vcpu, &sregs);
	vcpu->rip = 0;
}

/* INIT and SIPI sent by the local APICs; only with an in-kernel irqchip. */
static void accept_init_sipi(struct modvm_vcpu *vcpu)
{
	if (!READ_ONCE(vcpu->pending_events))
		return;
	if (!modvm_irqchip_in_kernel(vcpu->vm)) {
		vcpu->pending_events = 0;
		return;
	}
	if (test_and_clear_bit(MODVM_PENDING_INIT, &vcpu->pending_events)) {
		modvm_vcpu_reset(vcpu, true);
		vcpu->mp_state = vcpu->apic_base & MSR_IA32_APICBASE_BSP ?
				 KVM_MP_STATE_RUNNABLE :
				 KVM_MP_STATE_INIT_RECEIVED;
	}
	if (test_and_clear_bit(MODVM_PENDING_SIPI, &vcpu->pending_events)) {
		/* Read the vector only after seeing the bit (deliver_sipi). */
		smp_mb__after_atomic();
		if (vcpu->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
			start_at_sipi(vcpu, READ_ONCE(vcpu->sipi_vector));
			vcpu->mp_state = KVM_MP_STATE_RUNNABLE;
		}
	}
}

/* No STI/MOV SS shadow and RFLAGS.IF: a maskable interrupt may be taken. */
static bool interrupt_allowed(struct modvm_vcpu *vcpu)
{
	return (vcpu->rflags & X86_EFLAGS_IF) &&
	       !modvm_backend->get_interrupt_shadow(vcpu);
}

static bool nmi_allowed(struct modvm_vcpu *vcpu)
{
	return !modvm_backend->get_nmi_masked(vcpu) &&
	       !modvm_backend->get_interrupt_shadow(vcpu);
}

static bool needs_reinjection(struct modvm_vcpu *vcpu)
{
	return vcpu->exception.injected || vcpu->nmi_injected ||
	       vcpu->interrupt.injected;
}

/**
 * modvm_events_vectoring() - did the last exit interrupt an event's delivery?
 * @vcpu: the vCPU, between an exit and the next entry.
 *
 * Then the guest is between two instructions: the one at RIP has not run,
 * and what the exit saw (a fault on the stack or the IDT) came from the
 * delivery, which the next entry starts again.
 *
 * Return: true while such an event waits to be delivered again.
 */
bool modvm_events_vectoring(struct modvm_vcpu *vcpu)
{
	return needs_reinjection(vcpu);
}

/* What ends HLT: an interrupt the guest takes, an NMI, INIT or SIPI. */
static bool halt_wakeup(struct modvm_vcpu *vcpu)
{
	return atomic_read(&vcpu->nmi_queued) || vcpu->nmi_pending ||
	       READ_ONCE(vcpu->pending_events) ||
	       ((vcpu->rflags & X86_EFLAGS_IF) &&
		modvm_irqchip_has_interrupt(vcpu));
}

/* Whether the sleeping vCPU thread must get up and look. */
static bool wait_done(struct modvm_vcpu *vcpu)
{
	return test_bit(MODVM_REQ_EVENT, &vcpu->requests) ||
	       signal_pending(current) ||
	       (vcpu->mp_state == KVM_MP_STATE_HALTED && halt_wakeup(vcpu)) ||
	       READ_ONCE(vcpu->pending_events);
}

/**
 * modvm_events_before_run() - bring the vCPU to a state that may enter.
 * @vcpu: the vCPU, in KVM_RUN.
 *
 * Takes the INIT/SIPI and NMIs sent meanwhile. A halted vCPU, or an AP
 * waiting for SIPI, sleeps until something may change that (it does
 * not spin), or until a signal.
 *
 * Return: true when the vCPU may enter the guest now; false to look
 * again (signals first).
 */
bool modvm_events_before_run(struct modvm_vcpu *vcpu)
{
	accept_init_sipi(vcpu);
	if (vcpu->mp_state == KVM_MP_STATE_HALTED && halt_wakeup(vcpu))
		vcpu->mp_state = KVM_MP_STATE_RUNNABLE;
	if (vcpu->mp_state == KVM_MP_STATE_RUNNABLE)
		return true;

	clear_bit(MODVM_REQ_EVENT, &vcpu->requests);
	/* Pairs with the barrier in modvm_vcpu_kick(). */
	smp_mb__after_atomic();
	rcuwait_wait_event(&vcpu->wait, wait_done(vcpu), TASK_INTERRUPTIBLE);
	return false;
}

static bool fault_class(u8 vector)
{
	switch (vector) {
	case X86_TRAP_DB:
	case X86_TRAP_BP:
	case X86_TRAP_OF:
	case X86_TRAP_DF:
	case X86_TRAP_MC:
		return false;
	}
	return true;
}

/**
 * modvm_events_prepare() - choose the event for the next entry.
 * @vcpu: the vCPU, IRQs on.
 * @irq_window: set when a maskable interrupt waits for the guest to
 *	accept one (or userspace asked for the window).
 * @nmi_window: set when an NMI waits for the NMI window.
 *
 * An event whose delivery an exit interrupted comes first, then a
 * pending exception, an NMI, a maskable interrupt (SDM 6.9). The chosen
 * event is marked injected here, with IRQs on, so that the local APIC
 * can be acknowledged; it is handed to the backend just before entry
 * and stays injected until an exit says it was delivered.
 */
void modvm_events_prepare(struct modvm_vcpu *vcpu, bool *irq_window,
			  bool *nmi_window)
{
	bool in_kernel = modvm_irqchip_in_kernel(vcpu->vm);
	bool can_inject;

	clear_bit(MODVM_REQ_EVENT, &vcpu->requests);
	process_nmi(vcpu);
	can_inject = !needs_reinjection(vcpu);

	if (vcpu->exception.pending && can_inject) {
		vcpu->exception.pending = false;
		vcpu->exception.injected = true;
		/*
		 * A fault-class exception pushes RFLAGS with RF=1, so that
		 * the return re-executes the instruction without a code
		 * breakpoint firing again; event injection pushes RFLAGS as
		 * it is, so set it here. #DB (the handler sets RF itself),
		 * the traps #BP/#OF and the aborts #DF/#MC leave RF alone.
		 */
		if (fault_class(vcpu->exception.vector))
			vcpu->rflags |= X86_EFLAGS_RF;
		can_inject = false;
	}

	*nmi_window = false;
	if (vcpu->nmi_pending) {
		if (can_inject && nmi_allowed(vcpu)) {
			vcpu->nmi_pending--;
			vcpu->nmi_injected = true;
			can_inject = false;
		}
		*nmi_window = vcpu->nmi_pending;
	}

	*irq_window = false;
	if (in_kernel && modvm_irqchip_has_interrupt(vcpu)) {
		if (can_inject && interrupt_allowed(vcpu)) {
			int vector = modvm_irqchip_get_interrupt(vcpu);

			if (vector >= 0) {
				vcpu->interrupt.injected = true;
				vcpu->interrupt.soft = false;
				vcpu->interrupt.nr = vector;
			}
		}
		*irq_window = modvm_irqchip_has_interrupt(vcpu);
	} else if (!in_kernel && vcpu->run->request_interrupt_window) {
		*irq_window = true;
	}
	if (in_kernel) {
		vcpu->entry_cr8 = modvm_irqchip_get_cr8(vcpu);
		modvm_backend->set_cr8(vcpu, vcpu->entry_cr8);
	}
}

/**
 * modvm_events_inject() - hand the chosen event to the backend.
 * @vcpu: the vCPU, IRQs off, the entry committed.
 * @irq_window: from modvm_events_prepare().
 * @nmi_window: from modvm_events_prepare().
 */
void modvm_events_inject(struct modvm_vcpu *vcpu, bool irq_window,
			 bool nmi_window)
{
	if (vcpu->exception.injected)
		modvm_backend->inject_exception(vcpu, &vcpu->exception);
	else if (vcpu->nmi_injected)
		modvm_backend->inject_nmi(vcpu);
	else if (vcpu->interrupt.injected)
		modvm_backend->inject_irq(vcpu, &vcpu->interrupt);
	/*
	 * The backend has the event now; the exit gives it back if its
	 * delivery did not complete. Until then nothing is in flight, so
	 * an exception the exit raises is not merged with this one.
	 */
	vcpu->exception.injected = false;
	vcpu->exception.has_cr2 = false;
	vcpu->nmi_injected = false;
	vcpu->interrupt.injected = false;
	modvm_backend->set_event_windows(vcpu, irq_window, nmi_window);
}

/* Length of the INT n/INT3/INTO at RIP when the hardware did not say. */
static u32 soft_insn_len(struct modvm_vcpu *vcpu, u32 len)
{
	struct modvm_insn_prefixes p;

	if (len)
		return len;
	if (modvm_decode_simple(vcpu, &p))
		return 0;
	return p.length;
}

/**
 * modvm_events_after_exit() - account for what the exit delivered.
 * @vcpu: the vCPU, IRQs on, right after the exit.
 * @exit: the exit; its @interrupted event is delivered again.
 *
 * An event handed to the backend was delivered unless the exit says it
 * interrupted its delivery; then it is injected again on the next entry,
 * neither lost nor doubled.
 */
void modvm_events_after_exit(struct modvm_vcpu *vcpu,
			     const struct modvm_exit *exit)
{
	const struct modvm_event *ev = &exit->interrupted;
	struct modvm_exception queued = vcpu->exception;

	switch (ev->type) {
	case MODVM_EVENT_EXCEPTION:
	case MODVM_EVENT_SOFT_EXCEPTION: {
		struct modvm_exception *ex = &vcpu->exception;
		u32 len = 0;

		if (ev->type == MODVM_EVENT_SOFT_EXCEPTION) {
			len = soft_insn_len(vcpu, ev->insn_len);
			if (!len)
				break;	/* the guest executes it again */
		}
		ex->pending = false;
		ex->injected = true;
		ex->has_cr2 = false;
		ex->soft = len;
		ex->insn_len = len;
		ex->vector = ev->vector;
		ex->has_error = ev->has_error;
		ex->error_code = ev->error_code;
		/*
		 * An exception the backend queued at this exit hit the
		 * delivery of this one: #DF or triple fault as the CPU does.
		 */
		if (queued.pending)
			modvm_queue_exception(vcpu, queued.vector,
					      queued.has_error,
					      queued.error_code);
		break;
	}
	case MODVM_EVENT_NMI:
		vcpu->nmi_injected = true;
		break;
	case MODVM_EVENT_INTR:
	case MODVM_EVENT_SOFT_INTR: {
		u32 len = 0;

		if (ev->type == MODVM_EVENT_SOFT_INTR) {
			len = soft_insn_len(vcpu, ev->insn_len);
			if (!len)
				break;
		}
		vcpu->interrupt.injected = true;
		vcpu->interrupt.soft = len;
		vcpu->interrupt.insn_len = len;
		vcpu->interrupt.nr = ev->vector;
		break;
	}
	}
	/* Only a CR8 write changes the TPR: keep the TPR's low bits else. */
	if (modvm_irqchip_in_kernel(vcpu->vm) &&
	    modvm_backend->get_cr8(vcpu) != vcpu->entry_cr8)
		modvm_irqchip_set_cr8(vcpu, modvm_backend->get_cr8(vcpu));
}

/**
 * modvm_events_halt() - the guest executed HLT (RIP already past it).
 * @vcpu: the vCPU.
 *
 * Return: 1 to go on in the kernel (the vCPU sleeps until an event);
 * 0 with KVM_EXIT_HLT when the irqchip is in userspace.
 */
int modvm_events_halt(struct modvm_vcpu *vcpu)
{
	if (modvm_irqchip_in_kernel(vcpu->vm)) {
		vcpu->mp_state = KVM_MP_STATE_HALTED;
		return 1;
	}
	vcpu->run->exit_reason = KVM_EXIT_HLT;
	return 0;
}

/* KVM's test: userspace could inject an interrupt with KVM_INTERRUPT now. */
static bool ready_for_injection(struct modvm_vcpu *vcpu)
{
	return interrupt_allowed(vcpu) && !needs_reinjection(vcpu) &&
	       !vcpu->exception.pending;
}

/**
 * modvm_events_irq_window_open() - end KVM_RUN for request_interrupt_window.
 * @vcpu: the vCPU, after an exit handled in the kernel.
 *
 * Return: true, with exit_reason KVM_EXIT_IRQ_WINDOW_OPEN, when userspace
 * keeps the irqchip, asked for the window, and the guest can take an
 * interrupt now.
 */
bool modvm_events_irq_window_open(struct modvm_vcpu *vcpu)
{
	if (!vcpu->run->request_interrupt_window ||
	    modvm_irqchip_in_kernel(vcpu->vm) || !ready_for_injection(vcpu))
		return false;
	vcpu->run->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
	return true;
}

/**
 * modvm_events_exit_to_user() - the kvm_run fields every exit updates.
 * @vcpu: the vCPU, returning from KVM_RUN.
 */
void modvm_events_exit_to_user(struct modvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	bool in_kernel = modvm_irqchip_in_kernel(vcpu->vm);

	run->if_flag = !!(vcpu->rflags & X86_EFLAGS_IF);
	run->cr8 = in_kernel ? modvm_irqchip_get_cr8(vcpu) :
			       modvm_backend->get_cr8(vcpu);
	run->apic_base = vcpu->apic_base;
	/* With the PIC in the kernel, userspace never injects: always 1. */
	run->ready_for_interrupt_injection = in_kernel ||
					     ready_for_injection(vcpu);
}

static int vcpu_interrupt(struct modvm_vcpu *vcpu, struct kvm_interrupt __user *argp)
{
	struct kvm_interrupt irq;

	if (copy_from_user(&irq, argp, sizeof(irq)))
		return -EFAULT;
	if (irq.irq >= 256)
		return -EINVAL;
	/* The in-kernel PIC is the only source of external interrupts. */
	if (modvm_irqchip_in_kernel(vcpu->vm))
		return -ENXIO;
	/* Delivered on the next entry: userspace checked that it may. */
	vcpu->interrupt.injected = true;
	vcpu->interrupt.soft = false;
	vcpu->interrupt.nr = irq.irq;
	return 0;
}

static void get_vcpu_events(struct modvm_vcpu *vcpu, struct kvm_vcpu_events *ev)
{
	const struct modvm_exception *ex = &vcpu->exception;

	process_nmi(vcpu);
	memset(ev, 0, sizeof(*ev));
	/*
	 * Without KVM_CAP_EXCEPTION_PAYLOAD, pending and injected are one;
	 * INT3/INTO are not reported: the guest executes them again.
	 */
	if (!ex->soft) {
		ev->exception.injected = ex->injected || ex->pending;
		ev->exception.nr = ex->vector;
		ev->exception.has_error_code = ex->has_error;
		ev->exception.error_code = ex->error_code;
	}
	ev->interrupt.injected = vcpu->interrupt.injected &&
				 !vcpu->interrupt.soft;
	ev->interrupt.nr = vcpu->interrupt.nr;
	ev->interrupt.shadow = modvm_backend->get_interrupt_shadow(vcpu);
	ev->nmi.injected = vcpu->nmi_injected;
	ev->nmi.pending = !!vcpu->nmi_pending;
	ev->nmi.masked = modvm_backend->get_nmi_masked(vcpu);
	ev->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
		    KVM_VCPUEVENT_VALID_SMM;
}

static int set_vcpu_events(struct modvm_vcpu *vcpu,
			   const struct kvm_vcpu_events *ev)
{
	struct modvm_exception *ex = &vcpu->exception;

	if (ev->flags & ~(KVM_VCPUEVENT_VALID_NMI_PENDING |
			  KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			  KVM_VCPUEVENT_VALID_SHADOW |
			  KVM_VCPUEVENT_VALID_SMM |
			  KVM_VCPUEVENT_VALID_PAYLOAD |
			  KVM_VCPUEVENT_VALID_TRIPLE_FAULT))
		return -EINVAL;
	/* Exception payloads and triple-fault events are opt-in caps: off. */
	if (ev->flags & (KVM_VCPUEVENT_VALID_PAYLOAD |
			 KVM_VCPUEVENT_VALID_TRIPLE_FAULT))
		return -EINVAL;
	if (ev->exception.injected &&
	    (ev->exception.nr > 31 || ev->exception.nr == X86_TRAP_NMI))
		return -EINVAL;
	/* There is no SMM: only "not in SMM, none pending" can be set. */
	if ((ev->flags & KVM_VCPUEVENT_VALID_SMM) &&
	    (ev->smi.smm || ev->smi.pending))
		return -EINVAL;

	process_nmi(vcpu);
	ex->pending = false;
	ex->injected = ev->exception.injected;
	ex->has_cr2 = false;
	ex->soft = false;
	ex->vector = ev->exception.nr;
	ex->has_error = ev->exception.has_error_code;
	ex->error_code = ev->exception.error_code;

	vcpu->interrupt.injected = ev->interrupt.injected;
	vcpu->interrupt.nr = ev->interrupt.nr;
	/* No instruction length comes with it: deliver it as external. */
	vcpu->interrupt.soft = false;
	if (ev->flags & KVM_VCPUEVENT_VALID_SHADOW)
		modvm_backend->set_interrupt_shadow(vcpu, ev->interrupt.shadow);

	vcpu->nmi_injected = ev->nmi.injected;
	if (ev->flags & KVM_VCPUEVENT_VALID_NMI_PENDING)
		vcpu->nmi_pending = ev->nmi.pending;
	modvm_backend->set_nmi_masked(vcpu, ev->nmi.masked);

	if ((ev->flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR) &&
	    modvm_irqchip_in_kernel(vcpu->vm))
		vcpu->sipi_vector = ev->sipi_vector;
	set_bit(MODVM_REQ_EVENT, &vcpu->requests);
	return 0;
}

static int set_mp_state(struct modvm_vcpu *vcpu, u32 state)
{
	switch (state) {
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_SIPI_RECEIVED:
		/* Waiting states need a local APIC in the kernel to end them. */
		if (!modvm_irqchip_in_kernel(vcpu->vm))
			return -EINVAL;
		break;
	case KVM_MP_STATE_RUNNABLE:
		break;
	default:
		return -EINVAL;
	}
	if (state == KVM_MP_STATE_SIPI_RECEIVED) {
		vcpu->mp_state = KVM_MP_STATE_INIT_RECEIVED;
		set_bit(MODVM_PENDING_SIPI, &vcpu->pending_events);
	} else {
		vcpu->mp_state = state;
	}
	set_bit(MODVM_REQ_EVENT, &vcpu->requests);
	return 0;
}

/**
 * modvm_events_ioctl() - the vCPU ioctls of event state.
 * @vcpu: the vCPU, its mutex held.
 * @ioctl: KVM_INTERRUPT, KVM_NMI, KVM_GET/SET_VCPU_EVENTS or
 *	KVM_GET/SET_MP_STATE.
 * @argp: the user argument.
 *
 * Return: 0 or a negative errno as KVM gives it; -ENOTTY for another
 * ioctl.
 */
long modvm_events_ioctl(struct modvm_vcpu *vcpu, unsigned int ioctl,
			void __user *argp)
{
	switch (ioctl) {
	case KVM_INTERRUPT:
		return vcpu_interrupt(vcpu, argp);
	case KVM_NMI:
		modvm_vcpu_queue_nmi(vcpu);
		return 0;
	case KVM_GET_VCPU_EVENTS: {
		struct kvm_vcpu_events ev;

		get_vcpu_events(vcpu, &ev);
		return copy_to_user(argp, &ev, sizeof(ev)) ? -EFAULT : 0;
	}
	case KVM_SET_VCPU_EVENTS: {
		struct kvm_vcpu_events ev;

		if (copy_from_user(&ev, argp, sizeof(ev)))
			return -EFAULT;
		return set_vcpu_events(vcpu, &ev);
	}
	case KVM_GET_MP_STATE: {
		struct kvm_mp_state mp;

		accept_init_sipi(vcpu);
		mp.mp_state = vcpu->mp_state;
		return copy_to_user(argp, &mp, sizeof(mp)) ? -EFAULT : 0;
	}
	case KVM_SET_MP_STATE: {
		struct kvm_mp_state mp;

		if (copy_from_user(&mp, argp, sizeof(mp)))
			return -EFAULT;
		return set_mp_state(vcpu, mp.mp_state);
	}
	default:
		return -ENOTTY;
	}
}
