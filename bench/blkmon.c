// SPDX-License-Identifier: GPL-2.0
/*
 * Where a blkbench phase's time went, for make bench-blk: reads the
 * console output of a VMM whose guest runs blkbench (or blkbench's own
 * output) on standard input, copies it to standard output, and between
 * each "blkbench-begin phase=P" line and the "blkbench phase=P ..." result
 * that follows samples, in the emulated host:
 *   - the host's clock (host_secs: a check on the guest's clock);
 *   - /proc/stat: CPU time by kind, in percent of one CPU (ncpu of them),
 *     and cpu_acct, the share of ncpu x host_secs it accounted at all
 *     (well below 100: the emulated host was starved by its emulator);
 *   - the CPU time of each thread of process PID and of the kernel
 *     threads whose name holds PID as a number (modvm's virtio workers
 *     modvm-blk-PID and pool threads modvm-blk-PID/N, KVM's kvm-*-PID),
 *     in percent of one CPU: thr_NAME=PCT, the process's first thread
 *     named main, threads that share a name numbered in tid order
 *     (modvm-run-1 is the vCPU thread of a one-vCPU modvm-run);
 *   - how much of PID's memory is in transparent huge pages (vmm_thp_MB:
 *     its guest RAM, mostly: 2 MiB NPT leaves, fewer nested page faults);
 *   - with modvm, the counters of every modvm virtio device PID has open
 *     (MODVM_VIRTIO_GET_STATS on a copy of its fd from pidfd_getfd()):
 *     notifies, requests, interrupts, bytes, max_inflight, and ratios.
 * and prints, after the result line,
 *   blkres LABEL phase=P ... host_secs=X host_MBps=X host_iops=X
 *   blkmon LABEL phase=P host_secs=X ncpu=N cpu_acct=.. cpu_user=.. ...
 *          thr_..=.. vmm_thp_MB=.. [v_notifies=.. v_requests=.. ...]
 *
 *   blkmon [--pid PID] [--label TEXT] [--boot-timeout SECS]
 *          [--idle-timeout SECS] [--pin CPU] [--stats] [--tag net]
 *
 * --tag net: the same for netbench (make bench-net): its lines
 * "netbench-begin phase=P", "netbench-end phase=P" and "netbench phase=P
 * ...", and blkmon's own lines start "netres" and "netmon" (ios= there
 * are request/response transactions); modvm's counters then include the
 * virtio-net ones (v_rx_pkts, v_rx_MB, v_rx_drop, v_tx_pkts, v_tx_MB,
 * v_tx_drop).
 *
 * The phase is timed by the host's clock from the begin line to the
 * "blkbench-end" line; the result line gets host_secs, host_MBps and
 * host_iops appended.
 *
 * --boot-timeout: SIGKILL PID when no line holding "modvm-guest: init"
 * came within SECS (a guest stuck in early boot); exit status 3 then.
 * --idle-timeout: SIGKILL PID when, after that line, nothing came on the
 * console for SECS (a guest stuck later: longer than a phase); exit
 * status 4 then. The time to that line is printed:
 *   blkmon LABEL boot_secs=X
 * --pin CPU: see pin_kthreads() below.
 * --stats: print the virtio counters of PID once and exit.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "modvm.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd	438
#endif

#define MAX_THREADS	128
#define MAX_DEVFDS	16

struct thread {
	int tid;
	char name[40];
	unsigned long long ticks;	/* utime + stime */
};

struct sample {
	double t;
	unsigned long long cpu[10];	/* the "cpu" line of /proc/stat */
	int nthreads;
	struct thread threads[MAX_THREADS];
	bool have_stats;
	struct modvm_virtio_stats stats;
};

static int pid;
static const char *label = "";
/* --tag: the program whose lines we key on, and our own lines' names. */
static const char *prog = "blkbench", *res_name = "blkres", *mon_name = "blkmon";
static bool net;
static int devfds[MAX_DEVFDS], ndevfds = -1;	/* -1: not looked for yet */
static long hz;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void read_cpu(unsigned long long cpu[10])
{
	FILE *f = fopen("/proc/stat", "r");

	memset(cpu, 0, 10 * sizeof(cpu[0]));
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &cpu[0], &cpu[1], &cpu[2], &cpu[3], &cpu[4], &cpu[5], &cpu[6],
		   &cpu[7], &cpu[8], &cpu[9]) < 8)
		memset(cpu, 0, 10 * sizeof(cpu[0]));
	fclose(f);
}

