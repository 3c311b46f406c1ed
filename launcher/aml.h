/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small encoder of ACPI Machine Language (ACPI 6 specification, chapter
 * 20) and of the resource descriptors a _CRS buffer holds (section 6.4):
 * what modvm-run's DSDT needs, written into a caller's buffer.
 *
 * Objects with a PkgLength (Scope, Device, Package) are opened with their
 * *_begin() function, filled, and closed with aml_end(), which inserts the
 * PkgLength once the size of their contents is known.
 */
#ifndef MODVM_RUN_AML_H
#define MODVM_RUN_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	const char *what;	/* names the buffer in the overflow error */
};

void aml_init(struct aml *aml, uint8_t *buf, size_t cap, const char *what);
void aml_bytes(struct aml *aml, const void *data, size_t len);

/* A NameString: "\\_SB", "_HID", "^PARENT.CHLD"; segments are padded with '_'. */
void aml_name_string(struct aml *aml, const char *path);
/* Integer with the shortest encoding: Zero, One, Byte/Word/DWord/QWordConst. */
void aml_integer(struct aml *aml, uint64_t value);
/* String of ASCII characters 0x01-0x7f. */
void aml_string(struct aml *aml, const char *s);
/* Buffer (n) { data }. */
void aml_buffer(struct aml *aml, const void *data, size_t len);

/* Name (NAME, object): the caller appends the object. */
void aml_name(struct aml *aml, const char *name);

/* Each returns what aml_end() takes to close the object. */
size_t aml_scope_begin(struct aml *aml, const char *path);
size_t aml_device_begin(struct aml *aml, const char *name);
size_t aml_package_begin(struct aml *aml, uint8_t elements);
void aml_end(struct aml *aml, size_t start);

/*
 * Resource descriptors, appended to a struct aml that holds the bytes of
 * a ResourceTemplate; aml_res_end() closes it, then aml_buffer() puts it
 * in the table.
 */
void aml_res_memory32_fixed(struct aml *aml, bool writable, uint32_t base, uint32_t size);

/* Extended Interrupt descriptor flags; 0 is Level, ActiveHigh, Exclusive. */
#define AML_IRQ_CONSUMER	(1U << 0)	/* else ResourceProducer */
#define AML_IRQ_EDGE		(1U << 1)
#define AML_IRQ_ACTIVE_LOW	(1U << 2)
#define AML_IRQ_SHARED		(1U << 3)
#define AML_IRQ_WAKE		(1U << 4)

void aml_res_interrupt(struct aml *aml, uint8_t flags, uint32_t gsi);
void aml_res_end(struct aml *aml);

#endif /* MODVM_RUN_AML_H */
