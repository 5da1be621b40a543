/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Following the leap second the smeared pages show.  See leaptrack.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "vvar.h"
#include "leaptrack.h"
#include "log.h"

void leaptrack_load(struct leap_tracker *t, const char *path)
{
    char err[VVAR_ERR_LEN];

    t->path = path;
    if (!path) {
        return;
    }
    if (leap_list_load(&t->list, path, err, sizeof(err)) == 0) {
        t->have_list = true;
    } else if (strcmp(path, LEAP_DEFAULT_LIST) || errno != ENOENT) {
        helper_log("leap second list not used: %s", err);
    }
}

void leaptrack_check_expiry(const struct leap_tracker *t, uint64_t now_utc)
{
    if (t->have_list && t->list.expires && now_utc > t->list.expires) {
        helper_log("leap second list %s expired at UTC %" PRIu64 "; leap "
                   "seconds after it are known only if the host's NTP "
                   "daemon arms the kernel (update tzdata)", t->path,
                   t->list.expires);
    }
}

void leaptrack_resume(struct leap_tracker *t,
                      const volatile struct pvcp_host_page *page)
{
    const volatile struct pvcp_smear *sm = &page->smear;

    if (!sm->leap || page->counter_mode == PVCP_COUNTER_NONE) {
        return;
    }
    t->active.leap = sm->leap;
    t->active.tai_before = sm->tai_offset_before;
    t->active.start_tai = sm->start_tai_sec;
    /* the window ends at noon UTC after the leap: derive_noon_after_tai() */
    t->active.utc = sm->start_tai_sec + sm->duration_s - 43200 -
                    (uint64_t)(int64_t)(sm->tai_offset_before + sm->leap);
}

void leaptrack_update(struct leap_tracker *t, const struct host_ntp *ntp,
                      uint64_t now_tai, uint64_t now_utc)
{
    struct leap_event *active = &t->active, ev;

    if (leap_schedule(t->have_list ? &t->list : NULL, ntp, now_utc, &ev)) {
        if (active->leap && active->utc == ev.utc &&
            active->leap == ev.leap) {
            return;                     /* known already */
        }
        /* learnt late: start smearing now rather than jump */
        if (ev.start_tai < now_tai) {
            ev.start_tai = now_tai;
        }
        if (ev.start_tai < derive_noon_after_tai(&ev)) {
            *active = ev;
            helper_log("leap second %+d at UTC %" PRIu64 ": smearing from "
                       "TAI %" PRIu64 " to %" PRIu64, ev.leap, ev.utc,
                       ev.start_tai, derive_noon_after_tai(&ev));
        }
        return;
    }
    if (active->leap && now_tai >= derive_noon_after_tai(active)) {
        helper_log("leap second smear finished");
        memset(active, 0, sizeof(*active));
    }
}
