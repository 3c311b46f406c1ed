// SPDX-License-Identifier: GPL-2.0
/*
 * Hardware task switches of a 32-bit protected-mode guest, which VT-x
 * leaves to the hypervisor (AMD-V performs them itself): CALL to a TSS
 * and IRET back through the link, JMP to a TSS, an exception with an
 * exception and an INT n through task gates in the IDT. Checked: the
 * registers each task sees, NT, TR, the state saved in the old TSS, the
 * back link, busy bits and CR0.TS.
 *
 * The exception is #UD, without an error code: QEMU's TCG (7.2), the
 * svm-npt env's CPU, triple-faults when it pushes an exception's error
 * code onto the stack of a task it switched to through a task gate (with
 * modvm and with KVM), so that push is not tested here.
 *
 * QEMU's SVM (7.2) never raises the task switch intercept: it switches
 * tasks itself, which works with NPT; without NPT (shadow paging, the
 * svm-shadow env) its task switches triple-fault the guest, and KVM's
 * guest hangs. The tests skip there, saying so; modvm's SVM task switch
 * path (svm.c, SVM_EXIT_TASK_SWITCH) is not reached in these envs.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define S(x)		GUEST_XSTR(x)
#define GDT2		(GUEST_DATA + 0x1000)
#define TSS_A		(GUEST_DATA + 0x2000)
#define TSS_B		(GUEST_DATA + 0x2100)
#define TSS_C		(GUEST_DATA + 0x2200)
#define IDT2		(GUEST_DATA + 0x3000)
#define STACK_A		0x70000
#define STACK_B		0x71000
#define STACK_C		0x72000
#define SEL_CODE	0x08
#define SEL_DATA	0x10
#define SEL_A		0x18
#define SEL_B		0x20
#define SEL_C		0x28
#define SEL_DATA_NA	0x30	/* data, accessed bit clear */
#define GDT2_LIMIT	0x3f
#define VEC_SOFT	0x80

/* Results the tasks store. */
#define R_EBX		(GUEST_DATA + 0x00)
#define R_EFLAGS_A	(GUEST_DATA + 0x04)
#define R_TR_A		(GUEST_DATA + 0x08)
#define R_EAX_B		(GUEST_DATA + 0x0c)
#define R_EFLAGS_B	(GUEST_DATA + 0x10)
#define R_TR_B		(GUEST_DATA + 0x14)
#define R_ESP_C		(GUEST_DATA + 0x1c)
#define R_DS_B		(GUEST_DATA + 0x20)

#define NT		(1u << 14)
#define CR0_TS		(1u << 3)
#define TYPE_TSS	0x9
#define TYPE_TSS_BUSY	0xb

#define STORE_EFLAGS(dst) "pushf\n pop %eax\n mov %eax, " S(dst) "\n"
#define STORE_TR(dst)	"str %ax\n movzwl %ax, %eax\n mov %eax, " S(dst) "\n"

#define GUEST_BLOB ts_guest
GUEST_ASM(ts_guest,
	".code32\n"
	/* CALL to task B, which IRETs back here. */
	"go_call:\n"
	"mov $0xa1, %ebx\n"
	"lcall $" S(SEL_B) ", $0\n"
	"back_call:\n"
	"mov %ebx, " S(R_EBX) "\n"
	STORE_EFLAGS(R_EFLAGS_A)
	STORE_TR(R_TR_A)
	G_CALL(GUEST_DONE)
	/* JMP to task B, which ends the test. */
	"go_jmp:\n"
	"mov $0xa1, %ebx\n"
	"ljmp $" S(SEL_B) ", $0\n"
	"past_jmp:\n"
	"ud2\n"
	/* #UD through a task gate to task C. */
	"go_fault:\n"
	"mov $0x40, %eax\n"
	"faulting_insn:\n"
	"ud2\n"
	/* INT 0x80 through a task gate to task C, which IRETs back. */
	"go_soft:\n"
	"mov $0xa1, %ebx\n"
	"int $" S(VEC_SOFT) "\n"
	"past_int:\n"
	"mov %ebx, " S(R_EBX) "\n"
	STORE_EFLAGS(R_EFLAGS_A)
	STORE_TR(R_TR_A)
	G_CALL(GUEST_DONE)

	/* Task B: what it got from its TSS, then back (IRET) or done. */
	"task_b:\n"
	"mov %eax, " S(R_EAX_B) "\n"
	"mov %ds, %eax\n mov %eax, " S(R_DS_B) "\n"
	STORE_EFLAGS(R_EFLAGS_B)
	STORE_TR(R_TR_B)
	"testl $" S(NT) ", " S(R_EFLAGS_B) "\n"
	"jz 1f\n"
	"iret\n"
	"1:\n"
	G_CALL(GUEST_DONE)

	/* Task C for an exception: done. */
	"task_c_exception:\n"
	"mov %esp, " S(R_ESP_C) "\n"
	STORE_EFLAGS(R_EFLAGS_B)
	STORE_TR(R_TR_B)
	G_CALL(GUEST_DONE)
	"task_c_soft:\n"
	"mov %esp, " S(R_ESP_C) "\n"
	STORE_EFLAGS(R_EFLAGS_B)
	STORE_TR(R_TR_B)
	"iret\n"
	".code64\n");
