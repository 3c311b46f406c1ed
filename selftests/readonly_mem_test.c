// SPDX-License-Identifier: GPL-2.0
/*
 * Read-only memslots (KVM_MEM_READONLY): the capability, guest reads
 * served from the host memory without exits, guest writes turned into
 * KVM_EXIT_MMIO exits that leave the memory alone (a read-modify-write
 * reads memory and exits with the result), and a slot that cannot stop
 * being read-only.
 */
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "guest.h"

#define S(x)		GUEST_XSTR(x)
#define ROM_BASE	0x1000000	/* identity-mapped by the harness */
#define ROM_SLOT	1
#define ROM_SIZE	0x4000

TEST(capability)
{
	int dev = modvm_open_device(), vm;

	ASSERT_LE(0, dev);
	EXPECT_EQ(1, modvm_ioctl(dev, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM));
	vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	EXPECT_EQ(1, modvm_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM));
	close(vm);
	close(dev);
}

/*
 * Reads (no exit), a 4-byte write (an exit), a read showing the write did
 * not land, an 8-byte ADD (reads memory, exits with the sum), then a
 * read of what the host changed meanwhile.
 */
GUEST_ASM(rom_guest,
	".code64\n"
	"mov " S(ROM_BASE) ", %rbx\n"
	"mov " S(ROM_BASE) " + 0x1008, %rdx\n"
	"movl $0xabcdef01, " S(ROM_BASE) " + 0x10\n"
	"mov " S(ROM_BASE) " + 0x10, %rcx\n"
	"addq $1, " S(ROM_BASE) "\n"
	G_CALL(GUEST_REPORT)
	"mov " S(ROM_BASE) ", %rbx\n"
	G_CALL(GUEST_DONE));

/*
 * A write (an exit; it sets the dirty bit of the guest's 2 MiB page),
 * then a read of page 2 (a fault that may map its neighbours), then a
 * write to page 3, which must exit as well, and a read of it.
 */
GUEST_ASM(rom_neighbour_guest,
	".code64\n"
	"movl $1, " S(ROM_BASE) " + 0x10\n"
	"mov " S(ROM_BASE) " + 0x2000, %rbx\n"
	"movl $2, " S(ROM_BASE) " + 0x3000\n"
	"mov " S(ROM_BASE) " + 0x3000, %rcx\n"
	G_CALL(GUEST_DONE));

FIXTURE(rom) {
	struct guest g;
	struct guest_vcpu *v;
	uint64_t *mem;
};

FIXTURE_SETUP(rom)
{
	struct kvm_userspace_memory_region region = {
		.slot = ROM_SLOT,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = ROM_BASE,
		.memory_size = ROM_SIZE,
	};

	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	self->v = guest_add_vcpu(&self->g);
	self->mem = mmap(NULL, ROM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	region.userspace_addr = (uintptr_t)self->mem;
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region));
}

FIXTURE_TEARDOWN(rom)
{
	guest_destroy(&self->g);
	munmap(self->mem, ROM_SIZE);
}

/* Run to the next exit, which must be an MMIO write of @len bytes. */
static void expect_mmio_write(struct __test_metadata *_metadata,
			      struct guest_vcpu *v, uint64_t gpa, int len,
			      uint64_t value)
{
	uint64_t data = 0;

	ASSERT_EQ(0, guest_run(v));
	ASSERT_EQ(KVM_EXIT_MMIO, v->run->exit_reason);
	EXPECT_EQ(gpa, v->run->mmio.phys_addr);
	EXPECT_EQ(len, v->run->mmio.len);
	EXPECT_EQ(1, v->run->mmio.is_write);
	memcpy(&data, v->run->mmio.data, len);
	EXPECT_EQ(value, data);
}

TEST_F(rom, reads_memory_writes_exit)
{
	struct kvm_regs regs;

	self->mem[0] = 0x1122334455667788ull;
	self->mem[2] = 0xaabb;
	self->mem[0x1008 / 8] = 0x5a5a;
	guest_load(&self->g, rom_guest, rom_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	expect_mmio_write(_metadata, self->v, ROM_BASE + 0x10, 4, 0xabcdef01);
	expect_mmio_write(_metadata, self->v, ROM_BASE, 8, 0x1122334455667789ull);
	ASSERT_EQ(GUEST_REPORT, guest_call(self->v, &regs));
	EXPECT_EQ(0x1122334455667788ull, regs.rbx);
	EXPECT_EQ(0x5a5a, regs.rdx);
	EXPECT_EQ(0xaabb, regs.rcx);
	/* Memory is untouched by the guest's writes. */
	EXPECT_EQ(0x1122334455667788ull, self->mem[0]);
	EXPECT_EQ(0xaabb, self->mem[2]);

	/* The host's own writes are what the guest reads. */
	self->mem[0] = 0x77;
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(0x77, regs.rbx);
}

/*
 * Pages of a read-only slot next to one the guest reads stay read-only,
 * though the host has them mapped writable: shadow paging maps the
 * neighbours of a fault in a guest large page along with it.
 */
TEST_F(rom, neighbours_of_a_read_stay_read_only)
{
	struct kvm_regs regs;

	self->mem[0x2000 / 8] = 0x22;
	self->mem[0x3000 / 8] = 0x33;
	guest_load(&self->g, rom_neighbour_guest, rom_neighbour_guest_end);
	ASSERT_EQ(0, guest_set_mode(self->v, GUEST_MODE_LONG64));

	expect_mmio_write(_metadata, self->v, ROM_BASE + 0x10, 4, 1);
	expect_mmio_write(_metadata, self->v, ROM_BASE + 0x3000, 4, 2);
	ASSERT_EQ(GUEST_DONE, guest_call(self->v, &regs));
	EXPECT_EQ(0x22, regs.rbx);
	EXPECT_EQ(0x33, regs.rcx);
	EXPECT_EQ(0x33, self->mem[0x3000 / 8]);
}

TEST_F(rom, flag_cannot_change)
{
	struct kvm_userspace_memory_region region = {
		.slot = ROM_SLOT,
		.guest_phys_addr = ROM_BASE,
		.memory_size = ROM_SIZE,
		.userspace_addr = (uintptr_t)self->mem,
	};

	EXPECT_EQ(-EINVAL, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION,
				       (unsigned long)&region));
	/* Moving it while keeping the flag is fine. */
	region.flags = KVM_MEM_READONLY;
	region.guest_phys_addr = ROM_BASE + 0x100000;
	EXPECT_EQ(0, modvm_ioctl(self->g.vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region));
}

TEST_HARNESS_MAIN
