// SPDX-License-Identifier: GPL-2.0
/*
 * COM1: a 16550A UART at 0x3f8, IRQ 4, wired to stdout (transmit) and
 * stdin (receive). Transmission is instant, so the transmitter is always
 * empty; received bytes wait in a 16-byte FIFO the guest drains. The
 * interrupt line follows the pending causes and goes through
 * KVM_IRQ_LINE; the line is edge-triggered at the PIC and IOAPIC, so a
 * new cause of the same kind drops and raises it again.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "launcher.h"

#define UART_RBR_THR	0	/* DLL with DLAB */
#define UART_IER	1	/* DLM with DLAB */
#define UART_IIR_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_CTS_DSR_DCD	0xb0

#define FIFO_SIZE	16
#define ESCAPE_CHAR	0x01	/* Ctrl-A, then x quits */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t room;
	struct vm *vm;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_pending;	/* THR-empty interrupt not yet acknowledged */
	int irq_level;
	uint8_t fifo[FIFO_SIZE];
	unsigned int head, count;
} uart = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
	.dll = 12,	/* 9600 baud, as firmware leaves it */
};

static uint8_t pending_iir(void)
{
	if ((uart.ier & IER_RDI) && uart.count)
		return IIR_RDI;
	if ((uart.ier & IER_THRI) && uart.thr_pending)
		return IIR_THRI;
	return IIR_NO_INT;
}

static void update_irq(void)
{
	struct kvm_irq_level irq = { .irq = COM1_IRQ };
	int level = pending_iir() != IIR_NO_INT;

	if (level == uart.irq_level)
		return;
	uart.irq_level = level;
	irq.level = level;
	if (ioctl(uart.vm->vm_fd, KVM_IRQ_LINE, &irq))
		die_errno("KVM_IRQ_LINE %d", COM1_IRQ);
}

static void receive(uint8_t c)
{
	uart.fifo[(uart.head + uart.count) % FIFO_SIZE] = c;
	uart.count++;
}

static void transmit(uint8_t c)
{
	ssize_t r;

	uart.thr_pending = false;
	update_irq();
	if (uart.mcr & MCR_LOOP) {
		if (uart.count < FIFO_SIZE)
			receive(c);
	} else {
		do {
			r = write(STDOUT_FILENO, &c, 1);
		} while (r < 0 && errno == EINTR);
	}
	uart.thr_pending = true;
	update_irq();
}

static uint8_t uart_read(int reg)
{
	uint8_t v = 0, iir;

	switch (reg) {
	case UART_RBR_THR:
		if (uart.lcr & LCR_DLAB)
			return uart.dll;
		if (uart.count) {
			v = uart.fifo[uart.head];
			uart.head = (uart.head + 1) % FIFO_SIZE;
			uart.count--;
			pthread_cond_signal(&uart.room);
		}
		break;
	case UART_IER:
		return uart.lcr & LCR_DLAB ? uart.dlm : uart.ier;
	case UART_IIR_FCR:
		iir = pending_iir();
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if (iir == IIR_THRI)
			uart.thr_pending = false;
		v = iir | (uart.fcr & FCR_ENABLE ? IIR_FIFO : 0);
		break;
	case UART_LCR:
		return uart.lcr;
	case UART_MCR:
		return uart.mcr;
	case UART_LSR:
		return (uart.count ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
	case UART_MSR:
		if (!(uart.mcr & MCR_LOOP))
			return MSR_CTS_DSR_DCD;
		/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
		return (uart.mcr & 0x01) << 5 | (uart.mcr & 0x02) << 3 |
		       (uart.mcr & 0x04) << 4 | (uart.mcr & 0x08) << 4;
	case UART_SCR:
		return uart.scr;
	}
	update_irq();
	return v;
}

static void uart_write(int reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR_THR:
		if (uart.lcr & LCR_DLAB)
			uart.dll = v;
		else
			transmit(v);
		return;
	case UART_IER:
		if (uart.lcr & LCR_DLAB) {
			uart.dlm = v;
			return;
		}
		/* Enabling THRI with an empty THR raises it at once. */
		if ((v & IER_THRI) && !(uart.ier & IER_THRI))
			uart.thr_pending = true;
		uart.ier = v & 0x0f;
		break;
	case UART_IIR_FCR:
		uart.fcr = v & 0xc9;	/* enable, DMA mode, trigger level */
		if (v & FCR_CLEAR_RX) {
			uart.count = 0;
			pthread_cond_signal(&uart.room);
		}
		break;
	case UART_LCR:
		uart.lcr = v;
		break;
	case UART_MCR:
		uart.mcr = v & 0x1f;
		break;
	case UART_SCR:
		uart.scr = v;
		break;
	}
	update_irq();
}

bool serial_pio(uint16_t port, bool out, uint8_t *data)
{
	if (port < COM1_PORT || port > COM1_PORT + 7)
		return false;
	pthread_mutex_lock(&uart.lock);
	if (out)
		uart_write(port - COM1_PORT, *data);
	else
		*data = uart_read(port - COM1_PORT);
	pthread_mutex_unlock(&uart.lock);
	return true;
}

void serial_init(struct vm *vm)
{
	uart.vm = vm;
}

/* Hand one byte to the guest, waiting while its FIFO is full. */
static void feed(uint8_t c)
{
	pthread_mutex_lock(&uart.lock);
	while (uart.count == FIFO_SIZE)
		pthread_cond_wait(&uart.room, &uart.lock);
	receive(c);
	update_irq();
	pthread_mutex_unlock(&uart.lock);
}

static void *input_thread(void *opaque)
{
	bool tty = isatty(STDIN_FILENO), escape = false;
	uint8_t buf[256];
	ssize_t n, i;

	(void)opaque;
	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;	/* EOF: the guest just gets no more input */
		for (i = 0; i < n; i++) {
			if (tty && escape) {
				escape = false;
				if (buf[i] == 'x')
					vm_exit(0, "quit (Ctrl-A x)");
				if (buf[i] != ESCAPE_CHAR)
					feed(ESCAPE_CHAR);
			} else if (tty && buf[i] == ESCAPE_CHAR) {
				escape = true;
				continue;
			}
			feed(buf[i]);
		}
	}
}

void serial_start_input(void)
{
	pthread_t tid;

	if (pthread_create(&tid, NULL, input_thread, NULL))
		die("cannot start the serial input thread");
}
