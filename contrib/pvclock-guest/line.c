/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * Lines of the serial exchange (line.h).
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "line.h"

/* One byte: 1, 0 at EOF or on a timeout, -1 on an error. */
static int read_byte(int fd, char *c, int timeout_ms)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t r;

        /* serve blocks in read(): no poll() before the host's question */
        if (timeout_ms >= 0) {
            int n = poll(&p, 1, timeout_ms);

            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return n;
            }
        }
        r = read(fd, c, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        return r < 0 ? -1 : (int)r;
    }
}

int line_read(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;

    while (n + 1 < len) {
        char c;
        int r = read_byte(fd, &c, timeout_ms);

        if (r <= 0) {
            return r == 0 && n == 0 ? 0 : -1;
        }
        if (c == '\r') {
            continue;
        }
        if (c == '\n') {
            break;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 1;
}

int line_write(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}
