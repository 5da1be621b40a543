/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running helper's state, in one place: what the command line asked
 * for, where the host's lines come from, the pages it publishes them in
 * and what it remembers between poll rounds.  main.c fills it, publish.c
 * writes the pages from it, loop.c runs the rounds.
 */
#ifndef PVCLOCK_HELPER_HELPER_H
#define PVCLOCK_HELPER_HELPER_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "derive.h"
#include "handoff.h"
#include "leaptrack.h"
#include "options.h"
#include "pacer.h"
#include "pages.h"
#include "vvar.h"

struct helper {
    struct helper_options opt;

    /*
     * The host's lines: this kernel's vDSO data, or the synthetic host
     * (whose counter is still this host's TSC, so vvar is open either way).
     */
    bool simulated;
    struct vvar_source vvar;
    struct sim_control sim;
    struct host_snapshot snap;  /* the lines being published */
    struct host_ntp ntp;
    struct leap_tracker leap;
    bool tai_said;              /* what TAI - UTC is, logged ... */
    int tai_logged_source;      /* ... from here (enum leap_tai_source) */
    int32_t tai_logged;

    /* Where they go: the pages file or memfd, and its socket. */
    struct pages_file pf;
    struct handoff handoff;
    uint64_t epoch;             /* this run's helper_epoch */

    /* The pages as last derived, and the rounds' bookkeeping. */
    struct pvcp_host_page page[PVCP_HOST_PAGES];
    struct pvcp_host_page published0;   /* page 0, for derive_stepped() */
    uint64_t disruptions;
    uint64_t publications;      /* changed mappings of page 0 */
    uint64_t last_heartbeat;    /* MONOTONIC ns, 0: due */
    uint64_t last_ntp;          /* MONOTONIC ns of the last adjtimex() */
    bool work;                  /* publish in the next round */
    bool ready_sent;            /* systemd has READY=1 */
    struct pacer pacer;
};

#endif /* PVCLOCK_HELPER_HELPER_H */
