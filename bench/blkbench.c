// SPDX-License-Identifier: GPL-2.0
/*
 * Block-device throughput, for make bench-blk: sequential write, sequential
 * read (large requests) and random read (small requests), each for a fixed
 * time, with several requests in flight through Linux AIO (io_submit,
 * raw system calls: no libaio needed in a static binary). The same program
 * runs in the guests (on /dev/vda, O_DIRECT so that the guest's page cache
 * is out of it) and in the emulated host on the backing itself.
 *
 *   blkbench [-t SECS] [-p PHASES] [-b SEQ_BS] [-q SEQ_QD] [-B RAND_BS]
 *            [-Q RAND_QD] [-s SIZE] [-n] [-V] DEV
 *   blkbench -f [-b BS] [-n] DEV
 *
 *   -t SECS    seconds per phase (default 8)
 *   -p PHASES  comma-separated, in order: seqwrite,seqread,randread (default)
 *   -b, -q     sequential request size (default 1 MiB) and depth (default 4)
 *   -B, -Q     random-read request size (default 4 KiB) and depth (default 16)
 *   -s SIZE    bytes of DEV used from its start (default: all of it)
 *   -n         buffered I/O: no O_DIRECT (for a file system without it)
 *   -V         DEV was filled by -f: check every block read
 *   -f         fill DEV once sequentially with the stamped pattern and exit
 *
 * Every 4 KiB block written carries a stamp derived from its offset, so
 * reads can check that they got the block they asked for (-V); a mismatch
 * is counted in verify_errors and makes the exit status 1.
 *
 * Per phase it prints (blkmon keys on these lines), at its start (once a
 * console has sent the line: tcdrain), at its end, and then the result:
 *   blkbench-begin phase=seqread
 *   blkbench-end phase=seqread
 *   blkbench phase=seqread bs=1048576 qd=4 direct=1 secs=8.002 ios=N
 *            bytes=N MBps=X iops=X lat_avg_us=X verify_errors=0
 * MB is 10^6 bytes. secs, MBps, iops and lat_avg_us are by the clock of
 * the machine it runs in (a guest's clock may drift: blkmon times the
 * phase by the host's, from the begin line to the end line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define STAMP_BLOCK	4096
#define STAMP_MAGIC	0x626c6b62656e6368ULL	/* "blkbench" */
#define MAX_QD		256
#define HUGE_ALIGN	(2UL << 20)

enum phase { SEQWRITE, SEQREAD, RANDREAD };
static const char *const phase_names[] = { "seqwrite", "seqread", "randread" };

static struct {
	double secs;
	uint64_t seq_bs, rand_bs, size;
	unsigned int seq_qd, rand_qd;
	bool buffered, verify, fill;
} opt = {
	.secs = 8, .seq_bs = 1 << 20, .seq_qd = 4, .rand_bs = 4096, .rand_qd = 16,
};

static int fd;
static aio_context_t ctx;

static void die(const char *what)
{
	fprintf(stderr, "blkbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end || !v) {
		fprintf(stderr, "blkbench: bad size '%s'\n", s);
		exit(2);
	}
	return v;
}

static void stamp(uint8_t *buf, uint64_t off, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i += STAMP_BLOCK) {
		uint64_t s = (off + i) ^ STAMP_MAGIC, t = ~s;

		memcpy(buf + i, &s, 8);
		memcpy(buf + i + 8, &t, 8);
	}
}

