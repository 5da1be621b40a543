/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One publication: the four host pages derived from the host's current
 * lines (page 0 exactly, 1 smeared, 2 and 3 scaled to MONOTONIC_RAW ns),
 * written where their mapping changed, and the liveness stamp renewed
 * when it is due.
 */
#ifndef PVCLOCK_HELPER_PUBLISH_H
#define PVCLOCK_HELPER_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include "helper.h"

/*
 * Before the first round, over freshly opened pages: this run's epoch,
 * the disruption a restart is, and the smear a restart inside a leap
 * second window carries on with.
 */
void publish_start(struct helper *h);

/*
 * Is anything to do at MONOTONIC ns now, TSC tsc?  Most rounds nothing
 * is: the host's lines are the published ones and no heartbeat, NTP
 * sample or scaled-page refresh is due.
 */
bool publish_due(const struct helper *h, uint64_t now, uint64_t tsc);

/* Publish everything from h->snap at MONOTONIC ns now, TSC tsc. */
void publish_round(struct helper *h, uint64_t now, uint64_t tsc);

#endif /* PVCLOCK_HELPER_PUBLISH_H */
