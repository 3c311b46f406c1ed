// SPDX-License-Identifier: GPL-2.0
/*
 * modvm-run: boot a Linux bzImage on /dev/modvm (or any device speaking
 * KVM's ABI). Options, the machine (memory, irqchip, PIT, vCPU threads)
 * and the KVM_RUN loop live here; the boot protocol, ACPI tables,
 * userspace devices and modvm's in-kernel virtio devices have their own
 * files.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "launcher.h"

#define DEFAULT_MEM		(256 * MiB)
#define DEFAULT_CMDLINE		"console=ttyS0 reboot=k panic=-1"
#define TSS_ADDR		0xfffbd000ULL
#define IDENTITY_MAP_ADDR	0xfffbc000ULL

static const char *progname = "modvm-run";

static void __attribute__((noreturn)) vdie(const char *fmt, va_list ap, const char *err)
{
	term_restore();
	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s", err);
	fputc('\n', stderr);
	exit(1);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(fmt, ap, NULL);
}

void die_errno(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vdie(fmt, ap, err);
}

void vm_exit(int status, const char *why)
{
	term_restore();
	/* The guest may have left the console mid-line. */
	if (why && isatty(STDOUT_FILENO))
		fputs("\r\n", stdout);
	fflush(stdout);
	if (why)
		fprintf(stderr, "%s: %s\n", progname, why);
	/* exit() ends every vCPU thread with the process. */
	exit(status);
}

void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t low = vm->ram_size < LOW_RAM_END ? vm->ram_size : LOW_RAM_END;

	if (gpa > low || len > low - gpa)
		return NULL;
	return vm->ram + gpa;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --kernel BZIMAGE [--initrd FILE] [--append CMDLINE]\n"
		"       [--cpus N] [--mem SIZE] [--device PATH]\n"
		"       [--disk FILE[,ro][,direct][,serial=S]]... [--net tap=NAME[,mac=MAC]]...\n"
		"       [--rng]\n"
		"  -k, --kernel BZIMAGE  Linux x86 bzImage to boot (64-bit entry)\n"
		"  -i, --initrd FILE     initial ramdisk\n"
		"  -a, --append CMDLINE  kernel command line (default \"%s\")\n"
		"  -c, --cpus N          vCPUs, 1..%d (default 1)\n"
		"  -m, --mem SIZE        guest RAM; suffix K, M or G, plain number\n"
		"                        is MiB (default 256M)\n"
		"  -d, --device PATH     device speaking KVM's ABI (default %s)\n"
		"      --disk FILE[,ro][,direct][,serial=S]\n"
		"                        virtio block device backed by FILE (a regular\n"
		"                        file or block device): ro read-only, direct\n"
		"                        O_DIRECT, serial=S its ID (20 bytes at most,\n"
		"                        default modvm-diskN, N from 0); the first is\n"
		"                        the guest's /dev/vda\n"
		"      --net tap=NAME[,mac=MAC]\n"
		"                        virtio network device on the host's tap NAME\n"
		"                        (attached to, or created if missing); MAC\n"
		"                        like 02:00:00:00:00:01, default one derived\n"
		"                        from NAME (02:6d:...)\n"
		"      --rng             virtio entropy device (the guest's /dev/hwrng)\n"
		"      --dump-acpi DIR   debugging aid: write the ACPI tables the guest\n"
		"                        would get to DIR/*.dat (for iasl -d) and exit\n"
		"  -h, --help            this text\n"
		"--disk, --net and --rng are virtio-mmio devices inside modvm: they need\n"
		"/dev/modvm, not Debian's KVM; at most %d in all.\n"
		"The guest console is COM1 on stdin/stdout; Ctrl-A x quits.\n"
		"Exit status 0 when the guest powers off or reboots.\n",
		progname, DEFAULT_CMDLINE, MAX_CPUS, MODVM_DEVICE_PATH,
		VIRTIO_MAX_DEVICES);
}

