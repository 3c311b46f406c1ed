// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory backed by transparent huge pages: the guest sees the right
 * data on both sides of a 2 MiB boundary, after the host splits one huge
 * page (MADV_DONTNEED of one 4 KiB page in it) and after munmap and a new
 * mapping. On modvm, MODVM_GET_TDP_STATS shows that 2 MiB leaves mapped
 * the huge pages and went away with them.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "guest.h"

#define PAGE		0x1000ul
#define HUGE		0x200000ul
#define SLOT_GPA	0x800000	/* identity mapped by the guest */
#define SLOT_SIZE	(2 * HUGE)
#define SPLIT_OFF	(HUGE + PAGE)	/* a page in the second huge page */

/*
 * Each round, reads around the 2 MiB boundary of the slot (one read
 * straddles it), the slot's first and last u64 and the page the host
 * splits off; writes the u64 after the boundary + 1 to the next u64.
 */
GUEST_ASM(huge_guest,
	".code64\n"
	"1: mov " GUEST_XSTR(SLOT_GPA) " + 0x1ffff8, %rbx\n"
	"mov " GUEST_XSTR(SLOT_GPA) " + 0x200000, %rcx\n"
	"mov " GUEST_XSTR(SLOT_GPA) " + 0x1ffffc, %rdx\n"
	"mov " GUEST_XSTR(SLOT_GPA) ", %rsi\n"
	"mov " GUEST_XSTR(SLOT_GPA) " + 0x3ffff8, %rdi\n"
	"mov " GUEST_XSTR(SLOT_GPA) " + 0x201000, %r8\n"
	"lea 1(%rcx), %r9\n"
	"mov %r9, " GUEST_XSTR(SLOT_GPA) " + 0x200008\n"
	G_CALL(GUEST_REPORT)
	"jmp 1b\n");

static uint64_t pattern(uint64_t tag, uint64_t off)
{
	return tag << 32 | off;
}

/* Map @mem (2 MiB aligned) as THP-backed anonymous memory filled with @tag. */
static void map_huge(void *mem, uint64_t tag)
{
	uint64_t *p = mmap(mem, SLOT_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	uint64_t off;

	if (p != mem || madvise(mem, SLOT_SIZE, MADV_HUGEPAGE))
		abort();
	for (off = 0; off < SLOT_SIZE; off += 8)
		p[off / 8] = pattern(tag, off);
}

/* AnonHugePages of the mapping holding @addr, in KiB; -1 if unknown. */
static long anon_huge_kb(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[256];
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

FIXTURE(huge) {
	struct guest g;
	struct guest_vcpu *v;
	void *raw;
	uint8_t *mem;
	bool stats;		/* modvm's MODVM_GET_TDP_STATS answers */
};

FIXTURE_SETUP(huge)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	self->raw = mmap(NULL, SLOT_SIZE + HUGE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->raw);
	self->mem = (uint8_t *)(((unsigned long)self->raw + HUGE - 1) & ~(HUGE - 1));
	map_huge(self->mem, 1);
	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 1, 0, SLOT_GPA, SLOT_SIZE,
				       self->mem));
	guest_load(&self->g, huge_guest, huge_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));
}

FIXTURE_TEARDOWN(huge)
{
	guest_destroy(&self->g);
	munmap(self->raw, SLOT_SIZE + HUGE);
}

/* One guest round; checks what it read against the host's @tag data. */
static void round_check(struct __test_metadata *_metadata,
			FIXTURE_DATA(huge) *self, uint64_t tag, bool split)
{
	struct kvm_regs regs;

	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(pattern(tag, HUGE - 8), regs.rbx);
	EXPECT_EQ(pattern(tag, HUGE), regs.rcx);
	/* Bytes 0x1ffffc..0x200003: the tag, then the low half of the next. */
	EXPECT_EQ(tag | (uint64_t)HUGE << 32, regs.rdx);
	EXPECT_EQ(pattern(tag, 0), regs.rsi);
	EXPECT_EQ(pattern(tag, SLOT_SIZE - 8), regs.rdi);
	EXPECT_EQ(split ? 0 : pattern(tag, SPLIT_OFF), regs.r8);
	/* The guest's write, seen by the host. */
	EXPECT_EQ(pattern(tag, HUGE) + 1, *(uint64_t *)(self->mem + HUGE + 8));
}

