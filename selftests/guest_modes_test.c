// SPDX-License-Identifier: GPL-2.0
/*
 * Guests in every x86 CPU mode: real mode, 16- and 32-bit protected mode
 * with and without paging, PAE and 64-bit long mode, each set up by
 * userspace through KVM_SET_SREGS; and a guest that switches itself from
 * real mode to protected mode to long mode, reporting at every step.
 *
 * Every guest reports: EBX a marker, ECX the bytes one PUSH moved the stack
 * pointer (2, 4 or 8: the operand size the CPU really uses), EDX CR0,
 * ESI CR4, EBP EFER (where RDMSR is usable) and EDI a word the host put in
 * guest memory; it also stores a word that the host then reads. In paging
 * modes both accesses go through GUEST_ALIAS_VA, so they only reach the
 * host's memory if the guest's page tables are in use.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define CR0_PE		(1u << 0)
#define CR0_PG		(1u << 31)
#define CR4_PAE		(1u << 5)
#define EFER_LME	(1u << 8)
#define EFER_LMA	(1u << 10)

#define MARKER		0x5a5a
#define HOST_WORD	0xcafe
#define GUEST_WORD	0xbeef

/*
 * Stack pointer delta of one PUSH into ECX, in any mode: opcodes 0x50/0x58
 * are PUSH/POP of the accumulator at the CPU's current operand size.
 */
#define PROBE_PUSH	"mov %esp, %ecx\n .byte 0x50\n sub %esp, %ecx\n .byte 0x58\n"

