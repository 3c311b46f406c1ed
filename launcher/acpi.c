// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest ACPI tables that give a Linux guest its CPUs and a way to
 * power off: an RSDP in the BIOS area, an XSDT, a MADT listing one LAPIC
 * per vCPU and the IOAPIC, a FADT whose PM1a control block is a port
 * modvm-run watches for the S5 sleep command, a FACS, and a DSDT holding
 * the \_S5 package and one device per in-kernel virtio-mmio device.
 * Layouts from the ACPI 6 specification.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aml.h"
#include "launcher.h"

#define IOAPIC_ADDR		0xfec00000U
#define LAPIC_ADDR		0xfee00000U

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

/* FADT as of ACPI 2.0 (revision 3, 244 bytes); unused X_ blocks zero. */
struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl, dsdt;
	uint8_t reserved0, preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	uint8_t reset_reg[12];
	uint8_t reset_value, reserved2[3];
	uint64_t x_firmware_ctrl, x_dsdt;
	uint8_t x_blocks[8][12];
} __attribute__((packed));

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint8_t rest[56];
} __attribute__((packed));

struct madt_lapic {
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, ioapic_id, reserved;
	uint32_t address, gsi_base;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length, processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

/* Offsets of each table inside the ACPI area; the DSDT takes the rest. */
#define RSDP_OFF	0x000
#define XSDT_OFF	0x040
#define FADT_OFF	0x100
#define FACS_OFF	0x200	/* 64-byte aligned, as the FACS must be */
#define MADT_OFF	0x400	/* 0x23e bytes with MAX_CPUS LAPICs */
#define DSDT_OFF	0x800

#define FADT_WBINVD		(1U << 0)
#define FADT_PWR_BUTTON		(1U << 4)	/* no fixed power button */
#define FADT_SLP_BUTTON		(1U << 5)
#define BOOT_ARCH_NO_VGA	(1U << 2)	/* and no 8042 bit: no i8042 to probe */
#define CMOS_CENTURY		0x32

/* What Linux's virtio_mmio driver matches (virtio_mmio_acpi_match). */
#define VIRTIO_MMIO_HID	"LNRO0005"

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return -sum;
}

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, "MODVM ", 6);
	memcpy(h->oem_table_id, "MODVMRUN", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "MVMR", 4);
	h->creator_revision = 1;
	h->checksum = 0;
	h->checksum = checksum(h, len);
}

static uint32_t build_madt(const struct vm *vm, uint8_t *base)
{
	uint8_t *p = base + sizeof(struct acpi_header);
	struct madt_ioapic *io;
	struct madt_lapic_nmi *nmi;
	int i;

	*(uint32_t *)p = LAPIC_ADDR;
	*(uint32_t *)(p + 4) = 1;	/* PCAT_COMPAT: 8259s present */
	p += 8;
	for (i = 0; i < vm->ncpus; i++) {
		struct madt_lapic *l = (struct madt_lapic *)p;

		*l = (struct madt_lapic){ .type = 0, .length = sizeof(*l),
					  .processor_uid = i, .apic_id = i,
					  .flags = 1 /* enabled */ };
		p += sizeof(*l);
	}
	io = (struct madt_ioapic *)p;
	*io = (struct madt_ioapic){ .type = 1, .length = sizeof(*io),
				    .ioapic_id = vm->ncpus, .address = IOAPIC_ADDR };
	p += sizeof(*io);
	nmi = (struct madt_lapic_nmi *)p;
	*nmi = (struct madt_lapic_nmi){ .type = 4, .length = sizeof(*nmi),
					.processor_uid = 0xff, .lint = 1 };
	p += sizeof(*nmi);
	return p - base;
}

/*
 * Device (VRnn) { Name (_HID, "LNRO0005"), Name (_UID, n), Name (_CRS,
 * ResourceTemplate () { Memory32Fixed (ReadWrite, base, 0x1000),
 * Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi } }) },
 * Shared instead of Exclusive where devices share the pin.
 */
static void describe_virtio(struct aml *aml, int index, const struct virtio_device *dev)
{
	uint8_t crs[32];
	struct aml res;
	char name[5];
	size_t device;

	snprintf(name, sizeof(name), "VR%02d", index % 100);
	device = aml_device_begin(aml, name);
	aml_name(aml, "_HID");
	aml_string(aml, VIRTIO_MMIO_HID);
	aml_name(aml, "_UID");
	aml_integer(aml, index);

	aml_init(&res, crs, sizeof(crs), "a virtio _CRS");
	aml_res_memory32_fixed(&res, true, dev->mmio_base, VIRTIO_MMIO_SIZE);
	aml_res_interrupt(&res, AML_IRQ_CONSUMER | (dev->shared_gsi ? AML_IRQ_SHARED : 0),
			  dev->gsi);	/* level, high */
	aml_res_end(&res);
	aml_name(aml, "_CRS");
	aml_buffer(aml, res.buf, res.len);
	aml_end(aml, device);
}

