// SPDX-License-Identifier: GPL-2.0
/*
 * Instruction emulation on MMIO: guest accesses to guest-physical
 * addresses in no memslot exit with KVM_EXIT_MMIO (KVM's kvm_run->mmio
 * layout, reads completed on the next KVM_RUN), served here by a fake
 * device of DEV_SIZE bytes.
 *
 * Most tests run the same guest code twice: once with its memory operand
 * in ordinary guest memory (the CPU executes it: the reference) and once
 * on the device (the hypervisor emulates it); registers, RFLAGS (also
 * saved after each instruction into SCRATCH), the operand memory and the
 * scratch memory must come out identical. The operand base is in RBP
 * (in 16-bit mode: in the DS and ES bases); guest code leaves no other
 * base-derived pointer in a register.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define MMIO_BASE	0x10000000	/* no memslot; identity-mapped */
#define RAM_BASE	(GUEST_DATA + 0x1000)
#define DEV_SIZE	0x1000
#define SCRATCH		(GUEST_DATA + 0x3000)	/* flags, RAM destinations */
#define SCRATCH_SIZE	0x400
#define DST		(SCRATCH + 0x100)
#define CONSTS		(GUEST_DATA + 0x4000)	/* RAM sources, XMM values */
#define UNMAPPED_VA	0x20000000	/* its 2M page is made not present */
#define DONE_PORT	0x5d
#define MAX_EXITS	128

#define S(x)		GUEST_XSTR(x)
/* Save RFLAGS into slot n of SCRATCH: 64-bit and 32-bit code. */
#define FL(n)		"pushf\n popq " S(SCRATCH) " + 8 * " #n "\n"
#define FL32(n)		"pushf\n popl " S(SCRATCH) " + 4 * " #n "\n"
#define DONE		"out %al, $" S(DONE_PORT) "\n"

/* MOV 88/89/8A/8B/C6/C7 with every operand size, SIB and disp forms. */
GUEST_ASM(mov_guest,
	".code64\n"
	"mov $0x1122334455667788, %rax\n mov $0x99aabbccddeeff00, %r8\n"
	"mov %al, 0x10(%rbp)\n mov %ax, 0x12(%rbp)\n"
	"mov %eax, 0x14(%rbp)\n mov %rax, 0x18(%rbp)\n"
	"mov %ah, 0x20(%rbp)\n mov %r8b, 0x21(%rbp)\n"
	"movb $0x5a, 0x22(%rbp)\n movw $0x1234, 0x24(%rbp)\n"
	"movl $0xdeadbeef, 0x28(%rbp)\n movq $-2, 0x30(%rbp)\n"
	"mov $-1, %rbx\n mov $-1, %rcx\n mov $-1, %rdx\n mov $-1, %r9\n mov $-1, %r10\n"
	"mov 0x40(%rbp), %bl\n mov 0x41(%rbp), %bh\n mov 0x42(%rbp), %cx\n"
	"mov 0x44(%rbp), %edx\n mov 0x48(%rbp), %r9\n mov 0x50(%rbp), %r10b\n"
	"lea 0x100(%rbp), %r11\n mov $3, %r12\n"
	"mov 0x8(%r11,%r12,8), %r13\n mov %r13d, -0x10(%r11,%r12,4)\n"
	"mov %r13w, 0x7f0(%r11)\n"
	"sub %rbp, %r11\n"
	DONE);

/* ADD/OR/ADC/SBB/AND/SUB/XOR/CMP in both directions and group 1. */
GUEST_ASM(alu_guest,
	".code64\n"
	"mov $0x7f, %eax\n mov $0x80000000, %ebx\n mov $-1, %rcx\n mov $0x8001, %edx\n"
	"clc\n add %al, 0x00(%rbp)\n" FL(0)
	"add 0x04(%rbp), %ebx\n" FL(1)
	"or %cx, 0x08(%rbp)\n" FL(2)
	"or 0x0c(%rbp), %dl\n" FL(3)
	"stc\n adc %eax, 0x10(%rbp)\n" FL(4)
	"stc\n adc 0x14(%rbp), %al\n" FL(5)
	"stc\n sbb %rbx, 0x18(%rbp)\n" FL(6)
	"clc\n sbb 0x20(%rbp), %dx\n" FL(7)
	"and %eax, 0x24(%rbp)\n" FL(8)
	"and 0x28(%rbp), %rcx\n" FL(9)
	"sub %al, 0x2c(%rbp)\n" FL(10)
	"sub 0x30(%rbp), %ebx\n" FL(11)
	"xor %rbx, 0x38(%rbp)\n" FL(12)
	"xor 0x40(%rbp), %ax\n" FL(13)
	"cmp %eax, 0x44(%rbp)\n" FL(14)
	"cmp 0x48(%rbp), %cl\n" FL(15)
	"addb $0x80, 0x50(%rbp)\n" FL(16)
	"addl $0x7fffffff, 0x54(%rbp)\n" FL(17)
	"addq $-1, 0x58(%rbp)\n" FL(18)
	"orw $0x8001, 0x60(%rbp)\n" FL(19)
	"stc\n adcl $1, 0x64(%rbp)\n" FL(20)
	"stc\n sbbb $0xff, 0x68(%rbp)\n" FL(21)
	"andq $-16, 0x70(%rbp)\n" FL(22)
	"subw $1, 0x78(%rbp)\n" FL(23)
	"xorl $0x55aa55aa, 0x7c(%rbp)\n" FL(24)
	"cmpq $0x7f, 0x80(%rbp)\n" FL(25)
	"cmpb $0, 0x88(%rbp)\n" FL(26)
	/* Edge cases: overflow, borrow, zero, carry out of 64 bits. */
	"movl $0x7fffffff, 0x90(%rbp)\n addl $1, 0x90(%rbp)\n" FL(27)
	"movb $0, 0x94(%rbp)\n subb $1, 0x94(%rbp)\n" FL(28)
	"movq $-1, 0x98(%rbp)\n addq $1, 0x98(%rbp)\n" FL(29)
	"movw $0x8000, 0xa0(%rbp)\n subw $1, 0xa0(%rbp)\n" FL(30)
	"movl $5, 0xa4(%rbp)\n mov $5, %esi\n cmp %esi, 0xa4(%rbp)\n" FL(31)
	"lock addl $3, 0xa8(%rbp)\n" FL(32)
	"movb $0x0f, 0xb0(%rbp)\n addb $1, 0xb0(%rbp)\n" FL(33)
	DONE);