/* Real mode: DS = 0x2000 reaches GUEST_DATA through segmentation. */
#define GUEST_BLOB real_guest
GUEST_ASM(real_guest,
	".code16\n"
	"mov $" GUEST_XSTR(GUEST_DATA) " >> 4, %ax\n"
	"mov %ax, %ds\n"
	"movw $" GUEST_XSTR(GUEST_WORD) ", 0x10\n"
	"movzwl 0x20, %edi\n"
	PROBE_PUSH
	"mov %cr0, %edx\n"
	"mov %cr4, %esi\n"
	"xor %ebp, %ebp\n"
	"mov $" GUEST_XSTR(MARKER) ", %ebx\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));
#undef GUEST_BLOB

/* 16-bit protected mode: 64 KiB segments at 0, so data at 0xb100. */
GUEST_ASM(prot16_guest,
	".code16\n"
	"movw $" GUEST_XSTR(GUEST_WORD) ", 0xb110\n"
	"movzwl 0xb120, %edi\n"
	"mov $0xc0000080, %ecx\n rdmsr\n mov %eax, %ebp\n"
	"mov %cr0, %edx\n"
	"mov %cr4, %esi\n"
	PROBE_PUSH
	"mov $" GUEST_XSTR(MARKER) ", %ebx\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));

/* 32-bit protected mode, flat; BASE is where GUEST_DATA is seen. */
#define GUEST32(base)							\
	".code32\n"							\
	"movw $" GUEST_XSTR(GUEST_WORD) ", " base " + 0x10\n"		\
	"movzwl " base " + 0x20, %edi\n"				\
	"mov $0xc0000080, %ecx\n rdmsr\n mov %eax, %ebp\n"		\
	"mov %cr0, %edx\n"						\
	"mov %cr4, %esi\n"						\
	PROBE_PUSH							\
	"mov $" GUEST_XSTR(MARKER) ", %ebx\n"				\
	G_CALL(GUEST_REPORT)						\
	G_CALL(GUEST_DONE)

#define DATA_STR	GUEST_XSTR(GUEST_DATA)
#define ALIAS_STR	"(" GUEST_XSTR(GUEST_ALIAS_VA) " + " GUEST_XSTR(GUEST_DATA) ")"

GUEST_ASM(prot32_guest, GUEST32(DATA_STR));
GUEST_ASM(paging32_guest, GUEST32(ALIAS_STR));

GUEST_ASM(long64_guest,
	".code64\n"
	"mov $" ALIAS_STR ", %rax\n"
	"movw $" GUEST_XSTR(GUEST_WORD) ", 0x10(%rax)\n"
	"movzwl 0x20(%rax), %edi\n"
	"mov $0xc0000080, %ecx\n rdmsr\n mov %eax, %ebp\n"
	"mov %cr0, %rdx\n"
	"mov %cr4, %rsi\n"
	PROBE_PUSH
	"mov $" GUEST_XSTR(MARKER) ", %ebx\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));

/*
 * Real mode -> protected mode -> compatibility mode -> 64-bit mode, the
 * way a boot loader does it, with a report after each switch (EBX: step).
 */
#define GUEST_BLOB switch_guest
GUEST_ASM(switch_guest,
	".code16\n"
	"cli\n"
	PROBE_PUSH
	"mov %cr0, %edx\n"
	"mov $1, %ebx\n"
	G_CALL(GUEST_REPORT)
	"lgdtl " GA(sw_gdtr) "\n"
	"mov %cr0, %eax\n or $1, %eax\n mov %eax, %cr0\n"
	"ljmpl $" GUEST_XSTR(GUEST_SEL_CODE32) ", $" GA(sw_prot32) "\n"
	".code32\n"
	"sw_prot32:\n"
	"mov $" GUEST_XSTR(GUEST_SEL_DATA) ", %ax\n"
	"mov %ax, %ds\n mov %ax, %es\n mov %ax, %ss\n"
	"mov %ax, %fs\n mov %ax, %gs\n"
	"mov $" GUEST_XSTR(GUEST_STACK) ", %esp\n"
	PROBE_PUSH
	"mov %cr0, %edx\n"
	"mov $2, %ebx\n"
	G_CALL(GUEST_REPORT)
	"mov %cr4, %eax\n or $0x20, %eax\n mov %eax, %cr4\n"
	"mov $" GUEST_XSTR(GUEST_PML4) ", %eax\n mov %eax, %cr3\n"
	"mov $0xc0000080, %ecx\n rdmsr\n or $0x100, %eax\n wrmsr\n"
	"mov %cr0, %eax\n or $0x80000000, %eax\n mov %eax, %cr0\n"
	/* Compatibility mode: long mode active, 32-bit code segment. */
	"mov $0xc0000080, %ecx\n rdmsr\n mov %eax, %esi\n"
	PROBE_PUSH
	"mov %cr0, %edx\n"
	"mov $3, %ebx\n"
	G_CALL(GUEST_REPORT)
	"ljmp $" GUEST_XSTR(GUEST_SEL_CODE64) ", $" GA(sw_long64) "\n"
	".code64\n"
	"sw_long64:\n"
	"mov $0xc0000080, %ecx\n rdmsr\n mov %eax, %esi\n"
	PROBE_PUSH
	"mov %cr0, %rdx\n"
	"movabs $0x1122334455667788, %rdi\n"
	"mov $4, %ebx\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE)
	"sw_gdtr:\n"
	".word " GUEST_XSTR(GUEST_GDT_LIMIT) "\n"
	".long " GUEST_XSTR(GUEST_GDT) "\n");
#undef GUEST_BLOB

/*
 * Real mode through the IVT: INT n, an exception (#UD) and an external
 * interrupt (KVM_INTERRUPT) reach their handlers with FLAGS, CS and IP
 * pushed and IF clear; IRET returns. ECX: the IP INT pushed, EDX the IP
 * #UD pushed, EDI FLAGS in the INT handler, ESI the FLAGS the interrupt
 * pushed, EBP the CS it pushed.
 */
#define GUEST_BLOB ivt_guest
GUEST_ASM(ivt_guest,
	".code16\n"
	"xor %ax, %ax\n mov %ax, %ds\n"
	"movw $" GA(ivt_int) ", 0x80 * 4\n movw $0, 0x80 * 4 + 2\n"
	"movw $" GA(ivt_ud) ", 6 * 4\n movw $0, 6 * 4 + 2\n"
	"movw $" GA(ivt_ext) ", 0x40 * 4\n movw $0, 0x40 * 4 + 2\n"
	"xor %ecx, %ecx\n xor %edx, %edx\n xor %esi, %esi\n xor %edi, %edi\n"
	"mov $0x1234, %ebx\n mov $0xffff, %ebp\n"
	"int $0x80\n"
	".globl ivt_after_int\n"
	"ivt_after_int:\n"
	"ud2\n"
	"sti\n"
	G_CALL(GUEST_REPORT)
	"1: test %si, %si\n jz 1b\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE)
	"ivt_int:\n"
	"mov %sp, %bx\n mov %ss:(%bx), %cx\n"
	"pushf\n pop %di\n"
	"mov $0x1234, %bx\n"
	"iret\n"
	"ivt_ud:\n"
	"mov %sp, %bx\n mov %ss:(%bx), %dx\n addw $2, %ss:(%bx)\n"
	"mov $0x1234, %bx\n"
	"iret\n"
	"ivt_ext:\n"
	"mov %sp, %bx\n mov %ss:4(%bx), %si\n mov %ss:2(%bx), %bp\n"
	"mov $0x1234, %bx\n"
	"iret\n");
#undef GUEST_BLOB
extern const unsigned char ivt_after_int[];

FIXTURE(modes) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(modes)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(modes)
{
	guest_destroy(&self->g);
}

static uint16_t host_word(struct guest *g, uint64_t gpa)
{
	uint16_t w;

	memcpy(&w, guest_ptr(g, gpa), 2);
	return w;
}

/*
 * Run a mode guest: it must report once with the common fields, then be
 * done. Data lives at @data (0x10 written by the guest, 0x20 by us).
 */
static void run_mode_guest(struct __test_metadata *_metadata,
			   struct guest *g, struct guest_vcpu *v,
			   uint64_t data, uint32_t push, struct kvm_regs *regs)
{
	uint16_t hw = HOST_WORD;

	memcpy(guest_ptr(g, data + 0x20), &hw, 2);
	ASSERT_EQ(GUEST_REPORT, guest_call(v, regs));
	EXPECT_EQ(MARKER, regs->rbx);
	EXPECT_EQ(push, regs->rcx);
	EXPECT_EQ(HOST_WORD, regs->rdi);
	EXPECT_EQ(GUEST_WORD, host_word(g, data + 0x10));
	ASSERT_EQ(GUEST_DONE, guest_call(v, NULL));
}

TEST_F(modes, real_mode)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int r;

	guest_load(&self->g, real_guest, real_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_REAL));
	/* Where real mode does not run, KVM_RUN must say so (emulation error). */
	ASSERT_LE(0, r = guest_real_mode_refused(self->v));
	if (r)
		return;
	run_mode_guest(_metadata, &self->g, self->v, GUEST_DATA, 2, &regs);
	EXPECT_EQ(0, regs.rdx & CR0_PE);
	EXPECT_EQ(0, regs.rsi);
	/* The guest's own segment load, seen by userspace. */
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(GUEST_DATA >> 4, sregs.ds.selector);
	EXPECT_EQ(GUEST_DATA, sregs.ds.base);
	EXPECT_EQ(0, sregs.cr0 & CR0_PE);
}

TEST_F(modes, real_mode_ivt)
{
	uint64_t after_int = GUEST_CODE + (ivt_after_int - ivt_guest);
	struct kvm_interrupt irq = { .irq = 0x40 };
	struct kvm_regs regs;

	guest_load(&self->g, ivt_guest, ivt_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_REAL));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x1234, regs.rbx);
	EXPECT_EQ(after_int, regs.rcx);
	EXPECT_EQ(after_int, regs.rdx);
	EXPECT_EQ(0, regs.rdi & 0x200);
	EXPECT_EQ(0x200, regs.rflags & 0x200);
	EXPECT_EQ(0, regs.rflags & 0x20000);	/* never VM */

	EXPECT_EQ(1, self->v->run->ready_for_interrupt_injection);
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_INTERRUPT, (unsigned long)&irq));
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x200, regs.rsi & 0x200);
	EXPECT_EQ(0, regs.rbp);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
}

