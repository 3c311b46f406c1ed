// SPDX-License-Identifier: GPL-2.0
/*
 * Guest paging as the guest's own MMU would do it, whatever the host uses
 * underneath (NPT/EPT, or shadow paging with tdp=0 or without them):
 * a guest that builds its own page tables, switches CR3 between two
 * address spaces, remaps with INVLPG, write-protects a page and checks
 * the #PF error code and CR2; accessed/dirty bits as the host sees them;
 * pages next to a fault (which shadow paging maps along with it) that
 * are page tables or belong to another memslot; and a guest touching
 * thousands of pages in random order.
 */
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "guest.h"

#define S(x)		GUEST_XSTR(x)

/* The guest's own tables (in guest memory, built by the guest). */
#define PML4_A		0x100000
#define PDPT_A		0x101000
#define PD_A		0x102000
#define PT_A		0x103000
#define PML4_B		0x104000
#define PDPT_B		0x105000
#define PD_B		0x106000
#define PT_B		0x107000
#define PAGE1		0x110000
#define PAGE2		0x111000
#define PAGE3		0x112000
#define WINDOW		0x40000000	/* PDPT index 1: the per-space window */

#define PTE_P		0x1
#define PTE_RW		0x2
#define PTE_A		0x20
#define PTE_D		0x40
#define PTE_PS		0x80

#define PF_VECTOR	14

/* Both spaces map the low 1 GiB through the harness's directory. */
GUEST_ASM(own_tables_guest,
	".code64\n"
	"mov %cr0, %rax\n or $0x10000, %rax\n mov %rax, %cr0\n"	/* WP */
	"movq $" S(PDPT_A) " + 3, " S(PML4_A) "\n"
	"movq $" S(GUEST_PD64) " + 3, " S(PDPT_A) "\n"
	"movq $" S(PD_A) " + 3, " S(PDPT_A) " + 8\n"
	"movq $" S(PT_A) " + 3, " S(PD_A) "\n"
	"movq $" S(PAGE1) " + 3, " S(PT_A) "\n"
	"movq $" S(PDPT_B) " + 3, " S(PML4_B) "\n"
	"movq $" S(GUEST_PD64) " + 3, " S(PDPT_B) "\n"
	"movq $" S(PD_B) " + 3, " S(PDPT_B) " + 8\n"
	"movq $" S(PT_B) " + 3, " S(PD_B) "\n"
	"movq $" S(PAGE2) " + 3, " S(PT_B) "\n"
	"mov $" S(WINDOW) ", %rdi\n"
	/* A, B, A again: each space sees its own page. */
	"mov $" S(PML4_A) ", %rax\n mov %rax, %cr3\n mov (%rdi), %rbx\n"
	"mov $" S(PML4_B) ", %rax\n mov %rax, %cr3\n mov (%rdi), %rcx\n"
	"mov $" S(PML4_A) ", %rax\n mov %rax, %cr3\n mov (%rdi), %rdx\n"
	"mov %cr3, %rsi\n"
	G_CALL(GUEST_REPORT)
	/* A write through the window: PAGE1 changes, its PTE gets D. */
	"movq $0x4444, (%rdi)\n"
	G_CALL(GUEST_REPORT)
	/* Remap the window to PAGE3 in a live table, then INVLPG. */
	"movq $" S(PAGE3) " + 3, " S(PT_A) "\n"
	"invlpg (%rdi)\n"
	"mov (%rdi), %rbx\n"
	G_CALL(GUEST_REPORT)
	/* Read-only: the write faults (P|W), CR2 is the window. */
	"movq $" S(PAGE3) " + 1, " S(PT_A) "\n"
	"invlpg (%rdi)\n"
	"mov $0x5555, %eax\n"
	"mov %rax, (%rdi)\n"		/* 3 bytes, skipped by the stub */
	"mov %cr2, %rbx\n"
	"mov (%rdi), %rcx\n"
	G_CALL(GUEST_REPORT)
	/* CR0.WP=0: the kernel may write the read-only page. */
	"mov %cr0, %rax\n and $~0x10000, %rax\n mov %rax, %cr0\n"
	"movq $0x6666, (%rdi)\n"
	"or $0x10000, %rax\n mov %rax, %cr0\n"
	"mov %cr0, %rbx\n"
	G_CALL(GUEST_REPORT)
	/* Not present: a read faults with error code 0. */
	"mov 0x1000(%rdi), %rcx\n"	/* 7 bytes, skipped */
	"mov %cr2, %rbx\n"
	G_CALL(GUEST_REPORT)
	/* Back to the harness's tables. */
	"mov $" S(GUEST_PML4) ", %rax\n mov %rax, %cr3\n"
	G_CALL(GUEST_DONE));

#define NEIGHBOUR	0x108000	/* in the 64 KiB block of the tables */
#define DIRTY_PAGE	0x120000	/* in their 2 MiB page, another block */

