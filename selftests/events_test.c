// SPDX-License-Identifier: GPL-2.0
/*
 * Event injection with the irqchip in userspace: KVM_INTERRUPT with
 * request_interrupt_window and KVM_EXIT_IRQ_WINDOW_OPEN, kvm_run's
 * if_flag and ready_for_interrupt_injection, KVM_NMI and NMI blocking
 * until IRET, the STI and MOV SS interrupt shadows in KVM_GET_VCPU_EVENTS,
 * an exception injected with KVM_SET_VCPU_EVENTS, KVM_GET/SET_MP_STATE
 * and the errno of bad arguments.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "guest.h"

#define IRQ_VECTOR	0x40
#define MMIO_GPA	0x10000000	/* mapped by the page tables, no memslot */
#define NMI_COUNT	GUEST_DATA	/* u32: NMI handler entries */
#define NMI_VECTOR	2

/*
 * Interrupts off, a call, then STI: the window opens after the shadow
 * of STI, i.e. after the NOP. The handler counts in EBX.
 */
#define GUEST_BLOB irq_guest
GUEST_ASM(irq_guest,
	".code64\n"
	"cli\n"
	G_CALL(GUEST_REPORT)
	"xor %ebx, %ebx\n"
	"sti\n"
	"nop\n"
	"irq_after_nop:\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"irq_handler:\n"
	"inc %ebx\n"
	"iretq\n");

#define IRQ_AFTER_NOP	irq_after_nop
#define IRQ_HANDLER	irq_handler
#undef GUEST_BLOB

/*
 * The NMI handler counts its entries and makes two calls before its
 * IRETQ: an NMI sent during the first must wait for the IRETQ.
 */
#define GUEST_BLOB nmi_guest
GUEST_ASM(nmi_guest,
	".code64\n"
	"mov $0xa, %ecx\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"nmi_handler:\n"
	"incl " GUEST_XSTR(NMI_COUNT) "\n"
	"mov " GUEST_XSTR(NMI_COUNT) ", %ebx\n"
	"mov $0x1, %ecx\n"
	G_CALL(GUEST_REPORT)
	"mov " GUEST_XSTR(NMI_COUNT) ", %ebx\n"
	"mov $0x2, %ecx\n"
	G_CALL(GUEST_REPORT)
	"iretq\n");
#undef GUEST_BLOB

/* MMIO reads right after STI and after MOV SS: the exits are in shadows. */
#define GUEST_BLOB shadow_guest
GUEST_ASM(shadow_guest,
	".code64\n"
	"cli\n"
	"sti\n"
	"sti_read:\n"
	"mov " GUEST_XSTR(MMIO_GPA) ", %eax\n"
	"cli\n"
	"mov %ss, %ax\n"
	"mov %ax, %ss\n"
	"movss_read:\n"
	"mov " GUEST_XSTR(MMIO_GPA) ", %eax\n"
	G_CALL(GUEST_DONE));
#undef GUEST_BLOB

/*
 * Each event is delivered onto a stack in pages no access has touched
 * yet: the first push faults in the nested/extended page tables, the
 * exit interrupts the delivery and the event must be delivered again,
 * once. The handlers count in EBX.
 */
#define FRESH_GPA	0x1000000
#define GUEST_BLOB reinject_guest
GUEST_ASM(reinject_guest,
	".code64\n"
	"xor %ebx, %ebx\n"
	"mov $" GUEST_XSTR(FRESH_GPA) " + 0x1000, %rsp\n"
	G_CALL(GUEST_REPORT)
	"mov $" GUEST_XSTR(FRESH_GPA) " + 0x2000, %rsp\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"count_handler:\n"
	"inc %ebx\n"
	"iretq\n");
#undef GUEST_BLOB

