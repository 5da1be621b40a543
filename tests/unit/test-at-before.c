/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock_gettime_at() at a counter before the line's cycle_last (issue
 * 32, the minor finding).  The vDSO clamps such a counter to the base,
 * the time at cycle_last: its rule for "now", where a CPU whose TSC is a
 * little behind must not see time go back.  For a read at a given
 * counter that is a wrong time: `pvclock-guest show` on a slow guest
 * printed a "lag" of 69-126 ms between the live page and the helper's
 * page 0 that was this clamp (the kernel's tick had passed the counter
 * it had read before).  The ABI document's rule for a read at a counter
 * (docs/specs/pvclock-pages.rst, "A read at a given counter"): the
 * line extrapolated back with the signed delta, exactly.
 *
 * Each clock of block 0 (REALTIME, MONOTONIC, BOOTTIME, TAI) is read at
 * counters 1000 cycles and 3.5 s before cycle_last, through the live
 * page, through the helper's pages alone, and by a host reader of the
 * same pages, and must be the base minus that much; smeared REALTIME
 * through the live page too (the smear's TAI is a line of its own).
 * The expected values are worked out here with 64-bit integers (1 ns
 * per cycle), no code from the library.  pvclock_gettime() ("now") keeps
 * the vDSO's clamp: with cycle_last far ahead of the TSC it returns the
 * base exactly.
 *
 * On bd39917 the live page, the helper's pages and the host reader all
 * returned the base (1900000000.000004000 for REALTIME 1000 cycles
 * back, not .000003000).
 */
#include <stdint.h>
#include <string.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-vvar.h"
#include "bar-image.h"
#include "tap.h"

#define NS              1000000000ll
#define CYCLE_LAST      1000000000000ull        /* 10^12 */
#define BASE_SEC        1900000000ll
#define BASE_NSEC       4000ll
#define TAI_OFFSET      37
#define INTO_SMEAR      3600ll          /* s of TAI since the smear began */
#define DURATION        86401           /* 86400 + leap */

static struct bar_image img __attribute__((aligned(4096)));

static const clockid_t clocks[PVCP_HRES_CLOCKS] = {
    [PVCP_HRES_REALTIME] = CLOCK_REALTIME,
    [PVCP_HRES_MONOTONIC] = CLOCK_MONOTONIC,
    [PVCP_HRES_BOOTTIME] = CLOCK_BOOTTIME,
    [PVCP_HRES_TAI] = CLOCK_TAI,
};

/* Clock i's value at cycle_last, in ns: distinct for every clock. */
static int64_t base_ns(int i)
{
    static const int64_t sec[PVCP_HRES_CLOCKS] = {
        BASE_SEC, 5000, 6000, BASE_SEC + TAI_OFFSET,
    };

    return sec[i] * NS + BASE_NSEC + i;
}

/*
 * Host pages 0 and 1 (1 ns per cycle) and the kernel's page in the
 * 6.15+ layout with the same line and bases; page 1 has a smear
 * published, the reader an hour into it.  cycle_last as given.
 */
static void make_image(uint64_t cycle_last)
{
    struct pvcp_live *d = &img.offset.live;
    uint8_t *blk;

    bar_image_init(&img);
    for (int p = 0; p < 2; p++) {
        struct pvcp_host_page *h = &img.host[p];

        h->counter_mode = PVCP_COUNTER_TSC;
        h->flags = PVCP_HOST_F_VALID;
        h->hres.cycle_last = cycle_last;
        h->hres.max_cycles = 1ull << 40;
        h->hres.mult = 1u << 23;
        h->hres.shift = 23;
        h->raw = h->hres;
        for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
            h->hres_base[i].sec = (uint64_t)(base_ns(i) / NS);
            h->hres_base[i].nsec_shifted = (uint64_t)(base_ns(i) % NS) << 23;
        }
        h->raw_base = h->hres_base[PVCP_HRES_MONOTONIC];
    }
    img.host[1].smear.start_tai_sec = BASE_SEC + TAI_OFFSET - INTO_SMEAR;
    img.host[1].smear.duration_s = DURATION;
    img.host[1].smear.leap = 1;
    img.host[1].smear.tai_offset_before = TAI_OFFSET;
    pvcp_page_seal(&img.host[0]);
    pvcp_page_seal(&img.host[1]);

    img.offset.status = PVCP_STATUS_VALID;
    img.offset.generation = 1;
    img.offset.recommended_page = PVCP_PAGE_UNSCALED_UNSMEARED;
    bar_image_offset(&img, 0);

    vvar_live_desc(&vvar_layouts[0], d);
    blk = img.zero + d->block[0];
    *(uint32_t *)(blk + d->seq) = 80;
    *(int32_t *)(blk + d->clock_mode) = d->clock_mode_tsc;
    *(uint64_t *)(blk + d->cycle_last) = cycle_last;
    *(uint64_t *)(blk + d->max_cycles) = 1ull << 40;
    *(uint32_t *)(blk + d->mult) = 1u << 23;
    *(uint32_t *)(blk + d->shift) = 23;
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        *(uint64_t *)(blk + d->base[i]) = img.host[0].hres_base[i].sec;
        *(uint64_t *)(blk + d->base[i] + 8) =
            img.host[0].hres_base[i].nsec_shifted;
    }
}

