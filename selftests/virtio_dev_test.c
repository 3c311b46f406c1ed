// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel virtio device ABI and lifetime (uapi/modvm.h):
 * - MODVM_GET_VIRTIO_TYPES on the system and VM fds;
 * - every MODVM_CREATE_VIRTIO error of the header's list, each leaving
 *   nothing behind (the page still exits to userspace as KVM_EXIT_MMIO,
 *   the GSI is still free); MODVM_VIRTIO_MAX_DEVICES devices sharing
 *   the 24 pins, and ENOSPC beyond;
 * - the device fd: stats, unknown ioctls, close-on-exec, its reference on
 *   the VM; closing it gives the page back to userspace;
 * - closing the device, or everything (guest memory unmapped), with I/O
 *   in flight; a process exiting, or killed in KVM_RUN, with I/O in flight
 *   (no hang: the test's own timeout; no splat: the runner's dmesg scan);
 * - two VMs with devices at once, and two devices in one VM.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <linux/virtio_blk.h>

#include "kselftest_harness.h"
#include "virtio_guest.h"

#define V1		(1ull << VIRTIO_F_VERSION_1)
#define INDIRECT	(1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define FILE_SIZE	(1 << 20)
#define SEED		9
#define IN_FLIGHT	64
#define ANSWER		0x12345678u

/*
 * A guest read of @gpa: 1 when it exits to userspace as a 4-byte
 * KVM_EXIT_MMIO read (completed with ANSWER), 0 when something in the
 * kernel answered it (the value in *@val), -1 for anything else.
 */
static int page_exits(struct vg_vm *vm, uint64_t gpa, uint32_t *val)
{
	struct kvm_run *run = vm->v->run;
	int i = vg_r32(vm, gpa);
	uint32_t answer = ANSWER;
	long r = vg_exec(vm, NULL);

	if (r == GUEST_DONE) {
		if (val)
			*val = vg_result(vm, i);
		return 0;
	}
	if (r != GUEST_NOT_A_CALL || run->exit_reason != KVM_EXIT_MMIO ||
	    run->mmio.phys_addr != gpa || run->mmio.is_write ||
	    run->mmio.len != 4)
		return -1;
	memcpy(run->mmio.data, &answer, 4);
	if (vg_resume(vm, NULL) != GUEST_DONE || vg_result(vm, i) != ANSWER)
		return -1;
	return 1;
}

/* page_exits() until the page exits, for at most @ms: 1 when it did. */
static int page_exits_within(struct vg_vm *vm, uint64_t gpa, int ms)
{
	int r;

	for (; ms >= 0; ms -= 10) {
		r = page_exits(vm, gpa, NULL);
		if (r)
			return r;
		usleep(10 * 1000);
	}
	return 0;
}

static long create(int vm, struct modvm_virtio_create *c)
{
	return modvm_ioctl(vm, MODVM_CREATE_VIRTIO, (unsigned long)c);
}

/* Only for TEST_F_TIMEOUT: guests take long under bochs. */
FIXTURE(dev) {
	int unused;
};

FIXTURE_SETUP(dev)
{
}

FIXTURE_TEARDOWN(dev)
{
}

TEST_F(dev, types)
{
	uint64_t sys_mask = 0, vm_mask = 0;
	int dev, vm;

	GUEST_REQUIRE_RUN();
	if (!modvm_is_modvm())
		SKIP(return, "in-kernel virtio is modvm's");
	dev = modvm_open_device();
	ASSERT_EQ(0, modvm_ioctl(dev, MODVM_GET_VIRTIO_TYPES, (unsigned long)&sys_mask));
	vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	ASSERT_EQ(0, modvm_ioctl(vm, MODVM_GET_VIRTIO_TYPES, (unsigned long)&vm_mask));
	EXPECT_EQ(sys_mask, vm_mask);
	/* blk and rng; net (bit 1) is the only other type the ABI names. */
	EXPECT_EQ((1ull << MODVM_VIRTIO_BLK) | (1ull << MODVM_VIRTIO_RNG),
		  sys_mask & ~(1ull << MODVM_VIRTIO_NET));
	EXPECT_EQ(-EFAULT, modvm_ioctl(dev, MODVM_GET_VIRTIO_TYPES, 8));
	EXPECT_EQ(-EFAULT, modvm_ioctl(vm, MODVM_GET_VIRTIO_TYPES, 8));
	close(vm);
	close(dev);
}

