/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The serial exchange's lines, read and written the same way on both
 * ends: pvclock-guest serve and pvclock-exchange.
 */
#ifndef PVCLOCK_GUEST_LINE_H
#define PVCLOCK_GUEST_LINE_H

#include <stddef.h>

/*
 * Read one '\n'-terminated line into buf (without it, '\r' dropped),
 * waiting at most timeout_ms for each byte (-1: for ever).  1 with a
 * line, 0 at EOF or on a timeout, -1 on an error.
 */
int line_read(int fd, char *buf, size_t len, int timeout_ms);

/* Write all of buf; 0, or -1 with errno. */
int line_write(int fd, const char *buf, size_t len);

#endif /* PVCLOCK_GUEST_LINE_H */
