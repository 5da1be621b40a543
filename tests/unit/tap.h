/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal TAP output for the unit tests: one "ok"/"not ok" line per
 * check, a plan at the end, exit status 1 if anything failed.
 */
#ifndef PVCLOCK_TAP_H
#define PVCLOCK_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_count++;
    if (!cond) {
        tap_failed++;
    }
    printf("%s %d - ", cond ? "ok" : "not ok", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* One test that cannot run here: counted, passes, says why. */
static __attribute__((unused)) void tap_skip(const char *what,
                                             const char *why)
{
    printf("ok %d - %s # SKIP %s\n", ++tap_count, what, why);
}

__attribute__((format(printf, 1, 2), unused))
static int tap_skip_all(const char *fmt, ...)
{
    va_list ap;

    printf("1..0 # SKIP ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return 0;
}

__attribute__((unused))
static int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif /* PVCLOCK_TAP_H */