/* ts is ns since the epoch, ns possibly negative past a second */
static int same(const struct timespec *ts, int64_t ns)
{
    int64_t sec = ns / NS, nsec = ns % NS;

    if (nsec < 0) {
        sec--;
        nsec += NS;
    }
    return ts->tv_sec == sec && ts->tv_nsec == nsec;
}

/* Smeared REALTIME at TAI tai_ns by the smear's rule (leap +1). */
static int64_t smeared_ns(int64_t tai_ns)
{
    int64_t start = (BASE_SEC + TAI_OFFSET - INTO_SMEAR) * NS;

    return tai_ns - TAI_OFFSET * NS - (tai_ns - start) / DURATION;
}

static void check_clocks(struct pvclock *pc, const char *who, int live)
{
    static const int64_t back[] = { 1000, 3500000000ll };

    for (size_t b = 0; b < sizeof(back) / sizeof(back[0]); b++) {
        uint64_t counter = CYCLE_LAST - (uint64_t)back[b];

        for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
            struct timespec ts = { 0, 0 };
            int err = pvclock_gettime_at(pc, clocks[i], counter, &ts);

            tap_ok(err == PVCLOCK_OK && same(&ts, base_ns(i) - back[b]),
                   "%s: %s %lld cycles before cycle_last reads %lld.%09ld "
                   "(error %d), the base minus %lld ns%s", who,
                   pvclock_clock_name(clocks[i]), (long long)back[b],
                   (long long)ts.tv_sec, ts.tv_nsec, err, (long long)back[b],
                   live && pvclock_live_in_use(pc, clocks[i]) != 1
                   ? " (live page NOT in use)" : "");
        }
    }
}

int main(void)
{
    struct pvclock_memory guest = {
        .host = img.host, .offset = &img.offset, .live = img.zero,
    }, host = { .host = img.host };
    struct pvclock *pc, *hpc;
    struct pvclock_bounds bnd;
    struct timespec ts = { 0, 0 };
    int64_t want;
    int err;

    make_image(CYCLE_LAST);
    if (pvclock_open_memory(&pc, &guest) != PVCLOCK_OK ||
        pvclock_open_memory(&hpc, &host) != PVCLOCK_OK) {
        tap_ok(0, "open the BAR image");
        return tap_done();
    }
    tap_ok(pvclock_live_in_use(pc, CLOCK_REALTIME) == 1,
           "the live page answers");
    check_clocks(pc, "live page", 1);
    pvclock_use_live(pc, 0);
    check_clocks(pc, "helper's pages", 0);
    check_clocks(hpc, "host reader", 0);

    /* the bound's reading is the same read */
    err = pvclock_gettime_bounds_at(hpc, CLOCK_REALTIME, CYCLE_LAST - 1000,
                                    0, &bnd);
    tap_ok((err == PVCLOCK_OK || err == PVCLOCK_ESTALE) &&
           same(&bnd.now, base_ns(PVCP_HRES_REALTIME) - 1000),
           "pvclock_gettime_bounds_at(): now %lld.%09ld (error %d)",
           (long long)bnd.now.tv_sec, bnd.now.tv_nsec, err);

    /* smeared REALTIME: the live TAI 1000 cycles back, smeared */
    pvclock_use_live(pc, 1);
    pvclock_select_page(pc, PVCP_PAGE_UNSCALED_SMEARED);
    want = smeared_ns(base_ns(PVCP_HRES_TAI) - 1000);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, CYCLE_LAST - 1000, &ts);
    tap_ok(err == PVCLOCK_OK && same(&ts, want) &&
           pvclock_live_in_use(pc, CLOCK_REALTIME) == 1,
           "live page, smeared REALTIME 1000 cycles back: %lld.%09ld "
           "(error %d), the smear's rule says %lld.%09lld",
           (long long)ts.tv_sec, ts.tv_nsec, err, (long long)(want / NS),
           (long long)(want % NS));
    pvclock_use_live(pc, 0);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, CYCLE_LAST - 1000, &ts);
    tap_ok(err == PVCLOCK_OK && same(&ts, want),
           "helper's page 1: %lld.%09ld (error %d), the same",
           (long long)ts.tv_sec, ts.tv_nsec, err);

    /*
     * "now" keeps the vDSO's clamp: cycle_last 2^61 cycles ahead of
     * any TSC this machine has counted, so every read is "behind".
     */
    make_image(1ull << 61);
    pvclock_select_page(pc, -1);
    for (int live = 1; live >= 0; live--) {
        pvclock_use_live(pc, live);
        err = pvclock_gettime(pc, CLOCK_REALTIME, &ts);
        tap_ok(err == PVCLOCK_OK && same(&ts, base_ns(PVCP_HRES_REALTIME)),
               "%s: pvclock_gettime() with the TSC before cycle_last is "
               "the base, %lld.%09ld (error %d), as the vDSO's",
               live ? "live page" : "helper's pages", (long long)ts.tv_sec,
               ts.tv_nsec, err);
    }
    err = pvclock_gettime(hpc, CLOCK_REALTIME, &ts);
    tap_ok(err == PVCLOCK_OK && same(&ts, base_ns(PVCP_HRES_REALTIME)),
           "host reader: the same, %lld.%09ld (error %d)",
           (long long)ts.tv_sec, ts.tv_nsec, err);
    pvclock_close(pc);
    pvclock_close(hpc);
    return tap_done();
}