/* comm, ppid and utime + stime of /proc/.../stat; false if gone. */
static bool read_stat(const char *path, char *comm, size_t len, int *ppid,
		      unsigned long long *ticks)
{
	char buf[1024], *open_paren, *close_paren;
	unsigned long long ut, st;
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return false;
	*close_paren = 0;
	snprintf(comm, len, "%s", open_paren + 1);
	/* After "comm) ": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime. */
	if (sscanf(close_paren + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   ppid, &ut, &st) != 3)
		return false;
	*ticks = ut + st;
	return true;
}

/* Does @s hold @n as a number of its own (not part of a longer one)? */
static bool holds_number(const char *s, int n)
{
	char num[16];
	size_t len;
	const char *p;

	len = snprintf(num, sizeof(num), "%d", n);
	for (p = strstr(s, num); p; p = strstr(p + 1, num))
		if ((p == s || !isdigit((unsigned char)p[-1])) &&
		    !isdigit((unsigned char)p[len]))
			return true;
	return false;
}

static void add_thread(struct sample *s, int tid, const char *comm,
		       unsigned long long ticks)
{
	struct thread *t;
	char *c;

	if (s->nthreads == MAX_THREADS)
		return;
	t = &s->threads[s->nthreads++];
	t->tid = tid;
	t->ticks = ticks;
	snprintf(t->name, sizeof(t->name), "%s", tid == pid ? "main" : comm);
	for (c = t->name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '/' && *c != '_')
			*c = '_';
}

static int cmp_tid(const void *a, const void *b)
{
	return ((const struct thread *)a)->tid - ((const struct thread *)b)->tid;
}

static void read_threads(struct sample *s)
{
	char path[PATH_MAX], comm[32];
	unsigned long long ticks;
	struct dirent *de;
	int ppid, i, j, n;
	DIR *d;

	s->nthreads = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, de->d_name);
			if (read_stat(path, comm, sizeof(comm), &ppid, &ticks))
				add_thread(s, atoi(de->d_name), comm, ticks);
		}
		closedir(d);
	}
	/* Kernel threads (children of kthreadd, pid 2) named after PID. */
	d = opendir("/proc");
	if (d) {
		while ((de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			if (read_stat(path, comm, sizeof(comm), &ppid, &ticks) &&
			    ppid == 2 && holds_number(comm, pid))
				add_thread(s, atoi(de->d_name), comm, ticks);
		}
		closedir(d);
	}
	/* Threads sharing a name: NAME-1, NAME-2... in tid order. */
	qsort(s->threads, s->nthreads, sizeof(s->threads[0]), cmp_tid);
	for (i = 0; i < s->nthreads; i++) {
		char base[40];

		for (j = 0, n = 0; j < s->nthreads; j++)
			n += !strcmp(s->threads[j].name, s->threads[i].name);
		if (n < 2)
			continue;
		snprintf(base, sizeof(base), "%s", s->threads[i].name);
		for (j = i, n = 1; j < s->nthreads; j++)
			if (!strcmp(s->threads[j].name, base))
				snprintf(s->threads[j].name, sizeof(s->threads[j].name),
					 "%.24s-%d", base, n++ % 1000);
	}
}

/* Copies of PID's modvm virtio device fds, looked for once. */
static void find_devfds(void)
{
	char path[PATH_MAX], link[256];
	struct dirent *de;
	int pidfd;
	ssize_t n;
	DIR *d;

	ndevfds = 0;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		goto out;
	while ((de = readdir(d)) && ndevfds < MAX_DEVFDS) {
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strcmp(link, "anon_inode:modvm-virtio"))
			continue;
		fd = syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
		if (fd >= 0)
			devfds[ndevfds++] = fd;
		else
			fprintf(stderr, "blkmon: pidfd_getfd %d/%s: %s\n", pid,
				de->d_name, strerror(errno));
	}
	closedir(d);