/*
 * Every error of MODVM_CREATE_VIRTIO, on the page and pin of device 0
 * where it can be; afterwards that page still exits to userspace and a
 * good device takes the page and the pin.
 */
TEST_F_TIMEOUT(dev, create_errors, 300)
{
	struct modvm_virtio_create c, blk;
	struct vg_vm vm;
	struct vg_dev d1, d0, d2;
	uint64_t mask;
	uint32_t val;
	int file = vg_backing(FILE_SIZE, SEED, O_RDWR);
	int rofile = vg_backing(FILE_SIZE, SEED, O_RDONLY);
	int pipefd[2], null, dir, i, status;
	struct guest plain;
	pid_t pid;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	ASSERT_EQ(0, vg_types(&mask));
	vg_vm_create(&vm);
	ASSERT_EQ(0, pipe(pipefd));
	null = open("/dev/null", O_RDWR);
	dir = open("/", O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, null);
	ASSERT_LE(0, dir);
	vg_create_args(&blk, MODVM_VIRTIO_BLK, 0);
	blk.fd = file;

	/* EFAULT */
	EXPECT_EQ(-EFAULT, modvm_ioctl(vm.g.vm, MODVM_CREATE_VIRTIO, 8));

	/* ENODEV */
	{
		static const uint32_t types[] = { 0, 3, 5, 9, 0xffffffff, MODVM_VIRTIO_NET };

		for (i = 0; i < 6; i++) {
			if (mask & (1ull << (types[i] & 63)) && types[i] < 64)
				continue;
			vg_create_args(&c, types[i], 0);
			TH_LOG("type %u", types[i]);
			EXPECT_EQ(-ENODEV, create(vm.g.vm, &c));
		}
	}

	/* EINVAL, on rng unless a blk argument is the point. */
#define EINVAL_RNG(what, stmt) do {					\
		vg_create_args(&c, MODVM_VIRTIO_RNG, 0);		\
		stmt;							\
		TH_LOG("rng: %s", what);				\
		EXPECT_EQ(-EINVAL, create(vm.g.vm, &c));		\
	} while (0)
