/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VMClock's TIME_MONOTONIC promise over the device's rewrites
 * (pvcp_vmc_next_line(), issue 34): a property test.  Each case: a
 * counter of 0.5..5 GHz, a published line that was the host's, the
 * host's line turning by r in -500..+500 ppm at count H (continuous
 * there, as the kernel's is), and the device rewriting lag 0..1 s later
 * (the futex wake, or the 1 Hz watch at worst).  What must hold:
 *   monotonic  every reading of the old line at a count up to the
 *              rewrite is not after any reading of the new line at a
 *              count from the rewrite on (random pairs, and the rewrite
 *              count itself on both)
 *   exact      when the host sped up, the new line is the host's
 *   bounded    the new line is never behind the host's and at most
 *              ahead ahead of it, and ahead is at most |r| * lag: what
 *              the published error allows for the lag
 *   meets      a second rewrite once the slower line has met the host's
 *              (at its catch-up point or up to 10 ms later) is monotonic
 *              too and lands on the host's line (ahead under 1 ns)
 * PVCLOCK_VMC_CASES sets the number of cases (default 10^6); PVCLOCK_SEED
 * the seed.  Without the max (the host's line published as it is), the
 * monotonic check fails in every case where the host slowed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"
#include "xorshift.h"

#define SLEW_BITS 13            /* the device's: 122 ppm */
#define NS (((pvcp_u128)1 << 64) / 1000000000u)  /* 1 ns in 2^-64 s */

static uint64_t rng = 0x5eed5eed5eedull;

static double unit(void)
{
    return (xorshift64s(&rng) >> 11) * 0x1.0p-53;
}

/* A line of frequency f (counts/s) through (count, time). */
static struct pvcp_vmc_line line_of(double f, pvcp_u64 count, pvcp_u128 time)
{
    struct pvcp_vmc_line l = { .count = count, .time = time };
    unsigned p = 63 - __builtin_clzll((uint64_t)f) - 1;

    l.shift = p;
    l.period = (pvcp_u64)(0x1.0p64 * (0x1.0p0 * ((pvcp_u64)1 << p)) / f);
    return l;
}

/* The host's line at count c: old's until h, then period p1 */
static pvcp_u128 host_at(const struct pvcp_vmc_line *old, pvcp_u64 h,
                         pvcp_u64 p1, pvcp_u64 c)
{
    struct pvcp_vmc_line after = *old;

    after.count = h;
    after.time = pvcp_vmc_line_at(old, h);
    after.period = p1;
    return c <= h ? pvcp_vmc_line_at(old, c) : pvcp_vmc_line_at(&after, c);
}

int main(void)
{
    const char *env = getenv("PVCLOCK_VMC_CASES");
    long cases = env ? atol(env) : 1000000;
    long mono_bad = 0, exact_bad = 0, bound_bad = 0, meet_bad = 0;
    long slowed = 0, slewed = 0;
    double worst_ahead_ns = 0, worst_meet_ns = 0;

    if (getenv("PVCLOCK_SEED")) {
        rng = strtoull(getenv("PVCLOCK_SEED"), NULL, 0) | 1;
    }
    tap_diag("seed 0x%" PRIx64 ", %ld cases", rng, cases);
    for (long i = 0; i < cases; i++) {
        double f = 5e8 + unit() * 4.5e9;
        double r = (unit() * 2 - 1) * 500e-6;
        double lag = unit() < 0.1 ? 0 : unit();
        pvcp_u64 g0 = xorshift64s(&rng) >> 2;
        pvcp_u128 t0 = ((pvcp_u128)(1700000000 + (xorshift64s(&rng) >> 34))
                        << 64) + xorshift64s(&rng);
        struct pvcp_vmc_line old = line_of(f, g0, t0), host, next, next2;
        pvcp_u64 h = g0 + (pvcp_u64)(unit() * f * 2);
        pvcp_u64 p1 = (pvcp_u64)(old.period / (1 + r));
        pvcp_u64 gw = h + (pvcp_u64)(lag * f);
        pvcp_u128 ahead, ahead2, lim;
        pvcp_u64 meet, c, c2;

        host = old;
        host.count = gw;
        host.time = host_at(&old, h, p1, gw);
        host.period = p1;
        pvcp_vmc_next_line(&old, &host, SLEW_BITS, &next, &ahead);
        slowed += p1 < old.period;     /* less time per count */

        /* monotonic: old at c <= gw, new at c2 >= gw */
        c = gw - (pvcp_u64)(unit() * f * lag);
        c2 = gw + (pvcp_u64)(unit() * f);
        if (pvcp_vmc_line_at(&old, gw) > pvcp_vmc_line_at(&next, gw) ||
            pvcp_vmc_line_at(&old, c) > pvcp_vmc_line_at(&next, c2)) {
            mono_bad++;
        }
        /* exact when the host's line is not behind the old one */
        if (!ahead && (next.time != host.time || next.period != p1)) {
            exact_bad++;
        }
        if (p1 >= old.period && ahead) {
            exact_bad++;        /* the host sped up: nothing to catch */
        }
        /* bounded: ahead <= |r| * lag (+2 ns of rounding) */
        lim = (pvcp_u128)(0x1.0p64 * (r < 0 ? -r : r) * lag) + 2 * NS;
        if (ahead > lim) {
            bound_bad++;
        }
        if (!ahead) {
            continue;
        }
        slewed++;
        if ((double)ahead / NS > worst_ahead_ns) {
            worst_ahead_ns = (double)ahead / NS;
        }
        /* counts until the slower line meets the host's */
        meet = gw + (pvcp_u64)((double)ahead * 0x1.0p0 /
                               ((double)(p1 >> SLEW_BITS) /
                                (double)((pvcp_u64)1 << next.shift)));
        for (pvcp_u64 x = gw; x <= meet; x += (meet - gw) / 4 + 1) {
            pvcp_u128 n = pvcp_vmc_line_at(&next, x), hx = host_at(&old, h,
                                                                   p1, x);
            if (n < hx || n - hx > ahead + NS) {
                bound_bad++;
            }
        }
        /* the second rewrite, at the meeting point or up to 10 ms on */
        host.count = meet + (pvcp_u64)(unit() * f * 0.01);
        host.time = host_at(&old, h, p1, host.count);
        pvcp_vmc_next_line(&next, &host, SLEW_BITS, &next2, &ahead2);
        if (pvcp_vmc_line_at(&next, host.count) >
            pvcp_vmc_line_at(&next2, host.count)) {
            mono_bad++;
        }
        if (ahead2 >= NS) {
            meet_bad++;
            if ((double)ahead2 / NS > worst_meet_ns) {
                worst_meet_ns = (double)ahead2 / NS;
            }
        }
    }
    tap_diag("%ld cases where the host slowed, %ld rewrites started ahead "
             "(at most %.0f ns)", slowed, slewed, worst_ahead_ns);
    tap_ok(mono_bad == 0, "monotonic: no reading of the old line up to the "
           "rewrite is after a reading of the new one from it on, over %ld "
           "rewrites and their second rewrites (%ld violations)",
           cases, mono_bad);
    tap_ok(exact_bad == 0, "where the host did not slow, the new line is "
           "the host's exactly (%ld not)", exact_bad);
    tap_ok(bound_bad == 0, "the new line is never behind the host's, at most "
           "ahead of it, and ahead <= |slope change| * lag (%ld not)",
           bound_bad);
    tap_ok(slewed > 0 && meet_bad == 0, "once the slower line has met the "
           "host's, the next rewrite lands on the host's line within 1 ns "
           "(%ld of %ld not, worst %.1f ns)", meet_bad, slewed,
           worst_meet_ns);
    return tap_done();
}
