/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the reader library over arbitrary BAR bytes (four
 * host pages and the offset page) and an arbitrary counter.  It must not
 * crash, hang or trap, and whenever it returns a time (PVCLOCK_OK or
 * PVCLOCK_ESTALE) the pages it used must be valid by the ABI: our magic
 * and major version, a published page of a known counter mode, a valid
 * status and transform, sane shifts, and, on ABI 1.2 pages, check words
 * that match; and the time must be normalised.  Bit 1 of the first byte
 * seals the host pages (correct check words) before the reads, so that
 * the arithmetic behind the checks is explored too.
 *
 * And every pvclock_gettime_at() must be the independent oracle's
 * (tests/unit/abi-oracle.c, the ABI document's reading rules written a
 * second time): the same return code and, with a time, the same
 * timespec bit for bit.  The oracle models what the document states
 * about a page that does not change, so the input is first made such a
 * state (normalise(), below, says what it changes); bit 3 of the first
 * byte leaves the bytes as they came instead, and those inputs are held
 * to the checks above only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "abi-oracle.h"

static const clockid_t clocks[] = {
    CLOCK_REALTIME, CLOCK_TAI, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
    CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID, 42,
};

static uint8_t bar[PVCP_BAR_SIZE] __attribute__((aligned(4096)));

/* Check word index of a clock id the library provides. */
static unsigned check_index(clockid_t clk)
{
    switch (clk) {
    case CLOCK_REALTIME:
        return PVCP_HRES_REALTIME;
    case CLOCK_MONOTONIC:
        return PVCP_HRES_MONOTONIC;
    case CLOCK_BOOTTIME:
        return PVCP_HRES_BOOTTIME;
    case CLOCK_TAI:
        return PVCP_HRES_TAI;
    default:
        return PVCP_CHECK_RAW;
    }
}

/* The words this read used are the ones the writer sealed. */
static int checks_hold(const struct pvcp_host_page *h, clockid_t clk)
{
    unsigned i = check_index(clk);

    return !pvcp_page_has_checks(h->abi_minor) ||
           (h->check[i] == pvcp_check_page_clock(h, i) &&
            h->check_aux == pvcp_check_aux(h));
}

/*
 * The transform a reader may use: ABI 1.3's with frac_bits up to 64; an
 * older writer's page is refused whatever it has at 0x028.
 */
static int xform_usable(const struct pvcp_offset_page *op, int d)
{
    return op->abi_minor >= 3 &&
           (op->ref_xform[d].flags & PVCP_XFORM_F_PAGE_COUNTER) &&
           op->ref_xform[d].frac_bits <= 64;
}

/* A guest read the live page may have answered (then the host page
 * need not hold anything). */
static int live_may_answer(const struct pvclock *pc, int page)
{
    const struct pvcp_offset_page *op = (const void *)(bar + 0x4000);

    return pvclock_live_page(pc) && op->abi_minor >= 4 &&
           (op->live.flags & PVCP_LIVE_F_VALID) &&
           op->live.version == PVCP_LIVE_VERSION &&
           !(page & PVCP_PAGE_SCALED);
}

static void check_offset_usable(int page)
{
    const struct pvcp_offset_page *op = (const void *)(bar + 0x4000);

    if (op->magic != PVCP_OFFSET_MAGIC || op->abi_major != PVCP_ABI_MAJOR ||
        (op->status != PVCP_STATUS_VALID &&
         op->status != PVCP_STATUS_STALE) || !xform_usable(op, page >> 1)) {
        abort();
    }
}

static void check_used(int guest, int page, clockid_t clk)
{
    const struct pvcp_host_page *h = (const void *)(bar + page * 4096);
    const struct pvcp_offset_page *op = (const void *)(bar + 0x4000);

    if (h->magic != PVCP_HOST_MAGIC || h->abi_major != PVCP_ABI_MAJOR ||
        h->page_index != (uint32_t)page || h->counter_mode == 0 ||
        h->counter_mode > PVCP_COUNTER_RAW_NS ||
        !(h->flags & PVCP_HOST_F_VALID) ||
        (clk == CLOCK_MONOTONIC_RAW ? h->raw.shift : h->hres.shift) > 63 ||
        !checks_hold(h, clk)) {
        abort();
    }
    if (guest && (op->magic != PVCP_OFFSET_MAGIC ||
                  op->abi_major != PVCP_ABI_MAJOR ||
                  (op->status != PVCP_STATUS_VALID &&
                   op->status != PVCP_STATUS_STALE) ||
                  !xform_usable(op, page >> 1))) {
        abort();
    }
}

