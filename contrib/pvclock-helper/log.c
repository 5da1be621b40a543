/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's log.  See log.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void helper_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("pvclock-helper: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
