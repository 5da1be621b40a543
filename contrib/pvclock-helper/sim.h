/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulate mode: the pages of a synthetic host, for tests and the
 * migration harness.  The synthetic host has its own counter (the real
 * TSC through a published transform, so readers and QEMU need nothing
 * new), its own TSC frequency, REALTIME offset, NTP frequency adjustment
 * and leap second, all in the normal page format.
 *
 * Parameters, as "key=value,key=value" or one per line in a control file
 * that the helper re-reads when it changes:
 *   tsc_hz=N              counter frequency (fixed once started)
 *   realtime_offset_ns=N  synthetic REALTIME - real REALTIME (a change is
 *                         a step of the synthetic host's clock)
 *   freq_ppb=N            NTP frequency adjustment of REALTIME, TAI,
 *                         MONOTONIC and BOOTTIME against MONOTONIC_RAW
 *   tai_offset=N          TAI - UTC
 *   leap=+1@UTC | -1@UTC  a leap second at UTC second UTC (a midnight)
 *   counter_start=N       synthetic counter value at start
 */
#ifndef PVCLOCK_HELPER_SIM_H
#define PVCLOCK_HELPER_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "derive.h"
#include "vvar.h"

struct sim_params {
    uint64_t tsc_hz;
    int64_t realtime_offset_ns;
    int64_t freq_ppb;
    int32_t tai_offset;
    int32_t leap;               /* 0 none */
    uint64_t leap_utc;
    uint64_t counter_start;
};

struct sim_host {
    struct sim_params p;
    struct pvcp_xform sim;      /* real TSC -> synthetic counter */
    struct host_snapshot snap;  /* current synthetic lines */
    struct host_ntp ntp;
    bool leap_done;
    int32_t tai_leaps;          /* TAI - UTC change by applied leaps */
    uint64_t changes;           /* re-anchorings so far */
};

/* Parse SPEC into p, starting from p's values.  -1 with err on error. */
int sim_parse(struct sim_params *p, const char *spec, char *err,
              size_t errlen);

/* Defaults: 2.5 GHz, no offsets, TAI - UTC 37 s, counter from 10^12. */
void sim_defaults(struct sim_params *p);

/*
 * Start the synthetic host now: real_hz is the real TSC frequency (the
 * transform's denominator).  -1 with err on bad parameters.
 */
int sim_start(struct sim_host *h, const struct sim_params *p,
              uint64_t real_hz, char *err, size_t errlen);

/*
 * Go on with a previous helper's synthetic counter (its transform prev,
 * found in the pages it published): the same simulated host, restarted,
 * as a real host's TSC runs on across a helper restart.
 */
void sim_continue(struct sim_host *h, const struct pvcp_xform *prev);

/*
 * Apply new parameters (from the control file) and the leap second, at
 * real TSC tsc.  Clocks stay continuous except where a parameter is a
 * step (realtime_offset_ns) or the leap itself.  Returns true if the
 * lines changed.  -1 with err if a parameter cannot change (tsc_hz).
 */
int sim_update(struct sim_host *h, const struct sim_params *p, uint64_t tsc,
               char *err, size_t errlen);

/* The synthetic counter at real TSC tsc. */
uint64_t sim_counter(const struct sim_host *h, uint64_t tsc);

#endif /* PVCLOCK_HELPER_SIM_H */