/* TEST 84/85/F6/F7 /0 and XCHG 86/87. */
GUEST_ASM(test_xchg_guest,
	".code64\n"
	"mov $0x0f0f0f0f0f0f0f0f, %rax\n"
	"test %al, 0x10(%rbp)\n" FL(0)
	"test %rax, 0x18(%rbp)\n" FL(1)
	"testb $0x80, 0x20(%rbp)\n" FL(2)
	"testl $0, 0x24(%rbp)\n" FL(3)
	"testw $0xffff, 0x28(%rbp)\n" FL(4)
	"testq $-1, 0x30(%rbp)\n" FL(5)
	"test %ah, 0x31(%rbp)\n" FL(6)
	"mov $0x1122334455667788, %rbx\n mov %rbx, %rcx\n mov %rbx, %rdx\n mov %rbx, %rsi\n"
	"xchg %bl, 0x40(%rbp)\n xchg %rcx, 0x48(%rbp)\n"
	"xchg 0x50(%rbp), %edx\n xchg %si, 0x58(%rbp)\n"
	DONE);

/* INC/DEC FE/FF /0 /1, NOT/NEG F6/F7 /2 /3. */
GUEST_ASM(unary_guest,
	".code64\n"
	"stc\n incb 0x10(%rbp)\n" FL(0)
	"clc\n incw 0x12(%rbp)\n" FL(1)
	"incl 0x14(%rbp)\n" FL(2)
	"stc\n incq 0x18(%rbp)\n" FL(3)
	"decb 0x20(%rbp)\n" FL(4)
	"stc\n decw 0x22(%rbp)\n" FL(5)
	"decl 0x24(%rbp)\n" FL(6)
	"decq 0x28(%rbp)\n" FL(7)
	"movb $0x7f, 0x30(%rbp)\n incb 0x30(%rbp)\n" FL(8)
	"movl $1, 0x34(%rbp)\n decl 0x34(%rbp)\n" FL(9)
	"negb 0x40(%rbp)\n" FL(10)
	"negw 0x42(%rbp)\n" FL(11)
	"negl 0x44(%rbp)\n" FL(12)
	"negq 0x48(%rbp)\n" FL(13)
	"movl $0, 0x50(%rbp)\n negl 0x50(%rbp)\n" FL(14)
	"movb $0x80, 0x54(%rbp)\n negb 0x54(%rbp)\n" FL(15)
	"notb 0x60(%rbp)\n notw 0x62(%rbp)\n notl 0x64(%rbp)\n notq 0x68(%rbp)\n" FL(16)
	DONE);

/*
 * BT/BTS/BTR/BTC with register (bit strings beyond the operand, negative
 * offsets) and immediate offsets. Only CF is defined: save it with SETC.
 */
GUEST_ASM(bits_guest,
	".code64\n"
	"mov $5, %eax\n bt %eax, 0x40(%rbp)\n setc " S(SCRATCH) "\n"
	"btsl $3, 0x44(%rbp)\n setc " S(SCRATCH) " + 1\n"
	"mov $70, %rbx\n btr %rbx, 0x48(%rbp)\n setc " S(SCRATCH) " + 2\n"
	"mov $-3, %cx\n btc %cx, 0x50(%rbp)\n setc " S(SCRATCH) " + 3\n"
	"btl $31, 0x58(%rbp)\n setc " S(SCRATCH) " + 4\n"
	"btrq $63, 0x60(%rbp)\n setc " S(SCRATCH) " + 5\n"
	"btcw $15, 0x68(%rbp)\n setc " S(SCRATCH) " + 6\n"
	"mov $100, %edx\n bts %edx, 0x70(%rbp)\n setc " S(SCRATCH) " + 7\n"
	"mov $-1, %rsi\n bt %rsi, 0x80(%rbp)\n setc " S(SCRATCH) " + 8\n"
	"btsw $0, 0x90(%rbp)\n setc " S(SCRATCH) " + 9\n"
	DONE);

