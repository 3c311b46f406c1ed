// SPDX-License-Identifier: GPL-2.0
/*
 * TCP throughput and request/response rate, for make bench-net: one
 * static program that is the server (in the emulated host) and the client
 * (in the guest), over the guest's virtio-net and the host's tap.
 *
 *   netbench -s [-P PORT] [-T LIMIT]
 *   netbench -c HOST [-P PORT] [-t SECS] [-p PHASES] [-b BUFSIZE] [-i RUN]
 *
 *   -s         serve: accept connections on PORT (default 5201), each in a
 *              process of its own that ends after LIMIT seconds (default
 *              900) whatever its peer does
 *   -c HOST    run the phases against the server at HOST (an IPv4 address)
 *   -t SECS    seconds per phase (default 8)
 *   -p PHASES  comma-separated, in order: send,recv,rr (default)
 *                send  stream from the client to the server (the server
 *                      counts what it received and tells the client)
 *                recv  stream from the server to the client
 *                rr    1-byte request, 1-byte response, one at a time
 *                      (TCP_NODELAY on both ends): transactions
 *   -b BUFSIZE bytes per write() or read() of a stream (default 131072)
 *   -i RUN     a number the server prints with the results (default 0)
 *
 * A connection starts with a header from the client: magic, the phase,
 * RUN. Per phase the client prints (blkmon --tag net keys on these
 * lines), at its start, at its end, and then the result:
 *   netbench-begin phase=send
 *   netbench-end phase=send
 *   netbench phase=send secs=8.001 bytes=N ios=N MBps=X tps=X
 * bytes: of the stream (for send, what the server received); ios: the
 * transactions of rr (0 for a stream). MB is 10^6 bytes. secs, MBps and
 * tps are by the clock of the machine the client runs in (a guest's clock
 * may drift).
 *
 * A client that makes no progress for 15 s (a send or receive stalled)
 * says so and exits with status 2.
 *
 * The server prints the same phase by its own clock, once the phase has
 * ended cleanly (a connection that broke prints nothing):
 *   netsrv run=RUN phase=send secs=8.004 bytes=N ios=N MBps=X tps=X
 * from the header to the client's end of stream (send, rr), or to the
 * client's count of the bytes it got, which it sends at its deadline
 * (recv: bytes is that count). This does not depend on the client's
 * console: a guest's serial console can lose or hold back lines, and
 * the client never waits for it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAGIC		0x6e657462u	/* "netb" */
#define MAX_BUF		(4u << 20)
#define STALL_SECS	15	/* no progress for this long: the client gives up */

enum phase { SEND, RECV, RR, NPHASES };
static const char *const phase_names[] = { "send", "recv", "rr" };

struct header {
	uint32_t magic;
	uint32_t phase;
	uint32_t run;
} __attribute__((packed));

static struct {
	double secs;
	unsigned int port, limit, bufsize;
	const char *host;
	unsigned int run;
} opt = { .secs = 8, .port = 5201, .limit = 900, .bufsize = 128 << 10 };

static char *buf;

static void die(const char *what)
{
	fprintf(stderr, "netbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* All of @len bytes, or false at end of file or on an error. */
static bool read_full(int fd, void *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p = (char *)p + n;
		len -= n;
	}
	return true;
}

static bool write_full(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p = (const char *)p + n;
		len -= n;
	}
	return true;
}

static void nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("TCP_NODELAY");
}

static void result(const struct header *h, double secs, uint64_t bytes, uint64_t ios)
{
	printf("netsrv run=%u phase=%s secs=%.3f bytes=%" PRIu64 " ios=%" PRIu64
	       " MBps=%.2f tps=%.0f\n", h->run, phase_names[h->phase], secs, bytes, ios,
	       bytes / secs / 1e6, ios / secs);
	fflush(stdout);
}

/* One connection, in a process of its own. */
static void __attribute__((noreturn)) serve(int fd)
{
	uint64_t total = 0, ios = 0;
	struct header h;
	double start;
	ssize_t n;
	char c;

	alarm(opt.limit);
	if (!read_full(fd, &h, sizeof(h)) || h.magic != MAGIC || h.phase >= NPHASES) {
		fprintf(stderr, "netbench: a connection without a valid header\n");
		exit(1);
	}
	start = now();
	switch (h.phase) {
	case SEND:
		/* Count to the client's end of stream, then say how much. */
		while ((n = read(fd, buf, opt.bufsize)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				exit(1);
			total += n;
		}
		result(&h, now() - start, total, 0);
		write_full(fd, &total, sizeof(total));
		break;
	case RECV:
		/* Until the client's count of what it got arrives. */
		if (fcntl(fd, F_SETFL, O_NONBLOCK))
			die("O_NONBLOCK");
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				exit(1);
			}
			if (p.revents & (POLLIN | POLLERR | POLLHUP))
				break;
			n = write(fd, buf, opt.bufsize);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				exit(1);
		}
		if (fcntl(fd, F_SETFL, 0) || !read_full(fd, &total, sizeof(total)))
			exit(1);
		result(&h, now() - start, total, 0);
		break;
	case RR:
		nodelay(fd);
		while ((n = read(fd, &c, 1)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 || !write_full(fd, &c, 1))
				exit(1);
			ios++;
		}
		result(&h, now() - start, 0, ios);
		break;
	}
	exit(0);
}