/*
 * Make the BAR a state the oracle models, which test-oracle's generator
 * builds too; each change is one the document itself excludes:
 *  - every seqcount even: the offset page's, each host page's, and the
 *    live page's in each block the descriptor names (where that word is
 *    inside the page).  Odd means a writer in the middle of an update;
 *    the library waits for it (SEQ_SPIN_LIMIT) and then refuses
 *    (PVCLOCK_EBUSY) or leaves the live page for the host pages, while
 *    the oracle reads memory nobody writes: it has no seqcount loop.
 *  - the offset page's mono_offset nsec below 10^9 (the document's range,
 *    0..999999999): the library adds a larger one and normalises as the
 *    kernel's timens arithmetic would, a case the document leaves open.
 * Nothing else: magic, versions, status, every line, base, shift,
 * transform, smear, check word and the live descriptor stay the
 * fuzzer's, valid or not.
 */
static void normalise(void)
{
    struct pvcp_offset_page *op = (void *)(bar + PVCP_BAR_OFFSET_PAGE);
    uint8_t *live = bar + PVCP_BAR_LIVE_PAGE;

    op->seq &= ~1u;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        ((struct pvcp_host_page *)(bar + i * PVCP_PAGE_SIZE))->seq &= ~1u;
    }
    for (int b = 0; b < 2; b++) {
        unsigned at = (unsigned)op->live.block[b] + op->live.seq;

        if (at + 4 <= PVCP_PAGE_SIZE) {
            uint32_t seq;

            memcpy(&seq, live + at, 4);
            seq &= ~1u;
            memcpy(live + at, &seq, 4);
        }
    }
    for (int m = 0; m < 3; m++) {
        op->mono_offset[m].nsec %= 1000000000u;
    }
}

/* The library's answer must be the oracle's, code and time. */
static void check_oracle(const struct pvclock_memory *mem, int page,
                         clockid_t clk, uint64_t counter, int err,
                         const struct timespec *ts)
{
    struct abi_oracle_view v = {
        .host = mem->host,
        .offset = mem->offset,
        .live = mem->live,
        .use_live = 1,
        .page = page,
    };
    struct abi_oracle_trace t;
    struct timespec ot = { 0, 0 };
    int oe = abi_oracle_read(&v, clk, counter, &ot, &t);

    if (oe == err && ((err != PVCLOCK_OK && err != PVCLOCK_ESTALE) ||
                      (ot.tv_sec == ts->tv_sec &&
                       ot.tv_nsec == ts->tv_nsec))) {
        return;
    }
    fprintf(stderr, "library and oracle differ: page %d (read %d), clock "
            "%d, counter %#llx: library %d %lld.%09ld, oracle %d "
            "%lld.%09ld (live %d refused %d, path %d, smear %d, stale %d, "
            "delta %lld)\n", page, t.page, (int)clk,
            (unsigned long long)counter, err, (long long)ts->tv_sec,
            ts->tv_nsec, oe, (long long)ot.tv_sec, ot.tv_nsec, t.from_live,
            t.live_refused, t.path, t.smear, t.stale, (long long)t.delta);
    abort();
}

static pvcp_u128 ts_ns(const struct timespec *ts)
{
    return (pvcp_u128)(uint64_t)ts->tv_sec * 1000000000u + ts->tv_nsec;
}

