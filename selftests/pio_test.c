// SPDX-License-Identifier: GPL-2.0
/*
 * Port I/O exits: IN/OUT with immediate and DX ports, INS/OUTS and their
 * REP forms, sizes 1, 2 and 4, with KVM's kvm_run->io layout and the data
 * checked in both directions.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "guest.h"

#define SRC		(GUEST_DATA + 0x40)	/* OUTS source bytes */
#define INS_DST		(GUEST_DATA + 0x100)
#define REP_INS_DST	(GUEST_DATA + 0x200)

GUEST_ASM(pio_guest,
	".code64\n"
	/* OUT: imm8 port, then DX. */
	"mov $0x11, %al\n out %al, $0x10\n"
	"mov $0x2233, %ax\n out %ax, $0x12\n"
	"mov $0x44556677, %eax\n out %eax, $0x14\n"
	"mov $0x1234, %dx\n"
	"mov $0x88, %al\n out %al, (%dx)\n"
	"mov $0x99aa, %ax\n out %ax, (%dx)\n"
	"mov $0xbbccddee, %eax\n out %eax, (%dx)\n"
	/* IN: 8/16-bit loads keep the rest of RAX, 32-bit zero-extends. */
	"mov $-1, %rax\n in $0x20, %al\n mov %rax, %r8\n"
	"mov $-1, %rax\n in $0x22, %ax\n mov %rax, %r9\n"
	"mov $-1, %rax\n in $0x24, %eax\n mov %rax, %r10\n"
	"mov $0x4321, %dx\n"
	"mov $-1, %rax\n in (%dx), %ax\n mov %rax, %r11\n"
	/* OUTS / INS, one element each. */
	"mov $" GUEST_XSTR(SRC) ", %esi\n mov $0x30, %dx\n"
	"outsb\n outsw\n outsl\n"
	"mov $" GUEST_XSTR(INS_DST) ", %edi\n mov $0x40, %dx\n"
	"insb\n insw\n insl\n"
	/* REP OUTS / REP INS. */
	"mov $" GUEST_XSTR(SRC) ", %esi\n mov $0x50, %dx\n"
	"mov $5, %ecx\n rep outsb\n"
	"mov $3, %ecx\n rep outsw\n"
	"mov $2, %ecx\n rep outsl\n"
	"mov %rsi, %r12\n"
	"mov $" GUEST_XSTR(REP_INS_DST) ", %edi\n mov $0x60, %dx\n"
	"mov $5, %ecx\n rep insb\n"
	"mov $3, %ecx\n rep insw\n"
	"mov $2, %ecx\n rep insl\n"
	"mov %rdi, %r13\n mov %rcx, %r14\n"
	G_CALL(GUEST_DONE));

/* REP INSB that starts 6 bytes before the end of a page. */
#define PAGE_END_DST	(GUEST_DATA + 0x3000 - 6)
GUEST_ASM(rep_ins_page_guest,
	".code64\n"
	"mov $" GUEST_XSTR(PAGE_END_DST) ", %edi\n mov $0x70, %dx\n"
	"mov $300, %ecx\n rep insb\n"
	"mov %rdi, %r13\n mov %rcx, %r14\n"
	G_CALL(GUEST_DONE));

/* An INS whose bytes the host overwrites while its IN is pending. */
#define REDECODE_DST	(GUEST_DATA + 0x400)
GUEST_ASM(ins_redecode_guest,
	".code64\n"
	"mov $" GUEST_XSTR(REDECODE_DST) ", %edi\n mov $0x71, %dx\n"
	"mov $4, %ecx\n"
	".globl ins_redecode_at\n"
	"ins_redecode_at:\n"
	"rep insb\n"
	"mov %rdi, %r13\n mov %rcx, %r14\n"
	G_CALL(GUEST_DONE));
extern const unsigned char ins_redecode_at[];

/* The same in real mode, where the operand sizes come from prefixes. */
GUEST_ASM(pio_real_guest,
	".code16\n"
	"mov $0x11, %al\n out %al, $0x10\n"
	"mov $0x2233, %ax\n out %ax, $0x12\n"
	"mov $0x44556677, %eax\n out %eax, $0x14\n"
	"mov $0x20, %dx\n"
	"in (%dx), %al\n mov %eax, %ebx\n"
	"in (%dx), %ax\n mov %eax, %ecx\n"
	"in (%dx), %eax\n mov %eax, %esi\n"
	G_CALL(GUEST_DONE));