/*
 * With the host's tables for space A, which map the tables themselves
 * through the harness's 2 MiB pages: a read through the window (its walk
 * makes the tables page tables), a write that sets D in the tables' 2 MiB
 * page, a read of a page next to the tables, then a remap of the window
 * by a plain write to PT_A and INVLPG, and a read through the window.
 */
GUEST_ASM(table_neighbour_guest,
	".code64\n"
	"mov $" S(PML4_A) ", %rax\n mov %rax, %cr3\n"
	"mov $" S(WINDOW) ", %rdi\n"
	"mov (%rdi), %rbx\n"
	"movq $1, " S(DIRTY_PAGE) "\n"
	"mov " S(NEIGHBOUR) ", %rcx\n"
	"movq $" S(PAGE3) " + 3, " S(PT_A) "\n"
	"invlpg (%rdi)\n"
	"mov (%rdi), %rdx\n"
	"mov $" S(GUEST_PML4) ", %rax\n mov %rax, %cr3\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));

FIXTURE(paging) {
	struct guest g;
	struct guest_vcpu *v;
};

FIXTURE_SETUP(paging)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
}

FIXTURE_TEARDOWN(paging)
{
	guest_destroy(&self->g);
}

static uint64_t *gpa64(FIXTURE_DATA(paging) *self, uint64_t gpa)
{
	return guest_ptr(&self->g, gpa);
}

TEST_F(paging, own_tables_cr3_invlpg_wp)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	*gpa64(self, PAGE1) = 0x1111;
	*gpa64(self, PAGE2) = 0x2222;
	*gpa64(self, PAGE3) = 0x3333;
	guest_load(&self->g, own_tables_guest, own_tables_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x1111, regs.rbx);
	EXPECT_EQ(0x2222, regs.rcx);
	EXPECT_EQ(0x1111, regs.rdx);
	EXPECT_EQ(PML4_A, regs.rsi);
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(PML4_A, sregs.cr3);
	/* The walks set A on every level used; only reads so far: no D. */
	EXPECT_EQ(PTE_A, *gpa64(self, PML4_A) & PTE_A);
	EXPECT_EQ(PTE_A, *gpa64(self, PDPT_A + 8) & PTE_A);
	EXPECT_EQ(PTE_A, *gpa64(self, PD_A) & PTE_A);
	EXPECT_EQ(PTE_A, *gpa64(self, PT_A) & PTE_A);
	EXPECT_EQ(0, *gpa64(self, PT_A) & PTE_D);
	EXPECT_EQ(PTE_A, *gpa64(self, PT_B) & PTE_A);

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x4444, *gpa64(self, PAGE1));
	EXPECT_EQ(PTE_D, *gpa64(self, PT_A) & PTE_D);
	EXPECT_EQ(0, *gpa64(self, PT_B) & PTE_D);
	EXPECT_EQ(0x2222, *gpa64(self, PAGE2));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x3333, regs.rbx);

	guest_set_fault_skip(&self->g, 3);
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(PF_VECTOR, regs.rbx);
	EXPECT_EQ(0x3, regs.rcx);		/* present, write, supervisor */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(WINDOW, regs.rbx);
	EXPECT_EQ(0x3333, regs.rcx);
	EXPECT_EQ(0x3333, *gpa64(self, PAGE3));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x6666, *gpa64(self, PAGE3));
	EXPECT_EQ(0x10000, regs.rbx & 0x10000);

	guest_set_fault_skip(&self->g, 7);
	ASSERT_EQ(GUEST_EXCEPTION, guest_call(self->v, &regs));
	EXPECT_EQ(PF_VECTOR, regs.rbx);
	EXPECT_EQ(0x0, regs.rcx);		/* not present, read */
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(WINDOW + 0x1000, regs.rbx);
	guest_get_sregs(self->v, &sregs);
	EXPECT_EQ(WINDOW + 0x1000, sregs.cr2);

	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
}

/*
 * Under shadow paging a fault also maps its neighbours in a guest large
 * page: a page table among them stays write-protected, so that the
 * guest's write to it still takes effect at the next access.
 */
TEST_F(paging, table_next_to_a_read_stays_protected)
{
	struct kvm_regs regs;

	*gpa64(self, PML4_A) = PDPT_A | PTE_P | PTE_RW;
	*gpa64(self, PDPT_A) = GUEST_PD64 | PTE_P | PTE_RW;
	*gpa64(self, PDPT_A + 8) = PD_A | PTE_P | PTE_RW;
	*gpa64(self, PD_A) = PT_A | PTE_P | PTE_RW;
	*gpa64(self, PT_A) = PAGE1 | PTE_P | PTE_RW;
	*gpa64(self, PAGE1) = 0x1111;
	*gpa64(self, PAGE3) = 0x3333;
	*gpa64(self, NEIGHBOUR) = 0x8888;
	guest_load(&self->g, table_neighbour_guest, table_neighbour_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x1111, regs.rbx);
	EXPECT_EQ(0x8888, regs.rcx);
	EXPECT_EQ(0x3333, regs.rdx);
	EXPECT_EQ(PAGE3, *gpa64(self, PT_A) & ~0xfffull);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
}