#undef GUEST_BLOB

extern const unsigned char go_call[], back_call[], go_jmp[], past_jmp[],
	go_fault[], faulting_insn[], go_soft[], past_int[], task_b[],
	task_c_exception[], task_c_soft[];

#define GPA(label)	(GUEST_CODE + (uint32_t)((label) - ts_guest))

struct tss32 {
	uint32_t prev_task;
	uint32_t esp0, ss0, esp1, ss1, esp2, ss2;
	uint32_t cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint32_t es, cs, ss, ds, fs, gs;
	uint32_t ldt;
	uint16_t trap, io_map;
} __attribute__((packed));

FIXTURE(ts) {
	struct guest g;
	struct guest_vcpu *v;
};

static uint64_t *gdt(FIXTURE_DATA(ts) *self)
{
	return guest_ptr(&self->g, GDT2);
}

static struct tss32 *tss(FIXTURE_DATA(ts) *self, uint64_t gpa)
{
	return guest_ptr(&self->g, gpa);
}

static uint32_t u32_at(FIXTURE_DATA(ts) *self, uint64_t gpa)
{
	return *(uint32_t *)guest_ptr(&self->g, gpa);
}

static uint64_t tss_desc(uint32_t base, int type)
{
	return 0x67 | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(0x80 | type) << 40 | (uint64_t)(base >> 24) << 56;
}

/* Type field of the TSS descriptor @sel. */
static int desc_type(FIXTURE_DATA(ts) *self, int sel)
{
	return (gdt(self)[sel / 8] >> 40) & 0xf;
}

static void task_gate(FIXTURE_DATA(ts) *self, int vector, int sel)
{
	uint64_t *idt = guest_ptr(&self->g, IDT2);

	idt[vector] = (uint64_t)sel << 16 | 0x8500ull << 32;
}

/* A fresh task for @eip with its own stack, flat segments, IF off. */
static void new_task(FIXTURE_DATA(ts) *self, uint64_t gpa, uint32_t eip,
		     uint32_t esp, uint32_t ds)
{
	struct tss32 *t = tss(self, gpa);

	memset(t, 0, sizeof(*t));
	t->eip = eip;
	t->esp = esp;
	t->eflags = 0x2;
	t->eax = 0xb0;
	t->cs = SEL_CODE;
	t->ss = SEL_DATA;
	t->ds = ds;
	t->es = SEL_DATA;
	t->io_map = sizeof(*t);
	t->prev_task = 0x1234;	/* only CALL and gates write it */
}

static void segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->s = 1;
	s->present = 1;
	s->db = 1;
	s->g = 1;
}

/* Whether /proc/cpuinfo has @word (a vendor or a flag). */
static bool cpuinfo_has(const char *word)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, word) != NULL;
	fclose(f);
	return found;
}

/* An AMD CPU in an emulator (QEMU), guests without nested paging. */
static bool emulated_svm_without_npt(void)
{
	FILE *f;
	char c = 'Y';

	if (!cpuinfo_has("AuthenticAMD") || !cpuinfo_has(" hypervisor"))
		return false;
	if (modvm_is_modvm())
		return !cpuinfo_has(" npt") || !modvm_uses_tdp();
	f = fopen("/sys/module/kvm_amd/parameters/npt", "r");
	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = 'N';
		fclose(f);
	}
	return c != 'Y' && c != '1';
}