/*
 * Events delivered onto a stack in a page the guest also uses as a page
 * table (the alias's page directory, which the first access walks): under
 * shadow paging the frame's writes hit a write-protected table, and the
 * instruction at RIP, which has not run, must not be emulated for them.
 * First an interrupt right before CLI, then #UD. The handler reports its
 * frame: EBX its RSP, ECX the RIP, EDX the RFLAGS pushed.
 */
#define PT_STACK_TOP	(GUEST_ALIAS_PD + 0x1000)
#define GUEST_BLOB pt_stack_guest
GUEST_ASM(pt_stack_guest,
	".code64\n"
	"mov " GUEST_XSTR(GUEST_ALIAS_VA) ", %rax\n"
	"mov $" GUEST_XSTR(PT_STACK_TOP) ", %rsp\n"
	G_CALL(GUEST_REPORT)
	"pt_stack_cli:\n"
	"cli\n"
	"mov " GUEST_XSTR(GUEST_ALIAS_VA) ", %rax\n"
	"mov $" GUEST_XSTR(PT_STACK_TOP) ", %rsp\n"
	"pt_stack_ud2:\n"
	"ud2\n"
	G_CALL(GUEST_DONE)
	".balign 16\n"
	"pt_stack_handler:\n"
	"mov %rsp, %rbx\n"
	"mov (%rsp), %rcx\n"
	"mov 16(%rsp), %rdx\n"
	G_CALL(GUEST_REPORT)
	"iretq\n");
#undef GUEST_BLOB

GUEST_ASM(plain_guest,
	".code64\n"
	"nop\n"
	G_CALL(GUEST_DONE));

/* Guest address of a label inside a blob. */
#define LABEL_GPA(blob, label) \
	(GUEST_CODE + (uint64_t)((const unsigned char *)label - blob))

extern const unsigned char irq_after_nop[], irq_handler[], nmi_handler[];
extern const unsigned char sti_read[], movss_read[], count_handler[];
extern const unsigned char pt_stack_cli[], pt_stack_ud2[], pt_stack_handler[];

FIXTURE(events) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(events)
{
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(events)
{
	guest_destroy(&self->g);
}

static void get_events(struct __test_metadata *_metadata, struct guest_vcpu *v,
		       struct kvm_vcpu_events *ev)
{
	memset(ev, 0xa5, sizeof(*ev));
	ASSERT_EQ(0, modvm_ioctl(v->fd, KVM_GET_VCPU_EVENTS, (unsigned long)ev));
}

/* Long mode with the whole IDT usable. */
static void long_mode_all_gates(struct __test_metadata *_metadata,
				struct guest_vcpu *v)
{
	struct kvm_sregs sregs;

	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));
	guest_get_sregs(v, &sregs);
	sregs.idt.limit = GUEST_IDT_LIMIT_ALL;
	ASSERT_EQ(0, modvm_ioctl(v->fd, KVM_SET_SREGS, (unsigned long)&sregs));
}

TEST(capabilities)
{
	int dev = modvm_open_device();

	ASSERT_LE(0, dev);
	EXPECT_EQ(1, modvm_ioctl(dev, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS));
	EXPECT_EQ(1, modvm_ioctl(dev, KVM_CHECK_EXTENSION, KVM_CAP_USER_NMI));
	EXPECT_EQ(1, modvm_ioctl(dev, KVM_CHECK_EXTENSION, KVM_CAP_MP_STATE));
	close(dev);
}

/*
 * The userspace-irqchip protocol: while the guest runs with IF=0,
 * userspace may not inject; it asks for the window, injects once the
 * window is open, and the vector reaches the handler exactly once.
 */
