// SPDX-License-Identifier: GPL-2.0
/*
 * The Linux x86 boot protocol (Documentation/x86/boot.rst), 64-bit entry:
 * the protected-mode part of the bzImage at its preferred address,
 * boot_params ("zero page") with the setup header, e820 map, command line
 * and initrd, identity page tables and a flat GDT, and vCPU 0 in long mode
 * at startup_64 with %rsi pointing to boot_params.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <asm/bootparam.h>

#include "launcher.h"

#define BOOT_FLAG		0xaa55
#define HDRS_MAGIC		0x53726448	/* "HdrS" */
#define MIN_PROTOCOL		0x020c		/* xloadflags: 64-bit entry */
#define DEFAULT_LOAD_ADDR	(16 * MiB)
#define STARTUP_64_OFFSET	0x200
#define E820_RAM		1
#define E820_RESERVED		2
#define LOADER_TYPE_UNDEFINED	0xff
#define BOOT_CS			0x10
#define BOOT_DS			0x18

static struct {
	const struct boot_config *cfg;
	uint8_t *kernel, *initrd;
	size_t kernel_size, initrd_size;
	const struct setup_header *hdr;
	size_t pm_offset, hdr_len;
	uint64_t load_addr, initrd_addr;
	uint64_t ram_size;
} boot;

/* Read a whole file; the error names the file and the option. */
static uint8_t *read_file(const char *opt, const char *path, size_t *size)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		die_errno("%s %s", opt, path);
	if (!S_ISREG(st.st_mode))
		die("%s %s: not a regular file", opt, path);
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		die("%s %s: out of memory", opt, path);
	while (done < (size_t)st.st_size) {
		n = read(fd, buf + done, st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die_errno("%s %s: read", opt, path);
		done += n;
	}
	close(fd);
	*size = done;
	return buf;
}

static uint64_t mib_up(uint64_t bytes)
{
	return (bytes + MiB - 1) / MiB;
}

static void check_kernel(const char *path)
{
	const struct setup_header *hdr;
	unsigned int setup_sects;

	boot.kernel = read_file("--kernel", path, &boot.kernel_size);
	if (boot.kernel_size < 0x1f1 + sizeof(*hdr))
		die("--kernel %s: not a bzImage (too short)", path);
	hdr = (const struct setup_header *)(boot.kernel + 0x1f1);
	if (hdr->boot_flag != BOOT_FLAG || hdr->header != HDRS_MAGIC)
		die("--kernel %s: not a bzImage (no Linux boot header)", path);
	if (hdr->version < MIN_PROTOCOL)
		die("--kernel %s: boot protocol %u.%02u, need 2.12 or newer",
		    path, hdr->version >> 8, hdr->version & 0xff);
	if (!(hdr->loadflags & LOADED_HIGH))
		die("--kernel %s: a zImage, not a bzImage", path);
	if (!(hdr->xloadflags & XLF_KERNEL_64))
		die("--kernel %s: no 64-bit entry point (not an x86-64 kernel?)", path);
	setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
	boot.pm_offset = (setup_sects + 1) * 512;
	if (boot.pm_offset >= boot.kernel_size)
		die("--kernel %s: truncated bzImage", path);
	/* The header ends at 0x202 + the byte at 0x201 (boot.rst). */
	boot.hdr_len = 0x202 + boot.kernel[0x201] - 0x1f1;
	if (boot.hdr_len > sizeof(*hdr))
		boot.hdr_len = sizeof(*hdr);
	boot.hdr = hdr;
	/* Where a relocatable kernel runs anyway: no move at startup. */
	boot.load_addr = hdr->pref_address >= HIGH_RAM_ADDR &&
		!(hdr->pref_address & (2 * MiB - 1)) ?
		hdr->pref_address : DEFAULT_LOAD_ADDR;
}

void boot_check(const struct boot_config *cfg, uint64_t ram_size)
{
	uint64_t low = ram_size < LOW_RAM_END ? ram_size : LOW_RAM_END;
	uint64_t kernel_end, top;

	boot.cfg = cfg;
	boot.ram_size = ram_size;
	check_kernel(cfg->kernel);
	if (strlen(cfg->cmdline) >= CMDLINE_MAX ||
	    strlen(cfg->cmdline) >= boot.hdr->cmdline_size)
		die("--append: command line of %zu bytes, this kernel takes %u",
		    strlen(cfg->cmdline), boot.hdr->cmdline_size - 1);
	if (cfg->initrd) {
		boot.initrd = read_file("--initrd", cfg->initrd, &boot.initrd_size);
		if (boot.initrd_size >= ram_size)
			die("--initrd %s: %llu MiB does not fit in %llu MiB of guest memory",
			    cfg->initrd, (unsigned long long)mib_up(boot.initrd_size),
			    (unsigned long long)(ram_size / MiB));
	}
	/* The decompressor works in [load_addr, load_addr + init_size). */
	kernel_end = boot.load_addr + boot.hdr->init_size;
	if (kernel_end + boot.initrd_size + 16 * MiB > low)
		die("--mem %llu MiB is too small: this kernel%s at least %llu MiB",
		    (unsigned long long)(ram_size / MiB),
		    boot.initrd_size ? " and initrd need" : " needs",
		    (unsigned long long)mib_up(kernel_end + boot.initrd_size + 16 * MiB));
	if (boot.initrd_size) {
		/* As high as the kernel allows, clear of the decompressor. */
		top = low;
		if (top > (uint64_t)boot.hdr->initrd_addr_max + 1)
			top = (uint64_t)boot.hdr->initrd_addr_max + 1;
		boot.initrd_addr = (top - boot.initrd_size) & ~0xfffULL;
		if (boot.initrd_addr < kernel_end)
			die("--initrd %s: no room below initrd_addr_max 0x%x",
			    cfg->initrd, boot.hdr->initrd_addr_max);
	}
}

