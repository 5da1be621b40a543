/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * When the helper looks at the kernel's data.
 *
 * A page that still carries the previous line is wrong by the change of
 * slope times the time since the kernel switched (the helper's lag).
 * With an unchanged slope there is no error however late the helper is,
 * so polling every interval is enough; but while the kernel is changing
 * the slope (the host is being slewed) the lag must be tiny.  The kernel
 * updates its data at ticks: the pacer learns the period from the
 * MONOTONIC values at successive cycle_last (whole tick intervals), finds
 * the phase of the writes by watching one happen, then sleeps until just
 * before each expected write and spins on the kernel's seqcount until it
 * moves.  It does so while the slope changed in the last few seconds,
 * when asked to (track_ticks, pvclock-helper --track-ticks).
 *
 * What it cannot catch: adjtimex(ADJ_FREQUENCY) itself publishes the new
 * slope at once, at the moment of the call, not at a tick.  For that
 * first change the error is the frequency step times the poll interval
 * (100 ppm x 1 ms = 100 ns), for one interval; docs/helper.md.
 */
#ifndef PVCLOCK_HELPER_PACER_H
#define PVCLOCK_HELPER_PACER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "vvar.h"

/*
 * pvclock-helper's default --interval-us, in ns.  Guests whose device
 * maps the live page (the kernel's own data) do not depend on it for
 * exactness; a page read from the helper's copy is off by the slope
 * change times up to one interval (docs/helper.md), and --interval-us
 * 1000 --track-ticks brings back the tight bound where that matters.
 */
#define PACER_DEFAULT_INTERVAL_NS   50000000ull
#define PACER_ACTIVE_NS     (10 * 1000000000ull)    /* after a slope change */
#define PACER_EARLY_NS      60000                   /* wake before the tick */
#define PACER_LATE_NS       300000                  /* give up after it */

struct pacer {
    uint64_t interval_ns;
    bool track_ticks;           /* spin at the kernel's ticks when active */
    uint64_t period_ns;         /* kernel update period learnt, 0 unknown */
    uint64_t last_update;       /* MONOTONIC at the kernel's cycle_last */
    uint64_t last_write;        /* MONOTONIC when a write was seen, 0 none */
    unsigned misses;
    uint32_t last_mult;
    uint64_t active_until;      /* MONOTONIC ns */
    /* statistics */
    uint64_t spins, spin_ns, spin_hits;
};

/*
 * track_ticks: while the slope changes, wake just before each kernel
 * update and spin until it is seen (costs CPU; --track-ticks).
 */
void pacer_init(struct pacer *p, uint64_t interval_ns, bool track_ticks);

/* Learn from the snapshot just taken at MONOTONIC now. */
void pacer_observe(struct pacer *p, const struct host_snapshot *snap,
                   uint64_t now);

/*
 * Return at the next moment worth a snapshot: after interval_ns, or, when
 * a kernel update that may change the slope is due, right after it.
 * stop: return early when it becomes non-zero (a signal).
 */
void pacer_wait(struct pacer *p, const struct vvar_source *src,
                volatile sig_atomic_t *stop);

uint64_t pacer_mono_ns(void);

#endif /* PVCLOCK_HELPER_PACER_H */
