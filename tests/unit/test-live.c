/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Against the live host: the helper's layout detection and publication
 * plus the reader library must bracket clock_gettime() for every clock.
 * Each round reads clock_gettime(), the TSC, clock_gettime() again; the
 * library's time for that TSC must lie between the two readings.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pages.h"
#include "pvclock.h"
#include "vvar.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"

#define ROUNDS 200000

static int64_t ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

int main(void)
{
    char dir[] = "/tmp/pvclock-test-live-XXXXXX", path[128];
    char err[VVAR_ERR_LEN];
    struct vvar_source src;
    struct host_snapshot snap;
    struct pvcp_host_page page;
    struct pages_file pf;
    struct pvclock *pc;
    int64_t worst_width = 0;

    if (vvar_open(&src, err) < 0) {
        /* Only a host whose clocks cannot be shared may skip. */
        if (strstr(err, "clocksource") || strstr(err, "time namespace")) {
            return tap_skip_all("%s", err);
        }
        tap_ok(0, "vvar layout detected and validated: %s", err);
        return tap_done();
    }
    tap_ok(1, "vvar layout detected and validated: %s", src.layout->name);

    if (!mkdtemp(dir)) {
        return 2;
    }
    snprintf(path, sizeof(path), "%s/pages", dir);
    tap_ok(pages_open(&pf, path, err, sizeof(err)) == 0, "pages file (%s)",
           err);
    tap_ok(pvclock_open_host(&pc, path) == PVCLOCK_OK,
           "library opens the helper's file");

    for (int c = 0; c < PVCLOCK_CLOCKS; c++) {
        long outside = 0, errors = 0;

        for (long i = 0; i < ROUNDS; i++) {
            struct timespec before, after, lib;
            uint64_t tsc;

            /* What the helper does every interval: publish on change. */
            if (vvar_snapshot(&src, &snap, err) == 0) {
                memset(&page, 0, sizeof(page));
                pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
                pages_publish(&pf, 0, &page);
            }
            clock_gettime(pvclock_clock(c), &before);
            tsc = pvclock_read_counter();
            clock_gettime(pvclock_clock(c), &after);
            if (pvclock_gettime_at(pc, pvclock_clock(c), tsc, &lib)) {
                errors++;
                continue;
            }
            if (ns(&lib) < ns(&before) || ns(&lib) > ns(&after)) {
                if (outside++ < 3) {
                    tap_diag("%s: %lld not in [%lld, %lld]", pvclock_clock_name(pvclock_clock(c)),
                             (long long)ns(&lib), (long long)ns(&before),
                             (long long)ns(&after));
                }
            }
            if (ns(&after) - ns(&before) > worst_width) {
                worst_width = ns(&after) - ns(&before);
            }
        }
        tap_ok(outside == 0 && errors == 0,
               "%s: %d rounds, library time inside the clock_gettime() "
               "bracket every time (%ld outside, %ld errors)",
               pvclock_clock_name(pvclock_clock(c)), ROUNDS, outside, errors);
    }
    tap_diag("widest bracket seen: %lld ns", (long long)worst_width);

    /*
     * The fast path of pvclock_gettime() (which reads the counter itself)
     * against the general path at counter values read just before and
     * just after it, for every clock and both unscaled pages.
     */
    for (int pg = 0; pg < 2; pg++) {
        long outside = 0, errors = 0;

        if (vvar_snapshot(&src, &snap, err) == 0) {
            memset(&page, 0, sizeof(page));
            pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
            pages_publish(&pf, pg, &page);
        }
        pvclock_select_page(pc, pg);
        for (long i = 0; i < ROUNDS / 4; i++) {
            int c = (int)(i % PVCLOCK_CLOCKS);
            struct timespec lo, fast, hi;
            uint64_t before = pvclock_read_counter();
            int e1 = pvclock_gettime(pc, pvclock_clock(c), &fast);
            uint64_t after = pvclock_read_counter();

            if (e1 || pvclock_gettime_at(pc, pvclock_clock(c), before, &lo) ||
                pvclock_gettime_at(pc, pvclock_clock(c), after, &hi)) {
                errors++;
                continue;
            }
            if (ns(&fast) < ns(&lo) || ns(&fast) > ns(&hi)) {
                outside++;
            }
        }
        tap_ok(outside == 0 && errors == 0, "page %d: the fast path agrees "
               "with the general path (%d rounds, %ld outside, %ld errors)",
               pg, ROUNDS / 4, outside, errors);
    }
    pvclock_select_page(pc, 0);

    pvclock_close(pc);
    pages_close(&pf);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