static void __attribute__((noreturn)) server(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(opt.port),
				 .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, lfd;

	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR");
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)))
		die("bind");
	if (listen(lfd, 16))
		die("listen");
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		pid = fork();
		if (pid < 0)
			die("fork");
		if (!pid) {
			close(lfd);
			serve(fd);
		}
		close(fd);
	}
}

/* Connect, retrying for a while: the guest's link may still come up. */
static int connect_to(enum phase ph)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(opt.port) };
	struct header h = { .magic = MAGIC, .phase = ph, .run = opt.run };
	struct timeval stall = { .tv_sec = STALL_SECS };
	double give_up = now() + 30;
	int fd;

	if (inet_pton(AF_INET, opt.host, &a.sin_addr) != 1) {
		fprintf(stderr, "netbench: '%s' is not an IPv4 address\n", opt.host);
		exit(2);
	}
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			break;
		if (now() > give_up)
			die("connect");
		close(fd);
		usleep(200000);
	}
	if (ph == RR)
		nodelay(fd);
	/* A stalled link ends the phase with EAGAIN, not a hang. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof(stall)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &stall, sizeof(stall)))
		die("SO_SNDTIMEO");
	if (!write_full(fd, &h, sizeof(h)))
		die("write the header");
	return fd;
}

/* No tcdrain(): a console that holds its output back must not hold us. */
static void mark(const char *what, enum phase ph)
{
	printf("netbench-%s phase=%s\n", what, phase_names[ph]);
	fflush(stdout);
}

static void run_phase(enum phase ph)
{
	uint64_t bytes = 0, ios = 0, server_bytes;
	double start, deadline, secs;
	int fd = connect_to(ph);
	ssize_t n;
	char c = 'x';

	mark("begin", ph);
	start = now();
	deadline = start + opt.secs;
	switch (ph) {
	case SEND:
		do {
			if (!write_full(fd, buf, opt.bufsize))
				die("write");
			bytes += opt.bufsize;
		} while (now() < deadline);
		break;
	case RECV:
		do {
			n = read(fd, buf, opt.bufsize);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				errno = n ? errno : ECONNRESET;
				die("read");
			}
			bytes += n;
		} while (now() < deadline);
		break;
	case RR:
		do {
			unsigned int i;

			for (i = 0; i < 16; i++) {
				if (!write_full(fd, &c, 1))
					die("write");
				if (!read_full(fd, &c, 1))
					die("read the response");
			}
			ios += 16;
		} while (now() < deadline);
		break;
	default:
		break;
	}
	secs = now() - start;
	if (ph == RECV) {
		/* Our count ends the server's phase; then what is left. */
		if (!write_full(fd, &bytes, sizeof(bytes)))
			die("write the count");
		while ((n = read(fd, buf, opt.bufsize)) > 0 || (n < 0 && errno == EINTR))
			;
	}
	mark("end", ph);
	if (ph == SEND) {
		/* What arrived is what counts: the server's tally. */
		if (shutdown(fd, SHUT_WR))
			die("shutdown");
		if (!read_full(fd, &server_bytes, sizeof(server_bytes)))
			die("read the server's count");
		bytes = server_bytes;
	}
	close(fd);
	printf("netbench phase=%s secs=%.3f bytes=%" PRIu64 " ios=%" PRIu64
	       " MBps=%.2f tps=%.0f\n", phase_names[ph], secs, bytes, ios,
	       bytes / secs / 1e6, ios / secs);
	fflush(stdout);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: netbench -s [-P PORT] [-T LIMIT]\n"
		"       netbench -c HOST [-P PORT] [-t SECS] [-p send,recv,rr] [-b BUFSIZE]"
		" [-i RUN]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	enum phase order[NPHASES * 4];
	const char *phases = "send,recv,rr";
	unsigned int nphases = 0, i;
	bool serve_mode = false;
	char *list, *tok, *save;
	int c;

	while ((c = getopt(argc, argv, "sc:P:T:t:p:b:i:")) != -1) {
		switch (c) {
		case 's': serve_mode = true; break;
		case 'c': opt.host = optarg; break;
		case 'P': opt.port = strtoul(optarg, NULL, 0); break;
		case 'T': opt.limit = strtoul(optarg, NULL, 0); break;
		case 't': opt.secs = strtod(optarg, NULL); break;
		case 'p': phases = optarg; break;
		case 'b': opt.bufsize = strtoul(optarg, NULL, 0); break;
		case 'i': opt.run = strtoul(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (optind != argc || serve_mode == !!opt.host || !opt.port || opt.port > 65535 ||
	    !opt.bufsize || opt.bufsize > MAX_BUF || !(opt.secs > 0))
		usage();
	buf = malloc(opt.bufsize);
	if (!buf)
		die("malloc");
	for (i = 0; i < opt.bufsize; i++)
		buf[i] = (char)(i * 7 + 1);
	if (serve_mode)
		server();

	signal(SIGPIPE, SIG_IGN);
	list = strdup(phases);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NPHASES && strcmp(tok, phase_names[i]); i++)
			;
		if (i == NPHASES || nphases == sizeof(order) / sizeof(order[0])) {
			fprintf(stderr, "netbench: unknown phase '%s' (or too many)\n", tok);
			return 2;
		}
		order[nphases++] = i;
	}
	free(list);
	for (i = 0; i < nphases; i++)
		run_phase(order[i]);
	return 0;
}
