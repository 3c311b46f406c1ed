// SPDX-License-Identifier: GPL-2.0
/*
 * Port I/O of the userspace devices: COM1 (serial.c), the i8042 reset
 * line, CMOS/RTC with the host's time, the ACPI PM1a blocks (poweroff),
 * the 0xcf9 reset control. The PIC, IOAPIC, PIT and speaker port are in
 * the kernel. Anything else (port 0x80 POST codes, probes for absent
 * devices) reads as all ones, as on an empty ISA bus, and ignores writes.
 */
#include <string.h>
#include <time.h>

#include "launcher.h"

#define I8042_DATA		0x60
#define I8042_CMD		0x64
#define I8042_CMD_RESET		0xfe
#define CMOS_INDEX		0x70
#define CMOS_DATA		0x71
#define RESET_CONTROL		0xcf9
#define RESET_CONTROL_RESET	0x04

#define PM1_SCI_EN		0x0001
#define PM1_SLP_EN		0x2000
#define PM1_SLP_TYP_SHIFT	10

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t cmos_index;
static uint16_t pm1_cnt = PM1_SCI_EN, pm1_en;

static uint8_t bcd(int v)
{
	return (v / 10) << 4 | v % 10;
}

/* Registers of an MC146818 in BCD, 24-hour mode, never mid-update. */
static uint8_t cmos_read(uint8_t index)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (index) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd((tm.tm_year + 1900) / 100);
	case 0x0a: return 0x26;		/* 32.768 kHz base, 1024 Hz, no UIP */
	case 0x0b: return 0x02;		/* 24-hour, BCD, no interrupts */
	case 0x0c: return 0x00;
	case 0x0d: return 0x80;		/* valid RAM and time */
	default: return 0x00;
	}
}

/* PM1a: no event is ever raised; enable bits only read back. */
static void pm_write(uint16_t port, int size, uint32_t val)
{
	if (port == PM1A_EVT_PORT + 2 && size >= 2)
		pm1_en = val;
	if (port == PM1A_EVT_PORT && size == 4)
		pm1_en = val >> 16;
	if (port != PM1A_CNT_PORT)
		return;
	pm1_cnt = (val & ~PM1_SLP_EN) | PM1_SCI_EN;
	if ((val & PM1_SLP_EN) && ((val >> PM1_SLP_TYP_SHIFT) & 7) == ACPI_S5_TYPE)
		vm_exit(0, NULL);
}

void devices_init(struct vm *vm)
{
	(void)vm;
}

void devices_pio(struct vm *vm, uint16_t port, bool out, uint8_t *data, int size)
{
	uint32_t val = 0;

	(void)vm;
	if (serial_pio(port, out, data))
		return;
	if (out)
		memcpy(&val, data, size);
	pthread_mutex_lock(&lock);
	switch (port) {
	case I8042_CMD:
		if (out && (val & 0xff) == I8042_CMD_RESET)
			vm_exit(0, NULL);	/* reboot=k */
		if (!out)
			val = 0;	/* no data, input buffer empty */
		break;
	case I8042_DATA:
		val = 0;
		break;
	case CMOS_INDEX:
		if (out)
			cmos_index = val & 0x7f;	/* bit 7 masks NMIs */
		else
			val = 0xff;
		break;
	case CMOS_DATA:
		if (!out)
			val = cmos_read(cmos_index);
		break;
	case RESET_CONTROL:
		if (out && size == 1 && (val & RESET_CONTROL_RESET))
			vm_exit(0, NULL);
		if (!out)
			val = 0;
		break;
	case PM1A_EVT_PORT ... PM1A_EVT_PORT + 3:
		if (out)
			pm_write(port, size, val);
		else if (port == PM1A_EVT_PORT + 2)
			val = pm1_en;
		else
			val = port == PM1A_EVT_PORT && size == 4 ? (uint32_t)pm1_en << 16 : 0;
		break;
	case PM1A_CNT_PORT:
		if (out)
			pm_write(port, size, val);
		else
			val = pm1_cnt;
		break;
	default:
		val = 0xffffffff;
		break;
	}
	pthread_mutex_unlock(&lock);
	if (!out)
		memcpy(data, &val, size);
}
