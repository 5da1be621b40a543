/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest show: the device's status, every clock next to the
 * guest's own clock_gettime(), and every host page against page 0.
 */
#include <inttypes.h>
#include <stdio.h>

#include "guest.h"

static int64_t abs_i64(int64_t d)
{
    return d < 0 ? -d : d;
}

/*
 * Host page `page` at `counter`: its largest distance from ref (which
 * page 0 fills) in *worst; a PVCLOCK_* error if a clock did not read.
 */
static int page_distance(struct pvclock *pc, int page, uint64_t counter,
                         int64_t ref[PVCLOCK_CLOCKS], int64_t *worst)
{
    int err = 0;

    *worst = 0;
    pvclock_select_page(pc, page);
    for (int i = 0; i < PVCLOCK_CLOCKS && !err; i++) {
        struct timespec ts = { 0, 0 };
        int64_t ns;

        err = pvclock_gettime_at(pc, pvclock_clock(i), counter, &ts);
        if (err == PVCLOCK_ESTALE) {
            err = 0;
        }
        ns = guest_ts_ns(&ts);
        if (page == 0) {
            ref[i] = ns;
        }
        if (abs_i64(ns - ref[i]) > *worst) {
            *worst = abs_i64(ns - ref[i]);
        }
    }
    return err;
}

/*
 * All four host pages at one guest counter value: each must read every
 * clock, and they must agree with page 0 (the scaled pages to within
 * the nanosecond their derivation and transform each may round).  These
 * are the helper's pages, read with the live page set aside.
 */
static int show_host_pages(struct pvclock *pc, uint64_t counter,
                           int64_t ref[PVCLOCK_CLOCKS])
{
    static const char *const kinds[] = {
        "unscaled unsmeared", "unscaled smeared", "scaled unsmeared",
        "scaled smeared",
    };
    int bad = 0;

    pvclock_use_live(pc, 0);
    for (int page = 0; page < PVCP_HOST_PAGES; page++) {
        int64_t worst;
        int err = page_distance(pc, page, counter, ref, &worst);

        if (err) {
            /* a simulated host publishes no scaled pages: not an error */
            printf("page %d %s: %s\n", page, kinds[page],
                   pvclock_strerror(err));
            bad |= err != PVCLOCK_EUNPUBLISHED;
        } else {
            printf("page %d %s: all five clocks read, at most %" PRId64
                   " ns from page 0\n", page, kinds[page], worst);
        }
    }
    pvclock_select_page(pc, -1);
    pvclock_use_live(pc, 1);
    return bad;
}

/*
 * How far the live page (the kernel's own data) is from the helper's
 * page 0 at the same counter: the helper's lag, informational.  Both are
 * reads at that counter, which the kernel's tick (or the helper's next
 * line) may have passed by the time they run on a slow guest: the ABI's
 * rule for a read at a counter takes each line back to it, so what is
 * left is the two lines' difference, not the time this took (before,
 * the live read clamped to the kernel's newer base and a slow guest saw
 * a "lag" of 69-126 ms; unit/at-before).
 */
static void show_live_lag(struct pvclock *pc, uint64_t counter,
                          const int64_t ref[PVCLOCK_CLOCKS])
{
    int64_t worst = 0;

    if (pvclock_live_in_use(pc, CLOCK_REALTIME) != 1) {
        return;
    }
    for (int i = 0; i < PVCLOCK_CLOCKS; i++) {
        struct timespec ts;

        if (pvclock_gettime_at(pc, pvclock_clock(i), counter, &ts) !=
            PVCLOCK_OK) {
            continue;
        }
        if (abs_i64(guest_ts_ns(&ts) - ref[i]) > worst) {
            worst = abs_i64(guest_ts_ns(&ts) - ref[i]);
        }
    }
    printf("live page: all five clocks read, %" PRId64 " ns from the "
           "helper's page 0 (its lag)\n", worst);
}

