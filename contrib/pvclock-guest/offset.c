/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest offset: how far a clock of this guest is from the host's
 * CLOCK_REALTIME, which the device gives exactly.  Each sample reads the
 * guest's counter, the clock (--clock: the guest's own CLOCK_REALTIME by
 * default, or a PHC), and the counter again, and has the device say the
 * host's REALTIME at both counter values (pvclock_gettime_at()); the
 * offset is the clock minus the midpoint of those two, and the bracket
 * is their distance.  Bracketing with counter reads rather than with two
 * device reads keeps the bracket to the clock's own read: under TCG a
 * read of the BAR takes microseconds, a counter read does not.  Each
 * sample is the best (narrowest bracket) of GUEST_CLOCK_TRIES tries in a
 * row (guest_clock_sample(), which the chrony feeder uses too),
 * as chronyd takes its best readings, so that an interrupt inside one
 * try does not pass for an offset.  A clock that is the host's own (the
 * pvclock-pages PHC) must lie inside every bracket.
 *
 * It prints one summary line: the median, 99th percentile and largest
 * |offset|, the mean signed offset, the median bracket, how many tries
 * fell outside their bracket and how far the farthest of them was.
 * This is how docs/driver.md measures how well chronyd disciplines a
 * guest (bench/phc.sh).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "guest.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n sorted values, by nearest rank. */
static int64_t quantile(const int64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);

    return sorted[rank ? (rank > n ? n : rank) - 1 : 0];
}

static void offset_summary(const struct guest_clock *gc,
                           const struct guest_clock_sample *s, size_t n,
                           unsigned long long errors)
{
    int64_t *mag = malloc(n * sizeof(*mag)), *br = malloc(n * sizeof(*br));
    int64_t sum = 0;
    size_t outside = 0, worst = 0;
    int64_t excursion = 0;

    if (!mag || !br) {
        fprintf(stderr, "pvclock-guest: out of memory\n");
        free(mag);
        free(br);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        mag[i] = s[i].offset < 0 ? -s[i].offset : s[i].offset;
        br[i] = s[i].bracket;
        sum += s[i].offset;
        outside += s[i].outside;
        excursion = s[i].excursion > excursion ? s[i].excursion : excursion;
        if (mag[i] > (s[worst].offset < 0 ? -s[worst].offset
                                          : s[worst].offset)) {
            worst = i;
        }
    }
    qsort(mag, n, sizeof(*mag), cmp_i64);
    qsort(br, n, sizeof(*br), cmp_i64);
    /* the worst sample's own bracket says whether to believe it */
    printf("offset: %s - host REALTIME: %zu samples (best of %d), |offset| "
           "median %" PRId64 " ns, p99 %" PRId64 " ns, max %" PRId64 " ns, "
           "mean %" PRId64 " ns; bracket median %" PRId64 " ns; %zu tries "
           "outside their bracket; %llu errors; worst: sample %zu, offset %"
           PRId64 " ns, bracket %" PRId64 " ns; farthest outside a bracket %"
           PRId64 " ns\n",
           gc->device ? "device" : gc->name, n, GUEST_CLOCK_TRIES,
           quantile(mag, n, 0.5), quantile(mag, n, 0.99), mag[n - 1],
           sum / (int64_t)n, quantile(br, n, 0.5), outside, errors, worst,
           s[worst].offset, s[worst].bracket, excursion);
    free(mag);
    free(br);
}

static int offset_run(struct pvclock *pc, const struct guest_opts *o)
{
    struct timespec next, pause;
    struct guest_clock gc;
    struct guest_clock_sample *s;
    unsigned long long errors = 0;
    size_t n = 0, max;

    if (o->interval_ms < 1 || o->seconds < 1 ||
        o->seconds * 1000 / o->interval_ms > 10000000) {
        fprintf(stderr, "pvclock-guest: offset needs --seconds >= 1 and "
                "--interval-ms >= 1, at most 10^7 samples\n");
        return 2;
    }
    if (guest_clock_open(o->clock ? o->clock : "system", &gc) < 0) {
        return 2;
    }
    max = (size_t)(o->seconds * 1000 / o->interval_ms) + 1;
    s = calloc(max, sizeof(*s));
    if (!s) {
        fprintf(stderr, "pvclock-guest: out of memory for %zu samples\n", max);
        guest_clock_close(&gc);
        return 1;
    }
    pause.tv_sec = o->interval_ms / 1000;
    pause.tv_nsec = (o->interval_ms % 1000) * 1000000;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (n < max) {
        if (guest_clock_sample(pc, &gc, &s[n]) == PVCLOCK_OK) {
            n++;
        } else if (++errors > max) {
            break;
        }
        next.tv_sec += pause.tv_sec;
        next.tv_nsec += pause.tv_nsec;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    if (n) {
        offset_summary(&gc, s, n, errors);
    } else {
        fprintf(stderr, "pvclock-guest: offset: no sample read (%llu "
                "errors)\n", errors);
    }
    free(s);
    guest_clock_close(&gc);
    return n ? 0 : 1;
}

const struct guest_command offset_command = {
    .name = "offset",
    .usage = "[--clock system|/dev/ptpN|/dev/vmclockN] [--seconds N] [--interval-ms N]",
    .help =
"offset: how far a clock is from the host's REALTIME, read between two\n"
"        counter readings the device turns into the host's time\n"
"  --clock C        system (this guest's CLOCK_REALTIME, default), a PTP\n"
"                   clock's path or a VMClock page's (/dev/vmclockN)\n"
"  --seconds N      how long (default 10)\n"
"  --interval-ms N  between samples (default 1000)\n",
    .run = offset_run,
};
