// SPDX-License-Identifier: GPL-2.0
/*
 * Run on a host CPU without AMD-V and VT-x: loading modvm fails with
 * ENODEV and logs exactly one line saying why.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "modvm_util.h"

/*
 * Count new kernel log records from @kmsg that contain @needle, leaving
 * out the kernel's own notices about tainting by an unsigned module.
 */
static int count_new_records(int kmsg, const char *needle, char *last, size_t len)
{
	char rec[1024];
	ssize_t n;
	int count = 0;

	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0) {
		rec[n] = 0;
		if (strstr(rec, needle) && !strstr(rec, "taint")) {
			count++;
			snprintf(last, len, "%s", rec);
		}
	}
	return count;
}

TEST(insmod_fails_with_enodev)
{
	char line[1024] = "";
	int kmsg, ko, r, lines;

	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_GE(kmsg, 0);
	ASSERT_GE(lseek(kmsg, 0, SEEK_END), 0);

	ko = open(modvm_module_path(), O_RDONLY | O_CLOEXEC);
	ASSERT_GE(ko, 0);
	r = syscall(SYS_finit_module, ko, "", 0);
	EXPECT_EQ(-1, r);
	EXPECT_EQ(ENODEV, errno);
	close(ko);

	EXPECT_NE(0, access(MODVM_DEVICE_PATH, F_OK));
	lines = count_new_records(kmsg, "modvm: ", line, sizeof(line));
	TH_LOG("log: %s", line);
	EXPECT_EQ(1, lines);
	EXPECT_NE(NULL, strstr(line, "no hardware virtualization"));
	close(kmsg);
}

TEST_HARNESS_MAIN