#define EINVAL_BLK(what, stmt) do {					\
		c = blk;						\
		stmt;							\
		TH_LOG("blk: %s", what);				\
		EXPECT_EQ(-EINVAL, create(vm.g.vm, &c));		\
	} while (0)
	EINVAL_RNG("flags 2", c.flags = 2);
	EINVAL_RNG("flags bit 31", c.flags = 1u << 31);
	EINVAL_BLK("flags 2", c.flags = 2);
	EINVAL_RNG("reserved0", c.reserved0 = 1);
	for (i = 0; i < 4; i++)
		EINVAL_RNG("reserved[i]", c.reserved[i] = 1);
	EINVAL_RNG("base + 0x800", c.mmio_base += 0x800);
	EINVAL_RNG("base + 4", c.mmio_base += 4);
	EINVAL_RNG("base 1 << 63", c.mmio_base = 1ull << 63);
	EINVAL_RNG("base top page", c.mmio_base = ~0xfffull);
	EINVAL_RNG("gsi 24", c.gsi = 24);
	EINVAL_RNG("gsi ~0", c.gsi = ~0u);
	EINVAL_RNG("two rng queues", c.num_queues = 2);
	EINVAL_BLK("17 queues", c.num_queues = MODVM_VIRTIO_MAX_QUEUES + 1);
	EINVAL_BLK("65535 queues", c.num_queues = 0xffff);
	EINVAL_BLK("queue size 1", c.queue_size = 1);
	EINVAL_BLK("queue size 3", c.queue_size = 3);
	EINVAL_BLK("queue size 100", c.queue_size = 100);
	EINVAL_BLK("queue size 65535", c.queue_size = 0xffff);
	EINVAL_RNG("queue size 48", c.queue_size = 48);
	EINVAL_BLK("blk_size 256", c.blk.blk_size = 256);
	EINVAL_BLK("blk_size 1000", c.blk.blk_size = 1000);
	EINVAL_BLK("blk_size 8192", c.blk.blk_size = 8192);
	EINVAL_BLK("blk_size 2^31", c.blk.blk_size = 1u << 31);
	EINVAL_RNG("serial", c.blk.serial[0] = 'x');
	EINVAL_RNG("serial's last byte", c.blk.serial[19] = 'x');
	EINVAL_RNG("blk_size", c.blk.blk_size = 512);
	EINVAL_RNG("an fd", c.fd = file);

	/* EBADF */
	c = blk;
	c.fd = -1;
	EXPECT_EQ(-EBADF, create(vm.g.vm, &c));
	c.fd = 1000;
	EXPECT_EQ(-EBADF, create(vm.g.vm, &c));
	c.fd = rofile;		/* read-only file, device not RDONLY */
	EXPECT_EQ(-EBADF, create(vm.g.vm, &c));

	/* ENOTBLK */
	c = blk;
	c.fd = null;
	EXPECT_EQ(-ENOTBLK, create(vm.g.vm, &c));
	c.flags = MODVM_VIRTIO_RDONLY;
	c.fd = pipefd[0];
	EXPECT_EQ(-ENOTBLK, create(vm.g.vm, &c));
	c.fd = dir;
	EXPECT_EQ(-ENOTBLK, create(vm.g.vm, &c));

	/* ENXIO: no in-kernel irqchip. */
	guest_create(&plain);
	vg_create_args(&c, MODVM_VIRTIO_RNG, 0);
	EXPECT_EQ(-ENXIO, create(plain.vm, &c));
	guest_destroy(&plain);

	/* EIO: another process. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		vg_create_args(&c, MODVM_VIRTIO_RNG, 0);
		_exit(create(vm.g.vm, &c) == -EIO ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* EEXIST next to device 1. */
	vg_create_args(&c, MODVM_VIRTIO_RNG, 1);
	ASSERT_EQ(0, vg_dev_create(&vm, &d1, &c));
	vg_create_args(&c, MODVM_VIRTIO_RNG, 2);
	c.mmio_base = VG_MMIO(1);
	EXPECT_EQ(-EEXIST, create(vm.g.vm, &c));
	c.mmio_base = GUEST_IOAPIC;
	EXPECT_EQ(-EEXIST, create(vm.g.vm, &c));

	/* Nothing changed: the pages exit to userspace, pins are free. */
	EXPECT_EQ(1, page_exits(&vm, VG_MMIO(0), NULL));
	EXPECT_EQ(1, page_exits(&vm, VG_MMIO(2), NULL));
	EXPECT_EQ(0, page_exits(&vm, VG_MMIO(1), &val));
	EXPECT_EQ(0x74726976u, val);
	vg_create_args(&c, MODVM_VIRTIO_BLK, 0);
	c.fd = file;
	EXPECT_EQ(0, vg_dev_create(&vm, &d0, &c));
	vg_create_args(&c, MODVM_VIRTIO_RNG, 2);
	EXPECT_EQ(0, vg_dev_create(&vm, &d2, &c));
	EXPECT_EQ(0, page_exits(&vm, VG_MMIO(0), &val));
	EXPECT_EQ(0x74726976u, val);
	EXPECT_EQ((uint32_t)MODVM_VIRTIO_BLK, vg_read_reg(&d0, VIRTIO_MMIO_DEVICE_ID));
	EXPECT_EQ((uint32_t)MODVM_VIRTIO_RNG, vg_read_reg(&d2, VIRTIO_MMIO_DEVICE_ID));

	vg_vm_destroy(&vm);
	close(pipefd[0]);
	close(pipefd[1]);
	close(null);
	close(dir);
	close(file);
	close(rofile);
}

/*
 * MODVM_VIRTIO_MAX_DEVICES devices, sharing the 24 pins; one more is
 * ENOSPC until one of them is closed.
 */
