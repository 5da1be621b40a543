/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper: publishes the host kernel's timekeeping data as
 * pvclock-pages host pages.  One per host; QEMU's -device pvclock-pages
 * maps its pages file into guests.
 *
 * main() only parses options, handles signals and runs the loop; the
 * vvar reader (vvar.c) or the synthetic host (sim.c) give the host's
 * lines, derive.c and leap.c make the four pages, pages.c writes them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "hw/pvclock/pvclock-pages-calc.h"
#include "derive.h"
#include "handoff.h"
#include "inspect.h"
#include "leap.h"
#include "pacer.h"
#include "pages.h"
#include "sim.h"
#include "systemd.h"
#include "verify.h"
#include "hw/pvclock/pvclock-vvar.h"

#define DEFAULT_SOCKET      "/run/pvclock/pages.sock"
#define DEFAULT_INTERVAL_US ((int)(PACER_DEFAULT_INTERVAL_NS / 1000))
#define DEFAULT_HEARTBEAT_MS 1000
#define DEFAULT_STALE_MS    5000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int verbose;

static void logmsg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("pvclock-helper: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *out)
{
    fprintf(out,
"Usage: pvclock-helper [OPTION]...\n"
"Publish the host's clocks (its vDSO timekeeping data) as pvclock-pages\n"
"host pages, for QEMU's -device pvclock-pages and host readers.\n"
"\n"
"      --socket=PATH       keep the pages in a sealed memfd and hand it to\n"
"                          whoever connects to PATH, QEMU's pages=PATH\n"
"                          included (the default, at " DEFAULT_SOCKET ")\n"
"  -p, --pages=PATH        publish into the file PATH instead\n"
"  -i, --interval-us=N     look at the kernel's data every N us (default %d)\n"
"      --track-ticks       while the host's clock slope changes, also wake\n"
"                          at each kernel update (CPU for less lag; for\n"
"                          readers without the device's live page)\n"
"      --heartbeat-ms=N    refresh the liveness stamp every N ms (default %d)\n"
"      --stale-ms=N        readers call the pages stale N ms after the last\n"
"                          liveness stamp (default %d)\n"
"      --leap-file=PATH    leap-seconds.list for the smeared pages (default\n"
"                          " LEAP_DEFAULT_LIST ", 'none' for none)\n"
"      --simulate=SPEC     publish a synthetic host instead of this one:\n"
"                          key=value[,key=value] or @FILE (re-read when it\n"
"                          changes); keys tsc_hz, realtime_offset_ns,\n"
"                          freq_ppb, tai_offset, leap=+1@UTC, counter_start\n"
"      --once              publish once and exit\n"
"      --check             detect and validate this kernel's vDSO data, exit\n"
"      --inspect           print the pages file in human form and exit\n"
"      --verify[=ROUNDS]   read the pages file back as readers do and check\n"
"                          every clock against clock_gettime() (default\n"
"                          20000 rounds per clock and page), exit\n"
"  -v, --verbose           log every publication\n"
"  -h, --help              show this help and exit\n"
"\n"
"Runs in the foreground; under systemd (Type=notify) it reports READY=1\n"
"once the pages are published and STOPPING=1 on SIGTERM, and keeps the\n"
"--socket memfd in the service's file descriptor store, so that a restart\n"
"publishes into the same pages.\n"
"\n"
"Exit status: 0 on success or clean shutdown (SIGTERM, SIGINT), 1 on a\n"
"usage error, 2 if the host's clocks cannot be shared, 3 if the pages file\n"
"cannot be written (or, with --inspect and --verify, read), 4 if --verify\n"
"found a reading outside clock_gettime().\n",
            DEFAULT_INTERVAL_US, DEFAULT_HEARTBEAT_MS, DEFAULT_STALE_MS);
}

static int parse_uint(const char *opt, const char *arg, unsigned long min,
                      unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 10);
    if (errno || *end || end == arg || v < min || v > max) {
        logmsg("invalid %s '%s': expected an integer from %lu to %lu", opt,
               arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static void sleep_us(unsigned long us)
{
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

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

/* Where the host's lines come from: this kernel, or a synthetic host. */
struct source {
    bool simulated;
    struct vvar_source vvar;
    struct sim_host sim;
    struct sim_params params;
    const char *control;        /* @FILE of --simulate, or NULL */
    struct timespec control_mtime;
};

static int reload_control(struct source *s, struct sim_params *np, bool *got,
                          char *err, size_t len)
{
    struct stat st;
    char buf[4096];
    FILE *f;
    size_t n;

    *got = false;
    if (stat(s->control, &st) < 0) {
        snprintf(err, len, "simulate control file %s: %s", s->control,
                 strerror(errno));
        return -1;
    }
    if (st.st_mtim.tv_sec == s->control_mtime.tv_sec &&
        st.st_mtim.tv_nsec == s->control_mtime.tv_nsec) {
        return 0;
    }
    f = fopen(s->control, "re");
    if (!f) {
        snprintf(err, len, "simulate control file %s: %s", s->control,
                 strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    *np = s->params;
    if (sim_parse(np, buf, err, len) < 0) {
        return -1;
    }
    s->control_mtime = st.st_mtim;
    *got = true;
    return 0;
}

/* The leap second the smeared pages follow, kept to the window's end. */
static void track_leap(struct leap_event *active, const struct leap_list *list,
                       const struct host_ntp *ntp, const struct pvcp_base *tai,
                       const struct pvcp_base *realtime)
{
    struct leap_event ev;
    uint64_t now_utc = realtime->sec, now_tai = tai->sec;

    if (leap_schedule(list, ntp, now_utc, &ev)) {
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
            logmsg("leap second %+d at UTC %" PRIu64 ": smearing from TAI %"
                   PRIu64 " to %" PRIu64, ev.leap, ev.utc, ev.start_tai,
                   derive_noon_after_tai(&ev));
        }
        return;
    }
    if (active->leap && now_tai >= derive_noon_after_tai(active)) {
        logmsg("leap second smear finished");
        memset(active, 0, sizeof(*active));
    }
}

/*
 * The pages: the file --pages names, or a sealed memfd (the one systemd
 * kept from the last run, if any) served on --socket.
 */
static int open_pages(struct pages_file *pf, struct handoff *h,
                      const char *pages_path, const char *socket_path,
                      char *err, size_t errlen)
{
    int kept;

    if (!socket_path) {
        return pages_open(pf, pages_path, err, errlen);
    }
    kept = handoff_take_stored();
    if (pages_open_memfd(pf, kept, err, errlen) < 0) {
        if (kept < 0) {
            return -1;
        }
        logmsg("not using the memfd systemd kept: %s; starting new pages",
               err);
        kept = -1;
        if (pages_open_memfd(pf, -1, err, errlen) < 0) {
            return -1;
        }
    }
    if (handoff_start(h, socket_path, pf->fd, err, errlen) < 0) {
        pages_close(pf);
        return -1;
    }
    if (kept < 0) {
        handoff_store(pf->fd);
    } else {
        logmsg("publishing into the pages systemd kept from the last run");
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "pages", required_argument, NULL, 'p' },
        { "socket", required_argument, NULL, 'U' },
        { "interval-us", required_argument, NULL, 'i' },
        { "track-ticks", no_argument, NULL, 'T' },
        { "heartbeat-ms", required_argument, NULL, 'H' },
        { "stale-ms", required_argument, NULL, 'S' },
        { "leap-file", required_argument, NULL, 'L' },
        { "simulate", required_argument, NULL, 's' },
        { "once", no_argument, NULL, 'o' },
        { "check", no_argument, NULL, 'c' },
        { "inspect", no_argument, NULL, 'I' },
        { "verify", optional_argument, NULL, 'V' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *pages_path = NULL, *socket_path = NULL, *where;
    const char *leap_path = LEAP_DEFAULT_LIST;
    struct handoff handoff = { .listen_fd = -1, .ro_fd = -1 };
    const char *simulate = NULL;
    unsigned long interval_us = DEFAULT_INTERVAL_US;
    unsigned long heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    unsigned long stale_ms = DEFAULT_STALE_MS;
    bool once = false, check = false, inspect = false, have_list = false;
    bool track_ticks = false;
    unsigned long verify_rounds = 0;
    struct host_snapshot snap;
    struct pvcp_host_page page[PVCP_HOST_PAGES];
    struct source src;
    struct leap_list list;
    struct leap_event leap = { 0 };
    struct host_ntp ntp = { 0 };
    struct pages_file pf;
    char err[VVAR_ERR_LEN];
    uint64_t last_heartbeat = 0, last_ntp = 0, epoch, publications = 0;
    uint64_t hz;
    struct sigaction sa;
    struct pacer pacer;
    bool work = true, ready_sent = false;
    struct pvcp_host_page published0;
    uint64_t disruptions;
    int opt;

    memset(&src, 0, sizeof(src));
    while ((opt = getopt_long(argc, argv, "p:i:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pages_path = optarg;
            break;
        case 'U':
            socket_path = optarg;
            break;
        case 'i':
            if (parse_uint("--interval-us", optarg, 10, 1000000,
                           &interval_us) < 0) {
                return 1;
            }
            break;
        case 'T':
            track_ticks = true;
            break;
        case 'H':
            if (parse_uint("--heartbeat-ms", optarg, 1, 3600000,
                           &heartbeat_ms) < 0) {
                return 1;
            }
            break;
        case 'S':
            if (parse_uint("--stale-ms", optarg, 0, 86400000,
                           &stale_ms) < 0) {
                return 1;
            }
            break;
        case 'L':
            leap_path = strcmp(optarg, "none") ? optarg : NULL;
            break;
        case 's':
            simulate = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'c':
            check = true;
            break;
        case 'I':
            inspect = true;
            break;
        case 'V':
            verify_rounds = 20000;
            if (optarg && parse_uint("--verify", optarg, 1, 100000000,
                                     &verify_rounds) < 0) {
                return 1;
            }
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            /* getopt has said what is wrong in one line */
            fprintf(stderr, "Try 'pvclock-helper --help' for the options.\n");
            return 1;
        }
    }
    if (optind < argc) {
        logmsg("unexpected argument '%s' (see --help)", argv[optind]);
        return 1;
    }
    if (stale_ms && stale_ms < 2 * heartbeat_ms) {
        logmsg("--stale-ms (%lu) must be 0 or at least twice --heartbeat-ms "
               "(%lu), or live pages would be reported stale", stale_ms,
               heartbeat_ms);
        return 1;
    }

    if (pages_path && socket_path) {
        logmsg("--pages and --socket are two places for the pages: give one");
        return 1;
    }
    if (!pages_path && !socket_path) {
        socket_path = DEFAULT_SOCKET;
    }
    where = socket_path ? socket_path : pages_path;
    if (inspect) {
        return inspect_pages(where, stdout) == 0 ? 0 : 3;
    }
    if (verify_rounds) {
        int ret = verify_pages(where, (long)verify_rounds, stdout);

        return ret == 0 ? 0 : ret == 2 ? 3 : 4;
    }

    /* The real host is needed even when simulating: its TSC drives both. */
    if (vvar_open(&src.vvar, err) < 0) {
        logmsg("cannot share this host's clocks: %s", err);
        return 2;
    }
    if (vvar_read_validated(&src.vvar, &snap, err) < 0) {
        logmsg("host clock data did not validate: %s", err);
        return 2;
    }
    if (check) {
        describe(&src.vvar, &snap);
        return 0;
    }
    if (simulate) {
        sim_defaults(&src.params);
        if (simulate[0] == '@') {
            bool got;

            src.control = simulate + 1;
            if (reload_control(&src, &src.params, &got, err,
                               sizeof(err)) < 0) {
                logmsg("%s", err);
                return 1;
            }
        } else if (sim_parse(&src.params, simulate, err, sizeof(err)) < 0) {
            logmsg("--simulate: %s", err);
            return 1;
        }
        if (sim_start(&src.sim, &src.params, vvar_counter_hz(&snap), err,
                      sizeof(err)) < 0) {
            logmsg("--simulate: %s", err);
            return 1;
        }
        src.simulated = true;
        snap = src.sim.snap;
        ntp = src.sim.ntp;
    } else {
        derive_read_ntp(&ntp);
    }
    if (leap_path) {
        if (leap_list_load(&list, leap_path, err, sizeof(err)) == 0) {
            have_list = true;
        } else if (strcmp(leap_path, LEAP_DEFAULT_LIST) || errno != ENOENT) {
            logmsg("leap second list not used: %s", err);
        }
    }

    if (open_pages(&pf, &handoff, pages_path, socket_path, err,
                   sizeof(err)) < 0) {
        logmsg("%s", err);
        return 3;
    }
    if (have_list && list.expires) {
        struct timespec rt;

        clock_gettime(CLOCK_REALTIME, &rt);
        if ((uint64_t)rt.tv_sec > list.expires) {
            logmsg("leap second list %s expired at UTC %" PRIu64 "; leap "
                   "seconds after it are known only if the host's NTP "
                   "daemon arms the kernel (update tzdata)", leap_path,
                   list.expires);
        }
    }
    epoch = pf.page[0]->helper_epoch + 1;
    /* a restart is a disruption: whatever happened while none ran */
    disruptions = pf.page[0]->disruptions + 1;
    memset(&published0, 0, sizeof(published0));
    pages_set_epoch(&pf, epoch);
    if (pf.page[1]->smear.leap && pf.page[1]->counter_mode != PVCP_COUNTER_NONE) {
        /* a restart inside a smear window carries on with it */
        const volatile struct pvcp_smear *sm = &pf.page[1]->smear;

        leap.leap = sm->leap;
        leap.tai_before = sm->tai_offset_before;
        leap.start_tai = sm->start_tai_sec;
        leap.utc = sm->start_tai_sec + sm->duration_s - 43200 -
                   (uint64_t)(int64_t)(sm->tai_offset_before + sm->leap);
    }
    if (src.simulated) {
        /* scaled pages describe the real host's raw clock: not simulated */
        pages_unpublish(&pf, PVCP_PAGE_SCALED_UNSMEARED);
        pages_unpublish(&pf, PVCP_PAGE_SCALED_SMEARED);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (src.simulated) {
        logmsg("publishing %s for a simulated host (%" PRIu64 " Hz, "
               "REALTIME %+" PRId64 " ns, %+" PRId64 " ppb, epoch %" PRIu64
               ")", where, src.params.tsc_hz,
               src.params.realtime_offset_ns, src.params.freq_ppb, epoch);
    } else {
        logmsg("publishing %s (layout %s, %s, epoch %" PRIu64 ")",
               where, src.vvar.layout->name,
               snap.counter_mode == PVCP_COUNTER_TSC_KVMCLOCK
               ? "kvm-clock over TSC" : "TSC", epoch);
    }
    memset(page, 0, sizeof(page));
    pacer_init(&pacer, (uint64_t)interval_us * 1000, track_ticks);

    for (;;) {
        uint64_t now = pacer_mono_ns(), tsc = vvar_read_tsc(), raw_now = 0;
        bool p0_changed;

        if (pages_repair(&pf)) {
            /*
             * Someone truncated, zeroed or scribbled on the file: readers
             * saw no valid page meanwhile.  Publish everything again, as
             * a disruption.
             */
            disruptions++;
            pages_set_epoch(&pf, epoch);
            logmsg("pages %s were damaged by another process; "
                   "repaired it (disruption %" PRIu64 ")", where,
                   disruptions);
            work = true;
            last_heartbeat = 0;
        }

        /*
         * Nothing to do most rounds: the kernel's line is the one
         * published and no heartbeat, NTP sample or scaled-page refresh
         * is due.  Keep those rounds to a few loads.
         */
        if (!work && now - last_heartbeat < heartbeat_ms * 1000000ull &&
            now - last_ntp < 1000000000ull &&
            (src.simulated || page[2].counter_mode != PVCP_COUNTER_RAW_NS ||
             derive_raw_ns(&page[0], tsc) - page[2].hres.cycle_last <
             DERIVE_SCALED_REFRESH_NS)) {
            goto wait;
        }
        work = false;

        hz = src.simulated ? src.params.tsc_hz : vvar_counter_hz(&snap);
        if (!src.simulated && now - last_ntp >= 1000000000ull) {
            derive_read_ntp(&ntp);
            last_ntp = now;
        }

        /* page 0: the host's own data, exactly */
        memset(&page[0], 0, sizeof(page[0]));
        pages_fill_from_snapshot(&page[0], &snap, hz);
        derive_ntp(&page[0], &ntp);
        if (derive_stepped(&published0, &page[0])) {
            disruptions++;
            logmsg("the host's REALTIME or TAI stepped: disruption %" PRIu64,
                   disruptions);
        }
        page[0].disruptions = disruptions;
        if (src.simulated) {
            page[0].sim = src.sim.sim;
        }
        {
            struct pvcp_time tai, rt;
            uint64_t c = src.simulated ? sim_counter(&src.sim, tsc)
                                       : pvcp_host_cycles(page[0].counter_mode,
                                                          &page[0].kvmclock,
                                                          tsc);
            struct pvcp_base tb, rb;

            tai = pvcp_clock_at(&page[0].hres,
                                &page[0].hres_base[PVCP_HRES_TAI],
                                page[0].flags, c);
            rt = pvcp_clock_at(&page[0].hres,
                               &page[0].hres_base[PVCP_HRES_REALTIME],
                               page[0].flags, c);
            tb.sec = tai.sec;
            rb.sec = rt.sec;
            track_leap(&leap, have_list ? &list : NULL, &ntp, &tb, &rb);
        }
        p0_changed = pages_publish(&pf, PVCP_PAGE_UNSCALED_UNSMEARED, &page[0]);
        published0 = page[0];

        /* page 1: the same with the leap smear */
        page[1] = page[0];
        derive_smear(&page[1], &leap);
        pages_publish(&pf, PVCP_PAGE_UNSCALED_SMEARED, &page[1]);

        /* pages 2 and 3: counter in host MONOTONIC_RAW ns */
        if (!src.simulated) {
            raw_now = derive_raw_ns(&page[0], tsc);
            if (p0_changed || page[2].counter_mode != PVCP_COUNTER_RAW_NS ||
                raw_now - page[2].hres.cycle_last >=
                DERIVE_SCALED_REFRESH_NS) {
                struct pvcp_host_page prev = page[2];

                derive_scaled(&page[2], &page[0], &prev, raw_now);
            }
            derive_ntp(&page[2], &ntp);
            pages_publish(&pf, PVCP_PAGE_SCALED_UNSMEARED, &page[2]);
            page[3] = page[2];
            derive_smear(&page[3], &leap);
            pages_publish(&pf, PVCP_PAGE_SCALED_SMEARED, &page[3]);
        }
        if (p0_changed) {
            publications++;
            if (verbose) {
                logmsg("published mapping %" PRIu64 " (kernel seq %u)",
                       publications, snap.seq);
            }
        }
        if (!ready_sent) {
            /* the pages are current (a restart may have found them so) */
            sd_notify_fd("READY=1\nSTATUS=publishing", -1);
            ready_sent = true;
        }

        if (now - last_heartbeat >= heartbeat_ms * 1000000ull) {
            uint64_t counters[PVCP_HOST_PAGES], stale[PVCP_HOST_PAGES];
            uint64_t c = src.simulated ? sim_counter(&src.sim, tsc) : tsc;

            counters[0] = counters[1] = c;
            stale[0] = stale[1] = (uint64_t)((pvcp_u128)hz * stale_ms / 1000);
            counters[2] = counters[3] = raw_now;
            stale[2] = stale[3] = src.simulated ? 0
                                                : (uint64_t)stale_ms * 1000000;
            pages_heartbeat(&pf, counters, now, stale, (uint32_t)heartbeat_ms);
            last_heartbeat = now;
        }
        if (once) {
            break;
        }
wait:
        if (src.simulated) {
            sleep_us(interval_us);
        } else {
            pacer_observe(&pacer, &snap, now);
            pacer_wait(&pacer, &src.vvar, &stop_signal);
        }
        if (stop_signal) {
            break;
        }

        if (src.simulated) {
            struct sim_params np = src.params;
            bool got = false;
            int r;

            if (src.control && reload_control(&src, &np, &got, err,
                                              sizeof(err)) < 0) {
                logmsg("%s (keeping the previous parameters)", err);
                /* do not retry a broken file every round */
                src.control_mtime.tv_sec = -1;
                got = false;
            }
            r = sim_update(&src.sim, got ? &np : &src.params, vvar_read_tsc(),
                           err, sizeof(err));
            if (r < 0) {
                logmsg("%s (keeping the previous parameters)", err);
            } else {
                work = work || r > 0;
                if (got) {
                    src.params = np;
                }
                if (r > 0 && verbose) {
                    logmsg("simulated host changed (%" PRIu64 " changes)",
                           src.sim.changes);
                }
            }
            snap = src.sim.snap;
            ntp = src.sim.ntp;
            continue;
        }

        /*
         * A cheap snapshot every round; only a changed mapping is
         * validated against clock_gettime() before it is published.
         */
        if (vvar_peek_seq(&src.vvar) == snap.seq) {
            continue;               /* the kernel has not written since */
        }
        if (vvar_snapshot(&src.vvar, &snap, err) < 0) {
            logmsg("host clock data became unusable: %s", err);
            handoff_stop(&handoff);
            pages_close(&pf);
            return 2;
        }
        memset(&page[0], 0, sizeof(page[0]));
        pages_fill_from_snapshot(&page[0], &snap, vvar_counter_hz(&snap));
        derive_ntp(&page[0], &ntp);
        page[0].disruptions = disruptions;
        if (!pages_is_current(&pf, PVCP_PAGE_UNSCALED_UNSMEARED, &page[0])) {
            if (vvar_read_validated(&src.vvar, &snap, err) < 0) {
                logmsg("new host clock data did not validate: %s", err);
                handoff_stop(&handoff);
                pages_close(&pf);
                return 2;
            }
            work = true;
        }
    }
    if (stop_signal) {
        sd_notify_fd("STOPPING=1", -1);
        logmsg("stopping on signal %d after %" PRIu64 " publications; the "
               "pages stay in place and turn stale after %lu ms",
               (int)stop_signal, publications, stale_ms);
        if (verbose && !src.simulated) {
            logmsg("kernel update period %" PRIu64 " ns; %" PRIu64 " spins "
                   "(%" PRIu64 " caught an update), %" PRIu64 " us spent",
                   pacer.period_ns, pacer.spins, pacer.spin_hits,
                   pacer.spin_ns / 1000);
        }
    }
    handoff_stop(&handoff);
    pages_close(&pf);
    return 0;
}