static uint64_t parse_size(const char *s)
{
	uint64_t shift = 20;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		die("--mem: bad size '%s'", s);
	if (*end) {
		const char *units = "KkMmGg", *u = strchr(units, *end);

		if (!u)
			die("--mem: bad size '%s'", s);
		shift = 10 * (1 + (u - units) / 2);
		end++;
		if (*end == 'i')	/* KiB, MiB, GiB */
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end || v > (1ULL << (63 - shift)))
		die("--mem: bad size '%s'", s);
	return v << shift;
}

static int sys_ioctl(int fd, unsigned long req, unsigned long arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR);
	return r;
}

static void set_memslot(struct vm *vm, uint32_t slot, uint64_t gpa,
			uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (sys_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, (uintptr_t)&r))
		die_errno("KVM_SET_USER_MEMORY_REGION");
}

/*
 * Anonymous memory aligned to 2 MiB and marked for transparent huge
 * pages, so the host can back guest RAM (and its NPT/EPT) with 2 MiB
 * pages. RAM beyond LOW_RAM_END is a second slot above 4 GiB.
 */
static void create_memory(struct vm *vm)
{
	uint64_t align = 2 * MiB, size = (vm->ram_size + align - 1) & ~(align - 1);
	uint8_t *p;

	p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die_errno("cannot map %llu MiB of guest memory",
			  (unsigned long long)(size / MiB));
	vm->ram = (uint8_t *)(((uintptr_t)p + align - 1) & ~(align - 1));
	madvise(vm->ram, size, MADV_HUGEPAGE);	/* a hint: THP may be off */
	if (size <= LOW_RAM_END) {
		set_memslot(vm, 0, 0, size, vm->ram);
	} else {
		set_memslot(vm, 0, 0, LOW_RAM_END, vm->ram);
		set_memslot(vm, 1, HIGH_RAM_START, size - LOW_RAM_END,
			    vm->ram + LOW_RAM_END);
	}
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid,
					    uint32_t function, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == function &&
		    cpuid->entries[i].index == index)
			return &cpuid->entries[i];
	return NULL;
}

/*
 * XSAVE components whose feature flag is clear are dropped from leaf 0xd,
 * and the area sizes follow: a guest kernel skips such components and
 * then checks its own size against CPUID's. (QEMU's TCG model of EPYC
 * lists AVX state without the AVX flag, for one.)
 */
static void sanitize_xsave(struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *l1 = cpuid_find(cpuid, 1, 0);
	struct kvm_cpuid_entry2 *l7 = cpuid_find(cpuid, 7, 0);
	struct kvm_cpuid_entry2 *d0 = cpuid_find(cpuid, 0xd, 0);
	uint32_t keep = 0x3, size = 576, i;	/* x87, SSE: legacy area + header */

	if (!l1 || !d0)
		return;
	if (l1->ecx & (1U << 28))
		keep |= 1U << 2;			/* AVX */
	if (l7 && (l7->ebx & (1U << 14)))
		keep |= 3U << 3;			/* MPX */
	if (l7 && (l7->ebx & (1U << 16)))
		keep |= 7U << 5;			/* AVX-512 */
	if (l7 && (l7->ecx & (1U << 3)))
		keep |= 1U << 9;			/* PKRU */
	d0->eax &= keep;
	for (i = 2; i < 32; i++) {
		struct kvm_cpuid_entry2 *c = cpuid_find(cpuid, 0xd, i);

		if ((d0->eax & (1U << i)) && c && c->eax + c->ebx > size)
			size = c->eax + c->ebx;
	}
	d0->ebx = size;
	d0->ecx = size;
}

/*
 * KVM's supported CPUID, consistent in its XSAVE leaf, with each vCPU's
 * own APIC ID in leaves 1 and 0xb, so the guest's topology matches the
 * MADT.
 */
