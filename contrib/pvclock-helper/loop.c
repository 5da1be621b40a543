/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The poll loop.  See loop.h.
 */
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "publish.h"
#include "systemd.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void announce(const struct helper *h)
{
    if (h->simulated) {
        helper_log("publishing %s for a simulated host (%" PRIu64 " Hz, "
                   "REALTIME %+" PRId64 " ns, %+" PRId64 " ppb, epoch %"
                   PRIu64 ")", h->opt.where, h->sim.params.tsc_hz,
                   h->sim.params.realtime_offset_ns, h->sim.params.freq_ppb,
                   h->epoch);
    } else {
        helper_log("publishing %s (layout %s, %s, epoch %" PRIu64 ")",
                   h->opt.where, h->vvar.layout->name,
                   h->snap.counter_mode == PVCP_COUNTER_TSC_KVMCLOCK
                   ? "kvm-clock over TSC" : "TSC", h->epoch);
    }
}

/*
 * Someone truncated, zeroed or scribbled on the pages: readers saw no
 * valid page meanwhile.  Publish everything again, as a disruption.
 */
static void repair(struct helper *h)
{
    if (!pages_repair(&h->pf)) {
        return;
    }
    h->disruptions++;
    pages_set_epoch(&h->pf, h->epoch);
    helper_log("pages %s were damaged by another process; repaired it "
               "(disruption %" PRIu64 ")", h->opt.where, h->disruptions);
    h->work = true;
    h->last_heartbeat = 0;
}

static void wait_round(struct helper *h, uint64_t now)
{
    if (h->simulated) {
        unsigned long us = h->opt.interval_us;
        struct timespec ts = { (time_t)(us / 1000000),
                               (long)(us % 1000000) * 1000 };

        nanosleep(&ts, NULL);
    } else {
        pacer_observe(&h->pacer, &h->snap, now);
        pacer_wait(&h->pacer, &h->vvar, &stop_signal);
    }
}

/*
 * This kernel's next lines: a cheap snapshot every round; only a changed
 * mapping is validated against clock_gettime() before it is published.
 * Returns 0, or -1 once logged if the data became unusable.
 */
static int next_snapshot(struct helper *h)
{
    struct pvcp_host_page *p0 = &h->page[0];
    char err[VVAR_ERR_LEN];

    if (vvar_peek_seq(&h->vvar) == h->snap.seq) {
        return 0;               /* the kernel has not written since */
    }
    if (vvar_snapshot(&h->vvar, &h->snap, err) < 0) {
        helper_log("host clock data became unusable: %s", err);
        return -1;
    }
    memset(p0, 0, sizeof(*p0));
    pages_fill_from_snapshot(p0, &h->snap, vvar_counter_hz(&h->snap));
    derive_ntp(p0, &h->ntp);
    p0->disruptions = h->disruptions;
    if (pages_due(&h->pf, PVCP_PAGE_UNSCALED_UNSMEARED, p0)) {
        if (vvar_read_validated(&h->vvar, &h->snap, err) < 0) {
            helper_log("new host clock data did not validate: %s", err);
            return -1;
        }
        h->work = true;
    }
    return 0;
}

/* The synthetic host's next lines, after its control file. */
static void next_simulated(struct helper *h)
{
    if (control_step(&h->sim, h->opt.verbose)) {
        h->work = true;
    }
    h->snap = h->sim.host.snap;
    h->ntp = h->sim.host.ntp;
}

static void report_stop(const struct helper *h)
{
    sd_notify_fd("STOPPING=1", -1);
    helper_log("stopping on signal %d after %" PRIu64 " publications; the "
               "pages stay in place and turn stale after %lu ms",
               (int)stop_signal, h->publications, h->opt.stale_ms);
    if (h->opt.verbose && !h->simulated) {
        helper_log("kernel update period %" PRIu64 " ns; %" PRIu64 " spins "
                   "(%" PRIu64 " caught an update), %" PRIu64 " us spent",
                   h->pacer.period_ns, h->pacer.spins, h->pacer.spin_hits,
                   h->pacer.spin_ns / 1000);
    }
}

int loop_run(struct helper *h)
{
    catch_stop_signals();
    announce(h);
    pacer_init(&h->pacer, (uint64_t)h->opt.interval_us * 1000,
               h->opt.track_ticks);
    for (;;) {
        uint64_t now = pacer_mono_ns(), tsc = vvar_read_tsc();

        repair(h);
        if (publish_due(h, now, tsc)) {
            publish_round(h, now, tsc);
            if (h->opt.once) {
                break;
            }
        }
        wait_round(h, now);
        if (stop_signal) {
            break;
        }
        if (h->simulated) {
            next_simulated(h);
        } else if (next_snapshot(h) < 0) {
            return 2;
        }
    }
    if (stop_signal) {
        report_stop(h);
    }
    return 0;
}