/* CMPXCHG 0F B0/B1: success and failure, every size. */
GUEST_ASM(cmpxchg_guest,
	".code64\n"
	"mov 0x10(%rbp), %eax\n mov $0x12345678, %ebx\n cmpxchg %ebx, 0x10(%rbp)\n" FL(0)
	"mov %rax, %r8\n"
	"mov $-1, %rax\n cmpxchg %ebx, 0x14(%rbp)\n" FL(1)
	"mov %rax, %r9\n"
	"mov $-1, %rax\n mov 0x18(%rbp), %al\n mov $0x42, %cl\n lock cmpxchg %cl, 0x18(%rbp)\n" FL(2)
	"mov %rax, %r10\n"
	"mov $0x1234, %rax\n mov $-5, %rcx\n cmpxchg %rcx, 0x20(%rbp)\n" FL(3)
	"mov %rax, %r11\n"
	"mov $-1, %rax\n mov 0x28(%rbp), %ax\n mov $0x7777, %dx\n cmpxchg %dx, 0x28(%rbp)\n" FL(4)
	"mov %rax, %r12\n"
	"mov $0, %al\n cmpxchg %dl, 0x30(%rbp)\n" FL(5)
	DONE);

/* MOVZX/MOVSX 0F B6/B7/BE/BF and MOVNTI 0F C3. */
GUEST_ASM(movx_guest,
	".code64\n"
	"mov $-1, %rax\n mov $-1, %rbx\n mov $-1, %rcx\n mov $-1, %rdx\n"
	"mov $-1, %r8\n mov $-1, %r9\n mov $-1, %r10\n mov $-1, %r11\n"
	"movzbl 0x80(%rbp), %eax\n movzwl 0x82(%rbp), %ebx\n movzbw 0x84(%rbp), %cx\n"
	"movsbq 0x85(%rbp), %rdx\n movswl 0x86(%rbp), %r8d\n movsbl 0x88(%rbp), %r9d\n"
	"movswq 0x8a(%rbp), %r10\n movsbw 0x8c(%rbp), %r11w\n movzbq 0x8d(%rbp), %r12\n"
	"movnti %eax, 0x90(%rbp)\n movnti %r10, 0x98(%rbp)\n"
	DONE);

/* MOVS/STOS/LODS, REP, both directions, RAM <-> MMIO <-> MMIO. */
GUEST_ASM(string_guest,
	".code64\n"
	"cld\n lea 0x10(%rbp), %rsi\n mov $" S(DST) ", %edi\n"
	"movsb\n movsw\n movsl\n movsq\n"
	"sub %rbp, %rsi\n mov %rsi, %r8\n mov %rdi, %r9\n"
	"mov $" S(CONSTS) ", %esi\n lea 0x40(%rbp), %rdi\n"
	"movsb\n movsw\n movsl\n movsq\n"
	"sub %rbp, %rdi\n mov %rdi, %r10\n mov %rsi, %r11\n"
	"mov $0xa5a5a5a5, %eax\n lea 0x80(%rbp), %rdi\n mov $5, %ecx\n rep stosl\n"
	"sub %rbp, %rdi\n mov %rdi, %r12\n mov %rcx, %r13\n"
	"std\n lea 0x10f(%rbp), %rsi\n lea 0x1ff(%rbp), %rdi\n mov $7, %ecx\n rep movsb\n cld\n"
	"sub %rbp, %rsi\n sub %rbp, %rdi\n mov %rsi, %rbx\n mov %rdi, %rdx\n"
	"lea 0x200(%rbp), %rsi\n mov $" S(DST) " + 0x40, %edi\n mov $3, %ecx\n rep movsq\n"
	"sub %rbp, %rsi\n mov %rsi, %r14\n"
	"lea 0x300(%rbp), %rsi\n mov $-1, %rax\n lodsw\n lodsb\n sub %rbp, %rsi\n mov %rsi, %r15\n"
	"lea 0x120(%rbp), %rdi\n addr32 stosb\n mov $0x1122, %ax\n stosw\n sub %rbp, %rdi\n"
	"mov $" S(CONSTS) ", %esi\n lea 0x140(%rbp), %rdi\n mov $9, %ecx\n rep movsw\n"
	"sub %rbp, %rdi\n xor %esi, %esi\n"
	DONE);

