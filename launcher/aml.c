// SPDX-License-Identifier: GPL-2.0
/*
 * ACPI Machine Language encoder (ACPI 6 specification, chapter 20, and the
 * resource descriptors of section 6.4). See aml.h.
 */
#include <string.h>

#include "aml.h"
#include "launcher.h"

#define AML_ZERO_OP		0x00
#define AML_ONE_OP		0x01
#define AML_NAME_OP		0x08
#define AML_BYTE_PREFIX		0x0a
#define AML_WORD_PREFIX		0x0b
#define AML_DWORD_PREFIX	0x0c
#define AML_STRING_PREFIX	0x0d
#define AML_QWORD_PREFIX	0x0e
#define AML_SCOPE_OP		0x10
#define AML_BUFFER_OP		0x11
#define AML_PACKAGE_OP		0x12
#define AML_DUAL_NAME_PREFIX	0x2e
#define AML_MULTI_NAME_PREFIX	0x2f
#define AML_EXT_OP_PREFIX	0x5b
#define AML_DEVICE_OP		0x82	/* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR		'\\'
#define AML_PARENT_PREFIX_CHAR	'^'

#define AML_NAME_SEG_SIZE	4

/* Large resource items: tag byte, then a 16-bit length of what follows. */
#define RES_LARGE_ITEM		0x80
#define RES_MEMORY32_FIXED	0x06
#define RES_EXTENDED_IRQ	0x09
/* Small End Tag: type 0xf, one byte (the checksum) follows. */
#define RES_END_TAG		((0x0f << 3) | 1)

void aml_init(struct aml *aml, uint8_t *buf, size_t cap, const char *what)
{
	aml->buf = buf;
	aml->len = 0;
	aml->cap = cap;
	aml->what = what;
}

static void reserve(struct aml *aml, size_t len)
{
	if (len > aml->cap - aml->len)
		die("%s does not fit in its %zu bytes", aml->what, aml->cap);
}

void aml_bytes(struct aml *aml, const void *data, size_t len)
{
	reserve(aml, len);
	memcpy(aml->buf + aml->len, data, len);
	aml->len += len;
}

static void put_byte(struct aml *aml, uint8_t b)
{
	aml_bytes(aml, &b, 1);
}

/* @size little-endian bytes of @value. */
static void put_le(struct aml *aml, uint64_t value, int size)
{
	while (size--) {
		put_byte(aml, value & 0xff);
		value >>= 8;
	}
}

static bool is_lead_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

/* NameSeg: a lead character, then up to three more, padded with '_'. */
static void name_seg(struct aml *aml, const char *seg, size_t len)
{
	char padded[AML_NAME_SEG_SIZE] = { '_', '_', '_', '_' };
	size_t i;

	if (!len || len > AML_NAME_SEG_SIZE || !is_lead_name_char(seg[0]))
		die("AML: bad name segment '%.*s'", (int)len, seg);
	for (i = 0; i < len; i++) {
		if (!is_lead_name_char(seg[i]) && !(seg[i] >= '0' && seg[i] <= '9'))
			die("AML: bad name segment '%.*s'", (int)len, seg);
		padded[i] = seg[i];
	}
	aml_bytes(aml, padded, sizeof(padded));
}

void aml_name_string(struct aml *aml, const char *path)
{
	const char *p = path, *dot;
	int segs = 0;

	if (*p == AML_ROOT_CHAR) {
		put_byte(aml, *p++);
	} else {
		while (*p == AML_PARENT_PREFIX_CHAR)
			put_byte(aml, *p++);
	}
	if (!*p) {
		put_byte(aml, 0);	/* NullName: "\" alone */
		return;
	}
	for (dot = p; dot; dot = strchr(dot + 1, '.'))
		segs++;
	if (segs > 255)
		die("AML: name '%s' has too many segments", path);
	if (segs == 2) {
		put_byte(aml, AML_DUAL_NAME_PREFIX);
	} else if (segs > 2) {
		put_byte(aml, AML_MULTI_NAME_PREFIX);
		put_byte(aml, segs);
	}
	while (segs--) {
		dot = strchr(p, '.');
		name_seg(aml, p, dot ? (size_t)(dot - p) : strlen(p));
		p = dot ? dot + 1 : p;
	}
}

