/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper: publishes the host kernel's timekeeping data as
 * pvclock-pages host pages.  One per host; QEMU's -device pvclock-pages
 * maps its pages file into guests.
 *
 * main() only parses the options (options.c), opens what the helper
 * needs and runs the loop (loop.c).  The vvar reader (vvar.c and the
 * detection it shares with QEMU, pvclock-pages/pvclock-vvar.h) or the
 * synthetic host (sim.c, steered by control.c) give the host's lines;
 * publish.c makes the four pages from them with derive.c and
 * leaptrack.c, and pages.c writes them.  The state is struct helper.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "helper.h"
#include "inspect.h"
#include "log.h"
#include "loop.h"
#include "publish.h"
#include "verify.h"

static void describe(const struct vvar_source *src,
                     const struct host_snapshot *snap)
{
    printf("vvar layout: %s\n", src->layout->name);
    printf("clock mode: %s\n",
           snap->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK
           ? "kvm-clock over TSC (host is a KVM guest)" : "TSC");
    printf("counter: %" PRIu64 " Hz nominal\n", vvar_counter_hz(snap));
    printf("validated against clock_gettime: REALTIME MONOTONIC "
           "MONOTONIC_RAW BOOTTIME TAI\n");
}

/*
 * The pages: the file --pages names, or a sealed memfd (the one systemd
 * kept from the last run, if any) served on --socket.
 */
static int open_pages(struct helper *h, char *err, size_t errlen)
{
    struct pages_file *pf = &h->pf;
    int kept;

    if (!h->opt.socket_path) {
        return pages_open(pf, h->opt.pages_path, err, errlen);
    }
    kept = handoff_take_stored();
    if (pages_open_memfd(pf, kept, err, errlen) < 0) {
        if (kept < 0) {
            return -1;
        }
        helper_log("not using the memfd systemd kept: %s; starting new pages",
                   err);
        kept = -1;
        if (pages_open_memfd(pf, -1, err, errlen) < 0) {
            return -1;
        }
    }
    if (handoff_start(&h->handoff, h->opt.socket_path, pf->fd, err,
                      errlen) < 0) {
        pages_close(pf);
        return -1;
    }
    if (kept < 0) {
        handoff_store(pf->fd);
    } else {
        helper_log("publishing into the pages systemd kept from the last run");
    }
    return 0;
}

/*
 * This host's clocks, which are needed even when simulating: the real
 * TSC drives the synthetic counter too.  Returns 0 or the exit status.
 */
static int open_host(struct helper *h)
{
    char err[VVAR_ERR_LEN];

    if (vvar_open(&h->vvar, err) < 0) {
        helper_log("cannot share this host's clocks: %s", err);
        return 2;
    }
    if (vvar_read_validated(&h->vvar, &h->snap, err) < 0) {
        helper_log("host clock data did not validate: %s", err);
        return 2;
    }
    return 0;
}

/*
 * Pages a previous helper published and this one took over in place
 * (the same --pages file, the memfd systemd kept): a device that maps
 * them builds a simulated host's transform into its guests' (ABI 1.7)
 * and sees a new one only at its next look, up to a second on.  So the
 * same simulated host goes on with the previous helper's counter, and
 * pages of another host (real or simulated at another rate) are refused
 * rather than changed under the devices.  0, or -1 with err set.
 */
static int take_over(struct helper *h, char *err, size_t errlen)
{
    const volatile struct pvcp_host_page *p = h->pf.page[0];
    bool was_sim = p->flags & PVCP_HOST_F_SIMULATED;
    char old[48] = "the real host", new[48] = "the real host";
    struct pvcp_xform prev;

    if (!(p->flags & PVCP_HOST_F_VALID) || (!was_sim && !h->simulated)) {
        return 0;
    }
    if (was_sim && h->simulated && p->counter_hz == h->sim.params.tsc_hz) {
        prev.mult = p->sim.mult;
        prev.frac_bits = p->sim.frac_bits;
        prev.flags = p->sim.flags;
        prev.offset = p->sim.offset;
        sim_continue(&h->sim.host, &prev);
        h->snap = h->sim.host.snap;
        h->ntp = h->sim.host.ntp;
        helper_log("%s: going on with the previous helper's simulated "
                   "%" PRIu64 " Hz counter", h->pf.path, p->counter_hz);
        return 0;
    }
    if (was_sim) {
        snprintf(old, sizeof(old), "a simulated %" PRIu64 " Hz host",
                 p->counter_hz);
    }
    if (h->simulated) {
        snprintf(new, sizeof(new), "a simulated %" PRIu64 " Hz host",
                 h->sim.params.tsc_hz);
    }
    snprintf(err, errlen, "%s holds %s's pages: devices mapping them "
             "keep its counter until their next look, so %s cannot take "
             "them over; use another file, or remove this one when no QEMU "
             "maps it", h->pf.path, old, new);
    return -1;
}

int main(int argc, char **argv)
{
    struct helper h = { .handoff = { .listen_fd = -1, .ro_fd = -1 } };
    char err[VVAR_ERR_LEN];
    struct timespec rt;
    int ret;

    if (options_parse(&h.opt, argc, argv) < 0) {
        return 1;
    }
    if (h.opt.help) {
        options_usage(stdout);
        return 0;
    }
    if (h.opt.inspect) {
        return inspect_pages(h.opt.where, stdout) == 0 ? 0 : 3;
    }
    if (h.opt.verify_rounds) {
        ret = verify_pages(h.opt.where, (long)h.opt.verify_rounds, stdout);
        return ret == 0 ? 0 : ret == 2 ? 3 : 4;
    }
    ret = open_host(&h);
    if (ret) {
        return ret;
    }
    if (h.opt.check) {
        describe(&h.vvar, &h.snap);
        return 0;
    }
    if (h.opt.simulate) {
        if (control_start(&h.sim, h.opt.simulate,
                          vvar_counter_hz(&h.snap)) < 0) {
            return 1;
        }
        h.simulated = true;
        h.snap = h.sim.host.snap;
        h.ntp = h.sim.host.ntp;
    } else {
        derive_read_ntp(&h.ntp);
    }
    leaptrack_load(&h.leap, h.opt.leap_path);
    if (open_pages(&h, err, sizeof(err)) < 0) {
        helper_log("%s", err);
        return 3;
    }
    if (take_over(&h, err, sizeof(err)) < 0) {
        helper_log("%s", err);
        handoff_stop(&h.handoff);
        pages_close(&h.pf);
        return 3;
    }
    clock_gettime(CLOCK_REALTIME, &rt);
    leaptrack_check_expiry(&h.leap, (uint64_t)rt.tv_sec);

    publish_start(&h);
    ret = loop_run(&h);
    handoff_stop(&h.handoff);
    pages_close(&h.pf);
    return ret;
}
