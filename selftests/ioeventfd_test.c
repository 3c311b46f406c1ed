// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_IOEVENTFD: guest writes that match a registration (port or MMIO
 * address, length, and the value with KVM_IOEVENTFD_FLAG_DATAMATCH)
 * signal the eventfd and complete without an exit to userspace; other
 * writes still exit. No in-kernel irqchip is needed.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "guest.h"

#define S(x)		GUEST_XSTR(x)
#define PORT		0x600
#define MMIO		0x10000000	/* no memslot; identity-mapped */

GUEST_ASM(ioeventfd_guest,
	".code64\n"
	"mov $" S(MMIO) ", %esi\n"
	"mov $" S(PORT) ", %edx\n"
	"mov $0x42, %al\n out %al, %dx\n"	/* PIO, data match */
	"movl $7, (%rsi)\n"				/* MMIO, any value */
	"movl $8, (%rsi)\n"
	"movb $1, 8(%rsi)\n"				/* MMIO, any length */
	"movw $2, 8(%rsi)\n"
	"mov $0x43, %al\n out %al, %dx\n"	/* no match: exits */
	"movw $3, 4(%rsi)\n"				/* not registered */
	"mov $0x42, %al\n out %al, %dx\n"	/* deassigned by now */
	G_CALL(GUEST_DONE));

static uint64_t drain(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

/* Only for TEST_F_TIMEOUT: guests take long under bochs. */
FIXTURE(io) {
	int unused;
};

FIXTURE_SETUP(io)
{
}

FIXTURE_TEARDOWN(io)
{
}

TEST_F_TIMEOUT(io, writes_without_exits, 120)
{
	struct kvm_ioeventfd pio = {
		.datamatch = 0x42, .addr = PORT, .len = 1,
		.flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	struct kvm_ioeventfd mmio = { .addr = MMIO, .len = 4 };
	struct kvm_ioeventfd any = { .addr = MMIO + 8, .len = 0 };
	struct guest_vcpu *v;
	struct kvm_run *run;
	struct guest g;

	GUEST_REQUIRE_RUN();
	guest_create(&g);
	v = guest_add_vcpu(&g);
	run = v->run;
	pio.fd = eventfd(0, EFD_NONBLOCK);
	mmio.fd = eventfd(0, EFD_NONBLOCK);
	any.fd = eventfd(0, EFD_NONBLOCK);
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&pio));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&mmio));
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&any));
	guest_load(&g, ioeventfd_guest, ioeventfd_guest_end);
	ASSERT_EQ(0, guest_set_mode(v, GUEST_MODE_LONG64));

	/* The first exit is the write that matches nothing. */
	ASSERT_EQ(0, guest_run(v));
	ASSERT_EQ(KVM_EXIT_IO, run->exit_reason);
	EXPECT_EQ(PORT, run->io.port);
	EXPECT_EQ(0x43, *(uint8_t *)guest_io_data(v));
	EXPECT_EQ(1u, drain(pio.fd));
	EXPECT_EQ(2u, drain(mmio.fd));
	EXPECT_EQ(2u, drain(any.fd));

	ASSERT_EQ(0, guest_run(v));
	ASSERT_EQ(KVM_EXIT_MMIO, run->exit_reason);
	EXPECT_EQ(MMIO + 4, run->mmio.phys_addr);
	EXPECT_EQ(2u, run->mmio.len);
	EXPECT_EQ(1, run->mmio.is_write);

	/* Deassigned: the matching write exits again. */
	pio.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	ASSERT_EQ(0, modvm_ioctl(g.vm, KVM_IOEVENTFD, (unsigned long)&pio));
	ASSERT_EQ(0, guest_run(v));
	ASSERT_EQ(KVM_EXIT_IO, run->exit_reason);
	EXPECT_EQ(0x42, *(uint8_t *)guest_io_data(v));
	EXPECT_EQ(0u, drain(pio.fd));
	ASSERT_EQ(GUEST_DONE, guest_call(v, NULL));
	close(pio.fd);
	close(mmio.fd);
	close(any.fd);
	guest_destroy(&g);
}

TEST_HARNESS_MAIN