out:
	close(pidfd);
}

/* The sum of the counters of PID's devices (max_inflight: the largest). */
static bool read_stats(struct modvm_virtio_stats *sum)
{
	struct modvm_virtio_stats st;
	int i;

	memset(sum, 0, sizeof(*sum));
	if (ndevfds < 0)
		find_devfds();
	for (i = 0; i < ndevfds; i++) {
		if (ioctl(devfds[i], MODVM_VIRTIO_GET_STATS, &st)) {
			fprintf(stderr, "blkmon: MODVM_VIRTIO_GET_STATS: %s\n", strerror(errno));
			return false;
		}
		sum->notifies += st.notifies;
		sum->requests += st.requests;
		sum->interrupts += st.interrupts;
		sum->read_bytes += st.read_bytes;
		sum->write_bytes += st.write_bytes;
		sum->errors += st.errors;
		sum->unsupported += st.unsupported;
		sum->inflight += st.inflight;
		if (st.max_inflight > sum->max_inflight)
			sum->max_inflight = st.max_inflight;
		sum->resets += st.resets;
		sum->status |= st.status;
		sum->broken_queues |= st.broken_queues;
		sum->rx_packets += st.rx_packets;
		sum->rx_bytes += st.rx_bytes;
		sum->rx_dropped += st.rx_dropped;
		sum->tx_packets += st.tx_packets;
		sum->tx_bytes += st.tx_bytes;
		sum->tx_dropped += st.tx_dropped;
	}
	return ndevfds > 0;
}

static void take(struct sample *s)
{
	s->t = now();
	read_cpu(s->cpu);
	if (pid) {
		read_threads(s);
		s->have_stats = read_stats(&s->stats);
	}
}

/* kB of PID's memory in transparent huge pages (its guest RAM, mostly). */
static long anon_huge_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * --pin CPU: PID was started bound to CPU (taskset), its threads with it;
 * bind the kernel threads named after it (modvm's device threads, KVM's
 * per-VM threads) there too, as they come.
 */
static void pin_kthreads(int cpu)
{
	char path[PATH_MAX], comm[32];
	unsigned long long ticks;
	struct dirent *de;
	cpu_set_t one;
	int ppid;
	DIR *d;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_stat(path, comm, sizeof(comm), &ppid, &ticks) && ppid == 2 &&
		    holds_number(comm, pid))
			sched_setaffinity(atoi(de->d_name), sizeof(one), &one);
	}
	closedir(d);
}

static int cmp_pct(const void *a, const void *b)
{
	const double *x = a, *y = b;

	return (x[0] < y[0]) - (x[0] > y[0]);
}