static void setup_cpuid(struct vm *vm, int id)
{
	static struct kvm_cpuid2 *cpuid;
	int n = 256;
	uint32_t i;

	if (!cpuid) {
		cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
		if (!cpuid)
			die("out of memory");
		cpuid->nent = n;
		if (sys_ioctl(vm->sys_fd, KVM_GET_SUPPORTED_CPUID, (uintptr_t)cpuid))
			die_errno("KVM_GET_SUPPORTED_CPUID");
		sanitize_xsave(cpuid);
	}
	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | ((uint32_t)id << 24);
		if (e->function == 0xb)
			e->edx = id;
	}
	if (sys_ioctl(vm->vcpu_fd[id], KVM_SET_CPUID2, (uintptr_t)cpuid))
		die_errno("KVM_SET_CPUID2");
}

static void create_vm(struct vm *vm)
{
	int r;

	vm->sys_fd = open(vm->device, O_RDWR | O_CLOEXEC);
	if (vm->sys_fd < 0 && errno == ENOENT)
		die("%s: no such device (is the module loaded?)", vm->device);
	if (vm->sys_fd < 0)
		die_errno("%s", vm->device);
	r = sys_ioctl(vm->sys_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION)
		die("%s: API version %d, expected %d", vm->device, r, KVM_API_VERSION);
	/* The in-kernel interrupt controllers and PIT are what we build on. */
	if (sys_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0)
		die("%s: no in-kernel irqchip (KVM_CAP_IRQCHIP not reported)", vm->device);
	if (sys_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) <= 0)
		die("%s: no in-kernel PIT (KVM_CAP_PIT2 not reported)", vm->device);
	r = sys_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r <= 0)
		r = sys_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (r > 0 && vm->ncpus > r)
		die("--cpus %d: %s supports at most %d vCPUs", vm->ncpus, vm->device, r);
	vm->run_size = sys_ioctl(vm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if ((int)vm->run_size <= 0)
		die_errno("KVM_GET_VCPU_MMAP_SIZE");

	vm->vm_fd = sys_ioctl(vm->sys_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		die_errno("KVM_CREATE_VM");
	/* Needed by VT-x hosts that emulate real mode; others ignore them. */
	if (sys_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0 &&
	    sys_ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR))
		die_errno("KVM_SET_TSS_ADDR");
	if (sys_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t addr = IDENTITY_MAP_ADDR;

		if (sys_ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, (uintptr_t)&addr))
			die_errno("KVM_SET_IDENTITY_MAP_ADDR");
	}
	if (sys_ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0))
		die_errno("KVM_CREATE_IRQCHIP");
	{
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		if (sys_ioctl(vm->vm_fd, KVM_CREATE_PIT2, (uintptr_t)&pit))
			die_errno("KVM_CREATE_PIT2");
	}
}

static void create_vcpus(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++) {
		vm->vcpu_fd[i] = sys_ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (vm->vcpu_fd[i] < 0)
			die_errno("KVM_CREATE_VCPU %d", i);
		vm->run[i] = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
				  MAP_SHARED, vm->vcpu_fd[i], 0);
		if (vm->run[i] == MAP_FAILED)
			die_errno("mmap of vCPU %d", i);
		setup_cpuid(vm, i);
	}
}

static void handle_io(struct vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	for (i = 0; i < run->io.count; i++) {
		devices_pio(vm, run->io.port, run->io.direction == KVM_EXIT_IO_OUT,
			    data, run->io.size);
		data += run->io.size;
	}
}

/* MMIO outside RAM: nothing lives there; reads see all ones. */
static void handle_mmio(struct kvm_run *run)
{
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
}

struct vcpu_arg {
	struct vm *vm;
	int id;
};

