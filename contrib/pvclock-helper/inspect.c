/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Human-readable dump of a pages file.  It reads through libpvclock, as
 * any host reader would, and shows each clock next to clock_gettime().
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "inspect.h"
#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"

static const char *counter_name(uint32_t mode)
{
    switch (mode) {
    case PVCP_COUNTER_NONE:
        return "not published";
    case PVCP_COUNTER_TSC:
        return "host TSC";
    case PVCP_COUNTER_TSC_KVMCLOCK:
        return "host TSC via kvm-clock";
    case PVCP_COUNTER_RAW_NS:
        return "host MONOTONIC_RAW ns";
    default:
        return "unknown";
    }
}

static void print_page(const volatile struct pvcp_host_page *h, int i,
                       FILE *out)
{
    struct pvcp_host_page copy;

    memcpy(&copy, (const void *)h, sizeof(copy));   /* a look, not a read */
    fprintf(out, "page %d: magic %s abi %u.%u seq %u checks %s counter %s "
            "flags 0x%" PRIx64 " counter_hz %" PRIu64 "\n", i,
            h->magic == PVCP_HOST_MAGIC ? "ok" : "BAD",
            h->abi_major, h->abi_minor, h->seq,
            !pvcp_page_has_checks(copy.abi_minor) ? "none" :
            pvcp_page_checks_ok(&copy) ? "ok" : "BAD",
            counter_name(h->counter_mode), h->flags, h->counter_hz);
    if (h->counter_mode == PVCP_COUNTER_NONE) {
        return;
    }
    if (h->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
        fprintf(out, "  kvmclock: tsc_timestamp %" PRIu64 " system_time %"
                PRIu64 " mul %u shift %d\n", h->kvmclock.tsc_timestamp,
                h->kvmclock.system_time, h->kvmclock.tsc_to_system_mul,
                h->kvmclock.tsc_shift);
    }
    fprintf(out, "  hres: cycle_last %" PRIu64 " max_cycles %" PRIu64
            " mult %u shift %u\n", h->hres.cycle_last, h->hres.max_cycles,
            h->hres.mult, h->hres.shift);
    fprintf(out, "  raw:  cycle_last %" PRIu64 " max_cycles %" PRIu64
            " mult %u shift %u\n", h->raw.cycle_last, h->raw.max_cycles,
            h->raw.mult, h->raw.shift);
    fprintf(out, "  ntp: TAI-UTC %d s, status 0x%x, esterror %" PRIu64 " ns, "
            "maxerror %" PRIu64 " ns\n", h->tai_offset, h->ntp_status,
            h->esterror_ns, h->maxerror_ns);
    if (h->flags & PVCP_HOST_F_TAI_KNOWN) {
        fprintf(out, "  known TAI-UTC %d s, from the %s\n",
                h->known_tai_offset,
                h->flags & PVCP_HOST_F_TAI_FROM_LIST ? "leap second list"
                                                     : "kernel");
    } else {
        fprintf(out, "  known TAI-UTC: unknown\n");
    }
    if (h->smear.leap) {
        fprintf(out, "  smear: leap %+d, TAI-UTC before %d, from TAI %" PRIu64
                " for %u s (counter %" PRIu64 " to %" PRIu64 ")\n",
                h->smear.leap, h->smear.tai_offset_before,
                h->smear.start_tai_sec, h->smear.duration_s,
                h->smear.start_counter, h->smear.end_counter);
    }
    if (h->flags & PVCP_HOST_F_SIMULATED) {
        fprintf(out, "  simulated host: counter = real TSC * %" PRIu64
                " / 2^%u + %" PRIu64 "\n", h->sim.mult, h->sim.frac_bits,
                h->sim.offset);
    }
    fprintf(out, "  disruptions %" PRIu64 "\n", h->disruptions);
    fprintf(out, "  helper: epoch %" PRIu64 " heartbeat every %u ms,"
            " stale after %" PRIu64 " counts\n", h->helper_epoch,
            h->heartbeat_interval_ms, h->stale_after);
}

int inspect_pages(const char *path, FILE *out)
{
    struct pvclock *pc;
    int err = pvclock_open_host(&pc, path);

    if (err) {
        fprintf(stderr, "pvclock-helper: cannot inspect %s: %s\n", path,
                pvclock_strerror(err));
        return -1;
    }
    fprintf(out, "pages file %s\n", path);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        print_page(pvclock_host_page(pc, i), i, out);
    }
    for (int p = 0; p < PVCP_HOST_PAGES; p++) {
        if (pvclock_host_page(pc, p)->counter_mode == PVCP_COUNTER_NONE) {
            continue;
        }
        pvclock_select_page(pc, p);
        fprintf(out, "%-14s %-22s %-22s %s\n", "clock", p == 0 ?
                "pvclock (page 0)" : p == 1 ? "page 1 (smeared)" :
                p == 2 ? "page 2 (scaled)" : "page 3 (scaled, smeared)",
                "clock_gettime", "status");
        for (int i = 0; i < PVCLOCK_CLOCKS; i++) {
            struct timespec pv = { 0, 0 }, sys;

            err = pvclock_gettime(pc, pvclock_clock(i), &pv);
            clock_gettime(pvclock_clock(i), &sys);
            fprintf(out, "%-14s %11lld.%09ld %11lld.%09ld %s\n",
                    pvclock_clock_name(pvclock_clock(i)), (long long)pv.tv_sec, pv.tv_nsec,
                    (long long)sys.tv_sec, sys.tv_nsec,
                    pvclock_strerror(err));
        }
    }
    pvclock_close(pc);
    return 0;
}