TEST_F_TIMEOUT(dev, max_devices, 120)
{
	struct modvm_virtio_create c;
	int fds[MODVM_VIRTIO_MAX_DEVICES], i, vm, dev;
	struct modvm_virtio_stats s;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_RNG);
	dev = modvm_open_device();
	vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	ASSERT_EQ(0, modvm_ioctl(vm, KVM_CREATE_IRQCHIP, 0));
	for (i = 0; i < MODVM_VIRTIO_MAX_DEVICES; i++) {
		vg_create_args(&c, MODVM_VIRTIO_RNG, i);
		c.gsi = i % 24;
		fds[i] = create(vm, &c);
		ASSERT_LE(0, fds[i]);
	}
	vg_create_args(&c, MODVM_VIRTIO_RNG, MODVM_VIRTIO_MAX_DEVICES);
	c.gsi = 0;
	EXPECT_EQ(-ENOSPC, create(vm, &c));
	close(fds[5]);
	fds[5] = create(vm, &c);
	EXPECT_LE(0, fds[5]);
	for (i = 0; i < MODVM_VIRTIO_MAX_DEVICES; i++) {
		if (fds[i] < 0)
			continue;
		EXPECT_EQ(0, modvm_ioctl(fds[i], MODVM_VIRTIO_GET_STATS, (unsigned long)&s));
		close(fds[i]);
	}
	close(vm);
	close(dev);
}

/*
 * The device fd: zeroed stats, EFAULT, ENOTTY, close-on-exec; it keeps
 * the VM alive; closing it gives the page and pin back.
 */
TEST_F_TIMEOUT(dev, device_fd, 300)
{
	struct modvm_virtio_create c;
	struct modvm_virtio_stats s, zero;
	struct vg_vm vm;
	struct vg_dev d;
	uint32_t val;
	int fd;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_RNG);
	vg_vm_create(&vm);
	vg_create_args(&c, MODVM_VIRTIO_RNG, 0);
	ASSERT_EQ(0, vg_dev_create(&vm, &d, &c));
	memset(&zero, 0, sizeof(zero));
	vg_stats(&d, &s);
	EXPECT_EQ(0, memcmp(&zero, &s, sizeof(s)));
	EXPECT_EQ(-EFAULT, modvm_ioctl(d.fd, MODVM_VIRTIO_GET_STATS, 8));
	EXPECT_EQ(-ENOTTY, modvm_ioctl(d.fd, _IO(MODVMIO, 0x7f), 0));
	EXPECT_EQ(-ENOTTY, modvm_ioctl(d.fd, KVM_RUN, 0));
	EXPECT_EQ(-ENOTTY, modvm_ioctl(d.fd, MODVM_CREATE_VIRTIO, (unsigned long)&c));
	EXPECT_EQ(-ENOTTY, modvm_ioctl(d.fd, MODVM_GET_VIRTIO_TYPES, (unsigned long)&val));
	EXPECT_EQ(FD_CLOEXEC, fcntl(d.fd, F_GETFD) & FD_CLOEXEC);

	/* Closed: the page exits to userspace; page and pin can be reused. */
	vm.devfd[0] = -1;
	close(d.fd);
	EXPECT_EQ(1, page_exits_within(&vm, VG_MMIO(0), 5000));
	vg_create_args(&c, MODVM_VIRTIO_RNG, 0);
	ASSERT_EQ(0, vg_dev_create(&vm, &d, &c));	/* device slot 1 */
	EXPECT_EQ(0, page_exits(&vm, VG_MMIO(0), &val));
	EXPECT_EQ(0x74726976u, val);

	/* The VM goes; the device fd still answers. */
	fd = d.fd;
	vm.devfd[d.index] = -1;
	vg_vm_destroy(&vm);
	vg_stats(&d, &s);
	EXPECT_EQ(0u, s.status);
	close(fd);
}

/* 64 writes of 4 KiB through indirect tables, notified, not awaited. */
static void start_writes(struct __test_metadata *_metadata, struct vg_vm *vm,
			 struct vg_dev *d, int file, struct vg_queue *q)
{
	struct modvm_virtio_create c;
	struct vg_blk_req r;
	int i;