static long leaves_2m(FIXTURE_DATA(huge) *self)
{
	struct modvm_tdp_stats st;

	/* Shadow paging (tdp=0, no NPT/EPT) has no TDP leaves to count. */
	if (!modvm_uses_tdp() ||
	    modvm_ioctl(self->g.vm, MODVM_GET_TDP_STATS, (unsigned long)&st))
		return -1;
	return st.leaves_2m;
}

TEST_F(huge, boundary_split_and_remap)
{
	bool thp = anon_huge_kb(self->mem) >= (long)(SLOT_SIZE >> 10);
	long before, after;

	if (!thp)
		ksft_print_msg("the host gave no huge pages: data checks only\n");
	/* KVM has no MODVM_GET_TDP_STATS: ENOTTY there. */
	if (modvm_is_modvm() && modvm_uses_tdp())
		EXPECT_LE(0, leaves_2m(self));
	before = leaves_2m(self);
	round_check(_metadata, self, 1, false);
	/* At least these two; the rest of guest memory may be huge too. */
	after = leaves_2m(self);
	if (thp && before >= 0)
		EXPECT_LE(before + 2, after);

	/* Dropping one 4 KiB page splits the host's second huge page. */
	ASSERT_EQ(0, madvise(self->mem + SPLIT_OFF, PAGE, MADV_DONTNEED));
	before = leaves_2m(self);
	if (thp && before >= 0)
		EXPECT_EQ(after - 1, before);
	round_check(_metadata, self, 1, true);
	if (thp && before >= 0)
		EXPECT_EQ(before, leaves_2m(self));	/* refaulted in 4 KiB */

	/* New memory at the same place: the guest sees it, and only it. */
	ASSERT_EQ(0, munmap(self->mem, SLOT_SIZE));
	before = leaves_2m(self);
	if (thp && before >= 0)
		EXPECT_EQ(after - 2, before);
	map_huge(self->mem, 2);
	thp = anon_huge_kb(self->mem) >= (long)(SLOT_SIZE >> 10);
	round_check(_metadata, self, 2, false);
	if (thp && before >= 0)
		EXPECT_EQ(before + 2, leaves_2m(self));
}

/* Make sure @n hugetlbfs pages can be had; returns the old pool size. */
static long hugetlb_reserve(long n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	long old = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &old) == 1 && old < n) {
		rewind(f);
		fprintf(f, "%ld\n", old + n);
	}
	fclose(f);
	return old;
}

static void hugetlb_restore(long old)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");

	if (f) {
		fprintf(f, "%ld\n", old);
		fclose(f);
	}
}

/*
 * The same slot backed by hugetlbfs pages: 2 MiB leaves (on modvm), the
 * right data on both sides of the boundary, and the leaves gone with the
 * munmap.
 */
TEST_F(huge, hugetlbfs)
{
	long pool = hugetlb_reserve(2), before;
	uint8_t *thp = self->mem;
	uint64_t off, *p;

	if (pool < 0)
		SKIP(return, "no hugetlbfs pool");
	p = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED) {
		hugetlb_restore(pool);
		SKIP(return, "no 2 MiB hugetlbfs pages free");
	}
	for (off = 0; off < SLOT_SIZE; off += 8)
		p[off / 8] = pattern(3, off);
	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 1, 0, SLOT_GPA, 0, NULL));
	ASSERT_EQ(0, modvm_set_memslot(self->g.vm, 1, 0, SLOT_GPA, SLOT_SIZE, p));
	self->mem = (uint8_t *)p;
	before = leaves_2m(self);
	round_check(_metadata, self, 3, false);
	if (before >= 0)
		EXPECT_LE(before + 2, leaves_2m(self));
	before = leaves_2m(self);
	munmap(p, SLOT_SIZE);
	if (before >= 0)
		EXPECT_EQ(before - 2, leaves_2m(self));
	self->mem = thp;
	hugetlb_restore(pool);
}

TEST_HARNESS_MAIN
