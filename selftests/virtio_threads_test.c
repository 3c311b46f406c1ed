// SPDX-License-Identifier: GPL-2.0
/*
 * The threads that serve an in-kernel virtio device: they exist while the
 * device does, and they are in the cgroups of the process that created
 * the device (so a VM's cgroup limits also bound its I/O work, as with
 * vhost). A blk device has a worker and a pool of I/O threads, named
 * modvm-blk-PID and modvm-blk-PID/N; an rng device has only its worker.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "modvm_util.h"

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define MMIO_BASE	0x10000000ULL
#define MAX_THREADS	16

/* Thread ids whose name starts with @prefix; how many there are. */
static int find_threads(const char *prefix, int *tids)
{
	char path[64], comm[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int pid = atoi(e->d_name);
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, prefix, strlen(prefix)) && n < MAX_THREADS)
			tids[n++] = pid;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The cgroup v2 path of a task ("/" for the root), or "" if none. */
static void task_cgroup(int tid, char *buf, size_t len)
{
	char path[64], line[256];
	FILE *f;

	buf[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			size_t n = strcspn(line + 3, "\n");

			n = n < len - 1 ? n : len - 1;
			memcpy(buf, line + 3, n);
			buf[n] = 0;
		}
	fclose(f);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	int r;

	if (fd < 0)
		return -errno;
	r = write(fd, text, strlen(text)) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* A VM with an in-kernel irqchip and a device of @type; its fd or -errno. */
static int create_device(int dev, int *vm, uint32_t type, int backing)
{
	struct modvm_virtio_create c = {
		.type = type, .mmio_base = MMIO_BASE, .gsi = 16, .fd = backing,
	};

	*vm = modvm_ioctl(dev, KVM_CREATE_VM, 0);
	if (*vm < 0)
		return *vm;
	if (modvm_ioctl(*vm, KVM_CREATE_IRQCHIP, 0))
		return -EIO;
	return modvm_ioctl(*vm, MODVM_CREATE_VIRTIO, (unsigned long)&c);
}

FIXTURE(threads) {
	char cgroup[128];
	char prefix[32];
	int dev, vm, disk;
};

FIXTURE_SETUP(threads)
{
	char procs[160], pid[16];
	struct stat st;

	self->dev = modvm_open_device();
	if (!modvm_is_modvm())
		SKIP(return, "in-kernel virtio is modvm's own");
	/* The emulated hosts boot without a cgroup file system mounted. */
	if (stat(CGROUP_ROOT "/cgroup.procs", &st))
		ASSERT_EQ(0, mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL));
	snprintf(self->cgroup, sizeof(self->cgroup), CGROUP_ROOT "/modvm-virtio-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->cgroup, 0755));
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", self->cgroup);
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_EQ(0, write_file(procs, pid));
	snprintf(self->prefix, sizeof(self->prefix), "modvm-%%s-%d", getpid());
	self->vm = -1;
	self->disk = -1;
}

FIXTURE_TEARDOWN(threads)
{
	char pid[16];

	if (self->vm >= 0)
		close(self->vm);
	if (self->disk >= 0)
		close(self->disk);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(CGROUP_ROOT "/cgroup.procs", pid);
	rmdir(self->cgroup);
	close(self->dev);
}

/* @want threads named modvm-@name-PID*, all in the test's cgroup. */
static void check_threads(struct __test_metadata *_metadata,
			  FIXTURE_DATA(threads) *self, const char *name, int want)
{
	char prefix[48], cg[128];
	int tids[MAX_THREADS], n, i;

	snprintf(prefix, sizeof(prefix), self->prefix, name);
	/* A stopped thread leaves /proc a moment after kthread_stop(). */
	for (i = 0; i < 100; i++) {
		n = find_threads(prefix, tids);
		if (n == want)
			break;
		usleep(10000);
	}
	EXPECT_EQ(want, n);
	for (i = 0; i < n; i++) {
		task_cgroup(tids[i], cg, sizeof(cg));
		EXPECT_STREQ(self->cgroup + strlen(CGROUP_ROOT), cg);
	}
}

TEST_F(threads, blk_threads_in_the_vmm_cgroup)
{
	char path[] = "/tmp/virtio-threads.XXXXXX";
	int fd;

	self->disk = mkstemp(path);
	ASSERT_GE(self->disk, 0);
	unlink(path);
	ASSERT_EQ(0, ftruncate(self->disk, 1 << 20));
	fd = create_device(self->dev, &self->vm, MODVM_VIRTIO_BLK, self->disk);
	ASSERT_GE(fd, 0);
	/* The worker and four I/O threads. */
	check_threads(_metadata, self, "blk", 5);
	close(fd);
	check_threads(_metadata, self, "blk", 0);
}

TEST_F(threads, rng_has_only_a_worker)
{
	int fd = create_device(self->dev, &self->vm, MODVM_VIRTIO_RNG, -1);

	ASSERT_GE(fd, 0);
	check_threads(_metadata, self, "rng", 1);
	close(fd);
	check_threads(_metadata, self, "rng", 0);
}

TEST_HARNESS_MAIN