/* Returns the table's length. */
static uint32_t build_dsdt(const struct vm *vm, uint8_t *base, size_t room)
{
	struct aml aml;
	size_t package, scope;
	int i;

	aml_init(&aml, base + sizeof(struct acpi_header),
		 room - sizeof(struct acpi_header), "the DSDT");
	/* The SLP_TYP that the PM1a control port receives for poweroff. */
	aml_name(&aml, "_S5");
	package = aml_package_begin(&aml, 4);
	aml_integer(&aml, ACPI_S5_TYPE);
	aml_integer(&aml, ACPI_S5_TYPE);
	aml_integer(&aml, 0);
	aml_integer(&aml, 0);
	aml_end(&aml, package);
	if (vm->nvirtio) {
		scope = aml_scope_begin(&aml, "\\_SB");
		for (i = 0; i < vm->nvirtio; i++)
			describe_virtio(&aml, i, &vm->virtio[i]);
		aml_end(&aml, scope);
	}
	return sizeof(struct acpi_header) + aml.len;
}

/* The tables in @area, which the guest sees at ACPI_ADDR. */
static void build_tables(const struct vm *vm, uint8_t *area)
{
	struct acpi_rsdp *rsdp = (struct acpi_rsdp *)(area + RSDP_OFF);
	struct acpi_header *xsdt = (struct acpi_header *)(area + XSDT_OFF);
	struct acpi_fadt *fadt = (struct acpi_fadt *)(area + FADT_OFF);
	struct acpi_facs *facs = (struct acpi_facs *)(area + FACS_OFF);
	struct acpi_header *dsdt = (struct acpi_header *)(area + DSDT_OFF);
	uint64_t *xsdt_entries = (uint64_t *)(xsdt + 1);
	uint32_t len;

	memset(area, 0, ACPI_SIZE);

	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);

	len = build_dsdt(vm, area + DSDT_OFF, ACPI_SIZE - DSDT_OFF);
	header(dsdt, "DSDT", len, 2);

	fadt->firmware_ctrl = ACPI_ADDR + FACS_OFF;
	fadt->dsdt = ACPI_ADDR + DSDT_OFF;
	fadt->sci_int = ACPI_SCI_IRQ;
	/* smi_cmd 0: the machine is always in ACPI mode. */
	fadt->pm1a_evt_blk = PM1A_EVT_PORT;
	fadt->pm1a_cnt_blk = PM1A_CNT_PORT;
	fadt->pm1_evt_len = 4;
	fadt->pm1_cnt_len = 2;
	fadt->p_lvl2_lat = 101;		/* > 100: no C2 */
	fadt->p_lvl3_lat = 1001;	/* > 1000: no C3 */
	fadt->century = CMOS_CENTURY;
	fadt->iapc_boot_arch = BOOT_ARCH_NO_VGA;
	fadt->flags = FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON;
	header(&fadt->h, "FACP", sizeof(*fadt), 3);

	len = build_madt(vm, area + MADT_OFF);
	if (len > DSDT_OFF - MADT_OFF)
		die("ACPI: the MADT (%u bytes) overlaps the DSDT", len);
	header((struct acpi_header *)(area + MADT_OFF), "APIC", len, 3);

	xsdt_entries[0] = ACPI_ADDR + FADT_OFF;
	xsdt_entries[1] = ACPI_ADDR + MADT_OFF;
	header(xsdt, "XSDT", sizeof(*xsdt) + 2 * sizeof(uint64_t), 1);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, "MODVM ", 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = ACPI_ADDR + XSDT_OFF;
	rsdp->checksum = checksum(rsdp, 20);
	rsdp->extended_checksum = checksum(rsdp, sizeof(*rsdp));
}

uint64_t acpi_build(struct vm *vm)
{
	build_tables(vm, gpa_to_hva(vm, ACPI_ADDR, ACPI_SIZE));
	return ACPI_ADDR + RSDP_OFF;
}

static void dump_table(const char *dir, const char *name, const void *table, size_t len)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s.dat", dir, name) >= (int)sizeof(path))
		die("--dump-acpi %s: path too long", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die_errno("--dump-acpi: %s", path);
	if (write(fd, table, len) != (ssize_t)len || close(fd))
		die_errno("--dump-acpi: write to %s", path);
}

/* The tables the RSDP leads to, named as acpixtract names them, for iasl -d. */
void acpi_dump(const struct vm *vm, const char *dir)
{
	static const struct { const char *name; size_t off; } tables[] = {
		{ "xsdt", XSDT_OFF }, { "facp", FADT_OFF }, { "apic", MADT_OFF },
		{ "dsdt", DSDT_OFF },
	};
	uint8_t *area = calloc(1, ACPI_SIZE);
	const struct acpi_facs *facs;
	size_t i;

	if (!area)
		die("out of memory");
	build_tables(vm, area);
	facs = (const struct acpi_facs *)(area + FACS_OFF);
	dump_table(dir, "facs", facs, facs->length);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		const struct acpi_header *h = (const void *)(area + tables[i].off);

		dump_table(dir, tables[i].name, h, h->length);
	}
	free(area);
}
