/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deriving the four host pages from one unscaled, unsmeared page:
 * NTP state, the leap second smear (pages 1 and 3) and the scaled pages
 * (2 and 3), whose counter is host CLOCK_MONOTONIC_RAW in nanoseconds.
 */
#ifndef PVCLOCK_HELPER_DERIVE_H
#define PVCLOCK_HELPER_DERIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "pvclock-pages/pvclock-pages-abi.h"

/*
 * The host's NTP state as adjtimex() reports it, and the TAI - UTC the
 * helper knows (leap_tai_offset(): the kernel's or the leap list's).
 */
struct host_ntp {
    int32_t tai;            /* TAI - UTC, s, the kernel's */
    uint32_t status;        /* STA_* */
    uint64_t esterror_ns;
    uint64_t maxerror_ns;
    int32_t known_tai;      /* TAI - UTC, s, if tai_source says known */
    int tai_source;         /* enum leap_tai_source, 0 unknown */
};

/*
 * A leap second: leap (+1/-1) s at UTC second utc (a midnight), smeared
 * from TAI second start_tai (noon UTC before, or when the helper first
 * learnt of it if that was later) to noon UTC after.
 */
struct leap_event {
    int32_t leap;
    int32_t tai_before;     /* TAI - UTC before it */
    uint64_t utc;
    uint64_t start_tai;
};

/* Shift of the scaled pages' lines: mult ~ 2^31 for a ratio near 1. */
#define DERIVE_SCALED_SHIFT     31
/* The scaled lines aim at the exact host values this far ahead. */
#define DERIVE_SCALED_AHEAD_NS  2000000000ull
/* ... and are re-derived at least this often. */
#define DERIVE_SCALED_REFRESH_NS 1000000000ull

/* Read adjtimex() (no privilege needed). */
int derive_read_ntp(struct host_ntp *ntp);

/*
 * Fill the NTP fields, the known TAI offset and the LEAP_INS/LEAP_DEL/
 * UNSYNC/TAI_KNOWN/TAI_FROM_LIST flags.
 */
void derive_ntp(struct pvcp_host_page *p, const struct host_ntp *ntp);

/*
 * Set p's smear from ev (leap 0: none).  The counters at the window's
 * ends are computed from p's own hres line and TAI base.
 */
void derive_smear(struct pvcp_host_page *p, const struct leap_event *ev);

/* TAI seconds of noon UTC before and after a leap. */
uint64_t derive_noon_before_tai(const struct leap_event *ev);
uint64_t derive_noon_after_tai(const struct leap_event *ev);

/*
 * The scaled page for src (an unscaled page, counter = TSC), anchored at
 * host MONOTONIC_RAW ns raw_now (no later than any reader's counter).  If
 * prev is a published scaled page, each clock continues from prev's value
 * at raw_now (so no clock steps back) unless prev is more than 1 us off,
 * as after a REALTIME step; the slope then aims at the exact value
 * DERIVE_SCALED_AHEAD_NS later, so the error stays below a nanosecond.
 */
void derive_scaled(struct pvcp_host_page *dst,
                   const struct pvcp_host_page *src,
                   const struct pvcp_host_page *prev, uint64_t raw_now);

/*
 * Did REALTIME or TAI step against MONOTONIC between two unscaled pages
 * (the kernel moved a base by something other than the line)?
 */
bool derive_stepped(const struct pvcp_host_page *old,
                    const struct pvcp_host_page *new);

/* Host MONOTONIC_RAW ns of an unscaled page at host counter tsc. */
uint64_t derive_raw_ns(const struct pvcp_host_page *src, uint64_t tsc);

#endif /* PVCLOCK_HELPER_DERIVE_H */