	vg_create_args(&c, MODVM_VIRTIO_BLK, 0);
	c.fd = file;
	ASSERT_EQ(0, vg_dev_create(vm, d, &c));
	vq_init(q, d, 0, IN_FLIGHT);
	ASSERT_EQ(0, vg_setup(d, V1 | INDIRECT, q, 1));
	for (i = 0; i < IN_FLIGHT; i++) {
		uint64_t buf = vg_alloc(vm, 4096, 4096);

		vg_fill(vg_ptr(vm, buf), 4096, 1000 + i);
		vg_blk_req(q, &r, VIRTIO_BLK_T_OUT, 8 * i, buf, 4096, true);
		vq_post(q, r.head);
	}
	vq_notify_cmd(q);
	ASSERT_EQ(GUEST_DONE, vg_exec(vm, NULL));
}

/* Whether the file stays as it is over @ms. */
static bool file_settled(int fd, int ms)
{
	uint8_t *a = malloc(FILE_SIZE), *b = malloc(FILE_SIZE);
	bool same = a && b && pread(fd, a, FILE_SIZE, 0) == FILE_SIZE;

	usleep(ms * 1000);
	same = same && pread(fd, b, FILE_SIZE, 0) == FILE_SIZE &&
	       !memcmp(a, b, FILE_SIZE);
	free(a);
	free(b);
	return same;
}

/* Whether the file stops changing within @ms (steady over 100 ms). */
static bool file_settles(int fd, int ms)
{
	for (; ms >= 0; ms -= 100)
		if (file_settled(fd, 100))
			return true;
	return false;
}

/*
 * Closing the device fd with 64 writes in flight: the page goes back to
 * userspace once they drained, nothing moves afterwards, and a new
 * device takes the page and the pin.
 */
TEST_F_TIMEOUT(dev, close_with_io_in_flight, 300)
{
	struct modvm_virtio_create c;
	struct vg_queue q, q2;
	struct vg_blk_req r;
	struct vg_vm vm;
	struct vg_dev d, d2;
	uint8_t used[6 + 8 * IN_FLIGHT];
	uint64_t buf;
	int file = vg_backing(FILE_SIZE, SEED, O_RDWR);

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	vg_vm_create(&vm);
	start_writes(_metadata, &vm, &d, file, &q);
	vm.devfd[0] = -1;
	EXPECT_EQ(0, close(d.fd));
	EXPECT_EQ(1, page_exits_within(&vm, VG_MMIO(0), 10000));
	memcpy(used, q.u, sizeof(used));
	EXPECT_TRUE(file_settled(file, 100));
	EXPECT_EQ(0, memcmp(used, q.u, sizeof(used)));

	vg_create_args(&c, MODVM_VIRTIO_BLK, 0);
	c.fd = file;
	ASSERT_EQ(0, vg_dev_create(&vm, &d2, &c));
	vq_init(&q2, &d2, 0, 8);
	ASSERT_EQ(0, vg_setup(&d2, V1, &q2, 1));
	buf = vg_alloc(&vm, 4096, 4096);
	vg_blk_req(&q2, &r, VIRTIO_BLK_T_IN, 0, buf, 4096, false);
	EXPECT_EQ(GUEST_DONE, vq_run(&q2, &r.head, 1));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(&vm, &r));
	vg_vm_destroy(&vm);
	close(file);
}

/*
 * Everything closed and guest memory unmapped right after the notify of
 * 64 writes: the requests drain somehow, the host stays sound and a new
 * VM's device works.
 */
TEST_F_TIMEOUT(dev, destroy_with_io_in_flight, 300)
{
	struct vg_queue q;
	struct vg_blk_req r;
	struct vg_vm vm;
	struct vg_dev d;
	uint64_t buf;
	int file = vg_backing(FILE_SIZE, SEED, O_RDWR);

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	vg_vm_create(&vm);
	start_writes(_metadata, &vm, &d, file, &q);
	vg_vm_destroy(&vm);
	EXPECT_TRUE(file_settles(file, 5000));

	vg_vm_create(&vm);
	start_writes(_metadata, &vm, &d, file, &q);
	ASSERT_TRUE(vq_host_wait(&q, IN_FLIGHT, 10000));
	q.next_desc = 0;
	buf = vg_alloc(&vm, 4096, 4096);
	vg_blk_req(&q, &r, VIRTIO_BLK_T_IN, 0, buf, 4096, false);
	EXPECT_EQ(GUEST_DONE, vq_run(&q, &r.head, 1));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(&vm, &r));
	vg_vm_destroy(&vm);
	close(file);
}