static void *vcpu_thread(void *opaque)
{
	struct vcpu_arg *arg = opaque;
	struct vm *vm = arg->vm;
	int id = arg->id, fd = vm->vcpu_fd[id];
	struct kvm_run *run = vm->run[id];
	char why[160];

	for (;;) {
		if (ioctl(fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				debug_poll(vm);
				debug_dump_vcpu(vm, id);
				continue;
			}
			die_errno("KVM_RUN on vCPU %d", id);
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(vm, run);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(run);
			break;
		case KVM_EXIT_SHUTDOWN:
			snprintf(why, sizeof(why),
				 "guest crashed: triple fault (KVM_EXIT_SHUTDOWN) on vCPU %d", id);
			vm_exit(2, why);
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
				vm_exit(0, NULL);
			if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
				vm_exit(0, NULL);
			snprintf(why, sizeof(why), "guest crashed: system event %u on vCPU %d",
				 run->system_event.type, id);
			vm_exit(2, why);
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; ours has one. */
			vm_exit(2, "guest halted with interrupts off");
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(why, sizeof(why), "vCPU %d: entry failed, reason 0x%llx",
				 id, (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
			vm_exit(2, why);
		case KVM_EXIT_INTERNAL_ERROR:
			snprintf(why, sizeof(why), "vCPU %d: internal error, suberror %u",
				 id, run->internal.suberror);
			vm_exit(2, why);
		default:
			snprintf(why, sizeof(why), "vCPU %d: unexpected exit reason %u",
				 id, run->exit_reason);
			vm_exit(2, why);
		}
	}
	return NULL;
}

static void on_signal(int sig)
{
	term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

enum { OPT_DISK = 256, OPT_NET, OPT_RNG, OPT_DUMP_ACPI };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "device", required_argument, NULL, 'd' },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "dump-acpi", required_argument, NULL, OPT_DUMP_ACPI },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct boot_config cfg = { .cmdline = DEFAULT_CMDLINE };
	static struct vcpu_arg args[MAX_CPUS];
	static struct vm vm = { .device = MODVM_DEVICE_PATH, .ncpus = 1,
				.ram_size = DEFAULT_MEM };
	const char *dump_acpi_dir = NULL;
	pthread_t tid;
	char *end;
	int c, i;

	while ((c = getopt_long(argc, argv, "k:i:a:c:m:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			cfg.kernel = optarg;
			break;
		case 'i':
			cfg.initrd = optarg;
			break;
		case 'a':
			cfg.cmdline = optarg;
			break;
		case 'c':
			vm.ncpus = strtol(optarg, &end, 10);
			if (*end || end == optarg || vm.ncpus < 1 || vm.ncpus > MAX_CPUS)
				die("--cpus: '%s' is not a number from 1 to %d", optarg, MAX_CPUS);
			break;
		case 'm':
			vm.ram_size = parse_size(optarg);
			break;
		case 'd':
			vm.device = optarg;
			break;
		case OPT_DISK:
			virtio_add_disk(&vm, optarg);
			break;
		case OPT_NET:
			virtio_add_net(&vm, optarg);
			break;
		case OPT_RNG:
			vm.want_rng = true;
			break;
		case OPT_DUMP_ACPI:
			dump_acpi_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (!cfg.kernel && !dump_acpi_dir)
		die("--kernel is required (see --help)");
	virtio_prepare(&vm);
	if (dump_acpi_dir) {
		acpi_dump(&vm, dump_acpi_dir);
		return 0;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGQUIT, on_signal);

	boot_check(&cfg, vm.ram_size);
	create_vm(&vm);
	virtio_create(&vm);	/* needs the irqchip create_vm() made */
	create_memory(&vm);
	boot_load(&vm);
	create_vcpus(&vm);
	boot_setup_bsp(&vm);
	devices_init(&vm);
	serial_init(&vm);

	debug_init();
	term_raw();
	for (i = 0; i < vm.ncpus; i++) {
		args[i] = (struct vcpu_arg){ .vm = &vm, .id = i };
		if (pthread_create(&tid, NULL, vcpu_thread, &args[i]))
			die("cannot start the thread of vCPU %d", i);
		debug_add_thread(i, tid);
	}
	serial_start_input();
	for (;;) {
		pause();
		debug_poll(&vm);
	}
}