FIXTURE_SETUP(ts)
{
	struct kvm_sregs sregs;
	uint64_t *d;

	GUEST_REQUIRE_RUN();
	if (emulated_svm_without_npt())
		SKIP(fflush(stdout); _exit(255),
		     "QEMU's SVM without NPT triple-faults on task switches");
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	guest_load(&self->g, ts_guest, ts_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_PROT32));

	d = gdt(self);
	memset(d, 0, GDT2_LIMIT + 1);
	d[SEL_CODE / 8] = 0x00cf9b000000ffffull;
	d[SEL_DATA / 8] = 0x00cf93000000ffffull;
	d[SEL_A / 8] = tss_desc(TSS_A, TYPE_TSS_BUSY);
	d[SEL_B / 8] = tss_desc(TSS_B, TYPE_TSS);
	d[SEL_C / 8] = tss_desc(TSS_C, TYPE_TSS);
	d[SEL_DATA_NA / 8] = 0x00cf92000000ffffull;
	memset(guest_ptr(&self->g, IDT2), 0, 0x800);
	memset(tss(self, TSS_A), 0, sizeof(struct tss32));
	new_task(self, TSS_B, GPA(task_b), STACK_B, SEL_DATA_NA);

	guest_get_sregs(self->v, &sregs);
	sregs.gdt.base = GDT2;
	sregs.gdt.limit = GDT2_LIMIT;
	sregs.idt.base = IDT2;
	sregs.idt.limit = 0x7ff;
	segment(&sregs.cs, SEL_CODE, 0xb);
	segment(&sregs.ds, SEL_DATA, 0x3);
	sregs.es = sregs.ss = sregs.fs = sregs.gs = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_A;
	sregs.tr.base = TSS_A;
	sregs.tr.limit = 0x67;
	sregs.tr.type = TYPE_TSS_BUSY;
	sregs.tr.present = 1;
	sregs.cr0 &= ~CR0_TS;
	ASSERT_EQ(0, modvm_ioctl(self->v->fd, KVM_SET_SREGS,
				 (unsigned long)&sregs));
}

FIXTURE_TEARDOWN(ts)
{
	guest_destroy(&self->g);
}

/* Run from @label with ESP at STACK_A; returns the guest call. */
static long run_from(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ts) *self, uint32_t rip)
{
	struct kvm_regs regs;
	long r;

	guest_get_regs(self->v, &regs);
	regs.rip = rip;
	regs.rsp = STACK_A;
	regs.rflags = 0x2;
	guest_set_regs(self->v, &regs);
	r = guest_call(self->v, &regs);
	if (r != GUEST_DONE)
		TH_LOG("exit reason %u at RIP %#llx", self->v->run->exit_reason,
		       (unsigned long long)regs.rip);
	return r;
}

static void get_sregs(FIXTURE_DATA(ts) *self, struct kvm_sregs *sregs)
{
	guest_get_sregs(self->v, sregs);
}

/* CALL nests task B (NT, back link, both busy); its IRET returns. */
TEST_F(ts, call_and_iret)
{
	struct tss32 *a = tss(self, TSS_A), *b = tss(self, TSS_B);
	struct kvm_sregs sregs;

	ASSERT_EQ(GUEST_DONE, run_from(_metadata, self, GPA(go_call)));
	/* Task B ran with its TSS's registers, nested. */
	EXPECT_EQ(0xb0u, u32_at(self, R_EAX_B));
	EXPECT_EQ((uint32_t)SEL_DATA_NA, u32_at(self, R_DS_B));
	EXPECT_TRUE(u32_at(self, R_EFLAGS_B) & NT);
	EXPECT_EQ((uint32_t)SEL_B, u32_at(self, R_TR_B));
	EXPECT_EQ((uint32_t)SEL_A, b->prev_task);
	/* Task A got its state back, not nested. */
	EXPECT_EQ(0xa1u, u32_at(self, R_EBX));
	EXPECT_FALSE(u32_at(self, R_EFLAGS_A) & NT);
	EXPECT_EQ((uint32_t)SEL_A, u32_at(self, R_TR_A));
	EXPECT_EQ(GPA(back_call), a->eip);
	EXPECT_EQ(0xa1u, a->ebx);
	EXPECT_EQ((uint32_t)SEL_CODE, a->cs);
	/* IRET left B (no longer busy); A stayed busy throughout. */
	EXPECT_EQ(TYPE_TSS, desc_type(self, SEL_B));
	EXPECT_EQ(TYPE_TSS_BUSY, desc_type(self, SEL_A));
	/* B's IRET saved B with NT clear, EIP past the IRET. */
	EXPECT_FALSE(b->eflags & NT);
	get_sregs(self, &sregs);
	EXPECT_EQ(SEL_A, sregs.tr.selector);
	EXPECT_EQ(TSS_A, sregs.tr.base);
	EXPECT_TRUE(sregs.cr0 & CR0_TS);
}