TEST_F(events, userspace_irqchip)
{
	struct kvm_run *run = self->v->run;
	struct kvm_interrupt irq = { .irq = IRQ_VECTOR };
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;

	GUEST_REQUIRE_RUN();
	guest_load(&self->g, irq_guest, irq_guest_end);
	guest_set_gate(&self->g, IRQ_VECTOR,
		       LABEL_GPA(irq_guest, irq_handler));
	long_mode_all_gates(_metadata, self->v);

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, NULL));
	EXPECT_EQ(0, run->if_flag);
	EXPECT_EQ(0, run->ready_for_interrupt_injection);
	EXPECT_EQ(0, run->cr8);
	EXPECT_EQ(0xfee00900ull, run->apic_base);	/* enabled, BSP */

	run->request_interrupt_window = 1;
	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_IRQ_WINDOW_OPEN, run->exit_reason);
	EXPECT_EQ(1, run->if_flag);
	EXPECT_EQ(1, run->ready_for_interrupt_injection);
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(LABEL_GPA(irq_guest, irq_after_nop), regs.rip);
	EXPECT_EQ(0, regs.rbx);

	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_INTERRUPT, (unsigned long)&irq));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(1, ev.interrupt.injected);
	EXPECT_EQ(IRQ_VECTOR, ev.interrupt.nr);
	EXPECT_EQ(0, ev.interrupt.soft);

	run->request_interrupt_window = 0;
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(1, regs.rbx);
	EXPECT_EQ(1, run->if_flag);
	EXPECT_EQ(1, run->ready_for_interrupt_injection);
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.interrupt.injected);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(1, regs.rbx);
}

TEST_F(events, interrupt_errno)
{
	struct kvm_interrupt irq = { .irq = 256 };

	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_INTERRUPT,
				       (unsigned long)&irq));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_INTERRUPT, 8));
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_NMI, 0));
}

/* An NMI sent while the handler runs waits for its IRETQ, then comes. */
TEST_F(events, nmi_blocked_until_iret)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;
	int i;

	GUEST_REQUIRE_RUN();
	guest_load(&self->g, nmi_guest, nmi_guest_end);
	guest_set_gate(&self->g, NMI_VECTOR,
		       LABEL_GPA(nmi_guest, nmi_handler));
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0xa, regs.rcx);
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.nmi.masked);
	EXPECT_EQ(0, ev.nmi.pending);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_NMI, 0));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(1, ev.nmi.pending);

	for (i = 1; i <= 2; i++) {
		ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
		EXPECT_EQ(1, regs.rcx);
		EXPECT_EQ(i, regs.rbx);
		get_events(_metadata, self->v, &ev);
		EXPECT_EQ(1, ev.nmi.masked);
		EXPECT_EQ(0, ev.nmi.pending);
		EXPECT_EQ(0, ev.nmi.injected);
		if (i == 1) {
			ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_NMI, 0));
			get_events(_metadata, self->v, &ev);
			EXPECT_EQ(1, ev.nmi.pending);
			EXPECT_EQ(1, ev.nmi.masked);
		}
		/* Still the same handler entry: no nested NMI. */
		ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
		EXPECT_EQ(2, regs.rcx);
		EXPECT_EQ(i, regs.rbx);
	}
	/* After the second IRETQ the interrupted code resumes. */
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.nmi.masked);
	EXPECT_EQ(2, *(uint32_t *)guest_ptr(&self->g, NMI_COUNT));
}

/* An exit during delivery: the interrupt and the NMI arrive once each. */
TEST_F(events, redelivery)
{
	struct kvm_userspace_memory_region fresh = {
		.slot = 1, .guest_phys_addr = FRESH_GPA, .memory_size = 0x3000,
	};
	struct kvm_interrupt irq = { .irq = IRQ_VECTOR };
	struct kvm_regs regs;
	void *mem;

	GUEST_REQUIRE_RUN();
	mem = mmap(NULL, fresh.memory_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	fresh.userspace_addr = (uintptr_t)mem;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION,
				 (unsigned long)&fresh));
	guest_load(&self->g, reinject_guest, reinject_guest_end);
	guest_set_gate(&self->g, IRQ_VECTOR,
		       LABEL_GPA(reinject_guest, count_handler));
	guest_set_gate(&self->g, NMI_VECTOR,
		       LABEL_GPA(reinject_guest, count_handler));
	long_mode_all_gates(_metadata, self->v);
	guest_get_regs(self->v, &regs);
	regs.rflags |= 0x200;	/* IF */
	guest_set_regs(self->v, &regs);

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0, regs.rbx);
	EXPECT_EQ(1, self->v->run->ready_for_interrupt_injection);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_INTERRUPT, (unsigned long)&irq));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(1, regs.rbx);
	EXPECT_EQ(FRESH_GPA + 0x2000, regs.rsp);
	/* The handler's frame: the return address is past the first call. */
	EXPECT_LT(GUEST_CODE, *(uint64_t *)((char *)mem + 0x1000 - 40));

	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_NMI, 0));
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(2, regs.rbx);
	EXPECT_EQ(FRESH_GPA + 0x2000, regs.rsp);
	EXPECT_EQ(GUEST_SEL_CODE64, *(uint64_t *)((char *)mem + 0x2000 - 32));
}