TEST_F(modes, protected_mode_16bit)
{
	struct kvm_regs regs;

	guest_load(&self->g, prot16_guest, prot16_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_PROT16));
	run_mode_guest(_metadata, &self->g, self->v, 0xb100, 2, &regs);
	EXPECT_EQ(CR0_PE, regs.rdx & (CR0_PE | CR0_PG));
	EXPECT_EQ(0, regs.rsi & CR4_PAE);
	EXPECT_EQ(0, regs.rbp & (EFER_LME | EFER_LMA));
}

TEST_F(modes, protected_mode_32bit)
{
	struct kvm_regs regs;

	guest_load(&self->g, prot32_guest, prot32_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_PROT32));
	run_mode_guest(_metadata, &self->g, self->v, GUEST_DATA, 4, &regs);
	EXPECT_EQ(CR0_PE, regs.rdx & (CR0_PE | CR0_PG));
	EXPECT_EQ(0, regs.rbp & (EFER_LME | EFER_LMA));
}

TEST_F(modes, protected_mode_32bit_paging)
{
	struct kvm_regs regs;

	guest_load(&self->g, paging32_guest, paging32_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_PROT32_PAGING));
	run_mode_guest(_metadata, &self->g, self->v, GUEST_DATA, 4, &regs);
	EXPECT_EQ(CR0_PE | CR0_PG, regs.rdx & (CR0_PE | CR0_PG));
	EXPECT_EQ(0, regs.rsi & CR4_PAE);
	EXPECT_EQ(0, regs.rbp & (EFER_LME | EFER_LMA));
}