static int show_status(struct pvclock *pc)
{
    static const char *const status_names[] = {
        "invalid", "valid", "no helper", "unreliable", "stale",
    };
    static const char *const backend_names[] = {
        "none", "kvm", "tcg", "qtest",
    };
    static const char *const mapping_names[] = {
        [PVCLOCK_MAP_MEMORY] = "the caller's memory",
        [PVCLOCK_MAP_FILE] = "a file (BAR image or pages file)",
        [PVCLOCK_MAP_SYSFS] = "sysfs resource0 (root only, uncached)",
        [PVCLOCK_MAP_DEVICE] = "the pvclock-pages driver's node (any "
                               "user; cached where the firmware put the "
                               "BAR in write-back memory, docs/driver.md)",
    };
    int mapping = pvclock_mapping(pc);
    struct pvclock_info info;
    int err = pvclock_get_info(pc, &info);

    if (err) {
        fprintf(stderr, "pvclock-guest: %s\n", pvclock_strerror(err));
        return -1;
    }
    printf("device: status %s, generation %" PRIu64 ", counter backend %s, "
           "guest counter %" PRIu64 " Hz, host page %u, helper epoch %"
           PRIu64 "\n",
           info.status < 5 ? status_names[info.status] : "?",
           info.generation,
           info.backend < 4 ? backend_names[info.backend] : "?",
           info.guest_counter_hz, info.page, info.helper_epoch);
    printf("mapping: %s\n", mapping >= 0 &&
           mapping < (int)(sizeof(mapping_names) / sizeof(mapping_names[0]))
           ? mapping_names[mapping] : "?");
    printf("live page: %s\n", pvclock_live_in_use(pc, CLOCK_REALTIME) == 1
           ? "in use (the host kernel's own data, no lag)"
           : "not in use (the helper's pages)");
    return 0;
}

/* Every clock next to the guest's own: 1 if one did not read. */
static int show_clocks(struct pvclock *pc)
{
    int bad = 0;

    printf("%-14s %22s %22s %16s\n", "clock", "pvclock (host)",
           "guest clock_gettime", "guest - pvclock");
    for (int i = 0; i < PVCLOCK_CLOCKS; i++) {
        struct timespec pv = { 0, 0 }, own;
        int err = pvclock_gettime(pc, pvclock_clock(i), &pv);

        clock_gettime(pvclock_clock(i), &own);
        if (err && err != PVCLOCK_ESTALE) {
            printf("%-14s %22s %11lld.%09ld  %s\n", pvclock_clock_name(pvclock_clock(i)),
                   "-", (long long)own.tv_sec, own.tv_nsec,
                   pvclock_strerror(err));
            bad = 1;
            continue;
        }
        printf("%-14s %11lld.%09ld %11lld.%09ld %+16.9f%s\n",
               pvclock_clock_name(pvclock_clock(i)), (long long)pv.tv_sec, pv.tv_nsec,
               (long long)own.tv_sec, own.tv_nsec,
               (double)(own.tv_sec - pv.tv_sec) +
               (own.tv_nsec - pv.tv_nsec) / 1e9,
               err ? " (stale)" : "");
    }
    return bad;
}

/*
 * Every clock's error bound (pvclock_gettime_bounds(), the default
 * 500 ppm drift): how far from the true time each reading may be.
 */
static void show_bounds(struct pvclock *pc)
{
    static const char *const sync_names[] = {
        [PVCLOCK_SYNC_OK] = "bounded",
        [PVCLOCK_SYNC_UNSYNCED] = "host unsynchronised, no bound",
        [PVCLOCK_SYNC_STALE] = "helper stale, growing",
    };

    for (int i = 0; i < PVCLOCK_CLOCKS; i++) {
        clockid_t clk = pvclock_clock(i);
        struct pvclock_bounds b;
        int err = pvclock_gettime_bounds(pc, clk, 0, &b);

        if (err && err != PVCLOCK_ESTALE) {
            printf("bound %-14s -  %s\n", pvclock_clock_name(clk),
                   pvclock_strerror(err));
        } else if (b.error_ns == UINT64_MAX) {
            printf("bound %-14s none (%s)\n", pvclock_clock_name(clk),
                   sync_names[b.sync]);
        } else {
            printf("bound %-14s +-%" PRIu64 " ns: %lld.%09ld .. "
                   "%lld.%09ld (%s)\n", pvclock_clock_name(clk), b.error_ns,
                   (long long)b.earliest.tv_sec, b.earliest.tv_nsec,
                   (long long)b.latest.tv_sec, b.latest.tv_nsec,
                   sync_names[b.sync]);
        }
    }
}

int show_run(struct pvclock *pc, const struct guest_opts *o)
{
    int64_t ref[PVCLOCK_CLOCKS];
    uint64_t counter;
    int bad;

    (void)o;
    if (show_status(pc) < 0) {
        return 1;
    }
    bad = show_clocks(pc);
    show_bounds(pc);
    counter = pvclock_read_counter();
    bad |= show_host_pages(pc, counter, ref);
    show_live_lag(pc, counter, ref);
    return bad;
}

const struct guest_command show_command = {
    .name = "show",
    .usage = "",
    .help = "show: status and every clock, next to clock_gettime()'s\n",
    .run = show_run,
};