#define SLOT_A_BASE	0x1000000	/* two pages */
#define SLOT_B_BASE	0x1002000	/* right after A, in its 64 KiB block */

GUEST_ASM(adjacent_slots_guest,
	".code64\n"
	"mov " S(SLOT_A_BASE) ", %rbx\n"
	"mov " S(SLOT_B_BASE) ", %rcx\n"
	"mov " S(SLOT_B_BASE) " + 0x1000, %rdx\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));

/*
 * A fault in one memslot maps none of its neighbours from the host memory
 * that follows the slot's own: the pages after slot A's host range hold
 * other values than slot B, which follows it in guest-physical space.
 */
TEST_F(paging, neighbours_come_from_their_own_memslot)
{
	struct kvm_userspace_memory_region region = {
		.slot = 1,
		.guest_phys_addr = SLOT_A_BASE,
		.memory_size = 0x2000,
	};
	uint64_t *a, *b;
	struct kvm_regs regs;

	a = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	a[0] = 0xa0;
	a[0x1000 / 8] = 0xa1;
	a[0x2000 / 8] = 0xbad2;
	a[0x3000 / 8] = 0xbad3;
	b[0] = 0xb0;
	b[0x1000 / 8] = 0xb1;
	region.userspace_addr = (uintptr_t)a;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region));
	region.slot = 2;
	region.guest_phys_addr = SLOT_B_BASE;
	region.userspace_addr = (uintptr_t)b;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region));
	guest_load(&self->g, adjacent_slots_guest, adjacent_slots_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0xa0, regs.rbx);
	EXPECT_EQ(0xb0, regs.rcx);
	EXPECT_EQ(0xb1, regs.rdx);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	munmap(a, 0x4000);
	munmap(b, 0x2000);
}

/* Thousands of pages, in a second memslot, in scrambled order. */
#define TOUCH_BASE	0x1000000
#define TOUCH_PAGES	2048
#define TOUCH_SLOT	1
#define TOUCH_MUL	0x9e3779b97f4a7c15ull

/*
 * Pass 1 writes page p = (i * 1237 + 71) mod N a value derived from p at
 * its first and last qword; pass 2 reads them back in another order
 * (i * 3001 + 5) and counts mismatches in R8, xoring values into R9.
 */
GUEST_ASM(touch_guest,
	".code64\n"
	"mov $" S(TOUCH_MUL) ", %r10\n"
	"xor %esi, %esi\n"
	"1: imul $1237, %rsi, %rax\n add $71, %rax\n and $" S(TOUCH_PAGES) " - 1, %rax\n"
	"mov %rax, %rbx\n shl $12, %rbx\n add $" S(TOUCH_BASE) ", %rbx\n"
	"mov %rax, %rcx\n imul %r10, %rcx\n xor %rax, %rcx\n"
	"mov %rcx, (%rbx)\n mov %rcx, 0xff8(%rbx)\n"
	"inc %rsi\n cmp $" S(TOUCH_PAGES) ", %rsi\n jb 1b\n"
	"xor %esi, %esi\n xor %r8d, %r8d\n xor %r9d, %r9d\n"
	"2: imul $3001, %rsi, %rax\n add $5, %rax\n and $" S(TOUCH_PAGES) " - 1, %rax\n"
	"mov %rax, %rbx\n shl $12, %rbx\n add $" S(TOUCH_BASE) ", %rbx\n"
	"mov %rax, %rcx\n imul %r10, %rcx\n xor %rax, %rcx\n"
	"mov (%rbx), %rdx\n xor %rdx, %r9\n cmp %rcx, %rdx\n je 3f\n inc %r8\n"
	"3: mov 0xff8(%rbx), %rdx\n cmp %rcx, %rdx\n je 4f\n inc %r8\n"
	"4: inc %rsi\n cmp $" S(TOUCH_PAGES) ", %rsi\n jb 2b\n"
	G_CALL(GUEST_REPORT)
	G_CALL(GUEST_DONE));

TEST_F(paging, random_touch_checksums)
{
	size_t size = (size_t)TOUCH_PAGES * 0x1000;
	struct kvm_userspace_memory_region region = {
		.slot = TOUCH_SLOT,
		.guest_phys_addr = TOUCH_BASE,
		.memory_size = size,
	};
	struct kvm_regs regs;
	uint64_t *mem, expect_xor = 0;
	int p, bad = 0;

	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	region.userspace_addr = (uintptr_t)mem;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region));
	guest_load(&self->g, touch_guest, touch_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0, regs.r8);
	/* Every page holds its own value, at both ends, in host memory. */
	for (p = 0; p < TOUCH_PAGES; p++) {
		uint64_t v = (uint64_t)p * TOUCH_MUL ^ p;
		uint64_t *page = mem + (size_t)p * 512;

		if (page[0] != v || page[511] != v || page[1] != 0)
			bad++;
		expect_xor ^= v;
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(expect_xor, regs.r9);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	munmap(mem, size);
}

TEST_HARNESS_MAIN