static void report(const char *phase, const struct sample *a, const struct sample *b)
{
	static const char *const kinds[] = { "user", "nice", "sys", "idle", "iowait",
					     "irq", "softirq", "steal", "guest" };
	double secs = b->t - a->t, ticks = secs * hz, pct[MAX_THREADS][2];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long long acct;
	int i, j, n = 0;

	/*
	 * The share of ncpu x secs that /proc/stat accounted: well below 100,
	 * the emulated host itself lost time (its emulator was starved).
	 */
	for (i = 0, acct = 0; i < 8; i++)
		acct += b->cpu[i] - a->cpu[i];
	printf("%s %s phase=%s host_secs=%.3f ncpu=%ld cpu_acct=%.0f", mon_name, label, phase, secs,
	       ncpu, acct / (ticks * ncpu) * 100);
	for (i = 0; i < 9; i++) {
		unsigned long long d = b->cpu[i] - a->cpu[i];

		/* Guest time is counted in user time too: user is without it. */
		if (i == 0)
			d -= b->cpu[8] - a->cpu[8];
		if (i == 1 || i == 7)
			continue;
		printf(" cpu_%s=%.0f", kinds[i], d / ticks * 100);
	}
	/* Threads present at both ends, busiest first. */
	for (i = 0; i < b->nthreads; i++)
		for (j = 0; j < a->nthreads; j++)
			if (a->threads[j].tid == b->threads[i].tid) {
				pct[n][0] = (b->threads[i].ticks - a->threads[j].ticks) / ticks * 100;
				pct[n++][1] = i;
				break;
			}
	qsort(pct, n, sizeof(pct[0]), cmp_pct);
	for (i = 0; i < n; i++)
		if (pct[i][0] >= 0.5 || i < 3)
			printf(" thr_%s=%.0f", b->threads[(int)pct[i][1]].name, pct[i][0]);
	if (pid)
		printf(" vmm_thp_MB=%ld", anon_huge_kb() / 1024);
	if (a->have_stats && b->have_stats) {
		const struct modvm_virtio_stats *x = &a->stats, *y = &b->stats;
		unsigned long long req = y->requests - x->requests;
		unsigned long long irq = y->interrupts - x->interrupts;
		unsigned long long ntf = y->notifies - x->notifies;
		unsigned long long bytes = y->read_bytes - x->read_bytes +
					   y->write_bytes - x->write_bytes;

		printf(" v_notifies=%llu v_requests=%llu v_interrupts=%llu v_read_MB=%.1f"
		       " v_write_MB=%.1f v_errors=%llu v_max_inflight=%llu"
		       " v_req_per_irq=%.2f v_req_per_notify=%.2f v_avg_req_KiB=%.1f"
		       " v_status=%#x v_broken=%#x",
		       ntf, req, irq, (y->read_bytes - x->read_bytes) / 1e6,
		       (y->write_bytes - x->write_bytes) / 1e6,
		       (unsigned long long)(y->errors - x->errors),
		       (unsigned long long)y->max_inflight,
		       irq ? (double)req / irq : 0, ntf ? (double)req / ntf : 0,
		       req ? bytes / 1024.0 / req : 0, y->status, y->broken_queues);
		if (net)
			printf(" v_rx_pkts=%llu v_rx_MB=%.1f v_rx_drop=%llu v_tx_pkts=%llu"
			       " v_tx_MB=%.1f v_tx_drop=%llu",
			       (unsigned long long)(y->rx_packets - x->rx_packets),
			       (y->rx_bytes - x->rx_bytes) / 1e6,
			       (unsigned long long)(y->rx_dropped - x->rx_dropped),
			       (unsigned long long)(y->tx_packets - x->tx_packets),
			       (y->tx_bytes - x->tx_bytes) / 1e6,
			       (unsigned long long)(y->tx_dropped - x->tx_dropped));
	}
	printf("\n");
}

static void print_stats(void)
{
	struct modvm_virtio_stats s;

	if (!read_stats(&s)) {
		fprintf(stderr, "blkmon: process %d has no modvm virtio device\n", pid);
		exit(1);
	}
	printf("blkmon stats pid=%d devices=%d notifies=%llu requests=%llu interrupts=%llu"
	       " read_bytes=%llu write_bytes=%llu errors=%llu unsupported=%llu inflight=%llu"
	       " max_inflight=%llu resets=%llu status=%#x broken_queues=%#x\n",
	       pid, ndevfds, (unsigned long long)s.notifies, (unsigned long long)s.requests,
	       (unsigned long long)s.interrupts, (unsigned long long)s.read_bytes,
	       (unsigned long long)s.write_bytes, (unsigned long long)s.errors,
	       (unsigned long long)s.unsupported, (unsigned long long)s.inflight,
	       (unsigned long long)s.max_inflight, (unsigned long long)s.resets,
	       s.status, s.broken_queues);
}

static bool phase_open;

