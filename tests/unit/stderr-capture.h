/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the code under test writes to stderr (the helper's log lines and
 * getopt's messages), captured so that a test can compare it byte for
 * byte: capture_begin(), the call, capture_end().
 */
#ifndef PVCLOCK_STDERR_CAPTURE_H
#define PVCLOCK_STDERR_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static FILE *capture_file;
static int capture_saved_fd = -1;

static __attribute__((unused)) void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    capture_saved_fd = dup(STDERR_FILENO);
    if (!capture_file || capture_saved_fd < 0 ||
        dup2(fileno(capture_file), STDERR_FILENO) < 0) {
        perror("capturing stderr");
        exit(1);
    }
}

/* Everything written since capture_begin(), up to 4 KiB. */
static __attribute__((unused)) const char *capture_end(void)
{
    static char buf[4096];
    size_t n;

    fflush(stderr);
    dup2(capture_saved_fd, STDERR_FILENO);
    close(capture_saved_fd);
    rewind(capture_file);
    n = fread(buf, 1, sizeof(buf) - 1, capture_file);
    buf[n] = 0;
    fclose(capture_file);
    return buf;
}

#endif /* PVCLOCK_STDERR_CAPTURE_H */