/* JMP: no nesting, the old task is no longer busy. */
TEST_F(ts, jmp)
{
	struct tss32 *a = tss(self, TSS_A), *b = tss(self, TSS_B);
	struct kvm_sregs sregs;

	ASSERT_EQ(GUEST_DONE, run_from(_metadata, self, GPA(go_jmp)));
	EXPECT_EQ(0xb0u, u32_at(self, R_EAX_B));
	EXPECT_FALSE(u32_at(self, R_EFLAGS_B) & NT);
	EXPECT_EQ((uint32_t)SEL_B, u32_at(self, R_TR_B));
	EXPECT_EQ(0x1234u, b->prev_task);
	EXPECT_EQ(GPA(past_jmp), a->eip);
	EXPECT_EQ(0xa1u, a->ebx);
	EXPECT_EQ((uint32_t)STACK_A, a->esp);
	EXPECT_EQ(TYPE_TSS, desc_type(self, SEL_A));
	EXPECT_EQ(TYPE_TSS_BUSY, desc_type(self, SEL_B));
	get_sregs(self, &sregs);
	EXPECT_EQ(SEL_B, sregs.tr.selector);
	EXPECT_EQ(TSS_B, sregs.tr.base);
	EXPECT_EQ(0x67u, sregs.tr.limit);
	EXPECT_TRUE(sregs.cr0 & CR0_TS);
}

/* #UD through a task gate: a nested task C, nothing on its stack. */
TEST_F(ts, exception_through_task_gate)
{
	struct tss32 *a = tss(self, TSS_A), *c = tss(self, TSS_C);

	new_task(self, TSS_C, GPA(task_c_exception), STACK_C, SEL_DATA);
	task_gate(self, 6, SEL_C);
	ASSERT_EQ(GUEST_DONE, run_from(_metadata, self, GPA(go_fault)));
	EXPECT_EQ((uint32_t)STACK_C, u32_at(self, R_ESP_C));
	EXPECT_TRUE(u32_at(self, R_EFLAGS_B) & NT);
	EXPECT_EQ((uint32_t)SEL_C, u32_at(self, R_TR_B));
	EXPECT_EQ((uint32_t)SEL_A, c->prev_task);
	/* A fault saves the faulting instruction's address. */
	EXPECT_EQ(GPA(faulting_insn), a->eip);
	EXPECT_EQ(0x40u, a->eax);
	EXPECT_EQ(TYPE_TSS_BUSY, desc_type(self, SEL_A));
	EXPECT_EQ(TYPE_TSS_BUSY, desc_type(self, SEL_C));
}

/* INT n through a task gate, and IRET back past the INT. */
TEST_F(ts, int_through_task_gate)
{
	struct tss32 *a = tss(self, TSS_A), *c = tss(self, TSS_C);

	new_task(self, TSS_C, GPA(task_c_soft), STACK_C, SEL_DATA);
	task_gate(self, VEC_SOFT, SEL_C);
	ASSERT_EQ(GUEST_DONE, run_from(_metadata, self, GPA(go_soft)));
	EXPECT_EQ((uint32_t)STACK_C, u32_at(self, R_ESP_C));	/* no error code */
	EXPECT_TRUE(u32_at(self, R_EFLAGS_B) & NT);
	EXPECT_EQ((uint32_t)SEL_C, u32_at(self, R_TR_B));
	EXPECT_EQ((uint32_t)SEL_A, c->prev_task);
	EXPECT_EQ(GPA(past_int), a->eip);
	EXPECT_EQ(0xa1u, u32_at(self, R_EBX));
	EXPECT_FALSE(u32_at(self, R_EFLAGS_A) & NT);
	EXPECT_EQ((uint32_t)SEL_A, u32_at(self, R_TR_A));
	EXPECT_EQ(TYPE_TSS, desc_type(self, SEL_C));
}

TEST_HARNESS_MAIN