static void add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];

	e->addr = addr;
	e->size = size;
	e->type = type;
}

static void setup_boot_params(struct vm *vm, uint64_t rsdp)
{
	struct boot_params *bp = gpa_to_hva(vm, BOOT_PARAMS_ADDR, sizeof(*bp));
	uint64_t low = vm->ram_size < LOW_RAM_END ? vm->ram_size : LOW_RAM_END;

	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, boot.hdr, boot.hdr_len);
	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.code32_start = boot.load_addr;
	bp->hdr.cmd_line_ptr = CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = 0;
	bp->hdr.ramdisk_image = boot.initrd_addr;
	bp->hdr.ramdisk_size = boot.initrd_size;
	bp->acpi_rsdp_addr = rsdp;

	add_e820(bp, 0, EBDA_ADDR, E820_RAM);
	add_e820(bp, EBDA_ADDR, HIGH_RAM_ADDR - EBDA_ADDR, E820_RESERVED);
	add_e820(bp, HIGH_RAM_ADDR, low - HIGH_RAM_ADDR, E820_RAM);
	/*
	 * LOW_RAM_END to 4 GiB is left out of the map: the virtio-mmio pages
	 * at VIRTIO_MMIO_BASE, the IOAPIC and the LAPIC live there.
	 */
	if (vm->ram_size > LOW_RAM_END)
		add_e820(bp, HIGH_RAM_START, vm->ram_size - LOW_RAM_END, E820_RAM);
}

/* 4 GiB identity-mapped with 2 MiB pages: all the boot protocol needs. */
static void setup_page_tables(struct vm *vm)
{
	uint64_t *pml4 = gpa_to_hva(vm, PML4_ADDR, 4096);
	uint64_t *pdpt = gpa_to_hva(vm, PDPT_ADDR, 4096);
	uint64_t *pd = gpa_to_hva(vm, PD_ADDR, 4 * 4096);
	uint64_t i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = PDPT_ADDR | 0x3;			/* present, writable */
	for (i = 0; i < 4; i++)
		pdpt[i] = (PD_ADDR + i * 4096) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;		/* present, writable, 2 MiB */
}

void boot_load(struct vm *vm)
{
	uint64_t *gdt = gpa_to_hva(vm, GDT_ADDR, 4 * 8);
	size_t pm_size = boot.kernel_size - boot.pm_offset;

	memcpy(gpa_to_hva(vm, boot.load_addr, pm_size),
	       boot.kernel + boot.pm_offset, pm_size);
	if (boot.initrd_size)
		memcpy(gpa_to_hva(vm, boot.initrd_addr, boot.initrd_size),
		       boot.initrd, boot.initrd_size);
	strcpy(gpa_to_hva(vm, CMDLINE_ADDR, CMDLINE_MAX), boot.cfg->cmdline);

	/* The GDT the boot protocol expects: flat 64-bit code, flat data. */
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[BOOT_CS / 8] = 0x00af9b000000ffffULL;
	gdt[BOOT_DS / 8] = 0x00cf93000000ffffULL;
	setup_page_tables(vm);
	setup_boot_params(vm, acpi_build(vm));
	/* boot.hdr pointed into the image: no use after this. */
	free(boot.kernel);
	free(boot.initrd);
	boot.kernel = NULL;
	boot.initrd = NULL;
	boot.hdr = NULL;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, bool code)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector,
		.type = code ? 0xb : 0x3, .present = 1, .dpl = 0,
		.db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0, .g = 1,
	};
}

void boot_setup_bsp(struct vm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = boot.load_addr + STARTUP_64_OFFSET,
		.rsi = BOOT_PARAMS_ADDR,
		.rsp = BOOT_PARAMS_ADDR,
		.rflags = 0x2,
	};
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int fd = vm->vcpu_fd[0];

	if (ioctl(fd, KVM_GET_SREGS, &sregs))
		die_errno("KVM_GET_SREGS");
	flat_segment(&sregs.cs, BOOT_CS, true);
	flat_segment(&sregs.ds, BOOT_DS, false);
	sregs.es = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;
	sregs.ss = sregs.ds;
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.cr0 = 0x80010033;		/* PG WP NE ET MP PE */
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 = 0x20;		/* PAE */
	sregs.efer = 0x500;		/* LMA LME */
	if (ioctl(fd, KVM_SET_SREGS, &sregs))
		die_errno("KVM_SET_SREGS");
	if (ioctl(fd, KVM_SET_REGS, &regs))
		die_errno("KVM_SET_REGS");
	if (ioctl(fd, KVM_SET_FPU, &fpu))
		die_errno("KVM_SET_FPU");
}