void aml_integer(struct aml *aml, uint64_t value)
{
	if (value == 0) {
		put_byte(aml, AML_ZERO_OP);
	} else if (value == 1) {
		put_byte(aml, AML_ONE_OP);
	} else if (value <= UINT8_MAX) {
		put_byte(aml, AML_BYTE_PREFIX);
		put_le(aml, value, 1);
	} else if (value <= UINT16_MAX) {
		put_byte(aml, AML_WORD_PREFIX);
		put_le(aml, value, 2);
	} else if (value <= UINT32_MAX) {
		put_byte(aml, AML_DWORD_PREFIX);
		put_le(aml, value, 4);
	} else {
		put_byte(aml, AML_QWORD_PREFIX);
		put_le(aml, value, 8);
	}
}

void aml_string(struct aml *aml, const char *s)
{
	const char *c;

	for (c = s; *c; c++)
		if ((unsigned char)*c > 0x7f)
			die("AML: string '%s' is not ASCII", s);
	put_byte(aml, AML_STRING_PREFIX);
	aml_bytes(aml, s, strlen(s) + 1);
}

void aml_name(struct aml *aml, const char *name)
{
	put_byte(aml, AML_NAME_OP);
	aml_name_string(aml, name);
}

/*
 * PkgLength counts itself: one byte up to 63, else a lead byte holding its
 * count of following bytes (bits 7-6) and the low 4 bits of the length,
 * then the rest of the length 8 bits at a time.
 */
void aml_end(struct aml *aml, size_t start)
{
	size_t contents = aml->len - start, total;
	int n;

	for (n = 1; n <= 4; n++) {
		total = contents + n;
		if (n == 1 ? total <= 0x3f : total < (1ULL << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4)
		die("AML: object of %zu bytes is too long for a PkgLength", contents);
	reserve(aml, n);
	memmove(aml->buf + start + n, aml->buf + start, contents);
	if (n == 1) {
		aml->buf[start] = total;
	} else {
		int i;

		aml->buf[start] = (n - 1) << 6 | (total & 0x0f);
		for (i = 1; i < n; i++)
			aml->buf[start + i] = total >> (4 + 8 * (i - 1));
	}
	aml->len += n;
}

size_t aml_scope_begin(struct aml *aml, const char *path)
{
	size_t start;

	put_byte(aml, AML_SCOPE_OP);
	start = aml->len;
	aml_name_string(aml, path);
	return start;
}

size_t aml_device_begin(struct aml *aml, const char *name)
{
	size_t start;

	put_byte(aml, AML_EXT_OP_PREFIX);
	put_byte(aml, AML_DEVICE_OP);
	start = aml->len;
	aml_name_string(aml, name);
	return start;
}

size_t aml_package_begin(struct aml *aml, uint8_t elements)
{
	size_t start;

	put_byte(aml, AML_PACKAGE_OP);
	start = aml->len;
	put_byte(aml, elements);
	return start;
}

void aml_buffer(struct aml *aml, const void *data, size_t len)
{
	size_t start;

	put_byte(aml, AML_BUFFER_OP);
	start = aml->len;
	aml_integer(aml, len);
	aml_bytes(aml, data, len);
	aml_end(aml, start);
}

static void res_large_item(struct aml *aml, uint8_t type, uint16_t len)
{
	put_byte(aml, RES_LARGE_ITEM | type);
	put_le(aml, len, 2);
}

void aml_res_memory32_fixed(struct aml *aml, bool writable, uint32_t base, uint32_t size)
{
	res_large_item(aml, RES_MEMORY32_FIXED, 9);
	put_byte(aml, writable ? 1 : 0);
	put_le(aml, base, 4);
	put_le(aml, size, 4);
}

void aml_res_interrupt(struct aml *aml, uint8_t flags, uint32_t gsi)
{
	res_large_item(aml, RES_EXTENDED_IRQ, 2 + 4);
	put_byte(aml, flags);
	put_byte(aml, 1);		/* interrupt table length */
	put_le(aml, gsi, 4);
}

void aml_res_end(struct aml *aml)
{
	put_byte(aml, RES_END_TAG);
	put_byte(aml, 0);		/* checksum 0: "treated as correct" */
}