struct io_exit {
	uint8_t direction, size;
	uint16_t port;
	uint32_t count;
	uint8_t data[512];
};

#define MAX_EXITS	64

FIXTURE(pio) {
	struct guest g;
	struct guest_vcpu *v;
	struct io_exit exits[MAX_EXITS];
	int nr_exits;
	uint8_t in_seq;
};

FIXTURE_SETUP(pio)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	self->in_seq = 0xa0;
}

FIXTURE_TEARDOWN(pio)
{
	guest_destroy(&self->g);
}

/*
 * Run until the guest is done, logging every I/O exit; IN data comes from
 * a byte counter starting at 0xa0. Returns the number of exits or -1.
 */
static int run_logging(struct __test_metadata *_metadata,
		       FIXTURE_DATA(pio) *self)
{
	struct kvm_run *run = self->v->run;

	for (;;) {
		struct io_exit *x;
		uint8_t *data;
		uint32_t i, bytes;

		EXPECT_EQ(0, guest_run(self->v));
		if (run->exit_reason != KVM_EXIT_IO) {
			TH_LOG("exit %s", guest_exit_name(run->exit_reason));
			return -1;
		}
		data = guest_io_data(self->v);
		bytes = run->io.size * run->io.count;
		/* The data lies inside the vCPU mapping, after struct kvm_run. */
		EXPECT_GE(run->io.data_offset, sizeof(struct kvm_run));
		EXPECT_LE(run->io.data_offset + bytes, self->g.run_size);
		if (run->io.port == GUEST_PORT && run->io.size == 4 &&
		    run->io.direction == KVM_EXIT_IO_OUT &&
		    *(uint32_t *)data == GUEST_DONE)
			return self->nr_exits;
		if (self->nr_exits == MAX_EXITS || bytes > sizeof(x->data)) {
			TH_LOG("too many exits or too much data");
			return -1;
		}
		x = &self->exits[self->nr_exits++];
		x->direction = run->io.direction;
		x->size = run->io.size;
		x->port = run->io.port;
		x->count = run->io.count;
		if (x->direction == KVM_EXIT_IO_IN)
			for (i = 0; i < bytes; i++)
				data[i] = self->in_seq++;
		memcpy(x->data, data, bytes);
	}
}

static void check_exit(struct __test_metadata *_metadata,
		       const struct io_exit *x, uint8_t dir, uint8_t size,
		       uint16_t port, uint32_t count, uint64_t value)
{
	uint64_t got = 0;

	EXPECT_EQ(dir, x->direction);
	EXPECT_EQ(size, x->size);
	EXPECT_EQ(port, x->port);
	EXPECT_EQ(count, x->count);
	memcpy(&got, x->data, size);
	EXPECT_EQ(value, got) TH_LOG("port %#x size %u", port, size);
}

/*
 * Collect the exits of one REP instruction (same direction, port, size)
 * starting at *@i; returns the total count and concatenates the data.
 */
static uint32_t rep_exits(const FIXTURE_DATA(pio) *self, int *i,
			  uint8_t dir, uint8_t size, uint16_t port,
			  uint8_t *data, int *nr)
{
	uint32_t total = 0;

	*nr = 0;
	while (*i < self->nr_exits) {
		const struct io_exit *x = &self->exits[*i];

		if (x->direction != dir || x->size != size || x->port != port)
			break;
		memcpy(data + total * size, x->data, x->count * size);
		total += x->count;
		(*i)++;
		(*nr)++;
	}
	return total;
}

/*
 * Exits a REP OUTS of @count elements takes: KVM exits once per element,
 * modvm hands userspace the whole run at once, as both do for REP INS.
 */
static int rep_outs_exits(int count)
{
	return modvm_is_modvm() ? 1 : count;
}