/* 128-bit SSE moves: every one is two 8-byte MMIO accesses. */
GUEST_ASM(sse128_guest,
	".code64\n"
	"movdqu " S(CONSTS) ", %xmm1\n movdqu " S(CONSTS) " + 16, %xmm9\n"
	"movdqa %xmm1, 0x100(%rbp)\n movdqu %xmm9, 0x111(%rbp)\n"
	"movaps %xmm1, 0x120(%rbp)\n movups %xmm9, 0x131(%rbp)\n"
	"movdqa 0x140(%rbp), %xmm2\n movdqu 0x151(%rbp), %xmm10\n"
	"movaps 0x160(%rbp), %xmm3\n movups 0x171(%rbp), %xmm11\n"
	"movntdq %xmm1, 0x180(%rbp)\n movntps %xmm9, 0x190(%rbp)\n"
	"movntpd %xmm1, 0x1a0(%rbp)\n movupd %xmm9, 0x1b1(%rbp)\n"
	"movapd 0x1c0(%rbp), %xmm12\n movupd 0x1d7(%rbp), %xmm13\n"
	"movdqu %xmm2, " S(SCRATCH) " + 0x200\n movdqu %xmm10, " S(SCRATCH) " + 0x210\n"
	"movdqu %xmm3, " S(SCRATCH) " + 0x220\n movdqu %xmm11, " S(SCRATCH) " + 0x230\n"
	"movdqu %xmm12, " S(SCRATCH) " + 0x240\n movdqu %xmm13, " S(SCRATCH) " + 0x250\n"
	DONE);

/* 32/64-bit SSE moves: MOVD/MOVQ in all their encodings, MOVSS, MOVSD. */
GUEST_ASM(sse64_guest,
	".code64\n"
	"movdqu " S(CONSTS) ", %xmm1\n movdqu " S(CONSTS) " + 16, %xmm9\n"
	"movdqu " S(CONSTS) " + 32, %xmm4\n movdqa %xmm4, %xmm5\n movdqa %xmm4, %xmm6\n"
	"movdqa %xmm4, %xmm7\n movdqa %xmm4, %xmm8\n movdqa %xmm4, %xmm12\n"
	"movd 0x180(%rbp), %xmm4\n"			/* 66 0F 6E */
	"movq 0x188(%rbp), %xmm5\n"			/* F3 0F 7E */
	".byte 0x66, 0x48, 0x0f, 0x6e, 0x75, 0x78\n"	/* movq 0x78(%rbp), %xmm6 */
	"movss 0x1a0(%rbp), %xmm7\n movsd 0x1a8(%rbp), %xmm8\n"
	"movd %xmm1, 0x190(%rbp)\n"			/* 66 0F 7E */
	"movq %xmm9, 0x198(%rbp)\n"			/* 66 0F D6 */
	".byte 0x66, 0x48, 0x0f, 0x7e, 0x4d, 0x70\n"	/* movq %xmm1, 0x70(%rbp) */
	"movss %xmm9, 0x1b0(%rbp)\n movsd %xmm1, 0x1b8(%rbp)\n"
	"movdqu %xmm4, " S(SCRATCH) " + 0x200\n movdqu %xmm5, " S(SCRATCH) " + 0x210\n"
	"movdqu %xmm6, " S(SCRATCH) " + 0x220\n movdqu %xmm7, " S(SCRATCH) " + 0x230\n"
	"movdqu %xmm8, " S(SCRATCH) " + 0x240\n"
	DONE);

/* 32-bit protected mode, 32-bit addressing. */
GUEST_ASM(mode32_guest,
	".code32\n"
	"mov $0x11223344, %eax\n mov %eax, 0x10(%ebp)\n movw $0x5566, 0x14(%ebp)\n"
	"mov 0x20(%ebp), %bl\n movzwl 0x22(%ebp), %ecx\n movsbl 0x24(%ebp), %edx\n"
	"addl $0x7fffffff, 0x28(%ebp)\n" FL32(0)
	"sub %eax, 0x2c(%ebp)\n" FL32(1)
	"cmpb $0x80, 0x30(%ebp)\n" FL32(2)
	"incw 0x34(%ebp)\n" FL32(3)
	"mov $2, %esi\n adc 0x8(%ebp,%esi,4), %ax\n" FL32(4)
	"lea 0x40(%ebp), %esi\n mov $" S(DST) ", %edi\n mov $4, %ecx\n rep movsw\n"
	"sub %ebp, %esi\n"
	"mov 0x60(%ebp), %edi\n xchg %edi, 0x64(%ebp)\n"
	DONE);

/*
 * 16-bit protected mode, 16-bit addressing through DS and ES (their
 * bases hold the operand base), and one 32-bit address (67 prefix).
 */
GUEST_ASM(mode16_guest,
	".code16\n"
	"mov $0x10, %bx\n mov $0x4, %si\n xor %di, %di\n"
	"mov (%bx,%si), %ax\n"
	"mov %ax, 0x20(%bx,%di)\n"
	"movw $0x1234, 0x30\n"
	"addw $0x8000, 0x40(%bx)\n pushf\n pop %bp\n"
	"mov 0x50(%di), %cl\n"
	"movl 0x60(%si), %edx\n"
	"mov 0x70, %al\n"
	"mov %al, 0x72\n"
	"addr32 mov 0x80(%ebx), %ecx\n"
	"subb $3, 0x5(%bx,%si)\n"
	"cld\n mov $0xa0, %si\n mov $0xc0, %di\n mov $3, %cx\n rep movsw\n"
	DONE);

