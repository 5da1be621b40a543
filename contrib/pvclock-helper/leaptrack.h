/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leap second the smeared pages (1 and 3) follow.  Once the host's
 * kernel or the leap second list announces one, the helper keeps it to
 * the end of its smear window (noon UTC after the leap), whatever the
 * kernel's flags say meanwhile, and a restart inside the window carries
 * on with the smear the pages already show.
 */
#ifndef PVCLOCK_HELPER_LEAPTRACK_H
#define PVCLOCK_HELPER_LEAPTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "derive.h"
#include "leap.h"

struct leap_tracker {
    const char *path;           /* --leap-file, NULL for none */
    struct leap_list list;
    bool have_list;
    struct leap_event active;   /* leap 0: none */
};

/*
 * Load the leap second list at path (NULL: none).  A list that cannot be
 * used is logged and ignored, except the default list's absence (tzdata
 * not installed: the kernel's flags still announce leaps).
 */
void leaptrack_load(struct leap_tracker *t, const char *path);

/* Warn if the list expired before UTC second now_utc. */
void leaptrack_check_expiry(const struct leap_tracker *t, uint64_t now_utc);

/* Carry on with the smear that page (an unscaled, smeared page) shows. */
void leaptrack_resume(struct leap_tracker *t,
                      const volatile struct pvcp_host_page *page);

/*
 * Follow the schedule at TAI second now_tai, UTC second now_utc: take a
 * newly announced leap (from now, if learnt after its window opened, so
 * that the smeared clock never jumps) and drop one whose window is over.
 * Both are logged.
 */
void leaptrack_update(struct leap_tracker *t, const struct host_ntp *ntp,
                      uint64_t now_tai, uint64_t now_utc);

#endif /* PVCLOCK_HELPER_LEAPTRACK_H */