static uint64_t result_field(const char *l, const char *name)
{
	const char *p = strstr(l, name);

	return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* One console line (without its end of line): act on blkbench's lines. */
static void line(char *l)
{
	static struct sample begin, end;
	static bool ended;
	static char phase[32];
	double secs;
	char key[32], *p;

	snprintf(key, sizeof(key), "%s-begin phase=", prog);
	p = strstr(l, key);
	if (p) {
		snprintf(phase, sizeof(phase), "%s", p + strlen(key));
		phase[strcspn(phase, " \r")] = 0;
		take(&begin);
		phase_open = true;
		ended = false;
		return;
	}
	snprintf(key, sizeof(key), "%s-end phase=", prog);
	if (strstr(l, key) && phase_open) {
		take(&end);
		ended = true;
		return;
	}
	snprintf(key, sizeof(key), "%s phase=", prog);
	p = strstr(l, key);
	if (!p || !phase_open)
		return;
	if (!ended)
		take(&end);
	phase_open = false;
	p[strcspn(p, "\r")] = 0;
	secs = end.t - begin.t;
	printf("%s %s %s host_secs=%.3f host_MBps=%.2f host_iops=%.0f\n", res_name, label,
	       p + strlen(prog) + 1, secs, result_field(p, " bytes=") / secs / 1e6,
	       result_field(p, " ios=") / secs);
	report(phase, &begin, &end);
}

int main(int argc, char **argv)
{
	double boot_timeout = 0, idle_timeout = 0, start = now(), last_input = start;
	bool booted = false, killed = false, stats = false, boot_hung = false, partial = false;
	int pin_cpu = -1;
	char buf[4096], acc[8192];
	size_t acc_len = 0;
	int i, from;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pid") && i + 1 < argc)
			pid = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--label") && i + 1 < argc)
			label = argv[++i];
		else if (!strcmp(argv[i], "--boot-timeout") && i + 1 < argc)
			boot_timeout = atof(argv[++i]);
		else if (!strcmp(argv[i], "--idle-timeout") && i + 1 < argc)
			idle_timeout = atof(argv[++i]);
		else if (!strcmp(argv[i], "--pin") && i + 1 < argc)
			pin_cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stats"))
			stats = true;
		else if (!strcmp(argv[i], "--tag") && i + 1 < argc && !strcmp(argv[i + 1], "net")) {
			prog = "netbench", res_name = "netres", mon_name = "netmon";
			net = true;
			i++;
		}
		else {
			fprintf(stderr, "usage: blkmon [--pid PID] [--label TEXT]"
				" [--boot-timeout SECS] [--idle-timeout SECS] [--pin CPU] [--stats]"
				" [--tag net]\n");
			return 2;
		}
	}
	hz = sysconf(_SC_CLK_TCK);
	if (stats) {
		if (!pid) {
			fprintf(stderr, "blkmon: --stats needs --pid\n");
			return 2;
		}
		print_stats();
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		ssize_t n;

		/* Fast while a VMM starts its threads. */
		if (poll(&pfd, 1, now() - start < 5 ? 10 : 200) < 0 && errno != EINTR)
			break;
		if (pin_cpu >= 0 && pid)
			pin_kthreads(pin_cpu);
		if (!booted && boot_timeout > 0 && pid && !killed &&
		    now() - start > boot_timeout) {
			printf("%s%s %s: no guest init within %.0f s: killing %d\n",
			       partial ? "\n" : "", mon_name, label, boot_timeout, pid);
			kill(pid, SIGKILL);
			killed = boot_hung = true;
		}
		if (idle_timeout > 0 && booted && pid && !killed && now() - last_input > idle_timeout) {
			printf("%s%s %s: nothing on the console for %.0f s: killing %d\n",
			       partial ? "\n" : "", mon_name, label, idle_timeout, pid);
			kill(pid, SIGKILL);
			killed = true;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		last_input = now();
		/*
		 * Copied a line at a time, so that our lines go between the
		 * console's (the start of the next line may be in this read).
		 */
		for (i = 0, from = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (acc_len < sizeof(acc) - 1)
					acc[acc_len++] = buf[i];
				partial = true;
				continue;
			}
			fwrite(buf + from, 1, i + 1 - from, stdout);
			from = i + 1;
			partial = false;
			acc[acc_len] = 0;
			acc_len = 0;
			if (!booted && strstr(acc, "modvm-guest: init")) {
				booted = true;
				printf("%s %s boot_secs=%.1f\n", mon_name, label, now() - start);
			}
			/* Our lines after the line they are about. */
			fflush(stdout);
			line(acc);
		}
		fwrite(buf + from, 1, n - from, stdout);
	}
	return boot_hung ? 3 : killed ? 4 : 0;
}