/* x87 FLD m32 (D9 /0) on MMIO: unknown to the emulators. */
GUEST_ASM(unknown_guest,
	".code64\n"
	"mov %rbp, %rbx\n flds (%rbx)\n"
	DONE);

/* MOVSB from MMIO to a page the guest did not map. */
GUEST_ASM(pf_guest,
	".code64\n"
	"lea 0x10(%rbp), %rsi\n mov $" S(UNMAPPED_VA) ", %edi\n"
	"movsb\n"
	"sub %rbp, %rsi\n"
	DONE);

/*
 * A0-A3 moffs and RIP-relative addressing at fixed MMIO addresses. The
 * assembler makes "sym(%rip)" relative to the next instruction itself:
 * RIPREL(x) names guest address x as a location in the blob.
 */
#define RIPREL(x)	"(" x " - " S(GUEST_CODE) " + moffs_guest)(%rip)"
GUEST_ASM(moffs_guest,
	".code64\n"
	"mov $-1, %rax\n movabs " S(MMIO_BASE) " + 0x10, %al\n mov %rax, %rbx\n"
	"movabs " S(MMIO_BASE) " + 0x10, %ax\n mov %rax, %rcx\n"
	"movabs " S(MMIO_BASE) " + 0x10, %eax\n mov %rax, %rdx\n"
	"movabs " S(MMIO_BASE) " + 0x18, %rax\n mov %rax, %rsi\n"
	"mov $0x8877665544332211, %rax\n"
	"movabs %al, " S(MMIO_BASE) " + 0x80\n movabs %ax, " S(MMIO_BASE) " + 0x82\n"
	"movabs %eax, " S(MMIO_BASE) " + 0x84\n movabs %rax, " S(MMIO_BASE) " + 0x88\n"
	"mov " RIPREL(S(MMIO_BASE) " + 0x20") ", %edi\n"
	"mov %edi, " RIPREL(S(MMIO_BASE) " + 0x90") "\n"
	"addl $1, " RIPREL(S(MMIO_BASE) " + 0x94") "\n"
	DONE);

struct mmio_exit {
	uint64_t addr;
	uint32_t len;
	uint8_t write;
	uint8_t data[8];
};

struct outcome {
	struct kvm_regs regs;
	uint8_t mem[DEV_SIZE];
	uint8_t scratch[SCRATCH_SIZE];
	int nr_exits;
	struct mmio_exit exits[MAX_EXITS];
	int nr_exceptions;
	uint64_t exc_vector, exc_error, exc_rip, exc_cr2;
	uint32_t exit_reason;	/* of the last exit */
};

FIXTURE(mmio) {
	struct guest g;
	struct guest_vcpu *v;
	uint8_t dev[DEV_SIZE];
	struct outcome ram, mmio;
};

FIXTURE_SETUP(mmio)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(mmio)
{
	guest_destroy(&self->g);
}

static void fill_pattern(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = 0x80 + i * 7 + (i >> 8) * 3;
}

/*
 * Run @blob in @mode with its operand base at MMIO_BASE (@mmio) or
 * RAM_BASE until it reports done or an unexpected exit; record what
 * happened in @o. Returns false after an unexpected exit.
 */
static bool run_guest(struct __test_metadata *_metadata, FIXTURE_DATA(mmio) *self,
		      const unsigned char *blob, const unsigned char *end,
		      enum guest_mode mode, bool mmio, struct outcome *o)
{
	uint64_t base = mmio ? MMIO_BASE : RAM_BASE;
	uint8_t *mem = mmio ? self->dev : guest_ptr(&self->g, RAM_BASE);
	struct kvm_run *run = self->v->run;
	struct kvm_regs regs;
	int i;

