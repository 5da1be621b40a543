/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deriving and writing the four host pages.  See publish.h.
 */
#include <inttypes.h>
#include <string.h>

#include "pvclock-pages/pvclock-pages-calc.h"
#include "leap.h"
#include "log.h"
#include "publish.h"
#include "systemd.h"

#define NTP_SAMPLE_NS   1000000000ull   /* adjtimex() once a second */

void publish_start(struct helper *h)
{
    h->epoch = h->pf.page[0]->helper_epoch + 1;
    /* a restart is a disruption: whatever happened while none ran */
    h->disruptions = h->pf.page[0]->disruptions + 1;
    pages_set_epoch(&h->pf, h->epoch);
    /* a restart inside a smear window carries on with it */
    leaptrack_resume(&h->leap, h->pf.page[PVCP_PAGE_UNSCALED_SMEARED]);
    if (h->simulated) {
        /* scaled pages describe the real host's raw clock: not simulated */
        pages_unpublish(&h->pf, PVCP_PAGE_SCALED_UNSMEARED);
        pages_unpublish(&h->pf, PVCP_PAGE_SCALED_SMEARED);
    }
    h->work = true;
}

bool publish_due(const struct helper *h, uint64_t now, uint64_t tsc)
{
    const struct pvcp_host_page *scaled = &h->page[2];

    return h->work ||
           now - h->last_heartbeat >= h->opt.heartbeat_ms * 1000000ull ||
           now - h->last_ntp >= NTP_SAMPLE_NS ||
           (!h->simulated && scaled->counter_mode == PVCP_COUNTER_RAW_NS &&
            derive_raw_ns(&h->page[0], tsc) - scaled->hres.cycle_last >=
            DERIVE_SCALED_REFRESH_NS);
}

/*
 * Did what the pages say TAI - UTC is change (a step of true TAI for
 * whoever follows it, as VMClock does)?
 */
static bool tai_changed(const struct pvcp_host_page *old,
                        const struct pvcp_host_page *new)
{
    const uint64_t f = PVCP_HOST_F_TAI_KNOWN;

    return (old->flags & PVCP_HOST_F_VALID) &&
           ((old->flags & f) != (new->flags & f) ||
            old->known_tai_offset != new->known_tai_offset);
}

/* Page 0's TAI and REALTIME at host TSC tsc. */
static void page0_now(const struct helper *h, uint64_t tsc,
                      struct pvcp_time *tai, struct pvcp_time *rt)
{
    const struct pvcp_host_page *p0 = &h->page[0];
    uint64_t c = h->simulated ? sim_counter(&h->sim.host, tsc)
                              : pvcp_host_cycles(p0->counter_mode,
                                                 &p0->kvmclock, tsc);

    *tai = pvcp_clock_at(&p0->hres, &p0->hres_base[PVCP_HRES_TAI],
                         p0->flags, c);
    *rt = pvcp_clock_at(&p0->hres, &p0->hres_base[PVCP_HRES_REALTIME],
                        p0->flags, c);
}

/*
 * What the pages say TAI - UTC is: the kernel's, or the leap list's at
 * page 0's REALTIME, or unknown.  Logged when that changes.
 */
static void know_tai(struct helper *h, uint64_t utc)
{
    static const char *const from[] = {
        [LEAP_TAI_UNKNOWN] = "unknown",
        [LEAP_TAI_KERNEL] = "the kernel's (set by an NTP daemon)",
        [LEAP_TAI_LIST] = "the leap second list's (the kernel's is 0)",
    };
    int32_t tai = 0;
    enum leap_tai_source src;

    src = leap_tai_offset(h->leap.have_list ? &h->leap.list : NULL,
                          h->ntp.tai, utc, &tai);
    h->ntp.tai_source = src;
    h->ntp.known_tai = tai;
    if (!h->tai_said || (int)src != h->tai_logged_source ||
        tai != h->tai_logged) {
        if (src == LEAP_TAI_UNKNOWN) {
            helper_log("TAI - UTC unknown: the kernel's is 0 and no "
                       "unexpired leap second list covers now; the pages "
                       "say so and VMClock turns unreliable (set it with "
                       "chronyd's leapsectz, or --leap-file a current "
                       "list)");
        } else {
            helper_log("TAI - UTC is %d s, %s", tai, from[src]);
        }
        h->tai_logged_source = src;
        h->tai_logged = tai;
        h->tai_said = true;
    }
}

/* The leap second to smear around, as of page 0's TAI and REALTIME now. */
static void track_leap(struct helper *h, uint64_t tsc)
{
    struct pvcp_time tai, rt;

    page0_now(h, tsc, &tai, &rt);
    leaptrack_update(&h->leap, &h->ntp, tai.sec, rt.sec);
}

