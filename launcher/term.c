// SPDX-License-Identifier: GPL-2.0
/*
 * The host terminal: raw while the guest owns the console (the guest's own
 * tty layer echoes and translates), restored on every way out: normal
 * exit, die(), and the signals main() catches.
 */
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "launcher.h"

static struct termios saved;
static volatile sig_atomic_t is_raw;

void term_restore(void)
{
	if (is_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		is_raw = 0;
	}
}

void term_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved))
		return;
	t = saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
		return;
	is_raw = 1;
	atexit(term_restore);
}