	memset(o, 0, sizeof(*o));
	fill_pattern(mem, DEV_SIZE);
	memset(guest_ptr(&self->g, SCRATCH), 0, SCRATCH_SIZE);
	for (i = 0; i < 64; i++)
		*(uint8_t *)guest_ptr(&self->g, CONSTS + i) = 0x31 + i * 5;
	guest_load(&self->g, blob, end);
	if (guest_set_mode(self->v, mode))
		return false;
	guest_get_regs(self->v, &regs);
	if (mode == GUEST_MODE_PROT16) {
		struct kvm_sregs sregs;

		guest_get_sregs(self->v, &sregs);
		sregs.ds.base = base;
		sregs.es.base = base;
		EXPECT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS,
					 (unsigned long)&sregs));
	} else {
		regs.rbp = base;
	}
	guest_set_regs(self->v, &regs);

	for (;;) {
		o->exit_reason = run->exit_reason;
		if (guest_run(self->v)) {
			TH_LOG("KVM_RUN failed");
			return false;
		}
		o->exit_reason = run->exit_reason;
		if (run->exit_reason == KVM_EXIT_MMIO) {
			uint64_t off = run->mmio.phys_addr - MMIO_BASE;
			struct mmio_exit *x;

			if (!mmio || run->mmio.phys_addr < MMIO_BASE ||
			    off + run->mmio.len > DEV_SIZE || run->mmio.len > 8 ||
			    o->nr_exits == MAX_EXITS) {
				TH_LOG("unexpected MMIO exit at %#llx len %u",
				       run->mmio.phys_addr, run->mmio.len);
				return false;
			}
			if (run->mmio.is_write)
				memcpy(self->dev + off, run->mmio.data, run->mmio.len);
			else
				memcpy(run->mmio.data, self->dev + off, run->mmio.len);
			x = &o->exits[o->nr_exits++];
			x->addr = run->mmio.phys_addr;
			x->len = run->mmio.len;
			x->write = run->mmio.is_write;
			memcpy(x->data, run->mmio.data, run->mmio.len);
			continue;
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			TH_LOG("exit %s", guest_exit_name(run->exit_reason));
			return false;
		}
		guest_get_regs(self->v, &o->regs);
		if (run->io.port == GUEST_PORT &&
		    *(uint32_t *)guest_io_data(self->v) == GUEST_EXCEPTION) {
			struct kvm_sregs sregs;

			guest_get_sregs(self->v, &sregs);
			o->nr_exceptions++;
			o->exc_vector = o->regs.rbx;
			o->exc_error = o->regs.rcx;
			o->exc_rip = o->regs.rdx;
			o->exc_cr2 = sregs.cr2;
			continue;
		}
		if (run->io.port != DONE_PORT) {
			TH_LOG("I/O exit on port %#x", run->io.port);
			return false;
		}
		break;
	}
	if (mode != GUEST_MODE_PROT16)
		o->regs.rbp -= base;
	memcpy(o->mem, mem, DEV_SIZE);
	memcpy(o->scratch, guest_ptr(&self->g, SCRATCH), SCRATCH_SIZE);
	return true;
}

static void expect_same_bytes(struct __test_metadata *_metadata, const char *what,
			      const uint8_t *ref, const uint8_t *got, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		EXPECT_EQ(ref[i], got[i]) TH_LOG("%s byte %#zx", what, i);
		if (ref[i] != got[i])
			return;
	}
}

/* Run @blob on RAM (the reference) and on MMIO; demand the same results. */
static void compare(struct __test_metadata *_metadata, FIXTURE_DATA(mmio) *self,
		    const unsigned char *blob, const unsigned char *end,
		    enum guest_mode mode)
{
	const struct kvm_regs *a = &self->ram.regs, *b = &self->mmio.regs;
	const uint64_t *ra = (const uint64_t *)a, *rb = (const uint64_t *)b;
	static const char * const names[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
		"rip", "rflags",
	};
	size_t i;

	ASSERT_TRUE(run_guest(_metadata, self, blob, end, mode, false, &self->ram));
	EXPECT_EQ(0, self->ram.nr_exits);
	ASSERT_TRUE(run_guest(_metadata, self, blob, end, mode, true, &self->mmio));
	EXPECT_GT(self->mmio.nr_exits, 0);
	EXPECT_EQ(0, self->mmio.nr_exceptions);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		EXPECT_EQ(ra[i], rb[i]) TH_LOG("%s", names[i]);
	}
	expect_same_bytes(_metadata, "operand memory", self->ram.mem,
			  self->mmio.mem, DEV_SIZE);
	expect_same_bytes(_metadata, "scratch (flags, RAM results)",
			  self->ram.scratch, self->mmio.scratch, SCRATCH_SIZE);
}

/* The MMIO exit for @addr in @o, or NULL. */
static const struct mmio_exit *find_exit(const struct outcome *o, uint64_t addr,
					 bool write)
{
	int i;

	for (i = 0; i < o->nr_exits; i++)
		if (o->exits[i].addr == addr && o->exits[i].write == write)
			return &o->exits[i];
	return NULL;
}

static uint64_t dev_u64(FIXTURE_DATA(mmio) *self, int off, int size)
{
	uint8_t p[DEV_SIZE];
	uint64_t v = 0;

	fill_pattern(p, DEV_SIZE);
	memcpy(&v, p + off, size);
	(void)self;
	return v;
}

TEST_F(mmio, mov)
{
	const struct mmio_exit *x;

	compare(_metadata, self, mov_guest, mov_guest_end, GUEST_MODE_LONG64);
	/* Spot values: a 4-byte store, an 8-byte load, a SIB load. */
	x = find_exit(&self->mmio, MMIO_BASE + 0x14, true);
	ASSERT_NE(NULL, x);
	EXPECT_EQ(4, x->len);
	EXPECT_EQ(0x55667788, *(uint32_t *)x->data);
	EXPECT_EQ(dev_u64(self, 0x48, 8), self->mmio.regs.r9);
	EXPECT_EQ(dev_u64(self, 0x44, 4), self->mmio.regs.rdx);
	EXPECT_EQ(dev_u64(self, 0x120, 8), self->mmio.regs.r13);
	EXPECT_EQ(0xfffffffffffffffeull, *(uint64_t *)(self->mmio.mem + 0x30));
}