/* Whatever the pages hold, a bound is ordered and well formed. */
static void check_bounds(struct pvclock *pc, clockid_t clk, uint64_t counter,
                         uint8_t drift)
{
    struct pvclock_bounds b;
    int err = pvclock_gettime_bounds_at(pc, clk, counter, drift * 100000u,
                                        &b);

    if (err != PVCLOCK_OK && err != PVCLOCK_ESTALE) {
        return;
    }
    if (b.sync > PVCLOCK_SYNC_STALE ||
        b.earliest.tv_nsec < 0 || b.earliest.tv_nsec >= 1000000000 ||
        b.latest.tv_nsec < 0 || b.latest.tv_nsec >= 1000000000 ||
        b.now.tv_nsec < 0 || b.now.tv_nsec >= 1000000000) {
        abort();
    }
    /* unsigned: pages may put the reading anywhere in 64 bits of s */
    if (b.error_ns != UINT64_MAX &&
        (ts_ns(&b.earliest) > ts_ns(&b.now) ||
         ts_ns(&b.now) - ts_ns(&b.earliest) > b.error_ns)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pvclock *pc;
    uint64_t counter = 0;
    int guest = size > 0 && (data[0] & 1);
    int raw = size > 0 && (data[0] & 8);     /* no normalise(), no oracle */

    struct pvclock_memory mem = {
        .host = bar,
        .offset = guest ? bar + PVCP_BAR_OFFSET_PAGE : NULL,
        /* the live page (ABI 1.4): arbitrary descriptor and page bytes too */
        .live = guest && (data[0] & 4) ? bar + PVCP_BAR_LIVE_PAGE : NULL,
    };

    /*
     * Open over valid headers, then let the input overwrite everything:
     * the reader must cope with pages that change after they were
     * opened, which is all a fuzzer can do to it past open.
     */
    memset(bar, 0, sizeof(bar));
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page *h = (void *)(bar + i * PVCP_PAGE_SIZE);

        h->magic = PVCP_HOST_MAGIC;
        h->abi_major = PVCP_ABI_MAJOR;
        h->page_index = (uint32_t)i;
    }
    ((struct pvcp_offset_page *)(bar + PVCP_BAR_OFFSET_PAGE))->magic =
        PVCP_OFFSET_MAGIC;
    ((struct pvcp_offset_page *)(bar + PVCP_BAR_OFFSET_PAGE))->abi_major =
        PVCP_ABI_MAJOR;
    ((struct pvcp_offset_page *)(bar + PVCP_BAR_OFFSET_PAGE))->abi_minor =
        PVCP_ABI_MINOR;
    if (pvclock_open_memory(&pc, &mem) != PVCLOCK_OK) {
        abort();
    }
    memset(bar, 0, sizeof(bar));
    memcpy(bar, data, size < sizeof(bar) ? size : sizeof(bar));
    if (size >= sizeof(bar) + 8) {
        memcpy(&counter, data + sizeof(bar), 8);
    }
    if (!raw) {
        normalise();
    }
    if (size > 0 && (data[0] & 2)) {
        for (int i = 0; i < PVCP_HOST_PAGES; i++) {
            pvcp_page_seal((struct pvcp_host_page *)(bar + i * 4096));
        }
    }

    for (int page = -1; page < PVCP_HOST_PAGES; page++) {
        pvclock_select_page(pc, page);
        for (size_t c = 0; c < sizeof(clocks) / sizeof(clocks[0]); c++) {
            struct timespec ts = { 0, 0 };
            int err = pvclock_gettime_at(pc, clocks[c], counter, &ts);

            if (!raw) {
                check_oracle(&mem, page, clocks[c], counter, err, &ts);
            }

            if (err == PVCLOCK_OK || err == PVCLOCK_ESTALE) {
                int used = page;

                if (used < 0) {
                    const struct pvcp_offset_page *op =
                        (const void *)(bar + 0x4000);

                    used = guest && op->recommended_page < PVCP_HOST_PAGES
                           ? (int)op->recommended_page : 0;
                }
                if (live_may_answer(pc, used)) {
                    check_offset_usable(used);
                } else {
                    check_used(guest, used, clocks[c]);
                }
                if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) {
                    abort();
                }
            }
            err = pvclock_gettime(pc, clocks[c], &ts);
            if ((err == PVCLOCK_OK || err == PVCLOCK_ESTALE) &&
                (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)) {
                abort();
            }
            check_bounds(pc, clocks[c], counter, size > 1 ? data[1] : 0);
        }
    }
    {
        struct pvclock_info info;

        pvclock_select_page(pc, -1);
        (void)pvclock_get_info(pc, &info);
    }
    pvclock_close(pc);
    return 0;
}
