/* SPDX-License-Identifier: GPL-2.0 */
/*
 * modvm-run: the small VMM bundled with modvm. Shared declarations of its
 * parts: the machine (memory, vCPUs), the boot loader, the ACPI tables and
 * the userspace devices.
 */
#ifndef MODVM_RUN_LAUNCHER_H
#define MODVM_RUN_LAUNCHER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modvm.h"

#define MiB			(1ULL << 20)
#define GiB			(1ULL << 30)
#define MAX_CPUS		64

/* Guest-physical layout of what the launcher builds below 1 MiB. */
#define GDT_ADDR		0x0500ULL
#define BOOT_PARAMS_ADDR	0x7000ULL
#define PML4_ADDR		0x9000ULL
#define PDPT_ADDR		0xa000ULL
#define PD_ADDR			0xb000ULL	/* four pages: 4 GiB of 2 MiB pages */
#define CMDLINE_ADDR		0x20000ULL
#define CMDLINE_MAX		4096
#define EBDA_ADDR		0x9fc00ULL	/* RAM ends here below 1 MiB */
#define ACPI_ADDR		0xe0000ULL	/* in the BIOS area Linux scans */
#define ACPI_SIZE		0x10000ULL
#define HIGH_RAM_ADDR		0x100000ULL

/* RAM above 3 GiB is moved above 4 GiB, out of the LAPIC/IOAPIC hole. */
#define LOW_RAM_END		(3 * GiB)
#define HIGH_RAM_START		(4 * GiB)

/* Ports of the devices modvm-run emulates. */
#define COM1_PORT		0x3f8
#define COM1_IRQ		4
#define PM1A_EVT_PORT		0x600	/* 4 bytes: status, enable */
#define PM1A_CNT_PORT		0x604	/* 2 bytes */
#define ACPI_SCI_IRQ		9
#define ACPI_S5_TYPE		5	/* SLP_TYP the DSDT's \_S5 gives */

/*
 * modvm's in-kernel virtio-mmio devices: device i decodes the 4 KiB page
 * at VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE, in the hole below 4 GiB that
 * the e820 map leaves out, and raises IOAPIC pin VIRTIO_FIRST_GSI +
 * i % VIRTIO_GSI_COUNT: pins 16-23, which no ISA device or PIC shares.
 * From the ninth device on, devices share pins (modvm keeps a shared
 * line up while any of its devices raises it; Linux's virtio_mmio
 * requests its interrupt shared).
 */
#define VIRTIO_MMIO_BASE	0xd0000000ULL
#define VIRTIO_MMIO_SIZE	0x1000ULL
#define VIRTIO_FIRST_GSI	16
#define VIRTIO_GSI_COUNT	8
#define VIRTIO_MAX_DEVICES	MODVM_VIRTIO_MAX_DEVICES
#define VIRTIO_SERIAL_SIZE	20	/* virtio-blk GET_ID */
#define VIRTIO_TAP_NAME_SIZE	16	/* IFNAMSIZ, with the NUL */

struct virtio_device {
	uint32_t type;		/* MODVM_VIRTIO_BLK, _NET or _RNG */
	const char *option;	/* "--disk FILE,...", "--net tap=NAME", "--rng": names it in errors */
	uint64_t mmio_base;
	uint32_t gsi;
	bool shared_gsi;	/* another device raises the same pin */
	const char *path;	/* blk: the backing file, as given */
	bool read_only, direct;
	char serial[VIRTIO_SERIAL_SIZE + 1];
	char tap[VIRTIO_TAP_NAME_SIZE];	/* net: the host's tap interface */
	uint8_t mac[6];		/* net: the guest's MAC address */
	int backing_fd;		/* blk, net: until modvm holds its own reference */
	int fd;			/* the device's fd, open for the VM's life */
};

struct vm {
	int sys_fd, vm_fd;
	const char *device;
	uint8_t *ram;		/* host mapping of guest-physical 0.. */
	uint64_t ram_size;	/* bytes of guest RAM in total */
	int ncpus;
	int vcpu_fd[MAX_CPUS];
	struct kvm_run *run[MAX_CPUS];
	size_t run_size;
	/* Disks and NICs in command-line order, then the RNG (virtio_prepare()). */
	struct virtio_device virtio[VIRTIO_MAX_DEVICES];
	int nvirtio;
	bool want_rng;
};

/* Host address of guest-physical @gpa below LOW_RAM_END, NULL if outside. */
void *gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);

/* Report a fatal error in one line, restore the terminal, exit status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* As die(), with strerror(errno) appended. */
void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * The Linux x86 boot protocol: boot_check() reads and validates the
 * bzImage, initrd and command line against the RAM size before any VM
 * exists; boot_load() places them in guest memory with boot_params;
 * boot_setup_bsp() puts vCPU 0 at the 64-bit entry point.
 */
struct boot_config {
	const char *kernel, *initrd, *cmdline;
};

void boot_check(const struct boot_config *cfg, uint64_t ram_size);
void boot_load(struct vm *vm);
void boot_setup_bsp(struct vm *vm);

/* ACPI tables (RSDP, XSDT, FADT, FACS, MADT, DSDT); returns the RSDP gpa. */
uint64_t acpi_build(struct vm *vm);
/* --dump-acpi: the same tables, one file per table in @dir (a debugging aid). */
void acpi_dump(const struct vm *vm, const char *dir);

/*
 * In-kernel virtio devices (--disk, --net, --rng): the options add to
 * vm->virtio, virtio_prepare() lays the devices out and opens their
 * backing files and taps before any VM exists, virtio_create() hands them to modvm once the VM
 * has its in-kernel irqchip. acpi.c describes them in the DSDT.
 */
void virtio_add_disk(struct vm *vm, const char *spec);
void virtio_add_net(struct vm *vm, const char *spec);
void virtio_prepare(struct vm *vm);
void virtio_create(struct vm *vm);

/* Port I/O of every emulated device; may end the VM (poweroff, reset). */
void devices_init(struct vm *vm);
void devices_pio(struct vm *vm, uint16_t port, bool out, uint8_t *data, int size);

/* COM1 8250 UART wired to stdin/stdout. */
void serial_init(struct vm *vm);
bool serial_pio(uint16_t port, bool out, uint8_t *data);
void serial_start_input(void);

/* Terminal: raw mode while the guest runs, restored on every exit path. */
void term_raw(void);
void term_restore(void);

/*
 * SIGUSR1 dumps every vCPU's state to stderr: debug_init() installs the
 * handlers, main() registers the vCPU threads and calls debug_poll() when
 * a signal woke it, and each vCPU thread calls debug_dump_vcpu() when its
 * KVM_RUN was interrupted.
 */
void debug_init(void);
void debug_add_thread(int id, pthread_t tid);
void debug_poll(struct vm *vm);
void debug_dump_vcpu(struct vm *vm, int id);

/* Ending the VM: status 0 for a guest poweroff or reboot. */
void vm_exit(int status, const char *why) __attribute__((noreturn));

#endif /* MODVM_RUN_LAUNCHER_H */
