/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A second reader of pvclock-pages, for differential tests: the reading
 * rules of docs/specs/pvclock-pages.rst, written from that document
 * alone (byte offsets from its tables, formulas from its text) with
 * 128-bit integers throughout.  It shares no code with contrib/libpvclock
 * or pvclock-pages-calc.h and does not even use the ABI header's
 * structs, so that a mistake made once in the library's arithmetic, its
 * snapshot or its layout is not made again here.  It reads memory that
 * does not change (a test's image): no seqcount loop.
 */
#ifndef PVCLOCK_ABI_ORACLE_H
#define PVCLOCK_ABI_ORACLE_H

#include <stdint.h>
#include <time.h>

/* What a reader was given, as pvclock_open_memory() takes it. */
struct abi_oracle_view {
    const uint8_t *host;        /* the four host pages, 16 KiB */
    const uint8_t *offset;      /* the offset page; NULL: a host reader */
    const uint8_t *live;        /* the live page; NULL: none */
    int use_live;               /* as pvclock_use_live() */
    int page;                   /* as pvclock_select_page(): -1 or 0..3 */
};

/* Which way a read went, for a test's coverage counts. */
struct abi_oracle_trace {
    int page;                   /* host page read (or whose smear) */
    int from_live;              /* the live page answered */
    int live_refused;           /* why it did not: ORACLE_LIVE_* */
    int path;                   /* ORACLE_PATH_*: the line's branch */
    int smear;                  /* ORACLE_SMEAR_* */
    int stale;                  /* stale by the status or the heartbeat */
    int64_t delta;              /* cycles - cycle_last, signed */
};

enum {
    ORACLE_LIVE_NONE,           /* no live page for this read at all */
    ORACLE_LIVE_DESC,           /* descriptor not valid, version, range */
    ORACLE_LIVE_SCALED,         /* a scaled page was chosen */
    ORACLE_LIVE_MODE,           /* the host left the TSC */
    ORACLE_LIVE_SHIFT,          /* the kernel's shift out of 0..63 */
    ORACLE_LIVE_OFFSET,         /* the offset page refuses this read */
    ORACLE_LIVE_SMEAR_PAGE,     /* the smeared page for the smear refuses */
    ORACLE_LIVE_USED,
};

enum {
    ORACLE_PATH_FAST,           /* delta <= max_cycles */
    ORACLE_PATH_BACK,           /* delta has bit 62 (and is not */
                                /* negative): the base */
    ORACLE_PATH_SLOW,           /* 128-bit product */
    ORACLE_PATH_SLOW_WRAPS,     /* MUL_WRAPS: 64-bit product */
    ORACLE_PATH_BEFORE,         /* before cycle_last: the signed delta */
};

enum {
    ORACLE_SMEAR_NONE,          /* not smeared REALTIME, or leap 0 */
    ORACLE_SMEAR_BEFORE,        /* T < start: the page's REALTIME */
    ORACLE_SMEAR_INSIDE,
    ORACLE_SMEAR_AFTER,         /* e clamped to the whole smear */
};

/*
 * clock_gettime(clk) at counter (the guest's counter, or the host's TSC
 * for a host reader) as the document says a reader computes it: a
 * PVCLOCK_* code, and *ts filled when it is PVCLOCK_OK or
 * PVCLOCK_ESTALE.  trace may be NULL.
 */
int abi_oracle_read(const struct abi_oracle_view *v, clockid_t clk,
                    uint64_t counter, struct timespec *ts,
                    struct abi_oracle_trace *trace);

/*
 * Pieces of the same, for tests that build states around a counter.
 * The host page counter (after a simulated host's transform) and the
 * line's cycles (after the kvmclock stage) of host page `page` for a
 * counter, through the offset page's transform when there is one
 * (live: the live page's counter, the host TSC & 2^63-1); 0 if the
 * transform is refused.
 */
int abi_oracle_page_counter(const struct abi_oracle_view *v, int page,
                            int live, uint64_t counter,
                            uint64_t *page_counter, uint64_t *cycles);

/*
 * Clock `index` (0..3 the host page's hres_base index, 4 MONOTONIC_RAW)
 * of host page `page` or of the live page at given cycles, in ns since
 * its epoch, mono offsets left out.
 */
unsigned __int128 abi_oracle_clock_ns(const struct abi_oracle_view *v,
                                      int page, int live, int index,
                                      uint64_t cycles);

#endif /* PVCLOCK_ABI_ORACLE_H */