static unsigned int check(const uint8_t *buf, uint64_t off, uint64_t len)
{
	unsigned int bad = 0;
	uint64_t i;

	for (i = 0; i < len; i += STAMP_BLOCK) {
		uint64_t s = (off + i) ^ STAMP_MAGIC, t = ~s, a, b;

		memcpy(&a, buf + i, 8);
		memcpy(&b, buf + i + 8, 8);
		bad += a != s || b != t;
	}
	return bad;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* One phase's state. */
struct run {
	bool write, seq, fill;
	uint64_t bs, blocks, next, submitted;
	unsigned int inflight;
	uint8_t *buf;
	struct iocb cbs[MAX_QD];
	double t_sub[MAX_QD];
};

/* Submit the next request in slot @slot. */
static void submit(struct run *r, unsigned int slot)
{
	uint64_t blk = r->seq ? r->next++ % r->blocks : rnd() % r->blocks;
	struct iocb *cb = &r->cbs[slot];
	uint8_t *data = r->buf + (uint64_t)slot * r->bs;

	memset(cb, 0, sizeof(*cb));
	cb->aio_data = slot;
	cb->aio_fildes = fd;
	cb->aio_lio_opcode = r->write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
	cb->aio_buf = (uintptr_t)data;
	cb->aio_nbytes = r->bs;
	cb->aio_offset = blk * r->bs;
	if (r->write)
		stamp(data, blk * r->bs, r->bs);
	r->t_sub[slot] = now();
	if (syscall(SYS_io_submit, ctx, 1, &cb) != 1)
		die("io_submit");
	r->inflight++;
	r->submitted++;
}

/*
 * Run one phase: keep qd requests of bs bytes in flight until secs have
 * passed (fill: until the whole size is written once), then drain.
 */
static int run_phase(enum phase ph, bool fill)
{
	static struct run r;
	unsigned int qd = ph != RANDREAD ? opt.seq_qd : opt.rand_qd, bad = 0, i;
	uint64_t ios = 0, bytes = 0;
	struct io_event ev[MAX_QD];
	double lat = 0, start, end, deadline;
	bool stop = false;
	size_t buflen;
	void *map;

	memset(&r, 0, sizeof(r));
	r.write = ph == SEQWRITE;
	r.seq = ph != RANDREAD;
	r.fill = fill;
	r.bs = r.seq ? opt.seq_bs : opt.rand_bs;
	r.blocks = opt.size / r.bs;
	if (!r.blocks) {
		fprintf(stderr, "blkbench: size %" PRIu64 " below one request\n", opt.size);
		exit(2);
	}
	/* 2 MiB aligned and huge-page backed where the kernel can: few segments. */
	buflen = (qd * r.bs + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
	map = mmap(NULL, buflen + HUGE_ALIGN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		die("mmap");
	r.buf = (uint8_t *)(((uintptr_t)map + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1));
	madvise(r.buf, buflen, MADV_HUGEPAGE);
	memset(r.buf, 0xa5, buflen);

	if (!fill) {
		/*
		 * On a console, wait until the line is out: whoever times the
		 * phase from outside sees it when the phase starts.
		 */
		printf("blkbench-begin phase=%s\n", phase_names[ph]);
		fflush(stdout);
		tcdrain(STDOUT_FILENO);
	}
	start = now();
	deadline = start + opt.secs;
	for (i = 0; i < qd && !(fill && r.submitted == r.blocks); i++)
		submit(&r, i);
	while (r.inflight) {
		int n = syscall(SYS_io_getevents, ctx, 1, MAX_QD, ev, NULL);
		double t;
		int k;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("io_getevents");
		}
		t = now();
		if (fill ? r.submitted >= r.blocks : t >= deadline)
			stop = true;
		for (k = 0; k < n; k++) {
			unsigned int slot = ev[k].data;
			struct iocb *cb = &r.cbs[slot];

			if (ev[k].res != (int64_t)r.bs) {
				errno = ev[k].res < 0 ? -ev[k].res : EIO;
				fprintf(stderr, "blkbench: %s at %llu: %" PRId64 " of %" PRIu64 " bytes: %s\n",
					r.write ? "write" : "read",
					(unsigned long long)cb->aio_offset,
					(int64_t)ev[k].res, r.bs, strerror(errno));
				exit(2);
			}
			r.inflight--;
			ios++;
			bytes += r.bs;
			lat += t - r.t_sub[slot];
			if (!r.write && opt.verify)
				bad += check(r.buf + (uint64_t)slot * r.bs, cb->aio_offset, r.bs);
			if (!stop && !(fill && r.submitted >= r.blocks))
				submit(&r, slot);
		}
	}
	end = now();
	if (!fill) {
		/* At once, short: the end for an outside clock. */
		printf("blkbench-end phase=%s\n", phase_names[ph]);
		fflush(stdout);
	}
	if (fill) {
		printf("blkbench fill bytes=%" PRIu64 " secs=%.3f\n", bytes, end - start);
	} else {
		printf("blkbench phase=%s bs=%" PRIu64 " qd=%u direct=%d secs=%.3f ios=%" PRIu64
		       " bytes=%" PRIu64 " MBps=%.2f iops=%.0f lat_avg_us=%.0f verify_errors=%u\n",
		       phase_names[ph], r.bs, qd, !opt.buffered, end - start, ios, bytes,
		       bytes / (end - start) / 1e6, ios / (end - start),
		       ios ? lat / ios * 1e6 : 0, bad);
	}
	fflush(stdout);
	munmap(map, buflen + HUGE_ALIGN);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	enum phase phases[16] = { SEQWRITE, SEQREAD, RANDREAD };
	int nphases = 3, c, i, rc = 0;
	struct stat st;
	char *tok;

	while ((c = getopt(argc, argv, "t:p:b:q:B:Q:s:nVf")) != -1) {
		switch (c) {
		case 't': opt.secs = atof(optarg); break;
		case 'p':
			nphases = 0;
			for (tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
				for (i = 0; i < 3 && strcmp(tok, phase_names[i]); i++)
					;
				if (i == 3 || nphases == 16) {
					fprintf(stderr, "blkbench: bad phase '%s'\n", tok);
					return 2;
				}
				phases[nphases++] = i;
			}
			break;
		case 'b': opt.seq_bs = parse_size(optarg); break;
		case 'q': opt.seq_qd = atoi(optarg); break;
		case 'B': opt.rand_bs = parse_size(optarg); break;
		case 'Q': opt.rand_qd = atoi(optarg); break;
		case 's': opt.size = parse_size(optarg); break;
		case 'n': opt.buffered = true; break;
		case 'V': opt.verify = true; break;
		case 'f': opt.fill = true; break;
		default:
			fprintf(stderr, "usage: blkbench [-t SECS] [-p PHASES] [-b SEQ_BS] [-q SEQ_QD]"
				" [-B RAND_BS] [-Q RAND_QD] [-s SIZE] [-n] [-V] [-f] DEV\n");
			return 2;
		}
	}
	if (optind != argc - 1 || opt.secs <= 0 || !opt.seq_qd || opt.seq_qd > MAX_QD ||
	    !opt.rand_qd || opt.rand_qd > MAX_QD || opt.seq_bs % STAMP_BLOCK ||
	    opt.rand_bs % STAMP_BLOCK) {
		fprintf(stderr, "blkbench: bad arguments (depths 1-%d, sizes in 4 KiB)\n", MAX_QD);
		return 2;
	}
	fd = open(argv[optind], O_RDWR | (opt.buffered ? 0 : O_DIRECT));
	if (fd < 0)
		die(argv[optind]);
	if (!opt.size) {
		if (fstat(fd, &st))
			die("fstat");
		if (S_ISBLK(st.st_mode)) {
			if (ioctl(fd, BLKGETSIZE64, &opt.size))
				die("BLKGETSIZE64");
		} else {
			opt.size = st.st_size;
		}
	}
	if (syscall(SYS_io_setup, MAX_QD, &ctx))
		die("io_setup");
	if (opt.fill)
		return run_phase(SEQWRITE, true);
	for (i = 0; i < nphases; i++)
		rc |= run_phase(phases[i], false);
	return rc;
}