TEST_F(mmio, moffs_and_rip_relative)
{
	struct outcome *o = &self->mmio;
	const struct mmio_exit *x;

	ASSERT_TRUE(run_guest(_metadata, self, moffs_guest, moffs_guest_end,
			      GUEST_MODE_LONG64, true, o));
	EXPECT_EQ(0xffffffffffffff00ull | dev_u64(self, 0x10, 1), o->regs.rbx);
	EXPECT_EQ(0xffffffffffff0000ull | dev_u64(self, 0x10, 2), o->regs.rcx);
	EXPECT_EQ(dev_u64(self, 0x10, 4), o->regs.rdx);
	EXPECT_EQ(dev_u64(self, 0x18, 8), o->regs.rsi);
	EXPECT_EQ(0x11, o->mem[0x80]);
	EXPECT_EQ(0x2211, *(uint16_t *)(o->mem + 0x82));
	EXPECT_EQ(0x44332211, *(uint32_t *)(o->mem + 0x84));
	EXPECT_EQ(0x8877665544332211ull, *(uint64_t *)(o->mem + 0x88));
	EXPECT_EQ(dev_u64(self, 0x20, 4), o->regs.rdi);
	EXPECT_EQ(dev_u64(self, 0x20, 4), *(uint32_t *)(o->mem + 0x90));
	EXPECT_EQ((uint32_t)(dev_u64(self, 0x94, 4) + 1), *(uint32_t *)(o->mem + 0x94));
	x = find_exit(o, MMIO_BASE + 0x88, true);
	ASSERT_NE(NULL, x);
	EXPECT_EQ(8, x->len);
	x = find_exit(o, MMIO_BASE + 0x20, false);
	ASSERT_NE(NULL, x);
	EXPECT_EQ(4, x->len);
}

TEST_F(mmio, alu)
{
	uint64_t *fl = (uint64_t *)self->mmio.scratch;

	compare(_metadata, self, alu_guest, alu_guest_end, GUEST_MODE_LONG64);
	/* 0x7fffffff + 1: OF, SF, AF, PF; -1 + 1 (64-bit): CF, ZF, AF, PF. */
	EXPECT_EQ(0x894, fl[27] & 0x8d5);
	EXPECT_EQ(0x55, fl[29] & 0x8d5);
	EXPECT_EQ(0x80000000, *(uint32_t *)(self->mmio.mem + 0x90));
	EXPECT_EQ(0, *(uint64_t *)(self->mmio.mem + 0x98));
	/* CMP 5, 5: ZF and PF only. */
	EXPECT_EQ(0x44, fl[31] & 0x8d5);
}

TEST_F(mmio, test_and_xchg)
{
	compare(_metadata, self, test_xchg_guest, test_xchg_guest_end,
		GUEST_MODE_LONG64);
	EXPECT_EQ(0x1122334455667788ull, *(uint64_t *)(self->mmio.mem + 0x48));
	EXPECT_EQ(dev_u64(self, 0x48, 8), self->mmio.regs.rcx);
}

TEST_F(mmio, inc_dec_neg_not)
{
	compare(_metadata, self, unary_guest, unary_guest_end, GUEST_MODE_LONG64);
	EXPECT_EQ((uint8_t)~dev_u64(self, 0x60, 1), self->mmio.mem[0x60]);
}

TEST_F(mmio, bit_test)
{
	compare(_metadata, self, bits_guest, bits_guest_end, GUEST_MODE_LONG64);
	/* BTR 70 on a qword at 0x48 clears bit 6 of the qword at 0x50. */
	EXPECT_EQ(dev_u64(self, 0x50, 8) & ~(1ull << 6),
		  *(uint64_t *)(self->mmio.mem + 0x50));
	/* BTC -3 on a word at 0x50 flips bit 13 of the word at 0x4e. */
	EXPECT_EQ(dev_u64(self, 0x4e, 2) ^ (1 << 13),
		  *(uint16_t *)(self->mmio.mem + 0x4e));
	EXPECT_NE(NULL, find_exit(&self->mmio, MMIO_BASE + 0x50, false));
}

TEST_F(mmio, cmpxchg)
{
	compare(_metadata, self, cmpxchg_guest, cmpxchg_guest_end,
		GUEST_MODE_LONG64);
	EXPECT_EQ(0x12345678, *(uint32_t *)(self->mmio.mem + 0x10));
	EXPECT_EQ(dev_u64(self, 0x14, 4), self->mmio.regs.r9);
	EXPECT_EQ(0x42, self->mmio.mem[0x18]);
	EXPECT_EQ(dev_u64(self, 0x20, 8), self->mmio.regs.r11);
}

TEST_F(mmio, movzx_movsx_movnti)
{
	compare(_metadata, self, movx_guest, movx_guest_end, GUEST_MODE_LONG64);
	EXPECT_EQ((uint64_t)(int64_t)(int16_t)dev_u64(self, 0x8a, 2),
		  self->mmio.regs.r10);
}