/*
 * Page 0, the host's own lines exactly, and page 1, the same smeared.
 * Returns true if page 0's mapping changed.
 */
static bool publish_unscaled(struct helper *h, uint64_t tsc, uint64_t hz)
{
    struct pvcp_host_page *p0 = &h->page[0], *p1 = &h->page[1];
    struct pvcp_time tai, rt;
    bool changed;

    memset(p0, 0, sizeof(*p0));
    pages_fill_from_snapshot(p0, &h->snap, hz);
    page0_now(h, tsc, &tai, &rt);
    know_tai(h, rt.sec);
    derive_ntp(p0, &h->ntp);
    if (derive_stepped(&h->published0, p0) ||
        tai_changed(&h->published0, p0)) {
        h->disruptions++;
        helper_log("the host's REALTIME or TAI stepped, or its known TAI "
                   "offset changed: disruption %" PRIu64, h->disruptions);
    }
    p0->disruptions = h->disruptions;
    if (h->simulated) {
        p0->sim = h->sim.host.sim;
    }
    track_leap(h, tsc);
    changed = pages_publish(&h->pf, PVCP_PAGE_UNSCALED_UNSMEARED, p0);
    h->published0 = *p0;

    *p1 = *p0;
    derive_smear(p1, &h->leap.active);
    pages_publish(&h->pf, PVCP_PAGE_UNSCALED_SMEARED, p1);
    return changed;
}

/*
 * Pages 2 and 3: the counter in host MONOTONIC_RAW ns, re-derived when
 * page 0 changed or the last derivation is getting old.  Returns the
 * MONOTONIC_RAW ns at TSC tsc.
 */
static uint64_t publish_scaled(struct helper *h, uint64_t tsc, bool changed)
{
    struct pvcp_host_page *p2 = &h->page[2], *p3 = &h->page[3];
    uint64_t raw_now = derive_raw_ns(&h->page[0], tsc);

    if (changed || p2->counter_mode != PVCP_COUNTER_RAW_NS ||
        raw_now - p2->hres.cycle_last >= DERIVE_SCALED_REFRESH_NS) {
        struct pvcp_host_page prev = *p2;

        derive_scaled(p2, &h->page[0], &prev, raw_now);
    }
    derive_ntp(p2, &h->ntp);
    pages_publish(&h->pf, PVCP_PAGE_SCALED_UNSMEARED, p2);
    *p3 = *p2;
    derive_smear(p3, &h->leap.active);
    pages_publish(&h->pf, PVCP_PAGE_SCALED_SMEARED, p3);
    return raw_now;
}

/* The liveness stamp of every page, in each page's counter domain. */
static void publish_heartbeat(struct helper *h, uint64_t now, uint64_t tsc,
                              uint64_t hz, uint64_t raw_now)
{
    uint64_t counters[PVCP_HOST_PAGES], stale[PVCP_HOST_PAGES];
    uint64_t c = h->simulated ? sim_counter(&h->sim.host, tsc) : tsc;
    unsigned long stale_ms = h->opt.stale_ms;

    counters[0] = counters[1] = c;
    stale[0] = stale[1] = (uint64_t)((pvcp_u128)hz * stale_ms / 1000);
    counters[2] = counters[3] = raw_now;
    stale[2] = stale[3] = h->simulated ? 0 : (uint64_t)stale_ms * 1000000;
    pages_heartbeat(&h->pf, counters, now, stale,
                    (uint32_t)h->opt.heartbeat_ms);
    h->last_heartbeat = now;
}

void publish_round(struct helper *h, uint64_t now, uint64_t tsc)
{
    uint64_t hz, raw_now = 0;
    bool changed;

    h->work = false;
    hz = h->simulated ? h->sim.params.tsc_hz : vvar_counter_hz(&h->snap);
    if (!h->simulated && now - h->last_ntp >= NTP_SAMPLE_NS) {
        derive_read_ntp(&h->ntp);
        h->last_ntp = now;
    }
    changed = publish_unscaled(h, tsc, hz);
    if (!h->simulated) {
        raw_now = publish_scaled(h, tsc, changed);
    }
    if (changed) {
        h->publications++;
        if (h->opt.verbose) {
            helper_log("published mapping %" PRIu64 " (kernel seq %u)",
                       h->publications, h->snap.seq);
        }
    }
    if (!h->ready_sent) {
        /* the pages are current (a restart may have found them so) */
        sd_notify_fd("READY=1\nSTATUS=publishing", -1);
        h->ready_sent = true;
    }
    if (now - h->last_heartbeat >= h->opt.heartbeat_ms * 1000000ull) {
        publish_heartbeat(h, now, tsc, hz, raw_now);
    }
}
