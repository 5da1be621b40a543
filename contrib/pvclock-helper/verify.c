/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper --verify.  See verify.h.
 */
#include <inttypes.h>
#include <time.h>

#include "pvclock.h"
#include "verify.h"

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* One clock on one page: returns the readings outside their bracket. */
static long verify_clock(struct pvclock *pc, clockid_t id, long rounds,
                         long *errors, int *first_err, int64_t *widest)
{
    long outside = 0;

    for (long i = 0; i < rounds; i++) {
        struct timespec before, after, lib;
        uint64_t tsc;
        int err;

        clock_gettime(id, &before);
        tsc = pvclock_read_counter();
        clock_gettime(id, &after);
        err = pvclock_gettime_at(pc, id, tsc, &lib);
        if (err) {
            if (!(*errors)++) {
                *first_err = err;
            }
            continue;
        }
        if (ts_ns(&lib) < ts_ns(&before) || ts_ns(&lib) > ts_ns(&after)) {
            outside++;
        }
        if (ts_ns(&after) - ts_ns(&before) > *widest) {
            *widest = ts_ns(&after) - ts_ns(&before);
        }
    }
    return outside;
}

int verify_pages(const char *path, long rounds, FILE *out)
{
    struct pvclock *pc;
    int err = pvclock_open_host(&pc, path), bad = 0;

    if (err) {
        fprintf(out, "verify: cannot read %s as pages: %s\n", path,
                pvclock_strerror(err));
        return 2;
    }
    for (int page = 0; page < 2; page++) {
        pvclock_select_page(pc, page);
        for (int c = 0; c < PVCLOCK_CLOCKS; c++) {
            long errors = 0, outside;
            int first_err = 0;
            int64_t widest = 0;

            outside = verify_clock(pc, pvclock_clock(c), rounds, &errors,
                                   &first_err, &widest);
            fprintf(out, "verify: page %d %-13s %ld rounds, %ld outside "
                    "clock_gettime(), %ld errors%s%s, widest bracket %"
                    PRId64 " ns\n", page, pvclock_clock_name(pvclock_clock(c)), rounds, outside,
                    errors, errors ? ": " : "",
                    errors ? pvclock_strerror(first_err) : "", widest);
            bad |= outside || errors;
        }
    }
    pvclock_close(pc);
    fprintf(out, "verify: %s\n", bad ? "FAILED" : "all readings inside");
    return bad ? 1 : 0;
}