/*
 * A frame written to a page that is also a page table: each event arrives
 * once, where it was due, and its frame is in guest memory.
 */
TEST_F(events, frame_on_page_table)
{
	struct kvm_interrupt irq = { .irq = IRQ_VECTOR };
	uint64_t *frame = guest_ptr(&self->g, PT_STACK_TOP - 40);
	struct kvm_regs regs;

	GUEST_REQUIRE_RUN();
	guest_load(&self->g, pt_stack_guest, pt_stack_guest_end);
	guest_set_gate(&self->g, IRQ_VECTOR,
		       LABEL_GPA(pt_stack_guest, pt_stack_handler));
	guest_set_fault_skip(&self->g, 2);
	long_mode_all_gates(_metadata, self->v);
	guest_get_regs(self->v, &regs);
	regs.rflags |= 0x200;	/* IF */
	guest_set_regs(self->v, &regs);

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	ASSERT_EQ(1, self->v->run->ready_for_interrupt_injection);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_INTERRUPT, (unsigned long)&irq));
	/* Taken before CLI ran: the frame has its RIP, and IF set. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(PT_STACK_TOP - 40, regs.rbx);
	EXPECT_EQ(LABEL_GPA(pt_stack_guest, pt_stack_cli), regs.rcx);
	EXPECT_EQ(0x200, regs.rdx & 0x200);
	EXPECT_EQ(LABEL_GPA(pt_stack_guest, pt_stack_cli), frame[0]);

	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(6, regs.rbx);	/* #UD */
	EXPECT_EQ(LABEL_GPA(pt_stack_guest, pt_stack_ud2), regs.rdx);
	EXPECT_EQ(LABEL_GPA(pt_stack_guest, pt_stack_ud2), frame[0]);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
}

/* The exit of an instruction in an STI or MOV SS shadow keeps the shadow. */
TEST_F(events, interrupt_shadow)
{
	struct kvm_run *run = self->v->run;
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;
	/*
	 * VT-x without EPT: the MMIO read is a #PF VM exit, after which the
	 * VMCS holds no STI/MOV SS blocking (bochs' Core 2 in vmx-shadow,
	 * under modvm and under Debian's KVM alike); the shadow is lost.
	 */
	int pf_exit = modvm_vmx_shadow();

	GUEST_REQUIRE_RUN();
	guest_load(&self->g, shadow_guest, shadow_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_MMIO, run->exit_reason);
	EXPECT_EQ(MMIO_GPA, run->mmio.phys_addr);
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(LABEL_GPA(shadow_guest, sti_read), regs.rip);
	get_events(_metadata, self->v, &ev);
	EXPECT_TRUE(ev.flags & KVM_VCPUEVENT_VALID_SHADOW);
	EXPECT_EQ(!pf_exit, !!(ev.interrupt.shadow & KVM_X86_SHADOW_INT_STI));
	/* Interrupts are blocked (if the shadow is kept): no injection now. */
	EXPECT_EQ(1, run->if_flag);
	EXPECT_EQ(pf_exit, run->ready_for_interrupt_injection);

	ASSERT_EQ(0, guest_run(self->v));
	ASSERT_EQ(KVM_EXIT_MMIO, run->exit_reason);
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(LABEL_GPA(shadow_guest, movss_read), regs.rip);
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(!pf_exit, !!(ev.interrupt.shadow & KVM_X86_SHADOW_INT_MOV_SS));

	/* Userspace can clear it, and read back what it set. */
	ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
	ev.interrupt.shadow = 0;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				 (unsigned long)&ev));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.interrupt.shadow);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.interrupt.shadow);
}

