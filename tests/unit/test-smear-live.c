/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Smeared REALTIME through the live page (issue 32, finding 1).  A guest
 * whose recommended page is the smeared one (page 1) and whose live page
 * answers reads smeared REALTIME as the live page's TAI put through
 * host page 1's smear.  Here the helper has published a smear (a leap
 * second inserted, the reader an hour into the 24 h window), and the
 * live page and host page 1 carry the same line and bases.
 *
 * The reader's stack is dirtied with 0x7f first: a snapshot word the
 * read forgot to copy then shows as a wildly wrong time (with
 * PVCLOCK_OK), not as a lucky zero.  What the read must return is
 * worked out here from the smear's rule in the ABI header, with 64-bit
 * integers and no code from the library, and must also be what the
 * helper's pages alone give (pvclock_use_live(pc, 0)).
 */
#include <stdint.h>
#include <string.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-vvar.h"
#include "bar-image.h"
#include "tap.h"

#define CYCLE_LAST      1000000ull
#define COUNTER         5000000ull      /* the guest's, = the host's */
#define REALTIME_SEC    1900000000ull
#define REALTIME_NSEC   4000ull
#define TAI_OFFSET      37
#define INTO_SMEAR      3600ull         /* s of TAI since the smear began */
#define DURATION        86401u          /* 86400 + leap */

static struct bar_image img __attribute__((aligned(4096)));

/* Host page 1 (unscaled, smeared) and the live page: 1 ns per cycle. */
static void make_image(void)
{
    struct pvcp_host_page *h = &img.host[PVCP_PAGE_UNSCALED_SMEARED];
    struct pvcp_live *d = &img.offset.live;
    uint64_t tai_sec = REALTIME_SEC + TAI_OFFSET;
    uint8_t *blk;

    bar_image_init(&img);
    h->counter_mode = PVCP_COUNTER_TSC;
    h->flags = PVCP_HOST_F_VALID;
    h->hres.cycle_last = CYCLE_LAST;
    h->hres.max_cycles = 1ull << 40;
    h->hres.mult = 1u << 23;
    h->hres.shift = 23;
    h->raw = h->hres;
    h->hres_base[PVCP_HRES_REALTIME].sec = REALTIME_SEC;
    h->hres_base[PVCP_HRES_REALTIME].nsec_shifted = REALTIME_NSEC << 23;
    h->hres_base[PVCP_HRES_TAI].sec = tai_sec;
    h->hres_base[PVCP_HRES_TAI].nsec_shifted = REALTIME_NSEC << 23;
    h->smear.start_tai_sec = tai_sec - INTO_SMEAR;
    h->smear.duration_s = DURATION;
    h->smear.leap = 1;
    h->smear.tai_offset_before = TAI_OFFSET;
    pvcp_page_seal(h);

    img.offset.status = PVCP_STATUS_VALID;
    img.offset.generation = 1;
    img.offset.recommended_page = PVCP_PAGE_UNSCALED_SMEARED;
    bar_image_offset(&img, 0);

    /* the host kernel's page, in the 6.15+ layout, at BAR 0x5000 */
    vvar_live_desc(&vvar_layouts[0], d);
    blk = img.zero + d->block[0];
    *(uint32_t *)(blk + d->seq) = 80;
    *(int32_t *)(blk + d->clock_mode) = d->clock_mode_tsc;
    *(uint64_t *)(blk + d->cycle_last) = h->hres.cycle_last;
    *(uint64_t *)(blk + d->max_cycles) = h->hres.max_cycles;
    *(uint32_t *)(blk + d->mult) = h->hres.mult;
    *(uint32_t *)(blk + d->shift) = h->hres.shift;
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        *(uint64_t *)(blk + d->base[i]) = h->hres_base[i].sec;
        *(uint64_t *)(blk + d->base[i] + 8) = h->hres_base[i].nsec_shifted;
    }
}

/*
 * Smeared REALTIME at COUNTER by the ABI header's rule: T the TAI,
 * e = T - start, REALTIME = T - tai_offset_before - leap * e_ns /
 * duration_s (floor).
 */
static int64_t expected_ns(void)
{
    int64_t tai = (int64_t)(REALTIME_SEC + TAI_OFFSET) * 1000000000 +
                  (int64_t)REALTIME_NSEC + (int64_t)(COUNTER - CYCLE_LAST);
    int64_t start = (int64_t)(REALTIME_SEC + TAI_OFFSET - INTO_SMEAR) *
                    1000000000;

    return tai - TAI_OFFSET * 1000000000ll - (tai - start) / DURATION;
}

/* Leave 0x7f in the stack the read is about to use. */
static __attribute__((noinline)) void dirty_stack(void)
{
    unsigned char junk[64 * 1024];

    memset(junk, 0x7f, sizeof(junk));
    __asm__ volatile("" : : "r"(junk) : "memory");
}

static __attribute__((noinline)) int read_realtime(struct pvclock *pc,
                                                   struct timespec *ts)
{
    dirty_stack();
    ts->tv_sec = 0;
    ts->tv_nsec = 0;
    return pvclock_gettime_at(pc, CLOCK_REALTIME, COUNTER, ts);
}

static int same(const struct timespec *ts, int64_t ns)
{
    return ts->tv_sec == ns / 1000000000 && ts->tv_nsec == ns % 1000000000;
}

int main(void)
{
    struct pvclock_memory mem = {
        .host = img.host,
        .offset = &img.offset,
        .live = img.zero,
    };
    struct timespec live, pages;
    struct pvclock *pc;
    int64_t want;
    int err;

    make_image();
    want = expected_ns();
    if (pvclock_open_memory(&pc, &mem) != PVCLOCK_OK) {
        tap_ok(0, "open the BAR image");
        return tap_done();
    }
    tap_ok(pvclock_live_in_use(pc, CLOCK_REALTIME) == 1,
           "smeared REALTIME on page 1 is read through the live page");

    err = read_realtime(pc, &live);
    tap_ok(err == PVCLOCK_OK && same(&live, want),
           "live page, dirty stack: smeared REALTIME %llu.%09ld (error %d), "
           "the smear's rule says %lld.%09lld",
           (unsigned long long)live.tv_sec, live.tv_nsec, err,
           (long long)(want / 1000000000), (long long)(want % 1000000000));

    pvclock_use_live(pc, 0);
    err = read_realtime(pc, &pages);
    tap_ok(err == PVCLOCK_OK && same(&pages, want),
           "helper's page 1 alone: %llu.%09ld (error %d), the same",
           (unsigned long long)pages.tv_sec, pages.tv_nsec, err);
    pvclock_close(pc);
    return tap_done();
}