TEST_F(mmio, movs_stos_lods)
{
	int i, bytes = 0;

	compare(_metadata, self, string_guest, string_guest_end,
		GUEST_MODE_LONG64);
	/* REP STOSL: the five dwords written to the device, nothing more. */
	for (i = 0; i < self->mmio.nr_exits; i++) {
		const struct mmio_exit *x = &self->mmio.exits[i];

		if (x->write && x->addr >= MMIO_BASE + 0x80 &&
		    x->addr < MMIO_BASE + 0x94) {
			EXPECT_EQ(0xa5, x->data[0]);
			bytes += x->len;
		}
	}
	EXPECT_EQ(20, bytes);
	EXPECT_EQ(0x94, self->mmio.regs.r12);
	EXPECT_EQ(0, self->mmio.regs.r13);
}

TEST_F(mmio, sse_128bit)
{
	const struct mmio_exit *x;

	compare(_metadata, self, sse128_guest, sse128_guest_end,
		GUEST_MODE_LONG64);
	/* KVM's split: two 8-byte exits per 16-byte access. */
	x = find_exit(&self->mmio, MMIO_BASE + 0x100, true);
	ASSERT_NE(NULL, x);
	EXPECT_EQ(8, x->len);
	x = find_exit(&self->mmio, MMIO_BASE + 0x108, true);
	ASSERT_NE(NULL, x);
	EXPECT_EQ(8, x->len);
	x = find_exit(&self->mmio, MMIO_BASE + 0x148, false);
	ASSERT_NE(NULL, x);
	EXPECT_EQ(8, x->len);
	EXPECT_EQ(0, memcmp(self->mmio.mem + 0x100, guest_ptr(&self->g, CONSTS), 16));
}

/*
 * KVM's emulator (6.1) knows none of MOVD/MOVQ/MOVSS/MOVSD: there the
 * first of them ends KVM_RUN with an emulation failure.
 */
TEST_F(mmio, sse_32_64bit)
{
	struct kvm_run *run = self->v->run;

	if (modvm_is_modvm()) {
		compare(_metadata, self, sse64_guest, sse64_guest_end,
			GUEST_MODE_LONG64);
		return;
	}
	EXPECT_FALSE(run_guest(_metadata, self, sse64_guest, sse64_guest_end,
			       GUEST_MODE_LONG64, true, &self->mmio));
	ASSERT_EQ(KVM_EXIT_INTERNAL_ERROR, self->mmio.exit_reason);
	EXPECT_EQ(KVM_INTERNAL_ERROR_EMULATION, run->emulation_failure.suberror);
	EXPECT_EQ(0x66, run->emulation_failure.insn_bytes[0]);
	EXPECT_EQ(0x6e, run->emulation_failure.insn_bytes[2]);
}

TEST_F(mmio, mode32)
{
	compare(_metadata, self, mode32_guest, mode32_guest_end,
		GUEST_MODE_PROT32);
}

TEST_F(mmio, mode16)
{
	compare(_metadata, self, mode16_guest, mode16_guest_end,
		GUEST_MODE_PROT16);
	EXPECT_EQ(0x1234, *(uint16_t *)(self->mmio.mem + 0x30));
	EXPECT_NE(NULL, find_exit(&self->mmio, MMIO_BASE + 0x90, false));
}

TEST_F(mmio, unknown_instruction)
{
	struct kvm_run *run = self->v->run;
	struct outcome *o = &self->mmio;

	EXPECT_FALSE(run_guest(_metadata, self, unknown_guest, unknown_guest_end,
			       GUEST_MODE_LONG64, true, o));
	ASSERT_EQ(KVM_EXIT_INTERNAL_ERROR, o->exit_reason);
	EXPECT_EQ(KVM_INTERNAL_ERROR_EMULATION, run->emulation_failure.suberror);
	ASSERT_TRUE(run->emulation_failure.flags &
		    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
	EXPECT_GE(run->emulation_failure.ndata, 3);
	EXPECT_GE(run->emulation_failure.insn_size, 2);
	EXPECT_EQ(0xd9, run->emulation_failure.insn_bytes[0]);
	EXPECT_EQ(0x03, run->emulation_failure.insn_bytes[1]);
	EXPECT_EQ(0, o->nr_exits);
}

TEST_F(mmio, page_fault_during_emulation)
{
	struct outcome *o = &self->mmio;
	uint64_t *pd = guest_ptr(&self->g, GUEST_PD64);

	pd[UNMAPPED_VA >> 21] = 0;
	guest_set_fault_skip(&self->g, 1);
	ASSERT_TRUE(run_guest(_metadata, self, pf_guest, pf_guest_end,
			      GUEST_MODE_LONG64, true, o));
	ASSERT_EQ(1, o->nr_exits);
	EXPECT_EQ(MMIO_BASE + 0x10, o->exits[0].addr);
	EXPECT_EQ(0, o->exits[0].write);
	ASSERT_EQ(1, o->nr_exceptions);
	EXPECT_EQ(14, o->exc_vector);
	EXPECT_EQ(2, o->exc_error);	/* write to a not-present page */
	EXPECT_EQ(GUEST_CODE + 9, o->exc_rip);
	EXPECT_EQ(UNMAPPED_VA, o->exc_cr2);
	/* The faulting MOVSB changed no register. */
	EXPECT_EQ(0x10, o->regs.rsi);
	EXPECT_EQ(UNMAPPED_VA, o->regs.rdi);
}

TEST_HARNESS_MAIN
