/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock: error bounds around a reading, in the manner of TrueTime
 * and ClockBound.  The reading is read.c's; this file only adds up what
 * the pages say about how wrong it can be (see pvclock.h and
 * docs/ecosystem.md for the semantics).
 */
#include <stdbool.h>
#include <string.h>

#include "pvclock-internal.h"

/*
 * How fast the host kernel's maximum error grows between its NTP
 * daemon's updates: 500 us per second (MAXFREQ, added once a second in
 * the kernel's second_overflow()), and how often the helper samples it.
 */
#define NTP_GROWTH_PPB      500000ull
#define NTP_SAMPLE_NS       1000000000ull
/* A scaled page or a scaling transform may round by a nanosecond. */
#define ROUNDING_NS         1ull

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* ns * ppb / 1e9, rounded up, saturating. */
static uint64_t part_of(uint64_t ns, uint64_t ppb)
{
    pvcp_u128 p = (pvcp_u128)ns * ppb + PVCP_NSEC_PER_SEC - 1;

    p /= PVCP_NSEC_PER_SEC;
    return p > UINT64_MAX ? UINT64_MAX : (uint64_t)p;
}

/* The reading's age: host time since the helper last said it was alive. */
static uint64_t age_ns(const struct pvclock_bound_words *w)
{
    pvcp_u128 ns;

    if (w->counter_mode == PVCP_COUNTER_RAW_NS) {
        return w->age;
    }
    if (!w->counter_hz) {
        return UINT64_MAX;      /* a host that does not say its rate */
    }
    ns = (pvcp_u128)w->age * PVCP_NSEC_PER_SEC / w->counter_hz;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static struct timespec ts_of(pvcp_u128 ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / PVCP_NSEC_PER_SEC);
    ts.tv_nsec = (long)(ns % PVCP_NSEC_PER_SEC);
    return ts;
}

static void fill(const struct pvcp_time *t, clockid_t clk, uint32_t drift,
                 const struct pvclock_bound_words *w, int err,
                 struct pvclock_bounds *b)
{
    uint64_t age = age_ns(w), e;
    pvcp_u128 now = (pvcp_u128)t->sec * PVCP_NSEC_PER_SEC + t->nsec;
    bool utc = clk == CLOCK_REALTIME || clk == CLOCK_TAI;

    memset(b, 0, sizeof(*b));
    /* a host line the helper has not been seen to confirm since */
    e = age == UINT64_MAX ? UINT64_MAX
        : sat_add(ROUNDING_NS, part_of(age, drift ? drift
                                                  : PVCLOCK_DRIFT_PPB_DEFAULT));
    b->sync = err == PVCLOCK_ESTALE ? PVCLOCK_SYNC_STALE : PVCLOCK_SYNC_OK;
    if (utc && (w->host_flags & PVCP_HOST_F_UNSYNC)) {
        e = UINT64_MAX;         /* the host's own daemon claims nothing */
        b->sync = PVCLOCK_SYNC_UNSYNCED;
    } else if (utc) {
        /* the host's maxerror, grown since the helper sampled it */
        e = sat_add(e, sat_add(w->maxerror_ns,
                               part_of(sat_add(age, NTP_SAMPLE_NS),
                                       NTP_GROWTH_PPB)));
    }
    b->error_ns = e;
    b->now = ts_of(now);
    b->earliest = ts_of(now > e ? now - e : 0);
    b->latest = ts_of(now + e);
}

static int bounds(const struct pvclock *pc, clockid_t clk, int at,
                  uint64_t counter, uint32_t max_drift_ppb,
                  struct pvclock_bounds *b)
{
    struct pvclock_bound_words w;
    struct pvcp_time t;
    int err;

    if (!b) {
        return PVCLOCK_EINVAL;
    }
    if (!pc) {
        return PVCLOCK_ENOTMAPPED;
    }
    err = pvclock_read_bounded(pc, clk, at, counter, &t, &w);
    if (err != PVCLOCK_OK && err != PVCLOCK_ESTALE) {
        return err;
    }
    fill(&t, clk, max_drift_ppb, &w, err, b);
    return err;
}

int pvclock_gettime_bounds(const struct pvclock *pc, clockid_t clk,
                           uint32_t max_drift_ppb, struct pvclock_bounds *b)
{
    return bounds(pc, clk, 0, 0, max_drift_ppb, b);
}

int pvclock_gettime_bounds_at(const struct pvclock *pc, clockid_t clk,
                              uint64_t counter, uint32_t max_drift_ppb,
                              struct pvclock_bounds *b)
{
    return bounds(pc, clk, 1, counter, max_drift_ppb, b);
}