TEST_F(modes, pae)
{
	struct kvm_regs regs;

	guest_load(&self->g, paging32_guest, paging32_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_PAE));
	run_mode_guest(_metadata, &self->g, self->v, GUEST_DATA, 4, &regs);
	EXPECT_EQ(CR0_PE | CR0_PG, regs.rdx & (CR0_PE | CR0_PG));
	EXPECT_EQ(CR4_PAE, regs.rsi & CR4_PAE);
	EXPECT_EQ(0, regs.rbp & (EFER_LME | EFER_LMA));
}

TEST_F(modes, long_mode_64bit)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	guest_load(&self->g, long64_guest, long64_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	run_mode_guest(_metadata, &self->g, self->v, GUEST_DATA, 8, &regs);
	EXPECT_EQ(CR0_PE | CR0_PG, regs.rdx & (CR0_PE | CR0_PG));
	EXPECT_EQ(CR4_PAE, regs.rsi & CR4_PAE);
	EXPECT_EQ(EFER_LME | EFER_LMA, regs.rbp & (EFER_LME | EFER_LMA));
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(1, sregs.cs.l);
	EXPECT_EQ(GUEST_PML4, sregs.cr3);
}

TEST_F(modes, guest_switches_real_to_long)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int r;

	guest_load(&self->g, switch_guest, switch_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_REAL));
	ASSERT_LE(0, r = guest_real_mode_refused(self->v));
	if (r)
		return;

	/* Real mode. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(1, regs.rbx);
	EXPECT_EQ(2, regs.rcx);
	EXPECT_EQ(0, regs.rdx & CR0_PE);

	/* 32-bit protected mode, after its own LGDT and far jump. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(2, regs.rbx);
	EXPECT_EQ(4, regs.rcx);
	EXPECT_EQ(CR0_PE, regs.rdx & (CR0_PE | CR0_PG));
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(GUEST_SEL_CODE32, sregs.cs.selector);
	EXPECT_EQ(1, sregs.cs.db);
	EXPECT_EQ(GUEST_GDT, sregs.gdt.base);
	EXPECT_EQ(GUEST_GDT_LIMIT, sregs.gdt.limit);
	EXPECT_EQ(GUEST_STACK, regs.rsp);

	/* Compatibility mode: the CPU set EFER.LMA when paging came on. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(3, regs.rbx);
	EXPECT_EQ(4, regs.rcx);
	EXPECT_EQ(CR0_PE | CR0_PG, regs.rdx & (CR0_PE | CR0_PG));
	EXPECT_EQ(EFER_LME | EFER_LMA, regs.rsi & (EFER_LME | EFER_LMA));
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(EFER_LME | EFER_LMA, sregs.efer & (EFER_LME | EFER_LMA));
	EXPECT_EQ(0, sregs.cs.l);
	EXPECT_EQ(GUEST_PML4, sregs.cr3);
	EXPECT_EQ(CR4_PAE, sregs.cr4 & CR4_PAE);

	/* 64-bit mode. */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(4, regs.rbx);
	EXPECT_EQ(8, regs.rcx);
	EXPECT_EQ(0x1122334455667788ull, regs.rdi);
	EXPECT_EQ(EFER_LME | EFER_LMA, regs.rsi & (EFER_LME | EFER_LMA));
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(GUEST_SEL_CODE64, sregs.cs.selector);
	EXPECT_EQ(1, sregs.cs.l);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, NULL));
}

TEST_HARNESS_MAIN