/* #GP with an error code, from userspace, reaches the guest's handler. */
TEST_F(events, set_exception)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;

	GUEST_REQUIRE_RUN();
	guest_load(&self->g, plain_guest, plain_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	guest_set_fault_skip(&self->g, 0);

	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.exception.injected);
	ev.exception.injected = 1;
	ev.exception.nr = 13;
	ev.exception.has_error_code = 1;
	ev.exception.error_code = 0x1238;
	ev.flags = 0;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				 (unsigned long)&ev));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(1, ev.exception.injected);
	EXPECT_EQ(13, ev.exception.nr);
	EXPECT_EQ(1, ev.exception.has_error_code);
	EXPECT_EQ(0x1238, ev.exception.error_code);

	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(13, regs.rbx);
	EXPECT_EQ(0x1238, regs.rcx);
	EXPECT_EQ(GUEST_CODE, regs.rdx);
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(0, ev.exception.injected);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

TEST_F(events, set_events_errno)
{
	struct kvm_vcpu_events ev;

	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
		  KVM_VCPUEVENT_VALID_SMM, ev.flags);
	EXPECT_EQ(0, ev.sipi_vector);

	ev.flags = 1u << 20;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				       (unsigned long)&ev));
	/* Payloads need KVM_CAP_EXCEPTION_PAYLOAD enabled first. */
	ev.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				       (unsigned long)&ev));
	ev.flags = 0;
	ev.exception.injected = 1;
	ev.exception.nr = 32;
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				       (unsigned long)&ev));
	ev.exception.nr = 2;	/* NMI is no exception */
	EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				       (unsigned long)&ev));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS, 8));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_GET_VCPU_EVENTS, 8));

	/* NMI state round trip. */
	memset(&ev, 0, sizeof(ev));
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	ev.nmi.pending = 1;
	ev.nmi.masked = 1;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_VCPU_EVENTS,
				 (unsigned long)&ev));
	get_events(_metadata, self->v, &ev);
	EXPECT_EQ(1, ev.nmi.pending);
	EXPECT_EQ(1, ev.nmi.masked);
	EXPECT_EQ(0, ev.nmi.injected);
}

/* Without an in-kernel irqchip only RUNNABLE exists. */
TEST_F(events, mp_state)
{
	static const uint32_t refused[] = {
		KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED,
		KVM_MP_STATE_HALTED, KVM_MP_STATE_SIPI_RECEIVED,
		KVM_MP_STATE_STOPPED, KVM_MP_STATE_CHECK_STOP,
		KVM_MP_STATE_OPERATING, KVM_MP_STATE_LOAD, 100,
	};
	struct kvm_mp_state mp = { .mp_state = 0xdead };
	unsigned int i;

	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_MP_STATE, (unsigned long)&mp));
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp.mp_state);
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_MP_STATE, (unsigned long)&mp));
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		mp.mp_state = refused[i];
		EXPECT_EQ(-EINVAL, modvm_ioctl(self->v->fd, KVM_SET_MP_STATE,
					       (unsigned long)&mp));
	}
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_GET_MP_STATE, (unsigned long)&mp));
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp.mp_state);
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_GET_MP_STATE, 8));
	EXPECT_EQ(-EFAULT, modvm_ioctl(self->v->fd, KVM_SET_MP_STATE, 8));
}

TEST_HARNESS_MAIN