/*
 * A process exits with 64 writes in flight and its VM, vCPU and device
 * never closed; another is killed while its vCPU halts in KVM_RUN with
 * writes in flight. Both go away in time; the host still runs guests.
 */
TEST_F_TIMEOUT(dev, process_exit_with_io_in_flight, 300)
{
	struct vg_queue q;
	struct vg_blk_req r;
	struct vg_vm vm;
	struct vg_dev d;
	int file = vg_backing(FILE_SIZE, SEED, O_RDWR);
	int ready[2], status;
	uint64_t buf;
	pid_t pid;
	char c;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		vg_vm_create(&vm);
		start_writes(_metadata, &vm, &d, file, &q);
		_exit(0);
	}
	status = modvm_wait_child(pid, 60000);
	ASSERT_NE(-1, status);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_TRUE(file_settles(file, 5000));

	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		vg_vm_create(&vm);
		start_writes(_metadata, &vm, &d, file, &q);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		vg_wait_ticks(&vm, 1000000);
		vg_exec(&vm, NULL);
		_exit(2);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	usleep(20 * 1000);
	kill(pid, SIGKILL);
	status = modvm_wait_child(pid, 60000);
	ASSERT_NE(-1, status);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	EXPECT_TRUE(file_settles(file, 5000));
	close(ready[0]);
	close(ready[1]);

	vg_vm_create(&vm);
	start_writes(_metadata, &vm, &d, file, &q);
	ASSERT_TRUE(vq_host_wait(&q, IN_FLIGHT, 10000));
	buf = vg_alloc(&vm, 4096, 4096);
	q.next_desc = 0;
	vg_blk_req(&q, &r, VIRTIO_BLK_T_IN, 8, buf, 4096, false);
	EXPECT_EQ(GUEST_DONE, vq_run(&q, &r.head, 1));
	EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(&vm, &r));
	vg_vm_destroy(&vm);
	close(file);
}

/*
 * Processes killed with writes in flight, again and again: every device
 * goes (the module unloads: nothing holds it), and kernel memory comes
 * back (a device, its threads and requests leaked per cycle would show).
 */
#define KILLED_GUEST_KB	(20L * GUEST_MEM_SIZE / 1024)

TEST_F_TIMEOUT(dev, unload_after_kills_with_io_in_flight, 600)
{
	int file = vg_backing(FILE_SIZE, SEED, O_RDWR);
	long slab0, slab1, free0, free1;
	int ready[2], status, i;
	struct vg_queue q;
	struct vg_vm vm;
	struct vg_dev d;
	pid_t pid;
	char c;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	if (!modvm_is_modvm())
		SKIP(return, "only for modvm's own module");
	ASSERT_EQ(0, pipe(ready));
	slab0 = modvm_meminfo_kb("Slab");
	free0 = modvm_meminfo_kb("MemFree");
	for (i = 0; i < 20; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			vg_vm_create(&vm);
			start_writes(_metadata, &vm, &d, file, &q);
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			vg_wait_ticks(&vm, 1000000);
			vg_exec(&vm, NULL);
			_exit(2);
		}
		ASSERT_EQ(1, read(ready[0], &c, 1));
		kill(pid, SIGKILL);
		status = modvm_wait_child(pid, 60000);
		ASSERT_NE(-1, status);
		EXPECT_TRUE(WIFSIGNALED(status));
	}
	ASSERT_TRUE(file_settles(file, 5000));
	/*
	 * MemFree moves by tens of MiB on its own here (page cache, per-CPU
	 * lists), so it only catches what a leaked device pins: the VMM's
	 * address space, GUEST_MEM_SIZE of guest memory per kill. Slab
	 * catches the smaller leaks.
	 */
	for (i = 0; i < 20; i++) {
		slab1 = modvm_meminfo_kb("Slab");
		free1 = modvm_meminfo_kb("MemFree");
		if (slab1 - slab0 < 256 && free1 - free0 > -KILLED_GUEST_KB / 2)
			break;
		usleep(100 * 1000);
	}
	TH_LOG("after 20 kills: Slab %+ld KiB, MemFree %+ld KiB",
	       slab1 - slab0, free1 - free0);
	EXPECT_LT(slab1 - slab0, 256);
	EXPECT_GT(free1 - free0, -KILLED_GUEST_KB / 2);

	ASSERT_EQ(0, modvm_reload_module());
	close(ready[0]);
	close(ready[1]);
	close(file);
}