TEST_F(pio, long_mode)
{
	uint8_t *src = guest_ptr(&self->g, SRC);
	uint8_t buf[64], expect[64];
	struct kvm_regs regs;
	int i, n, nr;
	uint8_t seq;

	for (i = 0; i < 32; i++)
		src[i] = 0x50 + i;
	guest_load(&self->g, pio_guest, pio_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	n = run_logging(_metadata, self);
	ASSERT_GT(n, 0);
	guest_get_regs(self->v, &regs);

	check_exit(_metadata, &self->exits[0], KVM_EXIT_IO_OUT, 1, 0x10, 1, 0x11);
	check_exit(_metadata, &self->exits[1], KVM_EXIT_IO_OUT, 2, 0x12, 1, 0x2233);
	check_exit(_metadata, &self->exits[2], KVM_EXIT_IO_OUT, 4, 0x14, 1, 0x44556677);
	check_exit(_metadata, &self->exits[3], KVM_EXIT_IO_OUT, 1, 0x1234, 1, 0x88);
	check_exit(_metadata, &self->exits[4], KVM_EXIT_IO_OUT, 2, 0x1234, 1, 0x99aa);
	check_exit(_metadata, &self->exits[5], KVM_EXIT_IO_OUT, 4, 0x1234, 1, 0xbbccddee);
	check_exit(_metadata, &self->exits[6], KVM_EXIT_IO_IN, 1, 0x20, 1, 0xa0);
	check_exit(_metadata, &self->exits[7], KVM_EXIT_IO_IN, 2, 0x22, 1, 0xa2a1);
	check_exit(_metadata, &self->exits[8], KVM_EXIT_IO_IN, 4, 0x24, 1, 0xa6a5a4a3);
	check_exit(_metadata, &self->exits[9], KVM_EXIT_IO_IN, 2, 0x4321, 1, 0xa8a7);
	EXPECT_EQ(0xffffffffffffffa0ull, regs.r8);
	EXPECT_EQ(0xffffffffffffa2a1ull, regs.r9);
	EXPECT_EQ(0x00000000a6a5a4a3ull, regs.r10);
	EXPECT_EQ(0xffffffffffffa8a7ull, regs.r11);

	/* OUTS: one element each, from the guest's memory. */
	check_exit(_metadata, &self->exits[10], KVM_EXIT_IO_OUT, 1, 0x30, 1, 0x50);
	check_exit(_metadata, &self->exits[11], KVM_EXIT_IO_OUT, 2, 0x30, 1, 0x5251);
	check_exit(_metadata, &self->exits[12], KVM_EXIT_IO_OUT, 4, 0x30, 1, 0x56555453);
	/* INS: into the guest's memory. */
	check_exit(_metadata, &self->exits[13], KVM_EXIT_IO_IN, 1, 0x40, 1, 0xa9);
	check_exit(_metadata, &self->exits[14], KVM_EXIT_IO_IN, 2, 0x40, 1, 0xabaa);
	check_exit(_metadata, &self->exits[15], KVM_EXIT_IO_IN, 4, 0x40, 1, 0xafaeadac);
	for (i = 0; i < 7; i++)
		expect[i] = 0xa9 + i;
	EXPECT_EQ(0, memcmp(guest_ptr(&self->g, INS_DST), expect, 7));

	/*
	 * REP OUTS: 5 bytes, 3 words, 2 dwords, continuing through SRC. KVM
	 * exits once per element for OUTS (count 1 each), but once per REP INS
	 * with the whole count (it fits the page and KVM's buffer).
	 */
	i = 16;
	EXPECT_EQ(5, rep_exits(self, &i, KVM_EXIT_IO_OUT, 1, 0x50, buf, &nr));
	EXPECT_EQ(0, memcmp(buf, src, 5));
	EXPECT_EQ(rep_outs_exits(5), nr);
	EXPECT_EQ(3, rep_exits(self, &i, KVM_EXIT_IO_OUT, 2, 0x50, buf, &nr));
	EXPECT_EQ(0, memcmp(buf, src + 5, 6));
	EXPECT_EQ(rep_outs_exits(3), nr);
	EXPECT_EQ(2, rep_exits(self, &i, KVM_EXIT_IO_OUT, 4, 0x50, buf, &nr));
	EXPECT_EQ(0, memcmp(buf, src + 11, 8));
	EXPECT_EQ(rep_outs_exits(2), nr);
	EXPECT_EQ(SRC + 19, regs.r12);

	/* REP INS: 19 bytes of the sequence land in guest memory. */
	seq = 0xb0;
	EXPECT_EQ(5, rep_exits(self, &i, KVM_EXIT_IO_IN, 1, 0x60, buf, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(3, rep_exits(self, &i, KVM_EXIT_IO_IN, 2, 0x60, buf, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(2, rep_exits(self, &i, KVM_EXIT_IO_IN, 4, 0x60, buf, &nr));
	EXPECT_EQ(1, nr);
	for (n = 0; n < 19; n++)
		expect[n] = seq++;
	EXPECT_EQ(0, memcmp(guest_ptr(&self->g, REP_INS_DST), expect, 19));
	EXPECT_EQ(REP_INS_DST + 19, regs.r13);
	EXPECT_EQ(0, regs.r14);
	EXPECT_EQ(i, self->nr_exits);
}

TEST_F(pio, real_mode)
{
	struct kvm_regs regs;
	int r;

	guest_load(&self->g, pio_real_guest, pio_real_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_REAL));
	/* Where real mode does not run, KVM_RUN must say so (emulation error). */
	ASSERT_LE(0, r = guest_real_mode_refused(self->v));
	if (r)
		return;
	ASSERT_EQ(6, run_logging(_metadata, self));
	guest_get_regs(self->v, &regs);
	check_exit(_metadata, &self->exits[0], KVM_EXIT_IO_OUT, 1, 0x10, 1, 0x11);
	check_exit(_metadata, &self->exits[1], KVM_EXIT_IO_OUT, 2, 0x12, 1, 0x2233);
	check_exit(_metadata, &self->exits[2], KVM_EXIT_IO_OUT, 4, 0x14, 1, 0x44556677);
	check_exit(_metadata, &self->exits[3], KVM_EXIT_IO_IN, 1, 0x20, 1, 0xa0);
	check_exit(_metadata, &self->exits[4], KVM_EXIT_IO_IN, 2, 0x20, 1, 0xa2a1);
	check_exit(_metadata, &self->exits[5], KVM_EXIT_IO_IN, 4, 0x20, 1, 0xa6a5a4a3);
	EXPECT_EQ(0xa0, regs.rbx & 0xff);
	EXPECT_EQ(0xa2a1, regs.rcx & 0xffff);
	EXPECT_EQ(0xa6a5a4a3, regs.rsi);
}

/*
 * One exit of a REP INS never writes past the guest page RDI points into:
 * 6 bytes to the end of the page, then the rest (as KVM).
 */
TEST_F(pio, rep_ins_stops_at_page_end)
{
	uint8_t *dst = guest_ptr(&self->g, PAGE_END_DST);
	uint8_t seq = self->in_seq;
	struct kvm_regs regs;
	int i;

	guest_load(&self->g, rep_ins_page_guest, rep_ins_page_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
	ASSERT_EQ(2, run_logging(_metadata, self));
	check_exit(_metadata, &self->exits[0], KVM_EXIT_IO_IN, 1, 0x70, 6, seq);
	check_exit(_metadata, &self->exits[1], KVM_EXIT_IO_IN, 1, 0x70, 294,
		   (uint8_t)(seq + 6));
	for (i = 0; i < 300; i++) {
		EXPECT_EQ((uint8_t)(seq + i), dst[i]) TH_LOG("byte %d", i);
	}
	guest_get_regs(self->v, &regs);
	EXPECT_EQ(PAGE_END_DST + 300, regs.r13);
	EXPECT_EQ(0, regs.r14);
}

/*
 * Completing an INS uses what its exit decoded: the guest's code changing
 * meanwhile (another vCPU, the VMM) does not change where the data goes
 * or where the guest resumes.
 */
TEST_F(pio, ins_completion_does_not_decode_again)
{
	uint8_t *insn = guest_ptr(&self->g, GUEST_CODE +
				  (ins_redecode_at - ins_redecode_guest));
	uint8_t *dst = guest_ptr(&self->g, REDECODE_DST);
	struct kvm_run *run = self->v->run;
	struct kvm_regs regs;

	ASSERT_EQ(0, guest_start(self->v, ins_redecode_guest,
				 ins_redecode_guest_end, GUEST_MODE_LONG64));
	ASSERT_EQ(KVM_EXIT_IO, run->exit_reason);
	ASSERT_EQ(KVM_EXIT_IO_IN, run->io.direction);
	ASSERT_EQ(4, run->io.count);
	memcpy(guest_io_data(self->v), "\x11\x22\x33\x44", 4);
	ASSERT_EQ(0xf3, insn[0]);	/* rep insb */
	ASSERT_EQ(0x6c, insn[1]);
	insn[0] = 0x90;			/* nop; nop */
	insn[1] = 0x90;
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(0, memcmp(dst, "\x11\x22\x33\x44", 4));
	EXPECT_EQ(REDECODE_DST + 4, regs.r13);
	EXPECT_EQ(0, regs.r14);
}

TEST_HARNESS_MAIN