/*
 * Two VMs, each with a blk device over its own file, writes in flight in
 * both at once; the first VM also has an rng device beside its disk.
 */
TEST_F_TIMEOUT(dev, two_vms, 300)
{
	struct modvm_virtio_create c;
	struct vg_vm vm[2];
	struct vg_dev d[2], rng;
	struct vg_queue q[2], rq;
	struct vg_blk_req r[2][16];
	uint64_t buf[2][16], rbuf;
	struct vg_buf b;
	uint8_t *chk = malloc(4096);
	int file[2], i, k;
	uint16_t head;

	VG_REQUIRE_TYPE(MODVM_VIRTIO_BLK);
	for (k = 0; k < 2; k++) {
		vg_vm_create(&vm[k]);
		file[k] = vg_backing(FILE_SIZE, SEED + k, O_RDWR);
		vg_create_args(&c, MODVM_VIRTIO_BLK, 0);
		c.fd = file[k];
		ASSERT_EQ(0, vg_dev_create(&vm[k], &d[k], &c));
		vq_init(&q[k], &d[k], 0, 16);
		ASSERT_EQ(0, vg_setup(&d[k], V1 | INDIRECT, &q[k], 1));
	}
	vg_create_args(&c, MODVM_VIRTIO_RNG, 1);
	ASSERT_EQ(0, vg_dev_create(&vm[0], &rng, &c));
	vq_init(&rq, &rng, 0, 4);
	ASSERT_EQ(0, vg_setup(&rng, V1, &rq, 1));

	for (k = 0; k < 2; k++) {
		for (i = 0; i < 16; i++) {
			buf[k][i] = vg_alloc(&vm[k], 4096, 4096);
			vg_fill(vg_ptr(&vm[k], buf[k][i]), 4096, 50 * k + i);
			vg_blk_req(&q[k], &r[k][i], VIRTIO_BLK_T_OUT, 8 * i,
				   buf[k][i], 4096, true);
			vq_post(&q[k], r[k][i].head);
		}
		vq_notify_cmd(&q[k]);
		ASSERT_EQ(GUEST_DONE, vg_exec(&vm[k], NULL));
	}
	rbuf = vg_alloc(&vm[0], 64, 64);
	b = (struct vg_buf){ rbuf, 64, VRING_DESC_F_WRITE };
	head = vq_chain(&rq, vq_alloc(&rq, 1), &b, 1);
	EXPECT_EQ(GUEST_DONE, vq_run(&rq, &head, 1));
	EXPECT_EQ(64u, vq_used(&rq, 0).len);
	for (k = 0; k < 2; k++) {
		vg_spin16(&vm[k], q[k].used + 2, 16, VG_TIMEOUT);
		EXPECT_EQ(GUEST_DONE, vg_exec(&vm[k], NULL));
		for (i = 0; i < 16; i++) {
			EXPECT_EQ(VIRTIO_BLK_S_OK, vg_blk_status(&vm[k], &r[k][i]));
			ASSERT_EQ(4096, pread(file[k], chk, 4096, 8 * 512 * i));
			EXPECT_EQ(0, memcmp(chk, vg_ptr(&vm[k], buf[k][i]), 4096));
		}
	}
	for (k = 0; k < 2; k++) {
		vg_vm_destroy(&vm[k]);
		close(file[k]);
	}
	free(chk);
}

TEST_HARNESS_MAIN
